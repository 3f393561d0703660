#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod check;
mod scenario;
pub mod strategy;

pub use check::{
    Considered, KeysMoved, SHRINK_ITERATIONS, Sampler, check_consistent_hash, check_consistent_hash_with,
    check_least_loaded, check_least_loaded_with, check_policy, check_policy_with, check_weighted,
    check_weighted_with, keys_moved,
};
pub use proptest::test_runner::Config as ProptestConfig;
pub use scenario::{Scenario, Step, Violation, check_pick};
