//! What the command prints and writes: tables, progress, output files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::outdir::OutputDir;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stacksim::capacity::{Capacity, Slo};
use stacksim::metric::{BackendMetric, Style};
use stacksim::report::VariantReport;
use stacksim::spec::Warmup;
use stacksim::{Experiment, Metric, Plan, PolicyInfo, Progress, Report, ShardOutput};

/// One line about an experiment's size: variants, replications, simulated time.
pub fn describe(plan: &Plan) -> String {
    let experiment = plan.experiment();
    let variants = plan.variants().len();
    let warmup = if experiment.warmup.fixed().is_zero() && experiment.warmup != Warmup::Auto {
        String::new()
    } else {
        format!(", {} warm-up", experiment.warmup)
    };
    format!(
        "{variants} variant{} × {} replication{}, {} simulated each{warmup}, seed {}",
        plural(variants),
        experiment.replications,
        plural(experiment.replications as usize),
        experiment.duration,
        experiment.seed
    )
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The table a person sees after `stacksim run`: one row per variant. `experiment` adds its
/// duration and warm-up to the heading (a merged report has no experiment file at hand).
///
/// Replays add columns where they have something to say: `users affected` when requests carry
/// user keys, `attempts/req` when retries added attempts, and `detect <alert>` per alert rule.
pub fn report_table(experiment: Option<&Experiment>, report: &Report) -> String {
    let replications = report.variants.first().map_or(0, |v| v.replications);
    let users = report.any_above(Metric::UsersActive, 0.0);
    let attempts = report.any_above(Metric::AttemptsPerRequest, 1.001);
    let alerts = report.alerts();
    let mut header = vec!["variant", "mean", "p50", "p99", "p99.9", "throughput", "errors", "backend util"]
        .into_iter()
        .map(str::to_owned)
        .collect::<Vec<_>>();
    if users {
        header.push("users affected".to_owned());
    }
    if attempts {
        header.push("attempts/req".to_owned());
    }
    header.extend(alerts.iter().filter_map(Metric::alert).map(|name| format!("detect {name}")));
    let columns = header.len();
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(header);
    for (v, variant) in report.variants.iter().enumerate() {
        let m = |metric: Metric| metric.show(variant.metric(&metric), Style::Terminal).to_string();
        let mut row = vec![
            variant.label.clone(),
            m(Metric::ResponseTimeMean),
            m(Metric::ResponseTimeP50),
            m(Metric::ResponseTimeP99),
            m(Metric::ResponseTimeP999),
            m(Metric::Throughput),
            m(Metric::ErrorRatio),
            utilization_range(variant),
        ];
        if users {
            row.push(m(Metric::UsersAffectedRatio));
        }
        if attempts {
            row.push(m(Metric::AttemptsPerRequest));
        }
        row.extend(alerts.iter().map(|metric| report.detection(v, metric).show(Style::Terminal).to_string()));
        table.add_row(row);
    }
    for column in 1..columns {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let simulated = experiment.map_or(String::new(), |e| {
        let warmup = if e.warmup.fixed().is_zero() && e.warmup != Warmup::Auto {
            String::new()
        } else {
            format!(" after {} warm-up", e.warmup)
        };
        format!(", {} simulated each{warmup}", e.duration)
    });
    let mut notes = String::new();
    if users {
        notes.push_str(
            "users affected = users with a failed or too-slow request, over users active \
             (over the incident when the experiment names one).\n",
        );
    }
    if attempts {
        notes.push_str("attempts/req = attempts sent per request, retries included.\n");
    }
    if !alerts.is_empty() {
        notes.push_str(
            "detect = minutes from the incident's start (or the first timeline action) until the \
             alert fired; never = it did not fire.\n",
        );
    }
    if report.truncated_runs() > 0 {
        notes.push_str(&format!("TRUNCATED: {}\n", truncation_note(report)));
    }
    format!(
        "{}: {} variant{} × {replications} replication{}{simulated}, seed {}\n{table}\n\
         Response times of successful requests; ± is the 95% confidence interval over replications.\n\
         errors = rejected + timed out + failed, over arrivals. backend util = lowest–highest backend.\n\
         {notes}{}",
        report.experiment,
        report.variants.len(),
        plural(report.variants.len()),
        plural(replications as usize),
        report.seed,
        paired_table(report),
    )
}

/// What `--max-events` cut short: how many runs, of which variants, and how far they got.
pub fn truncation_note(report: &Report) -> String {
    let runs = report.runs.len();
    let truncated: Vec<&stacksim::report::RunReport> = report.runs.iter().filter(|r| r.truncated).collect();
    let variants: Vec<String> = report
        .variants
        .iter()
        .filter(|v| v.truncated_runs > 0)
        .map(|v| format!("{} ({}/{})", v.label, v.truncated_runs, v.replications))
        .collect();
    let reached: Vec<f64> = truncated.iter().filter_map(|r| r.reached_s).collect();
    let furthest = reached.iter().copied().fold(0.0, f64::max);
    let reached = if reached.is_empty() {
        String::new()
    } else {
        let furthest = stacksim::spec::HumanDuration(std::time::Duration::from_secs(furthest as u64));
        format!(", the furthest reaching {furthest} of simulated time")
    };
    format!(
        "--max-events stopped {} of {runs} run{} before the end of their simulated time{reached}: {}. \
         Their metrics cover only the time they reached.",
        truncated.len(),
        plural(runs),
        variants.join(", ")
    )
}

/// The variants against the baseline, paired by replication; empty with a single variant or
/// a single replication.
fn paired_table(report: &Report) -> String {
    let Some(baseline) = report.variants.get(report.baseline) else { return String::new() };
    let others: Vec<&VariantReport> = report.variants.iter().filter(|v| !v.vs_baseline.is_empty()).collect();
    let has_intervals = others.iter().any(|v| v.vs_baseline.values().any(|e| e.ci95.is_finite()));
    if others.is_empty() || !has_intervals {
        return String::new();
    }
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec!["variant", "Δ mean", "Δ p99", "Δ errors"]);
    for v in others {
        let d = |metric: Metric| {
            let e = v.difference(&metric);
            let text = metric.show(e, Style::Terminal).to_string();
            // An explicit sign: `+` for increases (a `-` is already there for decreases).
            if e.mean > 0.0 { format!("+{text}") } else { text }
        };
        table.add_row(vec![
            v.label.clone(),
            d(Metric::ResponseTimeMean),
            d(Metric::ResponseTimeP99),
            d(Metric::ErrorRatio),
        ]);
    }
    for column in 1..4 {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    format!(
        "\nCompared with {}, paired by replication (same arrivals and request sizes):\n{table}\n\
         Δ = variant − baseline; an interval that excludes 0 is a real difference.\n",
        baseline.label
    )
}

fn utilization_range(variant: &VariantReport) -> String {
    let utilizations: Vec<f64> = variant
        .backends
        .iter()
        .map(|b| b.metric(BackendMetric::Utilization).mean)
        .filter(|u| u.is_finite())
        .collect();
    let lowest = utilizations.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = utilizations.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if utilizations.is_empty() {
        "–".to_owned()
    } else if utilizations.len() == 1 {
        format!("{:.0}%", lowest * 100.0)
    } else {
        format!("{:.0}–{:.0}%", lowest * 100.0, highest * 100.0)
    }
}

/// The answers of `stacksim capacity`: highest rates, or fewest replicas at a rate \[s⁻¹\].
pub enum Answers {
    /// From `capacity::max_rate`.
    MaxRate(Vec<Capacity<f64>>),
    /// From `capacity::min_replicas`, at this total arrival rate.
    MinReplicas(f64, Vec<Capacity<u32>>),
}

impl Answers {
    /// Whether every variant has an answer (some configuration met the SLO).
    pub fn all_found(&self) -> bool {
        match self {
            Answers::MaxRate(found) => found.iter().all(|c| c.best.is_some()),
            Answers::MinReplicas(_, found) => found.iter().all(|c| c.best.is_some()),
        }
    }

    /// The answers as pretty-printed JSON, one object per variant.
    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            Answers::MaxRate(found) => serde_json::to_string_pretty(found),
            Answers::MinReplicas(_, found) => serde_json::to_string_pretty(found),
        }
    }
}

