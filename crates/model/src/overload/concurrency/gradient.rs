//! Envoy's gradient controller, after `GradientController` in
//! `source/extensions/filters/http/adaptive_concurrency/controller/gradient_controller.{h,cc}`
//! (<https://github.com/envoyproxy/envoy/blob/149521d8cf7d1a2cbda7f973c5a3d8ffe9798bff/source/extensions/filters/http/adaptive_concurrency/controller/gradient_controller.cc>).

use std::time::Duration;

use stacksim_engine::{SimTime, duration_nanos};

/// Envoy's adaptive concurrency filter with its gradient controller
/// (<https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/adaptive_concurrency_filter>;
/// fields and defaults from `GradientControllerConfig` in
/// `api/envoy/extensions/filters/http/adaptive_concurrency/v3/adaptive_concurrency.proto` and
/// the `GradientControllerConfig` constructor in `gradient_controller.cc`).
///
/// Every `concurrency_update_interval` the latencies sampled since the last update are
/// summarised by their `sample_aggregate_percentile` (sampleRTT), and
/// ([`next_limit`](Self::next_limit), Envoy's `calculateNewLimit`)
///
/// `gradient = clamp((minRTT + minRTT × buffer) / sampleRTT, 0.5, 2.0)`,
/// `limit = ⌊limit × gradient + √(limit × gradient)⌋`, clamped to
/// `[min_concurrency_limit, max_concurrency_limit]`.
///
/// minRTT is measured at the start and every `min_rtt_calc_interval` (plus a jitter of up to
/// `jitter_percent` of it) after the last measurement ended: the limit drops to
/// `min_concurrency`, samples of requests sent before the measurement began are ignored, and
/// once `request_count` samples are in, their percentile is the new minRTT and the limit
/// returns to its value before the measurement. No limit update runs during a measurement. A
/// limit at the floor for five updates in a row starts a measurement at once.
///
/// Here the percentile is exact (nearest rank) where Envoy approximates it with a log-linear
/// histogram (circllhist, two significant digits), and latencies keep nanoseconds where Envoy
/// truncates them to microseconds.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Gradient {
    /// Time between limit updates (Envoy `concurrency_limit_params.concurrency_update_interval`,
    /// required; the docs' example is 100 ms), > 0.
    pub concurrency_update_interval: Duration,
    /// Percentile summarising the samples of an update and of a minRTT measurement, in percent,
    /// 0..=100 (Envoy `sample_aggregate_percentile`, default 50).
    pub sample_aggregate_percentile: f64,
    /// Ceiling of the limit, ≥ 1 (Envoy `concurrency_limit_params.max_concurrency_limit`,
    /// default 1000).
    pub max_concurrency_limit: u32,
    /// Floor of the limit outside minRTT measurements, ≥ 1 (Envoy
    /// `concurrency_limit_params.min_concurrency_limit`). Unset, the floor is
    /// `min_concurrency`; set, minRTT measurements no longer pin the limit and measure live
    /// traffic instead.
    pub min_concurrency_limit: Option<u32>,
    /// Time from the end of one minRTT measurement to the start of the next, before jitter
    /// (Envoy `min_rtt_calc_params.interval`, required unless `fixed_min_rtt` is set; the docs'
    /// example is 60 s), ≥ 1 ms.
    pub min_rtt_calc_interval: Duration,
    /// A fixed minRTT, which turns measurement off (Envoy `min_rtt_calc_params.fixed_value`),
    /// > 0 when set.
    pub fixed_min_rtt: Option<Duration>,
    /// Samples a minRTT measurement takes, ≥ 1 (Envoy `min_rtt_calc_params.request_count`,
    /// default 50).
    pub request_count: u32,
    /// Longest random delay added to `min_rtt_calc_interval`, in percent of it, 0..=100
    /// (Envoy `min_rtt_calc_params.jitter`, default 15).
    pub jitter_percent: f64,
    /// The limit during a minRTT measurement, ≥ 1 (Envoy `min_rtt_calc_params.min_concurrency`,
    /// default 3).
    pub min_concurrency: u32,
    /// Tolerance added to minRTT before it is compared with sampleRTT, in percent of minRTT,
    /// 0..=100 (Envoy `min_rtt_calc_params.buffer`, default 25).
    pub buffer_percent: f64,
}

