//! Every experiment file in the repository parses and validates, and opens with a comment
//! that says what it is for.

use stacksim::{Experiment, PolicyRegistry};

use super::ron_files;

#[test]
fn every_experiment_file_loads_without_errors() {
    let files = ron_files("experiments");
    assert!(files.iter().any(|f| f.ends_with("experiments/quickstart.ron")), "{files:?}");
    assert!(files.len() >= 9, "the quickstart and the validation suite: {files:?}");
    let registry = PolicyRegistry::new();
    for file in &files {
        if let Err(error) = Experiment::load(file, &registry) {
            panic!("{error}");
        }
    }
}

#[test]
fn every_experiment_file_opens_with_a_comment() {
    for file in ron_files("experiments") {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//"), "{} must open with a comment saying what it answers", file.display());
    }
}

#[test]
fn every_model_file_is_a_valid_stack_with_an_opening_comment() {
    let files = super::ron_files("models");
    assert!(!files.is_empty());
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(text.starts_with("//"), "{} must open with a comment", file.display());
        // A stack file is valid when an experiment that names it loads.
        let experiment = format!(
            "Experiment(name: \"model-check\", seed: 1, duration: \"1m\", stack: {:?})",
            file.display().to_string()
        );
        if let Err(error) = Experiment::load_str(&experiment, "model-check.ron", &PolicyRegistry::new()) {
            panic!("{error}");
        }
    }
}

#[test]
fn a_problem_in_a_stack_file_is_reported_in_that_file() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("stack.ron"),
        "(\n  clients: [(name: \"u\", arrivals: Poisson(rate_per_s: 1.0))],\n  balancer: (policy: Random),\n  backends: [(name: \"a\", workers: 0, queue: Unbounded, service: Constant(\"1s\"))],\n)",
    )
    .unwrap();
    let experiment = dir.path().join("e.ron");
    std::fs::write(&experiment, "Experiment(name: \"e\", seed: 1, duration: \"1m\", stack: \"stack.ron\")")
        .unwrap();
    let error = Experiment::load(&experiment, &PolicyRegistry::new()).unwrap_err().to_string();
    assert!(error.contains("stack.ron:4:") && error.contains("stack.backends[0].workers"), "{error}");
}

#[test]
fn the_audit_flags_the_march_8_misconfiguration_and_nothing_before_it() {
    let path = super::repo_root().join("experiments/march-8-2024.ron");
    let loaded = Experiment::load(&path, &PolicyRegistry::new()).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("timeline[0]: from 14:00:00: app-0 gets 42% of the traffic by weight"),
        "{}",
        warnings[0]
    );
}
