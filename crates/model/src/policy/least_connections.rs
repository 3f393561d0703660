use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Fewest requests in flight relative to weight, ties broken round robin (NGINX `least_conn`,
/// HAProxy `leastconn`).
///
/// Backend `a` beats `b` when `in_flight_a × weight_b < in_flight_b × weight_a` (NGINX's
/// comparison, exact in integers). Among equals, the scan starts just after the previous pick,
/// so ties rotate instead of always landing on the lowest index.
#[derive(Clone, Debug, Default)]
pub struct LeastConnections {
    next: usize,
}

impl LeastConnections {
    /// A least-connections policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for LeastConnections {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let n = backends.len();
        let mut best: Option<usize> = None;
        for offset in 0..n {
            let i = (self.next + offset) % n;
            let candidate = &backends[i];
            if !candidate.is_available() {
                continue;
            }
            let better = best.is_none_or(|b| {
                let incumbent = &backends[b];
                u64::from(candidate.in_flight) * u64::from(incumbent.weight)
                    < u64::from(incumbent.in_flight) * u64::from(candidate.weight)
            });
            if better {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.next = (chosen + 1) % n;
        Some(chosen)
    }
}

/// `LeastConnections` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeastConnectionsSpec;

impl Params for LeastConnectionsSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(LeastConnections::new())
    }
}

impl Entry for LeastConnectionsSpec {
    const INFO: &'static Info = &Info {
        name: "LeastConnections",
        synopsis: "LeastConnections",
        summary: "fewest requests in flight per unit of weight; ties rotate round robin",
        source: "NGINX least_conn, HAProxy leastconn",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![LeastConnectionsSpec]
    }
}
