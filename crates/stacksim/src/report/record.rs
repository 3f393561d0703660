//! What a run leaves behind, from which a report is rebuilt (and shards are merged): its
//! record, and what identifies its variant.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stacksim_model::RunSummary;

use crate::metric::{BackendMetric, Metric};

use super::{Reading, backend_metrics, class_metrics, is_false, run_metrics, window_metrics};

/// One run's values: everything needed to rebuild a report, so that runs made on different
/// machines (shards) merge into the same report as one run of the whole grid.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Index of the variant.
    pub variant: usize,
    /// Replication index.
    pub replication: u32,
    /// The run's master seed.
    pub seed: u64,
    /// Events the engine handled.
    pub events: u64,
    /// Whether the run was stopped before the end of its simulated time (see
    /// [`RunReport::truncated`](super::RunReport::truncated)).
    #[serde(default, skip_serializing_if = "is_false")]
    pub truncated: bool,
    /// For a truncated run, the simulated time it reached \[s\].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reached_s: Option<f64>,
    /// Whole-stack metrics.
    pub metrics: IndexMap<String, Reading>,
    /// Per-backend metrics, in balancer order.
    pub backends: Vec<BackendRecord>,
    /// The time series, one map per window (see [`window_metrics`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub windows: Vec<IndexMap<String, Reading>>,
    /// Per request class (see [`class_metrics`]), when the run kept them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassRecord>,
}

/// One request class's values in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClassRecord {
    /// Class name.
    pub name: String,
    /// Its client's name.
    pub client: String,
    /// Its priority.
    pub priority: String,
    /// Its metrics.
    pub metrics: IndexMap<String, Reading>,
}

/// One backend's values in one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BackendRecord {
    /// Backend name.
    pub name: String,
    /// Its metrics.
    pub metrics: IndexMap<String, Reading>,
}

fn metric_map<M: std::fmt::Display>(values: Vec<(M, f64)>) -> IndexMap<String, Reading> {
    values.into_iter().map(|(k, x)| (k.to_string(), Reading(x))).collect()
}

impl RunRecord {
    /// The record of run `replication` (seed `seed`) of variant `variant`; `extra` metrics
    /// (alerts) are appended to the run's own.
    pub fn new(
        variant: usize,
        replication: u32,
        seed: u64,
        run: &RunSummary,
        extra: Vec<(Metric, f64)>,
    ) -> RunRecord {
        let names: Vec<String> = run.backends.iter().map(|b| b.name.clone()).collect();
        let mut metrics = metric_map(run_metrics(run));
        metrics.extend(metric_map(extra));
        RunRecord {
            variant,
            replication,
            seed,
            events: run.events,
            truncated: false,
            reached_s: None,
            metrics,
            backends: run
                .backends
                .iter()
                .enumerate()
                .map(|(i, b)| {
                    let mut metrics = backend_metrics(b);
                    if let Some(t) = &run.topology {
                        if let Some(counts) = &t.subset_connections {
                            metrics.push((BackendMetric::SubsetConnections, f64::from(counts[i])));
                        }
                        if let Some(open) = &t.connections_mean {
                            metrics.push((BackendMetric::ConnectionsMean, open[i]));
                        }
                    }
                    BackendRecord { name: b.name.clone(), metrics: metric_map(metrics) }
                })
                .collect(),
            windows: run.windows.iter().map(|w| window_metrics(w, &names)).collect(),
            classes: run
                .classes
                .iter()
                .map(|c| {
                    let client: u64 =
                        run.classes.iter().filter(|o| o.client == c.client).map(|o| o.arrived).sum();
                    ClassRecord {
                        name: c.name.clone(),
                        client: c.client.clone(),
                        priority: c.priority.to_string(),
                        metrics: metric_map(class_metrics(c, client)),
                    }
                })
                .collect(),
        }
    }
}

/// What identifies a variant in a report: its label and parameters.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VariantInfo {
    /// `name=value` of its swept parameters.
    pub label: String,
    /// Its parameters.
    pub params: IndexMap<String, Value>,
}
