//! Netflix concurrency-limits' `VegasLimit`
//! (<https://github.com/Netflix/concurrency-limits/blob/78a74b9878d38c4c048b0304ce12a162ab7b7222/concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/VegasLimit.java>,
//! v0.5.4 and later).

use std::time::Duration;

use stacksim_engine::duration_nanos;

/// Netflix concurrency-limits' `VegasLimit`, after TCP Vegas: from each sample's RTT and the
/// no-load RTT (the lowest seen since the last probe) it estimates the queue
///
/// `queue = ⌈limit × (1 − rtt_noload / rtt)⌉`
///
/// and, with `log = max(1, ⌊log₁₀ limit⌋)`, `alpha = 3·log`, `beta = 6·log`, `threshold = log`
/// (the builder's defaults, `Log10RootIntFunction`):
///
/// - a dropped request: `limit − log`;
/// - fewer than half the limit in flight: no change (no upward drift when idle);
/// - `queue ≤ threshold`: `limit + beta`; `queue < alpha`: `limit + log`;
///   `queue > beta`: `limit − log`; otherwise no change;
///
/// then clamped to `[1, max_concurrency]` and smoothed, `limit ← (1 − smoothing)·limit +
/// smoothing·new`. A sample lower than the no-load RTT only replaces it. Every
/// `jitter × probe_multiplier × limit` samples (`jitter` uniform in [0.5, 1), drawn again
/// at each probe) the sample becomes the no-load RTT whatever it is, so the estimate can rise
/// again. The limit is the estimate truncated to a whole number.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Vegas {
    /// The limit at the start, ≥ 1 (`initialLimit`, default 20).
    pub initial_limit: u32,
    /// Ceiling of the limit, ≥ 1 (`maxConcurrency`, default 1000).
    pub max_concurrency: u32,
    /// Weight of the new value in each change, in (0, 1] (`smoothing`, default 1: none).
    pub smoothing: f64,
    /// Samples between no-load RTT probes, in multiples of the limit, ≥ 1 (`probeMultiplier`,
    /// default 30).
    pub probe_multiplier: u32,
    /// A fixed `alpha` (the builder's `alpha(int)`); default `3·log`.
    pub alpha: Option<u32>,
    /// A fixed `beta` (the builder's `beta(int)`); default `6·log`.
    pub beta: Option<u32>,
}

impl Default for Vegas {
    /// `VegasLimit.newDefault()`.
    fn default() -> Self {
        Vegas {
            initial_limit: 20,
            max_concurrency: 1000,
            smoothing: 1.0,
            probe_multiplier: 30,
            alpha: None,
            beta: None,
        }
    }
}

impl Vegas {
    fn alpha(&self, limit: u32) -> u32 {
        self.alpha.unwrap_or_else(|| 3 * log10(limit))
    }

    fn beta(&self, limit: u32) -> u32 {
        self.beta.unwrap_or_else(|| 6 * log10(limit))
    }
}

/// `Log10RootIntFunction`: `max(1, ⌊log₁₀ limit⌋)` (for 0 too).
fn log10(limit: u32) -> u32 {
    limit.checked_ilog10().unwrap_or(0).max(1)
}

/// A Vegas limit while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct VegasState {
    config: Vegas,
    /// `estimatedLimit`.
    estimated: f64,
    /// The no-load RTT [ns]; 0 before the first sample.
    rtt_noload: u64,
    probe_count: u64,
    probe_jitter: f64,
}

impl VegasState {
    pub fn new(config: Vegas, draw: impl FnOnce() -> f64) -> Self {
        VegasState {
            config,
            estimated: f64::from(config.initial_limit),
            rtt_noload: 0,
            probe_count: 0,
            probe_jitter: probe_jitter(draw()),
        }
    }

    #[inline]
    pub fn limit(&self) -> u32 {
        self.estimated as u32
    }

    /// `VegasLimit._update`. A zero `rtt` is skipped (the source refuses it with an
    /// exception).
    pub fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool, draw: impl FnOnce() -> f64) {
        let rtt = duration_nanos(rtt);
        if rtt == 0 {
            return;
        }
        self.probe_count += 1;
        // `shouldProbe`, its products in the source's order.
        if self.probe_jitter * f64::from(self.config.probe_multiplier) * self.estimated
            <= self.probe_count as f64
        {
            self.probe_jitter = probe_jitter(draw());
            self.probe_count = 0;
            self.rtt_noload = rtt;
            return;
        }
        if self.rtt_noload == 0 || rtt < self.rtt_noload {
            self.rtt_noload = rtt;
            return;
        }
        self.update(rtt, in_flight, dropped);
    }

    /// `updateEstimatedLimit`.
    fn update(&mut self, rtt: u64, in_flight: u32, dropped: bool) {
        let estimated = self.estimated;
        let queue = (estimated * (1.0 - self.rtt_noload as f64 / rtt as f64)).ceil();
        let limit = estimated as u32;
        let log = f64::from(log10(limit));
        let new_limit = if dropped {
            estimated - log
        } else if 2.0 * f64::from(in_flight) < estimated {
            return;
        } else {
            let alpha = f64::from(self.config.alpha(limit));
            let beta = f64::from(self.config.beta(limit));
            if queue <= log {
                estimated + beta
            } else if queue < alpha {
                estimated + log
            } else if queue > beta {
                estimated - log
            } else {
                return;
            }
        };
        let new_limit = new_limit.min(f64::from(self.config.max_concurrency)).max(1.0);
        let smoothing = self.config.smoothing;
        self.estimated = (1.0 - smoothing) * estimated + smoothing * new_limit;
    }
}

