//! The checks: the contract every policy keeps, and the properties of each policy family.
//!
//! Every check is a property test: it generates cases with proptest, runs the policy on
//! them, and on failure panics with the smallest failing case proptest can find. Each has a
//! `_with` form that takes a [`ProptestConfig`] (the plain form uses proptest's defaults, so
//! `PROPTEST_CASES` sets the number of cases). Failing seeds are saved where the `proptest!`
//! macro would save them for the calling test (see the crate docs); commit those files.

use std::panic::{AssertUnwindSafe, Location};

use proptest::prelude::*;
use proptest::test_runner::{TestCaseError, TestError, TestRunner};
use rand::{Rng, SeedableRng};
use stacksim_engine::SimRng;
use stacksim_model::{BackendState, Policy, RequestInfo};

use crate::scenario::{Scenario, check_pick};
use crate::strategy::{equal_weight_backends, scenario};

/// Shrinking steps a failure may take when the configuration leaves it to proptest, whose own
/// budget (four per case: 256 for 64 cases) stops long before a scenario of hundreds of
/// backends and dozens of steps is minimal.
pub const SHRINK_ITERATIONS: u32 = 1 << 16;

/// Runs `test` on cases from `strategy` and panics with the minimal failing case.
#[track_caller]
fn run<S: Strategy<Value: Clone>>(
    config: &ProptestConfig,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    run_minimizing(config, strategy, test, |_| Vec::new());
}

