//! SVG plots of a [`Report`]: response-time percentiles and error ratio against the swept
//! parameter, per-backend utilization, and, for an experiment with a time series (`observe`),
//! its metrics window by window with the timeline's actions marked.
//!
//! Each function returns a complete SVG document (`<svg …>…</svg>`, no XML prolog) drawn with
//! plotters' SVG backend. The output is a pure function of the report: no timestamps, no
//! system fonts (text is set in the viewer's sans-serif), so the same report gives the same
//! bytes.
//!
//! How variants are arranged:
//!
//! 1. The x axis is the first parameter other than `policy` whose value is a number in every
//!    variant and that takes at least two values (say `rate_per_s`). Variants that agree on
//!    every other parameter form one line, named by those parameters (just the policy's name
//!    when only the policy differs).
//! 2. Without such a parameter (a sweep over policies only, like `experiments/quickstart.ron`)
//!    each variant is one horizontal bar, labelled the same way.
//! 3. Series take colours in order of first appearance, the same in every plot and in
//!    [`crate::html`]'s tables (except the grouped utilization chart of a numeric sweep, whose
//!    bars are variants, each a colour of its own). Line plots draw at most ten series and bar
//!    plots at most forty variants; the subtitle says when some were left out.
//! 4. Whiskers are 95% confidence intervals over replications (none with one replication).
//! 5. Times are in ms, or in s in a panel whose values reach a second; ratios in percent.
//! 6. Plots over time ([`timeline`], [`timeline_backends`]) draw a line per variant (per
//!    backend), variant `i` in colour `i`; their conventions are in the `timeline` module.
//!
//! ```
//! # use stacksim::Report;
//! # fn show(report: &Report) {
//! for plot in stacksim_render::plot::all(report) {
//!     assert!(plot.svg.starts_with("<svg") && plot.svg.trim_end().ends_with("</svg>"));
//!     println!("{}: {} bytes", plot.file_name(), plot.svg.len());
//! }
//! # }
//! ```

mod chart;
mod layout;
mod timeline;

use plotters::style::RGBColor;

pub(crate) use chart::color;
pub use chart::escape;
use chart::{
    Area, Bar, BarSeries, COLORS, Drawn, Header, Line, PERCENT, Scale, Unit, WIDTH, horizontal_bars, lines,
    render, text_width, time_unit, vertical_bars,
};
pub(crate) use layout::Layout;
use stacksim::Metric;
use stacksim::metric::BackendMetric;
use stacksim::report::{Report, VariantReport};
use stacksim::stats::Estimate;
pub(crate) use timeline::time_of_day;
pub use timeline::{timeline, timeline_backends};

/// One plot of a report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plot {
    /// Short name: `latency`, `errors`, `utilization`, `timeline` or `timeline-backends`.
    pub name: &'static str,
    /// What it shows, in a sentence.
    pub caption: &'static str,
    /// The SVG document.
    pub svg: String,
}

impl Plot {
    /// `name.svg`, the file `stacksim run --out DIR` writes it to.
    pub fn file_name(&self) -> String {
        format!("{}.svg", self.name)
    }
}

/// Every plot of `report`, in the order the HTML report shows them: [`summary`], then
/// [`over_time`].
pub fn all(report: &Report) -> Vec<Plot> {
    let mut plots = summary(report);
    plots.extend(over_time(report));
    plots
}

/// The plots over time, when the report has a time series (none without).
pub fn over_time(report: &Report) -> Vec<Plot> {
    if report.timeseries.is_empty() {
        return Vec::new();
    }
    vec![
        Plot {
            name: "timeline",
            caption: "Error ratio, p99 response time and, where measured, users affected, database \
                      utilization and attempts per request, window by window, with the timeline's \
                      actions marked.",
            svg: timeline(report),
        },
        Plot {
            name: "timeline-backends",
            caption: "Each backend's share of the requests and its utilization, window by window.",
            svg: timeline_backends(report),
        },
    ]
}

