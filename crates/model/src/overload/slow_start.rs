//! Slow start (the balancer ramps a new backend's weight up) and warm-up (a new backend's own
//! service is slower at first).

use std::time::Duration;

/// Envoy's slow start mode
/// (<https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/slow_start>,
/// `slow_start_config`): for `window` after a backend joins — an `Add` (scale-out), or a
/// `Recover` (a restart) — the balancer routes with its weight scaled by
///
/// `max(min_weight_percent / 100, time_factor^(1/aggression))`, `time_factor = max(t, 1 s) / window`,
///
/// `t` the time since it joined, in seconds. Envoy applies it to its round-robin and
/// least-request balancers; here every policy sees the scaled weights, so pair it with a
/// weighted policy (`RoundRobin`, `LeastRequest`, `Random`) as Envoy does. HAProxy's
/// `slowstart` (a linear ramp of the weight) is `aggression: 1.0` with a small
/// `min_weight_percent`. The balancer recomputes the weights once a second of simulated time
/// while a backend is in slow start (Envoy's time factor has a one-second floor).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SlowStart {
    /// Length of the ramp (Envoy `slow_start_window`), > 0.
    pub window: Duration,
    /// Speed of the ramp (Envoy `aggression`, default 1: linear), > 0.
    pub aggression: f64,
    /// Floor of the scaled weight, in percent of the weight, 0..=100 (Envoy
    /// `min_weight_percent`, default 10).
    pub min_weight_percent: f64,
}

impl SlowStart {
    /// The multiplier of the weight `since` after the backend joined (1 once the window is
    /// over).
    pub fn factor(&self, since: Duration) -> f64 {
        if since >= self.window {
            return 1.0;
        }
        let time_factor = since.as_secs_f64().max(1.0) / self.window.as_secs_f64();
        time_factor.powf(1.0 / self.aggression).max(self.min_weight_percent / 100.0).min(1.0)
    }
}

/// A backend's cold start: for `window` after its process starts (a `Recover`, or an `Add`
/// that brings in a standby backend), every service it starts takes
///
/// `clamp(window / t, 1, factor)`
///
/// times as long, `t` the time since the start: `factor` times as long at first (cold caches,
/// an unwarmed JIT, empty connection pools), falling as 1/t to normal speed at `window`. This
/// is the definition (latency × min(window/t, cap), after the cold-start curves Finagle
/// and Envoy's slow-start documentation motivate ramps with), with the cap as a parameter; no
/// production system publishes a service-time curve to follow exactly.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Warmup {
    /// Time to reach normal speed, > 0.
    pub window: Duration,
    /// Slowness at the start, ≥ 1.
    pub factor: f64,
}

impl Warmup {
    /// How many times its normal time a service starting `since` after the start takes.
    pub fn slowness(&self, since: Duration) -> f64 {
        if since >= self.window {
            return 1.0;
        }
        let t = since.as_secs_f64();
        if t <= 0.0 {
            return self.factor;
        }
        (self.window.as_secs_f64() / t).clamp(1.0, self.factor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envoy(aggression: f64) -> SlowStart {
        SlowStart { window: Duration::from_secs(60), aggression, min_weight_percent: 10.0 }
    }

    /// Envoy's formula at t = 0, window/2 and window, for aggression 1 and 2.
    #[test]
    fn slow_start_weights_follow_envoy_at_the_start_the_middle_and_the_end() {
        let linear = envoy(1.0);
        // At 0 the time factor is 1 s / 60 s = 1.7%: the 10% floor.
        assert_eq!(linear.factor(Duration::ZERO), 0.1);
        assert!((linear.factor(Duration::from_secs(30)) - 0.5).abs() < 1e-12);
        assert_eq!(linear.factor(Duration::from_secs(60)), 1.0);
        let square_root = envoy(2.0);
        assert_eq!(square_root.factor(Duration::ZERO), (1.0f64 / 60.0).sqrt());
        assert!((square_root.factor(Duration::from_secs(30)) - 0.5f64.sqrt()).abs() < 1e-12);
        assert_eq!(square_root.factor(Duration::from_secs(60)), 1.0);
        let no_floor = SlowStart { min_weight_percent: 0.0, ..linear };
        assert_eq!(no_floor.factor(Duration::from_millis(500)), 1.0 / 60.0);
    }

    #[test]
    fn warmup_starts_at_its_factor_and_falls_as_one_over_t() {
        let w = Warmup { window: Duration::from_secs(30), factor: 3.0 };
        assert_eq!(w.slowness(Duration::ZERO), 3.0);
        assert_eq!(w.slowness(Duration::from_secs(5)), 3.0);
        assert_eq!(w.slowness(Duration::from_secs(15)), 2.0);
        assert_eq!(w.slowness(Duration::from_secs(30)), 1.0);
    }
}
