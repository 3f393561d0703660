//! Every built-in policy keeps the contract: picks in range and available, none only when
//! nothing is available, deterministic, no panic at any size.

use std::time::Duration;

use stacksim_model::policy::*;
use stacksim_testkit::{check_policy, check_policy_with};

use super::config;

#[test]
fn round_robin_keeps_the_contract() {
    check_policy(RoundRobin::new);
}

#[test]
fn static_round_robin_keeps_the_contract() {
    check_policy(StaticRoundRobin::new);
}

#[test]
fn random_keeps_the_contract() {
    check_policy(Random::new);
}

#[test]
fn least_connections_keeps_the_contract() {
    check_policy(LeastConnections::new);
}

#[test]
fn join_shortest_queue_keeps_the_contract() {
    check_policy(JoinShortestQueue::new);
}

#[test]
fn random_choices_keep_the_contract() {
    check_policy(RandomChoices::power_of_two);
    check_policy(|| RandomChoices::new(3));
    check_policy(|| RandomChoices::new(1));
}

#[test]
fn least_request_keeps_the_contract() {
    check_policy(LeastRequest::new);
    check_policy(|| LeastRequest::with(0.0, 2));
    check_policy(|| LeastRequest::with(2.5, 3));
}

#[test]
fn peak_ewma_keeps_the_contract() {
    check_policy(PeakEwma::default);
    check_policy(|| PeakEwma::new(Duration::from_millis(1)));
}

#[test]
fn least_response_time_keeps_the_contract() {
    check_policy(LeastResponseTime::new);
}

#[test]
fn ring_hash_keeps_the_contract() {
    // Every backend change rebuilds a ring of up to 51,200 points: fewer cases in debug builds.
    check_policy_with(&config(64), || RingHash::new(100));
    check_policy(|| RingHash::new(1));
}

#[test]
fn maglev_keeps_the_contract() {
    // Every backend change rebuilds the 65,537-entry table: fewer cases in debug builds.
    check_policy_with(&config(64), Maglev::default);
    check_policy(|| Maglev::new(251));
    check_policy(|| Maglev::new(12)); // composite: still valid picks
}

#[test]
fn bounded_load_hash_keeps_the_contract() {
    check_policy_with(&config(64), || BoundedLoadHash::new(1.25));
    check_policy(|| BoundedLoadHash::with_entries(1.0, 3));
}

#[test]
fn source_hash_keeps_the_contract() {
    check_policy(SourceHash::new);
}

#[test]
fn first_keeps_the_contract() {
    check_policy(|| First::new(8));
    check_policy(|| First::new(1));
}

#[test]
fn join_idle_queue_keeps_the_contract() {
    check_policy(JoinIdleQueue::new);
}