/// [`run`], and once proptest has shrunk a failure, removes what it could not: while one of
/// `smaller(case)` still fails, that one becomes the case. (Proptest tries removing elements of
/// a list before it simplifies them, so an element that was needed when it tried may remain.)
#[track_caller]
fn run_minimizing<S: Strategy<Value: Clone>>(
    config: &ProptestConfig,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
    smaller: impl Fn(&S::Value) -> Vec<S::Value>,
) {
    let mut config = config.clone();
    if config.source_file.is_none() {
        config.source_file = Some(Location::caller().file());
    }
    // `u32::MAX` is proptest's "automatic" (set neither in code nor by PROPTEST_MAX_SHRINK_ITERS).
    if config.max_shrink_iters == u32::MAX {
        config.max_shrink_iters = SHRINK_ITERATIONS;
    }
    let mut runner = TestRunner::new(config);
    match runner.run(&strategy, &test) {
        Ok(()) => {}
        Err(TestError::Fail(mut reason, mut case)) => {
            let fails =
                |case: &S::Value| match std::panic::catch_unwind(AssertUnwindSafe(|| test(case.clone()))) {
                    Ok(Err(TestCaseError::Fail(reason))) => Some(reason),
                    Ok(_) => None,
                    Err(panic) => Some(
                        format!(
                            "panicked: {}",
                            panic
                                .downcast_ref::<&str>()
                                .map(|s| (*s).to_owned())
                                .or_else(|| panic.downcast_ref::<String>().cloned())
                                .unwrap_or_default()
                        )
                        .into(),
                    ),
                };
            while let Some((smaller, why)) =
                smaller(&case).into_iter().find_map(|c| fails(&c).map(|r| (c, r)))
            {
                (case, reason) = (smaller, why);
            }
            panic!("policy property failed: {reason}\nminimal failing case: {case:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("property test aborted: {reason}"),
    }
}

/// `scenario` without one of its backends or one of its steps, each way of removing one.
fn without_one(scenario: &Scenario) -> Vec<Scenario> {
    let backends = (0..scenario.backends.len()).map(|i| {
        let mut smaller = scenario.clone();
        smaller.backends.remove(i);
        smaller
    });
    let steps = (0..scenario.steps.len()).map(|i| {
        let mut smaller = scenario.clone();
        smaller.steps.remove(i);
        smaller
    });
    backends.chain(steps).collect()
}

/// Checks the contract every policy must keep, on random [scenarios](crate::Scenario) of 0 to
/// 512 backends with random weights (zero included), eligibility, loads and latencies, and
/// scripts of picks, responses and backend changes:
///
/// 1. a pick names a backend that exists and is available (eligible, weight above zero);
/// 2. the policy picks none only when no backend is available;
/// 3. the same seed and the same inputs give the same picks (two fresh policies from
///    `factory` play the scenario);
/// 4. it never panics, at any size, including no backends at all.
#[track_caller]
pub fn check_policy<P: Policy>(factory: impl Fn() -> P) {
    check_policy_with(&ProptestConfig::default(), factory);
}

/// [`check_policy`] with this proptest configuration.
#[track_caller]
pub fn check_policy_with<P: Policy>(config: &ProptestConfig, factory: impl Fn() -> P) {
    let test = |scenario: Scenario| {
        let first = scenario.play(&mut factory()).map_err(|v| TestCaseError::fail(v.to_string()))?;
        let again = scenario.play(&mut factory()).map_err(|v| TestCaseError::fail(v.to_string()))?;
        prop_assert_eq!(first, again, "the same seed and inputs must give the same picks");
        Ok(())
    };
    run_minimizing(config, scenario(), test, without_one);
}

/// Checks that a weighted policy sends each backend its weight's share of the requests:
/// on 1 to 16 idle backends with weights 0 to 8 and random eligibility, 10,000 picks (each
/// with a fresh random key) give every backend a share within `tolerance` (an absolute
/// difference of fractions, like `0.02`) of `weight / Σ weight` over available backends.
///
/// Deterministic rotations (round robin) are exact to within a pick or two; random policies
/// need about six standard deviations, `0.03`; hash policies also carry the unevenness of
/// their ring or table.
#[track_caller]
pub fn check_weighted<P: Policy>(factory: impl Fn() -> P, tolerance: f64) {
    check_weighted_with(&ProptestConfig::default(), factory, tolerance);
}

/// [`check_weighted`] with this proptest configuration.
#[track_caller]
pub fn check_weighted_with<P: Policy>(config: &ProptestConfig, factory: impl Fn() -> P, tolerance: f64) {
    const PICKS: usize = 10_000;
    let backends = proptest::collection::vec(
        (0_u32..=8, proptest::bool::weighted(0.9)).prop_map(|(weight, eligible)| BackendState {
            weight,
            eligible,
            ..Default::default()
        }),
        1..=16,
    );
    run(config, (backends, any::<u64>()), |(backends, seed)| {
        let mut policy = factory();
        policy.on_backends_changed(&backends);
        let mut rng = SimRng::seed_from_u64(seed);
        let mut keys = SimRng::seed_from_u64(!seed);
        let mut counts = vec![0_usize; backends.len()];
        for step in 0..PICKS {
            let request = RequestInfo { key: keys.next_u64(), ..Default::default() };
            let pick = policy.pick(&backends, &request, &mut rng);
            check_pick(step, pick, &backends).map_err(|v| TestCaseError::fail(v.to_string()))?;
            if let Some(b) = pick {
                counts[b] += 1;
            }
        }
        let total: u64 = backends.iter().filter(|b| b.is_available()).map(|b| u64::from(b.weight)).sum();
        for (i, b) in backends.iter().enumerate() {
            let expected = if b.is_available() { b.weight as f64 / total as f64 } else { 0.0 };
            let share = counts[i] as f64 / PICKS as f64;
            prop_assert!(
                (share - expected).abs() <= tolerance,
                "backend {i} (weight {}) got {share:.4} of the picks, expected {expected:.4} ± {tolerance}",
                b.weight
            );
        }
        Ok(())
    });
}

/// A reference model of a policy's sampling: given the backends and a copy of the policy's RNG
/// as the policy received it, the candidates the policy draws.
pub type Sampler = Box<dyn Fn(&[BackendState], &mut SimRng) -> Vec<usize>>;

/// The backends a least-loaded policy compares before it picks.
pub enum Considered {
    /// Every available backend (a full scan): the pick has no more in flight than any of them.
    All,
    /// The ones it samples. The function is a reference model of the sampling: handed the
    /// backends and a copy of the policy's RNG as the policy received it, it returns the
    /// candidates the policy drew. The pick must be one of them, with no more in flight than
    /// any of them.
    Sampled(Sampler),
}

impl Considered {
    /// `choices` backends drawn uniformly with replacement from the available ones, in
    /// backend order, as `rng.random_range(0..available)` each: the sampling of Envoy's
    /// least request and HAProxy's `random(n)` (and of `RandomChoices`).
    pub fn with_replacement(choices: u32) -> Self {
        Considered::Sampled(Box::new(move |backends, rng| {
            use rand::RngExt;
            let available: Vec<usize> = (0..backends.len()).filter(|&i| backends[i].is_available()).collect();
            if available.is_empty() {
                return Vec::new();
            }
            (0..choices.max(1)).map(|_| available[rng.random_range(0..available.len())]).collect()
        }))
    }
}

impl std::fmt::Debug for Considered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Considered::All => f.write_str("All"),
            Considered::Sampled(_) => f.write_str("Sampled(..)"),
        }
    }
}

/// Checks that a least-loaded policy never picks a backend with more requests in flight than
/// another it considered (see [`Considered`]): on 1 to 64 backends of equal weight with 0 to
/// 20 in flight and random eligibility, over a run of up to 32 picks, each adding one request
/// to the backend picked.
#[track_caller]
pub fn check_least_loaded<P: Policy>(factory: impl Fn() -> P, considered: Considered) {
    check_least_loaded_with(&ProptestConfig::default(), factory, considered);
}

