//! A self-contained HTML report: tables of every variant and backend, with the plots inline.
//!
//! The page needs nothing but itself: no external CSS, scripts, fonts or network. Every piece
//! of text that comes from the experiment (its name, labels, backend names) is HTML-escaped.
//! The bytes are a pure function of the report.

use std::fmt::Write;

use crate::plot::{self, Layout};
use crate::report::{Report, VariantReport};
use crate::stats::Estimate;

/// `text` with `& < > " '` replaced by character references, safe in HTML text and attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

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
details { margin: .3rem 0; }
summary { cursor: pointer; font-weight: 600; }
";

/// The report as one HTML page: the experiment's name and seed, a table of variants (response
/// time mean, p50, p99, p99.9 with their 95% CIs, throughput, error ratio), a table of backends
/// per variant, and the [`plot`]s as inline SVG.
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
         failed requests over arrivals.</p>\n",
    );
    variants_table(&mut html, report, &layout);
    html.push_str("<h2>Plots</h2>\n");
    for p in plot::all(report) {
        let _ = write!(
            html,
            "<figure id=\"{}\">\n{}<figcaption>{} ({})</figcaption>\n</figure>\n",
            p.name,
            p.svg,
            escape(p.caption),
            escape(&p.file_name()),
        );
    }
    backend_tables(&mut html, report);
    html.push_str("</body>\n</html>\n");
    html
}

fn variants_table(html: &mut String, report: &Report, layout: &Layout) {
    html.push_str(
        "<h2>Variants</h2>\n<div class=\"scroll\">\n<table>\n<thead><tr><th>#</th><th class=\"left\">variant</th>\
         <th>mean</th><th>p50</th><th>p99</th><th>p99.9</th><th>throughput</th>\
         <th>error ratio</th></tr></thead>\n<tbody>\n",
    );
    for (v, variant) in report.variants.iter().enumerate() {
        let m = |name: &str| variant.metrics.get(name).copied();
        let swatch = plot::color(layout.series_of(v));
        let _ = writeln!(
            html,
            "<tr><td>{v}</td><td class=\"left\"><span class=\"swatch\" \
             style=\"background:#{:02x}{:02x}{:02x}\"></span>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            swatch.0,
            swatch.1,
            swatch.2,
            escape(&variant.label),
            seconds(m("response_time_mean_s")),
            seconds(m("response_time_p50_s")),
            seconds(m("response_time_p99_s")),
            seconds(m("response_time_p999_s")),
            scaled(m("throughput_per_s"), 1.0, "/s"),
            scaled(m("error_ratio"), 100.0, "%"),
        );
    }
    html.push_str("</tbody>\n</table>\n</div>\n");
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
        let m = |name: &str| backend.metrics.get(name).copied();
        let _ = writeln!(
            html,
            "<tr><td class=\"left\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&backend.name),
            scaled(m("utilization"), 100.0, "%"),
            scaled(m("share"), 100.0, "%"),
            scaled(m("rejected_ratio"), 100.0, "%"),
            scaled(m("queue_length_mean"), 1.0, ""),
        );
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A time in ms, or s from one second up, or µs below a millisecond, with its interval.
fn seconds(e: Option<Estimate>) -> String {
    let Some(e) = e.filter(|e| e.mean.is_finite()) else {
        return "–".to_owned();
    };
    let (scale, unit) = match e.mean.abs() {
        x if x >= 1.0 => (1.0, " s"),
        x if x >= 1e-3 || x == 0.0 => (1e3, " ms"),
        _ => (1e6, " µs"),
    };
    scaled(Some(e), scale, unit)
}

/// `mean·scale unit ±ci·scale`, four significant digits, the interval to the same place.
fn scaled(e: Option<Estimate>, scale: f64, unit: &str) -> String {
    let Some(e) = e.filter(|e| e.mean.is_finite()) else {
        return "–".to_owned();
    };
    let (mean, ci) = (e.mean * scale, e.ci95 * scale);
    let digits = if mean == 0.0 { 1 } else { (3 - mean.abs().log10().floor() as i32).clamp(0, 6) as usize };
    if ci.is_finite() {
        format!("{mean:.digits$}{unit} <span class=\"ci\">±{ci:.digits$}</span>")
    } else {
        format!("{mean:.digits$}{unit}")
    }
}

#[cfg(test)]
mod tests {
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
    fn escape_replaces_markup() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
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