/// The plots of whole-run metrics: latency, errors and utilization per variant.
pub fn summary(report: &Report) -> Vec<Plot> {
    vec![
        Plot {
            name: "latency",
            caption: "Response time of successful requests: mean and percentiles.",
            svg: latency(report),
        },
        Plot {
            name: "errors",
            caption: "Error ratio: rejected, timed-out and failed requests over arrivals.",
            svg: errors(report),
        },
        Plot {
            name: "utilization",
            caption: "Utilization of each backend: busy worker-time over available worker-time.",
            svg: utilization(report),
        },
    ]
}

/// The response-time statistics plotted, as (metric, caption).
const RESPONSE_TIMES: [(Metric, &str); 4] = [
    (Metric::ResponseTimeMean, "mean"),
    (Metric::ResponseTimeP50, "p50"),
    (Metric::ResponseTimeP99, "p99"),
    (Metric::ResponseTimeP999, "p99.9"),
];

/// At most this many bars in the response-time and error plots.
const MAX_BARS: usize = 40;

/// Response time of successful requests (mean, p50, p99, p99.9, each with its 95% CI) in four
/// panels. Against the swept numeric parameter: a 2×2 grid of line charts, one line per series.
/// Without one: four side-by-side horizontal bar charts, one bar per variant. Times are in ms,
/// or in s where a panel reaches a second.
pub fn latency(report: &Report) -> String {
    let Some(replications) = replications(report) else {
        return no_variants(report);
    };
    let layout = Layout::of(report);
    let title = format!("{}: response time of successful requests", report.experiment);
    match &layout.x {
        None => {
            let (series, note) = capped(&layout, MAX_BARS, "variants");
            let header = Header {
                title,
                subtitle: format!(
                    "Mean and percentiles over {replications}; whiskers: 95% confidence \
                     interval.{note}"
                ),
                legend: legend(series),
            };
            let label_width = label_width(series);
            let height = header.height(WIDTH) + bars_height(series.len());
            render((WIDTH, height), |root| {
                let body = header.draw(root)?;
                let panel = (WIDTH - label_width) / 4;
                let panels = body.split_by_breakpoints(
                    [label_width + panel, label_width + 2 * panel, label_width + 3 * panel],
                    [0u32; 0],
                );
                for (j, (area, (metric, caption))) in panels.iter().zip(RESPONSE_TIMES).enumerate() {
                    let values: Vec<Option<Estimate>> =
                        series.iter().map(|s| metric_of(&report.variants[s.points[0].1], &metric)).collect();
                    let unit = time_unit(largest(&values));
                    let bars: Vec<Bar> = series
                        .iter()
                        .zip(&values)
                        .enumerate()
                        .map(|(i, (s, value))| Bar {
                            label: s.label.clone(),
                            color: color(i),
                            value: unit.of(*value),
                        })
                        .collect();
                    let labels = if j == 0 { label_width } else { 0 };
                    horizontal_bars(area, caption, &bars, labels, unit, true)?;
                }
                Ok(())
            })
        }
        Some(x) => {
            let (series, note) = capped(&layout, COLORS, "series");
            let header = Header {
                title,
                subtitle: format!(
                    "Mean and percentiles over {replications} against {x}; whiskers: 95% \
                     confidence interval.{note}"
                ),
                legend: legend(series),
            };
            let height = header.height(WIDTH) + 2 * 300;
            render((WIDTH, height), |root| {
                let body = header.draw(root)?;
                for (area, (metric, caption)) in body.split_evenly((2, 2)).iter().zip(RESPONSE_TIMES) {
                    line_panel(area, report, series, &metric, caption, x, "response time", None)?;
                }
                Ok(())
            })
        }
    }
}

