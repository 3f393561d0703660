//! Cost against the SLO: each variant's replica-hours beside the SLO metric, which variants
//! meet the SLO, and the cheapest of those.
//!
//! Cost is the pods' time integral (`replica_hours`, from groups with fleet dynamics), so a
//! report without fleet groups has no cost section.

use crate::Metric;
use crate::report::Report;
use crate::spec::Slo;
use crate::stats::Estimate;

/// One variant on the cost/SLO plane.
#[derive(Clone, Debug, PartialEq)]
pub struct CostPoint {
    /// Index of the variant in the report.
    pub variant: usize,
    /// Its label.
    pub label: String,
    /// Its cost: pod-hours over the measured period.
    pub replica_hours: Estimate,
    /// Its value of the SLO metric.
    pub value: Estimate,
    /// Whether it meets every objective of the SLO (with 95% confidence); `false` without one.
    pub meets: bool,
    /// The cheapest of those meeting the SLO (fewest replica-hours; the first on ties).
    pub cheapest: bool,
}

/// The report's variants on the cost/SLO plane: the metric plotted is the SLO's first
/// response-time objective (p99 without an SLO, or if it names none). `None` when no variant
/// has a cost (no fleet groups).
pub fn cost_against_slo(report: &Report, slo: Option<&Slo>) -> Option<(Metric, Vec<CostPoint>)> {
    if !report.variants.iter().any(|v| v.metric(Metric::ReplicaHours).mean.is_finite()) {
        return None;
    }
    let metric = slo
        .and_then(|s| s.objectives.iter().find(|o| o.metric.name().starts_with("response_time")))
        .map_or(Metric::ResponseTimeP99, |o| o.metric.clone());
    let mut points: Vec<CostPoint> = report
        .variants
        .iter()
        .enumerate()
        .map(|(i, v)| CostPoint {
            variant: i,
            label: v.label.clone(),
            replica_hours: v.metric(Metric::ReplicaHours),
            value: v.metric(&metric),
            meets: slo.is_some_and(|s| s.met_by(v)),
            cheapest: false,
        })
        .collect();
    let cheapest = points
        .iter()
        .filter(|p| p.meets && p.replica_hours.mean.is_finite())
        .min_by(|a, b| a.replica_hours.mean.total_cmp(&b.replica_hours.mean))
        .map(|p| p.variant);
    if let Some(c) = cheapest {
        points[c].cheapest = true;
    }
    Some((metric, points))
}
