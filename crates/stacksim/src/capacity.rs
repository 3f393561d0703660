//! Capacity search: the highest arrival rate that meets an SLO, and the fewest replicas that
//! meet it at a given rate.
//!
//! A configuration *meets* an SLO when, for every objective, the upper end of the 95%
//! confidence interval over replications is within the limit: it meets it with 95% confidence,
//! not just on average. The search brackets the answer by doubling or halving, then bisects
//! until the bracket is narrower than the tolerance.

use std::borrow::Borrow;

use serde::{Deserialize, Serialize};

use crate::build::variant_specs;
use crate::metric::Metric;
use crate::plan::Plan;
use crate::run::{RunError, Runner};
pub use crate::spec::{Objective, Slo, SloError};
use crate::spec::{StackRef, SweepAxis};
use crate::stats::Estimate;

/// How to search: how closely, for how long, and (for [`min_replicas`]) which backends.
///
/// ```
/// use stacksim::capacity::SearchOptions;
/// let options = SearchOptions { backend: Some("app".into()), ..SearchOptions::default() };
/// assert_eq!((options.tolerance, options.max_probes), (0.01, 40));
/// assert_eq!(options.max_probe_events, 1e9);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// [`max_rate`] stops bisecting when the bracket is narrower than this fraction of its
    /// lower end. Default: 0.01. ([`min_replicas`] always narrows to one replica.)
    pub tolerance: f64,
    /// Give up after this many probes, each a full set of replications. Default: 40.
    pub max_probes: u32,
    /// Refuse a probe whose runs are estimated (see [`crate::estimate::Work`]) to need more events than
    /// this each: the search ends with [`RunError::ProbeTooLarge`] instead of simulating for
    /// days, as it would when an SLO holds at any rate (doubling without end) or at an absurd
    /// `rate_per_s`. Default: 10⁹ (a minute or two per run on one core).
    pub max_probe_events: f64,
    /// The backend group whose replicas [`min_replicas`] varies. Default: the first group.
    pub backend: Option<String>,
}

impl Default for SearchOptions {
    fn default() -> Self {
        SearchOptions { tolerance: 0.01, max_probes: 40, max_probe_events: 1e9, backend: None }
    }
}

/// One configuration tried during a search: an arrival rate \[s⁻¹\] (`T = f64`) or a number
/// of replicas (`T = u32`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Probe<T> {
    /// The value tried.
    pub value: T,
    /// Whether the SLO held.
    pub met: bool,
    /// The metrics the SLO names, as measured.
    pub metrics: Vec<(Metric, Estimate)>,
}

impl<T> Probe<T> {
    /// `metric` as measured at this probe; NaN unless the SLO names it.
    pub fn metric(&self, metric: impl Borrow<Metric>) -> Estimate {
        let metric = metric.borrow();
        self.metrics.iter().find(|(m, _)| m == metric).map_or(Estimate::NONE, |(_, e)| *e)
    }

    fn map<U>(self, f: impl Fn(T) -> U) -> Probe<U> {
        Probe { value: f(self.value), met: self.met, metrics: self.metrics }
    }
}

/// The answer of a search for one variant: the highest arrival rate \[s⁻¹\]
/// ([`max_rate`], `T = f64`) or the fewest replicas ([`min_replicas`], `T = u32`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Capacity<T> {
    /// The variant's label.
    pub label: String,
    /// The best value that met the SLO (highest rate, fewest replicas); `None` if none did.
    pub best: Option<T>,
    /// The nearest value tried that did not meet it (the other end of the bracket).
    pub failed_at: Option<T>,
    /// Every probe, in the order tried.
    pub probes: Vec<Probe<T>>,
}

impl<T: PartialEq> Capacity<T> {
    /// The probe at the answer, with the metrics measured there.
    pub fn at_best(&self) -> Option<&Probe<T>> {
        let best = self.best.as_ref()?;
        self.probes.iter().rev().find(|p| p.value == *best)
    }
}

impl Capacity<f64> {
    fn map<U>(self, f: impl Fn(f64) -> U + Copy) -> Capacity<U> {
        Capacity {
            label: self.label,
            best: self.best.map(f),
            failed_at: self.failed_at.map(f),
            probes: self.probes.into_iter().map(|p| p.map(f)).collect(),
        }
    }
}

