//! Integration tests of the stacksim library, one module per behaviour:
//!
//! - `files`: every experiment and model file in the repository loads and validates;
//! - `custom_policy`: custom policies with parameters read, check and build them;
//! - `conservation`: flow conservation and Little's law hold in every run;
//! - `validation`: the simulator reproduces exact queueing-theory results (release mode);
//! - `loader_fuzz`: mutants of every shipped file load (or are refused with located errors)
//!   and run without a panic or a hang.
//!
//! Add a test to the module whose behaviour it pins, or a module for a new behaviour.

mod capacity;
mod conservation;
mod custom_policy;
mod files;
mod fleet;
mod loader_fuzz;
mod metastable;
mod replay;
mod sweeps;
mod truncation;
mod validation;
mod warmup;

use std::path::PathBuf;

/// Whether a run conserves requests: arrived = completed + rejected + timed out + failed +
/// in flight.
pub fn conserves(run: &stacksim::report::RunReport) -> bool {
    let m = |k: &str| run.metrics[k].0;
    m("arrived") == m("completed") + m("rejected") + m("timed_out") + m("failed") + m("in_flight")
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every `.ron` file under `dir` (relative to the repository root), sorted.
pub fn ron_files(dir: &str) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![repo_root().join(dir)];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else if path.extension().is_some_and(|e| e == "ron") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}
