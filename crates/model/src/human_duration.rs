//! Spans of time as experiment files write them: `"250ms"`, `"90s"`, `"4h"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A span of time written as text: `"250ms"`, `"90s"`, `"5m"`, `"4h"`, `"1h 30m"`.
///
/// Parsed with the `humantime` crate; units are `ns`, `us`, `ms`, `s`, `m`, `h`, `d`. It lives
/// here, beside the policies whose parameters use it (`PeakEwma(decay: "10s")`), and the
/// `stacksim` crate re-exports it as `stacksim::spec::HumanDuration`.
///
/// ```
/// use std::time::Duration;
/// use stacksim_model::HumanDuration;
///
/// let d: HumanDuration = "1h 30m".parse()?;
/// assert_eq!(d.0, Duration::from_secs(5400));
/// assert_eq!(d.to_string(), "1h 30m");
/// assert!("18446744074s".parse::<HumanDuration>().is_err(), "past the clock's 2^64 ns");
/// # Ok::<(), stacksim_model::DurationError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

/// Text that is not a span the simulator can count; the message says what would be valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DurationError {
    /// Not a span like `"250ms"`.
    #[error(
        "invalid duration {text:?} ({reason}): write a number and a unit, like \"250ms\", \"90s\", \"5m\" or \"4h\""
    )]
    Invalid {
        /// The text given.
        text: String,
        /// What the parser said.
        reason: String,
    },
    /// Longer than the simulator's clock ([`stacksim_engine::SimTime`], u64 nanoseconds) can
    /// count: about 584 years.
    #[error(
        "{text:?} is longer than the simulator's clock can count (about 584 years); simulate a shorter span"
    )]
    TooLong {
        /// The text given.
        text: String,
    },
}

/// `span`, written as `text`, if the simulator's clock can count it.
pub fn within_clock(text: &str, span: Duration) -> Result<Duration, DurationError> {
    if span.as_nanos() > u128::from(u64::MAX) {
        return Err(DurationError::TooLong { text: text.to_owned() });
    }
    Ok(span)
}

impl std::str::FromStr for HumanDuration {
    type Err = DurationError;
    fn from_str(text: &str) -> Result<Self, DurationError> {
        let span = humantime::parse_duration(text)
            .map_err(|e| DurationError::Invalid { text: text.to_owned(), reason: e.to_string() })?;
        within_clock(text, span).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}