/// Runs one probe: `plan` with `axis` (whose value is `value`), unless its runs are estimated
/// to need more than `max_events` events each.
fn probe(
    runner: &Runner<'_>,
    plan: &Plan,
    axis: SweepAxis,
    slo: &Slo,
    value: f64,
    max_events: f64,
) -> Result<Probe<f64>, RunError> {
    let trial = plan.revised(|e| {
        e.sweep = vec![axis];
        e.baseline = None;
    })?;
    let events = trial.work().events_per_run;
    // An estimate that is not a number is refused too.
    if events.is_nan() || events > max_events {
        return Err(RunError::ProbeTooLarge { value, events, limit: max_events, passed: None });
    }
    let report = runner.run(&trial)?;
    let variant = &report.variants[0];
    let mut metrics: Vec<(Metric, Estimate)> =
        slo.objectives.iter().map(|o| (o.metric.clone(), variant.metric(&o.metric))).collect();
    // With fleet dynamics, what the configuration costs.
    let cost = variant.metric(Metric::ReplicaHours);
    if cost.mean.is_finite() {
        metrics.push((Metric::ReplicaHours, cost));
    }
    Ok(Probe { value, met: slo.met_by(variant), metrics })
}

/// A sweep axis of the single total rate `rate`.
fn rate_axis(rate: f64) -> SweepAxis {
    SweepAxis::rate_values([rate])
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
    options: &SearchOptions,
) -> Result<Vec<Capacity<f64>>, RunError> {
    each_variant(plan, None)?
        .into_iter()
        .map(|(label, single)| {
            let start: f64 =
                single.stack().clients.iter().map(|c| crate::build::open_loop_rate(&c.arrivals)).sum();
            let test =
                |rate: f64| probe(runner, &single, rate_axis(rate), slo, rate, options.max_probe_events);
            let (best, failed_at, probes) = search(start, true, options.max_probes, options.tolerance, test)?;
            Ok(Capacity { label, best, failed_at, probes })
        })
        .collect()
}

/// For each variant of `plan` at total arrival rate `rate_per_s` [requests·s⁻¹], the fewest
/// replicas of the backend group `options.backend` (default: the first group) that meet
/// `slo`.
pub fn min_replicas(
    runner: &Runner<'_>,
    plan: &Plan,
    slo: &Slo,
    rate_per_s: f64,
    options: &SearchOptions,
) -> Result<Vec<Capacity<u32>>, RunError> {
    each_variant(plan, Some(rate_axis(rate_per_s)))?
        .into_iter()
        .map(|(label, single)| {
            let backends = &single.stack().backends;
            let group = options.backend.clone().or_else(|| backends.first().map(|b| b.name.clone()));
            let start = backends.iter().find(|b| Some(&b.name) == group.as_ref()).map_or(1, |b| b.replicas);
            let test = |replicas: f64| {
                let axis = SweepAxis::replicas(group.as_deref(), [replicas as u32]);
                probe(runner, &single, axis, slo, replicas, options.max_probe_events)
            };
            let (best, failed_at, probes) = search(f64::from(start), false, options.max_probes, 0.0, test)?;
            // The search tries whole numbers from 1 only.
            Ok(Capacity { label, best, failed_at, probes }.map(|replicas| replicas as u32))
        })
        .collect()
}

/// `stacksim capacity --autoscale`: for one variant and one autoscaler target, the fewest
/// `min` replicas that meet the SLO through the experiment's own traffic (spikes included),
/// and what that fleet costs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AutoscaleAnswer {
    /// The autoscaler target tried.
    pub target: f64,
    /// The search over `min` replicas (its label is the variant's).
    pub capacity: Capacity<u32>,
    /// Replica-hours at the answer.
    pub replica_hours: Option<Estimate>,
    /// The cheapest answer of its variant over the targets tried.
    pub cheapest: bool,
}

/// For each variant of `plan` and each autoscaler `target` (the file's own when empty), the
/// fewest `min` replicas of the autoscaled group `options.backend` (default: the first
/// autoscaled group) that meet `slo` through the experiment's traffic; the cheapest answer
/// per variant is marked.
pub fn min_autoscaled(
    runner: &Runner<'_>,
    plan: &Plan,
    slo: &Slo,
    targets: &[f64],
    options: &SearchOptions,
) -> Result<Vec<AutoscaleAnswer>, RunError> {
    let mut answers = Vec::new();
    for (label, single) in each_variant(plan, None)? {
        let backends = &single.stack().backends;
        let group = backends
            .iter()
            .find(|b| b.autoscale.is_some() && options.backend.as_ref().is_none_or(|n| *n == b.name));
        let Some(group) = group else { continue };
        let Some(crate::spec::AutoscaleSpec::Hpa { target: own, min, max, .. }) = &group.autoscale else {
            continue;
        };
        let (name, own, start, max) = (group.name.clone(), *own, *min, *max);
        let targets: Vec<f64> = if targets.is_empty() { vec![own] } else { targets.to_vec() };
        let first = answers.len();
        for &target in &targets {
            let test = |n: f64| {
                let n = (n as u32).min(max);
                let trial = single.revised(|e| {
                    if let StackRef::Inline(stack) = &mut e.stack {
                        for b in stack.backends.iter_mut().filter(|b| b.name == name) {
                            if let Some(crate::spec::AutoscaleSpec::Hpa { target: t, .. }) = &mut b.autoscale
                            {
                                *t = target;
                            }
                        }
                    }
                })?;
                let axis = SweepAxis::MinReplicas { backend: Some(name.clone()), values: vec![n] };
                probe(runner, &trial, axis, slo, f64::from(n), options.max_probe_events)
            };
            let (best, failed_at, probes) = search(f64::from(start), false, options.max_probes, 0.0, test)?;
            let capacity = Capacity { label: label.clone(), best, failed_at, probes }.map(|n| n as u32);
            let replica_hours =
                capacity.at_best().map(|p| p.metric(Metric::ReplicaHours)).filter(|e| e.mean.is_finite());
            answers.push(AutoscaleAnswer { target, capacity, replica_hours, cheapest: false });
        }
        let cheapest =
            (first..answers.len()).filter(|&i| answers[i].replica_hours.is_some()).min_by(|&a, &b| {
                let cost = |i: usize| answers[i].replica_hours.map_or(f64::INFINITY, |e| e.mean);
                cost(a).total_cmp(&cost(b))
            });
        if let Some(c) = cheapest {
            answers[c].cheapest = true;
        }
    }
    Ok(answers)
}

