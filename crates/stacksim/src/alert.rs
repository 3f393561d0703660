//! Alert rules on the time series: when would monitoring have noticed?

use std::time::Duration;

use stacksim_model::Window;

use crate::metric::Metric;
use crate::plan::Plan;
use crate::spec::{AlertMetric, AlertSpec};

/// The value `metric` has in `window`.
pub fn value(metric: AlertMetric, window: &Window) -> f64 {
    match metric {
        AlertMetric::ErrorRatio => window.error_ratio(),
        AlertMetric::P99 => window.p99_s,
        AlertMetric::ShareImbalance => {
            let routed: u64 = window.backends.iter().map(|b| b.routed).sum();
            let busiest = window.backends.iter().map(|b| b.routed).max().unwrap_or(0);
            if routed == 0 { 0.0 } else { busiest as f64 * window.backends.len() as f64 / routed as f64 }
        }
        AlertMetric::MaxUtilization => window.backends.iter().map(|b| b.utilization).fold(0.0, f64::max),
        AlertMetric::UsersAffectedRatio => {
            if window.users_active == 0 {
                0.0
            } else {
                window.users_affected as f64 / window.users_active as f64
            }
        }
    }
}

/// When `alert` first fires (from the start of the run): at the end of the first run of
/// consecutive windows above its threshold that lasts at least its `for` (one window if
/// unset). `None` if it never fires.
pub fn first_firing(alert: &AlertSpec, windows: &[Window], width: Duration) -> Option<Duration> {
    let needed = alert.for_.map_or(1, |f| (f.0.as_secs_f64() / width.as_secs_f64()).ceil().max(1.0) as usize);
    let mut streak = 0;
    for w in windows {
        // A window without data (no successes for P99) does not fire.
        let v = value(alert.metric, w);
        streak = if v.is_finite() && v > alert.above { streak + 1 } else { 0 };
        if streak >= needed {
            return Some(w.start + width);
        }
    }
    None
}

/// The run's alert metrics: a [`Metric::TimeToDetect`] per rule (NaN if it never fired),
/// measured from the incident's start if `observe` names one, else the first timeline
/// action, else the start of the run.
pub fn metrics(plan: &Plan, windows: &[Window]) -> Vec<(Metric, f64)> {
    let experiment = plan.experiment();
    let Some(observe) = &experiment.observe else { return Vec::new() };
    let reference = plan.detection_reference();
    experiment
        .alerts
        .iter()
        .map(|alert| {
            let detect = first_firing(alert, windows, observe.window.0)
                .map_or(f64::NAN, |t| t.as_secs_f64() - reference.as_secs_f64());
            (Metric::time_to_detect(&alert.name), detect)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::HumanDuration;

    fn window(start_s: u64, completed: u64, failed: u64) -> Window {
        Window {
            start: Duration::from_secs(start_s),
            arrived: completed + failed,
            completed,
            rejected: 0,
            timed_out: 0,
            failed,
            attempts: completed + failed,
            p50_s: 0.1,
            p99_s: 0.5,
            mean_s: 0.2,
            backends: Vec::new(),
            database_utilization: f64::NAN,
            users_active: 0,
            users_affected: 0,
            overload: None,
            fleet: Vec::new(),
            classes: Vec::new(),
        }
    }

    #[test]
    fn fires_after_the_condition_holds_for_long_enough() {
        let minute = Duration::from_secs(60);
        let windows: Vec<Window> =
            (0..10).map(|i| window(60 * i, 100, if (3..9).contains(&i) { 10 } else { 0 })).collect();
        let alert = |for_min: Option<u64>| AlertSpec {
            name: "5xx".into(),
            metric: AlertMetric::ErrorRatio,
            above: 0.05,
            for_: for_min.map(|m| HumanDuration(minute * m as u32)),
        };
        assert_eq!(first_firing(&alert(None), &windows, minute), Some(minute * 4), "end of window 3");
        assert_eq!(first_firing(&alert(Some(5)), &windows, minute), Some(minute * 8), "windows 3 to 7");
        assert_eq!(first_firing(&alert(Some(7)), &windows, minute), None, "only six windows above");
    }
}
