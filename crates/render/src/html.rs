//! A self-contained HTML report: tables of every variant and backend, with the plots inline.
//!
//! The page needs nothing but itself: no external CSS, scripts, fonts or network. Every piece
//! of text that comes from the experiment (its name, labels, backend names) is HTML-escaped.
//! The bytes are a pure function of the report.

use std::fmt::Write;

use stacksim::Metric;
use stacksim::metric::{BackendMetric, ClassMetric, Shown, Style, readable_duration};
use stacksim::report::{Report, VariantReport};

use crate::plot::{self, Layout, escape};

const STYLE: &str = "\
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif;
  color: #222; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; line-height: 1.45; }
h1 { font-size: 1.7rem; margin: 0 0 .2rem; }
h2 { font-size: 1.25rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 1px solid #ddd; }
.meta { color: #555; margin-top: 0; }
.note { color: #555; font-size: .9rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: .4rem 0 1rem; }
th, td { padding: .3rem .7rem; vertical-align: top; border-bottom: 1px solid #e6e6e6; text-align: right; white-space: nowrap; }
th { background: #f4f4f4; font-weight: 600; }
th.left, td.left { text-align: left; }
.ci { display: block; color: #777; font-size: .8em; line-height: 1.15; }
.swatch { display: inline-block; width: .75em; height: .75em; margin-right: .45em; border-radius: 2px; }
figure { margin: 1.2rem 0 2rem; }
figure svg { display: block; max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9rem; margin-top: .3rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; }
details { margin: .3rem 0; }
summary { cursor: pointer; font-weight: 600; }
";

/// The report as one HTML page: the experiment's name and seed, a table of variants (response
/// time mean, p50, p99, p99.9 with their 95% CIs, throughput, error ratio, and for replays users
/// affected, attempts per request, wasted work and database utilization where measured), the
/// [`plot`]s as inline SVG, for a replay a section on its timeline (actions, alert rules, time
/// to detect, plots over time), a table of backends per variant, and with request classes a
/// table of classes per variant.
pub fn report_html(report: &Report) -> String {
    let name = escape(&report.experiment);
    let layout = Layout::of(report);
    let replications = report.variants.first().map_or(0, |v| v.replications);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{name} — stacksim report</title>\n<style>\n{STYLE}</style>\n</head>\n<body>\n\
         <h1>{name}</h1>\n<p class=\"meta\">stacksim report · seed {} · {} variant{} × \
         {replications} replication{}</p>\n",
        report.seed,
        report.variants.len(),
        plural(report.variants.len()),
        plural(replications as usize),
    );
    html.push_str(
        "<p class=\"note\">Response times are of successful requests. ± is the 95% confidence \
         interval over replications (Student t). Error ratio counts rejected, timed-out and \
         failed requests over arrivals. Rejected includes requests that waited in a backend's \
         queue past its <code>queue_timeout</code> (answered 503); timed out counts only \
         clients' own timeouts.</p>\n",
    );
    variants_table(&mut html, report, &layout);
    html.push_str("<h2>Plots</h2>\n");
    for p in plot::summary(report) {
        figure(&mut html, &p);
    }
    over_time(&mut html, report);
    backend_tables(&mut html, report);
    class_tables(&mut html, report);
    html.push_str("</body>\n</html>\n");
    html
}

fn figure(html: &mut String, p: &plot::Plot) {
    let _ = write!(
        html,
        "<figure id=\"{}\">\n{}<figcaption>{} ({})</figcaption>\n</figure>\n",
        p.name,
        p.svg,
        escape(p.caption),
        escape(&p.file_name()),
    );
}

/// A column a replay adds to the variants table when some variant measured it: heading and
/// metric.
struct ReplayColumn {
    heading: &'static str,
    metric: Metric,
    /// The column shows when some variant's `shown_by` metric has a mean above this.
    shown_by: (Metric, f64),
}

const REPLAY_COLUMNS: [ReplayColumn; 4] = [
    ReplayColumn {
        heading: "users affected",
        metric: Metric::UsersAffectedRatio,
        shown_by: (Metric::UsersActive, 0.0),
    },
    ReplayColumn {
        heading: "attempts per request",
        metric: Metric::AttemptsPerRequest,
        shown_by: (Metric::AttemptsPerRequest, 1.001),
    },
    ReplayColumn {
        heading: "wasted work",
        metric: Metric::WastedWorkRatio,
        shown_by: (Metric::WastedWorkRatio, 0.0),
    },
    ReplayColumn {
        heading: "database utilization",
        metric: Metric::DatabaseUtilization,
        shown_by: (Metric::DatabaseUtilization, f64::NEG_INFINITY),
    },
];

/// A table cell: the value, and its interval (or note) set smaller.
fn cell(shown: Shown) -> String {
    match shown.after {
        Some(after) => format!("{} <span class=\"ci\">{after}</span>", shown.value),
        None => shown.value,
    }
}

/// `metric` of `variant`, as a cell.
fn metric_cell(variant: &VariantReport, metric: Metric) -> String {
    cell(metric.show(variant.metric(&metric), Style::Html))
}

fn variants_table(html: &mut String, report: &Report, layout: &Layout) {
    html.push_str(
        "<h2>Variants</h2>\n<div class=\"scroll\">\n<table>\n<thead><tr><th>#</th><th class=\"left\">variant</th>\
         <th>mean</th><th>p50</th><th>p99</th><th>p99.9</th><th>throughput</th>\
         <th>error ratio</th></tr></thead>\n<tbody>\n",
    );
    for (v, variant) in report.variants.iter().enumerate() {
        let m = |metric: Metric| metric_cell(variant, metric);
        let _ = writeln!(
            html,
            "<tr><td>{v}</td><td class=\"left\">{}{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            swatch(plot::color(layout.series_of(v))),
            escape(&variant.label),
            m(Metric::ResponseTimeMean),
            m(Metric::ResponseTimeP50),
            m(Metric::ResponseTimeP99),
            m(Metric::ResponseTimeP999),
            m(Metric::Throughput),
            m(Metric::ErrorRatio),
        );
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    paired_table(html, report);
    replay_table(html, report, layout);
}

/// Each variant minus the baseline, paired by replication (nothing with one variant).
fn paired_table(html: &mut String, report: &Report) {
    let Some(baseline) = report.variants.get(report.baseline) else { return };
    if report.variants.iter().all(|v| v.vs_baseline.is_empty()) {
        return;
    }
    let _ = write!(
        html,
        "<h3>Compared with {}</h3>\n<p class=\"note\">Variant minus baseline, paired by replication: \
         both ran on the same arrivals and request sizes, so these intervals are much tighter than \
         the ones above. An interval that excludes 0 is a real difference.</p>\n<div class=\"scroll\">\n\
         <table>\n<thead><tr><th class=\"left\">variant</th><th>Δ mean</th><th>Δ p99</th>\
         <th>Δ error ratio</th></tr></thead>\n<tbody>\n",
        escape(&baseline.label)
    );
    for v in report.variants.iter().filter(|v| !v.vs_baseline.is_empty()) {
        let d = |metric: Metric| cell(metric.show_difference(v.difference(&metric), Style::Html));
        let _ = writeln!(
            html,
            "<tr><td class=\"left\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&v.label),
            d(Metric::ResponseTimeMean),
            d(Metric::ResponseTimeP99),
            d(Metric::ErrorRatio),
        );
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
}

/// A coloured square for a table row.
fn swatch(color: plotters::style::RGBColor) -> String {
    format!(
        "<span class=\"swatch\" style=\"background:#{:02x}{:02x}{:02x}\"></span>",
        color.0, color.1, color.2
    )
}

/// For a replay, a second table of what it measured beyond the usual: users affected, retries,
/// wasted work, the database. Nothing when no variant measured any of them.
fn replay_table(html: &mut String, report: &Report, layout: &Layout) {
    let replay: Vec<&ReplayColumn> =
        REPLAY_COLUMNS.iter().filter(|c| report.any_above(&c.shown_by.0, c.shown_by.1)).collect();
    if replay.is_empty() {
        return;
    }
    html.push_str(
        "<h3>Users, retries and the database</h3>\n<div class=\"scroll\">\n<table>\n<thead><tr><th>#</th>\
         <th class=\"left\">variant</th>",
    );
    for column in &replay {
        let _ = write!(html, "<th>{}</th>", column.heading);
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for (v, variant) in report.variants.iter().enumerate() {
        let _ = write!(
            html,
            "<tr><td>{v}</td><td class=\"left\">{}{}</td>",
            swatch(plot::color(layout.series_of(v))),
            escape(&variant.label)
        );
        for column in &replay {
            let _ = write!(html, "<td>{}</td>", metric_cell(variant, column.metric.clone()));
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
    let mut notes = Vec::new();
    if replay.iter().any(|c| c.metric == Metric::UsersAffectedRatio) {
        notes.push(
            "Users affected: users with at least one failed or too-slow request, over users \
             active (over the incident when the experiment names one).",
        );
    }
    if replay.iter().any(|c| c.metric == Metric::AttemptsPerRequest) {
        notes.push("Attempts per request: attempts sent per request, retries included.");
    }
    if replay.iter().any(|c| c.metric == Metric::WastedWorkRatio) {
        notes.push("Wasted work: service time spent on attempts whose client had already given up.");
    }
    if replay.iter().any(|c| c.metric == Metric::DatabaseUtilization) {
        notes.push("Database utilization: busy database worker-time over available worker-time.");
    }
    if !notes.is_empty() {
        let _ = writeln!(html, "<p class=\"note\">{}</p>", notes.join(" "));
    }
}

/// A time from the start of the run as the page shows it: clock time with a `start`
/// (`14:00`), else an offset (`+1h 30m`).
fn instant(report: &Report, at_s: f64) -> String {
    match report.timeline.as_ref().and_then(|t| t.clock_at(at_s)) {
        Some(t) => {
            let epoch = t.duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
            plot::time_of_day(epoch, epoch % 60.0 != 0.0)
        }
        None => {
            let d = std::time::Duration::try_from_secs_f64(at_s).unwrap_or_default();
            format!("+{}", readable_duration(d))
        }
    }
}

/// The replay's section: its clock, timeline and alert rules, when each alert fired, and the
/// plots over time. Nothing for a report without a timeline or time series.
fn over_time(html: &mut String, report: &Report) {
    let plots = plot::over_time(report);
    let alerts = report.alerts();
    let Some(timeline) = &report.timeline else {
        if plots.is_empty() {
            return;
        }
        html.push_str("<h2 id=\"over-time\">Over time</h2>\n");
        for p in &plots {
            figure(html, p);
        }
        return;
    };
    html.push_str("<h2 id=\"over-time\">Over time</h2>\n<p class=\"meta\">");
    match &timeline.start {
        Some(start) => {
            let _ = write!(html, "Clock: the run starts at {} (UTC).", escape(start));
        }
        None => html.push_str("Times are from the start of the run."),
    }
    if timeline.window_s > 0.0 {
        let window =
            readable_duration(std::time::Duration::try_from_secs_f64(timeline.window_s).unwrap_or_default());
        let _ = write!(
            html,
            " Time series in {window} windows; each value is a mean over replications, so counts \
             may be fractional."
        );
    }
    html.push_str("</p>\n");
    if !timeline.marks.is_empty() {
        html.push_str(
            "<table>\n<thead><tr><th>time</th><th class=\"left\">timeline</th></tr></thead>\n<tbody>\n",
        );
        for mark in &timeline.marks {
            let _ = writeln!(
                html,
                "<tr><td>{}</td><td class=\"left\">{}</td></tr>",
                escape(&instant(report, mark.at_s)),
                escape(&mark.label)
            );
        }
        html.push_str("</tbody>\n</table>\n");
    }
    if !timeline.alerts.is_empty() {
        html.push_str("<p>Alert rules:</p>\n<ul>\n");
        for alert in &timeline.alerts {
            let _ = writeln!(html, "<li>{}</li>", escape(alert));
        }
        html.push_str("</ul>\n");
    }
    if !alerts.is_empty() {
        html.push_str(
            "<h3>Time to detect</h3>\n<div class=\"scroll\">\n<table>\n<thead><tr>\
             <th class=\"left\">variant</th>",
        );
        for alert in alerts.iter().filter_map(Metric::alert) {
            let _ = write!(html, "<th>{}</th>", escape(alert));
        }
        html.push_str("</tr></thead>\n<tbody>\n");
        for (v, variant) in report.variants.iter().enumerate() {
            // Each variant in its colour in the plots over time below.
            let _ = write!(
                html,
                "<tr><td class=\"left\">{}{}</td>",
                swatch(plot::color(v)),
                escape(&variant.label)
            );
            for metric in &alerts {
                let _ = write!(html, "<td>{}</td>", cell(report.detection(v, metric).show(Style::Html)));
            }
            html.push_str("</tr>\n");
        }
        html.push_str(
            "</tbody>\n</table>\n</div>\n<p class=\"note\">Minutes from the start of the \
             incident (the experiment's <code>observe.incident</code>, else its first timeline \
             action) to the end of the window in which the rule first fired; never: it did not \
             fire. ± is the 95% confidence interval over replications.</p>\n",
        );
    }
    for p in &plots {
        figure(html, p);
    }
}

fn backend_tables(html: &mut String, report: &Report) {
    html.push_str("<h2>Backends</h2>\n");
    // Open by default while the page stays short.
    let open = if report.variants.len() <= 4 { " open" } else { "" };
    for variant in &report.variants {
        let _ = write!(
            html,
            "<details{open}>\n<summary>{}</summary>\n<table>\n<thead><tr>\
             <th class=\"left\">backend</th><th>utilization</th><th>share</th>\
             <th>rejected ratio</th><th>mean queue length</th></tr></thead>\n<tbody>\n",
            escape(&variant.label)
        );
        backend_rows(html, variant);
        html.push_str("</tbody>\n</table>\n</details>\n");
    }
}

fn backend_rows(html: &mut String, variant: &VariantReport) {
    for backend in &variant.backends {
        let m = |metric: BackendMetric| cell(metric.show(backend.metric(metric), Style::Html));
        let _ = writeln!(
            html,
            "<tr><td class=\"left\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&backend.name),
            m(BackendMetric::Utilization),
            m(BackendMetric::Share),
            m(BackendMetric::RejectedRatio),
            m(BackendMetric::QueueLengthMean),
        );
    }
}

/// Per variant, its request classes: priority, share, response times, errors and shedding.
/// Nothing when no variant has classes.
fn class_tables(html: &mut String, report: &Report) {
    if !report.has_classes() {
        return;
    }
    html.push_str(
        "<h2 id=\"classes\">Request classes</h2>\n<p class=\"note\">Share is the class's part of its \
         client's requests; response times are of its successful requests; error ratio and shed \
         ratio (requests a backend shed by priority, answered 503) are over its arrivals.</p>\n",
    );
    let open = if report.variants.len() <= 4 { " open" } else { "" };
    for variant in &report.variants {
        let _ = write!(
            html,
            "<details{open}>\n<summary>{}</summary>\n<table>\n<thead><tr>\
             <th class=\"left\">client</th><th class=\"left\">class</th><th class=\"left\">priority</th>\
             <th>share</th><th>mean</th><th>p50</th><th>p99</th><th>error ratio</th><th>shed ratio</th>\
             </tr></thead>\n<tbody>\n",
            escape(&variant.label)
        );
        for class in &variant.classes {
            let m = |metric: ClassMetric| cell(metric.show(class.metric(metric), Style::Html));
            let _ = writeln!(
                html,
                "<tr><td class=\"left\">{}</td><td class=\"left\">{}</td><td class=\"left\">{}</td>\
                 <td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&class.client),
                escape(&class.name),
                escape(&class.priority),
                m(ClassMetric::Share),
                m(ClassMetric::ResponseTimeMean),
                m(ClassMetric::ResponseTimeP50),
                m(ClassMetric::ResponseTimeP99),
                m(ClassMetric::ErrorRatio),
                m(ClassMetric::ShedRatio),
            );
        }
        html.push_str("</tbody>\n</table>\n</details>\n");
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use stacksim::stats::Estimate;

    use super::*;

    /// A report with a variant per policy in `policies`, each with three backends, built from
    /// JSON text so that any later report field takes its default.
    fn report(experiment: &str, policies: &[&str]) -> Report {
        let metrics = r#"{
            "response_time_mean_s": {"mean": 0.1312, "ci95": 0.0014},
            "response_time_p50_s": {"mean": 0.09, "ci95": 0.001},
            "response_time_p99_s": {"mean": 0.52, "ci95": 0.01},
            "response_time_p999_s": {"mean": 1.2, "ci95": 0.05},
            "throughput_per_s": {"mean": 319.8, "ci95": 0.6},
            "error_ratio": {"mean": 0.00012, "ci95": 0.00004}
        }"#;
        let backends: Vec<String> = (0..3)
            .map(|b| {
                format!(
                    r#"{{"name": "app-{b}", "metrics": {{"utilization": {{"mean": 0.8, "ci95": 0.01}},
                    "share": {{"mean": 0.3333, "ci95": 0.002}}}}}}"#
                )
            })
            .collect();
        let variants: Vec<String> = policies
            .iter()
            .map(|p| {
                let p = serde_json::to_string(p).unwrap();
                let label = serde_json::to_string(&format!("policy={}", p.trim_matches('"'))).unwrap();
                format!(
                    r#"{{"label": {label}, "params": {{"policy": {p}}}, "replications": 5,
                    "metrics": {metrics}, "backends": [{}]}}"#,
                    backends.join(", ")
                )
            })
            .collect();
        let experiment = serde_json::to_string(experiment).unwrap();
        serde_json::from_str(&format!(
            r#"{{"experiment": {experiment}, "seed": 3, "variants": [{}], "runs": []}}"#,
            variants.join(", ")
        ))
        .unwrap()
    }

    #[test]
    fn page_compares_variants_with_the_baseline() {
        let mut r = report("paired", &["RoundRobin", "LeastConnections"]);
        r.variants[1]
            .vs_baseline
            .insert("response_time_mean_s".into(), Estimate { mean: -0.0107, ci95: 0.0003 });
        r.variants[1]
            .vs_baseline
            .insert("response_time_p99_s".into(), Estimate { mean: 0.03623, ci95: 0.00389 });
        let html = report_html(&r);
        assert!(html.contains("<h3>Compared with policy=RoundRobin</h3>"), "{html}");
        assert!(html.contains("-10.70 ms <span class=\"ci\">±0.30</span>"), "{html}");
        assert!(
            html.contains("+36.23 ms <span class=\"ci\">±3.89</span>"),
            "an increase has its sign: {html}"
        );
    }

    #[test]
    fn page_has_tables_plots_and_no_external_resources() {
        let html = report_html(&report("quick", &["RoundRobin", "Random"]));
        assert!(html.starts_with("<!DOCTYPE html>"));
        assert!(html.contains("<h1>quick</h1>") && html.contains("seed 3"));
        assert!(html.contains("policy=RoundRobin") && html.contains("policy=Random"));
        assert!(html.contains("131.2 ms <span class=\"ci\">±1.4</span>"), "{html}");
        assert!(html.contains("1.200 s"));
        assert!(html.contains("0.01200% <span class=\"ci\">±0.00400</span>"));
        assert!(html.contains("<td class=\"left\">app-2</td><td>80.00%"));
        assert_eq!(html.matches("<svg").count(), 3);
        for external in ["http://", "https://", "src=", "<link", "<script", "@import", "url("] {
            let outside_svg_namespace = html.replace("xmlns=\"http://www.w3.org/2000/svg\"", "");
            assert!(!outside_svg_namespace.contains(external), "{external}");
        }
    }

    #[test]
    fn a_plain_report_has_no_replay_sections() {
        let html = report_html(&report("quick", &["RoundRobin", "Random"]));
        for absent in ["Over time", "Users, retries", "Time to detect", "users affected", "Request classes"] {
            assert!(!html.contains(absent), "{absent}");
        }
    }

    /// `report` with replay metrics and a time series: users affected, retries, a database,
    /// and an alert that fired in every run of the first variant, one of two runs of the second
    /// and never in the third.
    fn replay() -> Report {
        let mut report = report("incident", &["RoundRobin", "LeastConnections", "Random"]);
        let detect = [(120.0, 0.0), (f64::NAN, f64::NAN), (f64::NAN, f64::NAN)];
        let runs = [[120.0, 120.0], [300.0, f64::NAN], [f64::NAN, f64::NAN]];
        for (v, variant) in report.variants.iter_mut().enumerate() {
            let e = |mean: f64, ci95: f64| Estimate { mean, ci95 };
            variant.metrics.insert("users_active".into(), e(500.0, 0.0));
            variant.metrics.insert("users_affected_ratio".into(), e(0.4 / (v + 1) as f64, 0.01));
            variant.metrics.insert("attempts_per_request".into(), e(1.25, 0.002));
            variant.metrics.insert("database_utilization".into(), e(0.18, 0.001));
            variant.metrics.insert("time_to_detect_errors_5xx_s".into(), e(detect[v].0, detect[v].1));
        }
        let runs: Vec<String> = runs
            .iter()
            .enumerate()
            .flat_map(|(v, rs)| {
                rs.iter().enumerate().map(move |(r, x)| {
                    let x = if x.is_finite() { x.to_string() } else { "null".to_owned() };
                    format!(
                        r#"{{"variant": {v}, "replication": {r}, "seed": 1, "events": 1,
                        "metrics": {{"time_to_detect_errors_5xx_s": {x}}}}}"#
                    )
                })
            })
            .collect();
        report.runs = serde_json::from_str(&format!("[{}]", runs.join(","))).unwrap();
        let windows: Vec<String> = (0..30)
            .map(|w| {
                format!(
                    r#"{{"start_s": {}, "arrived": 100, "attempts": 125, "error_ratio": {},
                    "response_time_p99_s": 0.3, "database_utilization": 0.18, "users_active": 400,
                    "users_affected_ratio": 0.1, "app-0.share": 0.5, "app-1.share": 0.5,
                    "app-0.utilization": 0.5, "app-1.utilization": 0.5}}"#,
                    60 * w,
                    if (10..20).contains(&w) { 0.3 } else { 0.0 }
                )
            })
            .collect();
        let windows = windows.join(",");
        report.timeseries = serde_json::from_str(&format!(
            r#"[{{"variant": 0, "windows": [{windows}]}}, {{"variant": 1, "windows": [{windows}]}},
            {{"variant": 2, "windows": [{windows}]}}]"#
        ))
        .unwrap();
        report.timeline = serde_json::from_str(
            r#"{"start": "2024-03-08T13:00:00Z", "window_s": 60,
            "marks": [{"at_s": 600, "label": "misconfiguration (app-0 weight 6)"},
                      {"at_s": 1230, "label": "fix <now>"}],
            "alerts": ["errors_5xx: ErrorRatio above 0.05 for 2m"]}"#,
        )
        .unwrap();
        report
    }

    #[test]
    fn a_replay_shows_its_metrics_timeline_detection_times_and_plots_over_time() {
        let html = report_html(&replay());
        assert!(html.contains("<h3>Users, retries and the database</h3>"), "{html}");
        for heading in ["users affected", "attempts per request", "database utilization"] {
            assert!(html.contains(&format!("<th>{heading}</th>")), "{heading}");
        }
        assert!(!html.contains("<th>wasted work</th>"), "no variant wasted any work");
        assert!(html.contains("40.00% <span class=\"ci\">±1.00</span>"), "{html}");
        assert!(html.contains("<h2 id=\"over-time\">Over time</h2>"));
        assert!(html.contains("2024-03-08T13:00:00Z"));
        assert!(
            html.contains("<tr><td>13:10</td><td class=\"left\">misconfiguration (app-0 weight 6)</td></tr>")
        );
        assert!(html.contains("<td>13:20:30</td><td class=\"left\">fix &lt;now&gt;</td>"), "{html}");
        assert!(html.contains("<li>errors_5xx: ErrorRatio above 0.05 for 2m</li>"));
        assert!(html.contains("<th>errors_5xx</th>"));
        assert!(html.contains("<td>2.0 min <span class=\"ci\">±0.0</span></td>"), "{html}");
        assert!(html.contains("<td>5.0 min <span class=\"ci\">in 1 of 2 runs</span></td>"), "{html}");
        assert!(html.contains("<td>never</td>"));
        assert_eq!(html.matches("<svg").count(), 5, "three summary plots and two over time");
        assert!(html.contains("<figure id=\"timeline\">") && html.contains("(timeline-backends.svg)"));
    }

    #[test]
    fn request_classes_get_a_table_per_variant() {
        let mut r = report("classes", &["RoundRobin"]);
        r.variants[0].classes = serde_json::from_str(
            r#"[{"name": "search", "client": "users", "priority": "Low",
                 "metrics": {"share": {"mean": 0.2, "ci95": 0.001},
                             "response_time_p99_s": {"mean": 0.25, "ci95": 0.004},
                             "shed_ratio": {"mean": 0.31, "ci95": 0.02}}}]"#,
        )
        .unwrap();
        let html = report_html(&r);
        assert!(html.contains("<h2 id=\"classes\">Request classes</h2>"), "{html}");
        assert!(
            html.contains(
                "<tr><td class=\"left\">users</td><td class=\"left\">search</td><td class=\"left\">Low</td>\
                 <td>20.00% <span class=\"ci\">±0.10</span></td>"
            ),
            "{html}"
        );
        assert!(html.contains("<td>250.0 ms <span class=\"ci\">±4.0</span></td>"), "{html}");
        assert!(html.contains("<td>31.00% <span class=\"ci\">±2.00</span></td></tr>"), "{html}");
    }

    #[test]
    fn experiment_text_is_escaped_everywhere() {
        let nasty = "<script>alert('x')</script>";
        let html = report_html(&report(nasty, &["A&B", "<b>"]));
        assert!(!html.contains("<script"), "{html}");
        assert!(!html.contains("<b>"));
        assert!(html.contains("&lt;script&gt;"));
        assert!(html.contains("policy=A&amp;B"));
    }

    #[test]
    fn same_report_same_bytes() {
        let r = report("quick", &["RoundRobin", "Random", "LeastConnections"]);
        assert_eq!(report_html(&r), report_html(&r.clone()));
    }
}
