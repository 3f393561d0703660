//! A balancer instance: the policy, its random stream, and what this balancer sees of each
//! backend.
//!
//! The view is the balancer's own, not the backends' truth: weights and presence from its
//! configuration, eligibility from its health checks and outlier ejection ([`Health`]), the
//! attempts *it* has in flight to each backend, and the latency *it* observed. Several
//! instances in front of one fleet would each keep their own. The balancer returns decisions
//! (a backend, or the end of an ejection to schedule); it never schedules or calls back.

use std::time::Duration;

use rand::RngExt;
use stacksim_engine::{SimRng, SimTime};

use crate::backend::BackendConfig;
use crate::health::{ActiveCheck, Health, HealthConfig};
use crate::overload::{AdmissionControl, AdmissionState, RateLimit, SlowStart, TokenBucket};
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
    /// Its rate limit, admission control and slow start; `None` when it has none of them.
    guard: Option<Box<Guard>>,
}

/// Why the balancer answered a request itself, without routing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its rate limit's bucket is empty: 429.
    Limited,
    /// Admission control rejected it: 503.
    Shed,
}

/// The balancer's own overload protection.
#[derive(Debug)]
struct Guard {
    rate_limit: Option<TokenBucket>,
    /// Admission control and the stream of its draws (`admission`).
    admission: Option<(AdmissionState, SimRng)>,
    slow_start: Option<SlowStartState>,
}

/// Weights under slow start: the policy sees each weight × [`SlowStartState::SCALE`] × the
/// backend's slow-start factor, so that a fraction of a weight can be expressed.
#[derive(Debug)]
struct SlowStartState {
    /// Per backend: its slow start, and when it joined if it is in its window.
    backends: Vec<(Option<SlowStart>, Option<SimTime>)>,
    /// Configured weights (before scaling).
    base: Vec<u32>,
    /// Backends in their window.
    ramping: usize,
    next_refresh: SimTime,
}

impl SlowStartState {
    /// Resolution of the scaled weights: 1% of a weight.
    const SCALE: u32 = 100;
    /// How often the weights of ramping backends are recomputed.
    const REFRESH: Duration = Duration::from_secs(1);

    /// Backend `b`'s effective weight at `now`; ends its window if it is over.
    fn weight(&mut self, b: usize, now: SimTime) -> u32 {
        let base = self.base[b].saturating_mul(Self::SCALE);
        let (slow_start, joined) = &mut self.backends[b];
        let (Some(slow_start), Some(at)) = (*slow_start, *joined) else { return base };
        let since = now.saturating_since(at);
        if since >= slow_start.window {
            *joined = None;
            self.ramping -= 1;
            return base;
        }
        if base == 0 {
            return 0;
        }
        ((f64::from(base) * slow_start.factor(since)).round() as u32).max(1)
    }
}

