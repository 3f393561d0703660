use serde::{Deserialize, Serialize};

use super::catalog::{self, Context, Entry, Info, Param, Params, Problem, written_unless_default};
use super::ring_hash::Ring;
use super::ring_hash::{check_entries_per_host, default_entries_per_host};
use super::{BackendState, Policy, RequestInfo, SimRng, key_hash};

/// Consistent hashing with bounded loads (Mirrokni, Thorup and Zadimoghaddam 2018), as
/// HAProxy's `hash-type consistent` with `hash-balance-factor` (`lb_chash.c`).
///
/// Keys live on a hash ring as in [`RingHash`](super::RingHash) (`entries_per_host` points
/// per backend on average). Each backend may hold at most its share of
/// `ceil(factor × (in flight + 1))` requests in flight, the total in flight over available
/// backends counting the one being placed; HAProxy's `chash_server_is_eligible` splits that
/// total by weight, whole slots per unit of weight and the remainder in proportion to
/// cumulative weight, and never gives a backend 0. A request walks the ring from its key's
/// point to the first backend below its bound.
///
/// Hence, with equal weights, no backend's in-flight count ever exceeds
/// `ceil(factor × mean)`, the mean taken over available backends after placing the request;
/// with weights, `ceil(factor × mean × weight / mean weight)`. While every backend is under its
/// bound, keys map exactly as on the plain ring. `factor` is HAProxy's percentage over 100,
/// rounded to a whole percent (1.25 is `hash-balance-factor 125`); values below 1 are taken
/// as 1.
#[derive(Clone, Debug)]
pub struct BoundedLoadHash {
    factor_percent: u64,
    ring: Ring,
    /// Per backend: (its weight, the available weight before it), for the slot split.
    weights: Vec<(u64, u64)>,
    total_weight: u64,
    /// Per backend: requests in flight, as last told ([`Policy::tracks_load`]).
    in_flight: Vec<u32>,
    /// Requests in flight over the available backends: HAProxy's `served`, kept up to date
    /// on every change rather than summed over the fleet per pick.
    served: u64,
}

impl BoundedLoadHash {
    /// Bounded-load hashing with this balance factor (≥ 1; HAProxy's percentage / 100) and
    /// 100 ring points per backend.
    pub fn new(factor: f64) -> Self {
        Self::with_entries(factor, super::RingHash::DEFAULT_ENTRIES_PER_HOST)
    }

    /// Bounded-load hashing with this balance factor and ring points per backend.
    pub fn with_entries(factor: f64, entries_per_host: u32) -> Self {
        let percent = if factor.is_finite() { (factor * 100.0).round().max(100.0) as u64 } else { 100 };
        BoundedLoadHash {
            factor_percent: percent,
            ring: Ring::new(entries_per_host),
            weights: Vec::new(),
            total_weight: 0,
            in_flight: Vec::new(),
            served: 0,
        }
    }

    /// The most requests `backend` may have in flight once the next request is placed, given
    /// `served` in flight over the available backends (HAProxy's slot count).
    pub fn slots(&self, backend: usize, served: u64) -> u64 {
        let Some(&(weight, cumulative)) = self.weights.get(backend) else {
            return 0;
        };
        let total = self.total_weight.max(1);
        let tot_slots = ((served + 1) * self.factor_percent).div_ceil(100);
        let per_weight = tot_slots / total;
        let remainder = tot_slots % total;
        let slots = weight * per_weight + ((cumulative + weight) * remainder) / total
            - (cumulative * remainder) / total;
        slots.max(1)
    }
}

impl Policy for BoundedLoadHash {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.ring.rebuild(backends);
        self.weights.clear();
        let mut cumulative = 0;
        for b in backends {
            if b.is_available() {
                self.weights.push((u64::from(b.weight), cumulative));
                cumulative += u64::from(b.weight);
            } else {
                self.weights.push((0, cumulative));
            }
        }
        self.total_weight = cumulative;
        self.in_flight.clear();
        self.in_flight.extend(backends.iter().map(|b| b.in_flight));
        self.served = backends.iter().filter(|b| b.is_available()).map(|b| u64::from(b.in_flight)).sum();
    }

    fn tracks_load(&self) -> bool {
        true
    }

    fn on_load_changed(&mut self, backend: usize, state: &BackendState) {
        let Some(known) = self.in_flight.get_mut(backend) else { return };
        if self.weights[backend].0 > 0 {
            // Available (weight above zero here only if it was available when last rebuilt).
            self.served = (self.served + u64::from(state.in_flight)).saturating_sub(u64::from(*known));
        }
        *known = state.in_flight;
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let start = self.ring.locate(key_hash(request.key))?;
        let served = self.served;
        let len = self.ring.len();
        let mut fallback = None;
        for step in 0..len {
            let at = if start + step < len { start + step } else { start + step - len };
            let candidate = self.ring.owner(at);
            let Some(state) = backends.get(candidate).filter(|b| b.is_available()) else {
                continue;
            };
            fallback.get_or_insert(candidate);
            if u64::from(state.in_flight) < self.slots(candidate, served) {
                return Some(candidate);
            }
        }
        // Unreachable while the balancer reports every change: the slots add up to more
        // than is in flight, so some backend is below its bound. HAProxy also gives up after
        // one turn of the ring and keeps the key's own backend.
        fallback
    }
}

