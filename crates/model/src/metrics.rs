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
///
/// It is two parts: the `Area` every level change updates, and the `Mark` of the last
/// restart, read only at the end of warm-up and by reports. A type that keeps integrals on its
/// hot path may keep the parts apart, so that its hot fields share fewer cache lines: a
/// backend keeps its two levels' sums with `record_change` and `area` in one line, and its
/// marks elsewhere (issue 10).
#[derive(Clone, Debug, Default)]
pub struct TimeIntegral {
    area: Area,
    mark: Mark,
}

impl TimeIntegral {
    /// The current level.
    #[inline]
    pub fn level(&self) -> u64 {
        self.area.level()
    }

    /// Changes the level at `now`.
    #[inline]
    pub fn set(&mut self, now: SimTime, level: u64) {
        self.area.set(now, level);
    }

    /// Raises the level by one at `now`.
    #[inline]
    pub fn increment(&mut self, now: SimTime) {
        self.area.increment(now);
    }

    /// Lowers the level by one at `now`.
    #[inline]
    pub fn decrement(&mut self, now: SimTime) {
        self.area.decrement(now);
    }

    /// Forgets the area so far: averages are taken from `now` on (end of warm-up).
    pub fn restart(&mut self, now: SimTime) {
        self.mark.restart(self.area.lifetime_area(now), now);
    }

    /// The time-averaged level from the last restart to `now`; NaN over an empty interval.
    pub fn mean(&self, now: SimTime) -> f64 {
        self.mark.mean(self.area.lifetime_area(now), now)
    }

    /// The area [level·ns] from the start of the run to `now`, never restarted: the average
    /// over a window is the difference of two readings over the window's length.
    pub fn lifetime_area(&self, now: SimTime) -> u128 {
        self.area.lifetime_area(now)
    }
}

/// The running part of a [`TimeIntegral`]: the area under a step function that is 0 at time
/// 0, kept without a multiplication per change.
///
/// The area to `now` is `level(now) · now − Σ tᵢ·Δᵢ` over the changes so far (change `i` at
/// `tᵢ` by `Δᵢ`), so each change adds `tᵢ·Δᵢ` to one sum (for a step of one, adds or
/// subtracts `tᵢ`), and nothing records when the level last changed. The sum is kept modulo
/// 2¹²⁸ (wrapping): the area itself is below 2¹²⁸, so the difference is exact.
#[derive(Clone, Debug, Default)]
pub(crate) struct Area {
    /// Σ tᵢ·Δᵢ [level·ns], modulo 2¹²⁸.
    changes: u128,
    level: u64,
}

impl Area {
    /// The current level.
    #[inline]
    pub fn level(&self) -> u64 {
        self.level
    }

    /// Changes the level at `now`.
    #[inline]
    pub fn set(&mut self, now: SimTime, level: u64) {
        record_change(&mut self.changes, now, u128::from(level).wrapping_sub(u128::from(self.level)));
        self.level = level;
    }

    /// Raises the level by one at `now`.
    #[inline]
    pub fn increment(&mut self, now: SimTime) {
        record_change(&mut self.changes, now, 1);
        self.level += 1;
    }

    /// Lowers the level by one at `now` (not below zero).
    #[inline]
    pub fn decrement(&mut self, now: SimTime) {
        if self.level > 0 {
            record_change(&mut self.changes, now, FALL);
            self.level -= 1;
        }
    }

    /// The area [level·ns] from the start of the run to `now`.
    pub fn lifetime_area(&self, now: SimTime) -> u128 {
        area(self.level, self.changes, now)
    }
}

/// A change of one, down, as [`record_change`] takes it: −1 modulo 2¹²⁸.
pub(crate) const FALL: u128 = u128::MAX;

/// Adds a change by `delta` at `now` (modulo 2¹²⁸: [`FALL`] for −1) to `changes`, a step
/// function's sum of change times (see [`Area`]). A change of ±1 compiles to an add or a
/// subtract of `now`.
#[inline]
pub(crate) fn record_change(changes: &mut u128, now: SimTime, delta: u128) {
    *changes = changes.wrapping_add(u128::from(now.0).wrapping_mul(delta));
}

/// The area to `now` under a step function now at `level`, whose changes sum to `changes`
/// (see [`Area`]).
#[inline]
pub(crate) fn area(level: u64, changes: u128, now: SimTime) -> u128 {
    u128::from(level).wrapping_mul(u128::from(now.0)).wrapping_sub(changes)
}

/// The restart of a time integral: when its averages begin, and its lifetime area then.
#[derive(Clone, Debug, Default)]
pub(crate) struct Mark {
    /// The lifetime area at the last restart: the area since then is the difference. (One
    /// accumulator rather than two keeps a backend's hot fields smaller: issue 10.)
    restarted_at: u128,
    start: SimTime,
}

impl Mark {
    /// Forgets the area so far, `lifetime` at `now`: averages are taken from `now` on (end of
    /// warm-up).
    pub fn restart(&mut self, lifetime: u128, now: SimTime) {
        self.restarted_at = lifetime;
        self.start = now;
    }

    /// The time-averaged level from the last restart to `now`, where the lifetime area is
    /// `lifetime`; NaN over an empty interval.
    pub fn mean(&self, lifetime: u128, now: SimTime) -> f64 {
        let span = (now - self.start).as_nanos();
        let area = lifetime - self.restarted_at;
        if span == 0 { f64::NAN } else { area as f64 / span as f64 }
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

    proptest::proptest! {
        /// The area kept as a sum of change times equals the integral summed the plain way
        /// (level times the time since the last change), exactly, however large the times.
        #[test]
        fn area_is_the_integral(
            steps in proptest::collection::vec((0u64..u64::MAX / 400, 0u64..1_000_000, proptest::bool::ANY), 1..200),
        ) {
            let mut area = Area::default();
            let (mut now, mut level, mut plain) = (0_u64, 0_u64, 0_u128);
            for (dt, to, step) in steps {
                plain += u128::from(level) * u128::from(dt);
                now += dt;
                let at = SimTime(now);
                if step {
                    area.increment(at);
                    level += 1;
                } else {
                    area.set(at, to);
                    level = to;
                }
                proptest::prop_assert_eq!(area.lifetime_area(at), plain);
                area.decrement(at);
                level = level.saturating_sub(1);
                proptest::prop_assert_eq!(area.level(), level);
            }
        }
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
