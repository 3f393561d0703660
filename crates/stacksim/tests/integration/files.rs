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
