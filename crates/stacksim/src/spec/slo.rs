//! `slo:` in an experiment file (and `stacksim capacity --slo`): objectives like `p99<250ms`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::metric::{Metric, Unit};
use crate::report::VariantReport;
use crate::stats::Estimate;

/// One objective: a metric kept below a limit, like `p99<250ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// The report metric, like [`Metric::ResponseTimeP99`].
    pub metric: Metric,
    /// Its limit, in the metric's unit (seconds or a ratio).
    pub limit: f64,
}

impl Objective {
    /// Whether `estimate` meets the objective with 95% confidence: the upper end of its
    /// interval is within the limit. A metric with no value (no successful request) does not.
    pub fn met_by(&self, estimate: Estimate) -> bool {
        let upper = estimate.mean + if estimate.ci95.is_finite() { estimate.ci95 } else { 0.0 };
        estimate.mean.is_finite() && upper <= self.limit
    }
}

/// A service-level objective: every objective must hold. In an experiment file it is written
/// as text, `slo: "p99<250ms,errors<0.1%"`.
///
/// Written as comma-separated `NAME<LIMIT`: `mean`, `p50`, `p90`, `p99`, `p999` take a
/// duration (`250ms`, `1.5s`); `errors`, `rejected`, `timeouts` take a ratio or a percentage
/// (`0.001`, `0.1%`).
///
/// ```
/// use stacksim::Metric;
/// use stacksim::spec::{Slo, SloError};
///
/// let slo: Slo = "p99<250ms,errors<0.1%".parse().unwrap();
/// assert_eq!(slo.objectives[0].metric, Metric::ResponseTimeP99);
/// assert_eq!(slo.objectives[0].limit, 0.25);
/// assert_eq!(slo.objectives[1].metric, Metric::ErrorRatio);
/// assert!((slo.objectives[1].limit - 0.001).abs() < 1e-12);
/// assert!(matches!("p98<1s".parse::<Slo>(), Err(SloError::UnknownObjective { .. })));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slo {
    /// The objectives.
    pub objectives: Vec<Objective>,
}

/// What an objective may name, and the metric it stands for.
const OBJECTIVES: [(&str, Metric); 8] = [
    ("mean", Metric::ResponseTimeMean),
    ("p50", Metric::ResponseTimeP50),
    ("p90", Metric::ResponseTimeP90),
    ("p99", Metric::ResponseTimeP99),
    ("p999", Metric::ResponseTimeP999),
    ("errors", Metric::ErrorRatio),
    ("rejected", Metric::RejectedRatio),
    ("timeouts", Metric::TimedOutRatio),
];

/// `mean, p50, p90, p99, p999, errors, rejected, timeouts`.
fn names() -> String {
    OBJECTIVES.iter().map(|(name, _)| *name).collect::<Vec<_>>().join(", ")
}

/// Why SLO text could not be read. Each message says what would be valid.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SloError {
    /// The text holds no objective (it is empty, or only commas).
    #[error("the SLO is empty: give objectives like p99<250ms,errors<0.1%")]
    Empty,
    /// A comma-separated part is not of the form `NAME<LIMIT`.
    #[error("cannot read objective {objective:?}: write NAME<LIMIT, like p99<250ms or errors<0.1%")]
    NotAnObjective {
        /// The part, as written.
        objective: String,
    },
    /// `NAME` is none of `mean`, `p50`, `p90`, `p99`, `p999`, `errors`, `rejected`, `timeouts`.
    #[error("unknown objective {name:?}; use one of {}", names())]
    UnknownObjective {
        /// The name, as written.
        name: String,
    },
    /// A response-time objective's limit is not a duration like `250ms`.
    #[error("{name}: {limit:?} is not a duration like 250ms ({reason})")]
    NotADuration {
        /// The objective's name.
        name: String,
        /// The limit, as written.
        limit: String,
        /// Why it is not a duration (part of the message, so not a separate source).
        reason: humantime::DurationError,
    },
    /// A ratio objective's limit is neither a number like `0.001` nor a percentage like `0.1%`.
    #[error("{name}: {limit:?} is not a ratio like 0.001 or 0.1%")]
    NotARatio {
        /// The objective's name.
        name: String,
        /// The limit, as written.
        limit: String,
    },
}

