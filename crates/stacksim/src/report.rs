//! Reports: per-variant estimates with confidence intervals, and every run's raw values.

use std::borrow::Borrow;
use std::io;

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use stacksim_model::{BackendSummary, ClassSummary, RunSummary, Window};

use crate::metric::{BackendMetric, ClassMetric, Metric, Shown, Style, WindowMetric};
use crate::stats::{Estimate, nan_as_null};

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

/// The whole-stack metrics of one run, in report order.
pub fn run_metrics(run: &RunSummary) -> Vec<(Metric, f64)> {
    let ratio = |n: u64| {
        if run.arrived == 0 { 0.0 } else { n as f64 / run.arrived as f64 }
    };
    let rt = &run.response_time;
    let mut metrics = vec![
        (Metric::ResponseTimeMean, rt.mean_s),
        (Metric::ResponseTimeP50, rt.p50_s),
        (Metric::ResponseTimeP90, rt.p90_s),
        (Metric::ResponseTimeP99, rt.p99_s),
        (Metric::ResponseTimeP999, rt.p999_s),
        (Metric::ResponseTimeMax, rt.max_s),
        (Metric::WaitTimeMean, run.wait_time_mean_s),
        (Metric::Throughput, run.throughput_per_s),
        (Metric::ArrivalRate, run.arrival_rate_per_s),
        (Metric::InSystemMean, run.in_system_mean),
        (Metric::Arrived, run.arrived as f64),
        (Metric::Completed, run.completed as f64),
        (Metric::Rejected, run.rejected as f64),
        (Metric::TimedOut, run.timed_out as f64),
        (Metric::Failed, run.failed as f64),
        (Metric::InFlight, run.in_flight as f64),
        (Metric::RejectedRatio, ratio(run.rejected)),
        (Metric::TimedOutRatio, ratio(run.timed_out)),
        (Metric::ErrorRatio, run.error_ratio()),
        (Metric::AttemptsPerRequest, run.attempts_per_request()),
        (Metric::WastedWorkRatio, run.wasted_work_ratio),
        (Metric::UsersActive, run.users_active as f64),
        (Metric::UsersAffected, run.users_affected as f64),
        (
            Metric::UsersAffectedRatio,
            if run.users_active == 0 {
                f64::NAN
            } else {
                run.users_affected as f64 / run.users_active as f64
            },
        ),
        (Metric::DatabaseUtilization, run.database.map_or(f64::NAN, |db| db.utilization)),
        (Metric::DatabaseWaitMean, run.database.map_or(f64::NAN, |db| db.wait_mean_s)),
    ];
    if let Some(overload) = &run.overload {
        let c = overload.counts;
        metrics.extend([
            (Metric::OverflowRatio, ratio(c.overflowed)),
            (Metric::LimitedRatio, ratio(c.limited)),
            (Metric::ShedRatio, ratio(c.shed)),
            (Metric::ShortCircuitedRatio, ratio(c.short_circuited)),
            (Metric::ThrottledRatio, ratio(c.throttled)),
            (Metric::BreakerOpenRatio, overload.breaker_open_ratio),
        ]);
        if let Some(limit) = overload.concurrency_limit_mean {
            metrics.extend([
                (Metric::ConcurrencyLimitedRatio, ratio(c.concurrency_limited)),
                (Metric::ConcurrencyLimitMean, limit),
            ]);
        }
    }
    // Fleet dynamics: only runs that have them report them.
    if !run.fleet.is_empty() {
        let replica_seconds: f64 = run.fleet.iter().map(|g| g.replica_seconds).sum();
        let worst =
            run.fleet.iter().map(|g| g.time_to_capacity_s).filter(|t| t.is_finite()).fold(f64::NAN, f64::max);
        metrics.extend([
            (Metric::ReplicaSeconds, replica_seconds),
            (Metric::ReplicaHours, replica_seconds / 3600.0),
            (Metric::ReadyReplicasMean, run.fleet.iter().map(|g| g.ready_mean).sum()),
            (Metric::ScaleEvents, run.fleet.iter().map(|g| g.scale_events).sum::<u64>() as f64),
            (Metric::TimeToCapacity, worst),
        ]);
    }
    metrics
}

