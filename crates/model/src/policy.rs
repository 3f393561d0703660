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
//! backend's weight or eligibility, or the number of backends, changes. Every response is
//! reported to [`Policy::on_response`]. In-flight counts and latencies change between picks;
//! a policy that keeps its own index of them (to pick in O(log n) rather than scan every
//! backend) says so with [`Policy::tracks_load`], and is then told of every such change, one
//! backend at a time, through [`Policy::on_load_changed`]:
//!
//! 4. a caller (the balancer, the testkit, a bench) that changes a backend's `in_flight` or
//!    `latency` after [`Policy::on_backends_changed`] calls [`Policy::on_load_changed`] with
//!    its new state before the next pick, if [`Policy::tracks_load`] is true. Policies that do
//!    not track load (the default) read the slice at each pick and need no notice.
//!
//! A backend's index is its identity: a backend that leaves (fails its health checks, is
//! drained) stays in the slice as unavailable, and new backends are appended. Hash-based
//! policies rely on this to keep every other backend's keys where they were.
//!
//! `stacksim-testkit` checks these rules, and the family properties below, for any policy.
//!
//! # The built-in policies
//!
//! Each built-in has its own file holding its implementation and its [`catalog`]
//! entry: its parameters as experiment files write them, their range checks, its name,
//! summary and production source. The catalog list, [`builtin_policies!`](crate::builtin_policies)
//! (below, in this file's source), has one line per built-in, in the order `stacksim
//! policies` prints them; experiment-file parsing, labels, validation, the `stacksim
//! policies` table, the policy registry and the policy-contract tests are all generated from
//! it. [`catalog`] says how to add a policy: its file, and one line.
//!
//! By family: weighted ([`RoundRobin`], [`StaticRoundRobin`], [`Random`]); least loaded over
//! every backend ([`LeastConnections`], [`JoinShortestQueue`]) or sampled ([`RandomChoices`],
//! [`LeastRequest`]); latency aware ([`PeakEwma`], [`LeastResponseTime`]); consistent hash
//! ([`RingHash`], [`Maglev`], [`BoundedLoadHash`]); modulo hash ([`SourceHash`]); fill first
//! ([`First`]); idle first ([`JoinIdleQueue`]).
//!
//! Every built-in picks in O(1) or O(log n) over n backends: the ones that compare every
//! backend keep an index updated through [`Policy::on_load_changed`] rather than scanning.
//!
//! Hash policies route on [`RequestInfo::key`] mixed by [`key_hash`] (SplitMix64), never on
//! `std`'s randomly seeded hashers, so a key lands on the same backend in every run.

mod bounded_load_hash;
pub mod catalog;
mod first;
mod join_idle_queue;
mod join_shortest_queue;
mod least_connections;
mod least_request;
mod least_response_time;
mod load_tree;
mod maglev;
mod peak_ewma;
mod random;
mod random_choices;
mod ring_hash;
mod round_robin;
mod smooth_tree;
mod source_hash;
mod static_round_robin;

use std::time::Duration;

pub use bounded_load_hash::{BoundedLoadHash, BoundedLoadHashSpec};
pub use first::{First, FirstSpec};
pub use join_idle_queue::{JoinIdleQueue, JoinIdleQueueSpec};
pub use join_shortest_queue::{JoinShortestQueue, JoinShortestQueueSpec};
pub use least_connections::{LeastConnections, LeastConnectionsSpec};
pub use least_request::{LeastRequest, LeastRequestSpec};
pub use least_response_time::{LeastResponseTime, LeastResponseTimeSpec};
pub use maglev::{Maglev, MaglevSpec};
pub use peak_ewma::{PeakEwma, PeakEwmaSpec};
pub use random::{Random, RandomSpec};
pub use random_choices::{PowerOfTwoChoicesSpec, RandomChoices, RandomChoicesSpec};
pub use ring_hash::{RingHash, RingHashSpec};
pub use round_robin::{RoundRobin, RoundRobinSpec};
pub use source_hash::{SourceHash, SourceHashSpec};
pub use stacksim_engine::SimRng;
use stacksim_engine::SimTime;
pub use static_round_robin::{StaticRoundRobin, StaticRoundRobinSpec};

