//! The report as CSV tables: `runs.csv`, `variants.csv`, `classes.csv` and `timeseries.csv`.

use std::io;

use indexmap::IndexMap;
use serde_json::Value;

use crate::metric::ClassMetric;
use crate::stats::Estimate;

use super::Report;

impl Report {
    /// `runs.csv`: one row per run, one column per metric.
    pub fn write_runs_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        let Some(first) = self.runs.first() else {
            return Ok(csv.flush()?);
        };
        // Columns for truncation only when a run was truncated: other reports keep their bytes.
        let truncated = self.truncated_runs() > 0;
        let mut header = vec!["variant", "label", "replication", "seed", "events"];
        if truncated {
            header.extend(["truncated", "reached_s"]);
        }
        // The union of the runs' metrics, in order of first appearance: variants may differ
        // (overload metrics only where a mechanism is configured); a run without one leaves
        // its cell empty.
        let mut names: IndexMap<&str, ()> = first.metrics.keys().map(|k| (k.as_str(), ())).collect();
        for run in &self.runs {
            names.extend(run.metrics.keys().map(|k| (k.as_str(), ())));
        }
        header.extend(names.keys());
        csv.write_record(&header)?;
        for run in &self.runs {
            let mut row = vec![
                run.variant.to_string(),
                self.variants[run.variant].label.clone(),
                run.replication.to_string(),
                run.seed.to_string(),
                run.events.to_string(),
            ];
            if truncated {
                row.push(run.truncated.to_string());
                row.push(run.reached_s.map_or_else(String::new, format_number));
            }
            row.extend(
                names.keys().map(|k| run.metrics.get(*k).map_or(String::new(), |m| format_number(m.0))),
            );
            csv.write_record(&row)?;
        }
        Ok(csv.flush()?)
    }

    /// Whether some variant reports request classes (and so `classes.csv` has rows).
    pub fn has_classes(&self) -> bool {
        self.variants.iter().any(|v| !v.classes.is_empty())
    }

    /// `classes.csv`: one row per (variant, request class), variant-major, with columns
    /// `variant`, `label`, `client`, `class`, `priority`, then each class metric as `name`
    /// (mean) and `name_ci95`. Writes nothing but a flush when no variant has classes.
    pub fn write_classes_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        if !self.has_classes() {
            return Ok(csv.flush()?);
        }
        let mut header: Vec<String> =
            ["variant", "label", "client", "class", "priority"].map(str::to_owned).to_vec();
        for metric in ClassMetric::ALL {
            header.push(metric.name().to_owned());
            header.push(format!("{}_ci95", metric.name()));
        }
        csv.write_record(&header)?;
        for (i, v) in self.variants.iter().enumerate() {
            for class in &v.classes {
                let mut row = vec![
                    i.to_string(),
                    v.label.clone(),
                    class.client.clone(),
                    class.name.clone(),
                    class.priority.clone(),
                ];
                for metric in ClassMetric::ALL {
                    push_estimate(&mut row, class.metrics.get(metric.name()));
                }
                csv.write_record(&row)?;
            }
        }
        Ok(csv.flush()?)
    }

    /// `variants.csv`: one row per variant; each metric as `name` (mean) and `name_ci95`.
    pub fn write_variants_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        let Some(first) = self.variants.first() else {
            return Ok(csv.flush()?);
        };
        let truncated = self.truncated_runs() > 0;
        let mut header = vec!["variant".to_owned(), "label".to_owned(), "replications".to_owned()];
        if truncated {
            header.push("truncated_runs".to_owned());
        }
        header.extend(first.params.keys().cloned());
        // The union of the variants' metrics, in order of first appearance (see runs.csv).
        let mut names: IndexMap<&str, ()> = first.metrics.keys().map(|k| (k.as_str(), ())).collect();
        for v in &self.variants {
            names.extend(v.metrics.keys().map(|k| (k.as_str(), ())));
        }
        for name in names.keys() {
            header.push((*name).to_owned());
            header.push(format!("{name}_ci95"));
        }
        csv.write_record(&header)?;
        for (i, v) in self.variants.iter().enumerate() {
            let mut row = vec![i.to_string(), v.label.clone(), v.replications.to_string()];
            if truncated {
                row.push(v.truncated_runs.to_string());
            }
            row.extend(v.params.values().map(|p| match p {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            }));
            for name in names.keys() {
                push_estimate(&mut row, v.metrics.get(*name));
            }
            csv.write_record(&row)?;
        }
        Ok(csv.flush()?)
    }

    /// `timeseries.csv`: one row per (variant, window), variant-major, with columns `variant`,
    /// `label`, `window_start_s` (seconds from the start of the run), `clock` (the window's
    /// start in RFC 3339 when the experiment has a `start`, else empty), then every window
    /// metric but `start_s` (the union over variants, in order of first appearance). Every value
    /// is a mean over the variant's replications, so counts (`arrived`, `rejected`, ...) may be
    /// fractional. Writes nothing but a flush when the report has no time series.
    pub fn write_timeseries_csv(&self, out: impl io::Write) -> Result<(), csv::Error> {
        let mut csv = csv::Writer::from_writer(out);
        if self.timeseries.iter().all(|s| s.windows.is_empty()) {
            return Ok(csv.flush()?);
        }
        let mut metrics: IndexMap<&str, ()> = IndexMap::new();
        for window in self.timeseries.iter().flat_map(|s| &s.windows) {
            metrics.extend(window.keys().filter(|k| *k != "start_s").map(|k| (k.as_str(), ())));
        }
        let mut header = vec!["variant", "label", "window_start_s", "clock"];
        header.extend(metrics.keys());
        csv.write_record(&header)?;
        let window_s = self.timeline.as_ref().map_or(0.0, |t| t.window_s);
        for series in &self.timeseries {
            let label = self.variants.get(series.variant).map_or("", |v| v.label.as_str());
            for (i, window) in series.windows.iter().enumerate() {
                let start_s = window.get("start_s").map_or(i as f64 * window_s, |m| m.0);
                let clock =
                    self.timeline.as_ref().and_then(|t| t.clock_at(start_s)).map_or_else(String::new, |t| {
                        if start_s.fract() == 0.0 {
                            humantime::format_rfc3339_seconds(t).to_string()
                        } else {
                            humantime::format_rfc3339_millis(t).to_string()
                        }
                    });
                let mut row =
                    vec![series.variant.to_string(), label.to_owned(), format_number(start_s), clock];
                row.extend(
                    metrics.keys().map(|k| window.get(*k).map_or(String::new(), |m| format_number(m.0))),
                );
                csv.write_record(&row)?;
            }
        }
        Ok(csv.flush()?)
    }
}

