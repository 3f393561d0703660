//! Adaptive concurrency limits: a cap on the requests in flight to a backend group that
//! follows the latency it measures (Envoy's gradient controller; Netflix's Vegas and AIMD).
//!
//! Every limiter keeps to the same contract, the one Envoy's adaptive concurrency filter and
//! Netflix's `SimpleLimiter` share:
//!
//! 1. A request is admitted while fewer than [`limit`](ConcurrencyLimiter::limit) admitted
//!    requests are in flight, and rejected at once otherwise (Envoy answers 503).
//! 2. Each admitted request that completes is one sample: its round-trip time, the requests
//!    in flight when it was admitted (itself included, as Netflix's `AbstractLimiter` counts
//!    them), and whether it was dropped (timed out, or refused for overload).
//! 3. The limit changes only in [`on_sample`](ConcurrencyLimiter::on_sample) and
//!    [`on_timer`](ConcurrencyLimiter::on_timer). Time-driven steps (only the gradient
//!    controller has them) are due at [`next_wakeup`](ConcurrencyLimiter::next_wakeup); each
//!    runs at its own due time whenever it is processed, so the result does not depend on when
//!    the caller gets to it.
//! 4. Randomness (jitter) is a uniform draw in [0, 1) the caller supplies as a closure, called
//!    only where the source draws, so a dedicated stream is used exactly as often as the
//!    production code calls its generator.

mod aimd;
mod gradient;
mod vegas;

use std::time::Duration;

use rand::RngExt;
use stacksim_engine::{SimRng, SimTime};

pub use aimd::Aimd;
use aimd::AimdState;
pub use gradient::Gradient;
use gradient::GradientState;
pub use vegas::Vegas;
use vegas::VegasState;

/// A backend group's adaptive concurrency limit:
/// `concurrency: Gradient(...) | Vegas(...) | Aimd(...)`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Concurrency {
    /// Envoy's adaptive concurrency filter, gradient controller: the limit follows
    /// minRTT / sampleRTT every update interval, with minRTT measured periodically at a pinned
    /// low limit.
    Gradient(Gradient),
    /// Netflix concurrency-limits' `VegasLimit`: TCP Vegas's queue estimate on every sample.
    Vegas(Vegas),
    /// Netflix concurrency-limits' `AIMDLimit`: +1 while busy, ×0.9 on a drop.
    Aimd(Aimd),
}

/// An adaptive concurrency limit while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct ConcurrencyLimiter {
    kind: Kind,
}

#[derive(Clone, Debug)]
enum Kind {
    Gradient(GradientState),
    Vegas(VegasState),
    Aimd(AimdState),
}

impl ConcurrencyLimiter {
    /// A limiter starting at `now`; `draw` gives a uniform number in [0, 1) if the start needs
    /// one (Vegas draws its first probe jitter).
    pub fn new(config: Concurrency, now: SimTime, draw: impl FnOnce() -> f64) -> Self {
        let kind = match config {
            Concurrency::Gradient(g) => Kind::Gradient(GradientState::new(g, now)),
            Concurrency::Vegas(v) => Kind::Vegas(VegasState::new(v, draw)),
            Concurrency::Aimd(a) => Kind::Aimd(AimdState::new(a)),
        };
        ConcurrencyLimiter { kind }
    }

    /// The current limit on requests in flight.
    #[inline]
    pub fn limit(&self) -> u32 {
        match &self.kind {
            Kind::Gradient(g) => g.limit(),
            Kind::Vegas(v) => v.limit(),
            Kind::Aimd(a) => a.limit(),
        }
    }

    /// Whether a new request may go, with `in_flight` admitted requests outstanding.
    #[inline]
    pub fn admits(&self, in_flight: u32) -> bool {
        in_flight < self.limit()
    }

    /// An admitted request completed at `now` after `rtt`: `in_flight` were in flight when it
    /// was admitted (itself included), and `dropped` says it timed out or was refused for
    /// overload. `draw` gives a uniform number in [0, 1) if this sample needs one.
    pub fn on_sample(
        &mut self,
        now: SimTime,
        rtt: Duration,
        in_flight: u32,
        dropped: bool,
        draw: impl FnOnce() -> f64,
    ) {
        match &mut self.kind {
            // Envoy samples every response, whatever its status.
            Kind::Gradient(g) => g.on_sample(now, rtt, draw),
            Kind::Vegas(v) => v.on_sample(rtt, in_flight, dropped, draw),
            Kind::Aimd(a) => a.on_sample(rtt, in_flight, dropped),
        }
    }

    /// When [`on_timer`](Self::on_timer) next has work, if ever.
    pub fn next_wakeup(&self) -> Option<SimTime> {
        match &self.kind {
            Kind::Gradient(g) => g.next_wakeup(),
            Kind::Vegas(_) | Kind::Aimd(_) => None,
        }
    }