/// The largest balance factor: HAProxy's 10 000 %. Beyond it the bound means nothing, and the
/// slot arithmetic (in-flight requests × percent) could overflow.
pub const MAX_FACTOR: f64 = 100.0;

/// `BoundedLoadHash(factor: 1.25)` in an experiment file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BoundedLoadHashSpec {
    /// No backend takes more than `factor` × its share of the load, ≥ 1.0.
    pub factor: f64,
    /// Ring points per backend on average, between 1 and 100,000. Default: 100.
    #[serde(default = "default_entries_per_host")]
    pub entries_per_host: u32,
}

impl Params for BoundedLoadHashSpec {
    fn check(&self, _: &Context) -> Vec<Problem> {
        let mut problems = Vec::new();
        let factor = self.factor;
        if !(factor >= 1.0 && factor.is_finite()) {
            problems.push(
                Problem::error(format!(
                    "factor must be a finite number ≥ 1.0 (1.25 lets a backend take 25% more than its share), not {factor}"
                ))
                .at("factor"),
            );
        } else if factor > MAX_FACTOR {
            problems.push(
                Problem::error(format!(
                    "factor must be at most {MAX_FACTOR} (a backend may then take 100 times its share, \
                     so almost nothing is bounded; RingHash bounds nothing), not {factor:?}"
                ))
                .at("factor"),
            );
        }
        problems.extend(check_entries_per_host(self.entries_per_host));
        problems
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(BoundedLoadHash::with_entries(self.factor, self.entries_per_host))
    }
}

impl Entry for BoundedLoadHashSpec {
    const INFO: &'static Info = &Info {
        name: "BoundedLoadHash",
        synopsis: "BoundedLoadHash(factor: 1.25)",
        summary: "ring hash, skipping backends above ceil(factor x their share of in-flight load)",
        source: "HAProxy hash-balance-factor (Mirrokni et al., consistent hashing with bounded loads)",
        params: &[
            Param {
                name: "factor",
                ty: "f64",
                default: None,
                doc: "no backend takes more than factor x its share of the load, 1.0 to 100 (HAProxy's percentage / 100)",
            },
            Param {
                name: "entries_per_host",
                ty: "u32",
                default: Some("100"),
                doc: "ring points per backend on average, between 1 and 100000",
            },
        ],
        routes_on_keys: true,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![
            BoundedLoadHashSpec { factor: 1.25, entries_per_host: default_entries_per_host() },
            BoundedLoadHashSpec { factor: 1.0, entries_per_host: 3 },
        ]
    }

    fn written(&self) -> Vec<String> {
        let mut written = vec![catalog::written("factor", &self.factor)];
        written.extend(written_unless_default(
            "entries_per_host",
            self.entries_per_host,
            default_entries_per_host(),
        ));
        written
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::states;
    use stacksim_engine::rng::stream;

    #[test]
    fn no_backend_exceeds_ceil_factor_times_mean() {
        let n = 8;
        let mut backends = states(&[1; 8]);
        let mut policy = BoundedLoadHash::new(1.25);
        policy.on_backends_changed(&backends);
        let mut rng = stream(1, "policy");
        // Every request has the same key: plain hashing would pile them all on one backend.
        for placed in 1..=200_u32 {
            let request = RequestInfo { key: 42, ..Default::default() };
            let b = policy.pick(&backends, &request, &mut rng).unwrap();
            backends[b].in_flight += 1;
            policy.on_load_changed(b, &backends[b]);
            let mean = f64::from(placed) / f64::from(n);
            let bound = (1.25 * mean).ceil() as u32;
            assert!(backends.iter().all(|s| s.in_flight <= bound), "{placed}: {backends:?}");
        }
    }

    #[test]
    fn under_its_bound_a_key_stays_on_its_ring_backend() {
        let backends = states(&[1; 5]);
        let mut ring = super::super::RingHash::new(100);
        let mut bounded = BoundedLoadHash::new(2.0);
        ring.on_backends_changed(&backends);
        bounded.on_backends_changed(&backends);
        let mut rng = stream(1, "policy");
        for key in 0..1000 {
            let request = RequestInfo { key, ..Default::default() };
            assert_eq!(ring.pick(&backends, &request, &mut rng), bounded.pick(&backends, &request, &mut rng));
        }
    }

    #[test]
    fn slots_split_by_weight_like_haproxy() {
        let mut policy = BoundedLoadHash::new(1.5);
        policy.on_backends_changed(&states(&[1, 2, 1]));
        // 9 in flight + 1: ceil(10 × 1.5) = 15 slots over weight 4: 3 per unit, 3 left over.
        let slots: Vec<u64> = (0..3).map(|b| policy.slots(b, 9)).collect();
        assert_eq!(slots, [3, 8, 4]);
        assert_eq!(slots.iter().sum::<u64>(), 15);
    }
}