/// The balancer-side overload settings of a stack.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct BalancerLimits {
    pub admission_control: Option<AdmissionControl>,
    pub rate_limit: Option<RateLimit>,
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
        limits: BalancerLimits,
        seed: u64,
    ) -> Self {
        let slow_start = backends.iter().any(|b| b.slow_start.is_some()).then(|| SlowStartState {
            backends: backends.iter().map(|b| (b.slow_start, None)).collect(),
            base: backends.iter().map(|b| b.weight).collect(),
            ramping: 0,
            next_refresh: SimTime::ZERO,
        });
        let scale = if slow_start.is_some() { SlowStartState::SCALE } else { 1 };
        let states: Vec<BackendState> = backends
            .iter()
            .map(|b| BackendState {
                weight: b.weight.saturating_mul(scale),
                eligible: b.present,
                in_flight: 0,
                latency: None,
            })
            .collect();
        let guard = (limits.admission_control.is_some()
            || limits.rate_limit.is_some()
            || slow_start.is_some())
        .then(|| {
            Box::new(Guard {
                rate_limit: limits.rate_limit.map(TokenBucket::new),
                admission: limits
                    .admission_control
                    .map(|a| (AdmissionState::new(a), stacksim_engine::rng::stream(seed, "admission"))),
                slow_start,
            })
        });
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
            guard,
        }
    }

    /// Before routing a request at `now`: refreshes slow-start weights when due, then the
    /// rate limit and admission control may answer it themselves.
    #[inline]
    pub fn refuses(&mut self, now: SimTime) -> Option<Refused> {
        let guard = self.guard.as_mut()?;
        if let Some(ss) = &mut guard.slow_start
            && ss.ramping > 0
            && now >= ss.next_refresh
        {
            ss.next_refresh = now.saturating_add(SlowStartState::REFRESH);
            let mut changed = false;
            for (b, state) in self.states.iter_mut().enumerate() {
                if ss.backends[b].1.is_some() {
                    let w = ss.weight(b, now);
                    changed |= state.weight != w;
                    state.weight = w;
                }
            }
            if changed {
                self.policy.on_backends_changed(&self.states);
            }
        }
        if let Some(bucket) = &mut guard.rate_limit
            && !bucket.try_take(now)
        {
            return Some(Refused::Limited);
        }
        if let Some((admission, rng)) = &mut guard.admission {
            let draw: f64 = rng.random();
            if admission.rejects(now, draw) {
                return Some(Refused::Shed);
            }
        }
        None
    }

    /// Backend `b` joins at `now` (added, or restarted): its slow start begins, if it has one.
    pub fn joined(&mut self, b: usize, now: SimTime) {
        let Some(ss) = self.guard.as_mut().and_then(|g| g.slow_start.as_mut()) else { return };
        if ss.backends[b].0.is_none() {
            return;
        }
        if ss.backends[b].1.replace(now).is_none() {
            ss.ramping += 1;
        }
        let w = ss.weight(b, now);
        if self.states[b].weight != w {
            self.states[b].weight = w;
            self.policy.on_backends_changed(&self.states);
        }
        ss.next_refresh = now.saturating_add(SlowStartState::REFRESH);
    }

    /// Backend `b`'s effective weight now, as the policy sees it (for tests and series).
    #[cfg(test)]
    pub fn weight(&self, b: usize) -> u32 {
        self.states[b].weight
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
        if let Some(guard) = &mut self.guard
            && let Some((admission, _)) = &mut guard.admission
        {
            admission.record(now, !error);
        }
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
    pub fn set_weight(&mut self, b: usize, weight: u32, now: SimTime) {
        let weight = match self.guard.as_mut().and_then(|g| g.slow_start.as_mut()) {
            Some(ss) => {
                ss.base[b] = weight;
                ss.weight(b, now)
            }
            None => weight,
        };
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::RoundRobin;
    use crate::{QueueLimit, ServiceTime};

    const S: u64 = 1_000_000_000;

    fn balancer(slow_start: Option<SlowStart>) -> Balancer {
        let service = ServiceTime::Constant(Duration::from_millis(10));
        let backends: Vec<BackendConfig> = (0..2)
            .map(|i| {
                let mut b = BackendConfig::new(format!("b{i}"), 1, QueueLimit::Unbounded, service.clone());
                b.slow_start = slow_start;
                b.weight = 2;
                b
            })
            .collect();
        let rng = stacksim_engine::rng::stream(1, "policy");
        Balancer::new(
            Box::new(RoundRobin::new()),
            vec![],
            rng,
            &backends,
            HealthConfig::default(),
            BalancerLimits::default(),
            1,
        )
    }

    #[test]
    fn slow_start_scales_a_joining_backends_weight_once_a_second_until_its_window_ends() {
        let slow_start =
            SlowStart { window: Duration::from_secs(60), aggression: 1.0, min_weight_percent: 10.0 };
        let mut b = balancer(Some(slow_start));
        assert_eq!((b.weight(0), b.weight(1)), (200, 200), "weights in hundredths, none ramping");
        b.joined(1, SimTime(100 * S));
        assert_eq!(b.weight(1), 20, "the 10% floor at once");
        assert_eq!(b.refuses(SimTime(130 * S)), None);
        assert_eq!(b.weight(1), 100, "half the weight half-way");
        b.refuses(SimTime(130 * S + S / 2));
        assert_eq!(b.weight(1), 100, "not refreshed within the second");
        b.set_weight(1, 4, SimTime(145 * S));
        assert_eq!(b.weight(1), 300, "a new weight ramps as well: 4 × 75%");
        b.refuses(SimTime(160 * S));
        assert_eq!(b.weight(1), 400, "the window is over");
        assert_eq!(b.weight(0), 200);
    }

    #[test]
    fn without_slow_start_weights_are_as_configured() {
        let mut b = balancer(None);
        b.joined(1, SimTime(S));
        assert_eq!((b.weight(0), b.weight(1)), (2, 2));
        assert!(b.guard.is_none(), "nothing to check per request");
    }
}
