//! Proptest strategies for what a policy sees: backend states, request keys, and scripts of
//! picks, responses and backend changes.

use std::time::Duration;

use proptest::collection::vec;
use proptest::prelude::*;
use stacksim_model::BackendState;

use crate::scenario::{Scenario, Step};

/// The most backends the strategies generate.
pub const MAX_BACKENDS: usize = 512;

/// A weight as balancers see them: mostly small, sometimes zero (drained), sometimes large.
pub fn weight() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(0_u32),
        6 => 1_u32..=10,
        2 => 11_u32..=1000,
    ]
}

/// A smoothed latency: none yet, or between 1 µs and 10 s.
pub fn latency() -> impl Strategy<Value = Option<Duration>> {
    proptest::option::weighted(0.8, (1_000_u64..=10_000_000_000).prop_map(Duration::from_nanos))
}

/// Requests in flight: usually a few, sometimes hundreds.
pub fn in_flight() -> impl Strategy<Value = u32> {
    prop_oneof![
        4 => 0_u32..=4,
        2 => 0_u32..=64,
        1 => 0_u32..=1000,
    ]
}

/// One backend: any weight (zero included), eligible nine times in ten, any load and latency.
pub fn backend_state() -> impl Strategy<Value = BackendState> {
    (weight(), proptest::bool::weighted(0.9), in_flight(), latency()).prop_map(
        |(weight, eligible, in_flight, latency)| BackendState { weight, eligible, in_flight, latency },
    )
}

/// Between 1 and [`MAX_BACKENDS`] backends, most often a handful, sometimes hundreds.
pub fn backends() -> impl Strategy<Value = Vec<BackendState>> {
    backends_with_max(MAX_BACKENDS)
}

/// Between 1 and `max` backends (at least 1), weighted towards small sets.
pub fn backends_with_max(max: usize) -> impl Strategy<Value = Vec<BackendState>> {
    let max = max.max(1);
    prop_oneof![
        4 => vec(backend_state(), 1..=max.min(16)),
        2 => vec(backend_state(), 1..=max.min(128)),
        1 => vec(backend_state(), 1..=max),
    ]
}

/// Backends that differ only in load: all eligible with weight 1, in flight 0 to 20.
pub fn equal_weight_backends(max: usize) -> impl Strategy<Value = Vec<BackendState>> {
    vec(
        (0_u32..=20, proptest::bool::weighted(0.9)).prop_map(|(in_flight, eligible)| BackendState {
            weight: 1,
            eligible,
            in_flight,
            latency: None,
        }),
        1..=max.max(1),
    )
}

/// A request key: a small user number (a popular user), or any 64-bit key (a fresh session).
pub fn request_key() -> impl Strategy<Value = u64> {
    prop_oneof![0_u64..1000, any::<u64>()]
}

/// One step of a [`Scenario`].
pub fn step() -> impl Strategy<Value = Step> {
    let gap = (0_u64..=1_000_000_000).prop_map(Duration::from_nanos);
    let after = (0_u64..=2_000_000_000).prop_map(Duration::from_nanos);
    prop_oneof![
        8 => (request_key(), gap).prop_map(|(key, gap)| Step::Pick { key, gap }),
        4 => (any::<usize>(), after).prop_map(|(nth, after)| Step::Respond { nth, after }),
        1 => any::<usize>().prop_map(|nth| Step::ToggleEligible { nth }),
        1 => (any::<usize>(), weight()).prop_map(|(nth, weight)| Step::SetWeight { nth, weight }),
    ]
}

/// A scenario: zero to [`MAX_BACKENDS`] backends (none at all once in 20), up to 64 steps,
/// and the seed of the policy's random stream.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    let backends = prop_oneof![1 => Just(Vec::new()), 19 => backends()];
    (backends, vec(step(), 1..=64), any::<u64>()).prop_map(|(backends, steps, seed)| Scenario {
        backends,
        steps,
        seed,
    })
}
