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
#[derive(Clone, Debug, Default)]
pub struct RoundRobin {
    /// Scores as of the last change of the backend set (the tree holds them since).
    current: Vec<i64>,
    tree: SmoothTree<()>,
}

impl RoundRobin {
    /// A round robin with every score at zero.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for RoundRobin {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        for (b, current) in self.current.iter_mut().enumerate().take(self.tree.len()) {
            if let Some(now) = self.tree.current(b) {
                *current = now;
            }
        }
        self.current.resize(backends.len(), 0);
        let current = &self.current;
        self.tree.rebuild(
            backends
                .iter()
                .enumerate()
                .map(|(b, state)| state.is_available().then_some(((), state.weight, current[b]))),
        );
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if backends.len() != self.tree.len() {
            // A caller that resized the slice without saying so.
            self.on_backends_changed(backends);
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
