use serde::{Deserialize, Serialize};
use stacksim_engine::rng::splitmix64;

use super::catalog::{Context, Entry, Info, Param, Params, Problem, written_unless_default};
use super::{BackendState, Policy, RequestInfo, SimRng, key_hash};

/// Largest ring built, as Envoy's `maximum_ring_size` default (8M entries).
const MAX_RING: u64 = 8 * 1024 * 1024;

/// Consistent hashing on a ring (Karger et al. 1997), as libketama and Envoy's `RING_HASH`.
///
/// Every available backend places points on a 64-bit ring, on average `entries_per_host` of
/// them, in proportion to its weight: with `n` configured backends (weight above zero,
/// available or not), backend `i` gets `max(1, round(entries_per_host × n × weight_i / Σ
/// weight))` points (Ketama scales its 160 points per server by weight share the same way).
/// A request goes to the owner of the first point at or after the hash of its key, wrapping
/// around (Envoy's lookup). Point `r` of backend `i` sits at `splitmix64(splitmix64(i) ^ r)`,
/// a stable hash of the backend's index.
///
/// So a backend's points depend only on the configuration, not on who is healthy: when a
/// backend leaves (fails its health checks, is drained), only its own keys move, to the
/// owners of the next points, about its weight share of the keys (`1/n` with equal weights).
/// Envoy instead re-normalizes over the healthy hosts, which with unequal weights also moves
/// a few keys between the others. More points per backend give shares closer to the weights
/// (the spread shrinks as `1/√entries_per_host`).
///
/// The ring is capped at 8M points (Envoy's `maximum_ring_size`), scaling every backend down.
#[derive(Clone, Debug)]
pub struct RingHash {
    ring: Ring,
}

impl RingHash {
    /// Ring points per backend unless told otherwise: 100.
    pub const DEFAULT_ENTRIES_PER_HOST: u32 = 100;

    /// The most ring points per backend an experiment may ask for (the ring is capped at 8M
    /// points in all).
    pub const MAX_ENTRIES_PER_HOST: u32 = 100_000;

    /// A ring with on average `entries_per_host` points per backend (at least 1).
    pub fn new(entries_per_host: u32) -> Self {
        RingHash { ring: Ring::new(entries_per_host) }
    }
}

impl Default for RingHash {
    /// 100 points per backend.
    fn default() -> Self {
        Self::new(Self::DEFAULT_ENTRIES_PER_HOST)
    }
}

impl Policy for RingHash {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.ring.rebuild(backends);
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let at = self.ring.locate(key_hash(request.key))?;
        let chosen = self.ring.owner(at);
        (chosen < backends.len()).then_some(chosen)
    }
}

/// A hash ring over the available backends, shared by [`RingHash`] and
/// [`BoundedLoadHash`](super::BoundedLoadHash).
///
/// The points' hashes and owners are kept apart, and a table indexed by a hash's top bits
/// says where its part of the ring starts: a lookup reads one table entry and searches about
/// four hashes, rather than binary-searching the whole ring (up to 8 million points, a cache
/// miss per step in a large fleet). Same positions as a binary search over the sorted points.
///
/// A backend's points depend only on the weights, never on who is available, so the ring
/// holds the points of every configured backend and a lookup steps over those of unavailable
/// ones: the first available point at or after a hash is the one a ring of the available
/// backends alone would find. A change of availability alone (a health check, an ejection, a
/// drain) then costs a pass over the backends instead of a sort of the whole ring (139 M
/// instructions for the million points of 10,000 backends). While fewer than a quarter of the
/// points are available, the steps would grow long, and the ring holds the available
/// backends' points only, rebuilt on every change, as it always did.
#[derive(Clone, Debug)]
pub(crate) struct Ring {
    entries_per_host: u32,
    /// Point hashes, sorted (ties by owner).
    hashes: Vec<u64>,
    /// The backend owning each point.
    owners: Vec<u32>,
    /// `starts[k]`: the first position whose hash has top bits at least `k`
    /// (`hash >> shift`); one more entry than there are buckets.
    starts: Vec<u32>,
    shift: u32,
    /// The weight each backend had when the points were placed (its index is the backend's).
    weights: Vec<u32>,
    /// Each backend's points on the ring (0 for a backend of weight 0).
    points: Vec<u32>,
    /// Whether each backend is available: a lookup steps over the points of the others.
    available: Vec<bool>,
    /// Whether the ring holds the points of unavailable backends too.
    whole: bool,
    /// Points of available backends.
    live: usize,
}

