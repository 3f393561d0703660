//! Estimates as text, for the terminal table and the HTML report alike.
//!
//! Both follow one rule: four significant digits for the mean and the interval to the same
//! decimal place; times in s from a second up, in ms from a millisecond, else in µs; ratios in
//! percent. They differ only in details each output has always had, gathered in [`Style`].

use std::fmt;
use std::time::Duration;

use super::Unit;
use crate::stats::Estimate;

/// Where an estimate is shown. The two differ only in these details:
///
/// | detail | `Terminal` | `Html` |
/// |---|---|---|
/// | space before a unit | always: `0.0120 % ±0.0040` | before time units only: `0.01200%` |
/// | a mean of exactly 0 | no decimals, in µs: `0 µs`, `0 % ±0` | one decimal, in ms: `0.0 ms`, `0.0%` |
/// | a rate | one decimal, no interval: `319.8/s` | four significant digits: `319.8/s` ±0.6 |
/// | a plain number | three decimals: `1.250 ±0.002` | four significant digits: `1.250` ±0.002 |
/// | a missing value | `–` | `–` |
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    /// A terminal table (`stacksim run`).
    Terminal,
    /// The HTML report (`report.html`).
    Html,
}

/// An estimate as text: the mean with its unit, and what follows it, set smaller in HTML
/// (the interval `±1.4`, or for a time to detect `in 2/3 runs`). Displays as the terminal
/// shows it, `131.2 ms ±1.4`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shown {
    /// The mean and its unit: `131.2 ms`.
    pub value: String,
    /// What follows the value, if anything: `±1.4`.
    pub after: Option<String>,
}

impl Shown {
    /// A value alone.
    pub fn value(value: impl Into<String>) -> Shown {
        Shown { value: value.into(), after: None }
    }

    /// No value (no replication measured one): `–`.
    pub fn missing() -> Shown {
        Shown::value("–")
    }
}

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.after {
            Some(after) => write!(f, "{} {after}", self.value),
            None => f.write_str(&self.value),
        }
    }
}