/// `stacksim capacity`: one row per variant with the answer and the metrics measured there.
pub fn capacity_table(slo: &Slo, answers: &Answers) -> String {
    let mut table = Table::new();
    let answer = match answers {
        Answers::MaxRate(_) => "max rate",
        Answers::MinReplicas(..) => "min replicas",
    };
    let mut header = vec!["variant".to_owned(), answer.to_owned(), "fails at".to_owned()];
    header.extend(slo.objectives.iter().map(|o| o.metric.to_string()));
    header.push("probes".to_owned());
    table.load_style(UTF8_FULL_CONDENSED).set_header(header);
    match answers {
        Answers::MaxRate(results) => {
            for c in results {
                table.add_row(capacity_row(slo, c, |rate| format!("{}/s", significant(rate, 4))));
            }
        }
        Answers::MinReplicas(_, results) => {
            for c in results {
                table.add_row(capacity_row(slo, c, |replicas| replicas.to_string()));
            }
        }
    }
    let question = match answers {
        Answers::MaxRate(_) => "highest total arrival rate".to_owned(),
        Answers::MinReplicas(rate, _) => format!("fewest replicas at {rate}/s"),
    };
    format!(
        "{question} meeting {slo} (upper end of the 95% interval within each limit):\n{table}\n\
         Metrics are those measured at the answer.\n"
    )
}