/// The balancer tier's whole-stack metrics of a run (issue 11), NaN where its tier does not
/// measure one (no zones, no subset, a connection per request). Every run of an experiment
/// has the same metrics, so a runner adds these to every run of an experiment in which some
/// variant has a balancer topology or zones, and to none of the others: reports of earlier
/// experiments keep their exact shape.
pub fn topology_metrics(run: &RunSummary) -> Vec<(Metric, f64)> {
    let t = run.topology.as_ref();
    let subset = t.and_then(|t| t.subset_connections.as_ref()).map(|counts| {
        let counts: Vec<f64> = counts.iter().map(|&c| f64::from(c)).collect();
        let min = counts.iter().copied().fold(f64::INFINITY, f64::min);
        let max = counts.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        (min, counts.iter().sum::<f64>() / counts.len().max(1) as f64, max)
    });
    vec![
        (Metric::BalancerInstances, t.map_or(1.0, |t| f64::from(t.instances))),
        (Metric::CrossZoneRatio, t.and_then(|t| t.cross_zone_ratio).unwrap_or(f64::NAN)),
        (Metric::SubsetConnectionsMin, subset.map_or(f64::NAN, |s| s.0)),
        (Metric::SubsetConnectionsMean, subset.map_or(f64::NAN, |s| s.1)),
        (Metric::SubsetConnectionsMax, subset.map_or(f64::NAN, |s| s.2)),
        (
            Metric::ConnectionsOpenMean,
            t.and_then(|t| t.connections_mean.as_ref()).map_or(f64::NAN, |open| open.iter().sum()),
        ),
        (Metric::Reconnects, t.and_then(|t| t.reconnects).map_or(f64::NAN, |n| n as f64)),
    ]
}

/// One window's metrics, by name: totals, then [`WindowMetric::Share`],
/// [`WindowMetric::Utilization`] and [`WindowMetric::QueueMean`] per backend.
pub fn window_metrics(window: &Window, backends: &[String]) -> IndexMap<String, Reading> {
    let ended = window.completed + window.rejected + window.timed_out + window.failed;
    let mut m: Vec<(WindowMetric, f64)> = vec![
        (WindowMetric::Start, window.start.as_secs_f64()),
        (WindowMetric::Arrived, window.arrived as f64),
        (WindowMetric::Completed, window.completed as f64),
        (WindowMetric::Rejected, window.rejected as f64),
        (WindowMetric::TimedOut, window.timed_out as f64),
        (WindowMetric::Failed, window.failed as f64),
        (WindowMetric::Attempts, window.attempts as f64),
        (WindowMetric::ErrorRatio, if ended == 0 { 0.0 } else { window.error_ratio() }),
        (WindowMetric::ResponseTimeP50, window.p50_s),
        (WindowMetric::ResponseTimeP99, window.p99_s),
        (WindowMetric::DatabaseUtilization, window.database_utilization),
        (WindowMetric::UsersActive, window.users_active as f64),
        (WindowMetric::UsersAffected, window.users_affected as f64),
        (
            WindowMetric::UsersAffectedRatio,
            if window.users_active == 0 {
                0.0
            } else {
                window.users_affected as f64 / window.users_active as f64
            },
        ),
    ];
    if let Some(o) = &window.overload {
        let c = o.counts;
        m.extend([
            (WindowMetric::Overflowed, c.overflowed as f64),
            (WindowMetric::Limited, c.limited as f64),
            (WindowMetric::Shed, c.shed as f64),
            (WindowMetric::HeldBack, (c.short_circuited + c.throttled) as f64),
            (WindowMetric::BreakersOpen, f64::from(o.breakers_open)),
        ]);
    }
    let routed: u64 = window.backends.iter().map(|b| b.routed).sum();
    for (b, name) in window.backends.iter().zip(backends) {
        let share = if routed == 0 { 0.0 } else { b.routed as f64 / routed as f64 };
        m.push((WindowMetric::Share(name.clone()), share));
        m.push((WindowMetric::Utilization(name.clone()), b.utilization));
        m.push((WindowMetric::QueueMean(name.clone()), b.queue_mean));
        if let Some(limit) = b.concurrency_limit {
            m.push((WindowMetric::ConcurrencyLimit(name.clone()), f64::from(limit)));
        }
    }
    for class in &window.classes {
        m.push((WindowMetric::ClassArrived(class.label.clone()), class.arrived as f64));
        m.push((WindowMetric::ClassErrorRatio(class.label.clone()), class.error_ratio()));
        m.push((WindowMetric::ClassP99(class.label.clone()), class.p99_s));
    }
    for group in &window.fleet {
        m.push((WindowMetric::ReadyReplicas(group.name.clone()), group.ready));
        m.push((WindowMetric::StartingReplicas(group.name.clone()), group.starting));
        m.push((WindowMetric::DrainingReplicas(group.name.clone()), group.draining));
        m.push((WindowMetric::DeployProgress(group.name.clone()), group.deploy_progress));
    }
    m.into_iter().map(|(k, v)| (k.name().into_owned(), Reading(v))).collect()
}

