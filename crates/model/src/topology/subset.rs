//! Which backends each balancer instance connects to: every backend, a random sample, or the
//! Google SRE book's deterministic subsetting (the parent module's docs describe the algorithm).

use rand::RngExt;
use stacksim_engine::rng;

/// Which backends each instance connects to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subset {
    /// Every backend.
    #[default]
    All,
    /// `size` backends drawn at random per instance (stream `subset/<i>`).
    Random {
        /// Backends per instance, ≥ 1 (the whole fleet when larger).
        size: u32,
    },
    /// The SRE book's deterministic subsetting (module docs).
    Deterministic {
        /// Backends per instance, ≥ 1 (the whole fleet when larger).
        size: u32,
    },
}

/// Per backend of a fleet of `backends`: how many of `instances` instances hold it in their
/// `subset`, as a run with `seed` draws them (the subset audit of `stacksim check`).
pub fn subset_counts(subset: Subset, backends: usize, instances: u32, seed: u64) -> Vec<u32> {
    let fleet: Vec<usize> = (0..backends).collect();
    let mut counts = vec![0u32; backends];
    for i in 0..instances as usize {
        for b in subset_of(subset, &fleet, i, seed) {
            counts[b] += 1;
        }
    }
    counts
}

/// The backends of instance `i` among `fleet` (present backends, in index order).
pub(crate) fn subset_of(subset: Subset, fleet: &[usize], i: usize, seed: u64) -> Vec<usize> {
    match subset {
        Subset::All => fleet.to_vec(),
        Subset::Random { size } => {
            let mut all = fleet.to_vec();
            let size = (size as usize).min(all.len());
            let mut draws = rng::stream(seed, &format!("subset/{i}"));
            // A partial Fisher–Yates shuffle: the first `size` are a uniform sample.
            for k in 0..size {
                // `k + [0, n - k)` is the draw `[k, n)` makes, bit for bit; a range from 0 keeps
                // `random_range` over `usize` ranges called with a constant start alone, as the
                // policies' picks call it (where it is specialised for a start of 0).
                let j = k + draws.random_range(0..all.len() - k);
                all.swap(k, j);
            }
            all.truncate(size);
            all.sort_unstable();
            all
        }
        Subset::Deterministic { size } => {
            // SRE book, ch. 20: subset_count = backends / size; round = client_id / subset_count;
            // shuffle the backends with the round as seed; subset_id = client_id % subset_count.
            let size = (size as usize).min(fleet.len()).max(1);
            if fleet.is_empty() {
                return Vec::new();
            }
            let subset_count = fleet.len() / size;
            let round = i / subset_count;
            let mut all = fleet.to_vec();
            let mut draws = rng::stream(seed, &format!("subset/round/{round}"));
            for k in (1..all.len()).rev() {
                let j = draws.random_range(0..=k);
                all.swap(k, j);
            }
            let start = (i % subset_count) * size;
            let mut mine = all[start..start + size].to_vec();
            mine.sort_unstable();
            mine
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_subsets_give_every_backend_the_same_number_of_instances() {
        let fleet: Vec<usize> = (0..300).collect();
        let mut count = vec![0u32; 300];
        for i in 0..300 {
            let mine = subset_of(Subset::Deterministic { size: 10 }, &fleet, i, 7);
            assert_eq!(mine.len(), 10);
            for b in mine {
                count[b] += 1;
            }
        }
        assert!(count.iter().all(|&c| c == 10), "{count:?}");
    }

    #[test]
    fn random_subsets_are_uneven() {
        // SRE book: 90 of 300 per client, 300 clients: 63%–121% of the mean in one draw.
        let fleet: Vec<usize> = (0..300).collect();
        let mut count = vec![0u32; 300];
        for i in 0..300 {
            for b in subset_of(Subset::Random { size: 90 }, &fleet, i, 7) {
                count[b] += 1;
            }
        }
        let (min, max) = (*count.iter().min().unwrap(), *count.iter().max().unwrap());
        assert!(min < 90 && max > 90 && min > 45 && max < 135, "{min}..{max}");
    }

    #[test]
    fn a_random_subset_draws_from_k_as_k_plus_a_draw_from_zero() {
        // `subset_of` draws `k + [0, n - k)` where it used to draw `[k, n)`: the same numbers,
        // so every random subset is the one earlier releases drew.
        let (mut from_k, mut from_zero) = (rng::stream(7, "subset/0"), rng::stream(7, "subset/0"));
        for n in 1usize..2000 {
            for k in [0, n / 3, n / 2, n - 1] {
                assert_eq!(from_k.random_range(k..n), k + from_zero.random_range(0..n - k), "{k}..{n}");
            }
        }
    }
}
