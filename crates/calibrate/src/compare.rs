//! `stacksim compare`: a simulated run against the log it should reproduce — p50/p90/p99,
//! error ratio and per-backend share, per window and overall; the error per percentile
//! (MAPE) and whether each observed value lies inside the replications' spread.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::observed::{LogSummary, Observed, WindowSummary};
use crate::read::{ReadError, ReadStats, read_file};
use crate::record::LogFormat;
use crate::replay::SimulatedLogs;

/// One value, observed against simulated.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// `p50_s`, `p90_s`, `p99_s`, `error_ratio` or `share_<backend>`.
    pub metric: String,
    /// In the log.
    pub observed: f64,
    /// Mean over replications.
    pub simulated: f64,
    /// Smallest over replications.
    pub simulated_min: f64,
    /// Largest over replications.
    pub simulated_max: f64,
    /// The observed value lies in `[simulated_min, simulated_max]`.
    pub inside: bool,
    /// |simulated − observed| / observed (NaN when observed is 0).
    pub relative_error: f64,
}

/// One window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct WindowComparison {
    /// Start \[Unix s\].
    pub start_s: f64,
    /// Start, from the first window \[s\].
    pub offset_s: f64,
    /// Requests observed.
    pub observed_requests: u64,
    /// Each metric.
    pub rows: Vec<Row>,
}

/// Mean absolute percentage error of one metric over windows.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mape {
    /// The metric.
    pub metric: String,
    /// Mean of |sim − obs| / obs over the windows where both exist, as a ratio (0.05 = 5%).
    pub mape: f64,
    /// Windows counted.
    pub windows: usize,
    /// Share of windows whose observed value lies in the replications' spread.
    pub inside_ratio: f64,
}

/// `compare.json`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Comparison {
    /// What was read from the observed logs.
    pub logs: Vec<ReadStats>,
    /// The experiment and variant simulated.
    pub experiment: String,
    /// The variant.
    pub variant: String,
    /// Replications.
    pub replications: usize,
    /// Window width \[s\].
    pub window_s: f64,
    /// Whole period.
    pub overall: Vec<Row>,
    /// MAPE per percentile, over windows.
    pub mape: Vec<Mape>,
    /// Per window present in both.
    pub windows: Vec<WindowComparison>,
    /// Observed windows without a simulated counterpart (outside the simulated period).
    pub unmatched_windows: usize,
}

/// Why a comparison could not be made.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CompareError {
    /// An observed log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The report directory has no usable `access-log.json`.
    #[error("{path}: {message} (write it with `stacksim run EXPERIMENT --out DIR --access-log sim.log`)")]
    Simulated {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

fn rows(observed: &[(String, f64)], simulated: &[Vec<(String, f64)>]) -> Vec<Row> {
    observed
        .iter()
        .map(|(metric, obs)| {
            let values: Vec<f64> = simulated
                .iter()
                .filter_map(|s| s.iter().find(|(m, _)| m == metric).map(|(_, v)| *v))
                .filter(|v| v.is_finite())
                .collect();
            let n = values.len().max(1) as f64;
            let mean = if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / n };
            let min = values.iter().copied().fold(f64::INFINITY, f64::min);
            let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            Row {
                metric: metric.clone(),
                observed: *obs,
                simulated: mean,
                simulated_min: if values.is_empty() { f64::NAN } else { min },
                simulated_max: if values.is_empty() { f64::NAN } else { max },
                inside: !values.is_empty() && *obs >= min && *obs <= max,
                relative_error: if *obs == 0.0 { f64::NAN } else { (mean - obs).abs() / obs.abs() },
            }
        })
        .collect()
}

fn metrics(p50: f64, p90: f64, p99: f64, errors: f64, shares: &[(String, f64)]) -> Vec<(String, f64)> {
    let mut m = vec![
        ("p50_s".to_owned(), p50),
        ("p90_s".to_owned(), p90),
        ("p99_s".to_owned(), p99),
        ("error_ratio".to_owned(), errors),
    ];
    m.extend(shares.iter().map(|(b, s)| (format!("share_{b}"), *s)));
    m
}

fn window_metrics(w: &WindowSummary) -> Vec<(String, f64)> {
    metrics(w.p50_s, w.p90_s, w.p99_s, w.error_ratio, &w.shares)
}

