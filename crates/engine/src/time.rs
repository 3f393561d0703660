//! Simulated time: integer nanoseconds since the start of a run.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};
use std::time::Duration;

/// A point in simulated time, in nanoseconds since the start of the run.
///
/// Time is an integer so that event ordering never depends on floating-point rounding.
/// `u64` nanoseconds cover about 584 years. Spans between instants are
/// [`std::time::Duration`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(pub u64);

impl SimTime {
    /// The start of every run.
    pub const ZERO: SimTime = SimTime(0);
    /// The latest representable instant; adding to it saturates here.
    pub const MAX: SimTime = SimTime(u64::MAX);

    /// The instant `nanos` nanoseconds after the start.
    pub const fn from_nanos(nanos: u64) -> SimTime {
        SimTime(nanos)
    }

    /// Nanoseconds since the start.
    pub const fn as_nanos(self) -> u64 {
        self.0
    }

    /// Seconds since the start, as `f64` (for reporting, never for ordering).
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / 1e9
    }

    /// The instant `span` after `self`, saturating at [`SimTime::MAX`].
    pub fn saturating_add(self, span: Duration) -> SimTime {
        SimTime(self.0.saturating_add(duration_nanos(span)))
    }

    /// The span from `earlier` to `self`, or zero if `earlier` is later.
    pub fn saturating_since(self, earlier: SimTime) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for SimTime {
    type Output = SimTime;
    /// Saturates at [`SimTime::MAX`]: a span too long to represent never wraps around.
    fn add(self, span: Duration) -> SimTime {
        self.saturating_add(span)
    }
}

impl AddAssign<Duration> for SimTime {
    fn add_assign(&mut self, span: Duration) {
        *self = *self + span;
    }
}

impl Sub for SimTime {
    type Output = Duration;
    /// Saturates at zero when `rhs` is later than `self`.
    fn sub(self, rhs: SimTime) -> Duration {
        self.saturating_since(rhs)
    }
}

impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.9}s", self.as_secs_f64())
    }
}

impl From<Duration> for SimTime {
    /// The instant `span` after the start, saturating at [`SimTime::MAX`].
    fn from(span: Duration) -> SimTime {
        SimTime(duration_nanos(span))
    }
}

/// Whole nanoseconds in `span`, saturating at `u64::MAX`.
pub fn duration_nanos(span: Duration) -> u64 {
    u64::try_from(span.as_nanos()).unwrap_or(u64::MAX)
}

/// The longest span the clock can count: `u64::MAX` nanoseconds (about 584 years). Longer
/// spans saturate here, and an instant this far out is [`SimTime::MAX`], which no run reaches
/// (see [`Simulation::run_until`](crate::Simulation::run_until)).
pub const MAX_SPAN: Duration = Duration::from_nanos(u64::MAX);

/// A number of seconds that cannot become a span of simulated time.
#[derive(Clone, Copy, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SpanError {
    /// The value was NaN: the distribution or its parameters are broken.
    #[error("sampled span is NaN")]
    NaN,
    /// The value was negative: time cannot run backwards.
    #[error("sampled span is negative ({0} s)")]
    Negative(f64),
}

/// NaN and negative seconds are errors; the rest may become a span.
fn checked(secs: f64) -> Result<f64, SpanError> {
    if secs.is_nan() {
        Err(SpanError::NaN)
    } else if secs < 0.0 {
        Err(SpanError::Negative(secs))
    } else {
        Ok(secs)
    }
}

/// Converts sampled `f64` seconds into a [`Duration`]: the one checked place where sampled
/// floating point enters simulated time.
///
/// NaN and negative values are errors, so they never reach the event queue. Values too large
/// to represent (including +infinity) saturate at [`MAX_SPAN`]. The result is `secs × 10⁹`
/// rounded to the nearest nanosecond.
pub fn span_from_secs(secs: f64) -> Result<Duration, SpanError> {
    Ok(Duration::from_nanos(round_to_u64(checked(secs)? * 1e9)))
}

/// `x.round() as u64` for `x ≥ 0` (halves away from zero; saturating, +infinity included),
/// without `f64::round`, which on the default x86-64 target (no SSE4.1) is an out-of-line
/// software routine: 3% of the M/M/1 bench's instructions (BENCHMARKS.md, issue 10). `as`
/// truncates; below 2⁵³ the fraction `x − ⌊x⌋` is exact, and from 2⁵³ on every `f64` is a
/// whole number. Same results as `round` for every input (tested).
#[inline]
fn round_to_u64(x: f64) -> u64 {
    if x < 9_007_199_254_740_992.0 {
        // Below 2⁵³ (every sampled span): through `i64`, whose conversions are one instruction
        // each way on x86-64, where `u64`'s take a dozen.
        let whole = x as i64;
        // Without a branch: whether the fraction rounds up is a coin flip, and a branch on it
        // costs a misprediction every other sample (cachegrind's branch simulation).
        whole as u64 + (x - whole as f64 >= 0.5) as u64
    } else {
        // A whole number already; `as` saturates past `u64::MAX`, +infinity included.
        x as u64
    }
}