/// `estimate`, in `unit`, as `style` shows it.
pub(crate) fn show(estimate: Estimate, unit: Unit, style: Style) -> Shown {
    let Estimate { mean, ci95 } = estimate;
    match (style, unit) {
        // The terminal's throughput column has always been one decimal, with no interval.
        (Style::Terminal, Unit::PerSecond) => return Shown::value(format!("{mean:.1}/s")),
        _ if !mean.is_finite() => return Shown::missing(),
        (Style::Terminal, Unit::Number) => {
            return Shown {
                value: format!("{mean:.3}"),
                after: ci95.is_finite().then(|| format!("±{ci95:.3}")),
            };
        }
        _ => {}
    }
    let (scale, unit) = match unit {
        Unit::Seconds => match (mean.abs(), style) {
            (x, _) if x >= 1.0 => (1.0, "s"),
            (x, _) if x >= 1e-3 => (1e3, "ms"),
            (0.0, Style::Html) => (1e3, "ms"),
            _ => (1e6, "µs"),
        },
        Unit::Ratio => (100.0, "%"),
        Unit::PerSecond => (1.0, "/s"),
        Unit::Count | Unit::Number => (1.0, ""),
    };
    let space = match (style, unit) {
        (_, "") => "",
        (Style::Terminal, _) | (Style::Html, "s" | "ms" | "µs") => " ",
        (Style::Html, _) => "",
    };
    let (mean, ci) = (mean * scale, ci95 * scale);
    let digits = if mean == 0.0 {
        match style {
            Style::Terminal => 0,
            Style::Html => 1,
        }
    } else {
        (3 - mean.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    Shown {
        value: format!("{mean:.digits$}{space}{unit}"),
        after: ci.is_finite().then(|| format!("±{ci:.digits$}")),
    }
}

/// A span of time for people: every unit that is not zero, largest first, days as `d`
/// (`11d 16h`, `1h 30m`, `2m`, `1s 500ms`, `250µs`, `0s`). Unlike `humantime`'s format, it
/// never writes months or years of uneven length, nor glues a word to its number (`11days`).
///
/// ```
/// use std::time::Duration;
/// use stacksim::metric::readable_duration;
///
/// assert_eq!(readable_duration(Duration::from_secs(1_008_000)), "11d 16h");
/// assert_eq!(readable_duration(Duration::from_secs(40 * 86_400)), "40d");
/// assert_eq!(readable_duration(Duration::from_millis(90_500)), "1m 30s 500ms");
/// ```
pub fn readable_duration(span: Duration) -> String {
    const UNITS: [(&str, u128); 7] = [
        ("d", 86_400_000_000_000),
        ("h", 3_600_000_000_000),
        ("m", 60_000_000_000),
        ("s", 1_000_000_000),
        ("ms", 1_000_000),
        ("µs", 1_000),
        ("ns", 1),
    ];
    let mut left = span.as_nanos();
    let mut parts = Vec::new();
    for (unit, nanos) in UNITS {
        let count = left / nanos;
        left %= nanos;
        if count > 0 {
            parts.push(format!("{count}{unit}"));
        }
    }
    if parts.is_empty() { "0s".to_owned() } else { parts.join(" ") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_write_them() {
        let secs = Duration::from_secs;
        assert_eq!(readable_duration(secs(0)), "0s");
        assert_eq!(readable_duration(secs(3600)), "1h");
        assert_eq!(readable_duration(secs(5400)), "1h 30m");
        assert_eq!(readable_duration(secs(86_400 + 3661)), "1d 1h 1m 1s");
        assert_eq!(readable_duration(secs(400 * 86_400)), "400d");
        assert_eq!(readable_duration(Duration::from_micros(250)), "250µs");
        assert_eq!(
            readable_duration(Duration::from_nanos(u64::MAX)),
            "213503d 23h 34m 33s 709ms 551µs 615ns"
        );
    }

    fn both(mean: f64, ci95: f64, unit: Unit) -> (String, String) {
        let e = Estimate { mean, ci95 };
        (show(e, unit, Style::Terminal).to_string(), show(e, unit, Style::Html).to_string())
    }

    #[test]
    fn four_significant_digits_and_the_interval_to_the_same_place() {
        assert_eq!(both(0.1312, 0.0014, Unit::Seconds), ("131.2 ms ±1.4".into(), "131.2 ms ±1.4".into()));
        assert_eq!(both(1.2, f64::NAN, Unit::Seconds), ("1.200 s".into(), "1.200 s".into()));
        assert_eq!(
            both(-0.0107, 0.0003, Unit::Seconds),
            ("-10.70 ms ±0.30".into(), "-10.70 ms ±0.30".into())
        );
        assert_eq!(both(2e-5, 1e-6, Unit::Seconds), ("20.00 µs ±1.00".into(), "20.00 µs ±1.00".into()));
        assert_eq!(
            both(0.00012, 0.00004, Unit::Ratio),
            ("0.01200 % ±0.00400".into(), "0.01200% ±0.00400".into())
        );
    }

    #[test]
    fn the_styles_differ_only_where_documented() {
        assert_eq!(both(0.0, 0.0, Unit::Seconds), ("0 µs ±0".into(), "0.0 ms ±0.0".into()));
        assert_eq!(both(0.0, 0.0, Unit::Ratio), ("0 % ±0".into(), "0.0% ±0.0".into()));
        assert_eq!(both(319.83, 0.6, Unit::PerSecond), ("319.8/s".into(), "319.8/s ±0.6".into()));
        assert_eq!(both(1.25, 0.002, Unit::Number), ("1.250 ±0.002".into(), "1.250 ±0.002".into()));
        assert_eq!(both(12.5, 0.25, Unit::Number), ("12.500 ±0.250".into(), "12.50 ±0.25".into()));
        assert_eq!(both(f64::NAN, f64::NAN, Unit::Seconds), ("–".into(), "–".into()));
    }
}