/// One request class's metrics in one run, in report order; `client_arrived` is the arrivals
/// of its client's every class.
pub fn class_metrics(class: &ClassSummary, client_arrived: u64) -> Vec<(ClassMetric, f64)> {
    let rt = &class.response_time;
    let share = if client_arrived == 0 { 0.0 } else { class.arrived as f64 / client_arrived as f64 };
    vec![
        (ClassMetric::Share, share),
        (ClassMetric::Arrived, class.arrived as f64),
        (ClassMetric::Completed, class.completed as f64),
        (ClassMetric::ErrorRatio, class.error_ratio()),
        (ClassMetric::ShedRatio, class.shed_ratio()),
        (ClassMetric::Shed, class.shed as f64),
        (ClassMetric::ResponseTimeMean, rt.mean_s),
        (ClassMetric::ResponseTimeP50, rt.p50_s),
        (ClassMetric::ResponseTimeP90, rt.p90_s),
        (ClassMetric::ResponseTimeP99, rt.p99_s),
    ]
}

/// One backend's metrics in one run, in report order.
pub fn backend_metrics(backend: &BackendSummary) -> Vec<(BackendMetric, f64)> {
    vec![
        (BackendMetric::Utilization, backend.utilization),
        (BackendMetric::Share, backend.share),
        (BackendMetric::RejectedRatio, backend.rejected_ratio),
        (BackendMetric::QueueLengthMean, backend.queue_length_mean),
        (BackendMetric::Routed, backend.routed as f64),
        (BackendMetric::Completed, backend.completed as f64),
        (BackendMetric::Rejected, backend.rejected as f64),
    ]
}

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
    /// [`RunReport::truncated`]).
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

/// Estimates of each metric from one map per replication.
fn estimates<'a>(
    runs: impl Iterator<Item = &'a IndexMap<String, Reading>> + Clone,
) -> IndexMap<String, Estimate> {
    let Some(first) = runs.clone().next() else { return IndexMap::new() };
    first
        .keys()
        .map(|name| {
            let samples: Vec<f64> = runs.clone().map(|m| m.get(name).map_or(f64::NAN, |x| x.0)).collect();
            (name.clone(), Estimate::of(&samples))
        })
        .collect()
}