/// A number for CSV: shortest round-trip form; empty when there is no value.
/// An estimate's two cells, its mean and its `_ci95`; two empty cells for a metric the row
/// lacks.
fn push_estimate(row: &mut Vec<String>, estimate: Option<&Estimate>) {
    row.push(estimate.map_or(String::new(), |e| format_number(e.mean)));
    row.push(estimate.map_or(String::new(), |e| format_number(e.ci95)));
}

fn format_number(x: f64) -> String {
    if x.is_finite() { x.to_string() } else { String::new() }
}

#[cfg(test)]
mod timeseries_csv_tests {
    use super::*;
    use crate::report::{Reading, Series, TimelineReport, VariantInfo};

    fn report(start: Option<&str>) -> Report {
        let window = |start_s: f64, p99: f64| -> IndexMap<String, Reading> {
            [("start_s", start_s), ("arrived", 10.0), ("response_time_p99_s", p99), ("app-0.share", 1.0)]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Reading(v)))
                .collect()
        };
        let variant = |label: &str| VariantInfo { label: label.into(), params: IndexMap::new() };
        let mut report = Report::from_records("t", 1, &[variant("policy=A"), variant("policy=B")], 0, &[]);
        report.timeseries = vec![
            Series { variant: 0, windows: vec![window(0.0, 0.25), window(60.0, f64::NAN)] },
            Series { variant: 1, windows: vec![window(0.0, 0.5), window(60.0, 0.75)] },
        ];
        report.timeline = Some(TimelineReport {
            start: start.map(str::to_owned),
            window_s: 60.0,
            marks: Vec::new(),
            alerts: Vec::new(),
        });
        report
    }

    fn csv(report: &Report) -> String {
        let mut out = Vec::new();
        report.write_timeseries_csv(&mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_row_per_variant_and_window_with_clock_time() {
        assert_eq!(
            csv(&report(Some("2024-03-08T13:00:00Z"))),
            "variant,label,window_start_s,clock,arrived,response_time_p99_s,app-0.share\n\
             0,policy=A,0,2024-03-08T13:00:00Z,10,0.25,1\n\
             0,policy=A,60,2024-03-08T13:01:00Z,10,,1\n\
             1,policy=B,0,2024-03-08T13:00:00Z,10,0.5,1\n\
             1,policy=B,60,2024-03-08T13:01:00Z,10,0.75,1\n"
        );
    }

    #[test]
    fn without_a_start_the_clock_is_empty_and_without_windows_there_is_nothing() {
        let text = csv(&report(None));
        assert!(text.lines().nth(1).unwrap().starts_with("0,policy=A,0,,10,"), "{text}");
        let mut empty = report(None);
        empty.timeseries.clear();
        assert_eq!(csv(&empty), "");
    }

    #[test]
    fn metrics_only_some_variants_have_get_a_column_and_empty_cells() {
        let mut report = report(None);
        report.timeseries[1].windows[1].insert("db".into(), Reading(0.5));
        let text = csv(&report);
        assert!(
            text.starts_with(
                "variant,label,window_start_s,clock,arrived,response_time_p99_s,app-0.share,db\n"
            )
        );
        assert!(
            text.contains("\n0,policy=A,0,,10,0.25,1,\n")
                && text.ends_with("\n1,policy=B,60,,10,0.75,1,0.5\n"),
            "{text}"
        );
    }
}
