//! The 2024-03-08 replay reproduces the postmortem's shape (release mode).

use stacksim::report::{Reading, Report};
use stacksim::{Experiment, PolicyRegistry, Runner};

fn run_replay() -> Report {
    let path = super::repo_root().join("experiments/march-8-2024.ron");
    let registry = PolicyRegistry::new();
    let experiment = Experiment::load(&path, &registry).unwrap_or_else(|e| panic!("{e}")).plan;
    Runner::new().run(&experiment).unwrap()
}

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim --test integration -- --ignored"]
fn march_8_replay_has_the_postmortems_shape() {
    let report = run_replay();
    // The configured policy is the baseline, variant 0.
    let configured = &report.variants[0];
    assert!(configured.label.starts_with("policy=RingHash"), "{}", configured.label);
    let m = |name: &str| configured.metrics[name].mean;

    // About 40% of users could not use the application between 14:00 and 17:00.
    let affected = m("users_affected_ratio");
    assert!((0.35..=0.45).contains(&affected), "users affected {affected}");

    let series = &report.timeseries[0].windows;
    let minute = |clock_min: usize| &series[clock_min]; // windows are minutes from 13:00
    let errors = |w: &indexmap::IndexMap<String, Reading>| w["error_ratio"].0;
    // The surge begins at 14:00: quiet before, errors from the 14:00 window on.
    assert!(errors(minute(59)) < 0.01, "13:59 {}", errors(minute(59)));
    assert!(errors(minute(60)) > 0.05, "14:00 {}", errors(minute(60)));
    // Monitoring alerts within 20 minutes of 14:00.
    let detect = m("time_to_detect_errors_5xx_s");
    assert!(detect <= 20.0 * 60.0, "alert after {detect} s");
    // Back under 1% errors within 30 minutes of the 17:00 fix, and it stays there.
    assert!(series[210..240].iter().all(|w| errors(w) > 0.05), "errors persist until the fix");
    assert!(series[210 + 60..].iter().all(|w| errors(w) < 0.01), "recovered by 17:30");
    // The database was never the bottleneck.
    let busiest = series.iter().map(|w| w["database_utilization"].0).fold(0.0, f64::max);
    assert!(busiest < 0.7, "database at {busiest}");

    // The policy sweep: which policies would have contained it?
    for v in &report.variants[1..] {
        let label = &v.label;
        let affected = v.metrics["users_affected_ratio"].mean;
        if ["LeastConnections", "PowerOfTwoChoices", "BoundedLoadHash"].iter().any(|p| label.contains(p)) {
            assert!(affected < 0.01, "{label} contains the misconfiguration: {affected}");
        }
    }
    // And every run conserves requests, retries and timeouts included.
    assert!(report.runs.iter().all(super::conserves));
}

fn run_file(name: &str) -> Report {
    let path = super::repo_root().join("experiments").join(name);
    let registry = PolicyRegistry::new();
    let experiment = Experiment::load(&path, &registry).unwrap_or_else(|e| panic!("{e}")).plan;
    Runner::new().run(&experiment).unwrap()
}

/// The recovery companion: a cold restart without slow start relapses and stays down (a
/// metastable overload); with slow start over the warm-up window nothing fails after the
/// restart and app-0 is back at its full share at the end of the ramp, 17:32.
#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim --test integration -- --ignored"]
fn march_8_recovery_restarts_cold_and_slow_start_restores_by_half_past_five() {
    let report = run_file("march-8-2024-recovery.ron");
    let errors = |w: &indexmap::IndexMap<String, Reading>| w["error_ratio"].0;
    let share = |w: &indexmap::IndexMap<String, Reading>| w["app-0.share"].0;
    // Windows are minutes from 16:30: 17:00 is 30.
    let (restart, slow_start) = (&report.timeseries[0].windows, &report.timeseries[1].windows);
    assert!(restart[33..90].iter().all(|w| errors(w) > 0.05), "the cold server relapses and stays down");
    assert!(slow_start[32..90].iter().all(|w| errors(w) == 0.0), "nothing fails after the restart");
    assert!(share(&slow_start[40]) < 0.06, "ramping at 17:10: {}", share(&slow_start[40]));
    assert!(slow_start[62..90].iter().all(|w| share(w) > 0.11), "its full eighth from 17:32");
    assert!(report.runs.iter().all(super::conserves));
}
