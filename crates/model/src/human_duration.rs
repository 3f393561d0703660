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
/// # Ok::<(), String>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text).map(HumanDuration).map_err(|e| {
            format!("invalid duration {text:?} ({e}): write a number and a unit, like \"250ms\", \"90s\", \"5m\" or \"4h\"")
        })
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
