//! A broken experiment file exits 2 with file, line, column, field and what would be valid;
//! nothing panics.

use super::{SMALL, stacksim, text, write};

/// Checks `SMALL` with `from` replaced by `to`, with both `check` and `run`; returns stderr.
fn broken(from: &str, to: &str) -> String {
    assert!(SMALL.contains(from), "the base experiment contains {from:?}");
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.ron", &SMALL.replacen(from, to, 1));
    let path = path.to_str().unwrap();
    let mut last = String::new();
    for args in [vec!["check", path], vec!["run", path, "--format", "json"]] {
        let output = stacksim(&args);
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{args:?}: exit code; stderr:\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(stdout.is_empty() || args[0] == "check", "no half-written output: {stdout}");
        assert!(stderr.contains(path), "names the file: {stderr}");
        last = stderr;
    }
    last
}

fn assert_mentions(stderr: &str, parts: &[&str]) {
    for part in parts {
        assert!(stderr.contains(part), "expected {part:?} in:\n{stderr}");
    }
}

#[test]
fn unknown_field_names_it_and_lists_valid_fields() {
    let err = broken("workers: 2", "workerz: 2");
    assert_mentions(&err, &[":14:", "stack.backends[0].workerz", "`workers`", "`queue`"]);
}

#[test]
fn wrong_type_names_field_and_expected_type() {
    let err = broken("workers: 2", "workers: \"two\"");
    assert_mentions(&err, &[":14:", "stack.backends[0].workers", "integer"]);
}

#[test]
fn negative_rate_is_rejected_with_position() {
    let err = broken("rate_per_s: 40.0", "rate_per_s: -5.0");
    assert_mentions(&err, &[":10:", "stack.clients[0].arrivals.rate_per_s", "positive", "-5"]);
}

#[test]
fn zero_rate_is_rejected() {
    let err = broken("rate_per_s: 40.0", "rate_per_s: 0.0");
    assert_mentions(&err, &[":10:", "rate_per_s", "positive"]);
}

#[test]
fn zero_workers_and_zero_replicas_are_both_reported() {
    let err = broken("replicas: 2, workers: 2", "replicas: 0, workers: 0");
    assert_mentions(&err, &[":14:", "stack.backends[0].replicas", "stack.backends[0].workers", "at least 1"]);
}

#[test]
fn zero_replications_is_rejected() {
    let err = broken("replications: 3", "replications: 0");
    assert_mentions(&err, &[":7:", "replications", "at least 1"]);
}

#[test]
fn empty_backend_list_is_rejected() {
    let err = broken(
        "backends: [\n            (name: \"app\", replicas: 2, workers: 2, queue: Bounded(20),\n             service: Exponential(mean: \"80ms\")),\n        ],",
        "backends: [],",
    );
    assert_mentions(&err, &[":13:", "stack.backends", "at least one backend"]);
}

#[test]
fn warmup_not_shorter_than_duration_is_rejected() {
    let err = broken("warmup: \"30s\"", "warmup: \"5m\"");
    assert_mentions(&err, &[":6:", "warmup", "shorter than the duration"]);
}

#[test]
fn unparsable_duration_shows_valid_examples() {
    let err = broken("duration: \"5m\"", "duration: \"five minutes\"");
    assert_mentions(&err, &[":5:", "duration", "\"250ms\"", "\"4h\""]);
}

#[test]
fn unknown_policy_lists_the_valid_ones() {
    let err = broken("policy: RoundRobin", "policy: RoundRobbin");
    assert_mentions(
        &err,
        &[":12:", "stack.balancer.policy", "RoundRobbin", "`LeastConnections`", "`PowerOfTwoChoices`"],
    );
}

#[test]
fn unregistered_custom_policy_is_rejected() {
    let err = broken("policy: RoundRobin", "policy: Custom(\"mine\")");
    assert_mentions(&err, &[":12:", "stack.balancer.policy", "\"mine\"", "no custom policy is registered"]);
}

#[test]
fn missing_file_is_an_error_not_a_panic() {
    let output = stacksim(&["run", "/nonexistent/experiment.ron"]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert_mentions(&stderr, &["/nonexistent/experiment.ron", "cannot read"]);
}

#[test]
fn garbage_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    for (i, garbage) in
        ["", "(((", "Experiment(", "\u{0}\u{1}", "[1, 2", "Experiment(name: 5)"].iter().enumerate()
    {
        let path = write(dir.path(), &format!("g{i}.ron"), garbage);
        let output = stacksim(&["check", path.to_str().unwrap()]);
        assert_eq!(output.status.code(), Some(2), "{garbage:?}");
    }
}

#[test]
fn bad_arguments_exit_2() {
    assert_eq!(stacksim(&["run"]).status.code(), Some(2));
    assert_eq!(stacksim(&["run", "x.ron", "--replications", "0"]).status.code(), Some(2));
    assert_eq!(stacksim(&["run", "x.ron", "--format", "yaml"]).status.code(), Some(2));
}

/// `SMALL` with `extra` fields added at the end of the experiment.
fn broken_with(extra: &str) -> String {
    let source = SMALL.trim_end().trim_end_matches(')').to_owned() + extra + "\n)\n";
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "broken.ron", &source);
    let output = stacksim(&["check", path.to_str().unwrap()]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    stderr
}

#[test]
fn a_timeline_naming_an_unknown_backend_lists_the_real_ones() {
    let err = broken_with("    timeline: [(at: \"1m\", action: Fail(\"app-7\"))],");
    assert_mentions(&err, &["timeline[0].action", "no backend is named \"app-7\"", "\"app-0\", \"app-1\""]);
}

