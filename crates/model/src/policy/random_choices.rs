use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::catalog::{Context, Entry, Info, Param, Params, Problem};
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
        let available = &self.available;
        let n = available.len();
        if n == 0 {
            return None;
        }
        let mut best = available.get(rng.random_range(0..n));
        for _ in 1..self.choices {
            let candidate = available.get(rng.random_range(0..n));
            if backends[candidate].in_flight < backends[best].in_flight {
                best = candidate;
            }
        }
        Some(best)
    }
}

/// `PowerOfTwoChoices` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PowerOfTwoChoicesSpec;

impl Params for PowerOfTwoChoicesSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(RandomChoices::power_of_two())
    }
}

impl Entry for PowerOfTwoChoicesSpec {
    const INFO: &'static Info = &Info {
        name: "PowerOfTwoChoices",
        synopsis: "PowerOfTwoChoices",
        summary: "two random backends (with replacement), the one with fewer in flight wins",
        source: "Envoy LEAST_REQUEST (choice_count 2), HAProxy random(2)",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![PowerOfTwoChoicesSpec]
    }
}

/// `RandomChoices(n)` in an experiment file: `n` random backends per pick.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomChoicesSpec(pub u32);

/// The most backends a sampling policy draws per pick: real ones draw 2 to a handful, and every
/// draw costs time on every request (JoinShortestQueue compares them all).
pub const MAX_CHOICES: u32 = 100;

impl Params for RandomChoicesSpec {
    fn check(&self, _: &Context) -> Vec<Problem> {
        if self.0 == 0 {
            vec![Problem::error("RandomChoices needs at least 1 choice, like RandomChoices(2)")]
        } else if self.0 > MAX_CHOICES {
            vec![Problem::error(format!(
                "RandomChoices draws at most {MAX_CHOICES} backends per pick, not {} (JoinShortestQueue \
                 compares every backend)",
                self.0
            ))]
        } else {
            Vec::new()
        }
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(RandomChoices::new(self.0))
    }
}

impl Entry for RandomChoicesSpec {
    const INFO: &'static Info = &Info {
        name: "RandomChoices",
        synopsis: "RandomChoices(n)",
        summary: "n random backends (with replacement), the one with the fewest in flight wins",
        source: "Envoy LEAST_REQUEST choice_count n, HAProxy random(n)",
        params: &[Param {
            name: "n",
            ty: "u32",
            default: None,
            doc: "backends sampled per pick, written without a name: RandomChoices(3); 1 to 100",
        }],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![RandomChoicesSpec(3), RandomChoicesSpec(1)]
    }

    fn written(&self) -> Vec<String> {
        vec![self.0.to_string()]
    }
}
