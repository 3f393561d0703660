use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::load_tree::{LoadTree, TreeKey};
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Join the shortest queue: scan every available backend and send to the one with the fewest
/// requests in flight, whatever its weight (weights only gate availability).
///
/// The classical JSQ of queueing theory (Winston 1977; Gupta et al. 2007 for web server
/// farms), where "queue" is this balancer's count of unanswered requests. Ties rotate: the
/// scan starts just after the previous pick, so equally loaded backends take turns instead of
/// the lowest index absorbing every tie (JSQ's textbook form breaks ties at random; rotation
/// gives the same long-run behaviour with identical backends and needs no random numbers).
/// [`LeastConnections`](super::LeastConnections) is the weighted, production form.
///
/// It is the benchmark for sampled policies: with 100 single-worker backends at 90% load its
/// mean response time lies between the pooled M/M/100 queue (1.0217 s at unit service time)
/// and the power of two choices (2.6141 s).
///
/// The in-flight counts live in a tournament tree (`LoadTree`) updated on every change
/// ([`Policy::tracks_load`]): a pick is O(log n), the same backend the scan finds.
#[derive(Clone, Debug, Default)]
pub struct JoinShortestQueue {
    next: usize,
    loads: LoadTree<u64>,
}

impl JoinShortestQueue {
    /// A join-the-shortest-queue policy.
    pub fn new() -> Self {
        Self::default()
    }
}

/// In flight, or [`TreeKey::NONE`] for an unavailable backend.
fn queue_length(state: &BackendState) -> u64 {
    if state.is_available() { u64::from(state.in_flight) } else { u64::NONE }
}

impl Policy for JoinShortestQueue {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.loads.rebuild(backends.iter().map(queue_length));
    }

    fn tracks_load(&self) -> bool {
        true
    }

    fn on_load_changed(&mut self, backend: usize, state: &BackendState) {
        if backend < self.loads.len() {
            self.loads.set(backend, queue_length(state));
        }
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let n = backends.len();
        if n != self.loads.len() {
            // A caller that resized the slice without saying so.
            self.on_backends_changed(backends);
        }
        let start = if self.next < n { self.next } else { 0 };
        let chosen = self.loads.first_least_from(start)?;
        self.next = chosen + 1;
        Some(chosen)
    }
}

/// `JoinShortestQueue` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinShortestQueueSpec;

impl Params for JoinShortestQueueSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(JoinShortestQueue::new())
    }
}

impl Entry for JoinShortestQueueSpec {
    const INFO: &'static Info = &Info {
        name: "JoinShortestQueue",
        synopsis: "JoinShortestQueue",
        summary: "scan every backend, fewest requests in flight wins (weights ignored); ties rotate",
        source: "JSQ (Winston 1977), the full-information benchmark for sampled policies",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![JoinShortestQueueSpec]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{letters, picks, states};

    #[test]
    fn picks_the_fewest_in_flight_ignoring_weight_and_rotates_ties() {
        let mut backends = states(&[1, 5, 1, 1]);
        backends[0].in_flight = 1;
        backends[1].in_flight = 2;
        backends[2].in_flight = 1;
        backends[3].in_flight = 1;
        assert_eq!(letters(&picks(&mut JoinShortestQueue::new(), &backends, 4)), "acda");
        backends[1].in_flight = 0;
        backends[2].eligible = false;
        assert_eq!(letters(&picks(&mut JoinShortestQueue::new(), &backends, 2)), "bb");
    }
}
