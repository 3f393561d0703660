//! What `run`, `check` and `policies` print and write.

use serde_json::Value;

use super::{REPLAY, SMALL, stacksim, text, write};

#[test]
fn table_has_a_row_per_variant_with_units() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let output = stacksim(&["run", path.to_str().unwrap()]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(0));
    assert!(stdout.starts_with("small: 2 variants × 3 replications"), "{stdout}");
    assert!(stdout.contains("policy=RoundRobin") && stdout.contains("policy=LeastConnections"), "{stdout}");
    assert!(stdout.contains(" ms ±"), "{stdout}");
    // The comparison with the baseline, paired by replication.
    let paired =
        stdout.split("Compared with policy=RoundRobin, paired by replication").nth(1).expect(&stdout);
    assert!(paired.contains("Δ mean") && paired.contains("policy=LeastConnections"), "{paired}");
    assert!(!paired.contains("│ policy=RoundRobin"), "the baseline is not compared with itself: {paired}");
}

#[test]
fn json_has_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let output = stacksim(&["run", path.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["experiment"], "small");
    assert_eq!(report["seed"], 7);
    let variant = &report["variants"][1];
    assert_eq!(variant["label"], "policy=LeastConnections");
    assert_eq!(variant["params"]["policy"], "LeastConnections");
    assert_eq!(variant["replications"], 3);
    for metric in [
        "response_time_mean_s",
        "response_time_p50_s",
        "response_time_p90_s",
        "response_time_p99_s",
        "response_time_p999_s",
        "wait_time_mean_s",
        "throughput_per_s",
        "arrived",
        "completed",
        "rejected_ratio",
        "timed_out_ratio",
        "error_ratio",
    ] {
        assert!(variant["metrics"][metric]["mean"].is_number(), "{metric}");
        assert!(variant["metrics"][metric]["ci95"].is_number(), "{metric}");
    }
    assert_eq!(variant["backends"][0]["name"], "app-0");
    for metric in ["utilization", "share", "rejected_ratio"] {
        assert!(variant["backends"][1]["metrics"][metric]["mean"].is_number(), "{metric}");
    }
    let runs = report["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6);
    assert_eq!(runs[5]["variant"], 1);
    assert_eq!(runs[5]["replication"], 2);
    assert!(runs[5]["seed"].is_u64());
    assert!(runs[5]["metrics"]["response_time_mean_s"].is_number());
}

#[test]
fn out_dir_gets_report_json_csvs_plots_and_html() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let out = dir.path().join("results");
    let output =
        stacksim(&["run", path.to_str().unwrap(), "--format", "json", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), output.stdout);
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert_eq!(runs.lines().count(), 1 + 6);
    assert!(runs.starts_with("variant,label,replication,seed,events,response_time_mean_s,"), "{runs}");
    let variants = std::fs::read_to_string(out.join("variants.csv")).unwrap();
    assert_eq!(variants.lines().count(), 1 + 2);
    for plot in ["latency.svg", "errors.svg", "utilization.svg"] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(
            (svg.starts_with("<svg") || svg.starts_with("<?xml")) && svg.trim_end().ends_with("</svg>"),
            "{plot}: {svg}"
        );
        assert!(svg.contains("small: "), "{plot} names the experiment in its title");
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    assert!(html.contains("policy=RoundRobin") && html.contains("policy=LeastConnections"), "{html}");
    assert_eq!(html.matches("<svg").count(), 3, "the plots are inline");
    let names = super::file_names(&out);
    assert_eq!(
        names,
        [
            "errors.svg",
            "latency.svg",
            "report.html",
            "report.json",
            "runs.csv",
            "utilization.svg",
            "variants.csv"
        ],
        "exactly these files, no temporary ones left behind"
    );
}

#[test]
fn table_of_a_plain_experiment_has_no_replay_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let (stdout, _) = text(&stacksim(&["run", path.to_str().unwrap()]));
    for absent in ["users affected", "attempts/req", "detect"] {
        assert!(!stdout.contains(absent), "{absent}: {stdout}");
    }
}

