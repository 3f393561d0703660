//! Probabilistic rejection from recent success: Envoy's admission control at the balancer,
//! and the SRE book's adaptive throttling at the client.

use std::time::Duration;

use stacksim_engine::SimTime;

use super::SlidingCounts;

/// Envoy's admission control filter
/// (<https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/admission_control_filter>):
/// over a sliding `window` the balancer counts the `n` requests it sent upstream and the `s`
/// that succeeded (a response that is not a 5xx; a reset or timeout is a failure), and rejects
/// each new request with 503 at once with probability
///
/// `P = min(max_rejection_probability, max(0, (n − s/success_threshold) / (n + 1))^(1/aggression))`.
///
/// With `success_threshold` 0.95 and aggression 1, a 90% success rate rejects 5.26% and a 50%
/// one 47.3% (large `n`). Requests it rejects are not counted in the window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AdmissionControl {
    /// Sliding window of the success rate (Envoy `sampling_window`, default 30 s).
    pub window: Duration,
    /// Success rate below which rejection starts, in (0, 1] (Envoy `sr_threshold`, default 95%).
    pub success_threshold: f64,
    /// How fast rejection rises as success falls, > 0 (Envoy `aggression`, default 1).
    pub aggression: f64,
    /// Ceiling of the rejection probability, in [0, 1] (Envoy `max_rejection_probability`,
    /// default 80%).
    pub max_rejection_probability: f64,
}

impl AdmissionControl {
    /// Envoy's default ceiling of the rejection probability.
    pub const DEFAULT_MAX_REJECTION_PROBABILITY: f64 = 0.8;

    /// The probability of rejecting a request after `requests` requests of which `successes`
    /// succeeded in the window.
    pub fn rejection_probability(&self, requests: u64, successes: u64) -> f64 {
        let n = requests as f64;
        let excess = (n - successes as f64 / self.success_threshold) / (n + 1.0);
        if excess <= 0.0 {
            return 0.0;
        }
        excess.powf(1.0 / self.aggression).min(self.max_rejection_probability)
    }
}

/// Admission control while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct AdmissionState {
    config: AdmissionControl,
    counts: SlidingCounts,
}

impl AdmissionState {
    pub fn new(config: AdmissionControl) -> Self {
        AdmissionState { config, counts: SlidingCounts::new(config.window) }
    }

    /// Whether to reject a request at `now`, given a uniform draw in [0, 1).
    #[inline]
    pub fn rejects(&mut self, now: SimTime, draw: f64) -> bool {
        let (n, s) = self.counts.totals(now);
        draw < self.config.rejection_probability(n, s)
    }

    /// A request it let through was answered at `now`: a success or not.
    #[inline]
    pub fn record(&mut self, now: SimTime, success: bool) {
        self.counts.add(now, 1, u64::from(success));
    }
}

/// Adaptive throttling at the client, as in *Site Reliability Engineering* (Beyer et al.,
/// 2016), chapter 21 "Handling Overload", "Client-side throttling"
/// (<https://sre.google/sre-book/handling-overload/>): over the last `window` (two minutes in
/// the book) the client counts the `requests` it attempted (those it rejected itself
/// included) and the `accepts` the backends accepted, and rejects each new attempt locally with
/// probability
///
/// `max(0, (requests − k × accepts) / (requests + 1))`.
///
/// With k = 2, a 40% accept rate rejects 20%, and at 50% or more nothing. Here an attempt is
/// accepted when it is answered successfully: a 503/429, a reset, a refused connection or a
/// timeout is not an accept.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Throttle {
    /// Multiplier of accepts, ≥ 1 (the book's K; it suggests 2).
    pub k: f64,
    /// Sliding window of the counts (the book: two minutes).
    pub window: Duration,
}

impl Throttle {
    /// The probability of rejecting an attempt locally after `requests` attempts of which
    /// `accepts` were accepted.
    pub fn rejection_probability(&self, requests: u64, accepts: u64) -> f64 {
        let r = requests as f64;
        ((r - self.k * accepts as f64) / (r + 1.0)).max(0.0)
    }
}

/// A client's throttle while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct ThrottleState {
    config: Throttle,
    counts: SlidingCounts,
}

impl ThrottleState {
    pub fn new(config: Throttle) -> Self {
        ThrottleState { config, counts: SlidingCounts::new(config.window) }
    }

    /// An attempt at `now`: whether it is rejected locally, given a uniform draw in [0, 1).
    /// It counts as a request either way.
    #[inline]
    pub fn rejects(&mut self, now: SimTime, draw: f64) -> bool {
        let (requests, accepts) = self.counts.totals(now);
        let p = self.config.rejection_probability(requests, accepts);
        self.counts.add(now, 1, 0);
        draw < p
    }

    /// An attempt was accepted at `now`.
    #[inline]
    pub fn accepted(&mut self, now: SimTime) {
        self.counts.add(now, 0, 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envoy(aggression: f64) -> AdmissionControl {
        AdmissionControl {
            window: Duration::from_secs(120),
            success_threshold: 0.95,
            aggression,
            max_rejection_probability: AdmissionControl::DEFAULT_MAX_REJECTION_PROBABILITY,
        }
    }

    /// Envoy's documented example: threshold 95%, aggression 1.
    #[test]
    fn admission_control_rejects_5_26_percent_at_90_and_47_3_percent_at_50_percent_success() {
        let ac = envoy(1.0);
        let p90 = ac.rejection_probability(100_000, 90_000);
        assert!((p90 - 0.0526).abs() < 0.00005, "{p90}");
        let p50 = ac.rejection_probability(1000, 500);
        assert!((p50 - 0.473).abs() < 0.0005, "{p50}");
        assert_eq!(ac.rejection_probability(1000, 950), 0.0);
        assert_eq!(ac.rejection_probability(1000, 1000), 0.0);
        assert_eq!(ac.rejection_probability(0, 0), 0.0);
    }

    #[test]
    fn admission_control_aggression_takes_a_root_and_the_ceiling_caps() {
        let p = envoy(2.0).rejection_probability(100_000, 50_000);
        assert!((p - (1.0 - 0.5 / 0.95f64).sqrt()).abs() < 1e-4, "{p}");
        assert_eq!(envoy(1.0).rejection_probability(1000, 0), 0.8);
    }

    /// The SRE book's numbers: K = 2.
    #[test]
    fn throttling_rejects_20_percent_at_40_percent_accepts_and_none_at_half_or_more() {
        let t = Throttle { k: 2.0, window: Duration::from_secs(120) };
        let p = t.rejection_probability(100_000, 40_000);
        assert!((p - 0.2).abs() < 1e-4, "{p}");
        assert_eq!(t.rejection_probability(1000, 500), 0.0);
        assert_eq!(t.rejection_probability(1000, 900), 0.0);
    }

    #[test]
    fn a_throttle_counts_its_own_rejections_as_requests() {
        let mut t = ThrottleState::new(Throttle { k: 2.0, window: Duration::from_secs(120) });
        for i in 0..10 {
            assert!(!t.rejects(SimTime(i), 0.999), "nothing to reject on yet");
        }
        // 10 requests, no accepts: p = 10/11.
        assert!(t.rejects(SimTime(20), 0.9));
        assert!(!t.rejects(SimTime(21), 0.95));
    }
}