impl Gradient {
    /// Envoy's default `sample_aggregate_percentile` (p50).
    pub const DEFAULT_SAMPLE_AGGREGATE_PERCENTILE: f64 = 50.0;
    /// Envoy's default `max_concurrency_limit`.
    pub const DEFAULT_MAX_CONCURRENCY_LIMIT: u32 = 1000;
    /// Envoy's default `request_count`.
    pub const DEFAULT_REQUEST_COUNT: u32 = 50;
    /// Envoy's default `jitter`, in percent.
    pub const DEFAULT_JITTER_PERCENT: f64 = 15.0;
    /// Envoy's default `min_concurrency`.
    pub const DEFAULT_MIN_CONCURRENCY: u32 = 3;
    /// Envoy's default `buffer`, in percent.
    pub const DEFAULT_BUFFER_PERCENT: f64 = 25.0;
    /// Envoy's bounds on the gradient (`calculateNewLimit`).
    pub const GRADIENT_RANGE: (f64, f64) = (0.5, 2.0);
    /// Updates in a row at the floor that start a minRTT measurement (`updateConcurrencyLimit`).
    pub const UPDATES_AT_FLOOR_BEFORE_MEASURING: u32 = 5;

    /// The two intervals Envoy requires, every other field at Envoy's default.
    pub fn new(concurrency_update_interval: Duration, min_rtt_calc_interval: Duration) -> Self {
        Gradient {
            concurrency_update_interval,
            sample_aggregate_percentile: Self::DEFAULT_SAMPLE_AGGREGATE_PERCENTILE,
            max_concurrency_limit: Self::DEFAULT_MAX_CONCURRENCY_LIMIT,
            min_concurrency_limit: None,
            min_rtt_calc_interval,
            fixed_min_rtt: None,
            request_count: Self::DEFAULT_REQUEST_COUNT,
            jitter_percent: Self::DEFAULT_JITTER_PERCENT,
            min_concurrency: Self::DEFAULT_MIN_CONCURRENCY,
            buffer_percent: Self::DEFAULT_BUFFER_PERCENT,
        }
    }

    /// `clamp((min_rtt + min_rtt × buffer) / sample_rtt, 0.5, 2.0)` (a zero `sample_rtt` gives
    /// 2.0, as the division by zero does in Envoy's release builds).
    pub fn gradient(&self, min_rtt: Duration, sample_rtt: Duration) -> f64 {
        let min_rtt = min_rtt.as_nanos() as f64;
        let buffered_min_rtt = min_rtt + min_rtt * fraction(self.buffer_percent);
        let (low, high) = Self::GRADIENT_RANGE;
        if sample_rtt.is_zero() {
            return high;
        }
        (buffered_min_rtt / sample_rtt.as_nanos() as f64).clamp(low, high)
    }

    /// The limit after an update from `limit`: `⌊limit × gradient + √(limit × gradient)⌋`,
    /// clamped to the floor and `max_concurrency_limit` (the floor wins if they cross, as in
    /// Envoy).
    pub fn next_limit(&self, limit: u32, min_rtt: Duration, sample_rtt: Duration) -> u32 {
        let scaled = f64::from(limit) * self.gradient(min_rtt, sample_rtt);
        let burst_headroom = scaled.sqrt();
        // `as` truncates, as the C++ conversion to uint32_t does.
        let new_limit = (scaled + burst_headroom) as u32;
        new_limit.min(self.max_concurrency_limit).max(self.floor())
    }

    /// The interval to the next minRTT measurement, given a uniform `draw` in [0, 1): Envoy's
    /// `applyJitter`, `interval + random() % ⌈interval_ms × jitter⌉` whole milliseconds.
    pub fn jittered_interval(&self, draw: f64) -> Duration {
        let jitter = fraction(self.jitter_percent);
        if jitter == 0.0 {
            return self.min_rtt_calc_interval;
        }
        let range_ms = (self.min_rtt_calc_interval.as_secs_f64() * 1000.0 * jitter).ceil();
        let jitter_ms = (draw * range_ms).floor().clamp(0.0, (range_ms - 1.0).max(0.0));
        self.min_rtt_calc_interval + Duration::from_millis(jitter_ms as u64)
    }

