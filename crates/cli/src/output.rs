//! What the command prints and writes: tables, progress, output files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stacksim::capacity::Capacity;
use stacksim::report::{Detection, VariantReport};
use stacksim::stats::Estimate;
use stacksim::{Experiment, Plan, PolicyInfo, Progress, Report, ShardOutput};

/// One line about an experiment's size: variants, replications, simulated time.
pub fn describe(plan: &Plan) -> String {
    let experiment = plan.experiment();
    let variants = plan.variants().len();
    let warmup = if experiment.warmup.fixed().is_zero() && experiment.warmup != stacksim::warmup::Warmup::Auto
    {
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
    let any = |metric: &str, above: f64| {
        report.variants.iter().any(|v| v.metrics.get(metric).is_some_and(|e| e.mean > above))
    };
    let users = any("users_active", 0.0);
    let attempts = any("attempts_per_request", 1.001);
    let alerts = alert_metrics(report);
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
    header.extend(alerts.iter().map(|(_, name)| format!("detect {name}")));
    let columns = header.len();
    let mut table = Table::new();
    table.load_style(UTF8_FULL_CONDENSED).set_header(header);
    for (v, variant) in report.variants.iter().enumerate() {
        let m = |name: &str| {
            variant.metrics.get(name).copied().unwrap_or(Estimate { mean: f64::NAN, ci95: f64::NAN })
        };
        let mut row = vec![
            variant.label.clone(),
            seconds(m("response_time_mean_s")),
            seconds(m("response_time_p50_s")),
            seconds(m("response_time_p99_s")),
            seconds(m("response_time_p999_s")),
            format!("{:.1}/s", m("throughput_per_s").mean),
            percent(m("error_ratio")),
            utilization_range(variant),
        ];
        if users {
            row.push(percent(m("users_affected_ratio")));
        }
        if attempts {
            let e = m("attempts_per_request");
            row.push(if !e.mean.is_finite() {
                "–".to_owned()
            } else if e.ci95.is_finite() {
                format!("{:.3} ±{:.3}", e.mean, e.ci95)
            } else {
                format!("{:.3}", e.mean)
            });
        }
        row.extend(alerts.iter().map(|(metric, _)| detection(report, v, metric)));
        table.add_row(row);
    }
    for column in 1..columns {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let simulated = experiment.map_or(String::new(), |e| {
        let warmup = if e.warmup.fixed().is_zero() && e.warmup != stacksim::warmup::Warmup::Auto {
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
        let d = |name: &str| {
            v.vs_baseline.get(name).copied().unwrap_or(Estimate { mean: f64::NAN, ci95: f64::NAN })
        };
        table.add_row(vec![
            v.label.clone(),
            signed(seconds(d("response_time_mean_s")), d("response_time_mean_s").mean),
            signed(seconds(d("response_time_p99_s")), d("response_time_p99_s").mean),
            signed(percent(d("error_ratio")), d("error_ratio").mean),
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

/// `text` with an explicit sign: `+` for increases (a `-` is already there for decreases).
fn signed(text: String, value: f64) -> String {
    if value > 0.0 { format!("+{text}") } else { text }
}

/// The `time_to_detect_<name>_s` metrics of `report`, as (metric, name), in report order.
fn alert_metrics(report: &Report) -> Vec<(String, String)> {
    let mut alerts: Vec<(String, String)> = Vec::new();
    for metric in report.variants.iter().flat_map(|v| v.metrics.keys()) {
        let Some(name) = metric.strip_prefix("time_to_detect_").and_then(|m| m.strip_suffix("_s")) else {
            continue;
        };
        if !alerts.iter().any(|(m, _)| m == metric) {
            alerts.push((metric.clone(), name.to_owned()));
        }
    }
    alerts
}

/// When an alert fired in variant `v`, in minutes: `12.0 min ±1.5` when it fired in every
/// replication, `never` when in none, else the mean over the runs where it fired and how many
/// those were (`14.0 min in 2/3 runs`).
fn detection(report: &Report, v: usize, metric: &str) -> String {
    match report.detection(v, metric) {
        Detection::Every(e) if e.ci95.is_finite() => {
            format!("{:.1} min ±{:.1}", e.mean / 60.0, e.ci95 / 60.0)
        }
        Detection::Every(e) => format!("{:.1} min", e.mean / 60.0),
        Detection::Some { mean_s, fired, runs } => format!("{:.1} min in {fired}/{runs} runs", mean_s / 60.0),
        Detection::Never => "never".to_owned(),
    }
}

/// A time estimate in a readable unit, with its interval: `131.2 ms ±1.4`.
fn seconds(e: Estimate) -> String {
    if !e.mean.is_finite() {
        return "–".to_owned();
    }
    let (scale, unit) = match e.mean.abs() {
        x if x >= 1.0 => (1.0, "s"),
        x if x >= 1e-3 => (1e3, "ms"),
        _ => (1e6, "µs"),
    };
    with_ci(e.mean * scale, e.ci95 * scale, unit)
}

fn percent(e: Estimate) -> String {
    if !e.mean.is_finite() {
        return "–".to_owned();
    }
    with_ci(e.mean * 100.0, e.ci95 * 100.0, "%")
}

fn with_ci(mean: f64, ci: f64, unit: &str) -> String {
    // Four significant digits for the mean; the interval to the same decimal place.
    let digits = if mean == 0.0 { 0 } else { (3 - mean.abs().log10().floor() as i32).clamp(0, 6) as usize };
    if ci.is_finite() {
        format!("{mean:.digits$} {unit} ±{ci:.digits$}")
    } else {
        format!("{mean:.digits$} {unit}")
    }
}

fn utilization_range(variant: &VariantReport) -> String {
    let utilizations: Vec<f64> = variant
        .backends
        .iter()
        .filter_map(|b| b.metrics.get("utilization").map(|e| e.mean))
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

/// `stacksim capacity`: one row per variant with the answer and the metrics measured there.
pub fn capacity_table(slo: &stacksim::capacity::Slo, rate: Option<f64>, results: &[Capacity]) -> String {
    let mut table = Table::new();
    let (answer, other) = match rate {
        None => ("max rate", "fails at"),
        Some(_) => ("min replicas", "fails at"),
    };
    let mut header = vec!["variant".to_owned(), answer.to_owned(), other.to_owned()];
    header.extend(slo.objectives.iter().map(|o| o.metric.clone()));
    header.push("probes".to_owned());
    table.load_style(UTF8_FULL_CONDENSED).set_header(header);
    let show = |v: Option<f64>| match (v, rate) {
        (None, _) => "–".to_owned(),
        (Some(v), None) => format!("{}/s", significant(v, 4)),
        (Some(v), Some(_)) => format!("{v:.0}"),
    };
    for c in results {
        let at_best = c.probes.iter().rev().find(|p| Some(p.value) == c.best);
        let mut row = vec![c.label.clone(), show(c.best), show(c.failed_at)];
        row.extend(slo.objectives.iter().map(|o| {
            at_best
                .and_then(|p| p.metrics.iter().find(|(m, _)| *m == o.metric))
                .map_or("–".to_owned(), |(m, e)| if m.ends_with("_s") { seconds(*e) } else { percent(*e) })
        }));
        row.push(c.probes.len().to_string());
        table.add_row(row);
    }
    let question = match rate {
        None => "highest total arrival rate".to_owned(),
        Some(rate) => format!("fewest replicas at {rate}/s"),
    };
    format!(
        "{question} meeting {slo} (upper end of the 95% interval within each limit):\n{table}\n\
         Metrics are those measured at the answer.\n"
    )
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
    bar.set_style(
        ProgressStyle::with_template("{bar:30} {pos}/{len} runs  {msg}  ETA {eta}")
            .expect("the template is valid"),
    );
    bar
}

/// Moves the bar to `progress`.
pub fn update_progress(bar: &ProgressBar, progress: Progress) {
    bar.set_length(progress.total);
    bar.set_position(progress.done);
    let secs = bar.elapsed().as_secs_f64();
    if secs > 0.0 {
        bar.set_message(format!("{:.1} M events/s", progress.events as f64 / secs / 1e6));
    }
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
const TIME_SERIES_FILES: [&str; 3] = ["timeseries.csv", "timeline.svg", "timeline-backends.svg"];

/// Writes `report.json`, `variants.csv`, `runs.csv`, the plots (`latency.svg`, `errors.svg`,
/// `utilization.svg`) and `report.html` into `dir`; with a time series also `timeseries.csv`
/// and its plots (`timeline.svg`, `timeline-backends.svg`). Each file is complete or not at
/// all: every file is written under a temporary name and renamed into place. Time-series files
/// left from an earlier run into `dir` are removed when this report has none, so that they are
/// never mistaken for this run's.
pub fn write_outputs(dir: &Path, report: &Report) -> Result<()> {
    fs::create_dir_all(dir).context("creating the directory")?;
    let mut variants = Vec::new();
    report.write_variants_csv(&mut variants)?;
    let mut runs = Vec::new();
    report.write_runs_csv(&mut runs)?;
    let mut files =
        vec![("report.json", report.to_json().into_bytes()), ("variants.csv", variants), ("runs.csv", runs)];
    if !report.timeseries.is_empty() {
        let mut timeseries = Vec::new();
        report.write_timeseries_csv(&mut timeseries)?;
        files.push(("timeseries.csv", timeseries));
    }
    let plots = stacksim::plot::all(report);
    let plot_names: Vec<String> = plots.iter().map(|p| p.file_name()).collect();
    files.extend(plot_names.iter().map(String::as_str).zip(plots.into_iter().map(|p| p.svg.into_bytes())));
    files.push(("report.html", stacksim::html::report_html(report).into_bytes()));
    // Every file is written before any is renamed, so a failure leaves the old set in place.
    for (name, bytes) in &files {
        write_temporary(dir, name, bytes)?;
    }
    for (name, _) in &files {
        rename_into_place(dir, name)?;
    }
    for stale in TIME_SERIES_FILES.iter().filter(|stale| files.iter().all(|(name, _)| name != *stale)) {
        match fs::remove_file(dir.join(stale)) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
                return Err(error).with_context(|| format!("removing {} left from an earlier run", stale));
            }
            _ => {}
        }
    }
    Ok(())
}
