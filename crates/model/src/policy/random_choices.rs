use rand::RngExt;

use super::{Available, BackendState, Policy, RequestInfo, SimRng};

/// The power of `n` random choices: sample `n` available backends uniformly *with
/// replacement* and send to the one with the fewest requests in flight, the first sampled on
/// ties. This is Envoy's `LEAST_REQUEST` with `choice_count: n` when all weights are equal,
/// and HAProxy's `balance random(n)`. `n = 2` is [`RandomChoices::power_of_two`].
///
/// Because sampling is with replacement, over two hosts it picks the busier one whenever both
/// draws land on it: a quarter of the time, as Envoy documents.
#[derive(Clone, Debug)]
pub struct RandomChoices {
    choices: u32,
    available: Available,
}

impl RandomChoices {
    /// Sample `choices` backends per pick (at least one).
    pub fn new(choices: u32) -> Self {
        RandomChoices { choices: choices.max(1), available: Available::default() }
    }

    /// Two choices: the "power of two choices" of Mitzenmacher.
    pub fn power_of_two() -> Self {
        Self::new(2)
    }
}

impl Policy for RandomChoices {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.available.rebuild(backends);
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        let available = self.available.as_slice();
        if available.is_empty() {
            return None;
        }
        let mut best = available[rng.random_range(0..available.len())];
        for _ in 1..self.choices {
            let candidate = available[rng.random_range(0..available.len())];
            if backends[candidate].in_flight < backends[best].in_flight {
                best = candidate;
            }
        }
        Some(best)
    }
}
