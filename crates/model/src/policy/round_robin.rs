use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Smooth weighted round robin, exactly as NGINX's `ngx_http_upstream_get_peer`.
///
/// Each pick adds every available backend's weight to its running score, picks the highest
/// score (the first one on ties) and subtracts the total weight from the winner. Weights 5:1:1
/// give `a a b a c a a`, interleaving rather than bursting; equal weights give plain rotation.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    current: Vec<i64>,
}

impl RoundRobin {
    /// A round robin with every score at zero.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for RoundRobin {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.current.resize(backends.len(), 0);
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        self.current.resize(backends.len(), 0);
        let mut total = 0_i64;
        let mut best: Option<usize> = None;
        for (i, backend) in backends.iter().enumerate() {
            if !backend.is_available() {
                continue;
            }
            let weight = i64::from(backend.weight);
            self.current[i] += weight;
            total += weight;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }
}

/// `RoundRobin` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoundRobinSpec;

impl Params for RoundRobinSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(RoundRobin::new())
    }
}

impl Entry for RoundRobinSpec {
    const INFO: &'static Info = &Info {
        name: "RoundRobin",
        synopsis: "RoundRobin",
        summary: "smooth weighted round robin: interleaves backends in proportion to weight",
        source: "NGINX upstream round robin (weights 5:1:1 give a a b a c a a)",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: true,
    };

    fn examples() -> Vec<Self> {
        vec![RoundRobinSpec]
    }
}
