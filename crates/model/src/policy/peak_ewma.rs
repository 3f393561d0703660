use std::time::Duration;

use rand::RngExt;
use serde::{Deserialize, Serialize};
use stacksim_engine::{SimTime, duration_nanos};

use super::catalog::{Context, Entry, Info, Param, Params, Problem, written_unless_default};
use super::{Available, BackendState, Feedback, Policy, RequestInfo, SimRng};
use crate::HumanDuration;

/// The cost of a backend that has requests in flight but has never answered: Finagle's
/// `Penalty` (`Long.MaxValue >> 16` nanoseconds), plus its in-flight count.
const PENALTY_NS: f64 = (i64::MAX >> 16) as f64;

/// Peak-EWMA latency times load, behind the power of two choices: Finagle's `p2cPeakEwma`
/// (`com.twitter.finagle.loadbalancer.PeakEwma`), the balancer linkerd2-proxy also uses.
///
/// Per backend the policy keeps `cost`, a moving average of response times that jumps to any
/// response slower than itself ("peak") and otherwise decays towards recent ones, weighting a
/// response by `1 - exp(-Δt / decay)` where `Δt` is the time since the previous one. It
/// decays between responses as well. A backend's load is `cost × (in_flight + 1)`; one with
/// requests in flight and no response yet costs a penalty (Finagle's `Long.MaxValue >> 16`
/// ns), and a backend never tried costs 0, so new backends are probed first.
///
/// Each pick samples two *distinct* available backends uniformly and takes the less loaded,
/// the first sampled on ties (Finagle's `P2CPick`); with one backend it takes it. Weights
/// only gate availability. Costs are in nanoseconds of simulated time.
#[derive(Clone, Debug)]
pub struct PeakEwma {
    tau_ns: f64,
    costs: Vec<Cost>,
    available: Available,
}

#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    ns: f64,
    stamp: SimTime,
}

impl Cost {
    /// Finagle's `observe(rtt)`: decay by the time since the last observation, then jump to
    /// `rtt` if it is higher, else move towards it.
    #[inline]
    fn observe(&mut self, rtt_ns: f64, now: SimTime, tau_ns: f64) {
        let elapsed = now.as_nanos().saturating_sub(self.stamp.as_nanos()) as f64;
        let w = (-elapsed / tau_ns).exp();
        self.ns = if rtt_ns > self.ns { rtt_ns } else { self.ns * w + rtt_ns * (1.0 - w) };
        self.stamp = now;
    }
}

impl PeakEwma {
    /// Finagle's default decay time (`Balancers.p2cPeakEwma`): 10 s.
    pub const DEFAULT_DECAY: Duration = Duration::from_secs(10);

    /// Peak EWMA with the time over which latency history decays (Finagle's `decayTime`; the
    /// cost's mean lifetime). Zero is taken as one nanosecond.
    pub fn new(decay: Duration) -> Self {
        PeakEwma {
            tau_ns: duration_nanos(decay).max(1) as f64,
            costs: Vec::new(),
            available: Available::default(),
        }
    }

    /// Finagle's `Metric.get()`: decays the cost to `now`, then returns
    /// cost × (in flight + 1), or the penalty for a backend with requests out and no answer.
    #[inline]
    fn load(&mut self, backend: usize, state: &BackendState, now: SimTime) -> f64 {
        let Some(cost) = self.costs.get_mut(backend) else {
            return 0.0;
        };
        cost.observe(0.0, now, self.tau_ns);
        if cost.ns == 0.0 && state.in_flight != 0 {
            PENALTY_NS + f64::from(state.in_flight)
        } else {
            cost.ns * (f64::from(state.in_flight) + 1.0)
        }
    }
}

impl Default for PeakEwma {
    /// Finagle's default decay of 10 s.
    fn default() -> Self {
        Self::new(Self::DEFAULT_DECAY)
    }
}

impl Policy for PeakEwma {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.available.rebuild(backends);
        self.costs.resize(backends.len(), Cost::default());
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        let available = &self.available;
        match available.len() {
            0 => None,
            1 => Some(available.get(0)),
            n => {
                let a = rng.random_range(0..n);
                let mut b = rng.random_range(0..n - 1);
                if b >= a {
                    b += 1;
                }
                let (a, b) = (available.get(a), available.get(b));
                let (state_a, state_b) = (backends.get(a)?, backends.get(b)?);
                let now = request.arrived;
                if self.load(a, state_a, now) <= self.load(b, state_b, now) { Some(a) } else { Some(b) }
            }
        }
    }

    fn on_response(&mut self, feedback: &Feedback) {
        if let Some(cost) = self.costs.get_mut(feedback.backend) {
            let rtt_ns = duration_nanos(feedback.latency) as f64;
            cost.observe(rtt_ns, feedback.at, self.tau_ns);
        }
    }
}