impl Ring {
    pub(crate) fn new(entries_per_host: u32) -> Self {
        Ring {
            entries_per_host: entries_per_host.max(1),
            hashes: Vec::new(),
            owners: Vec::new(),
            starts: Vec::new(),
            shift: 63,
            weights: Vec::new(),
            points: Vec::new(),
            available: Vec::new(),
            whole: false,
            live: 0,
        }
    }

    /// Where point `replica` of backend `backend` sits on the ring.
    #[inline]
    fn point(backend: usize, replica: u64) -> u64 {
        splitmix64(splitmix64(backend as u64) ^ replica)
    }

    /// Tells the ring of the backends' weights and availability: the points are placed again
    /// when the weights change, when the ring changes kind, and at every change while it holds
    /// the available backends only; otherwise only the availability is noted.
    pub(crate) fn rebuild(&mut self, backends: &[BackendState]) {
        let same_weights = backends.len() == self.weights.len()
            && backends.iter().zip(&self.weights).all(|(b, &w)| b.weight == w);
        if !same_weights {
            self.allot(backends);
        }
        self.available.clear();
        self.available.extend(backends.iter().map(BackendState::is_available));
        self.live =
            self.points.iter().zip(&self.available).filter(|(_, a)| **a).map(|(&p, _)| p as usize).sum();
        let whole = 4 * self.live >= self.points.iter().map(|&p| p as usize).sum::<usize>();
        if !(same_weights && whole && self.whole) {
            self.place(whole);
        }
    }

    /// Allots each backend its points: over every configured backend (weight above zero),
    /// available or not, so that one failing its health checks leaves everyone else's points
    /// alone.
    fn allot(&mut self, backends: &[BackendState]) {
        self.weights.clear();
        self.weights.extend(backends.iter().map(|b| b.weight));
        self.points.clear();
        let (count, total) = backends
            .iter()
            .filter(|b| b.weight > 0)
            .fold((0_u64, 0_u64), |(n, w), b| (n + 1, w + u64::from(b.weight)));
        let target = (u64::from(self.entries_per_host) * count).min(MAX_RING) as f64;
        self.points.extend(backends.iter().map(|b| {
            if b.weight == 0 {
                return 0;
            }
            let share = f64::from(b.weight) / total as f64;
            ((target * share).round() as u64).max(1) as u32
        }));
    }

    /// Places the points of every backend with points (`whole`), or of the available ones
    /// only, sorted, and indexes them.
    fn place(&mut self, whole: bool) {
        self.whole = whole;
        self.hashes.clear();
        self.owners.clear();
        self.starts.clear();
        // (hash << 64 | backend): sorts as (hash, backend) pairs.
        let mut points = Vec::new();
        for (i, (&replicas, &available)) in self.points.iter().zip(&self.available).enumerate() {
            if whole || available {
                points.extend(
                    (0..u64::from(replicas)).map(|r| (u128::from(Self::point(i, r)) << 64) | i as u128),
                );
            }
        }
        points.sort_unstable();
        self.hashes.extend(points.iter().map(|&p| (p >> 64) as u64));
        self.owners.extend(points.iter().map(|&p| p as u32));
        // About four points per bucket.
        let bits = (usize::BITS - (self.hashes.len() / 4).max(1).leading_zeros()).clamp(1, 32);
        self.shift = 64 - bits;
        let buckets = 1_usize << bits;
        let mut at = 0;
        for k in 0..buckets {
            while at < self.hashes.len() && ((self.hashes[at] >> self.shift) as usize) < k {
                at += 1;
            }
            self.starts.push(at as u32);
        }
        self.starts.push(self.hashes.len() as u32);
    }

