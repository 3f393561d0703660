use serde::{Deserialize, Serialize};

use super::catalog::{self, Context, Entry, Info, Param, Params, Problem};
use super::load_tree::{LoadTree, TreeKey};
use super::{BackendState, Policy, RequestInfo, SimRng};

/// HAProxy's `balance first`: the lowest-index available backend with a free slot.
///
/// HAProxy: "The first server with available connection slots receives the connection. The
/// servers are chosen from the lowest numeric identifier to the highest [...]. Once a server
/// reaches its maxconn value, the next server is used." The slot limit is HAProxy's per-server
/// `maxconn`, here one `max_in_flight` for every backend (weights only gate availability, as
/// in HAProxy, where `first` ignores them). It packs traffic onto as few backends as possible,
/// so the rest can be scaled down.
///
/// When every available backend is full, HAProxy queues the request in the balancer until a
/// slot frees; a stacksim balancer has no queue of its own, so the request goes to the
/// backend with the fewest in flight (the lowest index on ties), the one likeliest to free a
/// slot first.
///
/// The in-flight counts live in a tournament tree (`LoadTree`) updated on every change
/// ([`Policy::tracks_load`]): the first backend below the limit, or the first least loaded,
/// is found in O(log n).
#[derive(Clone, Debug)]
pub struct First {
    max_in_flight: u32,
    loads: LoadTree<u64>,
}

impl First {
    /// Fill each backend up to `max_in_flight` requests (at least 1) before the next.
    pub fn new(max_in_flight: u32) -> Self {
        First { max_in_flight: max_in_flight.max(1), loads: LoadTree::default() }
    }
}

/// In flight, or [`TreeKey::NONE`] for an unavailable backend.
fn in_flight(state: &BackendState) -> u64 {
    if state.is_available() { u64::from(state.in_flight) } else { u64::NONE }
}

impl Policy for First {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.loads.rebuild(backends.iter().map(in_flight));
    }

    fn tracks_load(&self) -> bool {
        true
    }

    fn on_load_changed(&mut self, backend: usize, state: &BackendState) {
        if backend < self.loads.len() {
            self.loads.set(backend, in_flight(state));
        }
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if backends.len() != self.loads.len() {
            // A caller that resized the slice without saying so.
            self.on_backends_changed(backends);
        }
        let below = u64::from(self.max_in_flight) - 1;
        self.loads.first_at_most(0, below).or_else(|| self.loads.first_least_from(0))
    }
}

/// `First(max_in_flight: 8)` in an experiment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FirstSpec {
    /// Requests in flight at which a backend counts as full (HAProxy maxconn), ≥ 1.
    pub max_in_flight: u32,
}

impl Params for FirstSpec {
    fn check(&self, _: &Context) -> Vec<Problem> {
        if self.max_in_flight == 0 {
            vec![
                Problem::error("max_in_flight must be at least 1, like the backends' workers")
                    .at("max_in_flight"),
            ]
        } else {
            Vec::new()
        }
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(First::new(self.max_in_flight))
    }
}

impl Entry for FirstSpec {
    const INFO: &'static Info = &Info {
        name: "First",
        synopsis: "First(max_in_flight: n)",
        summary: "lowest-index backend with fewer than n in flight; if all full, the least loaded",
        source: "HAProxy balance first (n is maxconn)",
        params: &[Param {
            name: "max_in_flight",
            ty: "u32",
            default: None,
            doc: "requests in flight at which a backend counts as full (HAProxy maxconn), ≥ 1",
        }],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![FirstSpec { max_in_flight: 8 }, FirstSpec { max_in_flight: 1 }]
    }

    fn written(&self) -> Vec<String> {
        vec![catalog::written("max_in_flight", &self.max_in_flight)]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{letters, picks, states};

    #[test]
    fn fills_the_lowest_index_first() {
        let mut backends = states(&[1, 1, 0, 1]);
        assert_eq!(letters(&picks(&mut First::new(2), &backends, 2)), "aa");
        backends[0].in_flight = 2;
        assert_eq!(letters(&picks(&mut First::new(2), &backends, 1)), "b");
        backends[1].in_flight = 2;
        // c has weight 0: skipped.
        assert_eq!(letters(&picks(&mut First::new(2), &backends, 1)), "d");
        backends[3].in_flight = 3;
        // All full: the least loaded.
        assert_eq!(letters(&picks(&mut First::new(2), &backends, 1)), "a");
    }
}