/// The catalog of built-in policies: one line per policy, in the order `stacksim policies`
/// lists them. `Name(NameSpec)` is a policy written with parameters (`Maglev(table_size:
/// 5003)`), `Name = NameSpec` one written without (`RoundRobin`; `NameSpec` is then a unit
/// struct). `NameSpec`, exported from [`policy`](crate::policy), is the policy's
/// [`catalog::Entry`], defined in its file; [`catalog`] says how to add one.
///
/// The macro hands the list to the caller's macro `$then` as `$crate; Name = NameSpec,
/// Name(NameSpec), …`. [`catalog::BUILTINS`] and the `stacksim` crate's `PolicySpec` (the
/// experiment-file enum, its labels and checks) are generated this way.
#[macro_export]
macro_rules! builtin_policies {
    ($then:ident) => {
        $then! { $crate;
            // name in files and its catalog entry     // family                    follows
            RoundRobin = RoundRobinSpec,               // weighted                  NGINX smooth weighted round robin
            StaticRoundRobin = StaticRoundRobinSpec,   // weighted                  HAProxy static-rr
            Random = RandomSpec,                       // weighted                  HAProxy random(1), Envoy RANDOM
            LeastConnections = LeastConnectionsSpec,   // least loaded, every one   NGINX least_conn, HAProxy leastconn
            JoinShortestQueue = JoinShortestQueueSpec, // least loaded, every one   JSQ (Winston 1977)
            PowerOfTwoChoices = PowerOfTwoChoicesSpec, // least loaded, sampled     Envoy LEAST_REQUEST, HAProxy random(2)
            RandomChoices(RandomChoicesSpec),          // least loaded, sampled     Envoy choice_count n, HAProxy random(n)
            LeastRequest(LeastRequestSpec),            // least loaded / weighted   Envoy LEAST_REQUEST, active_request_bias
            PeakEwma(PeakEwmaSpec),                    // latency aware, sampled    Finagle p2cPeakEwma, linkerd2-proxy
            LeastResponseTime = LeastResponseTimeSpec, // latency aware, every one  NGINX Plus least_time
            RingHash(RingHashSpec),                    // consistent hash           Ketama, Envoy RING_HASH
            Maglev(MaglevSpec),                        // consistent hash           Maglev (Eisenbud et al. 2016), Envoy MAGLEV
            BoundedLoadHash(BoundedLoadHashSpec),      // consistent hash, bounded  HAProxy hash-balance-factor
            SourceHash = SourceHashSpec,               // modulo hash               HAProxy map-based, NGINX ip_hash
            First(FirstSpec),                          // fill first                HAProxy balance first
            JoinIdleQueue = JoinIdleQueueSpec,         // idle first                JIQ (Lu et al. 2011)
        }
    };
}

/// The 64-bit hash every built-in hash policy routes on: one SplitMix64 step of the key.
///
/// Stable across platforms and releases (it is part of which backend a key lands on), and a
/// bijection, so distinct keys never collide before the reduction to a backend.
#[inline]
pub const fn key_hash(key: u64) -> u64 {
    stacksim_engine::rng::splitmix64(key)
}

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
    /// When the response reached the balancer.
    pub at: SimTime,
    /// The attempt's round trip: time from this attempt leaving the balancer to its response,
    /// as Finagle and Envoy measure a host's latency. It is not the request's response time:
    /// a retried request's earlier attempts and backoffs are not in it. Zero for an attempt
    /// turned away at once (refused connection, full queue).
    pub latency: Duration,
    /// Whether the response was a success (not a 5xx).
    pub success: bool,
}

/// A load-balancing algorithm. See the [module docs](self) for the contract.
pub trait Policy: Send {
    /// A name for messages and `Debug` (`dyn Policy` prints it). The default is the
    /// implementing type's name without its module path (`RoundRobin`), as
    /// [`std::any::type_name`] spells it: meant for people, not as a stable identifier.
    fn name(&self) -> &str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Told before the first pick and whenever weights, eligibility or the backend set change.
    fn on_backends_changed(&mut self, _backends: &[BackendState]) {}

    /// Whether the policy keeps its own index of in-flight counts or latencies and must be told
    /// of each change through [`on_load_changed`](Policy::on_load_changed). Asked once, when the
    /// balancer takes the policy on; the default, `false`, costs nothing per request.
    fn tracks_load(&self) -> bool {
        false
    }

    /// Told, if [`tracks_load`](Policy::tracks_load), that `backend`'s in-flight count or
    /// smoothed latency changed; `state` is its state now. Weight and eligibility changes come
    /// through [`on_backends_changed`](Policy::on_backends_changed) instead.
    fn on_load_changed(&mut self, _backend: usize, _state: &BackendState) {}

    /// The backend for `request`, or `None` when no backend is available.
    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, rng: &mut SimRng) -> Option<usize>;

    /// Told of every response to a request this policy routed.
    fn on_response(&mut self, _feedback: &Feedback) {}
}

impl<P: Policy + ?Sized> Policy for Box<P> {
    fn name(&self) -> &str {
        (**self).name()
    }

    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        (**self).on_backends_changed(backends);
    }

    fn tracks_load(&self) -> bool {
        (**self).tracks_load()
    }

    fn on_load_changed(&mut self, backend: usize, state: &BackendState) {
        (**self).on_load_changed(backend, state);
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        (**self).pick(backends, request, rng)
    }

    fn on_response(&mut self, feedback: &Feedback) {
        (**self).on_response(feedback);
    }
}