    /// The position of the first point of an available backend at or after `hash`, wrapping;
    /// `None` when no backend is available.
    #[inline(always)]
    pub(crate) fn locate(&self, hash: u64) -> Option<usize> {
        if self.live == 0 {
            return None;
        }
        let k = (hash >> self.shift) as usize;
        let (lo, hi) = (self.starts[k] as usize, self.starts[k + 1] as usize);
        let mut at = lo + self.hashes[lo..hi].partition_point(|&p| p < hash);
        if at == self.hashes.len() {
            at = 0;
        }
        if self.live < self.hashes.len() {
            at = self.step_to_available(at);
        }
        Some(at)
    }

    /// The first position at or after `at`, wrapping, whose backend is available. At least a
    /// quarter of the points are: four steps at the most on average. Ends, as some point is
    /// available. Kept out of line, so that a lookup in a ring of available backends stays
    /// small enough to inline.
    #[inline(never)]
    fn step_to_available(&self, mut at: usize) -> usize {
        while !self.available[self.owners[at] as usize] {
            at = if at + 1 == self.hashes.len() { 0 } else { at + 1 };
        }
        at
    }

    /// The backend owning the point at position `at`.
    #[inline]
    pub(crate) fn owner(&self, at: usize) -> usize {
        self.owners[at] as usize
    }

    /// Points on the ring, those of unavailable backends included.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.hashes.len()
    }
}

/// `RingHash(entries_per_host: 100)` in an experiment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RingHashSpec {
    /// Ring points per backend on average, between 1 and 100,000. Default: 100.
    #[serde(default = "default_entries_per_host")]
    pub entries_per_host: u32,
}

pub(crate) fn default_entries_per_host() -> u32 {
    RingHash::DEFAULT_ENTRIES_PER_HOST
}

/// The range check of `entries_per_host`, for [`RingHash`] and
/// [`BoundedLoadHash`](super::BoundedLoadHash).
pub(crate) fn check_entries_per_host(entries: u32) -> Option<Problem> {
    let max = RingHash::MAX_ENTRIES_PER_HOST;
    (!(1..=max).contains(&entries)).then(|| {
        Problem::error(format!("entries_per_host must be between 1 and {max}, like 100, not {entries}"))
            .at("entries_per_host")
    })
}

impl Default for RingHashSpec {
    /// 100 points per backend.
    fn default() -> Self {
        RingHashSpec { entries_per_host: default_entries_per_host() }
    }
}

impl Params for RingHashSpec {
    fn check(&self, _: &Context) -> Vec<Problem> {
        check_entries_per_host(self.entries_per_host).into_iter().collect()
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(RingHash::new(self.entries_per_host))
    }
}

