//! Snapshots of what the binary prints, taken before the component redesign (issue 8) so that
//! a refactor provably changes no number and no message:
//!
//! - the JSON report of every shipped experiment file, shortened to run in seconds;
//! - `check`'s output and exit code for every fixture in `tests/fixtures/check/`.
//!
//! A snapshot that changes is a behaviour change: review it with `cargo insta review` (or
//! compare the `.snap.new` file by hand) and name the reason in the commit.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::{repo_root, text};

/// Shortenings per shipped file: `(file, [(from, to)])`, applied once each. Files not listed
/// run as shipped. The march replay starts ten minutes before the misconfiguration and keeps
/// its timeline, alerts and sweep.
const SHORTER: &[(&str, &[(&str, &str)])] = &[
    ("quickstart.ron", &[("duration: \"1h\"", "duration: \"2m\""), ("warmup: \"5m\"", "warmup: \"20s\"")]),
    (
        "policy-shootout.ron",
        &[("duration: \"20m\"", "duration: \"1m\""), ("warmup: \"2m\"", "warmup: \"10s\"")],
    ),
    (
        "request-classes.ron",
        &[
            ("duration: \"30m\"", "duration: \"6m\""),
            ("warmup: \"5m\"", "warmup: \"1m\""),
            ("(\"10m\", 800.0), (\"20m\", 500.0)", "(\"2m\", 800.0), (\"4m\", 500.0)"),
        ],
    ),
    (
        "scale-out-with-http2.ron",
        &[("duration: \"30m\"", "duration: \"13m\""), ("warmup: \"5m\"", "warmup: \"9m\"")],
    ),
    ("zone-failure.ron", &[("duration: \"30m\"", "duration: \"12m\""), ("warmup: \"5m\"", "warmup: \"9m\"")]),
    (
        "march-8-2024.ron",
        &[
            ("start: \"2024-03-08T13:00:00Z\"", "start: \"2024-03-08T13:50:00Z\""),
            ("duration: \"5h\"", "duration: \"20m\""),
            ("warmup: \"10m\"", "warmup: \"2m\""),
            ("incident: (\"14:00\", \"17:00\")", "incident: (\"14:00\", \"14:10\")"),
        ],
    ),
    (
        "march-8-2024-containment.ron",
        &[
            ("start: \"2024-03-08T13:00:00Z\"", "start: \"2024-03-08T13:50:00Z\""),
            ("duration: \"4h\"", "duration: \"20m\""),
            ("warmup: \"10m\"", "warmup: \"2m\""),
            ("incident: (\"14:00\", \"17:00\")", "incident: (\"14:00\", \"14:10\")"),
        ],
    ),
    (
        "march-8-2024-recovery.ron",
        &[
            ("duration: \"1h30m\"", "duration: \"40m\""),
            ("warmup: \"5m\"", "warmup: \"2m\""),
            ("incident: (\"17:00\", \"18:00\")", "incident: (\"17:00\", \"17:10\")"),
        ],
    ),
    (
        "metastable-retry-storm.ron",
        &[
            ("duration: \"40m\"", "duration: \"14m\""),
            ("warmup: \"5m\"", "warmup: \"8m\""),
            ("incident: (\"10m\", \"40m\")", "incident: (\"10m\", \"14m\")"),
        ],
    ),
    (
        "traffic-spike-autoscaling.ron",
        &[
            ("duration: \"25m\"", "duration: \"16m\""),
            ("MinReplicas(values: [4, 8, 12, 16])", "MinReplicas(values: [4, 12])"),
            // Exit 0 is what this test pins; the SLO's verdict is the cost section's business.
            ("slo: \"p99<500ms,errors<1%\",", ""),
        ],
    ),
    (
        "slow-release.ron",
        &[
            ("duration: \"30m\"", "duration: \"16m\""),
            ("Replicas(values: [10, 12, 14])", "Replicas(values: [10, 12])"),
            ("slo: \"p99<400ms\",", ""),
        ],
    ),
];