    /// The floor of the limit (Envoy `minConcurrencyLimit()`).
    fn floor(&self) -> u32 {
        self.min_concurrency_limit.unwrap_or(self.min_concurrency)
    }

    /// Whether a minRTT measurement pins the limit to `min_concurrency` (Envoy
    /// `minRTTCalcAdjustsConcurrency()`).
    fn measurement_pins_limit(&self) -> bool {
        self.min_concurrency_limit.is_none()
    }
}

/// A percentage as a fraction, clamped to [0, 1] as Envoy's config getters clamp them.
fn fraction(percent: f64) -> f64 {
    percent.clamp(0.0, 100.0) / 100.0
}

/// The `percent` percentile of `samples` by nearest rank (`samples` non-empty; reordered).
fn percentile(samples: &mut [u64], percent: f64) -> u64 {
    let n = samples.len();
    let rank = (fraction(percent) * n as f64).ceil() as usize;
    *samples.select_nth_unstable(rank.clamp(1, n) - 1).1
}

/// The gradient controller while the simulation runs: Envoy's `GradientController`, its two
/// timers (`sample_reset_timer_`, `min_rtt_calc_timer_`) as due times.
#[derive(Clone, Debug)]
pub(crate) struct GradientState {
    config: Gradient,
    limit: u32,
    /// The limit before the current minRTT measurement, while one runs (Envoy
    /// `deferred_limit_value_`, non-zero during a measurement).
    deferred_limit: Option<u32>,
    min_rtt: Duration,
    /// Latencies [ns] since the last update or measurement (Envoy `latency_sample_hist_`).
    samples: Vec<u64>,
    /// Requests sent before this are not sampled (Envoy `min_rtt_epoch_`).
    epoch: SimTime,
    /// Updates in a row that left the limit at the floor (Envoy
    /// `consecutive_min_concurrency_set_`).
    updates_at_floor: u32,
    next_update: Option<SimTime>,
    next_measurement: Option<SimTime>,
}

impl GradientState {
    /// Envoy's constructor: a minRTT measurement starts at once (or the fixed minRTT is
    /// taken), and the first update is due an interval later.
    pub fn new(config: Gradient, now: SimTime) -> Self {
        let mut state = GradientState {
            config,
            limit: config.floor(),
            deferred_limit: None,
            min_rtt: Duration::ZERO,
            samples: Vec::new(),
            epoch: SimTime::ZERO,
            updates_at_floor: 0,
            next_update: None,
            next_measurement: None,
        };
        match config.fixed_min_rtt {
            None => state.start_measurement(now),
            Some(fixed) => {
                state.min_rtt = fixed;
                state.set_limit(now, config.floor());
            }
        }
        state.next_update = Some(now + config.concurrency_update_interval);
        state
    }

