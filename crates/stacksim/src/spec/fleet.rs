//! Fleet dynamics in experiment files: `autoscale: Hpa(...)`, pod lifecycle times, and the
//! amounts of a rolling deploy (`max_surge: "25%"`, `max_unavailable: 0`).
//!
//! The model's semantics and their Kubernetes sources are in `stacksim_model::fleet`.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::HumanDuration;

/// A group's autoscaler.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum AutoscaleSpec {
    /// The Kubernetes Horizontal Pod Autoscaler, with Kubernetes' defaults.
    Hpa {
        /// What it tracks.
        metric: HpaMetricSpec,
        /// Per-pod value to aim for (`Utilization`: a fraction of the workers, like 0.75).
        target: f64,
        /// Fewest replicas. Default: 1.
        #[serde(default = "one")]
        min: u32,
        /// Most replicas.
        max: u32,
        /// Time between evaluations. Default: 15s.
        #[serde(default = "fifteen_seconds")]
        sync: HumanDuration,
        /// No change while the metric is within this fraction of the target. Default: 0.1.
        #[serde(default = "default_tolerance")]
        tolerance: f64,
        /// Scale-down uses the highest recommendation over this window. Default: 5m.
        #[serde(default = "five_minutes")]
        scale_down_window: HumanDuration,
        /// Scale-up limits. Default: (percent: 100, pods: 4, period: "15s").
        #[serde(default)]
        scale_up: ScaleUpSpec,
        /// Scale-down limit. Default: (percent: 100, period: "15s").
        #[serde(default)]
        scale_down: ScaleDownSpec,
    },
}

/// The metric an autoscaler tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum HpaMetricSpec {
    /// Busy workers over workers, averaged over the last sync period.
    Utilization,
    /// Requests at a pod (served or queued).
    InFlightPerPod,
    /// Requests routed to a pod per second over the last sync period.
    RequestsPerSecondPerPod,
}

/// Per period, scale up by at most the larger of `percent` and `pods`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleUpSpec {
    /// Percent of the replicas at the period's start. Default: 100.
    #[serde(default = "hundred")]
    pub percent: u32,
    /// Pods. Default: 4.
    #[serde(default = "four")]
    pub pods: u32,
    /// The period. Default: 15s.
    #[serde(default = "fifteen_seconds")]
    pub period: HumanDuration,
}

impl Default for ScaleUpSpec {
    fn default() -> Self {
        ScaleUpSpec { percent: 100, pods: 4, period: fifteen_seconds() }
    }
}

/// Per period, scale down by at most `percent`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScaleDownSpec {
    /// Percent of the replicas at the period's start. Default: 100.
    #[serde(default = "hundred")]
    pub percent: u32,
    /// The period. Default: 15s.
    #[serde(default = "fifteen_seconds")]
    pub period: HumanDuration,
}

impl Default for ScaleDownSpec {
    fn default() -> Self {
        ScaleDownSpec { percent: 100, period: fifteen_seconds() }
    }
}

fn one() -> u32 {
    1
}
fn four() -> u32 {
    4
}
fn hundred() -> u32 {
    100
}
fn default_tolerance() -> f64 {
    0.1
}
fn fifteen_seconds() -> HumanDuration {
    HumanDuration(Duration::from_secs(15))
}
fn five_minutes() -> HumanDuration {
    HumanDuration(Duration::from_secs(300))
}

/// A number of pods (`2`) or a percentage of the replicas (`"25%"`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AmountSpec {
    /// Pods.
    Count(u32),
    /// Percent of the replicas.
    Percent(u32),
}

impl AmountSpec {
    /// Kubernetes' default for both `maxSurge` and `maxUnavailable`: 25%.
    pub fn quarter() -> Self {
        AmountSpec::Percent(25)
    }
}

impl fmt::Display for AmountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AmountSpec::Count(n) => write!(f, "{n}"),
            AmountSpec::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for AmountSpec {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            AmountSpec::Count(n) => serializer.serialize_u32(*n),
            AmountSpec::Percent(_) => serializer.serialize_str(&self.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for AmountSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = AmountSpec;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number of pods, like 1, or a percentage of the replicas, like \"25%\"")
            }
            fn visit_u64<E: serde::de::Error>(self, n: u64) -> Result<AmountSpec, E> {
                u32::try_from(n)
                    .map(AmountSpec::Count)
                    .map_err(|_| E::custom(format!("{n} pods is too many")))
            }
            fn visit_i64<E: serde::de::Error>(self, n: i64) -> Result<AmountSpec, E> {
                u64::try_from(n)
                    .map_err(|_| E::custom(format!("a count of pods is at least 0, not {n}")))
                    .and_then(|n| self.visit_u64(n))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<AmountSpec, E> {
                let bad = || {
                    E::custom(format!(
                        "{s:?} is no amount: give pods, like \"2\", or a percentage, like \"25%\""
                    ))
                };
                match s.trim().strip_suffix('%') {
                    Some(p) => p.trim().parse().map(AmountSpec::Percent).map_err(|_| bad()),
                    None => s.trim().parse().map(AmountSpec::Count).map_err(|_| bad()),
                }
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl From<AmountSpec> for stacksim_model::Amount {
    fn from(a: AmountSpec) -> Self {
        match a {
            AmountSpec::Count(n) => stacksim_model::Amount::Count(n),
            AmountSpec::Percent(p) => stacksim_model::Amount::Percent(p),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_counts_or_percentages() {
        let read = |s: &str| ron::from_str::<AmountSpec>(s);
        assert_eq!(read("0").unwrap(), AmountSpec::Count(0));
        assert_eq!(read("\"25%\"").unwrap(), AmountSpec::Percent(25));
        assert_eq!(read("\"3\"").unwrap(), AmountSpec::Count(3));
        assert!(read("\"lots\"").is_err());
        assert!(read("-1").is_err());
    }

    #[test]
    fn an_hpa_reads_with_kubernetes_defaults() {
        let hpa: AutoscaleSpec = ron::from_str("Hpa(metric: Utilization, target: 0.75, max: 40)").unwrap();
        let AutoscaleSpec::Hpa { min, sync, tolerance, scale_down_window, scale_up, scale_down, .. } = hpa;
        assert_eq!(
            (min, sync.0, tolerance, scale_down_window.0),
            (1, Duration::from_secs(15), 0.1, Duration::from_secs(300))
        );
        assert_eq!((scale_up.percent, scale_up.pods, scale_down.percent), (100, 4, 100));
    }
}
