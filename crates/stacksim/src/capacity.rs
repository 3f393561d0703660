//! Capacity search: the highest arrival rate that meets an SLO, and the fewest replicas that
//! meet it at a given rate.
//!
//! A configuration *meets* an SLO when, for every objective, the upper end of the 95%
//! confidence interval over replications is within the limit: it meets it with 95% confidence,
//! not just on average. The search brackets the answer by doubling or halving, then bisects
//! until the bracket is narrower than the tolerance.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::build::variant_specs;
use crate::plan::Plan;
use crate::report::VariantReport;
use crate::run::{RunError, Runner};
use crate::spec::{StackRef, SweepAxis};
use crate::stats::Estimate;

/// One objective: a metric kept below a limit, like `p99<250ms`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    /// The report metric, like `response_time_p99_s`.
    pub metric: String,
    /// Its limit, in the metric's unit (seconds or a ratio).
    pub limit: f64,
}

/// A service-level objective: every objective must hold. In an experiment file it is written
/// as text, `slo: "p99<250ms,errors<0.1%"`.
///
/// Written as comma-separated `NAME<LIMIT`: `mean`, `p50`, `p90`, `p99`, `p999` take a
/// duration (`250ms`, `1.5s`); `errors`, `rejected`, `timeouts` take a ratio or a percentage
/// (`0.001`, `0.1%`).
///
/// ```
/// let slo: stacksim::capacity::Slo = "p99<250ms,errors<0.1%".parse().unwrap();
/// assert_eq!(slo.objectives[0].metric, "response_time_p99_s");
/// assert_eq!(slo.objectives[0].limit, 0.25);
/// assert_eq!(slo.objectives[1].metric, "error_ratio");
/// assert!((slo.objectives[1].limit - 0.001).abs() < 1e-12);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slo {
    /// The objectives.
    pub objectives: Vec<Objective>,
}

const LATENCIES: &[(&str, &str)] = &[
    ("mean", "response_time_mean_s"),
    ("p50", "response_time_p50_s"),
    ("p90", "response_time_p90_s"),
    ("p99", "response_time_p99_s"),
    ("p999", "response_time_p999_s"),
];
const RATIOS: &[(&str, &str)] =
    &[("errors", "error_ratio"), ("rejected", "rejected_ratio"), ("timeouts", "timed_out_ratio")];

impl FromStr for Slo {
    type Err = String;
    fn from_str(text: &str) -> Result<Slo, String> {
        let names = || LATENCIES.iter().chain(RATIOS).map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let objectives = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                let (name, limit) = part.split_once('<').ok_or_else(|| {
                    format!("cannot read objective {part:?}: write NAME<LIMIT, like p99<250ms or errors<0.1%")
                })?;
                let (name, limit) = (name.trim(), limit.trim_start_matches('=').trim());
                if let Some((_, metric)) = LATENCIES.iter().find(|(n, _)| *n == name) {
                    let limit = humantime::parse_duration(limit)
                        .map_err(|e| format!("{name}: {limit:?} is not a duration like 250ms ({e})"))?;
                    Ok(Objective { metric: (*metric).to_owned(), limit: limit.as_secs_f64() })
                } else if let Some((_, metric)) = RATIOS.iter().find(|(n, _)| *n == name) {
                    let ratio = match limit.strip_suffix('%') {
                        Some(percent) => percent.trim().parse::<f64>().map(|p| p / 100.0),
                        None => limit.parse::<f64>(),
                    }
                    .map_err(|_| format!("{name}: {limit:?} is not a ratio like 0.001 or 0.1%"))?;
                    Ok(Objective { metric: (*metric).to_owned(), limit: ratio })
                } else {
                    Err(format!("unknown objective {name:?}; use one of {}", names()))
                }
            })
            .collect::<Result<Vec<_>, String>>()?;
        if objectives.is_empty() {
            return Err("the SLO is empty: give objectives like p99<250ms,errors<0.1%".to_owned());
        }
        Ok(Slo { objectives })
    }
}

impl TryFrom<String> for Slo {
    type Error = String;
    fn try_from(text: String) -> Result<Slo, String> {
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
            .map(|o| {
                if let Some((name, _)) = LATENCIES.iter().find(|(_, m)| *m == o.metric) {
                    format!(
                        "{name}<{}",
                        humantime::format_duration(Duration::from_secs_f64(o.limit.max(0.0)))
                    )
                } else if let Some((name, _)) = RATIOS.iter().find(|(_, m)| *m == o.metric) {
                    format!("{name}<{}%", o.limit * 100.0)
                } else {
                    format!("{}<{}", o.metric, o.limit)
                }
            })
            .collect();
        f.write_str(&parts.join(","))
    }
}

