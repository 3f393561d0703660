//! NGINX's smooth weighted round robin in O(log n) per pick: a kinetic tournament.
//!
//! Smooth weighted round robin adds every available backend's weight to its running score
//! (`current_weight`) at each pick, takes the highest score (the first backend on ties) and
//! subtracts the total weight from it. Written out, backend `i`'s score after `t` picks is
//! `offset_i + t × weight_i`, a line in `t`, whose offset drops by the total weight each time
//! it is picked. The pick is the top of the lines at `t`: a *kinetic tournament* (Basch,
//! Guibas and Hershberger 1999). Each node of a tree over the backends keeps the winner of
//! its subtree and the pick count at which that winner could first lose (a steeper line
//! overtaking it: its *certificate*). A pick re-plays only the matches whose certificate has
//! failed, then the path of the backend whose offset dropped. With equal weights no
//! certificate ever fails (the lines are parallel): O(log n) per pick. With unequal weights
//! a pick also re-plays each match whose certificate failed since the last one.
//!
//! Backends may also carry a key, compared before the score (least key first):
//! [`LeastResponseTime`](super::LeastResponseTime) ranks by latency × load and breaks ties
//! by score. Equal keys compare scores; different keys never change order without a call
//! to [`SmoothTree::set_key`], so they need no certificate.

/// A match: the winner of a subtree with the data its next matches need (so that replaying
/// a path reads the nodes on it, not the winners' leaves scattered over the fleet), and the
/// earliest pick count at which any match in the subtree could change its result. A leaf is
/// its backend, the winner of itself.
#[derive(Clone, Copy, Debug)]
struct Node<K> {
    /// The winner's score at `t = 0`; its score after `t` picks is `offset + t × weight`.
    offset: i128,
    /// The winner's weight; zero for a backend out of the rotation.
    weight: i64,
    fail: u64,
    /// The winner's index; [`NO_WINNER`] for an empty subtree.
    winner: u32,
    key: K,
}

const NO_WINNER: u32 = u32::MAX;
const NEVER: u64 = u64::MAX;

/// Smooth weighted round robin over backends `0..len`, each with a key ranked first.
#[derive(Clone, Debug, Default)]
pub(crate) struct SmoothTree<K> {
    /// Node 1 is the root, node `i` has children `2i` and `2i + 1`, leaf `b` is node `size + b`.
    nodes: Vec<Node<K>>,
    size: usize,
    len: usize,
    /// Picks since the last rebuild.
    t: u64,
    /// Total weight in the rotation.
    total: i128,
    /// Backends in the rotation.
    present: usize,
}

impl<K: Copy + Ord + Default> SmoothTree<K> {
    /// Replaces every backend: `None` for one out of the rotation, else its key, weight (above
    /// zero) and current score. O(n).
    pub(crate) fn rebuild(&mut self, backends: impl ExactSizeIterator<Item = Option<(K, u32, i64)>>) {
        self.len = backends.len();
        self.size = self.len.next_power_of_two().max(1);
        self.t = 0;
        self.total = 0;
        self.present = 0;
        let empty = Node { offset: 0, weight: 0, fail: NEVER, winner: NO_WINNER, key: K::default() };
        self.nodes.clear();
        self.nodes.resize(2 * self.size, empty);
        for (b, backend) in backends.enumerate() {
            if let Some((key, weight, current)) = backend {
                self.total += i128::from(weight);
                self.present += 1;
                self.nodes[self.size + b] = Node {
                    offset: i128::from(current),
                    weight: i64::from(weight),
                    fail: NEVER,
                    winner: b as u32,
                    key,
                };
            }
        }
        for i in (1..self.size).rev() {
            self.replay(i);
        }
    }

    /// How many backends it holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Backend `b`'s score now, if it is in the rotation.
    pub(crate) fn current(&self, b: usize) -> Option<i64> {
        let leaf = &self.nodes[self.size + b];
        // Scores stay within the total weight of their start; the clamp only guards overflow.
        (leaf.winner != NO_WINNER)
            .then(|| self.score(leaf).clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64)
    }

    /// Sets backend `b`'s key: O(log n).
    #[inline]
    pub(crate) fn set_key(&mut self, b: usize, key: K) {
        let leaf = &mut self.nodes[self.size + b];
        if leaf.key == key {
            // No match can change (a backend that has not answered yet costs 0 at any load).
            return;
        }
        leaf.key = key;
        if leaf.winner != NO_WINNER {
            self.replay_path(b);
        }
    }

    /// The next pick: every score grows by its weight, the least key wins, then the highest
    /// score, then the lowest index; the winner gives back the total weight.
    #[inline]
    pub(crate) fn pick(&mut self) -> Option<usize> {
        if self.nodes.len() < 2 || self.nodes[1].winner == NO_WINNER {
            return None;
        }
        if self.present == 1 {
            // Alone in the rotation: its score gains its weight and gives it back.
            return Some(self.nodes[1].winner as usize);
        }
        self.t += 1;
        self.refresh(1);
        let winner = self.nodes[1].winner as usize;
        self.nodes[self.size + winner].offset -= self.total;
        self.replay_path(winner);
        Some(winner)
    }