/// Error ratio (rejected + timed out + failed, over arrivals) in percent with its 95% CI:
/// one line per series against the swept numeric parameter, or one horizontal bar per variant.
pub fn errors(report: &Report) -> String {
    let Some(replications) = replications(report) else {
        return no_variants(report);
    };
    let layout = Layout::of(report);
    let title = format!("{}: error ratio (rejected + timed out + failed, over arrivals)", report.experiment);
    let none =
        report.variants.iter().all(|v| metric_of(v, &Metric::ErrorRatio).is_none_or(|e| e.mean == 0.0));
    let none = if none { " No variant had any errors." } else { "" };
    match &layout.x {
        None => {
            let (series, note) = capped(&layout, MAX_BARS, "variants");
            let header = Header {
                title,
                subtitle: format!(
                    "Mean over {replications}, in percent of arrivals; whiskers: 95% \
                     confidence interval.{none}{note}"
                ),
                legend: legend(series),
            };
            let label_width = label_width(series);
            let height = header.height(WIDTH) + bars_height(series.len());
            render((WIDTH, height), |root| {
                let body = header.draw(root)?;
                let bars: Vec<Bar> = series
                    .iter()
                    .enumerate()
                    .map(|(i, s)| Bar {
                        label: s.label.clone(),
                        color: color(i),
                        value: PERCENT.of(metric_of(&report.variants[s.points[0].1], &Metric::ErrorRatio)),
                    })
                    .collect();
                // Half the width: a ratio needs no more, and the bars stay comparable by eye.
                let (area, _) = body.split_horizontally(label_width + (WIDTH - label_width) / 2);
                horizontal_bars(&area, "error ratio", &bars, label_width, PERCENT, false)
            })
        }
        Some(x) => {
            let (series, note) = capped(&layout, COLORS, "series");
            let header = Header {
                title,
                subtitle: format!(
                    "Mean over {replications} against {x}, in percent of arrivals; whiskers: \
                     95% confidence interval.{none}{note}"
                ),
                legend: legend(series),
            };
            let height = header.height(WIDTH) + 420;
            render((WIDTH, height), |root| {
                let body = header.draw(root)?;
                line_panel(&body, report, series, &Metric::ErrorRatio, "", x, "error ratio", Some(PERCENT))
            })
        }
    }
}

/// Most variants drawn as panels of their own in the utilization plot.
const MAX_PANELS: usize = 12;
/// Most backends drawn in one utilization panel of a full-width column: beyond this, the
/// busiest. Narrower columns hold proportionally fewer.
const MAX_BACKENDS: usize = 80;