impl Report {
    /// Builds the report from every run's record. `records` holds each (variant, replication)
    /// once, in any order; `baseline` indexes `variants`.
    pub fn from_records(
        experiment: &str,
        seed: u64,
        variants: &[VariantInfo],
        baseline: usize,
        records: &[RunRecord],
    ) -> Report {
        let mut sorted: Vec<&RunRecord> = records.iter().collect();
        sorted.sort_by_key(|r| (r.variant, r.replication));
        // Variant `v`'s runs: a slice of `sorted`, found by binary search (linear time overall).
        let of = |v: usize| {
            let (start, end) =
                (sorted.partition_point(|r| r.variant < v), sorted.partition_point(|r| r.variant <= v));
            sorted[start..end].iter().copied()
        };
        let variant_reports = variants
            .iter()
            .enumerate()
            .map(|(v, info)| {
                let backends = of(v).next().map_or(0, |r| r.backends.len());
                let classes = of(v).next().map_or(0, |r| r.classes.len());
                VariantReport {
                    label: info.label.clone(),
                    params: info.params.clone(),
                    replications: of(v).count() as u32,
                    truncated_runs: of(v).filter(|r| r.truncated).count() as u32,
                    metrics: estimates(of(v).map(|r| &r.metrics)),
                    backends: (0..backends)
                        .map(|b| BackendReport {
                            name: of(v).next().map(|r| r.backends[b].name.clone()).unwrap_or_default(),
                            metrics: estimates(of(v).filter_map(|r| r.backends.get(b)).map(|b| &b.metrics)),
                        })
                        .collect(),
                    classes: (0..classes)
                        .map(|c| {
                            let first = of(v).next().map(|r| &r.classes[c]);
                            ClassReport {
                                name: first.map(|f| f.name.clone()).unwrap_or_default(),
                                client: first.map(|f| f.client.clone()).unwrap_or_default(),
                                priority: first.map(|f| f.priority.clone()).unwrap_or_default(),
                                metrics: estimates(
                                    of(v).filter_map(|r| r.classes.get(c)).map(|c| &c.metrics),
                                ),
                            }
                        })
                        .collect(),
                    vs_baseline: if v == baseline { IndexMap::new() } else { paired(of(baseline), of(v)) },
                }
            })
            .collect();
        let runs = sorted
            .iter()
            .map(|r| RunReport {
                variant: r.variant,
                replication: r.replication,
                seed: r.seed,
                events: r.events,
                truncated: r.truncated,
                reached_s: r.reached_s,
                metrics: r.metrics.clone(),
            })
            .collect();
        let timeseries = (0..variants.len())
            .map(|v| Series { variant: v, windows: mean_windows(of(v).map(|r| &r.windows)) })
            .filter(|s| !s.windows.is_empty())
            .collect();
        Report {
            experiment: experiment.to_owned(),
            seed,
            baseline,
            variants: variant_reports,
            runs,
            timeseries,
            timeline: None,
        }
    }

    /// When the alert behind `metric` (a [`Metric::TimeToDetect`]) fired for variant `v`.
    pub fn detection(&self, v: usize, metric: &Metric) -> Detection {
        let e = self.variants[v].metric(metric);
        if e.mean.is_finite() {
            return Detection::Every(e);
        }
        let runs: Vec<f64> = self.runs.iter().filter(|r| r.variant == v).map(|r| r.metric(metric)).collect();
        let fired: Vec<f64> = runs.iter().copied().filter(|x| x.is_finite()).collect();
        if fired.is_empty() {
            return Detection::Never;
        }
        Detection::Some {
            mean_s: fired.iter().sum::<f64>() / fired.len() as f64,
            fired: fired.len(),
            runs: runs.len(),
        }
    }

    /// The time-to-detect metrics of the report's alert rules, in report order.
    pub fn alerts(&self) -> Vec<Metric> {
        let mut alerts: Vec<Metric> = Vec::new();
        for name in self.variants.iter().flat_map(|v| v.metrics.keys()) {
            if let Some(metric @ Metric::TimeToDetect(_)) = Metric::from_name(name)
                && !alerts.contains(&metric)
            {
                alerts.push(metric);
            }
        }
        alerts
    }

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

