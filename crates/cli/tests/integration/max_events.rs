//! `run --max-events N` stops each run after N events and says so everywhere: the table, the
//! JSON, the CSV files, stderr and the exit code (3).

use super::{SMALL, file_names, stacksim, text, write};

/// Runs `SMALL` with `args` after the file; returns (exit code, stdout, stderr).
fn run_small(args: &[&str]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let mut all = vec!["run", path.to_str().unwrap()];
    all.extend(args);
    let output = stacksim(&all);
    let (stdout, stderr) = text(&output);
    (output.status.code(), stdout, stderr)
}

#[test]
fn truncated_runs_are_marked_in_every_format_and_exit_3() {
    let (code, table, stderr) = run_small(&["--max-events", "5000"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("warning: --max-events stopped 6 of 6 runs"), "{stderr}");
    assert!(table.contains("TRUNCATED: --max-events stopped 6 of 6 runs"), "{table}");
    assert!(table.contains("policy=RoundRobin (3/3)"), "{table}");

    let (code, json, _) = run_small(&["--max-events", "5000", "--format", "json"]);
    assert_eq!(code, Some(3));
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["variants"][0]["truncated_runs"], 3);
    assert_eq!(report["runs"][0]["truncated"], true);
    assert_eq!(report["runs"][0]["events"], 5000);
    assert!(report["runs"][0]["reached_s"].as_f64().unwrap() < 300.0);

    let (code, csv, _) = run_small(&["--max-events", "5000", "--format", "csv"]);
    assert_eq!(code, Some(3));
    assert!(csv.starts_with("variant,label,replications,truncated_runs,"), "{csv}");
}

#[test]
fn a_limit_no_run_reaches_changes_nothing() {
    let (code, plain, _) = run_small(&["--format", "json"]);
    assert_eq!(code, Some(0));
    let (code, limited, stderr) = run_small(&["--format", "json", "--max-events", "1000000"]);
    assert_eq!(code, Some(0), "{stderr}");
    assert_eq!(limited, plain);
    assert!(!stderr.contains("warning"), "{stderr}");
}

#[test]
fn output_files_and_merged_shards_keep_the_mark() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let out = dir.path().join("out");
    let output = stacksim(&["run", path, "--max-events", "5000", "--out", out.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(3), "{}", text(&output).1);
    assert!(file_names(&out).contains(&"runs.csv".to_owned()));
    let runs = std::fs::read_to_string(out.join("runs.csv")).unwrap();
    assert!(runs.starts_with("variant,label,replication,seed,events,truncated,reached_s,"), "{runs}");

    let shards = dir.path().join("shards");
    for shard in ["0/2", "1/2"] {
        let output = stacksim(&[
            "run",
            path,
            "--max-events",
            "5000",
            "--shard",
            shard,
            "--out",
            shards.to_str().unwrap(),
        ]);
        let (_, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(3), "{stderr}");
        assert!(stderr.contains("warning: --max-events stopped 3 of 3 runs"), "{stderr}");
    }
    let output = stacksim(&["merge", shards.to_str().unwrap(), "--format", "json"]);
    let (merged, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("stopped 6 of 6 runs"), "{stderr}");
    let whole = std::fs::read_to_string(out.join("report.json")).unwrap();
    assert_eq!(merged, whole);
}

#[test]
fn a_run_too_long_to_wait_for_stops_cleanly_at_the_limit() {
    // A million requests a second for five minutes: hours of work, stopped after a million events.
    let dir = tempfile::tempdir().unwrap();
    let fast = SMALL.replacen("rate_per_s: 40.0", "rate_per_s: 1e6", 1).replacen(
        "replications: 3",
        "replications: 1",
        1,
    );
    let path = write(dir.path(), "fast.ron", &fast);
    let output = stacksim(&["run", path.to_str().unwrap(), "--max-events", "200000", "--format", "json"]);
    let (json, stderr) = text(&output);
    assert_eq!(output.status.code(), Some(3), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(report["runs"][0]["events"], 200000);
}