    #[inline]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    pub fn measuring_min_rtt(&self) -> bool {
        self.deferred_limit.is_some()
    }

    pub fn next_wakeup(&self) -> Option<SimTime> {
        match (self.next_update, self.next_measurement) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Fires the timers due at or before `now` in time order, each at its due time; at the
    /// same instant the update runs before the measurement starts.
    pub fn on_timer(&mut self, now: SimTime) {
        loop {
            let update = self.next_update.filter(|&t| t <= now);
            let measurement = self.next_measurement.filter(|&t| t <= now);
            match (update, measurement) {
                (Some(u), Some(m)) if m < u => self.measurement_due(m),
                (Some(u), _) => self.update_due(u),
                (None, Some(m)) => self.measurement_due(m),
                (None, None) => return,
            }
        }
    }

    /// Envoy `recordLatencySample` then `updateMinRTT`, after any timer due by `now`.
    pub fn on_sample(&mut self, now: SimTime, rtt: Duration, draw: impl FnOnce() -> f64) {
        self.on_timer(now);
        let sent = SimTime(now.0.saturating_sub(duration_nanos(rtt)));
        if sent < self.epoch {
            return;
        }
        self.samples.push(duration_nanos(rtt));
        let Some(deferred) = self.deferred_limit else { return };
        if self.samples.len() < self.config.request_count as usize {
            return;
        }
        self.min_rtt = Duration::from_nanos(self.take_percentile());
        if self.config.measurement_pins_limit() {
            self.set_limit(now, deferred);
        }
        self.deferred_limit = None;
        self.next_measurement = Some(now + self.config.jittered_interval(draw()));
        self.next_update = Some(now + self.config.concurrency_update_interval);
    }

    /// `sample_reset_timer_`: an update, unless a measurement runs (then the timer lapses until
    /// the measurement ends and re-arms it).
    fn update_due(&mut self, at: SimTime) {
        if self.measuring_min_rtt() {
            self.next_update = None;
            return;
        }
        // Envoy `resetSampleWindow`: no samples, no update.
        if !self.samples.is_empty() {
            let sample_rtt = Duration::from_nanos(self.take_percentile());
            let new_limit = self.config.next_limit(self.limit, self.min_rtt, sample_rtt);
            self.set_limit(at, new_limit);
        }
        self.next_update = Some(at + self.config.concurrency_update_interval);
    }

    /// `min_rtt_calc_timer_`.
    fn measurement_due(&mut self, at: SimTime) {
        self.next_measurement = None;
        self.start_measurement(at);
    }

    /// Envoy `enterMinRTTSamplingWindow`.
    fn start_measurement(&mut self, now: SimTime) {
        if self.measuring_min_rtt() {
            return;
        }
        self.deferred_limit = Some(self.limit);
        if self.config.measurement_pins_limit() {
            self.set_limit(now, self.config.min_concurrency);
        }
        self.samples.clear();
        self.epoch = now;
        // Neither timer has work until the measurement ends and re-arms both.
        self.next_update = None;
        self.next_measurement = None;
    }

    /// Envoy `updateConcurrencyLimit`: five updates in a row at the floor, outside a
    /// measurement, start one at once (Envoy arms the minRTT timer for 0 ms).
    fn set_limit(&mut self, now: SimTime, new_limit: u32) {
        let floor = self.config.floor();
        let old_limit = std::mem::replace(&mut self.limit, new_limit);
        if !self.measuring_min_rtt() && old_limit == floor && new_limit == floor {
            self.updates_at_floor += 1;
        } else {
            self.updates_at_floor = 0;
        }
        if self.updates_at_floor >= Gradient::UPDATES_AT_FLOOR_BEFORE_MEASURING
            && self.config.fixed_min_rtt.is_none()
        {
            self.next_measurement = Some(now);
        }
    }

    /// The configured percentile of the samples, which are then cleared (Envoy
    /// `processLatencySamplesAndClear`; called with samples present).
    fn take_percentile(&mut self) -> u64 {
        let value = percentile(&mut self.samples, self.config.sample_aggregate_percentile);
        self.samples.clear();
        value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn at_ms(n: u64) -> SimTime {
        SimTime(n * MS)
    }

    /// The docs' example intervals (100 ms updates, minRTT every 60 s), Envoy's defaults.
    fn envoy() -> Gradient {
        Gradient::new(ms(100), Duration::from_secs(60))
    }

    /// Completes `n` requests of `rtt` each at `now`.
    fn samples(state: &mut GradientState, now: SimTime, rtt: Duration, n: u32) {
        for _ in 0..n {
            state.on_sample(now, rtt, || 0.0);
        }
    }

    #[test]
    fn an_update_scales_the_limit_by_the_buffered_gradient_and_adds_its_square_root() {
        let g = envoy();
        // minRTT 10 ms buffered by 25% is 12.5 ms: a 12.5 ms sampleRTT is gradient 1,
        // 100 + √100.
        assert_eq!(g.gradient(ms(10), Duration::from_micros(12_500)), 1.0);
        assert_eq!(g.next_limit(100, ms(10), Duration::from_micros(12_500)), 110);
        // 20 ms: gradient 0.625; 62.5 + √62.5 = 70.4 (√ of the scaled limit, not of 100).
        assert_eq!(g.gradient(ms(10), ms(20)), 0.625);
        assert_eq!(g.next_limit(100, ms(10), ms(20)), 70);
        // No buffer: sampleRTT = minRTT is gradient 1.
        let no_buffer = Gradient { buffer_percent: 0.0, ..g };
        assert_eq!(no_buffer.next_limit(100, ms(10), ms(10)), 110);
    }

    #[test]
    fn the_gradient_is_clamped_to_half_and_two() {
        let g = envoy();
        assert_eq!(g.gradient(ms(10), ms(1)), 2.0, "raw 12.5");
        assert_eq!(g.next_limit(100, ms(10), ms(1)), 214, "200 + √200");
        assert_eq!(g.gradient(ms(10), ms(100)), 0.5, "raw 0.125");
        assert_eq!(g.next_limit(100, ms(10), ms(100)), 57, "50 + √50");
        assert_eq!(g.gradient(ms(10), Duration::ZERO), 2.0);
    }

    #[test]
    fn the_limit_stays_between_the_floor_and_the_ceiling() {
        let g = Gradient { max_concurrency_limit: 150, ..envoy() };
        assert_eq!(g.next_limit(100, ms(10), ms(1)), 150);
        assert_eq!(g.next_limit(3, ms(10), ms(100)), 3, "1.5 + 1.2 is below min_concurrency 3");
        let floor = Gradient { min_concurrency_limit: Some(10), ..g };
        assert_eq!(floor.next_limit(12, ms(10), ms(100)), 10);
    }

    #[test]
    fn jitter_adds_whole_milliseconds_up_to_its_share_of_the_interval() {
        let g = envoy();
        // 15% of 60 s: 9000 possible milliseconds.
        assert_eq!(g.jittered_interval(0.0), Duration::from_secs(60));
        assert_eq!(g.jittered_interval(0.5), Duration::from_millis(64_500));
        assert_eq!(g.jittered_interval(0.999_999_9), Duration::from_millis(68_999));
        let none = Gradient { jitter_percent: 0.0, ..g };
        assert_eq!(none.jittered_interval(0.9), Duration::from_secs(60));
    }

    #[test]
    fn a_measurement_pins_the_limit_then_sets_min_rtt_and_restores_the_limit() {
        let mut s = GradientState::new(envoy(), SimTime::ZERO);
        assert!(s.measuring_min_rtt());
        assert_eq!(s.limit(), 3, "min_concurrency");
        samples(&mut s, at_ms(30), ms(10), 49);
        assert!(s.measuring_min_rtt(), "49 of request_count 50");
        // The update due at 100 ms lapses: none runs during a measurement.
        s.on_timer(at_ms(100));
        assert_eq!((s.limit(), s.next_wakeup()), (3, None));
        s.on_sample(at_ms(130), ms(10), || 0.5);
        assert!(!s.measuring_min_rtt());
        assert_eq!(s.min_rtt, ms(10));
        assert_eq!(s.limit(), 3, "restored to its value before: the floor");
        assert_eq!(s.next_update, Some(at_ms(230)));
        assert_eq!(s.next_measurement, Some(at_ms(130 + 64_500)), "60 s + 4.5 s of jitter");

        // Three updates at sampleRTT = minRTT (gradient 1.25): 3 → 5 → 8 → 13.
        for (update, limit) in [(230, 5), (330, 8), (430, 13)] {
            samples(&mut s, at_ms(update - 1), ms(10), 10);
            s.on_timer(at_ms(update));
            assert_eq!(s.limit(), limit, "at {update} ms");
        }

        // The next measurement pins the limit to 3 and restores 13 after 50 samples.
        s.on_timer(at_ms(130 + 64_500));
        assert!(s.measuring_min_rtt());
        assert_eq!(s.limit(), 3);
        samples(&mut s, at_ms(64_700), ms(20), 50);
        assert!(!s.measuring_min_rtt());
        assert_eq!((s.limit(), s.min_rtt), (13, ms(20)));
    }

    #[test]
    fn a_measurement_ignores_requests_sent_before_it_began() {
        let mut s = GradientState::new(envoy(), at_ms(1000));
        // Sent at 995 ms, before the measurement began.
        samples(&mut s, at_ms(1005), ms(10), 50);
        assert!(s.measuring_min_rtt());
        // Sent at 1000 ms: counted.
        samples(&mut s, at_ms(1010), ms(10), 50);
        assert!(!s.measuring_min_rtt());
    }

    #[test]
    fn min_rtt_and_sample_rtt_are_the_configured_percentile() {
        let g = Gradient { sample_aggregate_percentile: 90.0, request_count: 10, ..envoy() };
        let mut s = GradientState::new(g, SimTime::ZERO);
        for i in 1..=10 {
            s.on_sample(at_ms(50), ms(i), || 0.0);
        }
        assert_eq!(s.min_rtt, ms(9), "p90 of 1..=10 ms");
        let mut p50 = GradientState::new(Gradient { request_count: 10, ..envoy() }, SimTime::ZERO);
        for i in 1..=10 {
            p50.on_sample(at_ms(50), ms(i), || 0.0);
        }
        assert_eq!(p50.min_rtt, ms(5));
    }

    #[test]
    fn five_updates_at_the_floor_start_a_measurement_at_once() {
        let g = Gradient { jitter_percent: 0.0, ..envoy() };
        let mut s = GradientState::new(g, SimTime::ZERO);
        samples(&mut s, at_ms(10), ms(10), 50);
        // sampleRTT 100 ms against minRTT 10 ms: gradient 0.5, and 3 stays 3.
        for update in 1..=4 {
            samples(&mut s, at_ms(update * 100 + 5), ms(100), 1);
            s.on_timer(at_ms(update * 100 + 10));
            assert!(!s.measuring_min_rtt(), "after update {update}");
        }
        samples(&mut s, at_ms(505), ms(100), 1);
        s.on_timer(at_ms(510));
        assert!(s.measuring_min_rtt(), "the fifth update at the floor");
        assert_eq!(s.epoch, at_ms(510));
    }

    #[test]
    fn with_its_own_floor_a_measurement_leaves_the_limit_alone() {
        let g = Gradient { min_concurrency_limit: Some(25), min_concurrency: 50, ..envoy() };
        let mut s = GradientState::new(g, SimTime::ZERO);
        assert!(s.measuring_min_rtt());
        assert_eq!(s.limit(), 25, "the floor, not min_concurrency");
        samples(&mut s, at_ms(10), ms(10), 50);
        assert_eq!((s.limit(), s.min_rtt), (25, ms(10)));
    }

    #[test]
    fn a_fixed_min_rtt_is_never_measured() {
        let g = Gradient { fixed_min_rtt: Some(ms(10)), ..envoy() };
        let mut s = GradientState::new(g, SimTime::ZERO);
        assert!(!s.measuring_min_rtt());
        assert_eq!(s.next_wakeup(), Some(at_ms(100)));
        samples(&mut s, at_ms(50), Duration::from_micros(12_500), 5);
        s.on_timer(at_ms(100));
        assert_eq!(s.limit(), 4, "3 + √3");
        // Even at the floor for many updates, no measurement starts.
        for update in 2..=10 {
            samples(&mut s, at_ms(update * 100 - 1), ms(100), 1);
            s.on_timer(at_ms(update * 100));
        }
        assert_eq!(s.limit(), 3);
        assert!(!s.measuring_min_rtt());
    }

    #[test]
    fn a_late_timer_call_runs_each_step_at_its_due_time() {
        let g = Gradient { fixed_min_rtt: Some(ms(10)), ..envoy() };
        let mut s = GradientState::new(g, SimTime::ZERO);
        samples(&mut s, at_ms(50), Duration::from_micros(12_500), 1);
        // Updates were due at 100, 200 and 300 ms; only the first had samples.
        s.on_timer(at_ms(350));
        assert_eq!(s.limit(), 4);
        assert_eq!(s.next_wakeup(), Some(at_ms(400)));
    }
}
