use rand::RngExt;
use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Weighted random: backend `i` with probability `weight_i / Σ weight` over the available
/// backends (HAProxy `balance random(1)`, Envoy `RANDOM` with weights).
#[derive(Clone, Debug, Default)]
pub struct Random {
    /// Running totals of weight over available backends, and the backend ending each total.
    cumulative: Vec<(u64, usize)>,
}

impl Random {
    /// A weighted random policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for Random {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.cumulative.clear();
        let mut total = 0;
        for (i, b) in backends.iter().enumerate().filter(|(_, b)| b.is_available()) {
            total += u64::from(b.weight);
            self.cumulative.push((total, i));
        }
    }

    fn pick(&mut self, _: &[BackendState], _: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        let &(total, _) = self.cumulative.last()?;
        let r = rng.random_range(0..total);
        let at = self.cumulative.partition_point(|&(end, _)| end <= r);
        Some(self.cumulative[at].1)
    }
}

/// `Random` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RandomSpec;

impl Params for RandomSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(Random::new())
    }
}

impl Entry for RandomSpec {
    const INFO: &'static Info = &Info {
        name: "Random",
        synopsis: "Random",
        summary: "weighted random: backend i with probability weight_i / total weight",
        source: "HAProxy random(1), Envoy RANDOM",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: true,
    };

    fn examples() -> Vec<Self> {
        vec![RandomSpec]
    }
}