    /// Runs the time-driven steps due at or before `now`, each at its due time.
    pub fn on_timer(&mut self, now: SimTime) {
        if let Kind::Gradient(g) = &mut self.kind {
            g.on_timer(now);
        }
    }

    #[cfg(test)]
    /// Whether the gradient controller is measuring its minRTT (Envoy's
    /// `min_rtt_calculation_active` gauge); never for the others.
    pub fn measuring_min_rtt(&self) -> bool {
        match &self.kind {
            Kind::Gradient(g) => g.measuring_min_rtt(),
            Kind::Vegas(_) | Kind::Aimd(_) => false,
        }
    }
}

/// How an attempt admitted under a limit ended, as its limiter hears it.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Sample {
    /// Answered after `rtt`; `dropped`: refused for overload (a 503 of the backend's queue).
    Response { rtt: Duration, dropped: bool },
    /// No answer counts: the client reset it (a timeout, a cancelled hedge; Envoy's
    /// `cancelLatencySample`) or the backend crashed under it (Netflix's `onIgnore`).
    Ignored,
}

/// One backend's limiter and what it needs around it.
#[derive(Clone, Debug)]
struct Limited {
    limiter: ConcurrencyLimiter,
    /// The stream of its jitter draws (`concurrency/<backend>`).
    rng: SimRng,
    /// Attempts admitted and not yet ended.
    outstanding: u32,
    /// The wakeup already scheduled, if any.
    scheduled: Option<SimTime>,
    /// ∫ limit dt since `since` (limit·ns), for the time-averaged limit.
    area: u128,
    since: SimTime,
}

impl Limited {
    /// An attempt admitted with `admitted_with` in flight (itself included) ended at `now` as
    /// `sample`: it counts no longer, and its limiter hears it if it was answered.
    fn end(&mut self, now: SimTime, admitted_with: u32, sample: Sample) {
        self.outstanding -= 1;
        if let Sample::Response { rtt, dropped } = sample {
            self.mark(now);
            let Limited { limiter, rng, .. } = self;
            limiter.on_sample(now, rtt, admitted_with, dropped, || rng.random());
        }
    }

    /// Accounts the limit up to `now`; call before the limit changes.
    fn mark(&mut self, now: SimTime) {
        self.area += u128::from(self.limiter.limit()) * u128::from((now - self.since).as_nanos() as u64);
        self.since = now;
    }
}

/// The adaptive concurrency limits of a stack's backends: each backend configured with one
/// runs its own limiter, as Envoy's filter runs in each instance's sidecar. Attempts over the
/// limit are refused at once with 503; the others count until they leave the backend.
#[derive(Clone, Debug)]
pub(crate) struct BackendLimits {
    by_backend: Vec<Option<Limited>>,
    /// Per attempt slot: the outstanding count when it was admitted (itself included), or 0
    /// when it was not admitted under a limit.
    admitted_with: Vec<u32>,
    /// Start of the time averages.
    measured_from: SimTime,
}

impl BackendLimits {
    /// The limiters of `configs` (one per backend, `None` for none), each with its stream of
    /// draws;
    /// `None` when no backend has one.
    pub fn new(configs: impl Iterator<Item = Option<(Concurrency, SimRng)>>, now: SimTime) -> Option<Self> {
        let by_backend: Vec<Option<Limited>> = configs
            .map(|config| {
                let (config, mut rng) = config?;
                let limiter = ConcurrencyLimiter::new(config, now, || rng.random());
                Some(Limited { limiter, rng, outstanding: 0, scheduled: None, area: 0, since: now })
            })
            .collect();
        by_backend.iter().any(Option::is_some).then_some(BackendLimits {
            by_backend,
            admitted_with: Vec::new(),
            measured_from: now,
        })
    }

    /// Whether backend `b` takes one more attempt; if it does, the attempt counts from now.
    /// Backends without a limit always do.
    pub fn admit(&mut self, b: usize) -> bool {
        let Some(l) = self.by_backend.get_mut(b).and_then(Option::as_mut) else { return true };
        if !l.limiter.admits(l.outstanding) {
            return false;
        }
        l.outstanding += 1;
        true
    }

    /// The wakeups the limiters need from the start: (backend, time).
    pub fn first_wakeups(&mut self) -> Vec<(usize, SimTime)> {
        let mut first = Vec::new();
        for (b, l) in self.by_backend.iter_mut().enumerate() {
            if let Some(at) = l.as_mut().and_then(Self::reschedule) {
                first.push((b, at));
            }
        }
        first
    }

