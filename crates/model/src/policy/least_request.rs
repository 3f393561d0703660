use std::cmp::Ordering;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use super::catalog::{Context, Entry, Info, Param, Params, Problem, written_unless_default};
use super::{BackendState, Policy, RandomChoices, RequestInfo, SimRng};

/// Envoy's `LEAST_REQUEST` load balancer, both of its modes.
///
/// - **All available weights equal**: sample `choice_count` backends uniformly with
///   replacement and take the one with the fewest active requests, the first sampled on ties
///   (`unweightedHostPick`). This is exactly [`RandomChoices`]: the same picks from the same
///   random numbers.
/// - **Weights differ**: an earliest-deadline-first schedule (Envoy's `EdfScheduler`) in which
///   every backend's weight is recomputed when it is picked, as
///   `weight / (active + 1)^active_request_bias` (`LeastRequestLoadBalancer::hostWeight`).
///   A weight-2 backend with 4 active requests has effective weight 2 / 5 = 0.4 at bias 1.0.
///   The picked backend is re-queued with deadline `now + 1 / effective weight`; its active
///   count is read at that moment, before the new request is counted, so a heavy backend
///   keeps its early deadline for one round and can receive a short burst, as in Envoy.
///   Bias 0 ignores load and is weighted round robin.
///
/// The schedule is rebuilt when the backends change, every backend starting at deadline
/// `1 / effective weight` in backend order (Envoy also pre-advances it by a random number of
/// picks so that a fleet of proxies does not move in lockstep; one balancer does not need it).
///
/// Source: Envoy docs, "Load balancing → Supported load balancers → Weighted least request",
/// and `source/extensions/load_balancing_policies/least_request/least_request_lb.cc`.
#[derive(Clone, Debug)]
pub struct LeastRequest {
    bias: f64,
    unweighted: RandomChoices,
    equal_weights: bool,
    schedule: BinaryHeap<Deadline>,
    now: f64,
    order: u64,
}

/// One backend's place in the EDF schedule.
#[derive(Clone, Copy, Debug)]
struct Deadline {
    at: f64,
    order: u64,
    backend: usize,
}

impl PartialEq for Deadline {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Deadline {}

impl PartialOrd for Deadline {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Deadline {
    /// Reversed, so that `BinaryHeap` pops the earliest deadline, then the earliest added.
    fn cmp(&self, other: &Self) -> Ordering {
        other.at.total_cmp(&self.at).then(other.order.cmp(&self.order))
    }
}

impl LeastRequest {
    /// Envoy's default `active_request_bias`: 1.0.
    pub const DEFAULT_ACTIVE_REQUEST_BIAS: f64 = 1.0;

    /// Envoy's default `choice_count`: 2.
    pub const DEFAULT_CHOICE_COUNT: u32 = 2;

    /// Envoy's defaults: `active_request_bias` 1.0 and `choice_count` 2.
    pub fn new() -> Self {
        Self::with(Self::DEFAULT_ACTIVE_REQUEST_BIAS, Self::DEFAULT_CHOICE_COUNT)
    }

    /// A least-request balancer with this bias (≥ 0; negative or NaN is taken as 0) and this
    /// many choices in the equal-weights mode (at least 1).
    pub fn with(active_request_bias: f64, choice_count: u32) -> Self {
        let bias = if active_request_bias > 0.0 { active_request_bias } else { 0.0 };
        LeastRequest {
            bias,
            unweighted: RandomChoices::new(choice_count),
            equal_weights: true,
            schedule: BinaryHeap::new(),
            now: 0.0,
            order: 0,
        }
    }

    /// The weight Envoy gives a backend of `weight` with `active` requests:
    /// `weight / (active + 1)^bias` (and `weight` itself at bias 0).
    pub fn effective_weight(weight: u32, active: u32, active_request_bias: f64) -> f64 {
        let weight = f64::from(weight);
        if active_request_bias == 0.0 {
            weight
        } else if active_request_bias == 1.0 {
            weight / (f64::from(active) + 1.0)
        } else {
            weight / (f64::from(active) + 1.0).powf(active_request_bias)
        }
    }