/// Per-backend utilization in percent with its 95% CI.
///
/// - Up to 6 variants and 24 backends (72 bars): one chart, a group of bars per backend and a
///   bar per variant.
/// - Otherwise up to 12 variants: a panel per variant, a bar per backend, in one (up to 3
///   variants), two (up to 10) or three columns; with more backends than a panel holds (80 in
///   one column, 40 in two, 26 in three),
///   each panel shows its busiest (in balancer order) and the title says so.
/// - More than 12 variants: one chart with two bars per variant, the mean over its backends
///   and its busiest backend, so imbalance still shows.
pub fn utilization(report: &Report) -> String {
    let Some(replications) = replications(report) else {
        return no_variants(report);
    };
    let layout = Layout::of(report);
    let variants = &report.variants;
    let backends = variants.iter().map(|v| v.backends.len()).max().unwrap_or(0);
    let title = format!("{}: backend utilization", report.experiment);
    let subtitle = format!(
        "Busy worker-time over available worker-time, mean over {replications}; whiskers: 95% \
         confidence interval."
    );
    let scale = Scale::fixed(100.0, 5);
    if variants.len() <= 6 && backends <= 24 && variants.len() * backends <= 72 {
        let widest = variants.iter().max_by_key(|v| v.backends.len()).expect("there is a variant");
        let groups: Vec<String> = widest.backends.iter().map(|b| b.name.clone()).collect();
        let note = if layout.x.is_none() { layout.label_note() } else { None };
        let header = Header {
            title,
            subtitle: [subtitle, note.unwrap_or_default()].join(" "),
            legend: variants
                .iter()
                .enumerate()
                .map(|(v, variant)| (variant_name(&layout, v, variant), color(v)))
                .collect(),
        };
        let series: Vec<BarSeries> = variants
            .iter()
            .enumerate()
            .map(|(v, variant)| BarSeries {
                color: color(v),
                values: (0..groups.len())
                    .map(|b| PERCENT.of(backend_metric(variant, b, BackendMetric::Utilization)))
                    .collect(),
            })
            .collect();
        let height = header.height(WIDTH) + 380;
        render((WIDTH, height), |root| {
            let body = header.draw(root)?;
            vertical_bars(&body, "", &groups, &series, &scale, PERCENT, "backend")
        })
    } else if variants.len() <= MAX_PANELS {
        let columns = match variants.len() {
            ..=3 => 1,
            4..=10 => 2,
            _ => 3,
        };
        let most = MAX_BACKENDS / columns;
        let busiest = backends > most;
        let header = Header {
            title: if busiest {
                format!("{title} (busiest {most} of {backends} backends per variant)")
            } else {
                title
            },
            subtitle,
            legend: Vec::new(),
        };
        let rows = variants.len().div_ceil(columns);
        let height = header.height(WIDTH) + rows as u32 * if columns == 1 { 260 } else { 230 };
        render((WIDTH, height), |root| {
            let body = header.draw(root)?;
            for (v, (area, variant)) in body.split_evenly((rows, columns)).iter().zip(variants).enumerate() {
                let mut shown: Vec<usize> = (0..variant.backends.len()).collect();
                if busiest {
                    let load = |b: usize| {
                        backend_metric(variant, b, BackendMetric::Utilization)
                            .map_or(f64::NEG_INFINITY, |e| e.mean)
                    };
                    shown.sort_by(|&a, &b| load(b).total_cmp(&load(a)));
                    shown.truncate(most);
                    shown.sort_unstable();
                }
                let groups: Vec<String> = shown.iter().map(|&b| variant.backends[b].name.clone()).collect();
                let series = [BarSeries {
                    color: color(layout.series_of(v)),
                    values: shown
                        .iter()
                        .map(|&b| PERCENT.of(backend_metric(variant, b, BackendMetric::Utilization)))
                        .collect(),
                }];
                let caption = chart::fit(&variant.label, 13.0, area.dim_in_pixel().0.saturating_sub(40));
                vertical_bars(area, &caption, &groups, &series, &scale, PERCENT, "")?;
            }
            Ok(())
        })
    } else {
        let header = Header {
            title: format!("{title} ({} variants: mean over backends and busiest backend)", variants.len()),
            subtitle: format!(
                "Busy worker-time over available worker-time, mean over {replications}; x: \
                 variant number, as in the report's table."
            ),
            legend: vec![
                ("mean over backends".to_owned(), color(0)),
                ("busiest backend".to_owned(), color(2)),
            ],
        };
        let groups: Vec<String> = (0..variants.len()).map(|v| v.to_string()).collect();
        let summary = |pick: fn(&[f64]) -> f64| -> Vec<Option<Estimate>> {
            variants
                .iter()
                .map(|variant| {
                    let values: Vec<f64> = (0..variant.backends.len())
                        .filter_map(|b| backend_metric(variant, b, BackendMetric::Utilization))
                        .map(|e| e.mean)
                        .collect();
                    (!values.is_empty()).then(|| Estimate { mean: pick(&values) * 100.0, ci95: f64::NAN })
                })
                .collect()
        };
        let series = [
            BarSeries { color: color(0), values: summary(|xs| xs.iter().sum::<f64>() / xs.len() as f64) },
            BarSeries {
                color: color(2),
                values: summary(|xs| xs.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
            },
        ];
        let height = header.height(WIDTH) + 380;
        render((WIDTH, height), |root| {
            let body = header.draw(root)?;
            vertical_bars(&body, "", &groups, &series, &scale, PERCENT, "variant")
        })
    }
}

/// `"5 replications"`, from the first variant; `None` without variants.
fn replications(report: &Report) -> Option<String> {
    let n = report.variants.first()?.replications;
    Some(format!("{n} replication{}", if n == 1 { "" } else { "s" }))
}

fn no_variants(report: &Report) -> String {
    chart::message((WIDTH, 60), &format!("{}: the report has no variants to plot.", report.experiment))
}

/// The first `cap` series, and notes for the subtitle: what the labels name, and how many
/// series were left out.
fn capped<'a>(layout: &'a Layout, cap: usize, what: &str) -> (&'a [layout::Series], String) {
    let mut note = layout.label_note().map(|n| format!(" {n}")).unwrap_or_default();
    let n = layout.series.len();
    if n > cap {
        note.push_str(&format!(" Showing the first {cap} of {n} {what}."));
        (&layout.series[..cap], note)
    } else {
        (&layout.series[..], note)
    }
}

