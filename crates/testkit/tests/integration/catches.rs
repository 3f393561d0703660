//! Each check fails a policy that breaks what it checks: the checks have teeth.

use std::sync::atomic::{AtomicU64, Ordering};

use rand::RngExt;
use stacksim_model::policy::*;
use stacksim_testkit::{
    Considered, check_consistent_hash_with, check_least_loaded_with, check_policy_with, check_weighted_with,
};

use stacksim_testkit::ProptestConfig;

/// `cases` cases, and no regression file: these policies fail on purpose.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig { failure_persistence: None, ..super::config(cases) }
}

/// The first backend, available or not.
struct AlwaysFirst;

impl Policy for AlwaysFirst {
    fn pick(&mut self, b: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        (!b.is_empty()).then_some(0)
    }
}

/// Gives up when the first backend is unavailable.
struct GivesUp;

impl Policy for GivesUp {
    fn pick(&mut self, b: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        b.first().filter(|s| s.is_available()).map(|_| 0)
    }
}

/// Random, but from a counter shared across instances instead of the RNG it is handed.
struct SharedCounter;

static COUNTER: AtomicU64 = AtomicU64::new(0);

impl Policy for SharedCounter {
    fn pick(&mut self, b: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let available: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_available()).collect();
        let turn = COUNTER.fetch_add(1, Ordering::Relaxed) as usize;
        (!available.is_empty()).then(|| available[turn % available.len()])
    }
}

/// Indexes past the end when there are many backends.
struct OffByOne;

impl Policy for OffByOne {
    fn pick(&mut self, b: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let last = b.iter().rposition(|s| s.is_available())?;
        Some(if b.len() > 100 { b.len() } else { last })
    }
}

/// Uniform over available backends: ignores weights.
struct Uniform;

impl Policy for Uniform {
    fn pick(&mut self, b: &[BackendState], _: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        let available: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_available()).collect();
        (!available.is_empty()).then(|| available[rng.random_range(0..available.len())])
    }
}

/// Two samples, the *busier* wins.
struct PowerOfTwoWorst;

impl Policy for PowerOfTwoWorst {
    fn pick(&mut self, b: &[BackendState], _: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        let available: Vec<usize> = (0..b.len()).filter(|&i| b[i].is_available()).collect();
        if available.is_empty() {
            return None;
        }
        let x = available[rng.random_range(0..available.len())];
        let y = available[rng.random_range(0..available.len())];
        Some(if b[y].in_flight > b[x].in_flight { y } else { x })
    }
}

#[test]
#[should_panic(expected = "which is not available")]
fn check_policy_catches_an_unavailable_pick() {
    check_policy_with(&config(256), || AlwaysFirst);
}

#[test]
#[should_panic(expected = "picked none, but")]
fn check_policy_catches_a_missing_pick() {
    check_policy_with(&config(256), || GivesUp);
}

#[test]
#[should_panic(expected = "the same seed and inputs must give the same picks")]
fn check_policy_catches_randomness_from_outside_the_stream() {
    check_policy_with(&config(256), || SharedCounter);
}

#[test]
#[should_panic(expected = "but there are only")]
fn check_policy_catches_an_out_of_range_pick_at_large_sizes() {
    check_policy_with(&config(256), || OffByOne);
}

#[test]
#[should_panic(expected = "of the picks, expected")]
fn check_weighted_catches_a_policy_that_ignores_weights() {
    check_weighted_with(&config(64), || Uniform, 0.03);
}

#[test]
#[should_panic(expected = "in flight over backend")]
fn check_least_loaded_catches_a_full_scan_that_is_not_one() {
    check_least_loaded_with(&config(64), RandomChoices::power_of_two, Considered::All);
}

#[test]
#[should_panic(expected = "in flight over backend")]
fn check_least_loaded_catches_the_busier_of_two_samples() {
    check_least_loaded_with(&config(64), || PowerOfTwoWorst, Considered::with_replacement(2));
}

#[test]
#[should_panic(expected = "not among the candidates")]
fn check_least_loaded_catches_a_wrong_sampling_model() {
    check_least_loaded_with(&config(64), || RandomChoices::new(3), Considered::with_replacement(2));
}

#[test]
#[should_panic(expected = "moved without having to")]
fn check_consistent_hash_catches_modulo_hashing() {
    check_consistent_hash_with(&config(64), SourceHash::new, 0.05);
}

#[test]
#[should_panic(expected = "must stay on its backend")]
fn check_consistent_hash_catches_an_unstable_mapping() {
    check_consistent_hash_with(&config(64), || Uniform, 0.05);
}

#[test]
fn a_failure_shrinks_to_the_smallest_case_as_the_readme_says() {
    let failure = std::panic::catch_unwind(|| check_policy_with(&config(64), || AlwaysFirst)).unwrap_err();
    let message = failure.downcast_ref::<String>().unwrap();
    assert!(
        message.starts_with("policy property failed: step 0: picked backend 0, which is not available"),
        "{message}"
    );
    // One backend, unavailable, and one step, a pick: nothing left to remove or simplify.
    let case = message.split("minimal failing case:").nth(1).unwrap();
    let simplest = "BackendState {\n            weight: 0,\n            eligible: false,\n            \
                    in_flight: 0,\n            latency: None,\n        }";
    assert!(case.matches("BackendState {").count() == 1 && case.contains(simplest), "{case}");
    let pick = "steps: [\n        Pick {\n            key: 0,\n            gap: 0ns,\n        },\n    ],";
    assert!(case.contains(pick), "{case}");
    assert!(case.contains("seed: 0,"), "{case}");
}