/// Converts computed `f64` seconds (a scaled span, a point found on a rate curve) into a
/// [`Duration`], saturating: the checked replacement for [`Duration::from_secs_f64`], which
/// panics past `u64::MAX` seconds.
///
/// NaN and negative values are errors. Values too large (including +infinity) saturate at
/// [`MAX_SPAN`]. Below that the result is exactly what `Duration::from_secs_f64` gives (the
/// exact value rounded to the nearest nanosecond), so switching to it changes no result.
/// (It rounds the exact value, where [`span_from_secs`] rounds `secs × 10⁹`; the two differ by
/// a nanosecond in rare cases, and each call site keeps the rounding its results were made
/// with.)
///
/// ```
/// use std::time::Duration;
/// use stacksim_engine::{MAX_SPAN, saturating_span};
///
/// assert_eq!(saturating_span(0.25), Ok(Duration::from_millis(250)));
/// assert_eq!(saturating_span(1e300), Ok(MAX_SPAN));
/// assert!(saturating_span(f64::NAN).is_err());
/// ```
pub fn saturating_span(secs: f64) -> Result<Duration, SpanError> {
    let secs = checked(secs)?;
    // An error here is an overflow (NaN and negatives were refused above).
    Ok(Duration::try_from_secs_f64(secs).map_or(MAX_SPAN, |span| span.min(MAX_SPAN)))
}

/// `span × factor`, saturating at [`MAX_SPAN`]: the checked replacement for
/// [`Duration::mul_f64`], which panics when the product passes `u64::MAX` seconds (a
/// slow-down by `1e22`, a degradation slope of `1e308`).
///
/// Below [`MAX_SPAN`] the result is exactly `span.mul_f64(factor)`. A zero span stays zero
/// whatever the factor (even an infinite one); a NaN or negative factor is an error.
///
/// ```
/// use std::time::Duration;
/// use stacksim_engine::{MAX_SPAN, scale_span};
///
/// let work = Duration::from_millis(80);
/// assert_eq!(scale_span(work, 1.5), Ok(work.mul_f64(1.5)));
/// assert_eq!(scale_span(work, 1e22), Ok(MAX_SPAN));
/// assert_eq!(scale_span(Duration::ZERO, f64::INFINITY), Ok(Duration::ZERO));
/// ```
pub fn scale_span(span: Duration, factor: f64) -> Result<Duration, SpanError> {
    if span.is_zero() {
        return checked(factor).map(|_| Duration::ZERO);
    }
    saturating_span(checked(factor)? * span.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn span_from_secs_rejects_nan_and_negative() {
        assert_eq!(span_from_secs(f64::NAN), Err(SpanError::NaN));
        assert_eq!(span_from_secs(-0.5), Err(SpanError::Negative(-0.5)));
    }

    #[test]
    fn span_from_secs_rounds_to_nanoseconds_and_saturates() {
        assert_eq!(span_from_secs(1.5), Ok(Duration::from_millis(1500)));
        assert_eq!(span_from_secs(1e-10), Ok(Duration::ZERO));
        assert_eq!(span_from_secs(f64::INFINITY), Ok(Duration::from_nanos(u64::MAX)));
        assert_eq!(span_from_secs(1e30), Ok(Duration::from_nanos(u64::MAX)));
    }

    #[test]
    fn saturating_conversions_agree_with_std_below_the_limit_and_saturate_above() {
        for secs in [0.0, 1e-10, 0.999e-9, 0.1, 1.5, 12_345.678_901_234, 1.8e10] {
            assert_eq!(saturating_span(secs), Ok(Duration::from_secs_f64(secs)), "{secs}");
        }
        for secs in [1.9e10, 1e19, 1e300, f64::INFINITY] {
            assert_eq!(saturating_span(secs), Ok(MAX_SPAN), "{secs}");
        }
        assert_eq!(saturating_span(f64::NAN), Err(SpanError::NaN));
        assert_eq!(saturating_span(-1.0), Err(SpanError::Negative(-1.0)));
        let work = Duration::from_nanos(80_000_123);
        for factor in [0.0, 0.5, 1.0, 3.7, 1e3, 1e9] {
            assert_eq!(scale_span(work, factor), Ok(work.mul_f64(factor)), "{factor}");
        }
        for factor in [1e22, 1e308, f64::INFINITY] {
            assert_eq!(scale_span(work, factor), Ok(MAX_SPAN), "{factor}");
        }
        assert_eq!(scale_span(Duration::ZERO, f64::INFINITY), Ok(Duration::ZERO));
        assert_eq!(scale_span(work, f64::NAN), Err(SpanError::NaN));
        assert_eq!(SimTime::ZERO + MAX_SPAN, SimTime::MAX);
    }

    #[test]
    fn rounding_to_nanoseconds_agrees_with_f64_round() {
        let mut state = 1_u64;
        let mut cases = vec![0.0, -0.0, 0.5, 1.5, 2.5, 0.49999999999999994, 4_503_599_627_370_495.5];
        cases.extend([9_007_199_254_740_991.0, 9_007_199_254_740_992.0, 1.8e19, 1.9e19, f64::MAX]);
        for _ in 0..100_000 {
            state = crate::rng::splitmix64(state);
            let x = f64::from_bits(state >> 2); // every non-negative finite double and more
            cases.push(x);
            cases.push((state % 1_000_000) as f64 / 2.0); // halves
            cases.push((state % (1 << 40)) as f64 * 1e-3);
        }
        for x in cases.into_iter().filter(|x| !x.is_nan() && *x >= 0.0) {
            assert_eq!(round_to_u64(x), x.round() as u64, "{x:e}");
        }
    }

    #[test]
    fn adding_saturates_instead_of_wrapping() {
        assert_eq!(SimTime::MAX + Duration::from_secs(1), SimTime::MAX);
        assert_eq!(SimTime(5) - SimTime(9), Duration::ZERO);
        assert_eq!(SimTime(9) - SimTime(5), Duration::from_nanos(4));
    }
}
