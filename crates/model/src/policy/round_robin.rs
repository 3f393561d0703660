use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::smooth_tree::SmoothTree;
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Smooth weighted round robin, exactly as NGINX's `ngx_http_upstream_get_peer`.
///
/// Each pick adds every available backend's weight to its running score, picks the highest
/// score (the first one on ties) and subtracts the total weight from the winner. Weights 5:1:1
/// give `a a b a c a a`, interleaving rather than bursting; equal weights give plain rotation.
/// A backend that leaves keeps its score for when it comes back, as in NGINX.
///
/// The scores are kept as lines in the pick count in a kinetic tournament (`SmoothTree`),
/// so a pick costs O(log n) rather than NGINX's scan of every backend; the picks are the same.
/// When the available backends have equal weights and equal scores (every run's start, and
/// after any change that leaves them so), NGINX's picks are a rotation in index order: then
/// a pick is O(1), and the scores are worked out from the rotation when the set changes.
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    /// Scores as of the last change of the backend set (the tree or the rotation holds them
    /// since).
    current: Vec<i64>,
    tree: SmoothTree<()>,
    /// The available backends in turn, while they have equal weights and scores; the tree is
    /// not used then.
    rotation: Option<Rotation>,
}

/// NGINX's smooth weighted round robin over `order.len()` backends of one weight that start
/// level: each is picked once per round, in index order.
#[derive(Clone, Debug)]
struct Rotation {
    /// The available backends, ascending.
    order: Vec<u32>,
    /// Index in `order` of the next pick.
    next: usize,
    /// Whole rounds since the rotation began.
    rounds: u64,
    /// Every backend's score when it began.
    start: i64,
    weight: i64,
}

impl Rotation {
    /// The score of the backend at `rank` in `order` now: it gained the weight at every pick
    /// and gave back the total at each of its own.
    fn score(&self, rank: usize) -> i64 {
        let m = self.order.len() as u64;
        let picks = self.rounds * m + self.next as u64;
        let own = self.rounds + u64::from(rank < self.next);
        let score = i128::from(self.start) + i128::from(picks) * i128::from(self.weight)
            - i128::from(own) * i128::from(self.weight) * i128::from(m);
        // Within one total weight of the start; the clamp only guards overflow.
        score.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
    }
}

impl RoundRobin {
    /// A round robin with every score at zero.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for RoundRobin {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        match self.rotation.take() {
            Some(rotation) => {
                for (rank, &b) in rotation.order.iter().enumerate() {
                    self.current[b as usize] = rotation.score(rank);
                }
            }
            None => {
                for (b, current) in self.current.iter_mut().enumerate().take(self.tree.len()) {
                    if let Some(now) = self.tree.current(b) {
                        *current = now;
                    }
                }
            }
        }
        self.current.resize(backends.len(), 0);
        let current = &self.current;
        // Equal weights and scores among the available backends: NGINX's picks rotate in
        // index order.
        let order: Vec<u32> =
            (0..backends.len()).filter(|&b| backends[b].is_available()).map(|b| b as u32).collect();
        if let Some(&first) = order.first() {
            let (weight, start) = (backends[first as usize].weight, current[first as usize]);
            if order.iter().all(|&b| backends[b as usize].weight == weight && current[b as usize] == start) {
                self.rotation =
                    Some(Rotation { order, next: 0, rounds: 0, start, weight: i64::from(weight) });
                self.tree = SmoothTree::default();
                return;
            }
        }
        self.tree.rebuild(
            backends
                .iter()
                .enumerate()
                .map(|(b, state)| state.is_available().then_some(((), state.weight, current[b]))),
        );
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if backends.len() != self.current.len() {
            // A caller that resized the slice without saying so.
            self.on_backends_changed(backends);
        }
        if let Some(rotation) = &mut self.rotation {
            let b = rotation.order[rotation.next];
            rotation.next += 1;
            if rotation.next == rotation.order.len() {
                rotation.next = 0;
                rotation.rounds += 1;
            }
            return Some(b as usize);
        }
        self.tree.pick()
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
