use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::load_tree::{LoadTree, TreeKey};
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Fewest requests in flight relative to weight, ties broken round robin (NGINX `least_conn`,
/// HAProxy `leastconn`).
///
/// Backend `a` beats `b` when `in_flight_a × weight_b < in_flight_b × weight_a` (NGINX's
/// comparison, exact in integers). Among equals, the scan starts just after the previous pick,
/// so ties rotate instead of always landing on the lowest index.
///
/// The loads live in a tournament tree (`LoadTree`) updated on every in-flight change
/// ([`Policy::tracks_load`]): a pick is the first least load at or after the previous pick
/// plus one, in O(log n), the same backend the scan finds.
#[derive(Clone, Debug, Default)]
pub struct LeastConnections {
    next: usize,
    loads: LoadTree<Load>,
}

/// In flight per unit of weight, compared exactly by cross-multiplying; weight 0 stands for
/// an unavailable backend and sorts last.
#[derive(Clone, Copy, Debug, Default)]
struct Load {
    in_flight: u32,
    weight: u32,
}

impl Load {
    fn of(state: &BackendState) -> Self {
        if state.is_available() {
            Load { in_flight: state.in_flight, weight: state.weight }
        } else {
            Self::NONE
        }
    }
}

impl TreeKey for Load {
    const NONE: Self = Load { in_flight: 0, weight: 0 };
}

impl Ord for Load {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.weight, other.weight) {
            (0, 0) => Ordering::Equal,
            (0, _) => Ordering::Greater,
            (_, 0) => Ordering::Less,
            _ => (u64::from(self.in_flight) * u64::from(other.weight))
                .cmp(&(u64::from(other.in_flight) * u64::from(self.weight))),
        }
    }
}

impl PartialOrd for Load {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Load {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Load {}

impl LeastConnections {
    /// A least-connections policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for LeastConnections {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.loads.rebuild(backends.iter().map(Load::of));
    }

    fn tracks_load(&self) -> bool {
        true
    }

    fn on_load_changed(&mut self, backend: usize, state: &BackendState) {
        if backend < self.loads.len() {
            self.loads.set(backend, Load::of(state));
        }
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let n = backends.len();
        if n != self.loads.len() {
            // A caller that resized the slice without saying so.
            self.on_backends_changed(backends);
        }
        if n == 0 {
            return None;
        }
        let chosen = self.loads.first_least_from(self.next % n)?;
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