#[test]
fn replay_table_shows_users_affected_retries_and_time_to_detect() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "replay.ron", REPLAY);
    let output = stacksim(&["run", path.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    let header = stdout.lines().find(|l| l.contains("│ variant")).unwrap();
    for column in ["users affected", "attempts/req", "detect errors"] {
        assert!(header.contains(column), "{column}: {stdout}");
    }
    let row = |label: &str| stdout.lines().find(|l| l.contains(label)).unwrap().to_owned();
    // Round robin keeps sending app-0 six times its share: errors, retries, an alert.
    let round_robin = row("policy=RoundRobin");
    assert!(round_robin.contains(" min ±"), "{round_robin}");
    assert!(round_robin.contains("% ±"), "{round_robin}");
    // Least connections routes around the overloaded backend: the alert never fires.
    let least = row("policy=LeastConnections");
    assert!(least.contains("never"), "{least}");
    assert!(least.contains("1.000 ±"), "no retries: {least}");
}

#[test]
fn out_dir_of_a_replay_gets_timeseries_csv_and_plots_over_time() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "replay.ron", REPLAY);
    let out = dir.path().join("results");
    let output = stacksim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");

    let csv = std::fs::read_to_string(out.join("timeseries.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 10, "a row per variant and one-minute window of ten minutes");
    let header: Vec<&str> = lines[0].split(',').collect();
    assert_eq!(header[..5], ["variant", "label", "window_start_s", "clock", "arrived"]);
    for column in ["error_ratio", "response_time_p99_s", "database_utilization", "users_affected_ratio"] {
        assert!(header.contains(&column), "{column}: {}", lines[0]);
    }
    for backend in ["app-0", "app-1", "app-2"] {
        for metric in ["share", "utilization", "queue_mean"] {
            assert!(header.contains(&format!("{backend}.{metric}").as_str()), "{backend}.{metric}");
        }
    }
    assert!(lines[1].starts_with("0,policy=RoundRobin,0,2024-03-08T13:00:00Z,"), "{}", lines[1]);
    assert!(lines[20].starts_with("1,policy=LeastConnections,540,2024-03-08T13:09:00Z,"), "{}", lines[20]);
    let share = header.iter().position(|c| *c == "app-0.share").unwrap();
    let app0 = |line: &str| line.split(',').nth(share).unwrap().parse::<f64>().unwrap();
    assert!(app0(lines[1 + 5]) > 0.6, "round robin at 13:05 sends most requests to app-0: {}", lines[6]);
    assert!(app0(lines[1 + 1]) < 0.4, "and a third before 13:03: {}", lines[2]);

    for (plot, texts) in [
        (
            "timeline.svg",
            &["mini-incident: over time", "13:03 misconfiguration", "13:07 fix", "time (UTC)"][..],
        ),
        (
            "timeline-backends.svg",
            &["mini-incident: backends over time", "app-2", "RoundRobin: share (%)"][..],
        ),
    ] {
        let svg = std::fs::read_to_string(out.join(plot)).unwrap();
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"), "{plot}: {svg}");
        for t in texts {
            assert!(svg.contains(t), "{plot}: {t}");
        }
    }
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    assert_eq!(html.matches("<svg").count(), 5, "three summary plots and two over time");
    assert!(html.contains("Time to detect") && html.contains("<th>errors</th>"), "{html}");
    let names = super::file_names(&out);
    assert_eq!(
        names,
        [
            "errors.svg",
            "latency.svg",
            "report.html",
            "report.json",
            "runs.csv",
            "timeline-backends.svg",
            "timeline.svg",
            "timeseries.csv",
            "utilization.svg",
            "variants.csv"
        ],
        "exactly these files, no temporary ones left behind"
    );

    // A run without a time series into the same directory leaves none of these behind.
    let small = write(dir.path(), "small.ron", SMALL);
    let output = stacksim(&["run", small.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{output:?}");
    for stale in ["timeseries.csv", "timeline.svg", "timeline-backends.svg"] {
        assert!(!out.join(stale).exists(), "{stale} is left from the replay");
    }
}

#[test]
fn check_reports_ok_and_warns_about_unbounded_overload() {
    let dir = tempfile::tempdir().unwrap();
    let ok = write(dir.path(), "ok.ron", SMALL);
    let overloaded = write(
        dir.path(),
        "overloaded.ron",
        &SMALL.replace("Bounded(20)", "Unbounded").replace("rate_per_s: 40.0", "rate_per_s: 60.0"),
    );
    let output = stacksim(&["check", ok.to_str().unwrap(), overloaded.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "warnings do not fail a check");
    assert!(stdout.contains("ok.ron: ok (2 variants × 3 replications"), "{stdout}");
    assert!(
        stderr.contains("overloaded.ron:14:") && stderr.contains("warning: stack.backends[0].queue"),
        "{stderr}"
    );
}

#[test]
fn policies_lists_every_builtin_with_its_source() {
    let output = stacksim(&["policies"]);
    let (stdout, _) = text(&output);
    assert_eq!(output.status.code(), Some(0));
    for policy in stacksim::BUILTIN_POLICIES {
        assert!(stdout.contains(policy.name) && stdout.contains(policy.source), "{}", policy.name);
    }
}

#[test]
fn a_missed_slo_exits_1_and_names_the_variants() {
    let dir = tempfile::tempdir().unwrap();
    let met = write(
        dir.path(),
        "met.ron",
        &SMALL.replace("replications: 3,", "replications: 3,\n    slo: \"p99<2s\","),
    );
    let output = stacksim(&["run", met.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
    assert!(text(&output).1.contains("met by every variant"));
    let missed = write(
        dir.path(),
        "missed.ron",
        &SMALL.replace("replications: 3,", "replications: 3,\n    slo: \"p50<10ms\","),
    );
    let output = stacksim(&["run", missed.to_str().unwrap(), "--format", "json"]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("missed by: policy=RoundRobin, policy=LeastConnections"), "{stderr}");
    assert!(stdout.starts_with('{'), "the report is still printed");
    let bad = write(
        dir.path(),
        "bad.ron",
        &SMALL.replace("replications: 3,", "replications: 3,\n    slo: \"p97<1s\","),
    );
    let output = stacksim(&["check", bad.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output).1.contains("slo: unknown objective \"p97\""), "{}", text(&output).1);
}

#[test]
fn files_the_run_did_not_write_are_never_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let file = super::write(dir.path(), "small.ron", super::SMALL);
    let out = dir.path().join("out");
    std::fs::create_dir_all(&out).unwrap();
    // Someone's own files that happen to share names with replay outputs.
    std::fs::write(out.join("timeseries.csv"), "mine").unwrap();
    std::fs::write(out.join("timeline.svg"), "mine").unwrap();
    let output = super::stacksim(&["run", file.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(0), "{}", super::text(&output).1);
    assert_eq!(std::fs::read_to_string(out.join("timeseries.csv")).unwrap(), "mine");
    assert_eq!(std::fs::read_to_string(out.join("timeline.svg")).unwrap(), "mine");
}

#[test]
fn an_unwritable_out_fails_before_anything_is_simulated() {
    let dir = tempfile::tempdir().unwrap();
    // A duration that would take minutes: the error must come at once.
    let slow = super::SMALL.replace("duration: \"5m\"", "duration: \"3000h\"");
    let file = super::write(dir.path(), "slow.ron", &slow);
    let blocker = super::write(dir.path(), "not-a-dir", "");
    let started = std::time::Instant::now();
    let output = super::stacksim(&["run", file.to_str().unwrap(), "--out", blocker.to_str().unwrap()]);
    let (stdout, stderr) = super::text(&output);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty() && stderr.contains("not-a-dir"), "{stderr}");
    // Not a timing assertion on speed, a check that no simulation ran: minutes versus at once.
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
}

#[cfg(unix)]
#[test]
fn an_interrupted_run_leaves_the_previous_results_intact() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let small = super::write(dir.path(), "small.ron", super::SMALL);
    let first = super::stacksim(&["run", small.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    assert_eq!(first.status.code(), Some(0));
    let before = std::fs::read(out.join("report.json")).unwrap();
    let slow = super::write(
        dir.path(),
        "slow.ron",
        &super::SMALL.replace("duration: \"5m\"", "duration: \"3000h\""),
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_stacksim"))
        .args(["run", slow.to_str().unwrap(), "--out", out.to_str().unwrap()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let killed = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert_eq!(std::fs::read(out.join("report.json")).unwrap(), before, "the previous set is intact");
    let leftovers: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with(".stacksim-") && n != ".stacksim-outputs" || n.ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn durations_read_as_people_write_them() {
    let dir = tempfile::tempdir().unwrap();
    let long =
        SMALL.replace("duration: \"5m\"", "duration: \"280h\"").replace("warmup: \"30s\"", "warmup: \"90m\"");
    let path = write(dir.path(), "long.ron", &long);
    let check = stacksim(&["check", path.to_str().unwrap()]);
    let (stdout, stderr) = text(&check);
    assert_eq!(check.status.code(), Some(0), "{stderr}");
    assert!(
        stdout.contains(", 11d 16h simulated each, 1h 30m warm-up,"),
        "not humantime's 11days 16h: {stdout}"
    );
    let too_long = SMALL.replace("warmup: \"30s\"", "warmup: \"280h\"");
    let path = write(dir.path(), "too-long.ron", &too_long);
    let (_, stderr) = text(&stacksim(&["check", path.to_str().unwrap()]));
    assert!(stderr.contains("the warm-up (11d 16h) must be shorter than the duration (5m)"), "{stderr}");
}

/// `SMALL` with request classes on a saturated backend that sheds search.
fn with_classes() -> String {
    SMALL
        .replace(
            "(name: \"users\", arrivals: Poisson(rate_per_s: 40.0)),",
            "(name: \"users\", arrivals: Poisson(rate_per_s: 60.0),
              classes: [(name: \"checkout\", weight: 0.5, priority: High),
                        (name: \"search\", weight: 0.5, service_scale: 2.0, priority: Low)]),",
        )
        .replace(
            "workers: 2, queue: Bounded(20),",
            "workers: 2, queue: Bounded(20), shed: (queue_above: 3, priority_below: High),",
        )
}

#[test]
fn request_classes_get_a_table_a_json_section_and_classes_csv_and_nothing_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let text_of = with_classes();
    assert!(text_of.contains("classes:") && text_of.contains("shed:"), "{text_of}");
    let path = write(dir.path(), "classes.ron", &text_of);
    let out = dir.path().join("results");
    let output = stacksim(&["run", path.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (stdout, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{stderr}");
    assert!(stdout.contains("priority shed"), "{stdout}");
    let classes = stdout.split("Per request class:").nth(1).expect(&stdout);
    assert!(classes.contains("│ policy=LeastConnections ┆ search   ┆ Low"), "{classes}");
    let csv = std::fs::read_to_string(out.join("classes.csv")).unwrap();
    assert_eq!(csv.lines().count(), 1 + 2 * 2, "{csv}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["variants"][0]["classes"][1]["name"], "search");
    assert!(report["variants"][0]["classes"][1]["metrics"]["shed_ratio"]["mean"].as_f64().unwrap() > 0.0);
    assert!(std::fs::read_to_string(out.join("report.html")).unwrap().contains("Request classes"));

    // The same directory, a run without classes: no class section, and classes.csv goes.
    let plain = write(dir.path(), "small.ron", SMALL);
    let output = stacksim(&["run", plain.to_str().unwrap(), "--out", out.to_str().unwrap()]);
    let (stdout, _) = text(&output);
    assert!(!stdout.contains("Per request class") && !stdout.contains("priority shed"), "{stdout}");
    assert!(!out.join("classes.csv").exists());
}