impl FromStr for Slo {
    type Err = SloError;
    fn from_str(text: &str) -> Result<Slo, SloError> {
        let objectives = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(objective)
            .collect::<Result<Vec<_>, _>>()?;
        if objectives.is_empty() {
            return Err(SloError::Empty);
        }
        Ok(Slo { objectives })
    }
}

/// One `NAME<LIMIT` (`<=` reads the same).
fn objective(part: &str) -> Result<Objective, SloError> {
    let (name, limit) =
        part.split_once('<').ok_or_else(|| SloError::NotAnObjective { objective: part.to_owned() })?;
    let (name, limit) = (name.trim(), limit.trim_start_matches('=').trim());
    let Some((_, metric)) = OBJECTIVES.iter().find(|(n, _)| *n == name) else {
        return Err(SloError::UnknownObjective { name: name.to_owned() });
    };
    let limit = match metric.unit() {
        Unit::Seconds => humantime::parse_duration(limit)
            .map_err(|reason| SloError::NotADuration {
                name: name.to_owned(),
                limit: limit.to_owned(),
                reason,
            })?
            .as_secs_f64(),
        _ => match limit.strip_suffix('%') {
            Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
            None => limit.parse::<f64>(),
        }
        .map_err(|_| SloError::NotARatio { name: name.to_owned(), limit: limit.to_owned() })?,
    };
    Ok(Objective { metric: metric.clone(), limit })
}

impl TryFrom<String> for Slo {
    type Error = SloError;
    fn try_from(text: String) -> Result<Slo, SloError> {
        text.parse()
    }
}

impl From<Slo> for String {
    fn from(slo: Slo) -> String {
        slo.to_string()
    }
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .objectives
            .iter()
            .map(|o| match OBJECTIVES.iter().find(|(_, m)| *m == o.metric) {
                Some((name, m)) if m.unit() == Unit::Seconds => format!(
                    "{name}<{}",
                    crate::metric::readable_duration(
                        stacksim_engine::saturating_span(o.limit.max(0.0)).unwrap_or_default()
                    )
                ),
                Some((name, _)) => format!("{name}<{}%", o.limit * 100.0),
                None => format!("{}<{}", o.metric, o.limit),
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Slo {
    /// Whether `variant` meets every objective with 95% confidence (see [`Objective::met_by`]).
    pub fn met_by(&self, variant: &VariantReport) -> bool {
        self.objectives.iter().all(|o| o.met_by(variant.metric(&o.metric)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_text_round_trips_into_objectives() {
        let slo: Slo = "mean<2s, p999 < 1.5s ,rejected<1%".parse().unwrap();
        assert_eq!(slo.objectives.len(), 3);
        assert_eq!(slo.objectives[1], Objective { metric: Metric::ResponseTimeP999, limit: 1.5 });
        assert_eq!(slo.to_string(), "mean<2s,p999<1s 500ms,rejected<1%");
    }

    #[test]
    fn each_mistake_has_its_error_and_says_what_would_be_valid() {
        let err = |text: &str| text.parse::<Slo>().unwrap_err();
        assert_eq!(err("p98<1s"), SloError::UnknownObjective { name: "p98".into() });
        assert!(err("p98<1s").to_string().contains("p99"), "{}", err("p98<1s"));
        assert_eq!(err("p99>1s"), SloError::NotAnObjective { objective: "p99>1s".into() });
        assert_eq!(err("errors<lots"), SloError::NotARatio { name: "errors".into(), limit: "lots".into() });
        assert!(matches!(err("p99<soon"), SloError::NotADuration { .. }));
        assert!(err("p99<soon").to_string().starts_with(r#"p99: "soon" is not a duration like 250ms ("#));
        assert_eq!(err(""), SloError::Empty);
        assert_eq!(err(" , "), SloError::Empty);
    }

    #[test]
    fn an_interval_that_reaches_past_the_limit_misses() {
        let p99 = Objective { metric: Metric::ResponseTimeP99, limit: 0.25 };
        assert!(p99.met_by(Estimate { mean: 0.2, ci95: 0.05 }));
        assert!(!p99.met_by(Estimate { mean: 0.2, ci95: 0.051 }));
        assert!(p99.met_by(Estimate { mean: 0.25, ci95: f64::NAN }), "one replication: no interval");
        assert!(!p99.met_by(Estimate::NONE), "no value");
    }
}