#[test]
fn a_clock_time_needs_a_start() {
    let err = broken_with("    timeline: [(at: \"14:00\", action: Drain(\"app-0\"))],");
    assert_mentions(&err, &["timeline[0].at", "give the experiment a `start`"]);
}

#[test]
fn alerts_need_a_time_series() {
    let err = broken_with("    alerts: [Alert(name: \"errors\", metric: ErrorRatio, above: 0.05)],");
    assert_mentions(&err, &["alerts[0]", "add observe: (window: \"1m\")"]);
}

#[test]
fn a_missing_trace_file_is_named() {
    let err = broken("arrivals: Poisson(rate_per_s: 40.0)", "arrivals: Trace(file: \"nowhere.csv\")");
    assert_mentions(&err, &["stack.clients[0].arrivals.file", "nowhere.csv", "cannot read the trace"]);
}

#[test]
fn deep_nesting_is_a_located_error_not_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    for (name, source) in [("braces", "{".repeat(100_000)), ("parens", "(".repeat(20_000))] {
        let path = write(dir.path(), &format!("{name}.ron"), &source);
        let output = stacksim(&["check", path.to_str().unwrap()]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(&format!("{name}.ron:1:")), "{name}: {stderr}");
    }
}

#[test]
fn a_duration_beyond_the_clock_is_a_located_error() {
    let err = broken("duration: \"5m\"", "duration: \"18446744074s\"");
    assert_mentions(&err, &[":5:", "duration", "longer than the simulator's clock can count"]);
}

#[test]
fn devices_are_not_read_as_stack_or_trace_files() {
    let err = broken("arrivals: Poisson(rate_per_s: 40.0)", "arrivals: Trace(file: \"/dev/zero\")");
    assert_mentions(&err, &["stack.clients[0].arrivals.file", "/dev/zero", "not a regular file"]);
    let dir = tempfile::tempdir().unwrap();
    let path = write(
        dir.path(),
        "e.ron",
        "Experiment(name: \"e\", seed: 1, duration: \"1m\", stack: \"/dev/zero\")",
    );
    let output = stacksim(&["check", path.to_str().unwrap()]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert_mentions(&stderr, &["/dev/zero", "not a regular file"]);
}

#[test]
fn invalid_utf8_names_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.ron");
    std::fs::write(&path, b"// ok\nExperiment(name: \"\xff\")").unwrap();
    let output = stacksim(&["check", path.to_str().unwrap()]);
    let (_, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(2));
    assert_mentions(&stderr, &["invalid UTF-8 at line 2, column 19"]);
}

#[test]
fn work_the_machine_cannot_hold_is_refused_before_anything_is_allocated() {
    let two_long_ranges = "Rate(from: 1.0, to: 10000.0, step: 1.0), Rate(from: 1.0, to: 10000.0, step: 1.0),";
    for (from, to, expected) in [
        ("replicas: 2, workers: 2", "replicas: 4294967295, workers: 2", "stack.backends: 4.3e9 backends"),
        ("replications: 3", "replications: 4294967295", "this needs about"),
        ("Poisson(rate_per_s: 40.0)", "Closed(users: 4294967295, think: \"1s\")", "this needs about"),
        ("Policy([RoundRobin, LeastConnections]),", two_long_ranges, "sweep: the sweep has 1.0e8 variants"),
    ] {
        assert_mentions(&broken(from, to), &[expected]);
    }
}

#[test]
fn check_prints_the_estimated_work() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", super::SMALL);
    let output = stacksim(&["check", path.to_str().unwrap()]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(0));
    assert_mentions(&stdout, &["≈ 24000 events per run", "on one core", "peak memory about"]);
}

#[test]
fn a_stack_file_is_checked_as_a_stack_and_refused_by_run() {
    let stack = super::repo_root().join("models/web-stack-2024.ron");
    let output = stacksim(&["check", stack.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
    let output = stacksim(&["run", stack.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_mentions(&text(&output).1, &["is a stack file, not an experiment", "stack: \""]);

    let dir = tempfile::tempdir().unwrap();
    let source = std::fs::read_to_string(&stack).unwrap().replace("workers: 8, queue", "workers: 0, queue");
    let broken = write(dir.path(), "stack.ron", &source);
    let output = stacksim(&["check", broken.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert_mentions(&text(&output).1, &["stack.ron:15:", "backends[0].workers", "at least 1"]);
}

#[test]
fn a_missing_file_says_why_once() {
    let output = stacksim(&["check", "/nonexistent/experiment.ron"]);
    let (_, stderr) = text(&output);
    assert_eq!(stderr.matches("No such file or directory").count(), 1, "{stderr}");
}

#[test]
fn an_unreadable_stack_file_is_pointed_at_where_the_experiment_names_it() {
    let dir = tempfile::tempdir().unwrap();
    for (stack, why) in [("nowhere.ron", "No such file"), ("/dev/zero", "not a regular file")] {
        let source = format!("Experiment(name: \"x\", seed: 1, duration: \"1h\",\n    stack: {stack:?})\n");
        let path = write(dir.path(), "stacked.ron", &source);
        let output = stacksim(&["check", path.to_str().unwrap()]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert_mentions(
            &stderr,
            &["stacked.ron:2:12: error: stack: ", stack, "cannot read the stack file", why],
        );
    }
}
