//! A run's metrics, extracted from its summary: whole-stack, balancer tier, per window, per
//! request class and per backend, each in report order.

use indexmap::IndexMap;
use stacksim_model::{BackendSummary, ClassSummary, RunSummary, Window};

use crate::metric::{BackendMetric, ClassMetric, Metric, WindowMetric};

use super::Reading;

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
