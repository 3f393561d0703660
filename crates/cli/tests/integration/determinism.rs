//! Same file and seed, same bytes out, whatever the thread count.

use serde_json::Value;

use super::{SMALL, stacksim, write};

fn json(args: &[&str]) -> Vec<u8> {
    let output = stacksim(args);
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[test]
fn same_file_and_seed_give_identical_json_for_any_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let first = json(&["run", path, "--format", "json"]);
    assert_eq!(first, json(&["run", path, "--format", "json"]));
    assert_eq!(first, json(&["run", path, "--format", "json", "--jobs", "1"]));
    assert_eq!(first, json(&["run", path, "--format", "json", "--jobs", "2"]));
}

#[test]
fn a_different_seed_gives_different_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let path = path.to_str().unwrap();
    let a: Value = serde_json::from_slice(&json(&["run", path, "--format", "json"])).unwrap();
    let b: Value = serde_json::from_slice(&json(&["run", path, "--format", "json", "--seed", "8"])).unwrap();
    assert_eq!(b["seed"], 8);
    assert_ne!(a["variants"][0]["metrics"], b["variants"][0]["metrics"]);
}

#[test]
fn changing_only_the_policy_leaves_every_replications_arrivals_unchanged() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "small.ron", SMALL);
    let report: Value =
        serde_json::from_slice(&json(&["run", path.to_str().unwrap(), "--format", "json"])).unwrap();
    let runs = report["runs"].as_array().unwrap();
    for replication in 0..3 {
        let arrived: Vec<&Value> = runs
            .iter()
            .filter(|r| r["replication"] == replication)
            .map(|r| &r["metrics"]["arrived"])
            .collect();
        assert_eq!(arrived.len(), 2, "one run per policy");
        assert_eq!(arrived[0], arrived[1], "replication {replication}");
    }
    let means: Vec<&Value> = report["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| &v["metrics"]["response_time_mean_s"])
        .collect();
    assert_ne!(means[0], means[1], "the policies do behave differently");
}
