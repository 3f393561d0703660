use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde::{Deserialize, Serialize};

use super::catalog::{Entry, Info, Params};
use super::load_tree::LoadTree;
use super::{BackendState, Policy, RequestInfo, SimRng, gcd};

/// Replaying the map up to the kept position costs this many score updates at most; past it
/// the position restarts at zero (only absurd weights, like millions per backend, get there).
const REPLAY_BUDGET: u64 = 1 << 24;

/// Weighted round robin over a fixed map, as HAProxy's `balance static-rr` (`lb_map.c`).
///
/// HAProxy lays the available servers out in a map with one slot per unit of weight and walks
/// it in turn. The map is built by a quantized smooth weighted round robin
/// (`recalc_server_map`): for slot `o`, every server adds its weight to its score, the first
/// server with the highest `(score + total) / total` (integer division) takes the slot, and
/// the total weight is subtracted from its score. Weights 5:1:1 give `a a a b a a c`, where
/// NGINX's [`RoundRobin`](super::RoundRobin) gives `a a b a c a a`.
///
/// When a backend's weight or eligibility changes, HAProxy rebuilds the map and keeps its
/// position in it; so does this policy. The slots are generated one per pick rather than
/// stored, so memory does not grow with the weights; the map is over the weights divided by
/// their greatest common divisor, which is the same sequence as HAProxy's scaled weights.
///
/// Generating a slot takes O(log n), not HAProxy's pass over every server: at slot `o` of a
/// map of `T` slots, server `i`'s quantized score is `1 + ⌊(o + 1) × wᵢ / T⌋ − picksᵢ`, so
/// the slot goes to the first server with the largest *deficit* `⌊(o + 1) × wᵢ / T⌋ −
/// picksᵢ`. The deficits live in a tournament tree (`LoadTree`); a server's entitlement
/// `⌊(o + 1) × wᵢ / T⌋` steps up `wᵢ` times per map, at slots kept in a min-heap, so each
/// slot costs O(log n) amortized and the map never needs storing. With equal weights the map
/// is the servers in order, and a slot costs O(1).
#[derive(Clone, Debug, Default)]
pub struct StaticRoundRobin {
    /// The map's servers in backend order: (backend, weight / gcd).
    servers: Vec<(usize, i64)>,
    /// Slots in the map: Σ weight / gcd.
    total: i64,
    /// The next slot to hand out (HAProxy's `rr_idx`).
    position: i64,
    /// Per server, minus its deficit (least first: the largest deficit wins).
    deficits: LoadTree<i64>,
    /// Per server, how many times its entitlement stepped up in this turn of the map.
    steps: Vec<u64>,
    /// The next entitlement step of each server that has one left in this turn: (slot,
    /// server), earliest first.
    due: BinaryHeap<Reverse<(u64, u32)>>,
}

impl StaticRoundRobin {
    /// A static round robin with an empty map (built on the first
    /// [`on_backends_changed`](Policy::on_backends_changed)).
    pub fn new() -> Self {
        Self::default()
    }

    /// The slot at which server `s`'s entitlement takes its `step`-th step (1-based): the
    /// first `o` with `(o + 1) × w ≥ step × T`.
    fn step_slot(&self, s: usize, step: u64) -> u64 {
        let (w, total) = (self.servers[s].1 as u128, self.total as u128);
        ((u128::from(step) * total).div_ceil(w) - 1) as u64
    }

    /// Back to slot 0: every deficit zero, every server's first step due.
    fn restart_map(&mut self) {
        self.deficits.rebuild(std::iter::repeat_n(0, self.servers.len()));
        self.steps.clear();
        self.steps.resize(self.servers.len(), 0);
        self.due.clear();
        for s in 0..self.servers.len() {
            let due = self.step_slot(s, 1);
            self.due.push(Reverse((due, s as u32)));
        }
    }

