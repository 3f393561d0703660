use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::{BackendState, Policy, RequestInfo, SimRng, gcd, key_hash};

/// Map-based (modulo) hashing on the request key: HAProxy's `balance source` / `balance hash`
/// with `hash-type map-based`, the scheme of NGINX's `ip_hash` and of `hash $key` without
/// `consistent`.
///
/// The available backends are laid out in an array, each over as many slots as its weight
/// (divided by the weights' greatest common divisor), and a request goes to slot
/// `hash(key) mod slots`. With equal weights that is `available[hash(key) mod n]`. The hash is
/// [`key_hash`] (SplitMix64) where HAProxy hashes the source address.
///
/// HAProxy documents the cost: "since a server is selected by its position in the array,
/// most mappings are changed when the server count changes". When one of `n` backends
/// leaves, a key stays put only if its slot still lands on the same backend, so about
/// `1 - 1/n` of all keys move; compare [`RingHash`](super::RingHash) and
/// [`Maglev`](super::Maglev). (HAProxy interleaves a backend's slots through the array
/// where this lays them side by side; which keys go where differs, how many move does not.)
#[derive(Clone, Debug, Default)]
pub struct SourceHash {
    /// Running slot totals over available backends, and the backend ending each total.
    cumulative: Vec<(u64, usize)>,
}

impl SourceHash {
    /// A map-based hash policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for SourceHash {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.cumulative.clear();
        let divisor =
            backends.iter().filter(|b| b.is_available()).fold(0, |g, b| gcd(g, u64::from(b.weight))).max(1);
        let mut total = 0;
        for (i, b) in backends.iter().enumerate() {
            if b.is_available() {
                total += u64::from(b.weight) / divisor;
                self.cumulative.push((total, i));
            }
        }
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let &(total, _) = self.cumulative.last()?;
        let slot = key_hash(request.key) % total;
        let at = self.cumulative.partition_point(|&(end, _)| end <= slot);
        let chosen = self.cumulative[at].1;
        (chosen < backends.len()).then_some(chosen)
    }
}

/// `SourceHash` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceHashSpec;

impl Params for SourceHashSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(SourceHash::new())
    }
}

impl Entry for SourceHashSpec {
    const INFO: &'static Info = &Info {
        name: "SourceHash",
        synopsis: "SourceHash",
        summary: "hash of the request key modulo the available weight slots; remaps most keys on change",
        source: "HAProxy hash-type map-based, NGINX ip_hash",
        params: &[],
        routes_on_keys: true,
        splits_by_weight: true,
    };

    fn examples() -> Vec<Self> {
        vec![SourceHashSpec]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::states;
    use stacksim_engine::rng::stream;

    #[test]
    fn equal_weights_are_hash_modulo_available_count() {
        let mut backends = states(&[2, 2, 2, 2]);
        backends[1].eligible = false;
        let mut policy = SourceHash::new();
        policy.on_backends_changed(&backends);
        let mut rng = stream(1, "policy");
        for key in 0..100 {
            let request = RequestInfo { key, ..Default::default() };
            let expected = [0, 2, 3][(key_hash(key) % 3) as usize];
            assert_eq!(policy.pick(&backends, &request, &mut rng), Some(expected));
        }
    }

    #[test]
    fn one_of_ten_leaving_moves_most_keys() {
        let mut backends = states(&[1; 10]);
        let mut policy = SourceHash::new();
        let mut rng = stream(1, "policy");
        let mut route = |backends: &[BackendState]| -> Vec<Option<usize>> {
            policy.on_backends_changed(backends);
            (0..20_000)
                .map(|key| {
                    let request = RequestInfo { key, ..Default::default() };
                    policy.pick(backends, &request, &mut rng)
                })
                .collect()
        };
        let before = route(&backends);
        backends[9].eligible = false;
        let after = route(&backends);
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        // A key stays only if hash mod 10 and hash mod 9 name the same backend: ~1/10 do.
        let fraction = moved as f64 / 20_000.0;
        assert!(fraction > 0.85, "{fraction}");
    }
}
