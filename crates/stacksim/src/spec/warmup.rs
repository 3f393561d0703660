//! `warmup:` in an experiment file: a fixed span, or `"auto"`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::HumanDuration;

/// The warm-up of an experiment: a fixed span, or `"auto"` (MSER-5, see [`crate::warmup`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Warmup {
    /// Exclude this much from every statistic.
    Fixed(HumanDuration),
    /// Run once to choose the cut with MSER-5, then run with that warm-up; the cut is reported
    /// as the `warmup_s` metric.
    Auto,
}

impl From<std::time::Duration> for Warmup {
    fn from(warmup: std::time::Duration) -> Self {
        Warmup::Fixed(HumanDuration(warmup))
    }
}

impl Default for Warmup {
    fn default() -> Self {
        Warmup::Fixed(HumanDuration::default())
    }
}

impl Warmup {
    /// The fixed span, or zero for `Auto`.
    pub fn fixed(&self) -> Duration {
        match self {
            Warmup::Fixed(d) => d.0,
            Warmup::Auto => Duration::ZERO,
        }
    }
}

impl fmt::Display for Warmup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warmup::Fixed(d) => write!(f, "{d}"),
            Warmup::Auto => f.write_str("auto"),
        }
    }
}

impl Serialize for Warmup {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Warmup {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.trim() == "auto" {
            return Ok(Warmup::Auto);
        }
        text.parse::<HumanDuration>()
            .map(Warmup::Fixed)
            .map_err(|e| serde::de::Error::custom(format!("{e}, or \"auto\"")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_reads_auto_or_a_duration() {
        let read = |text: &str| ron::from_str::<Warmup>(text);
        assert_eq!(read("\"auto\"").unwrap(), Warmup::Auto);
        assert_eq!(read("\"5m\"").unwrap().fixed(), Duration::from_secs(300));
        assert!(read("\"soon\"").unwrap_err().to_string().contains(r#"or "auto""#));
    }
}
