//! Extreme values that `check` accepts: `run` finishes (or refuses them with a located error)
//! and never panics (exit 101), aborts (134) or hangs; `capacity` never searches for ever.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use super::{SMALL, text, write};

/// How long a command here may take: each finishes in well under a second, so a run still
/// going after this is a hang.
const PATIENCE: Duration = Duration::from_secs(60);

/// Runs `stacksim` with `args`, killing it (and failing) if it takes longer than [`PATIENCE`].
fn stacksim_within(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stacksim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > PATIENCE {
            child.kill().unwrap();
            let (_, stderr) = text(&child.wait_with_output().unwrap());
            panic!("stacksim {args:?} still running after {PATIENCE:?} (a hang); stderr:\n{stderr}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// `SMALL` with each `(from, to)` replaced once, one replication, in a fresh directory.
fn experiment(changes: &[(&str, &str)]) -> (tempfile::TempDir, String) {
    let mut source = SMALL.replacen("replications: 3", "replications: 1", 1);
    for (from, to) in changes {
        assert!(source.contains(from), "the base experiment contains {from:?}");
        source = source.replacen(from, to, 1);
    }
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "extreme.ron", &source).to_str().unwrap().to_owned();
    (dir, path)
}

/// `check` accepts the experiment and `run` completes it: exit 0, a report, no panic.
fn runs_to_the_end(changes: &[(&str, &str)]) -> serde_json::Value {
    let (_dir, path) = experiment(changes);
    let output = stacksim_within(&["check", &path]);
    assert_eq!(output.status.code(), Some(0), "check: {}", text(&output).1);
    let output = stacksim_within(&["run", &path, "--format", "json"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "run: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    serde_json::from_str(&stdout).expect("a JSON report")
}

#[test]
fn a_slow_down_by_1e22_never_finishes_a_service_instead_of_panicking() {
    let timeline = "sweep: [Policy([RoundRobin, LeastConnections])],\n    timeline: [(at: \"1m\", action: SlowDown(backend: \"app-0\", factor: 1e22))],";
    let report =
        runs_to_the_end(&[("sweep: [\n        Policy([RoundRobin, LeastConnections]),\n    ],", timeline)]);
    // app-0's worker never finishes again: its queue fills and the rest is turned away.
    assert!(report["variants"][0]["metrics"]["rejected_ratio"]["mean"].as_f64().unwrap() > 0.0);
}

#[test]
fn a_degradation_slope_of_1e308_never_finishes_a_service_instead_of_panicking() {
    let report = runs_to_the_end(&[(
        "service: Exponential(mean: \"80ms\")),",
        "service: Exponential(mean: \"80ms\"), degradation: (knee: 0, slope: 1e308)),",
    )]);
    assert_eq!(report["variants"][0]["metrics"]["completed"]["mean"].as_f64(), Some(0.0));
}

#[test]
fn a_service_scale_of_1e22_saturates_instead_of_panicking() {
    runs_to_the_end(&[("Policy([RoundRobin, LeastConnections]),", "ServiceScale(values: [1e22]),")]);
}

#[test]
fn a_rate_schedule_falling_to_1e_minus_300_ends_its_arrivals_instead_of_panicking() {
    let report = runs_to_the_end(&[(
        "Poisson(rate_per_s: 40.0)",
        "Schedule(points: [(\"0s\", 40.0), (\"1m\", 1e-300)])",
    )]);
    let arrived = report["variants"][0]["metrics"]["arrived"]["mean"].as_f64().unwrap();
    assert!((1000.0..2400.0).contains(&arrived), "about 40/s for the 30 s after warm-up: {arrived}");
}

#[test]
fn timers_past_the_clock_never_fire_so_a_run_to_the_clocks_limit_ends() {
    // The first arrival is 10^300 s away: it saturates at the clock's limit and never happens,
    // instead of happening there again and again.
    let report = runs_to_the_end(&[
        ("duration: \"5m\"", "duration: \"18446744073.709551615s\""),
        ("rate_per_s: 40.0", "rate_per_s: 1e-300"),
    ]);
    assert_eq!(report["runs"][0]["events"], 1, "only the end of warm-up: {}", report["runs"][0]);
}

#[test]
fn arrivals_faster_than_the_clock_are_a_located_error_not_a_hang() {
    for (from, to, field) in [
        ("rate_per_s: 40.0", "rate_per_s: 1e308", "stack.clients"),
        ("Policy([RoundRobin, LeastConnections]),", "Rate(values: [40.0, 2e9]),", "sweep"),
    ] {
        let (_dir, path) = experiment(&[(from, to)]);
        for command in ["check", "run"] {
            let output = stacksim_within(&[command, &path]);
            let (_, stderr) = text(&output);
            assert_eq!(output.status.code(), Some(2), "{command} {to}: {stderr}");
            assert!(stderr.contains(field) && stderr.contains("at most 1.0e9 per second"), "{stderr}");
        }
    }
}

#[test]
fn capacity_with_an_absurd_rate_is_an_error_not_a_hang() {
    let (_dir, path) = experiment(&[]);
    for (rate, expected) in [
        ("1e308", "at most 1.0e9 per second"),
        // Below the clock's limit, but each run would take hours.
        ("5e8", "more than the search allows"),
    ] {
        let output = stacksim_within(&["capacity", &path, "--slo", "p99<1s", "--rate", rate]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "--rate {rate}: {stderr}");
        assert!(stderr.contains(expected), "--rate {rate}: {stderr}");
    }
}

#[test]
fn a_billion_declared_users_cost_only_the_users_seen() {
    // A table per declared user would need gigabytes; the run sees about 12 000 requests.
    let report = runs_to_the_end(&[("rate_per_s: 40.0)", "rate_per_s: 40.0), users: 1000000000")]);
    let active = report["variants"][0]["metrics"]["users_active"]["mean"].as_f64().unwrap();
    assert!((10_000.0..12_000.0).contains(&active), "nearly every request from a new user: {active}");
}
