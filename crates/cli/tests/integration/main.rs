//! End-to-end tests of the `stacksim` binary. One module per behaviour: add a test to the
//! module whose behaviour it pins, or a new module for a new behaviour.

mod bad_input;
mod determinism;
mod html_render;
mod outputs;
mod sharding;

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

/// Stdout and stderr as text.
pub fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}
