//! What the command prints and writes: tables, progress, output files.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::outdir::OutputDir;
use comfy_table::presets::UTF8_FULL_CONDENSED;
use comfy_table::{CellAlignment, ContentArrangement, Table};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use stacksim::capacity::{Capacity, Slo};
use stacksim::metric::{BackendMetric, ClassMetric, Shown, Style, readable_duration};
use stacksim::report::VariantReport;
use stacksim::spec::Warmup;
use stacksim::stats::Estimate;
use stacksim::{Metric, Plan, PolicyInfo, Progress, Report, RunSpan, ShardOutput};

/// One line about an experiment's size: variants, replications, simulated time.
pub fn describe(plan: &Plan) -> String {
    let experiment = plan.experiment();
    let variants = plan.variants().len();
    let (duration, warmup) = spans(&RunSpan { duration: experiment.duration, warmup: experiment.warmup });
    let warmup = warmup.map_or(String::new(), |w| format!(", {w} warm-up"));
    format!(
        "{variants} variant{} × {} replication{}, {duration} simulated each{warmup}, seed {}",
        plural(variants),
        experiment.replications,
        plural(experiment.replications as usize),
        experiment.seed
    )
}

/// The experiment's simulated span and its warm-up (none when zero, `auto` when detected), as
/// people read them: `11d 16h`, not `11days 16h`.
fn spans(span: &RunSpan) -> (String, Option<String>) {
    let warmup = match span.warmup {
        Warmup::Auto => Some("auto".to_owned()),
        Warmup::Fixed(d) if d.0.is_zero() => None,
        Warmup::Fixed(d) => Some(readable_duration(d.0)),
    };
    (readable_duration(span.duration.0), warmup)
}

/// The width tables may take: the terminal's, when stdout is one; `None` (as wide as their
/// contents) when stdout is a pipe or a file, so that what is saved does not depend on the
/// window it was made in.
pub fn terminal_width() -> Option<u16> {
    use std::io::IsTerminal;
    if !std::io::stdout().is_terminal() {
        return None;
    }
    terminal_size::terminal_size().map(|(width, _)| width.0)
}