/// A row of the capacity table: the variant, its answer, the other end of the bracket, the
/// metrics the SLO names as measured at the answer, and how many probes it took.
fn capacity_row<T: Copy + PartialEq>(slo: &Slo, c: &Capacity<T>, show: impl Fn(T) -> String) -> Vec<String> {
    let show = |v: Option<T>| v.map_or("–".to_owned(), &show);
    let at_best = c.at_best();
    let mut row = vec![c.label.clone(), show(c.best), show(c.failed_at)];
    row.extend(slo.objectives.iter().map(|o| {
        at_best.map_or("–".to_owned(), |p| o.metric.show(p.metric(&o.metric), Style::Terminal).to_string())
    }));
    row.push(c.probes.len().to_string());
    row
}

/// `x` rounded to `digits` significant digits, without trailing zeros after the point.
fn significant(x: f64, digits: i32) -> String {
    let decimals =
        if x == 0.0 { 0 } else { (digits - 1 - x.abs().log10().floor() as i32).clamp(0, 9) as usize };
    format!("{x:.decimals$}")
}

/// `stacksim policies`: name, semantics, and the production balancer it follows.
pub fn policies_table(policies: &[PolicyInfo]) -> String {
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(vec!["policy", "what it does", "follows"]);
    for p in policies {
        table.add_row(vec![p.name, p.summary, p.source]);
    }
    format!("{table}\n")
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
pub fn progress_bar(terminal: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(
        Some(0),
        if terminal { ProgressDrawTarget::stderr() } else { ProgressDrawTarget::hidden() },
    );
    bar.set_style(ProgressStyle::with_template("{bar:30} {msg}  ETA {eta}").expect("the template is valid"));
    bar
}

/// Steps of the bar per run: it advances within a run as the run's simulated time does, so a
/// single long run shows progress and an ETA.
const STEPS_PER_RUN: u64 = 1000;

/// Moves the bar to `progress`.
pub fn update_progress(bar: &ProgressBar, progress: Progress) {
    bar.set_length(progress.total * STEPS_PER_RUN);
    // Reports from worker threads may arrive out of order: the bar never moves back.
    let position = (progress.runs_simulated * STEPS_PER_RUN as f64) as u64;
    bar.set_position(position.max(bar.position()));
    let secs = bar.elapsed().as_secs_f64();
    let rate = if secs > 0.0 {
        format!("  {:.1} M events/s", progress.events as f64 / secs / 1e6)
    } else {
        String::new()
    };
    bar.set_message(format!("{}/{} runs{rate}", progress.done, progress.total));
}

/// Writes `bytes` to `dir/.name.tmp`, synced: the first half of an atomic write.
fn write_temporary(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut file = fs::File::create(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("writing {}", tmp.display()))
}

/// Renames `dir/.name.tmp` to `dir/name`: the second half; returns the final path.
fn rename_into_place(dir: &Path, name: &str) -> Result<PathBuf> {
    let (tmp, path) = (dir.join(format!(".{name}.tmp")), dir.join(name));
    fs::rename(&tmp, &path).with_context(|| format!("renaming {} into place", tmp.display()))?;
    Ok(path)
}

/// Writes `bytes` to `dir/name` completely or not at all: under a temporary name, then renamed.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf> {
    write_temporary(dir, name, bytes)?;
    rename_into_place(dir, name)
}

