//! A balancer instance: the policy, its random stream, and what this balancer sees of each
//! backend.
//!
//! The view is the balancer's own, not the backends' truth: weights and presence from its
//! configuration, eligibility from its health checks and outlier ejection ([`Health`]), the
//! attempts *it* has in flight to each backend, and the latency *it* observed. Several
//! instances in front of one fleet would each keep their own. The balancer returns decisions
//! (a backend, or the end of an ejection to schedule); it never schedules or calls back.

use std::time::Duration;

use stacksim_engine::{SimRng, SimTime};

use crate::backend::BackendConfig;
use crate::health::{ActiveCheck, Health, HealthConfig};
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

/// A balancer while the simulation runs.
#[derive(Debug)]
pub(crate) struct Balancer {
    policy: Box<dyn Policy>,
    /// Whether the policy asked to hear of every in-flight and latency change
    /// ([`Policy::tracks_load`]); asked once per policy, so that the others pay nothing.
    tracks_load: bool,
    /// Policies the timeline may switch to; each is taken once.
    later: Vec<Option<Box<dyn Policy>>>,
    rng: SimRng,
    /// What the policy sees, per backend.
    states: Vec<BackendState>,
    /// Per backend: in this balancer's configuration.
    present: Vec<bool>,
    health: Health,
    /// Scratch for recomputing eligibility.
    eligible: Vec<bool>,
}

impl Balancer {
    /// A balancer over `backends` routing with `policy`, drawing from `rng`; the policy is told
    /// of the backends at once.
    pub fn new(
        mut policy: Box<dyn Policy>,
        later: Vec<Box<dyn Policy>>,
        rng: SimRng,
        backends: &[BackendConfig],
        health: HealthConfig,
    ) -> Self {
        let states: Vec<BackendState> = backends
            .iter()
            .map(|b| BackendState { weight: b.weight, eligible: b.present, in_flight: 0, latency: None })
            .collect();
        policy.on_backends_changed(&states);
        Balancer {
            tracks_load: policy.tracks_load(),
            policy,
            later: later.into_iter().map(Some).collect(),
            rng,
            states,
            present: backends.iter().map(|b| b.present).collect(),
            health: Health::new(health, backends.len()),
            eligible: vec![false; backends.len()],
        }
    }

    /// The backend for `request`, or `None` when none is available (the balancer answers 503).
    #[inline]
    pub fn route(&mut self, request: &RequestInfo) -> Option<usize> {
        self.policy.pick(&self.states, request, &mut self.rng)
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

    /// What it heard at `now` about an attempt at backend `b`: a success updates the backend's
    /// smoothed latency, outlier detection counts it, and the policy hears of a response.
    /// Returns the end of an ejection this caused, for the caller to schedule.
    // Always inlined, with `Health::record_response`: as calls they cost 5% more instructions
    // per event in the M/M/1 bench (callgrind, BENCHMARKS.md).
    #[inline(always)]
    pub fn feedback(&mut self, b: usize, now: SimTime, heard: Heard) -> Option<SimTime> {
        let error = match heard {
            Heard::Response { success: true, latency } => {
                let state = &mut self.states[b];
                state.latency = Some(match state.latency {
                    None => latency,
                    Some(smoothed) => (smoothed * 7 + latency) / 8,
                });
                self.load_changed(b);
                false
            }
            Heard::Response { success: false, .. } | Heard::Silence => true,
        };
        let ejected = self.health.record_response(b, now, error);
        if ejected.is_some() {
            self.refresh_eligibility();
        }
        if let Heard::Response { success, latency } = heard {
            self.policy.on_response(&Feedback { backend: b, at: now, latency, success });
        }
        ejected
    }

    /// The active checks it runs, if any.
    pub fn active_check(&self) -> Option<ActiveCheck> {
        self.health.config().active
    }

    /// Records an active check of backend `b`.
    pub fn record_check(&mut self, b: usize, passed: bool) {
        if self.health.record_check(b, passed) {
            self.refresh_eligibility();
        }
    }

    /// Ends backend `b`'s ejection if it is due at `now`.
    pub fn uneject(&mut self, b: usize, now: SimTime) {
        if self.health.uneject(b, now) {
            self.refresh_eligibility();
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

    /// Brings backend `b` into its configuration, or takes it out.
    pub fn set_present(&mut self, b: usize, present: bool) {
        self.present[b] = present;
        self.refresh_eligibility();
    }

    /// Switches to later policy number `index`, unless it was used already or does not exist.
    pub fn switch_policy(&mut self, index: usize) {
        if let Some(mut next) = self.later.get_mut(index).and_then(Option::take) {
            next.on_backends_changed(&self.states);
            self.tracks_load = next.tracks_load();
            self.policy = next;
        }
    }

    /// Recomputes which backends the policy may use and tells it if anything changed.
    fn refresh_eligibility(&mut self) {
        self.health.eligibility(&self.present, &mut self.eligible);
        let mut changed = false;
        for (state, &eligible) in self.states.iter_mut().zip(&self.eligible) {
            changed |= state.eligible != eligible;
            state.eligible = eligible;
        }
        if changed {
            self.policy.on_backends_changed(&self.states);
        }
    }
}
