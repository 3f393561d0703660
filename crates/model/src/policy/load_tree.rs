//! A tournament tree over backends: the least key, and the first backend holding it at or
//! after a position, in O(log n).
//!
//! The least-loaded policies ([`LeastConnections`](super::LeastConnections),
//! [`JoinShortestQueue`](super::JoinShortestQueue), [`First`](super::First)) and the slot map
//! of [`StaticRoundRobin`](super::StaticRoundRobin) keep their backends' keys here and update
//! one leaf per change, rather than scanning every backend per pick. The search "first
//! backend at or after `from` whose key is at most `bound`" is what keeps their tie-breaking
//! rules exact: a scan that starts after the previous pick and keeps the first of the least
//! is the first least key at or after that position, wrapping round once.
//!
//! An array-backed segment tree rather than an indexed heap (`priority-queue`): a heap knows
//! the least key, not which of the tied backends comes first after a given position; and the
//! keys are dense indices, so the tree needs no hashing and allocates nothing after it is
//! built.

/// A key a [`LoadTree`] orders backends by (least first).
pub(crate) trait TreeKey: Copy + Ord {
    /// Sorts after every real key: a backend the tree must never return (unavailable), and
    /// the padding up to a power of two.
    const NONE: Self;
}

impl TreeKey for u64 {
    const NONE: Self = u64::MAX;
}

impl TreeKey for i64 {
    const NONE: Self = i64::MAX;
}

/// Keys of backends `0..len`, with the least key of every subtree.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoadTree<K> {
    /// Node 1 is the root, node `i` has children `2i` and `2i + 1`, leaf `b` is node
    /// `size + b`; each node holds the least key below it.
    nodes: Vec<K>,
    /// Leaves: `len` rounded up to a power of two.
    size: usize,
    len: usize,
}

impl<K: TreeKey> LoadTree<K> {
    /// Replaces every key: O(n).
    pub(crate) fn rebuild(&mut self, keys: impl ExactSizeIterator<Item = K>) {
        self.len = keys.len();
        self.size = self.len.next_power_of_two().max(1);
        self.nodes.clear();
        self.nodes.resize(2 * self.size, K::NONE);
        for (b, key) in keys.enumerate() {
            self.nodes[self.size + b] = key;
        }
        for i in (1..self.size).rev() {
            self.nodes[i] = self.nodes[2 * i].min(self.nodes[2 * i + 1]);
        }
    }

    /// How many backends it holds.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Backend `b`'s key.
    #[inline]
    pub(crate) fn get(&self, b: usize) -> K {
        self.nodes[self.size + b]
    }

    /// Sets backend `b`'s key: O(log n).
    #[inline]
    pub(crate) fn set(&mut self, b: usize, key: K) {
        let mut i = self.size + b;
        self.nodes[i] = key;
        while i > 1 {
            i /= 2;
            let least = self.nodes[2 * i].min(self.nodes[2 * i + 1]);
            if self.nodes[i] == least {
                break; // nothing above changes either
            }
            self.nodes[i] = least;
        }
    }

    /// The least key ([`TreeKey::NONE`] when empty).
    #[inline]
    pub(crate) fn least(&self) -> K {
        self.nodes.get(1).copied().unwrap_or(K::NONE)
    }

    /// The first backend at or after `from` whose key is at most `bound` (`bound` below
    /// [`TreeKey::NONE`]).
    pub(crate) fn first_at_most(&self, from: usize, bound: K) -> Option<usize> {
        if self.len == 0 || from >= self.len {
            return None;
        }
        self.find(1, 0, self.size, from, bound)
    }

    fn find(&self, node: usize, lo: usize, hi: usize, from: usize, bound: K) -> Option<usize> {
        if hi <= from || self.nodes[node] > bound {
            return None;
        }
        if hi - lo == 1 {
            return Some(lo);
        }
        let mid = (lo + hi) / 2;
        self.find(2 * node, lo, mid, from, bound).or_else(|| self.find(2 * node + 1, mid, hi, from, bound))
    }

    /// The first backend holding the least key, looking from `from` to the end and then from
    /// the start: what a scan from `from` that keeps the first strictly smaller key finds.
    /// `None` when every key is [`TreeKey::NONE`].
    #[inline]
    pub(crate) fn first_least_from(&self, from: usize) -> Option<usize> {
        let least = self.least();
        if least == K::NONE {
            return None;
        }
        self.first_at_most(from, least).or_else(|| self.first_at_most(0, least))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The scan the tree replaces.
    fn scan(keys: &[u64], from: usize) -> Option<usize> {
        let n = keys.len();
        let mut best: Option<usize> = None;
        for offset in 0..n {
            let i = (from + offset) % n;
            if keys[i] != u64::NONE && best.is_none_or(|b| keys[i] < keys[b]) {
                best = Some(i);
            }
        }
        best
    }

    #[test]
    fn finds_what_a_rotating_scan_finds() {
        let mut state = 7_u64;
        let mut next = || {
            state = stacksim_engine::rng::splitmix64(state);
            state
        };
        for n in [0, 1, 2, 3, 5, 8, 13, 100] {
            let mut keys: Vec<u64> =
                (0..n).map(|_| if next() % 5 == 0 { u64::NONE } else { next() % 4 }).collect();
            let mut tree = LoadTree::default();
            tree.rebuild(keys.iter().copied());
            for _ in 0..200 {
                if n > 0 {
                    let b = (next() % n as u64) as usize;
                    keys[b] = if next() % 7 == 0 { u64::NONE } else { next() % 4 };
                    tree.set(b, keys[b]);
                }
                let from = if n == 0 { 0 } else { (next() % n as u64) as usize };
                assert_eq!(tree.first_least_from(from), scan(&keys, from), "{keys:?} from {from}");
                let first_below_2 = keys.iter().position(|&k| k <= 1);
                assert_eq!(tree.first_at_most(0, 1), first_below_2);
            }
        }
    }
}
