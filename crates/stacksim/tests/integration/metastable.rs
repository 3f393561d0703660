//! `experiments/metastable-retry-storm.ron` tells its story (release mode): a retry storm
//! that outlives its one-minute trigger, ended by retry throttling or prevented by CoDel.

use indexmap::IndexMap;
use stacksim::report::{Reading, Report};
use stacksim::{Experiment, PolicyRegistry, Runner};

fn run_storm() -> Report {
    let path = super::repo_root().join("experiments/metastable-retry-storm.ron");
    let registry = PolicyRegistry::new();
    let experiment = Experiment::load(&path, &registry).unwrap_or_else(|e| panic!("{e}")).plan;
    Runner::new().run(&experiment).unwrap()
}

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim --test integration -- --ignored"]
fn a_retry_storm_outlives_its_trigger_until_throttling_or_codel_ends_it() {
    let report = run_storm();
    let labels: Vec<&str> = report.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "retry_throttling=none discipline=Fifo",
            "retry_throttling=none discipline=CoDel(5ms/100ms)",
            "retry_throttling=10/0.1 discipline=Fifo",
            "retry_throttling=10/0.1 discipline=CoDel(5ms/100ms)",
        ]
    );
    let errors = |v: usize, minute: usize| {
        let w: &IndexMap<String, Reading> = &report.timeseries[v].windows[minute];
        w["error_ratio"].0
    };
    let amplification = |v: usize, minute: usize| {
        let w = &report.timeseries[v].windows[minute];
        w["attempts"].0 / w["arrived"].0
    };
    for (v, label) in labels.iter().enumerate() {
        // Healthy at 70% load before the trigger (10m).
        assert!((0..10).all(|m| errors(v, m) < 0.02), "{label}: errors before the trigger");
    }
    // No mechanism: the trigger ends at 11m, the storm does not — every request fails, each
    // sending all four attempts, to the end of the run.
    assert!((12..40).all(|m| errors(0, m) > 0.95), "the storm outlives its trigger");
    assert!((12..40).all(|m| amplification(0, m) > 3.8), "retries sustain it");
    // Retry throttling ends it within three minutes of the trigger's end.
    assert!((14..40).all(|m| errors(2, m) < 0.01), "throttling ends the storm");
    assert!((14..40).all(|m| amplification(2, m) < 1.01), "throttled: no retries");
    // CoDel never lets it start: errors only while the servers are slow.
    assert!((11..40).all(|m| errors(1, m) < 0.02), "CoDel prevents the storm");
    assert!((11..40).all(|m| errors(3, m) < 0.02), "both prevent the storm");
    assert!(report.runs.iter().all(super::conserves));
}