impl Slo {
    /// Whether `variant` meets every objective with 95% confidence (the interval's upper end
    /// is within the limit). A metric with no value (no successful request) fails.
    pub fn met_by(&self, variant: &VariantReport) -> bool {
        self.objectives.iter().all(|o| {
            variant.metrics.get(&o.metric).is_some_and(|e| {
                let upper = e.mean + if e.ci95.is_finite() { e.ci95 } else { 0.0 };
                e.mean.is_finite() && upper <= o.limit
            })
        })
    }
}

/// How closely to search.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchOptions {
    /// Stop bisecting when the bracket is narrower than this fraction of its lower end.
    pub tolerance: f64,
    /// Give up after this many probes.
    pub max_probes: u32,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { tolerance: 0.01, max_probes: 40 }
    }
}

/// One configuration tried during a search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The value tried (arrival rate, or replicas).
    pub value: f64,
    /// Whether the SLO held.
    pub met: bool,
    /// The metrics the SLO names, as measured.
    pub metrics: Vec<(String, Estimate)>,
}

/// The answer of a search for one variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// The variant's label.
    pub label: String,
    /// The best value that met the SLO (highest rate, fewest replicas); `None` if none did.
    pub best: Option<f64>,
    /// The nearest value tried that did not meet it (the other end of the bracket).
    pub failed_at: Option<f64>,
    /// Every probe, in the order tried.
    pub probes: Vec<Probe>,
}

fn probe(
    runner: &Runner<'_>,
    plan: &Plan,
    axis: SweepAxis,
    slo: &Slo,
    value: f64,
) -> Result<Probe, RunError> {
    let trial = plan.revised(|e| {
        e.sweep = vec![axis];
        e.baseline = None;
    })?;
    let report = runner.run(&trial)?;
    let variant = &report.variants[0];
    let metrics = slo.objectives.iter().map(|o| (o.metric.clone(), variant.metrics[&o.metric])).collect();
    Ok(Probe { value, met: slo.met_by(variant), metrics })
}

/// A sweep axis of the single total rate `rate`.
fn rate_axis(rate: f64) -> SweepAxis {
    SweepAxis::Rate { values: Some(vec![rate]), from: None, to: None, step: None }
}

/// Each variant of `plan` alone, as the plan of an experiment without a sweep, with `axis`
/// applied to its stack if given.
fn each_variant(plan: &Plan, axis: Option<SweepAxis>) -> Result<Vec<(String, Plan)>, RunError> {
    variant_specs(plan.experiment(), plan.stack())
        .into_iter()
        .map(|v| {
            let single = plan.revised(|e| {
                let mut stack = v.stack;
                if let Some(axis) = &axis {
                    e.sweep = vec![axis.clone()];
                    if let Some(swept) = variant_specs(e, &stack).pop() {
                        stack = swept.stack;
                    }
                }
                e.stack = StackRef::Inline(stack);
                e.sweep = Vec::new();
                e.baseline = None;
            })?;
            Ok((v.label, single))
        })
        .collect()
}

/// For each variant of `plan`, the highest total arrival rate [requests·s⁻¹] that meets
/// `slo`, scaling every client's rate in proportion. Starts from the experiment's own rate.
pub fn max_rate(
    runner: &Runner<'_>,
    plan: &Plan,
    slo: &Slo,
    options: SearchOptions,
) -> Result<Vec<Capacity>, RunError> {
    each_variant(plan, None)?
        .into_iter()
        .map(|(label, single)| {
            let start: f64 =
                single.stack().clients.iter().map(|c| crate::build::open_loop_rate(&c.arrivals)).sum();
            let test = |rate: f64| probe(runner, &single, rate_axis(rate), slo, rate);
            let (best, failed_at, probes) = search(start, true, options, test)?;
            Ok(Capacity { label, best, failed_at, probes })
        })
        .collect()
}

/// For each variant of `plan` at total arrival rate `rate`, the fewest replicas of the
/// backend group `backend` (default: the first group) that meet `slo`.
pub fn min_replicas(
    runner: &Runner<'_>,
    plan: &Plan,
    slo: &Slo,
    rate: f64,
    backend: Option<&str>,
    options: SearchOptions,
) -> Result<Vec<Capacity>, RunError> {
    each_variant(plan, Some(rate_axis(rate)))?
        .into_iter()
        .map(|(label, single)| {
            let backends = &single.stack().backends;
            let group = backend.map(str::to_owned).or_else(|| backends.first().map(|b| b.name.clone()));
            let start = backends.iter().find(|b| Some(&b.name) == group.as_ref()).map_or(1, |b| b.replicas);
            let test = |replicas: f64| {
                let axis = SweepAxis::Replicas { backend: group.clone(), values: vec![replicas as u32] };
                probe(runner, &single, axis, slo, replicas)
            };
            let integer = SearchOptions { tolerance: 0.0, ..options };
            let (best, failed_at, probes) = search(f64::from(start), false, integer, test)?;
            Ok(Capacity { label, best, failed_at, probes })
        })
        .collect()
}

