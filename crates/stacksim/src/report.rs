//! Reports: per-variant estimates with confidence intervals, and every run's raw values.

mod aggregate;
mod detection;
mod metrics;
mod record;
mod tables;

use std::borrow::Borrow;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::metric::{BackendMetric, ClassMetric, Metric, WindowMetric};
use crate::stats::{Estimate, nan_as_null};

pub use detection::Detection;
pub use metrics::{backend_metrics, class_metrics, run_metrics, topology_metrics, window_metrics};
pub use record::{BackendRecord, ClassRecord, RunRecord, VariantInfo};

/// Everything an experiment measured. Serializes to the JSON of `stacksim run --format json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The experiment's name.
    pub experiment: String,
    /// Its master seed.
    pub seed: u64,
    /// Index of the variant the others are compared with (`vs_baseline`).
    #[serde(default)]
    pub baseline: usize,
    /// One entry per variant, in sweep order.
    pub variants: Vec<VariantReport>,
    /// One entry per (variant, replication), variant-major.
    pub runs: Vec<RunReport>,
    /// Per variant, each window's metrics averaged over replications (with `observe`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeseries: Vec<Series>,
    /// What happened when: the experiment's timeline, for plots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
}

/// One variant's time series.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Index into `variants`.
    pub variant: usize,
    /// One map per window: [`WindowMetric`] name to its mean over replications (read with
    /// [`Series::value`]).
    pub windows: Vec<IndexMap<String, Reading>>,
}

/// The experiment's clock and timeline, as plots and tables show them.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TimelineReport {
    /// Wall-clock start of the run (RFC 3339), if the experiment gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Width of the time-series windows \[s\].
    pub window_s: f64,
    /// Each timeline entry: when (seconds from the start) and what.
    pub marks: Vec<Mark>,
    /// Alert rules, and where detection is measured from \[s from the start\].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<String>,
}

/// A timeline entry on a plot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mark {
    /// Seconds from the start of the run.
    pub at_s: f64,
    /// What happened.
    pub label: String,
}

/// A variant's metrics, each a mean over replications with a 95% confidence interval.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantReport {
    /// `name=value` of its swept parameters.
    pub label: String,
    /// Its parameters.
    pub params: IndexMap<String, Value>,
    /// Replications run.
    pub replications: u32,
    /// Of those, runs that `--max-events` stopped before the end of their simulated time (see
    /// [`RunReport::truncated`]); absent when none was.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub truncated_runs: u32,
    /// Whole-stack metrics by [`Metric`] name, in report order (read with
    /// [`VariantReport::metric`]).
    pub metrics: IndexMap<String, Estimate>,
    /// Per-backend metrics, in balancer order.
    pub backends: Vec<BackendReport>,
    /// Per request class, client by client (when the stack has request classes or priority
    /// shedding); absent otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassReport>,
    /// For each metric, this variant minus the baseline, paired by replication: both ran on
    /// the same seeds and so saw the same traffic, which makes this interval much narrower
    /// than comparing the two variants' own intervals. Empty for the baseline itself. Read
    /// with [`VariantReport::difference`].
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub vs_baseline: IndexMap<String, Estimate>,
}

/// One backend's metrics within a variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendReport {
    /// Backend name.
    pub name: String,
    /// Its metrics by [`BackendMetric`] name (read with [`BackendReport::metric`]).
    pub metrics: IndexMap<String, Estimate>,
}

/// One request class's metrics within a variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassReport {
    /// Class name (`default` for a client that declares none).
    pub name: String,
    /// Its client's name.
    pub client: String,
    /// Its priority: `Low`, `Normal`, `High` or `Critical`.
    pub priority: String,
    /// Its metrics by [`ClassMetric`] name (read with [`ClassReport::metric`]).
    pub metrics: IndexMap<String, Estimate>,
}

impl ClassReport {
    /// `metric` over the variant's replications; both NaN when the report has no such metric.
    pub fn metric(&self, metric: ClassMetric) -> Estimate {
        self.metrics.get(metric.name()).copied().unwrap_or(Estimate::NONE)
    }
}

