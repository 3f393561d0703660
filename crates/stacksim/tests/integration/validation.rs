//! The simulator against exact queueing theory.
//!
//! Each file in `experiments/validation/` states its exact values in `// expect:` comment
//! lines, which this module reads and checks against the run's own statistics:
//!
//! - `// expect: METRIC == VALUE`: the exact value lies within the 95% confidence interval of
//!   the mean over replications, widened by at most 1% of the value; and the interval is
//!   narrower than 2% of the value, so the check has teeth;
//! - `// expect: METRIC within LOW .. HIGH`: the mean lies in the range, with a CI under 2%;
//! - `// expect: METRIC >= VALUE` or `<= VALUE`: the mean lies on that side of the bound.
//!
//! In every run, flow conservation and Little's law hold as well.
//!
//! These runs simulate tens of millions of requests: run them in release mode,
//! `cargo test --release -p stacksim --test integration -- --ignored`.

use std::path::Path;

use stacksim::{Experiment, PolicyRegistry, Runner};

use super::ron_files;

#[derive(Debug, PartialEq)]
enum Expect {
    Equal(f64),
    Within(f64, f64),
    AtLeast(f64),
    AtMost(f64),
}

/// The `// expect:` lines of an experiment file, as (metric, expectation).
fn expectations(text: &str) -> Vec<(String, Expect)> {
    text.lines()
        .filter_map(|line| line.trim().strip_prefix("// expect:"))
        .map(|rule| {
            let words: Vec<&str> = rule.split_whitespace().collect();
            let number = |s: &str| s.parse::<f64>().unwrap_or_else(|_| panic!("not a number in {rule:?}"));
            let expect = match words.as_slice() {
                [_, "==", v] => Expect::Equal(number(v)),
                [_, "within", lo, "..", hi] => Expect::Within(number(lo), number(hi)),
                [_, ">=", v] => Expect::AtLeast(number(v)),
                [_, "<=", v] => Expect::AtMost(number(v)),
                _ => panic!("cannot read expectation {rule:?}"),
            };
            (words[0].to_owned(), expect)
        })
        .collect()
}

fn validate_file(path: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let expects = expectations(&text);
    assert!(!expects.is_empty(), "{} states no `// expect:` value", path.display());
    let registry = PolicyRegistry::new();
    let loaded = Experiment::load(path, &registry).unwrap_or_else(|e| panic!("{e}"));
    let report = Runner::new().run(&loaded.plan).unwrap();
    let mut failures = Vec::new();
    let name = path.file_name().unwrap().to_string_lossy();
    for variant in &report.variants {
        for (metric, expect) in &expects {
            let e = variant.metrics[metric.as_str()];
            let line =
                format!("{name} [{}] {metric}: {:.6} ±{:.6} vs {expect:?}", variant.label, e.mean, e.ci95);
            eprintln!("{line}");
            let ok = match *expect {
                Expect::Equal(exact) => e.ci95 < 0.02 * exact.abs() && e.covers(exact, 0.01 * exact.abs()),
                Expect::Within(lo, hi) => e.ci95 < 0.02 * lo.abs() && lo <= e.mean && e.mean <= hi,
                Expect::AtLeast(bound) => e.mean >= bound,
                Expect::AtMost(bound) => e.mean <= bound,
            };
            if !ok {
                failures.push(line);
            }
        }
    }
    for run in &report.runs {
        let m = |k: &str| run.metrics[k].0;
        if !super::conserves(run) {
            failures.push(format!(
                "{name}: run {} does not conserve requests: {:?}",
                run.replication, run.metrics
            ));
        }
        let (l, lambda_w) = (m("in_system_mean"), m("throughput_per_s") * m("response_time_mean_s"));
        // `in_system_mean` counts attempts at backends: with hedges (or retries) it is Little's
        // L of attempts, not of requests, and the file states its own expected value.
        if m("attempts_per_request") == 1.0 && (l - lambda_w).abs() > 0.01 * l {
            failures.push(format!(
                "{name}: run {} breaks Little's law: L = {l}, lambda W = {lambda_w}",
                run.replication
            ));
        }
    }
    failures
}

#[test]
fn expectations_are_read_from_comments() {
    let text = "// expect: a == 1.5\n  // expect: b within 2 .. 3\n// expect: c >= 1\n// other\n";
    assert_eq!(
        expectations(text),
        [
            ("a".to_owned(), Expect::Equal(1.5)),
            ("b".to_owned(), Expect::Within(2.0, 3.0)),
            ("c".to_owned(), Expect::AtLeast(1.0)),
        ]
    );
}

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim --test integration -- --ignored"]
fn every_validation_experiment_reproduces_its_exact_values() {
    let files = ron_files("experiments/validation");
    assert!(files.len() >= 8, "one file per row of the validation table: {files:?}");
    let failures: Vec<String> = files.iter().flat_map(|f| validate_file(f)).collect();
    assert!(failures.is_empty(), "validation failures:\n{}", failures.join("\n"));
}