/// A legend entry per series; none beyond ten, where colours repeat and bar labels say it all.
fn legend(series: &[layout::Series]) -> Vec<(String, RGBColor)> {
    if series.len() > COLORS {
        return Vec::new();
    }
    series.iter().enumerate().map(|(i, s)| (s.label.clone(), color(i))).collect()
}

/// How a variant is named in a legend: its series' label when each variant is a series.
fn variant_name(layout: &Layout, v: usize, variant: &VariantReport) -> String {
    if layout.x.is_none() { layout.series[layout.series_of(v)].label.clone() } else { variant.label.clone() }
}

/// Pixels for the category labels left of horizontal bars.
fn label_width(series: &[layout::Series]) -> u32 {
    let widest = series.iter().map(|s| text_width(&s.label, 12.0)).max().unwrap_or(0);
    (widest + 20).clamp(60, 240)
}

/// Pixels for a horizontal bar panel of `n` bars, axis and caption included.
fn bars_height(n: usize) -> u32 {
    (n as u32 * 36 + 90).max(160)
}

/// `metric` of `variant`, if it has a value.
fn metric_of(variant: &VariantReport, metric: &Metric) -> Option<Estimate> {
    Some(variant.metric(metric)).filter(|e| e.mean.is_finite())
}

/// `metric` of the variant's backend `backend`, if it has a value.
fn backend_metric(variant: &VariantReport, backend: usize, metric: BackendMetric) -> Option<Estimate> {
    Some(variant.backends.get(backend)?.metric(metric)).filter(|e| e.mean.is_finite())
}

/// The largest mean-plus-CI among `values`, in seconds.
fn largest(values: &[Option<Estimate>]) -> f64 {
    values
        .iter()
        .flatten()
        .map(|e| e.mean + if e.ci95.is_finite() { e.ci95 } else { 0.0 })
        .fold(0.0, f64::max)
}

/// A line chart of `metric` against `x`, a line per series; a time unit, on a logarithmic axis
/// where the values span a decade or more, unless `unit` is given.
#[allow(clippy::too_many_arguments)]
fn line_panel(
    area: &Area<'_>,
    report: &Report,
    series: &[layout::Series],
    metric: &Metric,
    caption: &str,
    x: &str,
    y_desc: &str,
    unit: Option<Unit>,
) -> Drawn {
    let values: Vec<Vec<(f64, Option<Estimate>)>> = series
        .iter()
        .map(|s| s.points.iter().map(|&(x, v)| (x, metric_of(&report.variants[v], metric))).collect())
        .collect();
    // Times may span decades (one overloaded variant); ratios are compared on a linear axis.
    let log_when_spread = unit.is_none();
    let unit = unit.unwrap_or_else(|| {
        let all: Vec<Option<Estimate>> = values.iter().flatten().map(|p| p.1).collect();
        time_unit(largest(&all))
    });
    let plotted: Vec<Line> = values
        .into_iter()
        .enumerate()
        .map(|(i, points)| Line {
            color: color(i),
            points: points.into_iter().map(|(x, e)| (x, unit.of(e))).collect(),
        })
        .collect();
    lines(area, caption, x, y_desc, &plotted, unit, log_when_spread)
}

