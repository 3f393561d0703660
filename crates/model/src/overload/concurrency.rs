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

use stacksim_engine::SimTime;

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
// Integrated in the stack by the next commit.
#[allow(dead_code)]
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

// Integrated in the stack by the next commit.
#[allow(dead_code)]
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

    /// Whether the gradient controller is measuring its minRTT (Envoy's
    /// `min_rtt_calculation_active` gauge); never for the others.
    pub fn measuring_min_rtt(&self) -> bool {
        match &self.kind {
            Kind::Gradient(g) => g.measuring_min_rtt(),
            Kind::Vegas(_) | Kind::Aimd(_) => false,
        }
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
