//! Integration tests of stacksim-testkit, one module per behaviour:
//!
//! - `builtins`: every built-in policy keeps the policy contract;
//! - `families`: every built-in policy has the properties of its family (weighted,
//!   least-loaded, consistent hash);
//! - `oracles`: exact values from the production balancers' documentation;
//! - `references`: the built-ins that keep an index of their own pick exactly as the scans
//!   they replaced;
//! - `catches`: each check fails a policy that breaks what it checks (the checks have teeth).
//!
//! Add a test to the module whose behaviour it pins, or a module for a new behaviour.

mod builtins;
mod catches;
mod families;
mod oracles;
mod references;

use stacksim_model::policy::BackendState;
use stacksim_testkit::ProptestConfig;

/// Fewer cases than proptest's default for the heavier checks, so the suite stays quick in
/// debug builds; `PROPTEST_CASES` still overrides it.
pub fn config(cases: u32) -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|c| c.parse().ok()).unwrap_or(cases);
    ProptestConfig::with_cases(cases)
}

/// Eligible, idle backends with these weights.
pub fn states(weights: &[u32]) -> Vec<BackendState> {
    weights.iter().map(|&weight| BackendState { weight, eligible: true, ..Default::default() }).collect()
}