    /// `runs.csv`: one row per run, one column per metric.
    pub fn write_runs_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        let Some(first) = self.runs.first() else {
            return Ok(csv.flush()?);
        };
        // Columns for truncation only when a run was truncated: other reports keep their bytes.
        let truncated = self.truncated_runs() > 0;
        let mut header = vec!["variant", "label", "replication", "seed", "events"];
        if truncated {
            header.extend(["truncated", "reached_s"]);
        }
        // The union of the runs' metrics, in order of first appearance: variants may differ
        // (overload metrics only where a mechanism is configured); a run without one leaves
        // its cell empty.
        let mut names: IndexMap<&str, ()> = first.metrics.keys().map(|k| (k.as_str(), ())).collect();
        for run in &self.runs {
            names.extend(run.metrics.keys().map(|k| (k.as_str(), ())));
        }
        header.extend(names.keys());
        csv.write_record(&header)?;
        for run in &self.runs {
            let mut row = vec![
                run.variant.to_string(),
                self.variants[run.variant].label.clone(),
                run.replication.to_string(),
                run.seed.to_string(),
                run.events.to_string(),
            ];
            if truncated {
                row.push(run.truncated.to_string());
                row.push(run.reached_s.map_or_else(String::new, format_number));
            }
            row.extend(
                names.keys().map(|k| run.metrics.get(*k).map_or(String::new(), |m| format_number(m.0))),
            );
            csv.write_record(&row)?;
        }
        Ok(csv.flush()?)
    }

    /// Whether some variant reports request classes (and so `classes.csv` has rows).
    pub fn has_classes(&self) -> bool {
        self.variants.iter().any(|v| !v.classes.is_empty())
    }

    /// `classes.csv`: one row per (variant, request class), variant-major, with columns
    /// `variant`, `label`, `client`, `class`, `priority`, then each class metric as `name`
    /// (mean) and `name_ci95`. Writes nothing but a flush when no variant has classes.
    pub fn write_classes_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        if !self.has_classes() {
            return Ok(csv.flush()?);
        }
        let mut header: Vec<String> =
            ["variant", "label", "client", "class", "priority"].map(str::to_owned).to_vec();
        for metric in ClassMetric::ALL {
            header.push(metric.name().to_owned());
            header.push(format!("{}_ci95", metric.name()));
        }
        csv.write_record(&header)?;
        for (i, v) in self.variants.iter().enumerate() {
            for class in &v.classes {
                let mut row = vec![
                    i.to_string(),
                    v.label.clone(),
                    class.client.clone(),
                    class.name.clone(),
                    class.priority.clone(),
                ];
                for metric in ClassMetric::ALL {
                    let e = class.metrics.get(metric.name());
                    row.push(e.map_or(String::new(), |e| format_number(e.mean)));
                    row.push(e.map_or(String::new(), |e| format_number(e.ci95)));
                }
                csv.write_record(&row)?;
            }
        }
        Ok(csv.flush()?)
    }

    /// `variants.csv`: one row per variant; each metric as `name` (mean) and `name_ci95`.
    pub fn write_variants_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        let Some(first) = self.variants.first() else {
            return Ok(csv.flush()?);
        };
        let truncated = self.truncated_runs() > 0;
        let mut header = vec!["variant".to_owned(), "label".to_owned(), "replications".to_owned()];
        if truncated {
            header.push("truncated_runs".to_owned());
        }
        header.extend(first.params.keys().cloned());
        // The union of the variants' metrics, in order of first appearance (see runs.csv).
        let mut names: IndexMap<&str, ()> = first.metrics.keys().map(|k| (k.as_str(), ())).collect();
        for v in &self.variants {
            names.extend(v.metrics.keys().map(|k| (k.as_str(), ())));
        }
        for name in names.keys() {
            header.push((*name).to_owned());
            header.push(format!("{name}_ci95"));
        }
        csv.write_record(&header)?;
        for (i, v) in self.variants.iter().enumerate() {
            let mut row = vec![i.to_string(), v.label.clone(), v.replications.to_string()];
            if truncated {
                row.push(v.truncated_runs.to_string());
            }
            row.extend(v.params.values().map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
            for name in names.keys() {
                let e = v.metrics.get(*name);
                row.push(e.map_or(String::new(), |e| format_number(e.mean)));
                row.push(e.map_or(String::new(), |e| format_number(e.ci95)));
            }
            csv.write_record(&row)?;
        }
        Ok(csv.flush()?)
    }
}

/// A number for CSV: shortest round-trip form; empty when there is no value.
fn format_number(x: f64) -> String {
    if x.is_finite() { x.to_string() } else { String::new() }
}