/// Compares an observed log's summary with simulated replications (same window width).
pub fn compare(observed: &LogSummary, simulated: &SimulatedLogs, logs: Vec<ReadStats>) -> Comparison {
    let overall = rows(
        &metrics(observed.p50_s, observed.p90_s, observed.p99_s, observed.error_ratio, &observed.shares),
        &simulated
            .replications
            .iter()
            .map(|s| metrics(s.p50_s, s.p90_s, s.p99_s, s.error_ratio, &s.shares))
            .collect::<Vec<_>>(),
    );
    let first = observed.windows.first().map_or(0.0, |w| w.start_s);
    let mut windows = Vec::new();
    let mut unmatched = 0;
    for w in &observed.windows {
        let sims: Vec<Vec<(String, f64)>> = simulated
            .replications
            .iter()
            .filter_map(|s| s.windows.iter().find(|x| (x.start_s - w.start_s).abs() < 1e-6))
            .map(window_metrics)
            .collect();
        if sims.is_empty() {
            unmatched += 1;
            continue;
        }
        windows.push(WindowComparison {
            start_s: w.start_s,
            offset_s: w.start_s - first,
            observed_requests: w.requests,
            rows: rows(&window_metrics(w), &sims),
        });
    }
    let mape = ["p50_s", "p90_s", "p99_s"]
        .iter()
        .map(|metric| {
            let found: Vec<&Row> = windows
                .iter()
                .filter_map(|w| w.rows.iter().find(|r| r.metric == *metric))
                .filter(|r| r.relative_error.is_finite())
                .collect();
            let n = found.len();
            Mape {
                metric: (*metric).to_owned(),
                mape: if n == 0 {
                    f64::NAN
                } else {
                    found.iter().map(|r| r.relative_error).sum::<f64>() / n as f64
                },
                windows: n,
                inside_ratio: if n == 0 {
                    f64::NAN
                } else {
                    found.iter().filter(|r| r.inside).count() as f64 / n as f64
                },
            }
        })
        .collect();
    Comparison {
        logs,
        experiment: simulated.experiment.clone(),
        variant: simulated.variant.clone(),
        replications: simulated.replications.len(),
        window_s: observed.window_s,
        overall,
        mape,
        windows,
        unmatched_windows: unmatched,
    }
}

/// Reads `DIR/access-log.json` (written by `stacksim run --out DIR --access-log FILE`).
pub fn read_simulated(dir: &Path) -> Result<SimulatedLogs, CompareError> {
    let path = dir.join("access-log.json");
    let bad = |message: String| CompareError::Simulated { path: path.display().to_string(), message };
    let text = std::fs::read_to_string(&path).map_err(|e| bad(e.to_string()))?;
    let simulated: SimulatedLogs =
        serde_json::from_str(&text).map_err(|e| bad(format!("not a simulated-log summary: {e}")))?;
    if simulated.replications.is_empty() {
        return Err(bad("holds no replication".to_owned()));
    }
    Ok(simulated)
}

/// Reads the observed `logs` and the simulated run in `report_dir`, and compares them.
pub fn compare_files(
    logs: &[PathBuf],
    format: Option<LogFormat>,
    report_dir: &Path,
) -> Result<Comparison, CompareError> {
    let simulated = read_simulated(report_dir)?;
    let mut observed = Observed::new(simulated.replications[0].window_s);
    let mut stats = Vec::new();
    for log in logs {
        stats.push(read_file(log, format, |r| observed.add(&r))?);
    }
    Ok(compare(&observed.summary(), &simulated, stats))
}

impl Comparison {
    /// `compare.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// A table for the terminal: the whole period, then the MAPE per percentile.
    pub fn to_table(&self) -> String {
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{} ({}), {} replications, {} windows of {}s compared\n",
            self.experiment,
            self.variant,
            self.replications,
            self.windows.len(),
            self.window_s
        );
        let _ = writeln!(
            t,
            "{:<24} {:>12} {:>12} {:>25} {:>7} {:>9}",
            "metric", "observed", "simulated", "replication spread", "inside", "error"
        );
        for r in &self.overall {
            let _ = writeln!(
                t,
                "{:<24} {:>12} {:>12} {:>25} {:>7} {:>8.1}%",
                r.metric,
                shown(&r.metric, r.observed),
                shown(&r.metric, r.simulated),
                format!("{} – {}", shown(&r.metric, r.simulated_min), shown(&r.metric, r.simulated_max)),
                if r.inside { "yes" } else { "no" },
                r.relative_error * 100.0
            );
        }
        let _ = writeln!(t, "\nper window:");
        for m in &self.mape {
            let _ = writeln!(
                t,
                "  {:<8} MAPE {:>6.1}% over {} windows; observed inside the replication spread in {:.0}%",
                m.metric,
                m.mape * 100.0,
                m.windows,
                m.inside_ratio * 100.0
            );
        }
        if self.unmatched_windows > 0 {
            let _ = writeln!(
                t,
                "  {} observed windows fall outside the simulated period",
                self.unmatched_windows
            );
        }
        t
    }
}

fn shown(metric: &str, x: f64) -> String {
    if !x.is_finite() {
        "–".to_owned()
    } else if metric.ends_with("_s") {
        format!("{:.1}ms", x * 1000.0)
    } else {
        format!("{:.2}%", x * 100.0)
    }
}
