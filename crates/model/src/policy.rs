//! Balancing policies: the [`Policy`] trait and the built-in policies.
//!
//! # The contract
//!
//! A policy sees what a real balancer can see: per backend its weight, whether health checks
//! and ejection leave it eligible, the requests this balancer has in flight to it, and a
//! smoothed recent latency ([`BackendState`]); and the request's key and arrival time
//! ([`RequestInfo`]). An implementation must:
//!
//! 1. return `Some(i)` only for a backend that is [available](BackendState::is_available)
//!    (eligible, with a weight above zero), and `None` only when no backend is available —
//!    the balancer then answers 503;
//! 2. draw randomness only from the `rng` it is handed, so that runs are reproducible and
//!    policies compared on one seed see the same traffic;
//! 3. not panic for any number of backends, including zero.
//!
//! The balancer calls [`Policy::on_backends_changed`] before the first pick and whenever a
//! backend's weight or eligibility, or the number of backends, changes; in-flight counts and
//! latencies change between picks without notice. Every response is reported to
//! [`Policy::on_response`].

mod least_connections;
mod random;
mod random_choices;
mod round_robin;

use std::time::Duration;

pub use least_connections::LeastConnections;
pub use random::Random;
pub use random_choices::RandomChoices;
pub use round_robin::RoundRobin;
pub use stacksim_engine::SimRng;
use stacksim_engine::SimTime;

/// What the balancer knows about one backend when it picks.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BackendState {
    /// Configured weight; zero means "send no new requests".
    pub weight: u32,
    /// Whether health checks and outlier ejection currently allow traffic to it.
    pub eligible: bool,
    /// Requests this balancer has sent to it and not yet seen answered.
    pub in_flight: u32,
    /// Smoothed response time observed from it (EWMA with gain 1/8, as TCP's SRTT in
    /// RFC 6298); `None` before the first response.
    pub latency: Option<Duration>,
}

impl BackendState {
    /// Whether a policy may send a request here: eligible and with a weight above zero.
    #[inline]
    pub fn is_available(&self) -> bool {
        self.eligible && self.weight > 0
    }
}

/// What a policy may know about the request it routes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// The user or session key (hash-based policies route on it).
    pub key: u64,
    /// When the request reached the balancer.
    pub arrived: SimTime,
}

/// The response to a request the policy routed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Feedback {
    /// The backend that answered.
    pub backend: usize,
    /// Time from the request reaching the balancer to its response.
    pub latency: Duration,
    /// Whether the response was a success (not a 5xx).
    pub success: bool,
}

/// A load-balancing algorithm. See the [module docs](self) for the contract.
pub trait Policy: Send {
    /// Told before the first pick and whenever weights, eligibility or the backend set change.
    fn on_backends_changed(&mut self, _backends: &[BackendState]) {}

    /// The backend for `request`, or `None` when no backend is available.
    fn pick(
        &mut self,
        backends: &[BackendState],
        request: &RequestInfo,
        rng: &mut SimRng,
    ) -> Option<usize>;

    /// Told of every response to a request this policy routed.
    fn on_response(&mut self, _feedback: &Feedback) {}
}

impl std::fmt::Debug for dyn Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("dyn Policy")
    }
}

/// Indices of the available backends, rebuilt on [`Policy::on_backends_changed`]. Shared by
/// the policies that sample among available backends.
#[derive(Clone, Debug, Default)]
pub(crate) struct Available {
    indices: Vec<usize>,
}

impl Available {
    pub(crate) fn rebuild(&mut self, backends: &[BackendState]) {
        self.indices.clear();
        self.indices.extend(
            backends
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_available())
                .map(|(i, _)| i),
        );
    }

    #[inline]
    pub(crate) fn as_slice(&self) -> &[usize] {
        &self.indices
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacksim_engine::rng::stream;

    fn states(weights: &[u32]) -> Vec<BackendState> {
        weights
            .iter()
            .map(|&weight| BackendState {
                weight,
                eligible: true,
                ..Default::default()
            })
            .collect()
    }

    fn picks(policy: &mut dyn Policy, backends: &[BackendState], n: usize) -> Vec<Option<usize>> {
        let mut rng = stream(1, "policy");
        policy.on_backends_changed(backends);
        (0..n)
            .map(|_| policy.pick(backends, &RequestInfo::default(), &mut rng))
            .collect()
    }

    #[test]
    fn round_robin_matches_nginx_smooth_weighted_sequence() {
        let got = picks(&mut RoundRobin::new(), &states(&[5, 1, 1]), 7);
        let names: String = got
            .iter()
            .map(|p| (b'a' + p.unwrap() as u8) as char)
            .collect();
        assert_eq!(names, "aabacaa");
    }

    #[test]
    fn round_robin_skips_unavailable_backends() {
        let mut backends = states(&[1, 1, 0]);
        backends[0].eligible = false;
        assert_eq!(picks(&mut RoundRobin::new(), &backends, 3), [Some(1); 3]);
        backends[1].eligible = false;
        assert_eq!(picks(&mut RoundRobin::new(), &backends, 1), [None]);
    }

    #[test]
    fn power_of_two_over_two_hosts_picks_the_busier_a_quarter_of_the_time() {
        let mut backends = states(&[1, 1]);
        backends[0].in_flight = 5;
        let n = 100_000;
        let busier = picks(&mut RandomChoices::power_of_two(), &backends, n)
            .iter()
            .filter(|p| **p == Some(0))
            .count();
        let p = busier as f64 / n as f64;
        // Binomial(100 000, 0.25): standard deviation 0.00137; allow four.
        assert!(
            (p - 0.25).abs() < 4.0 * (0.25_f64 * 0.75 / n as f64).sqrt(),
            "{p}"
        );
    }

    #[test]
    fn weighted_random_follows_weights() {
        let n = 100_000;
        let got = picks(&mut Random::new(), &states(&[10, 1, 1, 0]), n);
        let share = |i| got.iter().filter(|p| **p == Some(i)).count() as f64 / n as f64;
        assert!((share(0) - 10.0 / 12.0).abs() < 0.005);
        assert!((share(1) - 1.0 / 12.0).abs() < 0.005);
        assert_eq!(share(3), 0.0);
    }

    #[test]
    fn least_connections_weighs_in_flight_and_rotates_ties() {
        let mut backends = states(&[1, 1, 2]);
        backends[0].in_flight = 2;
        backends[1].in_flight = 1;
        backends[2].in_flight = 2; // 2/2 = 1 per unit weight: ties with backend 1
        let got = picks(&mut LeastConnections::new(), &backends, 4);
        assert_eq!(got, [Some(1), Some(2), Some(1), Some(2)]);
    }

    #[test]
    fn no_backends_means_no_pick() {
        for policy in [
            &mut RoundRobin::new() as &mut dyn Policy,
            &mut Random::new(),
            &mut LeastConnections::new(),
            &mut RandomChoices::new(3),
        ] {
            assert_eq!(picks(policy, &[], 1), [None]);
            assert_eq!(picks(policy, &states(&[0, 0]), 1), [None]);
        }
    }
}
