//! A report built from every run's record: estimates over replications, differences from the
//! baseline paired by replication, and time series averaged over replications.

use indexmap::IndexMap;

use crate::stats::Estimate;

use super::{
    BackendReport, ClassReport, Reading, Report, RunRecord, RunReport, Series, VariantInfo, VariantReport,
};

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