    fn schedule(&mut self, backend: usize, state: &BackendState) {
        let weight = Self::effective_weight(state.weight, state.in_flight, self.bias);
        // A bias so large that the weight underflows still leaves the backend in the schedule.
        let at = self.now + 1.0 / weight.max(f64::MIN_POSITIVE);
        self.schedule.push(Deadline { at, order: self.order, backend });
        self.order += 1;
    }
}

impl Default for LeastRequest {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy for LeastRequest {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.unweighted.on_backends_changed(backends);
        let mut weights = backends.iter().filter(|b| b.is_available()).map(|b| b.weight);
        let first = weights.next();
        self.equal_weights = weights.all(|w| Some(w) == first);
        self.schedule.clear();
        self.now = 0.0;
        self.order = 0;
        if !self.equal_weights {
            self.schedule.reserve(backends.len());
            for (i, b) in backends.iter().enumerate() {
                if b.is_available() {
                    self.schedule(i, b);
                }
            }
        }
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        if self.equal_weights {
            return self.unweighted.pick(backends, request, rng);
        }
        while let Some(next) = self.schedule.pop() {
            let Some(state) = backends.get(next.backend).filter(|b| b.is_available()) else {
                // Gone without notice: drop it, as Envoy drops expired scheduler entries.
                continue;
            };
            self.now = next.at;
            self.schedule(next.backend, state);
            return Some(next.backend);
        }
        None
    }
}

/// `LeastRequest(active_request_bias: 1.0, choice_count: 2)` in an experiment file.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LeastRequestSpec {
    /// How strongly active requests lower a backend's weight, ≥ 0. Default: 1.0.
    #[serde(default = "default_active_request_bias")]
    pub active_request_bias: f64,
    /// Backends sampled per pick when all weights are equal, ≥ 1. Default: 2.
    #[serde(default = "default_choice_count")]
    pub choice_count: u32,
}

fn default_active_request_bias() -> f64 {
    LeastRequest::DEFAULT_ACTIVE_REQUEST_BIAS
}

fn default_choice_count() -> u32 {
    LeastRequest::DEFAULT_CHOICE_COUNT
}

impl Default for LeastRequestSpec {
    /// Envoy's defaults.
    fn default() -> Self {
        LeastRequestSpec {
            active_request_bias: default_active_request_bias(),
            choice_count: default_choice_count(),
        }
    }
}

impl Params for LeastRequestSpec {
    fn check(&self, _: &Context) -> Vec<Problem> {
        let mut problems = Vec::new();
        let bias = self.active_request_bias;
        if !(bias >= 0.0 && bias.is_finite()) {
            problems.push(
                Problem::error(format!(
                    "active_request_bias must be a finite number ≥ 0 (Envoy's default is 1.0; 0 ignores load), not {bias}"
                ))
                .at("active_request_bias"),
            );
        }
        if self.choice_count == 0 {
            problems.push(
                Problem::error("choice_count must be at least 1 (Envoy's default is 2)").at("choice_count"),
            );
        } else if self.choice_count > super::random_choices::MAX_CHOICES {
            problems.push(
                Problem::error(format!(
                    "choice_count must be at most {} (Envoy's default is 2), not {}",
                    super::random_choices::MAX_CHOICES,
                    self.choice_count
                ))
                .at("choice_count"),
            );
        }
        problems
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(LeastRequest::with(self.active_request_bias, self.choice_count))
    }
}

impl Entry for LeastRequestSpec {
    const INFO: &'static Info = &Info {
        name: "LeastRequest",
        synopsis: "LeastRequest(active_request_bias: 1.0, choice_count: 2)",
        summary: "equal weights: P2C on active requests; else EDF on weight / (active + 1)^bias",
        source: "Envoy LEAST_REQUEST with active_request_bias (weight 2, 4 active -> 0.4)",
        params: &[
            Param {
                name: "active_request_bias",
                ty: "f64",
                default: Some("1.0"),
                doc: "how strongly active requests lower a backend's weight, ≥ 0 (0 ignores load)",
            },
            Param {
                name: "choice_count",
                ty: "u32",
                default: Some("2"),
                doc: "backends sampled per pick when all weights are equal, 1 to 100",
            },
        ],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![
            LeastRequestSpec::default(),
            LeastRequestSpec { active_request_bias: 0.0, choice_count: 2 },
            LeastRequestSpec { active_request_bias: 2.5, choice_count: 3 },
        ]
    }

    fn written(&self) -> Vec<String> {
        [
            written_unless_default(
                "active_request_bias",
                self.active_request_bias,
                default_active_request_bias(),
            ),
            written_unless_default("choice_count", self.choice_count, default_choice_count()),
        ]
        .into_iter()
        .flatten()
        .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{letters, picks, states};

    #[test]
    fn weight_2_with_4_active_requests_has_effective_weight_0_4() {
        assert_eq!(LeastRequest::effective_weight(2, 4, 1.0), 0.4);
        assert_eq!(LeastRequest::effective_weight(2, 4, 0.0), 2.0);
        assert!((LeastRequest::effective_weight(2, 3, 0.5) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn equal_weights_pick_exactly_as_random_choices() {
        let mut backends = states(&[3, 3, 3, 3, 3]);
        for (i, b) in backends.iter_mut().enumerate() {
            b.in_flight = (i as u32 * 7) % 5;
        }
        let ours = picks(&mut LeastRequest::with(1.0, 2), &backends, 1000);
        let p2c = picks(&mut RandomChoices::new(2), &backends, 1000);
        assert_eq!(ours, p2c);
    }

    #[test]
    fn unequal_weights_without_load_are_weighted_round_robin() {
        // EDF with deadlines 1/w: weights 2:1 give a b a a b a ... (ties to the earlier entry).
        let got = picks(&mut LeastRequest::new(), &states(&[2, 1]), 6);
        assert_eq!(letters(&got), "abaaba");
    }

    #[test]
    fn active_requests_lower_a_backends_share() {
        let mut backends = states(&[2, 1]);
        // 4 active: effective weight 0.4 against 1.0, so `b` now gets about 1 / 0.4 = 2.5
        // picks per pick of `a`.
        backends[0].in_flight = 4;
        let got = picks(&mut LeastRequest::new(), &backends, 7000);
        let a = got.iter().filter(|p| **p == Some(0)).count();
        assert_eq!(a, 2000, "{}", letters(&got[..14]));
    }
}