/// [`check_least_loaded`] with this proptest configuration.
#[track_caller]
pub fn check_least_loaded_with<P: Policy>(
    config: &ProptestConfig,
    factory: impl Fn() -> P,
    considered: Considered,
) {
    let cases = (equal_weight_backends(64), any::<u64>(), 1_usize..=32);
    run(config, cases, |(mut backends, seed, picks)| {
        let mut policy = factory();
        policy.on_backends_changed(&backends);
        let mut rng = SimRng::seed_from_u64(seed);
        for step in 0..picks {
            let mut replay = rng.clone();
            let pick = policy.pick(&backends, &RequestInfo::default(), &mut rng);
            check_pick(step, pick, &backends).map_err(|v| TestCaseError::fail(v.to_string()))?;
            let Some(p) = pick else { continue };
            let candidates: Vec<usize> = match &considered {
                Considered::All => (0..backends.len()).filter(|&i| backends[i].is_available()).collect(),
                Considered::Sampled(sample) => {
                    let drawn = sample(&backends, &mut replay);
                    prop_assert!(
                        drawn.contains(&p),
                        "step {step}: picked {p}, which is not among the candidates {drawn:?} the reference sampling drew"
                    );
                    drawn
                }
            };
            for &c in &candidates {
                prop_assert!(
                    backends[p].in_flight <= backends[c].in_flight,
                    "step {step}: picked backend {p} with {} in flight over backend {c} with {}",
                    backends[p].in_flight,
                    backends[c].in_flight
                );
            }
            backends[p].in_flight += 1;
            if policy.tracks_load() {
                policy.on_load_changed(p, &backends[p]);
            }
        }
        Ok(())
    });
}

/// How many keys moved when a backend left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeysMoved {
    /// Keys routed.
    pub keys: usize,
    /// Keys whose backend changed.
    pub moved: usize,
    /// Of those, keys that had to move: they were on the backend that left.
    pub forced: usize,
}

impl KeysMoved {
    /// `moved / keys`.
    pub fn moved_fraction(&self) -> f64 {
        self.moved as f64 / self.keys.max(1) as f64
    }

    /// Keys that moved without having to, over all keys.
    pub fn extra_fraction(&self) -> f64 {
        (self.moved - self.forced) as f64 / self.keys.max(1) as f64
    }
}

/// Routes `keys` over `backends`, makes backend `leaving` ineligible, routes them again, and
/// counts the keys that moved. Panics if `leaving` is out of range.
pub fn keys_moved<P: Policy + ?Sized>(
    policy: &mut P,
    backends: &[BackendState],
    leaving: usize,
    keys: &[u64],
) -> KeysMoved {
    let mut rng = SimRng::seed_from_u64(0);
    let mut route = |policy: &mut P, backends: &[BackendState]| -> Vec<Option<usize>> {
        policy.on_backends_changed(backends);
        keys.iter()
            .map(|&key| {
                let request = RequestInfo { key, ..Default::default() };
                policy.pick(backends, &request, &mut rng)
            })
            .collect()
    };
    let before = route(policy, backends);
    let mut after_leaving = backends.to_vec();
    after_leaving[leaving].eligible = false;
    let after = route(policy, &after_leaving);
    let moved = before.iter().zip(&after).filter(|(b, a)| b != a).count();
    let forced = before.iter().filter(|b| **b == Some(leaving)).count();
    KeysMoved { keys: keys.len(), moved, forced }
}

/// Checks that a hash policy is consistent: on 2 to 64 idle backends with weights 1 to 4,
/// 1,000 keys land on the same backend every time while the set is unchanged, and when one
/// available backend leaves, only its own keys move, give or take `tolerance` of all keys
/// (`0.0` for a ring, a few percent for Maglev's table).
#[track_caller]
pub fn check_consistent_hash<P: Policy>(factory: impl Fn() -> P, tolerance: f64) {
    check_consistent_hash_with(&ProptestConfig::default(), factory, tolerance);
}

/// [`check_consistent_hash`] with this proptest configuration.
#[track_caller]
pub fn check_consistent_hash_with<P: Policy>(
    config: &ProptestConfig,
    factory: impl Fn() -> P,
    tolerance: f64,
) {
    let backends = proptest::collection::vec(
        (1_u32..=4).prop_map(|weight| BackendState { weight, eligible: true, ..Default::default() }),
        2..=64,
    );
    let cases = (backends, any::<proptest::sample::Index>(), any::<u64>());
    run(config, cases, |(backends, leaving, seed)| {
        let mut rng = SimRng::seed_from_u64(seed);
        let keys: Vec<u64> = (0..1000).map(|_| rng.next_u64()).collect();
        let mut policy = factory();
        policy.on_backends_changed(&backends);
        let route = |policy: &mut P, rng: &mut SimRng| -> Vec<Option<usize>> {
            keys.iter()
                .map(|&key| {
                    let request = RequestInfo { key, ..Default::default() };
                    policy.pick(&backends, &request, rng)
                })
                .collect()
        };
        let first = route(&mut policy, &mut rng);
        let again = route(&mut policy, &mut rng);
        prop_assert_eq!(&first, &again, "a key must stay on its backend while the set is unchanged");
        let leaving = leaving.index(backends.len());
        let moved = keys_moved(&mut factory(), &backends, leaving, &keys);
        prop_assert!(
            moved.extra_fraction() <= tolerance,
            "backend {leaving} left: {} of {} keys moved, {} of them from it; {:.4} moved without having to (tolerance {tolerance})",
            moved.moved,
            moved.keys,
            moved.forced,
            moved.extra_fraction()
        );
        Ok(())
    });
}