    #[inline]
    fn score(&self, node: &Node<K>) -> i128 {
        node.offset + i128::from(self.t) * i128::from(node.weight)
    }

    /// Re-plays every match below `node` whose certificate failed by now.
    fn refresh(&mut self, node: usize) {
        if self.nodes[node].fail > self.t || node >= self.size {
            return;
        }
        self.refresh(2 * node);
        self.refresh(2 * node + 1);
        self.replay(node);
    }

    /// Re-plays the matches from backend `b`'s leaf to the root.
    #[inline]
    fn replay_path(&mut self, b: usize) {
        let mut i = self.size + b;
        while i > 1 {
            i /= 2;
            self.replay(i);
        }
    }

    /// Plays the match at internal node `i` between its children's winners, now.
    #[inline]
    fn replay(&mut self, i: usize) {
        let (left, right) = (&self.nodes[2 * i], &self.nodes[2 * i + 1]);
        let (winner, certificate) = self.duel(left, right);
        let fail = certificate.min(left.fail).min(right.fail);
        self.nodes[i] = Node { fail, ..*winner };
    }

    /// The winner between `a` and `b` (`a` the lower index) now, and the pick count at which
    /// the result could change.
    #[inline]
    fn duel<'n>(&self, a: &'n Node<K>, b: &'n Node<K>) -> (&'n Node<K>, u64) {
        if a.winner == NO_WINNER {
            return (b, NEVER);
        }
        if b.winner == NO_WINNER {
            return (a, NEVER);
        }
        match a.key.cmp(&b.key) {
            std::cmp::Ordering::Less => (a, NEVER),
            std::cmp::Ordering::Greater => (b, NEVER),
            std::cmp::Ordering::Equal if a.weight == b.weight => {
                // Parallel lines: the order of the offsets never changes.
                if a.offset >= b.offset { (a, NEVER) } else { (b, NEVER) }
            }
            std::cmp::Ordering::Equal => {
                let (va, vb) = (self.score(a), self.score(b));
                let t = i128::from(self.t);
                if va >= vb {
                    // `b` overtakes once it is strictly higher.
                    if b.weight <= a.weight {
                        return (a, NEVER);
                    }
                    let dw = i128::from(b.weight - a.weight);
                    (a, at(t + (va - vb) / dw + 1))
                } else {
                    // `a` (the lower index) wins back once it is level.
                    if a.weight <= b.weight {
                        return (b, NEVER);
                    }
                    let dw = i128::from(a.weight - b.weight);
                    (b, at(t + (vb - va + dw - 1) / dw))
                }
            }
        }
    }
}

/// A pick count as a certificate's failure time, saturating.
#[inline]
fn at(t: i128) -> u64 {
    u64::try_from(t).unwrap_or(NEVER)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// NGINX's loop, with keys ranked first.
    fn reference(keys: &[u32], weights: &[u32], current: &mut [i64]) -> Option<usize> {
        let total: i64 = weights.iter().map(|&w| i64::from(w)).sum();
        let mut best: Option<usize> = None;
        for i in 0..weights.len() {
            if weights[i] == 0 {
                continue;
            }
            current[i] += i64::from(weights[i]);
            if best.is_none_or(|b| (keys[i], -current[i]) < (keys[b], -current[b])) {
                best = Some(i);
            }
        }
        current[best?] -= total;
        best
    }

    #[test]
    fn picks_as_nginx_does_with_any_weights_and_keys() {
        let mut state = 3_u64;
        let mut next = || {
            state = stacksim_engine::rng::splitmix64(state);
            state
        };
        for n in [1_usize, 2, 3, 7, 16, 33] {
            for max_weight in [1_u64, 3, 10, 1000] {
                let weights: Vec<u32> = (0..n)
                    .map(|_| if next() % 6 == 0 { 0 } else { 1 + (next() % max_weight) as u32 })
                    .collect();
                let mut keys: Vec<u32> = vec![0; n];
                let mut current = vec![0_i64; n];
                let mut tree = SmoothTree::default();
                tree.rebuild(weights.iter().map(|&w| (w > 0).then_some((0_u32, w, 0))));
                for step in 0..2000 {
                    if max_weight == 10 && next() % 4 == 0 {
                        let b = (next() % n as u64) as usize;
                        keys[b] = (next() % 3) as u32;
                        tree.set_key(b, keys[b]);
                    }
                    let expected = reference(&keys, &weights, &mut current);
                    assert_eq!(tree.pick(), expected, "n {n}, weights {weights:?}, step {step}");
                }
                for b in 0..n {
                    assert_eq!(tree.current(b), (weights[b] > 0).then_some(current[b]));
                }
            }
        }
    }
}