/// Cost against the SLO: one point per variant, replica-hours across and the SLO metric
/// (`metric`, a response time) up, with its 95% interval as whiskers; variants meeting the SLO
/// filled, the others hollow, the cheapest one meeting it ringed and named. `points` come from
/// [`stacksim::cost::cost_against_slo`].
pub fn cost(report: &Report, metric: &Metric, points: &[stacksim::cost::CostPoint]) -> String {
    use plotters::prelude::*;
    let finite: Vec<&stacksim::cost::CostPoint> =
        points.iter().filter(|p| p.replica_hours.mean.is_finite() && p.value.mean.is_finite()).collect();
    if finite.is_empty() {
        return chart::message((WIDTH, 120), "No variant has both a cost and a value of the SLO metric.");
    }
    let upper = |e: Estimate| e.mean + if e.ci95.is_finite() { e.ci95 } else { 0.0 };
    let x_max = finite.iter().map(|p| p.replica_hours.mean).fold(0.0, f64::max) * 1.15;
    let y_max = finite.iter().map(|p| upper(p.value) * 1000.0).fold(0.0, f64::max) * 1.15;
    let cheapest = finite.iter().find(|p| p.cheapest);
    let header = Header {
        title: format!("{}: cost against the SLO", report.experiment),
        subtitle: format!(
            "Each variant's replica-hours (pod time of its fleet groups) and its {}; filled: meets the \
             SLO, hollow: misses it; ringed: {}.",
            metric.description(),
            cheapest.map_or("no variant meets it".to_owned(), |p| format!(
                "the cheapest meeting it, {}",
                p.label
            ))
        ),
        legend: Vec::new(),
    };
    let height = header.height(WIDTH) + 460;
    render((WIDTH, height), |root| {
        let body = header.draw(root)?;
        let mut chart = ChartBuilder::on(&body)
            .margin(16)
            .x_label_area_size(40)
            .y_label_area_size(64)
            .build_cartesian_2d(0.0..x_max.max(1e-9), 0.0..y_max.max(1e-9))?;
        chart
            .configure_mesh()
            .x_desc("replica-hours")
            .y_desc(format!("{} (ms)", metric.description()))
            .label_style(("sans-serif", 12))
            .draw()?;
        for (i, p) in finite.iter().enumerate() {
            let c = color(i);
            let (x, y) = (p.replica_hours.mean, p.value.mean * 1000.0);
            if p.value.ci95.is_finite() && p.value.ci95 > 0.0 {
                let ci = p.value.ci95 * 1000.0;
                chart.draw_series(std::iter::once(PathElement::new(vec![(x, y - ci), (x, y + ci)], c)))?;
            }
            let style = if p.meets { c.filled() } else { c.stroke_width(2) };
            chart.draw_series(std::iter::once(Circle::new((x, y), 6, style)))?;
            if p.cheapest {
                chart.draw_series(std::iter::once(Circle::new((x, y), 12, BLACK.stroke_width(2))))?;
            }
            chart.draw_series(std::iter::once(Text::new(
                escape(&p.label),
                (x, y),
                ("sans-serif", 11).into_font().color(&BLACK),
            )))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A report of a variant per entry of `params` (JSON object members, e.g.
    /// `"policy": "Random", "rate_per_s": 100`), each with `backends` backends and made-up
    /// metrics, built from JSON text so that any later report field takes its default.
    fn report(experiment: &str, params: &[&str], backends: usize) -> Report {
        let variants: Vec<String> = params
            .iter()
            .enumerate()
            .map(|(v, p)| {
                let x = v as f64;
                let metrics = format!(
                    r#"{{"response_time_mean_s": {{"mean": {}, "ci95": 0.002}},
                    "response_time_p50_s": {{"mean": {}, "ci95": 0.001}},
                    "response_time_p99_s": {{"mean": {}, "ci95": 0.01}},
                    "response_time_p999_s": {{"mean": {}, "ci95": null}},
                    "error_ratio": {{"mean": {}, "ci95": 0.0001}}}}"#,
                    0.1 + 0.01 * x,
                    0.08 + 0.01 * x,
                    0.5 + 0.1 * x,
                    0.7 + 0.2 * x,
                    0.001 * x
                );
                let backends: Vec<String> = (0..backends)
                    .map(|b| {
                        format!(
                            r#"{{"name": "app-{b}", "metrics": {{"utilization": {{"mean": {}, "ci95": 0.01}}}}}}"#,
                            0.5 + 0.4 * ((b * 7 + v) % 10) as f64 / 10.0
                        )
                    })
                    .collect();
                let label = serde_json::to_string(&format!("variant {v}")).unwrap();
                format!(
                    r#"{{"label": {label}, "params": {{{p}}}, "replications": 3, "metrics": {metrics},
                    "backends": [{}]}}"#,
                    backends.join(", ")
                )
            })
            .collect();
        let experiment = serde_json::to_string(experiment).unwrap();
        serde_json::from_str(&format!(
            r#"{{"experiment": {experiment}, "seed": 1, "variants": [{}], "runs": []}}"#,
            variants.join(", ")
        ))
        .unwrap()
    }

    fn policies(names: &[&str]) -> Vec<String> {
        names.iter().map(|n| format!(r#""policy": "{n}""#)).collect()
    }

    fn assert_svg(svg: &str) {
        assert!(svg.starts_with("<svg ") && svg.trim_end().ends_with("</svg>"), "{svg}");
        assert!(!svg.contains("could not be drawn"), "{svg}");
        assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
    }

    #[test]
    fn policy_sweep_draws_a_labelled_bar_per_policy() {
        let params = policies(&["RoundRobin", "Random", "LeastConnections", "PowerOfTwoChoices"]);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let report = report("quickstart", &params, 5);
        for plot in all(&report) {
            assert_svg(&plot.svg);
            assert!(plot.svg.contains("quickstart: "), "{}: names the experiment", plot.name);
            for policy in ["RoundRobin", "Random", "LeastConnections", "PowerOfTwoChoices"] {
                assert!(plot.svg.contains(&format!(">\n{policy}\n<")), "{}: {policy}", plot.name);
            }
        }
        let latency = latency(&report);
        for caption in ["mean", "p50", "p99", "p99.9"] {
            assert!(latency.contains(&format!(">\n{caption}\n<")), "{caption}");
        }
        assert!(latency.contains(">\nms\n<"), "milliseconds below a second");
        assert!(utilization(&report).contains(">\napp-4\n<"));
    }

    /// `report` with variant 0's p99 and p99.9 `factor` times as long.
    fn one_overloaded(mut report: Report, factor: f64) -> Report {
        for metric in [Metric::ResponseTimeP99, Metric::ResponseTimeP999] {
            let e = report.variants[0].metrics.get_mut(metric.name().as_ref()).unwrap();
            e.mean *= factor;
        }
        report
    }

    #[test]
    fn percentiles_decades_apart_are_drawn_on_a_log_axis() {
        let params = policies(&["RoundRobin", "Random", "LeastConnections"]);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let close = latency(&one_overloaded(report("bars", &params, 2), 5.0));
        assert!(!close.contains("log scale"), "within a factor of 20: linear");
        let svg = latency(&one_overloaded(report("bars", &params, 2), 60.0));
        assert_svg(&svg);
        // The p99 and p99.9 panels, not the mean and p50 ones.
        assert_eq!(
            svg.matches(
                ">
s (log scale)
<"
            )
            .count(),
            2,
            "{svg}"
        );
        assert_eq!(
            svg.matches(
                ">
ms
<"
            )
            .count(),
            2,
            "{svg}"
        );
        assert_eq!(svg.matches("<circle").count(), 2 * 3, "dots, not bars, on a log axis");
        for tick in ["0.1", "1", "10"] {
            assert!(
                svg.contains(&format!(
                    ">
{tick}
<"
                )),
                "a tick at {tick}: {svg}"
            );
        }

        let params: Vec<String> = ["RoundRobin", "Random"]
            .iter()
            .flat_map(|p| [100, 200, 300].map(move |r| format!(r#""policy": "{p}", "rate_per_s": {r}"#)))
            .collect();
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let svg = latency(&one_overloaded(report("rates", &params, 2), 60.0));
        assert_svg(&svg);
        assert_eq!(
            svg.matches(
                ">
response time (s, log scale)
<"
            )
            .count(),
            2,
            "{svg}"
        );
    }

    #[test]
    fn numeric_sweep_draws_lines_against_it() {
        let params: Vec<String> = ["RoundRobin", "Random"]
            .iter()
            .flat_map(|p| [100, 200, 300].map(move |r| format!(r#""policy": "{p}", "rate_per_s": {r}"#)))
            .collect();
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let report = report("rates", &params, 3);
        let latency = latency(&report);
        assert_svg(&latency);
        assert!(latency.contains(">\nrate_per_s\n<"), "the x axis is named after the parameter");
        assert!(latency.contains(">\n200\n<"), "ticks at the swept values");
        assert!(latency.contains(">\nresponse time (s)\n<"), "p99.9 reaches a second: seconds");
        assert_eq!(latency.matches("stroke-width=\"2\"").count(), 4 * 2, "a line per policy in each panel");
        let errors = errors(&report);
        assert_svg(&errors);
        assert!(errors.contains(">\nerror ratio (%)\n<"));
        assert_svg(&utilization(&report));
    }

    #[test]
    fn same_report_same_bytes() {
        let params = policies(&["RoundRobin", "Random"]);
        let params: Vec<&str> = params.iter().map(String::as_str).collect();
        let report = report("again", &params, 4);
        assert_eq!(all(&report), all(&report.clone()));
    }

    #[test]
    fn experiment_text_is_escaped() {
        let report = report("<b>&", &[r#""policy": "A<B""#], 1);
        for plot in all(&report) {
            assert!(!plot.svg.contains("<b>") && plot.svg.contains("&lt;b&gt;&amp;"), "{}", plot.svg);
            assert!(plot.svg.contains("A&lt;B"), "{}", plot.svg);
        }
    }

    #[test]
    fn many_variants_and_backends_are_capped_and_say_so() {
        let facets: Vec<String> =
            (0..9).map(|i| format!(r#""policy": "P{}", "queue": "Q{i}""#, i % 3)).collect();
        let facets: Vec<&str> = facets.iter().map(String::as_str).collect();
        let svg = utilization(&report("facets", &facets, 60));
        assert_svg(&svg);
        assert!(svg.contains("(busiest 40 of 60 backends per variant)"), "{svg}");

        let many: Vec<String> = (0..50).map(|i| format!(r#""policy": "Policy{i}""#)).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        let report = report("many", &many, 20);
        let svg = utilization(&report);
        assert_svg(&svg);
        assert!(svg.contains("50 variants: mean over backends and busiest backend"), "{svg}");
        let svg = latency(&report);
        assert_svg(&svg);
        assert!(svg.contains("Showing the first 40 of 50 variants."), "{svg}");
    }

    #[test]
    fn missing_values_and_empty_reports_do_not_break_plots() {
        let mut report = report("gaps", &[r#""policy": "A""#, r#""policy": "B""#], 2);
        report.variants[0].metrics.clear();
        report.variants[1].backends[0].metrics.clear();
        for plot in all(&report) {
            assert_svg(&plot.svg);
        }
        assert!(latency(&report).contains(">\nno data\n<"));
        report.variants.clear();
        for plot in all(&report) {
            assert!(plot.svg.contains("has no variants to plot"), "{}", plot.svg);
        }
    }
}