/// The best passing value, the nearest failing one, and every probe made.
type Bracket = (Option<f64>, Option<f64>, Vec<Probe<f64>>);

/// Brackets and bisects, in at most `max_probes` probes. With `higher_is_harder` (rates), looks
/// for the highest passing value, to within `tolerance` of it; otherwise (replicas, whole
/// numbers from 1) for the lowest passing value.
fn search(
    start: f64,
    higher_is_harder: bool,
    max_probes: u32,
    tolerance: f64,
    mut test: impl FnMut(f64) -> Result<Probe<f64>, RunError>,
) -> Result<Bracket, RunError> {
    let mut probes = Vec::new();
    let mut run = |value: f64, probes: &mut Vec<Probe<f64>>| -> Result<bool, RunError> {
        // A probe too large to run says how far the search got.
        let p = test(value).map_err(|error| match error {
            RunError::ProbeTooLarge { value, events, limit, .. } => {
                let passed = probes.iter().filter(|p| p.met).map(|p| p.value).reduce(if higher_is_harder {
                    f64::max
                } else {
                    f64::min
                });
                RunError::ProbeTooLarge { value, events, limit, passed }
            }
            other => other,
        })?;
        let met = p.met;
        probes.push(p);
        Ok(met)
    };
    let (mut good, mut bad): (Option<f64>, Option<f64>) = (None, None);
    let mut value = start.max(if higher_is_harder { f64::MIN_POSITIVE } else { 1.0 });
    // Bracket: move away from the failing side until both ends are known.
    while (good.is_none() || bad.is_none()) && (probes.len() as u32) < max_probes {
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
        let done = if higher_is_harder { b - g <= tolerance * g } else { g - b <= 1.0 };
        if done || probes.len() as u32 >= max_probes {
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

    fn fake(value: f64, threshold: f64, higher_is_harder: bool) -> Probe<f64> {
        let met = if higher_is_harder { value <= threshold } else { value >= threshold };
        Probe { value, met, metrics: Vec::new() }
    }

    #[test]
    fn search_finds_the_highest_passing_rate_within_tolerance() {
        let (best, bad, probes) = search(10.0, true, 40, 0.01, |v| Ok(fake(v, 37.3, true))).unwrap();
        let (best, bad) = (best.unwrap(), bad.unwrap());
        assert!(best <= 37.3 && bad > 37.3 && bad - best <= 0.01 * best, "{best} {bad}");
        assert!(probes.len() < 20);
    }

    #[test]
    fn search_finds_the_fewest_passing_replicas() {
        for threshold in [1.0, 3.0, 7.0, 16.0] {
            let (best, _, _) = search(4.0, false, 40, 0.0, |v| Ok(fake(v, threshold, false))).unwrap();
            assert_eq!(best, Some(threshold));
        }
    }

    #[test]
    fn a_probe_too_large_ends_the_search_saying_how_far_it_got() {
        let too_large =
            |v: f64| RunError::ProbeTooLarge { value: v, events: v * 1e6, limit: 1e9, passed: None };
        // An SLO that holds at any rate: the search doubles until a probe is too large.
        let error = search(10.0, true, 40, 0.01, |v| {
            if v > 1000.0 { Err(too_large(v)) } else { Ok(fake(v, f64::MAX, true)) }
        })
        .unwrap_err();
        assert!(
            matches!(error, RunError::ProbeTooLarge { value: 1280.0, passed: Some(640.0), .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains("the SLO held up to 640"), "{error}");
        let error = search(4.0, false, 40, 0.0, |v| Err(too_large(v))).unwrap_err();
        assert!(matches!(error, RunError::ProbeTooLarge { value: 4.0, passed: None, .. }), "{error:?}");
    }
}