/// Per metric, `variant − baseline` paired by replication (Student t over the differences).
fn paired<'a>(
    baseline: impl Iterator<Item = &'a RunRecord>,
    variant: impl Iterator<Item = &'a RunRecord>,
) -> IndexMap<String, Estimate> {
    let baseline: Vec<&RunRecord> = baseline.collect();
    let variant: Vec<&RunRecord> = variant.collect();
    let Some(first) = variant.first() else { return IndexMap::new() };
    first
        .metrics
        .keys()
        .map(|name| {
            let differences: Vec<f64> = variant
                .iter()
                .filter_map(|run| {
                    // Both come sorted by replication.
                    let base = baseline
                        .binary_search_by_key(&run.replication, |b| b.replication)
                        .map(|i| baseline[i])
                        .ok()?;
                    Some(run.metrics.get(name)?.0 - base.metrics.get(name)?.0)
                })
                .collect();
            (name.clone(), Estimate::of(&differences))
        })
        .collect()
}

/// Window by window, the mean of each metric over the runs given.
fn mean_windows<'a>(
    runs: impl Iterator<Item = &'a Vec<IndexMap<String, Reading>>>,
) -> Vec<IndexMap<String, Reading>> {
    let runs: Vec<&Vec<IndexMap<String, Reading>>> = runs.collect();
    let Some(first) = runs.first() else { return Vec::new() };
    (0..first.len())
        .map(|w| {
            first[w]
                .keys()
                .map(|name| {
                    let values: Vec<f64> =
                        runs.iter().filter_map(|r| r.get(w)?.get(name)).map(|m| m.0).collect();
                    let finite: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
                    let mean = if finite.is_empty() {
                        f64::NAN
                    } else {
                        finite.iter().sum::<f64>() / finite.len() as f64
                    };
                    (name.clone(), Reading(mean))
                })
                .collect()
        })
        .collect()
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

impl Report {
    /// `timeseries.csv`: one row per (variant, window), variant-major, with columns `variant`,
    /// `label`, `window_start_s` (seconds from the start of the run), `clock` (the window's
    /// start in RFC 3339 when the experiment has a `start`, else empty), then every window
    /// metric but `start_s` (the union over variants, in order of first appearance). Every value
    /// is a mean over the variant's replications, so counts (`arrived`, `rejected`, ...) may be
    /// fractional. Writes nothing but a flush when the report has no time series.
    pub fn write_timeseries_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        if self.timeseries.iter().all(|s| s.windows.is_empty()) {
            return Ok(csv.flush()?);
        }
        let mut metrics: IndexMap<&str, ()> = IndexMap::new();
        for window in self.timeseries.iter().flat_map(|s| &s.windows) {
            metrics.extend(window.keys().filter(|k| *k != "start_s").map(|k| (k.as_str(), ())));
        }
        let mut header = vec!["variant", "label", "window_start_s", "clock"];
        header.extend(metrics.keys());
        csv.write_record(&header)?;
        let window_s = self.timeline.as_ref().map_or(0.0, |t| t.window_s);
        for series in &self.timeseries {
            let label = self.variants.get(series.variant).map_or("", |v| v.label.as_str());
            for (i, window) in series.windows.iter().enumerate() {
                let start_s = window.get("start_s").map_or(i as f64 * window_s, |m| m.0);
                let clock =
                    self.timeline.as_ref().and_then(|t| t.clock_at(start_s)).map_or_else(String::new, |t| {
                        if start_s.fract() == 0.0 {
                            humantime::format_rfc3339_seconds(t).to_string()
                        } else {
                            humantime::format_rfc3339_millis(t).to_string()
                        }
                    });
                let mut row =
                    vec![series.variant.to_string(), label.to_owned(), format_number(start_s), clock];
                row.extend(
                    metrics.keys().map(|k| window.get(*k).map_or(String::new(), |m| format_number(m.0))),
                );
                csv.write_record(&row)?;
            }
        }
        Ok(csv.flush()?)
    }
}