impl Entry for RingHashSpec {
    const INFO: &'static Info = &Info {
        name: "RingHash",
        synopsis: "RingHash(entries_per_host: 100)",
        summary: "consistent hash ring on the request key; one of n leaving moves ~1/n of keys",
        source: "Ketama, Envoy RING_HASH",
        params: &[Param {
            name: "entries_per_host",
            ty: "u32",
            default: Some("100"),
            doc: "ring points per backend on average, between 1 and 100000",
        }],
        routes_on_keys: true,
        splits_by_weight: true,
    };

    fn examples() -> Vec<Self> {
        vec![RingHashSpec::default(), RingHashSpec { entries_per_host: 1 }]
    }

    fn written(&self) -> Vec<String> {
        written_unless_default("entries_per_host", self.entries_per_host, default_entries_per_host())
            .into_iter()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::states;
    use rand::RngExt;
    use stacksim_engine::rng::stream;

    fn route(policy: &mut dyn Policy, backends: &[BackendState], keys: u64) -> Vec<Option<usize>> {
        let mut rng = stream(1, "policy");
        policy.on_backends_changed(backends);
        (0..keys)
            .map(|key| {
                let request = RequestInfo { key, ..Default::default() };
                policy.pick(backends, &request, &mut rng)
            })
            .collect()
    }

    #[test]
    fn one_of_ten_leaving_moves_only_its_own_keys() {
        let mut backends = states(&[1; 10]);
        let mut policy = RingHash::new(100);
        let before = route(&mut policy, &backends, 20_000);
        backends[3].eligible = false;
        let after = route(&mut policy, &backends, 20_000);
        let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
        let owned = before.iter().filter(|b| **b == Some(3)).count();
        assert!(before.iter().zip(&after).all(|(b, a)| b == a || *b == Some(3)));
        assert_eq!(moved, owned);
        // About 1/10 of the keys, within the spread of 100 points per backend.
        let fraction = moved as f64 / 20_000.0;
        assert!((0.06..0.14).contains(&fraction), "{fraction}");
    }

    #[test]
    fn the_bucket_table_finds_what_a_binary_search_finds() {
        for n in [1, 2, 3, 10, 100] {
            let mut ring = Ring::new(7);
            ring.rebuild(&states(&vec![1; n]));
            let mut hash = 0_u64;
            for _ in 0..2000 {
                hash = splitmix64(hash);
                for probe in [hash, ring.hashes[hash as usize % ring.len()], u64::MAX, 0] {
                    let at = ring.hashes.partition_point(|&p| p < probe);
                    let expected = if at == ring.len() { 0 } else { at };
                    assert_eq!(ring.locate(probe), Some(expected), "{n} backends, hash {probe}");
                }
            }
        }
    }

    /// What a ring told of every change finds, against a ring built afresh for each state:
    /// the same owner for every hash, through availability changes that keep the whole ring,
    /// fall below a quarter of the points (the ring of available backends only) and come back,
    /// and weight changes. Also the pick of `BoundedLoadHash`, which walks the same ring.
    #[test]
    fn a_ring_told_of_changes_finds_what_a_fresh_ring_finds() {
        use crate::policy::BoundedLoadHash;
        let mut rng = stream(9, "changes");
        let mut backends = states(&[1, 2, 3, 0, 1, 1, 2, 1, 1, 3, 1, 1, 2, 1, 1, 1]);
        let mut told = Ring::new(10);
        let mut bounded = BoundedLoadHash::with_entries(1.25, 10);
        let mut modes = (0, 0);
        for step in 0..400 {
            // Mostly availability; now and then a weight; runs of failures to cross the
            // quarter both ways.
            let i = rng.random_range(0..backends.len());
            match step % 50 {
                0..20 => backends[i].eligible = !backends[i].eligible,
                20..35 => backends[i].eligible = false,
                35..48 => backends[i].eligible = true,
                _ => backends[i].weight = rng.random_range(0..4),
            }
            backends[i].in_flight = rng.random_range(0..5);
            told.rebuild(&backends);
            bounded.on_backends_changed(&backends);
            if told.whole {
                modes.0 += 1
            } else {
                modes.1 += 1
            }
            let mut fresh = Ring::new(10);
            fresh.rebuild(&backends);
            let mut fresh_bounded = BoundedLoadHash::with_entries(1.25, 10);
            fresh_bounded.on_backends_changed(&backends);
            let mut hash = step;
            for key in 0..200 {
                hash = splitmix64(hash);
                let owner = |ring: &Ring| ring.locate(hash).map(|at| ring.owner(at));
                assert_eq!(owner(&told), owner(&fresh), "step {step}, hash {hash}");
                let request = RequestInfo { key, ..Default::default() };
                let mut draws = stream(1, "policy");
                assert_eq!(
                    bounded.pick(&backends, &request, &mut draws),
                    fresh_bounded.pick(&backends, &request, &mut draws),
                    "step {step}, key {key}"
                );
            }
        }
        // Both kinds of ring were exercised.
        assert!(modes.0 > 20 && modes.1 > 20, "{modes:?}");
    }

    #[test]
    fn points_follow_weights() {
        let mut ring = Ring::new(100);
        ring.rebuild(&states(&[1, 3, 0]));
        let of = |b| ring.owners.iter().filter(|&&o| o == b).count();
        assert_eq!((of(0), of(1), of(2)), (50, 150, 0));
        assert_eq!(ring.len(), 200);
    }
}