impl std::fmt::Debug for dyn Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// `a::b::Name<c::D>` → `Name<c::D>`: the path before the type's own name dropped.
fn short_type_name(full: &'static str) -> &'static str {
    let own = full.find('<').unwrap_or(full.len());
    full[..own].rfind("::").map_or(full, |i| &full[i + 2..])
}

/// Indices of the available backends, rebuilt on [`Policy::on_backends_changed`]. Shared by
/// the policies that sample among available backends.
#[derive(Clone, Debug, Default)]
pub(crate) struct Available {
    indices: Vec<usize>,
    /// Every backend is available: the `i`-th available backend is backend `i`, and sampling
    /// skips the lookup in `indices` (a cache miss per draw in a large fleet).
    all: bool,
}

impl Available {
    pub(crate) fn rebuild(&mut self, backends: &[BackendState]) {
        self.indices.clear();
        self.indices.extend(backends.iter().enumerate().filter(|(_, b)| b.is_available()).map(|(i, _)| i));
        self.all = self.indices.len() == backends.len();
    }

    /// How many backends are available.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.indices.len()
    }

    /// The `i`-th available backend.
    #[inline]
    pub(crate) fn get(&self, i: usize) -> usize {
        if self.all { i } else { self.indices[i] }
    }
}

/// Greatest common divisor (Euclid); `gcd(0, n) = n`.
pub(crate) fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use stacksim_engine::rng::stream;

    /// Eligible backends with these weights and nothing in flight.
    pub(crate) fn states(weights: &[u32]) -> Vec<BackendState> {
        weights.iter().map(|&weight| BackendState { weight, eligible: true, ..Default::default() }).collect()
    }

    /// `n` picks for the default request, after telling the policy of `backends`.
    pub(crate) fn picks(policy: &mut dyn Policy, backends: &[BackendState], n: usize) -> Vec<Option<usize>> {
        let mut rng = stream(1, "policy");
        policy.on_backends_changed(backends);
        (0..n).map(|_| policy.pick(backends, &RequestInfo::default(), &mut rng)).collect()
    }

    /// Picks as letters: backend 0 is `a`; no pick is `-`.
    pub(crate) fn letters(picks: &[Option<usize>]) -> String {
        picks.iter().map(|p| p.map_or('-', |i| (b'a' + i as u8) as char)).collect()
    }

    #[test]
    fn round_robin_matches_nginx_smooth_weighted_sequence() {
        let got = picks(&mut RoundRobin::new(), &states(&[5, 1, 1]), 7);
        assert_eq!(letters(&got), "aabacaa");
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
        let busier =
            picks(&mut RandomChoices::power_of_two(), &backends, n).iter().filter(|p| **p == Some(0)).count();
        let p = busier as f64 / n as f64;
        // Binomial(100 000, 0.25): standard deviation 0.00137; allow four.
        assert!((p - 0.25).abs() < 4.0 * (0.25_f64 * 0.75 / n as f64).sqrt(), "{p}");
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

    /// Every built-in policy with each of its example parameters, from the catalog.
    pub(crate) fn every_policy() -> Vec<(Box<dyn catalog::Params>, Box<dyn Policy>)> {
        catalog::BUILTINS
            .iter()
            .flat_map(|builtin| builtin.examples())
            .map(|params| {
                let policy = params.build();
                (params, policy)
            })
            .collect()
    }

    #[test]
    fn debug_names_the_policy() {
        let names: Vec<String> = every_policy().iter().map(|(_, policy)| format!("{policy:?}")).collect();
        assert_eq!(names[0], "RoundRobin");
        for name in ["RandomChoices", "Maglev", "JoinIdleQueue"] {
            assert!(names.iter().any(|n| n == name), "{name} in {names:?}");
        }
        assert!(names.iter().all(|n| !n.contains("::") && !n.contains("dyn")), "{names:?}");
        assert_eq!(short_type_name("a::Wrapper<b::c::Inner>"), "Wrapper<b::c::Inner>");
        assert_eq!(short_type_name("Plain"), "Plain");
    }

    #[test]
    fn no_backends_means_no_pick() {
        for (params, mut policy) in every_policy() {
            assert_eq!(picks(&mut policy, &[], 1), [None], "{params:?}");
            assert_eq!(picks(&mut policy, &states(&[0, 0]), 1), [None], "{params:?}");
            let mut ineligible = states(&[1, 2]);
            for b in &mut ineligible {
                b.eligible = false;
            }
            assert_eq!(picks(&mut policy, &ineligible, 1), [None], "{params:?}");
        }
    }

    #[test]
    fn a_single_available_backend_takes_everything() {
        let mut backends = states(&[0, 3, 1]);
        backends[2].eligible = false;
        for (params, mut policy) in every_policy() {
            assert_eq!(picks(&mut policy, &backends, 5), [Some(1); 5], "{params:?}");
        }
    }
}
