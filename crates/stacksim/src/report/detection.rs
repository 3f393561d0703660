//! When an experiment's alerts fired: per variant, over its replications.

use crate::metric::{Metric, Shown, Style};
use crate::stats::Estimate;

use super::Report;

/// When an alert fired, over a variant's replications.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Detection {
    /// In every replication: the time to detect \[s\] with its interval.
    Every(Estimate),
    /// In some replications only: their mean time to detect \[s\].
    Some {
        /// Mean over the replications in which it fired \[s\].
        mean_s: f64,
        /// Replications in which it fired.
        fired: usize,
        /// Replications in all.
        runs: usize,
    },
    /// In none.
    Never,
}

impl Detection {
    /// In minutes, as `style` shows it: `12.0 min ±1.5` (in every replication), `14.0 min in
    /// 2/3 runs` (in some; HTML: `in 2 of 3 runs`), `never`.
    pub fn show(&self, style: Style) -> Shown {
        let minutes = |s: f64| format!("{:.1} min", s / 60.0);
        match *self {
            Detection::Every(e) => Shown {
                value: minutes(e.mean),
                after: e.ci95.is_finite().then(|| format!("±{:.1}", e.ci95 / 60.0)),
            },
            Detection::Some { mean_s, fired, runs } => Shown {
                value: minutes(mean_s),
                after: Some(match style {
                    Style::Terminal => format!("in {fired}/{runs} runs"),
                    Style::Html => format!("in {fired} of {runs} runs"),
                }),
            },
            Detection::Never => Shown::value("never"),
        }
    }
}

impl Report {
    /// When the alert behind `metric` (a [`Metric::TimeToDetect`]) fired for variant `v`.
    pub fn detection(&self, v: usize, metric: &Metric) -> Detection {
        let e = self.variants[v].metric(metric);
        if e.mean.is_finite() {
            return Detection::Every(e);
        }
        let runs: Vec<f64> = self.runs.iter().filter(|r| r.variant == v).map(|r| r.metric(metric)).collect();
        let fired: Vec<f64> = runs.iter().copied().filter(|x| x.is_finite()).collect();
        if fired.is_empty() {
            return Detection::Never;
        }
        Detection::Some {
            mean_s: fired.iter().sum::<f64>() / fired.len() as f64,
            fired: fired.len(),
            runs: runs.len(),
        }
    }

    /// The time-to-detect metrics of the report's alert rules, in report order.
    pub fn alerts(&self) -> Vec<Metric> {
        let mut alerts: Vec<Metric> = Vec::new();
        for name in self.variants.iter().flat_map(|v| v.metrics.keys()) {
            if let Some(metric @ Metric::TimeToDetect(_)) = Metric::from_name(name)
                && !alerts.contains(&metric)
            {
                alerts.push(metric);
            }
        }
        alerts
    }
}