/// `PeakEwma(decay: "10s")` in an experiment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeakEwmaSpec {
    /// Time over which latency history decays, > 0. Default: "10s".
    #[serde(default = "default_decay")]
    pub decay: HumanDuration,
}

fn default_decay() -> HumanDuration {
    HumanDuration(PeakEwma::DEFAULT_DECAY)
}

impl Default for PeakEwmaSpec {
    /// Finagle's default decay of 10 s.
    fn default() -> Self {
        PeakEwmaSpec { decay: default_decay() }
    }
}

impl Params for PeakEwmaSpec {
    fn check(&self, _: &Context) -> Vec<Problem> {
        if self.decay.0.is_zero() {
            vec![
                Problem::error("the decay must be longer than zero, like \"10s\" (Finagle's default)")
                    .at("decay"),
            ]
        } else {
            Vec::new()
        }
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(PeakEwma::new(self.decay.0))
    }
}

impl Entry for PeakEwmaSpec {
    const INFO: &'static Info = &Info {
        name: "PeakEwma",
        synopsis: "PeakEwma(decay: \"10s\")",
        summary: "two distinct random backends, lower peak-EWMA latency x (in flight + 1) wins",
        source: "Finagle p2cPeakEwma (also linkerd2-proxy / tower PeakEwma)",
        params: &[Param {
            name: "decay",
            ty: "duration",
            default: Some("\"10s\""),
            doc: "time over which latency history decays, > 0",
        }],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![PeakEwmaSpec::default(), PeakEwmaSpec { decay: HumanDuration(Duration::from_millis(1)) }]
    }

    fn written(&self) -> Vec<String> {
        written_unless_default("decay", self.decay, default_decay()).into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::states;
    use stacksim_engine::rng::stream;

    fn respond(policy: &mut PeakEwma, backend: usize, at_s: u64, latency_ms: u64) {
        policy.on_response(&Feedback {
            backend,
            at: SimTime::from(Duration::from_secs(at_s)),
            latency: Duration::from_millis(latency_ms),
            success: true,
        });
    }

    #[test]
    fn cost_jumps_to_peaks_and_decays_towards_recent_latency() {
        let mut policy = PeakEwma::new(Duration::from_secs(10));
        policy.on_backends_changed(&states(&[1]));
        respond(&mut policy, 0, 0, 100);
        assert_eq!(policy.costs[0].ns, 100e6);
        respond(&mut policy, 0, 1, 300); // slower: jump
        assert_eq!(policy.costs[0].ns, 300e6);
        // 10 s (one decay time) later, a 100 ms response is weighted in by 1 - e^-1.
        respond(&mut policy, 0, 11, 100);
        let w = (-1.0_f64).exp();
        let expected = 300e6 * w + 100e6 * (1.0 - w);
        assert!((policy.costs[0].ns - expected).abs() < 1.0, "{}", policy.costs[0].ns);
    }

    #[test]
    fn prefers_the_faster_backend_and_probes_untried_ones() {
        let mut policy = PeakEwma::default();
        let mut backends = states(&[1, 1]);
        policy.on_backends_changed(&backends);
        respond(&mut policy, 0, 0, 500);
        // Backend 1 never answered and has nothing in flight: cost 0, so it wins.
        let mut rng = stream(1, "policy");
        let at_1s = RequestInfo { key: 0, arrived: SimTime::from(Duration::from_secs(1)) };
        assert_eq!(policy.pick(&backends, &at_1s, &mut rng), Some(1));
        // With a request in flight and no answer, it carries the penalty.
        backends[1].in_flight = 1;
        assert_eq!(policy.pick(&backends, &at_1s, &mut rng), Some(0));
        respond(&mut policy, 1, 1, 50);
        backends[1].in_flight = 0;
        assert_eq!(policy.pick(&backends, &at_1s, &mut rng), Some(1));
        // Load multiplies in: 50 ms × 11 beats 500 ms × 1 no more.
        backends[1].in_flight = 10;
        assert_eq!(policy.pick(&backends, &at_1s, &mut rng), Some(0));
    }
}