    /// Generates the next slot of the map and returns the index into `servers`.
    fn next_slot(&mut self) -> usize {
        if self.total == self.servers.len() as i64 {
            // Equal weights: one slot per server, the map is the servers in order (slot `o`
            // is the first with the largest deficit, server `o`). O(1), no tree.
            let slot = self.position as usize;
            self.position += 1;
            if self.position == self.total {
                self.position = 0;
            }
            return slot;
        }
        if self.position == 0 {
            self.restart_map();
        }
        let slot = self.position as u64;
        while let Some(&Reverse((due, s))) = self.due.peek() {
            if due != slot {
                break;
            }
            self.due.pop();
            let s = s as usize;
            self.deficits.set(s, self.deficits.get(s) - 1);
            self.steps[s] += 1;
            if self.steps[s] < self.servers[s].1 as u64 {
                let next = self.step_slot(s, self.steps[s] + 1);
                self.due.push(Reverse((next, s as u32)));
            }
        }
        let best = self.deficits.first_least_from(0).expect("a map with slots has servers");
        self.deficits.set(best, self.deficits.get(best) + 1);
        self.position += 1;
        if self.position == self.total {
            self.position = 0;
        }
        best
    }
}

impl Policy for StaticRoundRobin {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.servers.clear();
        self.servers.extend(
            backends
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_available())
                .map(|(i, b)| (i, i64::from(b.weight))),
        );
        let divisor = self.servers.iter().fold(0, |g, &(_, w)| gcd(g, w as u64)).max(1) as i64;
        for (_, w) in &mut self.servers {
            *w /= divisor;
        }
        self.total = self.servers.iter().map(|&(_, w)| w).sum();
        // Keep the position in the rebuilt map, as HAProxy keeps `rr_idx`: regenerate the
        // slots before it. (The budget is the cost of HAProxy's generation, a pass over the
        // servers per slot, and decides which positions are kept; it is kept as it was so that
        // runs give the same picks, though generating is cheaper now.)
        let keep = if self.position < self.total
            && (self.position as u64).saturating_mul(self.servers.len() as u64) <= REPLAY_BUDGET
        {
            self.position
        } else {
            0
        };
        self.position = 0;
        for _ in 0..keep {
            self.next_slot();
        }
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if self.servers.is_empty() {
            return None;
        }
        let slot = self.next_slot();
        let chosen = self.servers[slot].0;
        // The map is rebuilt on every change the balancer reports; this guards a caller that
        // shrank the slice without saying so.
        (chosen < backends.len()).then_some(chosen)
    }
}

/// `StaticRoundRobin` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StaticRoundRobinSpec;

impl Params for StaticRoundRobinSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(StaticRoundRobin::new())
    }
}

impl Entry for StaticRoundRobinSpec {
    const INFO: &'static Info = &Info {
        name: "StaticRoundRobin",
        synopsis: "StaticRoundRobin",
        summary: "weighted round robin over a fixed map of weight slots, rebuilt on changes",
        source: "HAProxy balance static-rr (weights 5:1:1 give a a a b a a c)",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: true,
    };

    fn examples() -> Vec<Self> {
        vec![StaticRoundRobinSpec]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::tests::{letters, picks, states};

    #[test]
    fn weights_5_1_1_follow_haproxys_map() {
        // Worked by hand from `recalc_server_map` (total 7): scores after adding the weights
        // are compared as (score + 7) / 7, ties to the first server.
        let got = picks(&mut StaticRoundRobin::new(), &states(&[5, 1, 1]), 14);
        assert_eq!(letters(&got), "aaabaacaaabaac");
    }

    #[test]
    fn equal_weights_rotate_and_shares_follow_weights() {
        let got = picks(&mut StaticRoundRobin::new(), &states(&[2, 2, 2]), 6);
        assert_eq!(letters(&got), "abcabc");
        let got = picks(&mut StaticRoundRobin::new(), &states(&[3, 0, 1, 2]), 600);
        let count = |i| got.iter().filter(|p| **p == Some(i)).count();
        assert_eq!([count(0), count(1), count(2), count(3)], [300, 0, 100, 200]);
    }

    #[test]
    fn keeps_its_position_when_the_map_is_rebuilt() {
        let backends = states(&[1, 1, 1, 1]);
        let mut policy = StaticRoundRobin::new();
        let first = picks(&mut policy, &backends, 2);
        assert_eq!(letters(&first), "ab");
        // A rebuild with the same servers continues where it was.
        let next = picks(&mut policy, &backends, 2);
        assert_eq!(letters(&next), "cd");
    }
}