/// An empty table in the house style, at most `width` columns wide when given: cells wrap
/// (comfy-table's dynamic arrangement) rather than the terminal breaking rows into fragments.
fn table(width: Option<u16>) -> Table {
    let mut table = Table::new();
    // The width is decided here, not by comfy-table's own look at the terminal.
    table.load_style(UTF8_FULL_CONDENSED).force_no_tty();
    if let Some(width) = width {
        table.set_width(width).set_content_arrangement(ContentArrangement::Dynamic);
    }
    table
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The table a person sees after `stacksim run`: one row per variant. `span` adds the runs'
/// duration and warm-up to the heading (from the experiment, or from the shards merged).
///
/// Replays add columns where they have something to say: `users affected` when requests carry
/// user keys, `attempts/req` when retries added attempts, `detect <alert>` per alert rule, and
/// one column per overload mechanism that turned requests away (`overflow`, `limited`, `shed`,
/// `short-circuited`, `throttled`, `priority shed`, `concurrency-limited`). With request
/// classes, a table of the classes follows.
pub fn report_table(span: Option<&RunSpan>, report: &Report, width: Option<u16>) -> String {
    let replications = report.variants.first().map_or(0, |v| v.replications);
    let users = report.any_above(Metric::UsersActive, 0.0);
    let attempts = report.any_above(Metric::AttemptsPerRequest, 1.001);
    // Balancer topology (issue 11): only experiments that configure zones or connections.
    let cross_zone = report.any_above(Metric::CrossZoneRatio, -1.0);
    let reconnects = report.any_above(Metric::Reconnects, -1.0);
    let alerts = report.alerts();
    let overload: Vec<(Metric, &str)> = [
        (Metric::OverflowRatio, "overflow"),
        (Metric::LimitedRatio, "limited"),
        (Metric::ShedRatio, "shed"),
        (Metric::ShortCircuitedRatio, "short-circuited"),
        (Metric::ThrottledRatio, "throttled"),
        (Metric::PriorityShedRatio, "priority shed"),
        (Metric::ConcurrencyLimitedRatio, "concurrency-limited"),
    ]
    .into_iter()
    .filter(|(metric, _)| report.any_above(metric, 0.0))
    .collect();
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
    header.extend(overload.iter().map(|(_, name)| (*name).to_owned()));
    if cross_zone {
        header.push("cross-zone".to_owned());
    }
    if reconnects {
        header.push("reconnects".to_owned());
    }
    header.extend(alerts.iter().filter_map(Metric::alert).map(|name| format!("detect {name}")));
    let mut rows = Vec::new();
    for (v, variant) in report.variants.iter().enumerate() {
        let m = |metric: Metric| metric.show(variant.metric(&metric), Style::Terminal);
        let mut row = vec![
            m(Metric::ResponseTimeMean),
            m(Metric::ResponseTimeP50),
            m(Metric::ResponseTimeP99),
            m(Metric::ResponseTimeP999),
            m(Metric::Throughput),
            m(Metric::ErrorRatio),
            Shown::value(utilization_range(variant)),
        ];
        if users {
            row.push(m(Metric::UsersAffectedRatio));
        }
        if attempts {
            row.push(m(Metric::AttemptsPerRequest));
        }
        row.extend(overload.iter().map(|(metric, _)| m(metric.clone())));
        if cross_zone {
            row.push(m(Metric::CrossZoneRatio));
        }
        if reconnects {
            row.push(m(Metric::Reconnects));
        }
        row.extend(alerts.iter().map(|metric| report.detection(v, metric).show(Style::Terminal)));
        rows.push(VariantRow { index: v, label: &variant.label, cells: row });
    }
    // Left out first when the terminal is too narrow for every column.
    let drop_first = ["p50", "p99.9", "attempts/req", "backend util", "throughput", "mean"];
    let table = variants_table(header, &rows, &drop_first, width);
    let simulated = span.map_or(String::new(), |span| {
        let (duration, warmup) = spans(span);
        let warmup = warmup.map_or(String::new(), |w| format!(" after {w} warm-up"));
        format!(", {duration} simulated each{warmup}")
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
    if overload.iter().any(|(m, _)| *m != Metric::PriorityShedRatio && *m != Metric::ConcurrencyLimitedRatio)
    {
        notes.push_str(
            "overflow, limited, shed, short-circuited, throttled = requests turned away by a circuit \
             breaker (503), a rate limit (429), admission control (503), an open client breaker, \
             client throttling; each is part of errors.\n",
        );
    }
    if overload.iter().any(|(m, _)| *m == Metric::PriorityShedRatio) {
        notes.push_str(
            "priority shed = requests a backend shed because their class's priority was below its mark \
             (503); part of errors.\n",
        );
    }
    if overload.iter().any(|(metric, _)| *metric == Metric::ConcurrencyLimitedRatio) {
        notes.push_str(
            "concurrency-limited = requests answered 503 by a backend's adaptive concurrency limit; \
             part of errors.\n",
        );
    }
    if cross_zone {
        notes.push_str("cross-zone = attempts sent to a backend in another zone than their client's.\n");
    }
    if reconnects {
        notes.push_str("reconnects = connections the balancers opened after warm-up.\n");
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
    let heading = format!(
        "{}: {} variant{} × {replications} replication{}{simulated}, seed {}\n",
        report.experiment,
        report.variants.len(),
        plural(report.variants.len()),
        plural(replications as usize),
        report.seed,
    );
    let notes = format!(
        "Response times of successful requests; ± is the 95% confidence interval over replications.\n\
         errors = rejected + timed out + failed, over arrivals. backend util = lowest–highest backend.\n\
         {notes}"
    );
    format!(
        "{}{table}\n{}{}{}",
        wrap(&heading, width),
        wrap(&notes, width),
        paired_table(report, width),
        class_table(report, width)
    )
}

/// The request classes of every variant, one row each: priority, share of its client's
/// requests, mean and p99 response time, errors and requests shed by priority; empty when no
/// variant has request classes.
fn class_table(report: &Report, width: Option<u16>) -> String {
    if !report.has_classes() {
        return String::new();
    }
    let clients: std::collections::BTreeSet<&str> =
        report.variants.iter().flat_map(|v| &v.classes).map(|c| c.client.as_str()).collect();
    let several = report.variants.len() > 1;
    let mut header: Vec<String> = Vec::new();
    if several {
        header.push("variant".to_owned());
    }
    header.extend(["class", "priority", "share", "mean", "p99", "errors", "shed"].map(str::to_owned));
    let mut rows = Vec::new();
    for v in &report.variants {
        for class in &v.classes {
            let m = |metric: ClassMetric| metric.show(class.metric(metric), Style::Terminal).to_string();
            let mut row = Vec::new();
            if several {
                row.push(v.label.clone());
            }
            row.push(if clients.len() > 1 {
                format!("{}/{}", class.client, class.name)
            } else {
                class.name.clone()
            });
            row.push(class.priority.clone());
            row.extend([
                m(ClassMetric::Share),
                m(ClassMetric::ResponseTimeMean),
                m(ClassMetric::ResponseTimeP99),
                m(ClassMetric::ErrorRatio),
                m(ClassMetric::ShedRatio),
            ]);
            rows.push(row);
        }
    }
    let first_right = if several { 3 } else { 2 };
    let mut table = table(width);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for column in first_right..table.column_count() {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    let heading = "\nPer request class:\n";
    let notes = "share = the class's part of its client's requests. mean, p99 = response times of its \
                 successful requests. errors = its rejected, timed-out and failed requests, shed = those a \
                 backend shed by priority (503), both over its arrivals.\n";
    format!("{}{table}\n{}", wrap(heading, width), wrap(notes, width))
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
        let furthest = readable_duration(std::time::Duration::from_secs(furthest as u64));
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
fn paired_table(report: &Report, width: Option<u16>) -> String {
    let Some(baseline) = report.variants.get(report.baseline) else { return String::new() };
    let others: Vec<(usize, &VariantReport)> =
        report.variants.iter().enumerate().filter(|(_, v)| !v.vs_baseline.is_empty()).collect();
    let has_intervals = others.iter().any(|(_, v)| v.vs_baseline.values().any(|e| e.ci95.is_finite()));
    if others.is_empty() || !has_intervals {
        return String::new();
    }
    let header = ["variant", "Δ mean", "Δ p99", "Δ errors"].map(str::to_owned).to_vec();
    let rows: Vec<VariantRow> = others
        .into_iter()
        .map(|(index, v)| {
            let d = |metric: Metric| metric.show_difference(v.difference(&metric), Style::Terminal);
            let cells = vec![d(Metric::ResponseTimeMean), d(Metric::ResponseTimeP99), d(Metric::ErrorRatio)];
            VariantRow { index, label: &v.label, cells }
        })
        .collect();
    let table = variants_table(header, &rows, &[], width);
    let heading = format!(
        "\nCompared with {}, paired by replication (same arrivals and request sizes):\n",
        baseline.label
    );
    let notes = "Δ = variant − baseline; an interval that excludes 0 is a real difference.\n";
    format!("{}{table}\n{}", wrap(&heading, width), wrap(notes, width))
}

/// A row of a table of variants: the variant's index in the report, its label, its values.
struct VariantRow<'a> {
    index: usize,
    label: &'a str,
    cells: Vec<Shown>,
}

/// A table with a row per variant: the label, then one right-aligned value per column, each
/// value followed by its interval.
///
/// It is as wide as its contents when `width` is `None` (piped) or when that fits. On a
/// terminal too narrow for that, variants are shown by number (their index in the report)
/// with their labels listed under the table, and each interval goes under its value. If that
/// is still too wide, the columns named in `drop_first` are left out, in that order, until it
/// fits (a line under the table names them); what is then still too wide wraps.
fn variants_table(
    header: Vec<String>,
    rows: &[VariantRow],
    drop_first: &[&str],
    width: Option<u16>,
) -> String {
    let wide = right_aligned(
        header.clone(),
        rows.iter()
            .map(|row| {
                std::iter::once(row.label.to_owned()).chain(row.cells.iter().map(Shown::to_string)).collect()
            })
            .collect(),
    );
    let fits =
        |table: &Table, width: u16| table.lines().all(|line| line.chars().count() <= usize::from(width));
    let Some(width) = width.filter(|&width| !fits(&wide, width)) else { return wide.to_string() };

    let mut columns: Vec<(String, Vec<String>)> = header
        .into_iter()
        .enumerate()
        .map(|(c, heading)| {
            let cells = rows.iter().map(|row| match c {
                0 => row.index.to_string(),
                _ => match &row.cells[c - 1] {
                    Shown { value, after: Some(after) } => format!("{value}\n{after}"),
                    Shown { value, after: None } => value.clone(),
                },
            });
            (if c == 0 { "#".to_owned() } else { heading }, cells.collect())
        })
        .collect();
    // The narrowest a column can be without breaking a value: its longest line of a cell, or
    // its heading's longest word (headings wrap between words).
    let narrowest = |(heading, cells): &(String, Vec<String>)| {
        let heading = heading.split(' ').map(|w| w.chars().count()).max().unwrap_or(0);
        let cells = cells.iter().flat_map(|c| c.lines()).map(|l| l.chars().count()).max().unwrap_or(0);
        heading.max(cells) + 3
    };
    let mut left_out = Vec::new();
    for &heading in drop_first {
        // The columns, and the border on the left.
        let needed = columns.iter().map(narrowest).sum::<usize>() + 1;
        if needed <= usize::from(width) {
            break;
        }
        if let Some(c) = columns.iter().position(|(h, _)| h == heading) {
            columns.remove(c);
            left_out.push(heading);
        }
    }
    let (header, cells): (Vec<String>, Vec<Vec<String>>) = columns.into_iter().unzip();
    let rows_of_cells =
        (0..rows.len()).map(|r| cells.iter().map(|column| column[r].clone()).collect()).collect();
    let mut narrow = right_aligned(header, rows_of_cells);
    narrow.set_width(width).set_content_arrangement(ContentArrangement::Dynamic);
    let digits = rows.iter().map(|row| row.index.to_string().len()).max().unwrap_or(1);
    let mut legend: String =
        rows.iter().map(|row| format!("\n{:>digits$}  {}", row.index, row.label)).collect();
    if !left_out.is_empty() {
        let note = format!(
            "Left out to fit the terminal: {} (all columns when piped, or in a wider terminal).",
            left_out.join(", ")
        );
        legend.push('\n');
        legend.push_str(&wrap(&note, Some(width)));
    }
    format!("{narrow}{legend}")
}

/// `text` with each line broken between words to at most `width` characters; unchanged
/// without a width (piped). A word longer than the width has a line of its own.
fn wrap(text: &str, width: Option<u16>) -> String {
    let Some(width) = width.map(usize::from) else { return text.to_owned() };
    let mut wrapped = String::with_capacity(text.len());
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            wrapped.push('\n');
        }
        let mut used = 0;
        for word in line.split(' ') {
            let length = word.chars().count();
            if used > 0 && used + 1 + length > width {
                wrapped.push('\n');
                used = 0;
            } else if used > 0 {
                wrapped.push(' ');
                used += 1;
            }
            wrapped.push_str(word);
            used += length;
        }
    }
    wrapped
}

/// A table in the house style with every column but the first aligned right.
fn right_aligned(header: Vec<String>, rows: Vec<Vec<String>>) -> Table {
    let columns = header.len();
    let mut table = table(None);
    table.set_header(header);
    for row in rows {
        table.add_row(row);
    }
    for column in 1..columns {
        if let Some(c) = table.column_mut(column) {
            c.set_cell_alignment(CellAlignment::Right);
        }
    }
    table
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

    /// The answers as CSV, one row per variant in the order of the table: `variant` (its
    /// label), for a replicas search the `rate_per_s` searched at, the answer (`max_rate_per_s`
    /// or `min_replicas`) and the other end of the bracket (`fails_at_per_s` or
    /// `fails_at_replicas`), each metric the SLO names as measured at the answer with its
    /// `_ci95`, and `probes`. A value that does not exist is empty.
    pub fn to_csv(&self, slo: &Slo) -> Result<String> {
        let number = |x: Option<f64>| x.filter(|x| x.is_finite()).map_or(String::new(), |x| x.to_string());
        let whole = |n: Option<u32>| n.map_or(String::new(), |n| n.to_string());
        // The columns every row ends with: the metrics the SLO names as measured at the answer
        // (none without one), and the number of probes made.
        let measured = |at_best: Option<Vec<Estimate>>, probes: usize| {
            let mut cells = Vec::new();
            for i in 0..slo.objectives.len() {
                let e = at_best.as_ref().map(|metrics| metrics[i]);
                cells.push(number(e.map(|e| e.mean)));
                cells.push(number(e.map(|e| e.ci95)));
            }
            cells.push(probes.to_string());
            cells
        };
        let metrics =
            |probe: &dyn Fn(&Metric) -> Estimate| slo.objectives.iter().map(|o| probe(&o.metric)).collect();
        let mut header: Vec<String> = match self {
            Answers::MaxRate(_) => vec!["variant", "max_rate_per_s", "fails_at_per_s"],
            Answers::MinReplicas(..) => vec!["variant", "rate_per_s", "min_replicas", "fails_at_replicas"],
        }
        .into_iter()
        .map(str::to_owned)
        .collect();
        for o in &slo.objectives {
            header.push(o.metric.name().into_owned());
            header.push(format!("{}_ci95", o.metric.name()));
        }
        header.push("probes".to_owned());
        let mut csv = csv::Writer::from_writer(Vec::new());
        csv.write_record(&header)?;
        match self {
            Answers::MaxRate(found) => {
                for c in found {
                    let mut row = vec![c.label.clone(), number(c.best), number(c.failed_at)];
                    row.extend(measured(c.at_best().map(|p| metrics(&|m| p.metric(m))), c.probes.len()));
                    csv.write_record(&row)?;
                }
            }
            Answers::MinReplicas(rate, found) => {
                for c in found {
                    let mut row =
                        vec![c.label.clone(), number(Some(*rate)), whole(c.best), whole(c.failed_at)];
                    row.extend(measured(c.at_best().map(|p| metrics(&|m| p.metric(m))), c.probes.len()));
                    csv.write_record(&row)?;
                }
            }
        }
        Ok(String::from_utf8(csv.into_inner().map_err(|e| e.into_error())?)?)
    }

    /// The answers as pretty-printed JSON, one object per variant.
    pub fn to_json(&self) -> serde_json::Result<String> {
        match self {
            Answers::MaxRate(found) => serde_json::to_string_pretty(found),
            Answers::MinReplicas(_, found) => serde_json::to_string_pretty(found),
        }
    }
}

/// An error naming the backend groups of `plan` unless one is named `name` (`capacity
/// --backend`).
pub fn check_backend_group(plan: &Plan, name: &str) -> Result<()> {
    let groups: Vec<String> = plan.stack().backends.iter().map(|b| format!("{:?}", b.name)).collect();
    if plan.stack().backends.iter().any(|b| b.name == name) {
        return Ok(());
    }
    anyhow::bail!("the experiment has no backend group named {name:?}; its groups are {}", groups.join(", "))
}

/// `stacksim capacity`: one row per variant with the answer and the metrics measured there.
pub fn capacity_table(slo: &Slo, answers: &Answers, width: Option<u16>) -> String {
    let mut table = table(width);
    let answer = match answers {
        Answers::MaxRate(_) => "max rate",
        Answers::MinReplicas(..) => "min replicas",
    };
    let mut header = vec!["variant".to_owned(), answer.to_owned(), "fails at".to_owned()];
    header.extend(slo.objectives.iter().map(|o| o.metric.to_string()));
    header.push("probes".to_owned());
    table.set_header(header);
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
    let heading = format!("{question} meeting {slo} (upper end of the 95% interval within each limit):\n");
    format!("{}{table}\nMetrics are those measured at the answer.\n", wrap(&heading, width))
}

/// `stacksim capacity --autoscale`: per variant and target, the fewest warm replicas meeting
/// the SLO and their cost, the cheapest per variant marked.
pub fn autoscale_table(
    slo: &Slo,
    answers: &[stacksim::capacity::AutoscaleAnswer],
    width: Option<u16>,
) -> String {
    let mut table = table(width);
    let mut header =
        vec!["variant".to_owned(), "target".to_owned(), "min replicas".to_owned(), "fails at".to_owned()];
    header.extend(slo.objectives.iter().map(|o| o.metric.to_string()));
    header.push("replica-hours".to_owned());
    header.push("cheapest".to_owned());
    table.set_header(header);
    for a in answers {
        let c = &a.capacity;
        let mut row = vec![
            c.label.clone(),
            significant(a.target, 3),
            c.best.map_or("not found".to_owned(), |n| n.to_string()),
            c.failed_at.map_or("-".to_owned(), |n| n.to_string()),
        ];
        for o in &slo.objectives {
            let shown = c
                .at_best()
                .map_or("-".to_owned(), |p| o.metric.show(p.metric(&o.metric), Style::Terminal).to_string());
            row.push(shown);
        }
        row.push(a.replica_hours.map_or("-".to_owned(), |e| significant(e.mean, 4)));
        row.push(if a.cheapest { "◀ cheapest".to_owned() } else { String::new() });
        table.add_row(row);
    }
    let heading = format!(
        "fewest warm replicas (autoscaler min) meeting {slo} through the experiment's traffic, and their cost:\n"
    );
    format!("{}{table}\nMetrics are those measured at the answer.\n", wrap(&heading, width))
}

/// `stacksim run`'s cost section: each variant's replica-hours beside the SLO metric, which
/// variants meet the SLO, and the cheapest of those. Empty without fleet groups.
pub fn cost_table(report: &Report, slo: Option<&Slo>, width: Option<u16>) -> String {
    let Some((metric, points)) = stacksim::cost::cost_against_slo(report, slo) else { return String::new() };
    let mut table = table(width);
    table.set_header(vec![
        "variant".to_owned(),
        "replica-hours".to_owned(),
        metric.to_string(),
        "meets SLO".to_owned(),
        String::new(),
    ]);
    for p in &points {
        table.add_row(vec![
            p.label.clone(),
            Metric::ReplicaHours.show(p.replica_hours, Style::Terminal).to_string(),
            metric.show(p.value, Style::Terminal).to_string(),
            if slo.is_none() {
                "-".to_owned()
            } else if p.meets {
                "yes".to_owned()
            } else {
                "no".to_owned()
            },
            if p.cheapest { "◀ cheapest".to_owned() } else { String::new() },
        ]);
    }
    let heading = match slo {
        Some(slo) => format!("\nCost against the SLO {slo} (replica-hours: pod time of the fleet groups):\n"),
        None => "\nCost (replica-hours: pod time of the fleet groups):\n".to_owned(),
    };
    format!("{}{table}\n", wrap(&heading, width))
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
pub fn policies_table(policies: &[PolicyInfo], width: Option<u16>) -> String {
    let mut table = table(width);
    table.set_header(vec!["policy", "what it does", "follows"]);
    for p in policies {
        table.add_row(vec![p.name, p.summary, p.source]);
    }
    format!("{table}\n")
}

/// The table of `stacksim mechanisms`: where each goes, how it is written, what it does, and
/// what it follows.
pub fn mechanisms_table(mechanisms: &[stacksim::mechanisms::MechanismInfo], width: Option<u16>) -> String {
    let mut table = table(width);
    table.set_header(vec!["field", "written as (an example)", "what it does", "follows"]);
    for m in mechanisms {
        table.add_row(vec![m.field, m.synopsis, m.summary, m.source]);
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
/// `utilization.svg`) and `report.html` into `dir`; with request classes also `classes.csv`;
/// with a time series also `timeseries.csv`
/// and its plots (`timeline.svg`, `timeline-backends.svg`); with fleet groups `cost.svg`
/// (cost against `slo`). Each file is complete or not at
/// all: every file is written under a temporary name and renamed into place. Time-series files
/// left from an earlier run into `dir` are removed when this report has none, so that they are
/// never mistaken for this run's.
pub fn write_outputs(mut out: OutputDir, report: &Report, slo: Option<&Slo>) -> Result<()> {
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
    if report.has_classes() {
        let mut classes = Vec::new();
        report.write_classes_csv(&mut classes)?;
        out.stage("classes.csv", &classes)?;
    }
    for plot in stacksim_render::plot::all(report) {
        out.stage(&plot.file_name(), plot.svg.as_bytes())?;
    }
    // With fleet groups: cost against the SLO.
    if let Some((metric, points)) = stacksim::cost::cost_against_slo(report, slo) {
        out.stage("cost.svg", stacksim_render::plot::cost(report, &metric, &points).as_bytes())?;
    }
    out.stage("report.html", stacksim_render::html::report_html(report).as_bytes())?;
    // Every file is staged before any is moved into place, so a failure leaves the old set.
    out.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(value: &str, after: &str) -> Shown {
        Shown { value: value.to_owned(), after: Some(after.to_owned()) }
    }

    fn rows() -> Vec<VariantRow<'static>> {
        ["policy=RoundRobin", "policy=PowerOfTwoChoices"]
            .into_iter()
            .enumerate()
            .map(|(index, label)| VariantRow {
                index,
                label,
                cells: vec![
                    shown("111.6 ms", "±1.7"),
                    shown("81.92 ms", "±0.36"),
                    shown("478.9 ms", "±16.7"),
                    Shown::value("317.2/s"),
                ],
            })
            .collect()
    }

    fn header() -> Vec<String> {
        ["variant", "mean", "p50", "p99", "throughput"].map(str::to_owned).to_vec()
    }

    fn widest(text: &str) -> usize {
        text.lines().map(|line| line.chars().count()).max().unwrap_or(0)
    }

    #[test]
    fn piped_or_where_it_fits_a_table_is_as_wide_as_its_contents() {
        let piped = variants_table(header(), &rows(), &["p50"], None);
        assert_eq!(widest(&piped), 91, "{piped}");
        assert!(piped.contains("│ policy=PowerOfTwoChoices ┆ 111.6 ms ±1.7 ┆"), "{piped}");
        assert_eq!(variants_table(header(), &rows(), &["p50"], Some(91)), piped);
        assert_ne!(variants_table(header(), &rows(), &["p50"], Some(90)), piped);
    }

    #[test]
    fn on_a_narrow_terminal_variants_go_by_number_with_intervals_under_their_values() {
        let narrow = variants_table(header(), &rows(), &["p50"], Some(60));
        assert!(widest(&narrow) <= 60, "{narrow}");
        assert!(narrow.contains("│ 1 ┆ 111.6 ms ┆"), "{narrow}");
        assert!(narrow.contains("p50"), "every column still fits: {narrow}");
        assert!(narrow.ends_with("\n0  policy=RoundRobin\n1  policy=PowerOfTwoChoices"), "{narrow}");
    }

    #[test]
    fn columns_are_left_out_in_the_given_order_and_named() {
        let narrow = variants_table(header(), &rows(), &["p50", "mean"], Some(48));
        assert!(widest(&narrow) <= 48, "{narrow}");
        assert!(!narrow.contains("81.92") && narrow.contains("111.6 ms"), "{narrow}");
        assert!(narrow.contains("Left out to fit the terminal: p50 (all"), "{narrow}");
        // Narrower than the columns that are never left out: the cells wrap.
        let tiny = variants_table(header(), &rows(), &["p50"], Some(30));
        assert!(widest(tiny.split("\n0  ").next().unwrap()) <= 30, "{tiny}");
    }

    #[test]
    fn every_built_in_policy_fits_an_80_column_terminal() {
        let policies = policies_table(stacksim::BUILTIN_POLICIES, Some(80));
        assert!(widest(&policies) <= 80, "{policies}");
        assert!(policies.contains("RoundRobin") && policies.contains("Custom(\"name\")"), "{policies}");
        assert!(widest(&policies_table(stacksim::BUILTIN_POLICIES, None)) > 200);
    }

    #[test]
    fn prose_wraps_between_words_only_on_a_terminal() {
        let text = "errors = rejected + timed out + failed, over arrivals.\nnext";
        assert_eq!(wrap(text, None), text);
        assert_eq!(wrap(text, Some(20)), "errors = rejected +\ntimed out + failed,\nover arrivals.\nnext");
        assert_eq!(wrap("a verylongword b", Some(4)), "a\nverylongword\nb");
    }
}