/// Writes one shard's runs as `dir/shard-I-of-N.json`; returns the path.
pub fn write_shard(dir: &Path, shard: &ShardOutput) -> Result<PathBuf> {
    fs::create_dir_all(dir).context("creating the directory")?;
    let json = serde_json::to_vec_pretty(shard)?;
    write_atomically(dir, &shard.file_name(), &json)
}

/// The shard files in `inputs`: files as given, and in each directory its `shard-*.json`
/// files, sorted by name.
pub fn shard_files(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    for input in inputs {
        if input.is_dir() {
            let mut found: Vec<PathBuf> = fs::read_dir(input)
                .with_context(|| format!("reading {}", input.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                    name.starts_with("shard-") && name.ends_with(".json")
                })
                .collect();
            if found.is_empty() {
                anyhow::bail!("{} holds no shard-*.json files", input.display());
            }
            found.sort();
            files.extend(found);
        } else {
            files.push(input.clone());
        }
    }
    Ok(files)
}

/// Reads one shard file. `merge` reads them one at a time, so that it holds one file's text
/// and runs at once, however many shards there are.
pub fn read_shard(file: &Path) -> Result<ShardOutput> {
    let bytes = fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    serde_json::from_slice(&bytes).with_context(|| format!("{} is not a stacksim shard file", file.display()))
}

/// Files of a time series, written only for a report that has one.
/// Writes `report.json`, `variants.csv`, `runs.csv`, the plots (`latency.svg`, `errors.svg`,
/// `utilization.svg`) and `report.html` into `dir`; with a time series also `timeseries.csv`
/// and its plots (`timeline.svg`, `timeline-backends.svg`). Each file is complete or not at
/// all: every file is written under a temporary name and renamed into place. Time-series files
/// left from an earlier run into `dir` are removed when this report has none, so that they are
/// never mistaken for this run's.
pub fn write_outputs(mut out: OutputDir, report: &Report) -> Result<()> {
    let mut variants = Vec::new();
    report.write_variants_csv(&mut variants)?;
    let mut runs = Vec::new();
    report.write_runs_csv(&mut runs)?;
    out.stage("report.json", report.to_json().as_bytes())?;
    out.stage("variants.csv", &variants)?;
    out.stage("runs.csv", &runs)?;
    if !report.timeseries.is_empty() {
        let mut timeseries = Vec::new();
        report.write_timeseries_csv(&mut timeseries)?;
        out.stage("timeseries.csv", &timeseries)?;
    }
    for plot in stacksim_render::plot::all(report) {
        out.stage(&plot.file_name(), plot.svg.as_bytes())?;
    }
    out.stage("report.html", stacksim_render::html::report_html(report).as_bytes())?;
    // Every file is staged before any is moved into place, so a failure leaves the old set.
    out.commit()?;
    Ok(())
}
