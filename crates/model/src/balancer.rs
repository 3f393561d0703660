//! A policy and what it sees of each backend.
//!
//! The view is the balancer's own, not the backends' truth: weights from its configuration,
//! eligibility from its instance's health checks, outlier ejection and subset
//! ([`crate::topology`]), the attempts *it* has in flight to each backend, and the latency *it*
//! observed. Several instances in front of one fleet each keep their own. The balancer returns
//! decisions (a backend); it never schedules or calls back.

use std::time::Duration;

use rand::RngExt;
use stacksim_engine::{SimRng, SimTime};

use crate::backend::BackendConfig;
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

/// Why the balancer answered a request itself, without routing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// Its rate limit's bucket is empty: 429.
    Limited,
    /// Admission control rejected it: 503.
    Shed,
}

/// The balancer-side overload settings of a stack.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct BalancerLimits {
    pub admission_control: Option<AdmissionControl>,
    pub rate_limit: Option<RateLimit>,
}

/// The balancer tier's own overload protection, beside the policies' views.
///
/// The rate limit and admission control are per balancer instance ([`crate::topology`]), as
/// Envoy's local rate limit and admission control filters are per Envoy: each instance has
/// its own token bucket (so N instances admit up to N times the configured rate together) and
/// its own success-rate window, fed by the responses to the attempts it sent. Slow start is the
/// same ramp in every instance (each sees a backend join at the same moment); its weights
/// reach every instance's host sets through the tier's weight setters.
#[derive(Debug)]
pub(crate) struct Guard {
    /// Per balancer instance: its rate limit and admission control.
    instances: Vec<InstanceGuard>,
    slow_start: Option<SlowStartState>,
}

/// One balancer instance's rate limit and admission control.
#[derive(Debug)]
struct InstanceGuard {
    rate_limit: Option<TokenBucket>,
    /// Admission control and the stream of its draws (`admission`, `admission/{i}`).
    admission: Option<(AdmissionState, SimRng)>,
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
    /// Scratch: the weights a refresh sets.
    changed: Vec<(usize, u32)>,
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

impl Guard {
    /// The guard of a tier of `instances` in front of `backends` with `limits`, or `None`
    /// when it would do nothing (no rate limit, no admission control, no slow start).
    pub fn new(
        limits: BalancerLimits,
        backends: &[BackendConfig],
        instances: u32,
        seed: u64,
    ) -> Option<Box<Self>> {
        let slow_start = backends.iter().any(|b| b.slow_start.is_some()).then(|| SlowStartState {
            backends: backends.iter().map(|b| (b.slow_start, None)).collect(),
            base: backends.iter().map(|b| b.weight).collect(),
            ramping: 0,
            next_refresh: SimTime::ZERO,
            changed: Vec::new(),
        });
        if limits.admission_control.is_none() && limits.rate_limit.is_none() && slow_start.is_none() {
            return None;
        }
        let instances = (0..instances)
            .map(|i| InstanceGuard {
                rate_limit: limits.rate_limit.map(TokenBucket::new),
                admission: limits.admission_control.map(|a| {
                    // Instance 0 draws from the stream a single balancer always used.
                    let stream = if i == 0 { "admission".to_owned() } else { format!("admission/{i}") };
                    (AdmissionState::new(a), stacksim_engine::rng::stream(seed, &stream))
                }),
            })
            .collect();
        Some(Box::new(Guard { instances, slow_start }))
    }

    /// What the policies' weights are multiplied by: [`SlowStartState::SCALE`] under slow
    /// start (so that a fraction of a weight can be expressed), else 1.
    pub fn weight_scale(guard: Option<&Self>) -> u32 {
        if guard.is_some_and(|g| g.slow_start.is_some()) { SlowStartState::SCALE } else { 1 }
    }