    /// An attempt admitted by [`Self::admit`] was turned away by backend `b` itself at `now`,
    /// before it became an attempt there: its full queue answered 503 at once (a `Response`,
    /// dropped), or its process was down (`Ignored`). Returns a wakeup to schedule, if the
    /// limiter needs a new one.
    pub fn bounced(&mut self, b: usize, now: SimTime, sample: Sample) -> Option<SimTime> {
        let l = self.by_backend.get_mut(b).and_then(Option::as_mut)?;
        let admitted_with = l.outstanding;
        l.end(now, admitted_with, sample);
        Self::reschedule(l)
    }

    /// The attempt in slot `slot` was admitted at backend `b` (after [`Self::admit`]).
    pub fn admitted(&mut self, b: usize, slot: usize) {
        let Some(l) = self.by_backend.get(b).and_then(Option::as_ref) else { return };
        if self.admitted_with.len() <= slot {
            self.admitted_with.resize(slot + 1, 0);
        }
        self.admitted_with[slot] = l.outstanding;
    }

    /// The attempt in slot `slot` at backend `b` ended at `now` as `sample`. Returns a wakeup
    /// to schedule, if the limiter needs a new one.
    pub fn ended(&mut self, b: usize, slot: usize, now: SimTime, sample: Sample) -> Option<SimTime> {
        let l = self.by_backend.get_mut(b).and_then(Option::as_mut)?;
        let admitted_with = std::mem::take(self.admitted_with.get_mut(slot)?);
        if admitted_with == 0 {
            return None;
        }
        l.end(now, admitted_with, sample);
        Self::reschedule(l)
    }

    /// The wakeup of backend `b` scheduled for `at` fires: the limiter's due steps run.
    /// Returns the next wakeup to schedule, if any.
    pub fn wake(&mut self, b: usize, at: SimTime) -> Option<SimTime> {
        let l = self.by_backend.get_mut(b).and_then(Option::as_mut)?;
        if l.scheduled != Some(at) {
            return None; // Superseded by an earlier one, which ran the steps.
        }
        l.scheduled = None;
        l.mark(at);
        l.limiter.on_timer(at);
        Self::reschedule(l)
    }

    fn reschedule(l: &mut Limited) -> Option<SimTime> {
        let next = l.limiter.next_wakeup()?;
        if l.scheduled.is_some_and(|s| s <= next) {
            return None;
        }
        l.scheduled = Some(next);
        Some(next)
    }

    /// Whether backend `b` counts exactly the attempts of `held` (those at `b`) it admitted:
    /// none leaked, none ended twice.
    pub fn accounts_for(&self, b: usize, held: &[crate::request::AttemptRef]) -> bool {
        let Some(l) = self.by_backend.get(b).and_then(Option::as_ref) else { return true };
        let admitted =
            held.iter().filter(|a| self.admitted_with.get(a.slot()).is_some_and(|&n| n > 0)).count();
        admitted == l.outstanding as usize
    }

    /// Every backend's current limit (`None` for those without one).
    pub fn limits(&self) -> impl Iterator<Item = Option<u32>> + '_ {
        self.by_backend.iter().map(|l| l.as_ref().map(|l| l.limiter.limit()))
    }

    /// Restarts the time averages at `now` (the end of warm-up).
    pub fn restart(&mut self, now: SimTime) {
        self.measured_from = now;
        for l in self.by_backend.iter_mut().flatten() {
            l.area = 0;
            l.since = now;
        }
    }

    /// The limit averaged over time since the last restart and over the limited backends,
    /// at `now` (`NaN` for no time).
    pub fn mean_limit(&mut self, now: SimTime) -> f64 {
        let span = (now - self.measured_from).as_nanos() as f64;
        let (mut area, mut n) = (0.0, 0.0);
        for l in self.by_backend.iter_mut().flatten() {
            l.mark(now);
            area += l.area as f64;
            n += 1.0;
        }
        area / span / n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_gradient_controller_wakes_up_and_measures() {
        let g = Gradient::new(Duration::from_millis(100), Duration::from_secs(60));
        let gradient = ConcurrencyLimiter::new(Concurrency::Gradient(g), SimTime::ZERO, || 0.0);
        assert_eq!(gradient.next_wakeup(), Some(SimTime(100_000_000)));
        assert!(gradient.measuring_min_rtt());
        assert!(gradient.admits(2) && !gradient.admits(3), "pinned at min_concurrency 3");
        for config in [Concurrency::Vegas(Vegas::default()), Concurrency::Aimd(Aimd::default())] {
            let limiter = ConcurrencyLimiter::new(config, SimTime::ZERO, || 0.0);
            assert_eq!(limiter.next_wakeup(), None);
            assert!(!limiter.measuring_min_rtt());
            assert_eq!(limiter.limit(), 20, "both start at Netflix's initial limit");
            assert!(limiter.admits(19) && !limiter.admits(20));
        }
    }
}
