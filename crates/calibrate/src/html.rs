//! `fit.html` and `compare.html`: tables and the plots drawn by `stacksim_render::xy`.

use std::fmt::Write as _;

use stacksim_render::plot::escape;
use stacksim_render::xy::{Series, line_chart};

use crate::compare::Comparison;
use crate::fit::Fit;

fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title>\n<style>body{{font-family:sans-serif;max-width:1000px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 8px;text-align:right}}th:first-child,td:first-child{{text-align:left}}.flag{{color:#b00}}</style></head><body>\n<h1>{}</h1>\n{body}</body></html>\n",
        escape(title),
        escape(title)
    )
}

fn ms(s: f64) -> String {
    if s.is_finite() { format!("{:.1}", s * 1000.0) } else { "–".to_owned() }
}

// The reports' HTML lives here, beside the charts, and the data modules do not name it: the
// methods below are how they reach it.
impl Fit {
    /// `fit.html`: the report with its plots.
    pub fn to_html(&self) -> String {
        fit_html(self)
    }
}

impl Comparison {
    /// `compare.html`, with the overlay plot.
    pub fn to_html(&self) -> String {
        compare_html(self)
    }
}

fn fit_html(fit: &Fit) -> String {
    let mut b = String::new();
    let _ = writeln!(
        b,
        "<p>{} requests from {} for {}s in windows of {}s; error ratio {:.2}%, p50 {} ms, p99 {} ms.</p>",
        fit.requests,
        escape(&fit.start),
        fit.duration_s,
        fit.window_s,
        fit.error_ratio * 100.0,
        ms(fit.latency_p50_s),
        ms(fit.latency_p99_s)
    );
    b.push_str("<h2>Logs</h2><table><tr><th>file</th><th>format</th><th>lines</th><th>parsed</th><th>skipped</th><th>bad</th></tr>");
    for l in &fit.logs {
        let _ = write!(
            b,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&l.file),
            l.format,
            l.lines,
            l.parsed,
            l.skipped,
            l.bad
        );
    }
    b.push_str("</table>");
    for l in &fit.logs {
        for e in &l.errors {
            let _ = write!(b, "<p class=\"flag\">{}</p>", escape(&e.to_string()));
        }
    }
    if !fit.flags.is_empty() {
        b.push_str("<h2>Flagged</h2><ul>");
        for f in &fit.flags {
            let _ = write!(b, "<li class=\"flag\">{}</li>", escape(f));
        }
        b.push_str("</ul>");
    }
    b.push_str("<h2>Arrivals</h2>");
    let rate: Vec<(f64, f64)> = fit.arrivals.iter().map(|p| (p.offset_s, p.rate_per_s)).collect();
    b.push_str(&line_chart(
        "Arrival rate per window",
        "time from start [s]",
        "requests/s",
        &[Series::new("observed", rate)],
    ));
    if let Some(u) = &fit.users {
        let _ = write!(
            b,
            "<p>{} distinct users, {:.1} requests each on average; Zipf skew {}.</p>",
            u.distinct,
            u.requests_per_user,
            u.skew.map_or("–".to_owned(), |s| format!("{s:.3}"))
        );
    }
    b.push_str("<h2>Backends</h2><table><tr><th>backend</th><th>requests</th><th>share</th><th>weight share</th><th>errors</th><th>service fit</th><th>KS</th><th>queueing</th><th>workers</th></tr>");
    for x in &fit.backends {
        let best = x.service.as_ref().map(|f| f.best());
        let _ = write!(
            b,
            "<tr{}><td>{}</td><td>{}</td><td>{:.1}%</td><td>{:.1}%</td><td>{:.2}%</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{}</td></tr>",
            if x.flag.is_some() { " class=\"flag\"" } else { "" },
            escape(&x.name),
            x.requests,
            x.share * 100.0,
            x.expected_share * 100.0,
            x.error_ratio * 100.0,
            best.map_or("–".to_owned(), |c| escape(&ron::to_string(&c.service).unwrap_or_default())),
            best.map_or("–".to_owned(), |c| format!("{:.3}", c.ks)),
            x.queue.method,
            x.queue.trust,
            x.workers
        );
    }
    b.push_str("</table>");
    for x in &fit.backends {
        let _ = write!(
            b,
            "<h3>{}</h3><p>Service time from the {}. {}. Workers: {}.</p>",
            escape(&x.name),
            x.service_source,
            escape(&x.queue.note),
            escape(&x.workers_basis)
        );
        if let Some(f) = &x.service {
            b.push_str("<table><tr><th>family</th><th>AIC</th><th>KS</th><th>median [ms]</th></tr>");
            for c in &f.candidates {
                let _ = write!(
                    b,
                    "<tr><td>{}</td><td>{:.1}</td><td>{:.4}</td><td>{}</td></tr>",
                    c.family,
                    c.aic,
                    c.ks,
                    ms(c.median_s)
                );
            }
            b.push_str("</table>");
            let emp: Vec<(f64, f64)> = f.cdf.iter().map(|c| (c.0 * 1000.0, c.1)).collect();
            let fitted: Vec<(f64, f64)> = f.cdf.iter().map(|c| (c.0 * 1000.0, c.2)).collect();
            b.push_str(&line_chart(
                &format!("{}: CDF of service time", x.name),
                "service time [ms]",
                "P(T ≤ t)",
                &[
                    Series::new("empirical", emp),
                    Series::dashed(format!("fitted {}", f.best().family), fitted),
                ],
            ));
            let qq: Vec<(f64, f64)> = f.qq.iter().map(|q| (q.0 * 1000.0, q.1 * 1000.0)).collect();
            let diagonal: Vec<(f64, f64)> = qq.iter().map(|q| (q.0, q.0)).collect();
            b.push_str(&line_chart(
                &format!("{}: QQ plot (1%..99%)", x.name),
                "fitted quantile [ms]",
                "observed quantile [ms]",
                &[Series::new("observed", qq), Series::dashed("y = x", diagonal)],
            ));
        }
    }
    let shares: Vec<Series> = fit
        .backends
        .iter()
        .map(|x| Series::new(x.name.clone(), x.windows.iter().map(|w| (w.offset_s, w.share)).collect()))
        .collect();
    b.push_str("<h2>Share per window</h2>");
    b.push_str(&line_chart("Share of requests per backend", "time from start [s]", "share", &shares));
    if !fit.classes.is_empty() {
        b.push_str("<h2>Endpoint classes</h2><table><tr><th>class</th><th>n</th><th>fit</th><th>KS</th><th>median [ms]</th></tr>");
        for c in &fit.classes {
            let best = c.service.best();
            let _ = write!(
                b,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{:.3}</td><td>{}</td></tr>",
                escape(&c.class),
                c.service.n,
                escape(&ron::to_string(&best.service).unwrap_or_default()),
                best.ks,
                ms(best.median_s)
            );
        }
        b.push_str("</table>");
    }
    if !fit.notes.is_empty() {
        b.push_str("<h2>Notes</h2><ul>");
        for n in &fit.notes {
            let _ = write!(b, "<li>{}</li>", escape(n));
        }
        b.push_str("</ul>");
    }
    page("stacksim fit", &b)
}

fn compare_html(c: &Comparison) -> String {
    let mut b = String::new();
    let _ = write!(b, "<pre>{}</pre>", escape(&c.to_table()));
    for metric in ["p50_s", "p90_s", "p99_s"] {
        let pick = |f: fn(&crate::compare::Row) -> f64| -> Vec<(f64, f64)> {
            c.windows
                .iter()
                .filter_map(|w| {
                    w.rows.iter().find(|r| r.metric == metric).map(|r| (w.offset_s, f(r) * 1000.0))
                })
                .collect()
        };
        b.push_str(&line_chart(
            &format!("{metric}: observed against simulated, per window"),
            "time from start [s]",
            "ms",
            &[
                Series::new("observed", pick(|r| r.observed)),
                Series::dashed("simulated (mean)", pick(|r| r.simulated)),
                Series::dashed("simulated min", pick(|r| r.simulated_min)),
                Series::dashed("simulated max", pick(|r| r.simulated_max)),
            ],
        ));
    }
    page("stacksim compare", &b)
}
