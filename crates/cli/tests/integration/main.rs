//! End-to-end tests of the `stacksim` binary. One module per behaviour: add a test to the
//! module whose behaviour it pins, or a new module for a new behaviour.

mod bad_input;
mod calibrate;
mod capacity;
mod determinism;
mod extremes;
mod html_render;
mod max_events;
mod outputs;
mod sharding;
mod snapshots;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A small, fast experiment: two policies over two backends, three replications.
pub const SMALL: &str = r#"// A small experiment for the CLI tests.
Experiment(
    name: "small",
    seed: 7,
    duration: "5m",
    warmup: "30s",
    replications: 3,
    stack: (
        clients: [
            (name: "users", arrivals: Poisson(rate_per_s: 40.0)),
        ],
        balancer: (policy: RoundRobin),
        backends: [
            (name: "app", replicas: 2, workers: 2, queue: Bounded(20),
             service: Exponential(mean: "80ms")),
        ],
    ),
    sweep: [
        Policy([RoundRobin, LeastConnections]),
    ],
)
"#;

/// A small replay: a clock, a misconfiguration at 13:03 fixed at 13:07, clients that time out
/// and retry, a database, one-minute windows and an alert; two policies, two replications.
pub const REPLAY: &str = r#"// A small replay for the CLI tests.
Experiment(
    name: "mini-incident",
    seed: 3,
    duration: "10m",
    warmup: "1m",
    replications: 2,
    start: "2024-03-08T13:00:00Z",
    stack: (
        clients: [
            (name: "users", arrivals: Poisson(rate_per_s: 60.0), users: 500, timeout: "2s",
             retry: (max_attempts: 2)),
        ],
        balancer: (policy: RoundRobin),
        backends: [
            (name: "app", replicas: 3, workers: 4, queue: Bounded(50),
             service: Exponential(mean: "60ms"), degradation: (knee: 10, slope: 0.3)),
        ],
        database: (workers: 8, service: Exponential(mean: "5ms"), pool: 4, fraction: 0.5),
    ),
    timeline: [
        (at: "13:03", action: SetWeight(backend: "app-0", weight: 6), note: "misconfiguration"),
        (at: "13:07", action: SetWeight(backend: "app-0", weight: 1), note: "fix"),
    ],
    observe: (window: "1m", slow: "1s"),
    alerts: [Alert(name: "errors", metric: ErrorRatio, above: 0.05, for: "2m")],
    sweep: [Policy([RoundRobin, LeastConnections])],
)
"#;

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

/// Runs `stacksim` with `args`.
pub fn stacksim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stacksim")).args(args).output().expect("the binary runs")
}

/// Writes `text` as `name` in `dir` and returns its path.
pub fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// The names of the files in `dir` that `ls` shows (not the lock and manifest), sorted.
pub fn file_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| !name.starts_with('.'))
        .collect();
    names.sort();
    names
}

/// Stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