/// `resetProbeJitter`: `ThreadLocalRandom.nextDouble(0.5, 1)` from a uniform `draw` in [0, 1).
fn probe_jitter(draw: f64) -> f64 {
    0.5 + 0.5 * draw
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    /// Netflix's defaults, its first sample (which only sets the no-load RTT) taken at `noload`.
    fn after_first_sample(config: Vegas, noload: Duration) -> VegasState {
        let mut v = VegasState::new(config, || 0.99);
        v.on_sample(noload, 1, false, || 0.0);
        assert_eq!(v.rtt_noload, duration_nanos(noload));
        v
    }

    #[test]
    fn log10_is_floored_at_one() {
        let logs: Vec<u32> = [0, 1, 9, 10, 99, 100, 999, 1000, 20_000].map(log10).to_vec();
        assert_eq!(logs, [1, 1, 1, 1, 1, 2, 2, 3, 4]);
    }

    #[test]
    fn no_queue_grows_the_limit_by_beta() {
        let mut v = after_first_sample(Vegas::default(), ms(10));
        assert_eq!(v.limit(), 20);
        // rtt = rtt_noload: queue 0 ≤ threshold 1, so + beta = 6·1.
        v.on_sample(ms(10), 10, false, || 0.0);
        assert_eq!(v.limit(), 26);
        v.on_sample(ms(10), 13, false, || 0.0);
        assert_eq!(v.limit(), 32);
    }

    #[test]
    fn fewer_than_half_the_limit_in_flight_changes_nothing() {
        let mut v = after_first_sample(Vegas::default(), ms(10));
        v.on_sample(ms(10), 9, false, || 0.0);
        assert_eq!(v.limit(), 20, "9·2 < 20");
        v.on_sample(ms(10), 9, true, || 0.0);
        assert_eq!(v.limit(), 19, "a drop decreases whatever is in flight");
    }

    #[test]
    fn the_queue_estimate_decides_between_growing_holding_and_shrinking() {
        // queue = ⌈20 × (1 − noload/rtt)⌉ against threshold 1, alpha 3, beta 6.
        let step = |noload: u64, rtt: u64| {
            let mut v = after_first_sample(Vegas::default(), ms(noload));
            v.on_sample(ms(rtt), 10, false, || 0.0);
            v.limit()
        };
        assert_eq!(step(9, 10), 21, "queue 2: between threshold and alpha, + log");
        assert_eq!(step(15, 20), 20, "queue 5: between alpha and beta, hold");
        assert_eq!(step(10, 15), 19, "queue 7 > beta: − log");
        assert_eq!(step(10, 20), 19, "queue 10 > beta: − log");
    }

    #[test]
    fn changes_are_smoothed_and_clamped() {
        let half = Vegas { smoothing: 0.5, ..Vegas::default() };
        let mut v = after_first_sample(half, ms(10));
        v.on_sample(ms(20), 10, false, || 0.0);
        assert_eq!(v.estimated, 19.5);
        assert_eq!(v.limit(), 19);
        let capped = Vegas { max_concurrency: 22, ..Vegas::default() };
        let mut v = after_first_sample(capped, ms(10));
        v.on_sample(ms(10), 10, false, || 0.0);
        assert_eq!(v.limit(), 22, "20 + 6 capped");
        let floor = Vegas { initial_limit: 1, ..Vegas::default() };
        let mut v = after_first_sample(floor, ms(10));
        v.on_sample(ms(10), 1, true, || 0.0);
        assert_eq!(v.limit(), 1, "1 − 1 raised to 1");
    }

    #[test]
    fn a_probe_takes_its_sample_as_the_no_load_rtt() {
        // Jitter 0.5 (draw 0), multiplier 1: the tenth sample of a limit of 20 probes.
        let probing = Vegas { probe_multiplier: 1, ..Vegas::default() };
        let mut v = VegasState::new(probing, || 0.0);
        v.on_sample(ms(10), 1, false, || 0.0);
        for _ in 2..=9 {
            v.on_sample(ms(20), 1, false, || 0.0);
        }
        assert_eq!(v.rtt_noload, duration_nanos(ms(10)));
        v.on_sample(ms(20), 1, false, || 0.99);
        assert_eq!(v.rtt_noload, duration_nanos(ms(20)), "the probe");
        assert_eq!((v.probe_count, v.probe_jitter), (0, 0.995));
        // Against the probed 20 ms, 20 ms is no queue: + beta, where 10 ms would shrink it.
        v.on_sample(ms(20), 10, false, || 0.0);
        assert_eq!(v.limit(), 26);
    }

    #[test]
    fn fixed_alpha_and_beta_replace_the_log_functions() {
        let wide = Vegas { alpha: Some(8), beta: Some(12), ..Vegas::default() };
        let mut v = after_first_sample(wide, ms(10));
        // queue 10: below beta 12 but not alpha 8, hold; the default beta 6 would shrink.
        v.on_sample(ms(20), 10, false, || 0.0);
        assert_eq!(v.limit(), 20);
        v.on_sample(ms(10), 10, false, || 0.0);
        assert_eq!(v.limit(), 32, "no queue: + beta 12");
    }
}
