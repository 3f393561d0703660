//! Every built-in policy has the properties of its family.

use stacksim_model::policy::*;
use stacksim_testkit::{
    Considered, check_consistent_hash, check_consistent_hash_with, check_least_loaded, check_weighted,
    check_weighted_with,
};

use super::config;

// Weighted: shares converge to the weights.

#[test]
fn round_robins_give_exact_weight_shares() {
    // 10,000 picks of a deterministic rotation: off by a fraction of a cycle at most.
    check_weighted(RoundRobin::new, 0.005);
    check_weighted(StaticRoundRobin::new, 0.005);
}

#[test]
fn weighted_random_converges_to_the_weights() {
    // Binomial spread at 10,000 picks is at most 0.005; six of them.
    check_weighted(Random::new, 0.03);
}

#[test]
fn least_request_without_load_is_weighted() {
    // Equal weights: P2C over idle backends is uniform; unequal: EDF on the weights.
    check_weighted(LeastRequest::new, 0.03);
    check_weighted(|| LeastRequest::with(0.0, 2), 0.03);
}

#[test]
fn hash_tables_split_keys_by_weight() {
    // Table shares are near exact; the 10,000 random keys add the binomial spread.
    check_weighted(SourceHash::new, 0.03);
    check_weighted_with(&config(64), Maglev::default, 0.03);
}

#[test]
fn ring_hash_shares_approach_weights_with_many_points() {
    // A backend's share of the ring spreads as 1/√points: 2,000 points per backend.
    check_weighted_with(&config(64), || RingHash::new(2000), 0.06);
}

// Least loaded: never more in flight than a backend it considered.

#[test]
fn full_scans_pick_the_least_loaded_of_all() {
    check_least_loaded(JoinShortestQueue::new, Considered::All);
    // Equal weights: LeastConnections is least in flight.
    check_least_loaded(LeastConnections::new, Considered::All);
}

#[test]
fn random_choices_pick_the_least_loaded_of_their_samples() {
    check_least_loaded(RandomChoices::power_of_two, Considered::with_replacement(2));
    check_least_loaded(|| RandomChoices::new(3), Considered::with_replacement(3));
    check_least_loaded(|| RandomChoices::new(1), Considered::with_replacement(1));
}

#[test]
fn least_request_with_equal_weights_is_p2c() {
    check_least_loaded(LeastRequest::new, Considered::with_replacement(2));
    check_least_loaded(|| LeastRequest::with(1.0, 4), Considered::with_replacement(4));
}

// Consistent hashes: stable per key; a leaving backend moves only its keys.

#[test]
fn ring_hash_moves_only_the_leaving_backends_keys() {
    check_consistent_hash(|| RingHash::new(100), 0.0);
}

#[test]
fn bounded_load_hash_on_idle_backends_is_a_ring() {
    check_consistent_hash(|| BoundedLoadHash::new(1.25), 0.0);
}

#[test]
fn maglev_moves_few_other_keys() {
    // The paper's minimal disruption is not zero: a few percent of the others' entries
    // change owner when the table is rebuilt.
    check_consistent_hash_with(&config(64), Maglev::default, 0.08);
}
