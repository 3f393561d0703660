//! A policy and what it sees of each backend.
//!
//! The view is the balancer's own, not the backends' truth: weights from its configuration,
//! eligibility from its instance's health checks, outlier ejection and subset
//! ([`crate::topology`]), the attempts *it* has in flight to each backend, and the latency *it*
//! observed. Several instances in front of one fleet each keep their own. The balancer returns
//! decisions (a backend); it never schedules or calls back.

use std::time::Duration;

use stacksim_engine::{SimRng, SimTime};

use crate::backend::BackendConfig;
use crate::policy::{BackendState, Feedback, Policy, RequestInfo};

/// What the balancer learns about one attempt it sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Heard {
    /// A response, a success or a 5xx (a refused connection or a full queue is a 5xx with
    /// zero latency), `latency` after the attempt left the balancer.
    Response {
        /// Not a 5xx.
        success: bool,
        /// Since the attempt left the balancer.
        latency: Duration,
    },
    /// No response: the connection was reset, or the client gave up first. An error for
    /// outlier detection; the policy is not told.
    Silence,
}

/// One policy and what it sees of the backends: the balancer of one instance (or, with
/// priority levels and zone-aware routing, of one host set of an instance — Envoy keeps a
/// load balancer per priority and per locality for the same reason).
///
/// Health is not here: the instance ([`crate::topology`]) owns its health view and tells each
/// of its balancers which backends are eligible.
#[derive(Debug)]
pub(crate) struct Balancer {
    policy: Box<dyn Policy>,
    /// Whether the policy asked to hear of every in-flight and latency change
    /// ([`Policy::tracks_load`]); asked once per policy, so that the others pay nothing.
    tracks_load: bool,
    /// Policies the timeline may switch to; each is taken once.
    later: Vec<Option<Box<dyn Policy>>>,
    /// What the policy sees, per backend.
    states: Vec<BackendState>,
}

impl Balancer {
    /// A balancer over `backends` routing with `policy`, the backends in `eligible` eligible;
    /// the policy is told of the backends at once.
    pub fn new(
        mut policy: Box<dyn Policy>,
        later: Vec<Box<dyn Policy>>,
        backends: &[BackendConfig],
        eligible: &[bool],
    ) -> Self {
        let states: Vec<BackendState> = backends
            .iter()
            .zip(eligible)
            .map(|(b, &eligible)| BackendState { weight: b.weight, eligible, in_flight: 0, latency: None })
            .collect();
        policy.on_backends_changed(&states);
        Balancer {
            tracks_load: policy.tracks_load(),
            policy,
            later: later.into_iter().map(Some).collect(),
            states,
        }
    }

    /// The backend for `request`, or `None` when none is available (the balancer answers 503).
    #[inline]
    pub fn route(&mut self, request: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        self.policy.pick(&self.states, request, rng)
    }

    /// An attempt went to backend `b`.
    #[inline]
    pub fn sent(&mut self, b: usize) {
        self.states[b].in_flight += 1;
        self.load_changed(b);
    }

    /// An attempt this balancer sent left backend `b` (answered, expired or reset).
    #[inline]
    pub fn returned(&mut self, b: usize) {
        self.states[b].in_flight = self.states[b].in_flight.saturating_sub(1);
        self.load_changed(b);
    }

    /// Tells a policy that tracks load that backend `b`'s in-flight count or latency changed.
    #[inline(always)]
    fn load_changed(&mut self, b: usize) {
        if self.tracks_load {
            self.policy.on_load_changed(b, &self.states[b]);
        }
    }

    /// What it heard about an attempt at backend `b`, before health hears of it: a success
    /// updates the backend's smoothed latency.
    #[inline(always)]
    pub fn observe(&mut self, b: usize, heard: Heard) {
        if let Heard::Response { success: true, latency } = heard {
            let state = &mut self.states[b];
            state.latency = Some(match state.latency {
                None => latency,
                Some(smoothed) => (smoothed * 7 + latency) / 8,
            });
            self.load_changed(b);
        }
    }

    /// What it heard about an attempt at backend `b` at `now`, after health heard of it: the
    /// policy hears of a response.
    #[inline(always)]
    pub fn respond(&mut self, b: usize, now: SimTime, heard: Heard) {
        if let Heard::Response { success, latency } = heard {
            self.policy.on_response(&Feedback { backend: b, at: now, latency, success });
        }
    }

    /// Sets backend `b`'s weight.
    pub fn set_weight(&mut self, b: usize, weight: u32) {
        if self.states[b].weight != weight {
            self.states[b].weight = weight;
            self.policy.on_backends_changed(&self.states);
        }
    }

    /// Sets several backends' weights at once: the policy rebuilds once.
    pub fn set_weights(&mut self, weights: &[(usize, u32)]) {
        let mut changed = false;
        for &(b, weight) in weights {
            changed |= self.states[b].weight != weight;
            self.states[b].weight = weight;
        }
        if changed {
            self.policy.on_backends_changed(&self.states);
        }
    }

    /// Switches to later policy number `index`, unless it was used already or does not exist.
    pub fn switch_policy(&mut self, index: usize) {
        if let Some(mut next) = self.later.get_mut(index).and_then(Option::take) {
            next.on_backends_changed(&self.states);
            self.tracks_load = next.tracks_load();
            self.policy = next;
        }
    }

    /// Sets which backends the policy may use and tells it if anything changed.
    pub fn set_eligible(&mut self, eligible: &[bool]) {
        let mut changed = false;
        for (state, &eligible) in self.states.iter_mut().zip(eligible) {
            changed |= state.eligible != eligible;
            state.eligible = eligible;
        }
        if changed {
            self.policy.on_backends_changed(&self.states);
        }
    }
}