#[cfg(test)]
mod timeseries_csv_tests {
    use super::*;

    fn report(start: Option<&str>) -> Report {
        let window = |start_s: f64, p99: f64| -> IndexMap<String, Reading> {
            [("start_s", start_s), ("arrived", 10.0), ("response_time_p99_s", p99), ("app-0.share", 1.0)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Reading(v)))
                .collect()
        };
        let variant = |label: &str| VariantInfo { label: label.into(), params: IndexMap::new() };
        let mut report = Report::from_records("t", 1, &[variant("policy=A"), variant("policy=B")], 0, &[]);
        report.timeseries = vec![
            Series { variant: 0, windows: vec![window(0.0, 0.25), window(60.0, f64::NAN)] },
            Series { variant: 1, windows: vec![window(0.0, 0.5), window(60.0, 0.75)] },
        ];
        report.timeline = Some(TimelineReport {
            start: start.map(str::to_owned),
            window_s: 60.0,
            marks: Vec::new(),
            alerts: Vec::new(),
        });
        report
    }

    fn csv(report: &Report) -> String {
        let mut out = Vec::new();
        report.write_timeseries_csv(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_row_per_variant_and_window_with_clock_time() {
        assert_eq!(
            csv(&report(Some("2024-03-08T13:00:00Z"))),
            "variant,label,window_start_s,clock,arrived,response_time_p99_s,app-0.share\n\
             0,policy=A,0,2024-03-08T13:00:00Z,10,0.25,1\n\
             0,policy=A,60,2024-03-08T13:01:00Z,10,,1\n\
             1,policy=B,0,2024-03-08T13:00:00Z,10,0.5,1\n\
             1,policy=B,60,2024-03-08T13:01:00Z,10,0.75,1\n"
        );
    }

    #[test]
    fn without_a_start_the_clock_is_empty_and_without_windows_there_is_nothing() {
        let text = csv(&report(None));
        assert!(text.lines().nth(1).unwrap().starts_with("0,policy=A,0,,10,"), "{text}");
        let mut empty = report(None);
        empty.timeseries.clear();
        assert_eq!(csv(&empty), "");
    }

    #[test]
    fn metrics_only_some_variants_have_get_a_column_and_empty_cells() {
        let mut report = report(None);
        report.timeseries[1].windows[1].insert("db".into(), Reading(0.5));
        let text = csv(&report);
        assert!(
            text.starts_with(
                "variant,label,window_start_s,clock,arrived,response_time_p99_s,app-0.share,db\n"
            )
        );
        assert!(
            text.contains("\n0,policy=A,0,,10,0.25,1,\n")
                && text.ends_with("\n1,policy=B,60,,10,0.75,1,0.5\n"),
            "{text}"
        );
    }
}

/// When an alert fired, over a variant's replications.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Detection {
    /// In every replication: the time to detect \[s\] with its interval.
    Every(Estimate),
    /// In some replications only: their mean time to detect \[s\].
    Some {
        /// Mean over the replications in which it fired \[s\].
        mean_s: f64,
        /// Replications in which it fired.
        fired: usize,
        /// Replications in all.
        runs: usize,
    },
    /// In none.
    Never,
}

impl Detection {
    /// In minutes, as `style` shows it: `12.0 min ±1.5` (in every replication), `14.0 min in
    /// 2/3 runs` (in some; HTML: `in 2 of 3 runs`), `never`.
    pub fn show(&self, style: Style) -> Shown {
        let minutes = |s: f64| format!("{:.1} min", s / 60.0);
        match *self {
            Detection::Every(e) => Shown {
                value: minutes(e.mean),
                after: e.ci95.is_finite().then(|| format!("±{:.1}", e.ci95 / 60.0)),
            },
            Detection::Some { mean_s, fired, runs } => Shown {
                value: minutes(mean_s),
                after: Some(match style {
                    Style::Terminal => format!("in {fired}/{runs} runs"),
                    Style::Html => format!("in {fired} of {runs} runs"),
                }),
            },
            Detection::Never => Shown::value("never"),
        }
    }
}
