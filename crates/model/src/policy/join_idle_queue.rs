use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::{BackendState, Feedback, Policy, Random, RequestInfo, SimRng};

/// Join-Idle-Queue (Lu, Xie, Kliot, Geller, Larus and Greenberg, "Join-Idle-Queue: a novel
/// load balancing algorithm for dynamically scalable web services", Performance 2011), with
/// one dispatcher.
///
/// Backends that become idle register in the balancer's idle queue; a request goes to the
/// backend at the head of the queue (which leaves it), and when no backend is registered, to a
/// random available one, weighted as [`Random`] (uniform, as in the paper, when weights are
/// equal). Idle means nothing in flight, as in the paper's single-queue servers; a backend
/// with many workers is seldom idle, so under load JIQ behaves mostly as its fallback. The balancer learns of idleness from responses: a backend
/// that answered and has nothing left in flight registers, in the order of those responses
/// (between two picks, in the order of their first response). Every available backend starts
/// registered, in backend order, and so does one that becomes available while idle.
///
/// No state scan on the common path: a pick pops the queue, skipping entries that are no
/// longer idle or available; the queue never holds a backend twice.
#[derive(Clone, Debug, Default)]
pub struct JoinIdleQueue {
    idle: VecDeque<usize>,
    queued: Vec<bool>,
    /// Backends that answered since the last pick, to register if idle.
    answered: Vec<usize>,
    reported: Vec<bool>,
    fallback: Random,
}

impl JoinIdleQueue {
    /// A JIQ dispatcher with an empty idle queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn register(&mut self, backend: usize) {
        if !self.queued[backend] {
            self.queued[backend] = true;
            self.idle.push_back(backend);
        }
    }
}

impl Policy for JoinIdleQueue {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        let n = backends.len();
        self.fallback.on_backends_changed(backends);
        self.queued.resize(n, false);
        self.reported.resize(n, false);
        self.idle.retain(|&b| b < n);
        self.answered.retain(|&b| b < n);
        self.idle.reserve(n);
        self.answered.reserve(n);
        for (i, b) in backends.iter().enumerate() {
            if b.is_available() && b.in_flight == 0 {
                self.register(i);
            }
        }
    }

    fn pick(&mut self, backends: &[BackendState], request: &RequestInfo, rng: &mut SimRng) -> Option<usize> {
        for k in 0..self.answered.len() {
            let b = self.answered[k];
            self.reported[b] = false;
            if backends.get(b).is_some_and(|s| s.is_available() && s.in_flight == 0) {
                self.register(b);
            }
        }
        self.answered.clear();
        while let Some(b) = self.idle.pop_front() {
            self.queued[b] = false;
            if backends.get(b).is_some_and(|s| s.is_available() && s.in_flight == 0) {
                return Some(b);
            }
        }
        let chosen = self.fallback.pick(backends, request, rng)?;
        (chosen < backends.len()).then_some(chosen)
    }

    fn on_response(&mut self, feedback: &Feedback) {
        let b = feedback.backend;
        if b < self.reported.len() && !self.reported[b] {
            self.reported[b] = true;
            self.answered.push(b);
        }
    }
}

/// `JoinIdleQueue` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JoinIdleQueueSpec;

impl Params for JoinIdleQueueSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(JoinIdleQueue::new())
    }
}

impl Entry for JoinIdleQueueSpec {
    const INFO: &'static Info = &Info {
        name: "JoinIdleQueue",
        synopsis: "JoinIdleQueue",
        summary: "a backend that reported idle if any (FIFO), else a uniformly random one",
        source: "Join-Idle-Queue (Lu et al. 2011)",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![JoinIdleQueueSpec]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::tests::states;
    use stacksim_engine::SimTime;
    use stacksim_engine::rng::stream;

    #[test]
    fn idle_backends_first_in_the_order_they_became_idle_then_random() {
        let mut backends = states(&[1, 1, 1]);
        let mut policy = JoinIdleQueue::new();
        policy.on_backends_changed(&backends);
        let mut rng = stream(1, "policy");
        let request = RequestInfo::default();
        let mut pick = |policy: &mut JoinIdleQueue, backends: &mut Vec<BackendState>| {
            let b = policy.pick(backends, &request, &mut rng).unwrap();
            backends[b].in_flight += 1;
            b
        };
        // All start idle, in order.
        assert_eq!((0..3).map(|_| pick(&mut policy, &mut backends)).collect::<Vec<_>>(), [0, 1, 2]);
        // Nobody idle: random, and the pick still works.
        let b = pick(&mut policy, &mut backends);
        assert!(b < 3);
        // Backend 2 then 1 finish everything: they come back in that order.
        for done in [2, 1] {
            backends[done].in_flight = 0;
            policy.on_response(&Feedback {
                backend: done,
                at: SimTime::ZERO,
                latency: Duration::from_millis(1),
                success: true,
            });
        }
        assert_eq!(pick(&mut policy, &mut backends), 2);
        assert_eq!(pick(&mut policy, &mut backends), 1);
    }
}