/// The best passing value, the nearest failing one, and every probe made.
type Bracket = (Option<f64>, Option<f64>, Vec<Probe>);

/// Brackets and bisects. With `higher_is_harder` (rates), looks for the highest passing value;
/// otherwise (replicas, whole numbers from 1) for the lowest passing value.
fn search(
    start: f64,
    higher_is_harder: bool,
    options: SearchOptions,
    mut test: impl FnMut(f64) -> Result<Probe, RunError>,
) -> Result<Bracket, RunError> {
    let mut probes = Vec::new();
    let mut run = |value: f64, probes: &mut Vec<Probe>| -> Result<bool, RunError> {
        let p = test(value)?;
        let met = p.met;
        probes.push(p);
        Ok(met)
    };
    let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut value = start.max(if higher_is_harder { f64::MIN_POSITIVE } else { 1.0 });
    // Bracket: move away from the failing side until both ends are known.
    while (good.is_none() || bad.is_none()) && (probes.len() as u32) < options.max_probes {
        if run(value, &mut probes)? {
            good = Some(value);
            value = if higher_is_harder { value * 2.0 } else { (value / 2.0).floor() };
            if !higher_is_harder && value < 1.0 {
                break;
            }
        } else {
            bad = Some(value);
            value = if higher_is_harder { value / 2.0 } else { value * 2.0 };
            // A thousandth of the starting rate, or a thousand times the starting fleet: the SLO
            // is out of reach (and tiny rates only pass by the luck of few samples).
            if good.is_none() && (value < start / 1000.0 || value > start * 1000.0) {
                break;
            }
        }
        if let (Some(g), Some(b)) = (good, bad)
            && ((higher_is_harder && g > b) || (!higher_is_harder && g < b))
        {
            // The SLO is not monotone here; keep the passing end.
            bad = None;
        }
    }
    // Bisect.
    while let (Some(g), Some(b)) = (good, bad) {
        let done = if higher_is_harder { b - g <= options.tolerance * g } else { g - b <= 1.0 };
        if done || probes.len() as u32 >= options.max_probes {
            break;
        }
        let mid = if higher_is_harder { (g + b) / 2.0 } else { ((g + b) / 2.0).floor() };
        if run(mid, &mut probes)? {
            good = Some(mid);
        } else {
            bad = Some(mid);
        }
    }
    Ok((good, bad, probes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_text_round_trips_into_objectives() {
        let slo: Slo = "mean<2s, p999 < 1.5s ,rejected<1%".parse().unwrap();
        assert_eq!(slo.objectives.len(), 3);
        assert_eq!(slo.objectives[1], Objective { metric: "response_time_p999_s".into(), limit: 1.5 });
        assert_eq!(slo.to_string(), "mean<2s,p999<1s 500ms,rejected<1%");
        assert!("p98<1s".parse::<Slo>().unwrap_err().contains("p99"));
        assert!("p99>1s".parse::<Slo>().is_err());
        assert!("errors<lots".parse::<Slo>().is_err());
        assert!("".parse::<Slo>().is_err());
    }

    fn fake(value: f64, threshold: f64, higher_is_harder: bool) -> Probe {
        let met = if higher_is_harder { value <= threshold } else { value >= threshold };
        Probe { value, met, metrics: Vec::new() }
    }

    #[test]
    fn search_finds_the_highest_passing_rate_within_tolerance() {
        let (best, bad, probes) =
            search(10.0, true, SearchOptions::default(), |v| Ok(fake(v, 37.3, true))).unwrap();
        let (best, bad) = (best.unwrap(), bad.unwrap());
        assert!(best <= 37.3 && bad > 37.3 && bad - best <= 0.01 * best, "{best} {bad}");
        assert!(probes.len() < 20);
    }

    #[test]
    fn search_finds_the_fewest_passing_replicas() {
        for threshold in [1.0, 3.0, 7.0, 16.0] {
            let (best, _, _) =
                search(4.0, false, SearchOptions::default(), |v| Ok(fake(v, threshold, false))).unwrap();
            assert_eq!(best, Some(threshold));
        }
    }
}