impl VariantReport {
    /// The request class `name` of client `client`, if the variant has it.
    pub fn class(&self, client: &str, name: &str) -> Option<&ClassReport> {
        self.classes.iter().find(|c| c.client == client && c.name == name)
    }

    /// `metric` over the variant's replications: its mean and 95% interval; both NaN when the
    /// report has no such metric (an alert rule the experiment does not declare).
    pub fn metric(&self, metric: impl Borrow<Metric>) -> Estimate {
        self.metrics.get(metric.borrow().name().as_ref()).copied().unwrap_or(Estimate::NONE)
    }

    /// `metric` of this variant minus the baseline's, paired by replication; both NaN for the
    /// baseline itself.
    pub fn difference(&self, metric: impl Borrow<Metric>) -> Estimate {
        self.vs_baseline.get(metric.borrow().name().as_ref()).copied().unwrap_or(Estimate::NONE)
    }
}

impl BackendReport {
    /// `metric` over the variant's replications; both NaN when the report has no such metric.
    pub fn metric(&self, metric: BackendMetric) -> Estimate {
        self.metrics.get(metric.name()).copied().unwrap_or(Estimate::NONE)
    }
}

impl RunReport {
    /// The run's value of `metric`; NaN when it had none (or the report has no such metric).
    pub fn metric(&self, metric: impl Borrow<Metric>) -> f64 {
        self.metrics.get(metric.borrow().name().as_ref()).map_or(f64::NAN, |r| r.0)
    }
}

impl Series {
    /// `metric` in window `window`, a mean over replications; NaN when it had no value (or the
    /// report has no such window or metric).
    pub fn value(&self, window: usize, metric: &WindowMetric) -> f64 {
        self.windows.get(window).and_then(|w| w.get(metric.name().as_ref())).map_or(f64::NAN, |r| r.0)
    }
}

impl TimelineReport {
    /// The wall-clock instant `at_s` seconds after the start of the run; `None` without a
    /// `start` (or one that does not parse, or a negative `at_s`).
    pub fn clock_at(&self, at_s: f64) -> Option<std::time::SystemTime> {
        let start = humantime::parse_rfc3339_weak(self.start.as_deref()?).ok()?;
        let offset = std::time::Duration::try_from_secs_f64(at_s).ok()?;
        start.checked_add(offset)
    }
}

/// One run's raw values.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// Index into `variants`.
    pub variant: usize,
    /// Replication index.
    pub replication: u32,
    /// The run's master seed.
    pub seed: u64,
    /// Events the engine handled.
    pub events: u64,
    /// Whether `--max-events` ([`RunOptions::max_events`](crate::RunOptions)) stopped the run
    /// before the end of its simulated time: its metrics cover only the time up to
    /// `reached_s`. Absent (false) for a run that simulated its whole duration.
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// For a truncated run, the simulated time it reached \[s from the start\].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached_s: Option<f64>,
    /// Whole-stack metrics by [`Metric`] name (read with [`RunReport::metric`]).
    pub metrics: IndexMap<String, Reading>,
}

fn is_false(b: &bool) -> bool {
    !*b
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A run's value for one metric (or a window's mean over runs); NaN (no value) is `null` in
/// JSON.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Reading(#[serde(with = "nan_as_null")] pub f64);

impl Report {
    /// Whether some variant's `metric` has a mean above `above` (a missing value is not).
    pub fn any_above(&self, metric: impl Borrow<Metric>, above: f64) -> bool {
        let metric = metric.borrow();
        self.variants.iter().any(|v| {
            let e = v.metric(metric);
            e.mean.is_finite() && e.mean > above
        })
    }

    /// The report as pretty-printed JSON, with a final newline.
    pub fn to_json(&self) -> String {
        let mut json = serde_json::to_string_pretty(self).expect("a report always serializes");
        json.push('\n');
        json
    }

    /// Runs that `--max-events` stopped before the end of their simulated time, over every
    /// variant: 0 for a report whose numbers cover every run's whole duration.
    pub fn truncated_runs(&self) -> u64 {
        self.variants.iter().map(|v| u64::from(v.truncated_runs)).sum()
    }

    /// The variant called `label`.
    pub fn variant(&self, label: &str) -> Option<&VariantReport> {
        self.variants.iter().find(|v| v.label == label)
    }
}