/// The validation suite runs 500 simulated seconds after a 50 s warm-up.
fn shortened(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let mut out = text.clone();
    if let Some((_, subs)) = SHORTER.iter().find(|(file, _)| *file == name) {
        for (from, to) in *subs {
            assert!(out.contains(from), "{name} contains {from:?}");
            out = out.replacen(from, to, 1);
        }
    } else if path.parent().unwrap().ends_with("validation") {
        let line = |key: &str| text.lines().find(|l| l.trim_start().starts_with(key)).unwrap().to_owned();
        out = out.replacen(&line("duration:"), "    duration: \"500s\",", 1);
        out = out.replacen(&line("warmup:"), "    warmup: \"50s\",", 1);
    }
    out
}

fn experiment_files() -> Vec<PathBuf> {
    let root = repo_root().join("experiments");
    let mut files = Vec::new();
    for dir in [root.clone(), root.join("validation")] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "ron") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

#[test]
fn every_shipped_experiment_reports_the_same_json() {
    let files = experiment_files();
    assert!(files.len() >= 14, "{files:?}");
    for file in files {
        // The shortened copy sits beside the original so relative paths (stack files, traces)
        // resolve as they do for the original.
        let dir = file.parent().unwrap();
        let name = file.file_stem().unwrap().to_str().unwrap();
        let copy = tempfile::Builder::new().prefix(".snapshot-").suffix(".ron").tempfile_in(dir).unwrap();
        std::fs::write(copy.path(), shortened(&file)).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_stacksim"))
            .args(["run", copy.path().to_str().unwrap(), "--format", "json", "--replications", "2"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(output.status.code(), Some(0), "{name}: {stderr}");
        let snapshot =
            if dir.ends_with("validation") { format!("validation-{name}") } else { name.to_owned() };
        insta::assert_snapshot!(format!("report-{snapshot}"), stdout);
    }
}

#[test]
fn check_prints_the_same_diagnostics_for_every_fixture() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut fixtures: Vec<PathBuf> = std::fs::read_dir(manifest.join("tests/fixtures/check"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "ron"))
        .collect();
    fixtures.sort();
    assert!(fixtures.len() >= 30, "{fixtures:?}");
    for fixture in fixtures {
        let name = fixture.file_stem().unwrap().to_str().unwrap().to_owned();
        let relative = fixture.strip_prefix(manifest).unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_stacksim"))
            .current_dir(manifest)
            .args(["check", relative.to_str().unwrap()])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert!(!stderr.contains("panicked"), "{name}: {stderr}");
        let shown = format!("exit: {:?}\n--- stdout\n{stdout}--- stderr\n{stderr}", output.status.code());
        insta::assert_snapshot!(format!("check-{name}"), shown);
    }
}

#[test]
fn policies_and_the_quickstart_table_read_the_same() {
    let output = Command::new(env!("CARGO_BIN_EXE_stacksim")).arg("policies").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("policies", text(&output).0);
    let output = Command::new(env!("CARGO_BIN_EXE_stacksim")).arg("mechanisms").output().unwrap();
    assert_eq!(output.status.code(), Some(0));
    insta::assert_snapshot!("mechanisms", text(&output).0);

    let file = repo_root().join("experiments/quickstart.ron");
    let copy = tempfile::Builder::new().suffix(".ron").tempfile().unwrap();
    std::fs::write(copy.path(), shortened(&file)).unwrap();
    for format in ["table", "csv"] {
        let output = Command::new(env!("CARGO_BIN_EXE_stacksim"))
            .args(["run", copy.path().to_str().unwrap(), "--format", format, "--replications", "2"])
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(0));
        insta::assert_snapshot!(format!("quickstart-{format}"), text(&output).0);
    }
}

#[test]
fn every_output_file_of_a_small_replay_is_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let file = super::write(dir.path(), "replay.ron", super::REPLAY);
    let out = dir.path().join("out");
    let output = Command::new(env!("CARGO_BIN_EXE_stacksim"))
        .args(["run", file.to_str().unwrap(), "--out", out.to_str().unwrap(), "--format", "json"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output).1);
    let names = super::file_names(&out);
    insta::assert_snapshot!("outputs-list", names.join("\n"));
    for name in names {
        let contents = std::fs::read_to_string(out.join(&name)).unwrap();
        insta::assert_snapshot!(format!("outputs-{name}"), contents);
    }
}
