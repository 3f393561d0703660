//! What a run measures: outcome counts, latency histograms and time-weighted averages.

use std::time::Duration;

use hdrhistogram::Histogram;
use stacksim_engine::{SimTime, duration_nanos};

/// Longest response time the histograms resolve; longer ones are recorded as this (~27.8 h).
const HISTOGRAM_MAX_NS: u64 = 100_000_000_000_000;

/// A latency distribution: exact mean and count, percentiles from an HDR histogram with three
/// significant digits (relative error ≤ 0.1%), in constant memory.
#[derive(Clone, Debug)]
pub struct Latency {
    histogram: Histogram<u64>,
    sum_ns: u128,
}

impl Default for Latency {
    fn default() -> Self {
        Latency {
            histogram: Histogram::new_with_bounds(1, HISTOGRAM_MAX_NS, 3).expect("static bounds are valid"),
            sum_ns: 0,
        }
    }
}

impl Latency {
    /// Records one observation.
    #[inline]
    pub fn record(&mut self, span: Duration) {
        self.record_nanos(duration_nanos(span));
    }

    /// Records the span from `start` to `end` (zero if `start` is later): [`Latency::record`]
    /// of `end - start`, without the round trip through a [`Duration`] (issue 10: two records
    /// per request).
    #[inline]
    pub fn record_since(&mut self, start: SimTime, end: SimTime) {
        self.record_nanos(end.as_nanos().saturating_sub(start.as_nanos()));
    }

    #[inline]
    fn record_nanos(&mut self, ns: u64) {
        self.sum_ns += u128::from(ns);
        self.histogram.saturating_record(ns.max(1));
    }

    /// Forgets every observation, keeping the allocated histogram.
    pub fn reset(&mut self) {
        self.histogram.reset();
        self.sum_ns = 0;
    }

    /// Observations recorded.
    pub fn count(&self) -> u64 {
        self.histogram.len()
    }

    /// Mean in seconds (exact, not from the histogram); NaN when empty.
    pub fn mean_s(&self) -> f64 {
        if self.count() == 0 { f64::NAN } else { self.sum_ns as f64 / self.count() as f64 / 1e9 }
    }

    /// The `q` quantile (0..=1) in seconds; NaN when empty.
    pub fn quantile_s(&self, q: f64) -> f64 {
        if self.count() == 0 { f64::NAN } else { self.histogram.value_at_quantile(q) as f64 / 1e9 }
    }

    /// The largest observation in seconds; NaN when empty.
    pub fn max_s(&self) -> f64 {
        if self.count() == 0 { f64::NAN } else { self.histogram.max() as f64 / 1e9 }
    }
}

/// The time integral of a step function (busy workers, queue length), for its time average.
/// Exact: integer nanoseconds times integer levels.
#[derive(Clone, Debug, Default)]
pub struct TimeIntegral {
    level: u64,
    since: SimTime,
    start: SimTime,
    /// Area since the very start, never restarted: windows take differences of it.
    lifetime: u128,
    /// The lifetime area at the last restart: the area since then is the difference. (One
    /// accumulator rather than two keeps a backend's hot fields smaller: issue 10.)
    restarted_at: u128,
}

impl TimeIntegral {
    /// The current level.
    #[inline]
    pub fn level(&self) -> u64 {
        self.level
    }

    /// Changes the level at `now`.
    #[inline]
    pub fn set(&mut self, now: SimTime, level: u64) {
        let delta = u128::from(self.level) * u128::from((now - self.since).as_nanos() as u64);
        self.lifetime += delta;
        self.since = now;
        self.level = level;
    }

    /// Raises the level by one at `now`.
    #[inline]
    pub fn increment(&mut self, now: SimTime) {
        self.set(now, self.level + 1);
    }

    /// Lowers the level by one at `now`.
    #[inline]
    pub fn decrement(&mut self, now: SimTime) {
        self.set(now, self.level.saturating_sub(1));
    }

    /// Forgets the area so far: averages are taken from `now` on (end of warm-up).
    pub fn restart(&mut self, now: SimTime) {
        self.set(now, self.level);
        self.restarted_at = self.lifetime;
        self.start = now;
    }

    /// The time-averaged level from the last restart to `now`; NaN over an empty interval.
    pub fn mean(&mut self, now: SimTime) -> f64 {
        self.set(now, self.level);
        let span = (now - self.start).as_nanos();
        let area = self.lifetime - self.restarted_at;
        if span == 0 { f64::NAN } else { area as f64 / span as f64 }
    }

    /// The area [level·ns] from the start of the run to `now`, never restarted: the average
    /// over a window is the difference of two readings over the window's length.
    pub fn lifetime_area(&mut self, now: SimTime) -> u128 {
        self.set(now, self.level);
        self.lifetime
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_integral_averages_a_step_function_after_restart() {
        let mut t = TimeIntegral::default();
        t.set(SimTime(0), 7);
        t.restart(SimTime(10));
        t.set(SimTime(20), 1);
        t.set(SimTime(30), 3);
        // level 7 over [10, 20), 1 over [20, 30), 3 over [30, 40): (70 + 10 + 30) / 30
        assert!((t.mean(SimTime(40)) - 110.0 / 30.0).abs() < 1e-12);
    }

    #[test]
    fn latency_mean_is_exact_and_percentiles_within_a_tenth_of_a_percent() {
        let mut l = Latency::default();
        for ms in 1..=1000 {
            l.record(Duration::from_millis(ms));
        }
        assert!((l.mean_s() - 0.5005).abs() < 1e-12);
        assert!((l.quantile_s(0.99) - 0.990).abs() < 0.001 * 0.990);
        assert!((l.max_s() - 1.0).abs() < 0.001);
        assert!(Latency::default().mean_s().is_nan());
    }
}
