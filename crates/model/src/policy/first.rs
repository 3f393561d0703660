use serde::{Deserialize, Serialize};

use super::catalog::{self, Context, Entry, Info, Param, Params, Problem};
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
#[derive(Clone, Debug)]
pub struct First {
    max_in_flight: u32,
}

impl First {
    /// Fill each backend up to `max_in_flight` requests (at least 1) before the next.
    pub fn new(max_in_flight: u32) -> Self {
        First { max_in_flight: max_in_flight.max(1) }
    }
}

impl Policy for First {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let mut least: Option<(usize, u32)> = None;
        for (i, b) in backends.iter().enumerate() {
            if !b.is_available() {
                continue;
            }
            if b.in_flight < self.max_in_flight {
                return Some(i);
            }
            if least.is_none_or(|(_, n)| b.in_flight < n) {
                least = Some((i, b.in_flight));
            }
        }
        least.map(|(i, _)| i)
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