    /// Before instance `i` routes a request at `now`: refreshes slow-start weights when due
    /// (handing the ones to set to `set_weights`, which sets them in every instance), then the
    /// instance's rate limit and admission control may answer it themselves.
    #[inline]
    pub fn refuses(
        &mut self,
        i: u32,
        now: SimTime,
        set_weights: impl FnOnce(&[(usize, u32)]),
    ) -> Option<Refused> {
        if let Some(ss) = &mut self.slow_start
            && ss.ramping > 0
            && now >= ss.next_refresh
        {
            ss.next_refresh = now.saturating_add(SlowStartState::REFRESH);
            let mut changed = std::mem::take(&mut ss.changed);
            changed.clear();
            for b in 0..ss.backends.len() {
                if ss.backends[b].1.is_some() {
                    changed.push((b, ss.weight(b, now)));
                }
            }
            set_weights(&changed);
            ss.changed = changed;
        }
        let inst = &mut self.instances[i as usize];
        if let Some(bucket) = &mut inst.rate_limit
            && !bucket.try_take(now)
        {
            return Some(Refused::Limited);
        }
        if let Some((admission, rng)) = &mut inst.admission {
            let draw: f64 = rng.random();
            if admission.rejects(now, draw) {
                return Some(Refused::Shed);
            }
        }
        None
    }

    /// Instance `i` heard at `now` of an attempt it sent: a success or not, for its admission
    /// control.
    #[inline]
    pub fn heard(&mut self, i: u32, now: SimTime, success: bool) {
        if let Some((admission, _)) = &mut self.instances[i as usize].admission {
            admission.record(now, success);
        }
    }

    /// Backend `b` joins at `now` (added, or restarted): its slow start begins, if it has one.
    /// Returns the weight the policies should see now, if it ramps.
    pub fn joined(&mut self, b: usize, now: SimTime) -> Option<u32> {
        let ss = self.slow_start.as_mut()?;
        ss.backends[b].0?;
        if ss.backends[b].1.replace(now).is_none() {
            ss.ramping += 1;
        }
        let w = ss.weight(b, now);
        ss.next_refresh = now.saturating_add(SlowStartState::REFRESH);
        Some(w)
    }

    /// Backend `b`'s configured weight becomes `weight` at `now`: the weight the policies
    /// should see (scaled, and ramped if it is in its slow start).
    pub fn weight(&mut self, b: usize, weight: u32, now: SimTime) -> u32 {
        match &mut self.slow_start {
            Some(ss) => {
                ss.base[b] = weight;
                ss.weight(b, now)
            }
            None => weight,
        }
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{QueueLimit, ServiceTime};

    const S: u64 = 1_000_000_000;

    fn guard(slow_start: Option<SlowStart>) -> (Option<Box<Guard>>, Vec<u32>) {
        let service = ServiceTime::Constant(Duration::from_millis(10));
        let backends: Vec<BackendConfig> = (0..2)
            .map(|i| {
                let mut b = BackendConfig::new(format!("b{i}"), 1, QueueLimit::Unbounded, service.clone());
                b.slow_start = slow_start;
                b.weight = 2;
                b
            })
            .collect();
        let guard = Guard::new(BalancerLimits::default(), &backends, 1, 1);
        let scale = Guard::weight_scale(guard.as_deref());
        (guard, backends.iter().map(|b| b.weight * scale).collect())
    }

    #[test]
    fn slow_start_scales_a_joining_backends_weight_once_a_second_until_its_window_ends() {
        let slow_start =
            SlowStart { window: Duration::from_secs(60), aggression: 1.0, min_weight_percent: 10.0 };
        let (guard, mut w) = guard(Some(slow_start));
        let mut g = guard.expect("slow start needs a guard");
        assert_eq!(w, [200, 200], "weights in hundredths, none ramping");
        let refresh = |g: &mut Guard, w: &mut Vec<u32>, now: u64| {
            g.refuses(0, SimTime(now), |set| set.iter().for_each(|&(b, x)| w[b] = x))
        };
        w[1] = g.joined(1, SimTime(100 * S)).expect("it ramps");
        assert_eq!(w[1], 20, "the 10% floor at once");
        assert_eq!(refresh(&mut g, &mut w, 130 * S), None);
        assert_eq!(w[1], 100, "half the weight half-way");
        refresh(&mut g, &mut w, 130 * S + S / 2);
        assert_eq!(w[1], 100, "not refreshed within the second");
        w[1] = g.weight(1, 4, SimTime(145 * S));
        assert_eq!(w[1], 300, "a new weight ramps as well: 4 × 75%");
        refresh(&mut g, &mut w, 160 * S);
        assert_eq!(w[1], 400, "the window is over");
        assert_eq!(w[0], 200);
    }

    #[test]
    fn without_slow_start_weights_are_as_configured() {
        let (guard, w) = guard(None);
        assert_eq!(w, [2, 2]);
        assert!(guard.is_none(), "nothing to check per request");
    }
}
