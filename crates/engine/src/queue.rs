//! The pending-event set: a binary heap of the near future, and past a few thousand pending
//! events a ladder of time buckets for the rest.
//!
//! # Layout
//!
//! Every event lives in one of two places, split by time at `near_last`:
//!
//! 1. **The near heap** (`near`): a `BinaryHeap` of every event at or before `near_last`,
//!    ordered by one `u128` key `(time << 64) | seq`. The earliest event is always on top.
//! 2. **The ladder** (`rungs`): every event after `near_last`, in time buckets. A rung covers
//!    a span of time in buckets of equal, power-of-two width; its last bucket also takes
//!    everything from its start to the end of the rung. A bucket that holds too many events to
//!    heap cheaply is split into a finer rung below it (the "ladder" of Tang, Goh and Thng,
//!    *Ladder queue: an O(1) priority queue structure for large-scale discrete event
//!    simulation*, 2005, without its unsorted top: here the coarsest rung's last bucket plays
//!    that part).
//!
//! With few events pending (up to [`LADDER_ABOVE`]) the ladder is empty and `near_last` is
//! `u64::MAX`: the queue is the plain heap. Its fast paths test one bound each: `schedule`
//! compares the time with `near_last` (one comparison more than a bare `BinaryHeap` push:
//! +0.23% instructions on the M/M/1 bench, two events pending), and `peek_time` and `pop`
//! compare the heap's size with `slow_above`, a bound that also sends them off the fast path
//! while cancelled events are queued (the check they made before the ladder).
//!
//! Past [`LADDER_ABOVE`], the next `peek_time` or `pop` cuts the heap into a ladder. Whenever
//! the near heap runs dry, the next non-empty bucket becomes the new near heap (heapified in
//! one pass) and `near_last` moves to that bucket's end. New events after `near_last` are
//! appended to their bucket: no sift, and a bucket's end is usually in cache. Once fewer than
//! [`HEAP_BELOW`] events are left in the ladder, they all go back into the heap.
//!
//! Order is exact: a bucket is chosen by time alone, so events at equal times are always in
//! the same place, and the heap orders them by `seq`.
//!
//! Bucket widths come from the events themselves (the spread of the earliest eighth of them),
//! never from a fixed unit, and a rung has at most about `2 × events / BUCKET_TARGET` buckets:
//! memory stays proportional to the events, whatever the times (microseconds apart, hours
//! ahead, or saturated at `u64::MAX`). Splitting ends: a bucket split again is either narrower
//! than its rung's width or, for a last bucket, holds at most seven eighths of its rung's
//! events; a bucket whose events all share one time is heaped as it is.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashSet};

use crate::SimTime;

/// Names one scheduled event, so that it can be cancelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EventId(u64);

/// A pending event. Time and sequence number share one `u128` key, `(time << 64) | seq`, so
/// that ordering is a single comparison: the hold-model bench (`benches/benches/queue.rs`)
/// measured it 5–8% faster than comparing a `(time, seq)` pair.
struct Entry<E> {
    key: u128,
    event: E,
}

impl<E> Entry<E> {
    #[inline]
    fn time(&self) -> SimTime {
        SimTime((self.key >> 64) as u64)
    }

    #[inline]
    fn seq(&self) -> u64 {
        self.key as u64
    }
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, other: &Self) -> bool {
        self.key == other.key
    }
}

impl<E> Eq for Entry<E> {}

impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Entry<E> {
    /// Reversed, so that the max-heap `BinaryHeap` pops the earliest (time, seq) first.
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        other.key.cmp(&self.key)
    }
}

/// Pending events above which the queue moves from one heap to the ladder.
const LADDER_ABOVE: usize = 4096;

/// Events left in the ladder below which they all go back into the heap (a quarter of
/// [`LADDER_ABOVE`], so that a queue near either bound does not switch back and forth).
const HEAP_BELOW: usize = 1024;

/// Events per bucket a rung aims at near its start, where events are densest.
const BUCKET_TARGET: u64 = 64;

/// A bucket with more events than this, at more than one time, becomes a finer rung rather
/// than the near heap.
const SPLIT_ABOVE: usize = 256;

/// One level of the ladder: buckets of `1 << shift` nanoseconds from `start`, the last one
/// reaching to `last`.
struct Rung<E> {
    start: u64,
    shift: u32,
    /// The last time this rung holds (inclusive): `u64::MAX` for the coarsest rung, else the
    /// end of the coarser rung's bucket it was split from.
    last: u64,
    /// Buckets before this one have been handed on (to the near heap or a finer rung).
    cursor: usize,
    buckets: Vec<Vec<Entry<E>>>,
}

impl<E> Rung<E> {
    /// A rung over `events`, which must all be at or before `last`; `Err(events)` back if they
    /// all share one time, which no rung can split.
    fn new(events: Vec<Entry<E>>, last: u64) -> Result<Self, Vec<Entry<E>>> {
        let (mut min, mut max) = (u64::MAX, 0);
        for e in &events {
            min = min.min(e.time().0);
            max = max.max(e.time().0);
        }
        if min >= max {
            return Err(events);
        }
        // The earliest eighth of the events lie within 2^bits of `min`: bit lengths of the
        // offsets, counted up to that eighth.
        let mut by_bits = [0usize; 65];
        for e in &events {
            by_bits[(64 - (e.time().0 - min).leading_zeros()) as usize] += 1;
        }
        let eighth = (events.len() / 8).max(1);
        let mut seen = 0;
        let bits = by_bits
            .iter()
            .position(|&n| {
                seen += n;
                seen >= eighth
            })
            .unwrap_or(64);
        // A width that puts about BUCKET_TARGET of those events in a bucket, as a power of
        // two, and no wider than the whole span, so that there are at least two buckets.
        let width = ((1u128 << bits) * u128::from(BUCKET_TARGET) / eighth as u128).max(1);
        let shift = (127 - width.leading_zeros()).min(63 - (max - min).leading_zeros());
        let most = 2 * events.len() as u64 / BUCKET_TARGET + 2;
        let count = ((max - min) >> shift).min(most - 1) as usize + 1;
        let mut rung = Rung { start: min, shift, last, cursor: 0, buckets: Vec::new() };
        rung.buckets.resize_with(count, Vec::new);
        for e in events {
            let i = rung.bucket_of(e.time().0);
            rung.buckets[i].push(e);
        }
        Ok(rung)
    }

    /// The bucket of an event at `time`, which must be in this rung's span.
    #[inline]
    fn bucket_of(&self, time: u64) -> usize {
        ((time - self.start) >> self.shift).min(self.buckets.len() as u64 - 1) as usize
    }

    /// The last time bucket `i` holds.
    fn bucket_last(&self, i: usize) -> u64 {
        if i + 1 == self.buckets.len() {
            self.last
        } else {
            // Below the latest event's time, since the next bucket starts at or before it.
            self.start + ((i as u64 + 1) << self.shift) - 1
        }
    }
}

/// Events waiting to happen, popped in non-decreasing time and, at equal times, in the order
/// they were scheduled.
///
/// Cancellation is lazy: a cancelled event stays in the queue and is skipped when it comes
/// out. Only events scheduled with [`EventQueue::schedule_cancellable`] can be cancelled,
/// so that the common path pays nothing for the bookkeeping.
///
/// With fewer than a few thousand events pending this is a binary heap; past that, the
/// events after the near future wait in a ladder of time buckets (described at the top of
/// `queue.rs`).
pub struct EventQueue<E> {
    /// Every pending event at or before `near_last`.
    near: BinaryHeap<Entry<E>>,
    /// `u64::MAX` while the ladder is empty.
    near_last: u64,
    /// Coarsest first; a rung holds the times after the next finer rung's `last` (after
    /// `near_last`, for the finest) up to its own `last`.
    rungs: Vec<Rung<E>>,
    /// Events in the rungs, cancelled or not.
    in_rungs: usize,
    /// Sizes of `near` past which `peek_time` and `pop` leave their fast path, which then
    /// costs one comparison for everything they may have to do: 0 while cancelled events
    /// are queued (to skip them), `heap_limit` while there is no ladder (to build one),
    /// `usize::MAX` otherwise.
    slow_above: usize,
    /// Events the heap may hold before it becomes a ladder: [`LADDER_ABOVE`], or twice
    /// the heap's size after a ladder could not be built (all events at one time).
    heap_limit: usize,
    next_seq: u64,
    /// Cancellable events still queued and not cancelled.
    cancellable: HashSet<u64>,
    /// Cancelled events still queued.
    cancelled: HashSet<u64>,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        EventQueue {
            near: BinaryHeap::new(),
            near_last: u64::MAX,
            rungs: Vec::new(),
            in_rungs: 0,
            slow_above: LADDER_ABOVE,
            heap_limit: LADDER_ABOVE,
            next_seq: 0,
            cancellable: HashSet::new(),
            cancelled: HashSet::new(),
        }
    }
}

impl<E> std::fmt::Debug for EventQueue<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventQueue")
            .field("pending", &self.len())
            .field("rungs", &self.rungs.len())
            .field("next_seq", &self.next_seq)
            .finish()
    }
}

impl<E> EventQueue<E> {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    /// Schedules `event` at `time`.
    #[inline]
    pub fn schedule(&mut self, time: SimTime, event: E) -> EventId {
        let seq = self.next_seq;
        self.next_seq += 1;
        let key = (u128::from(time.0) << 64) | u128::from(seq);
        if time.0 <= self.near_last {
            self.near.push(Entry { key, event });
        } else {
            self.schedule_far(Entry { key, event });
        }
        EventId(seq)
    }

    /// Schedules `event` at `time` so that [`EventQueue::cancel`] can withdraw it.
    pub fn schedule_cancellable(&mut self, time: SimTime, event: E) -> EventId {
        let id = self.schedule(time, event);
        self.cancellable.insert(id.0);
        id
    }

    /// Withdraws a pending event scheduled with [`EventQueue::schedule_cancellable`].
    ///
    /// Returns `false`, and does nothing, if the event has already been popped or cancelled,
    /// or was not scheduled as cancellable.
    pub fn cancel(&mut self, id: EventId) -> bool {
        if self.cancellable.remove(&id.0) {
            self.cancelled.insert(id.0);
            self.slow_above = 0;
            true
        } else {
            false
        }
    }

    /// Removes and returns the earliest pending event, skipping cancelled ones.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        if self.near.len() <= self.slow_above
            && let Some(entry) = self.near.pop()
        {
            if !self.cancellable.is_empty() {
                self.cancellable.remove(&entry.seq());
            }
            return Some((entry.time(), entry.event));
        }
        self.pop_slow()
    }

    /// The time of the earliest pending event that has not been cancelled.
    pub fn peek_time(&mut self) -> Option<SimTime> {
        if self.near.len() <= self.slow_above
            && let Some(top) = self.near.peek()
        {
            return Some(top.time());
        }
        self.peek_slow()
    }

    /// Pending events, not counting cancelled ones.
    pub fn len(&self) -> usize {
        self.near.len() + self.in_rungs - self.cancelled.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `pop` off its fast path: see `peek_slow`.
    #[cold]
    #[inline(never)]
    fn pop_slow(&mut self) -> Option<(SimTime, E)> {
        self.peek_slow()?;
        let entry = self.near.pop()?;
        if !self.cancellable.is_empty() {
            self.cancellable.remove(&entry.seq());
        }
        Some((entry.time(), entry.event))
    }

    /// `peek_time` off its fast path: builds the ladder if the heap has grown past
    /// `heap_limit`, drops cancelled events from the top, and refills the near heap from the
    /// ladder when it has run dry.
    ///
    /// `peek_time`, `pop` and `schedule` keep all this out of line (`peek_slow`, `pop_slow`,
    /// `schedule_far`), and their fast paths test one bound each: with the ladder inlined into
    /// the event loop, the M/M/1 run (two events pending, so never here) measured up to 4%
    /// more instructions, the compiler then no longer inlining the heap's own `pop`.
    #[cold]
    #[inline(never)]
    fn peek_slow(&mut self) -> Option<SimTime> {
        if self.rungs.is_empty() && self.near.len() > self.heap_limit {
            self.build_ladder();
        }
        let time = loop {
            if let Some(top) = self.near.peek() {
                let (time, seq) = (top.time(), top.seq());
                if !self.cancelled.is_empty() && self.cancelled.remove(&seq) {
                    self.near.pop();
                    continue;
                }
                break Some(time);
            }
            if self.in_rungs == 0 {
                break None;
            }
            self.refill();
        };
        self.slow_above = if !self.cancelled.is_empty() {
            0
        } else if self.rungs.is_empty() {
            self.heap_limit
        } else {
            usize::MAX
        };
        time
    }

    /// Where `schedule` sends an event after `near_last`: to its bucket.
    #[cold]
    #[inline(never)]
    fn schedule_far(&mut self, entry: Entry<E>) {
        let time = entry.time().0;
        let rung = self
            .rungs
            .iter_mut()
            .rev()
            .find(|rung| time <= rung.last)
            .expect("after near_last, so there is a ladder, and its coarsest rung reaches u64::MAX");
        let i = rung.bucket_of(time);
        rung.buckets[i].push(entry);
        self.in_rungs += 1;
    }

    /// Cuts the near heap into a ladder, keeping its earliest bucket as the near heap; leaves
    /// it a heap, until it doubles, if all its events are at one time.
    fn build_ladder(&mut self) {
        let events = std::mem::take(&mut self.near).into_vec();
        let len = events.len();
        match Rung::new(events, u64::MAX) {
            Ok(rung) => {
                self.rungs.push(rung);
                self.in_rungs = len;
                self.refill();
            }
            Err(events) => {
                self.near = BinaryHeap::from(events);
                self.heap_limit = len.saturating_mul(2);
            }
        }
    }

    /// Refills the empty near heap from the earliest non-empty bucket, splitting buckets too
    /// big to heap into finer rungs; once the ladder holds few events, moves them all into
    /// the heap.
    fn refill(&mut self) {
        debug_assert!(self.near.is_empty());
        if self.in_rungs < HEAP_BELOW {
            let mut events = std::mem::take(&mut self.near).into_vec();
            for rung in self.rungs.drain(..) {
                for bucket in rung.buckets {
                    events.extend(bucket);
                }
            }
            self.near = BinaryHeap::from(events);
            self.in_rungs = 0;
            self.near_last = u64::MAX;
            self.heap_limit = LADDER_ABOVE;
            return;
        }
        loop {
            let rung = self.rungs.last_mut().expect("events in the rungs");
            let Some(i) = (rung.cursor..rung.buckets.len()).find(|&i| !rung.buckets[i].is_empty()) else {
                self.rungs.pop();
                continue;
            };
            let last = rung.bucket_last(i);
            let bucket = std::mem::take(&mut rung.buckets[i]);
            rung.cursor = i + 1;
            if rung.cursor == rung.buckets.len() {
                self.rungs.pop();
            }
            let bucket = if bucket.len() > SPLIT_ABOVE {
                match Rung::new(bucket, last) {
                    Ok(finer) => {
                        self.rungs.push(finer);
                        continue;
                    }
                    Err(bucket) => bucket,
                }
            } else {
                bucket
            };
            self.in_rungs -= bucket.len();
            self.near = BinaryHeap::from(bucket);
            // After the coarsest rung's last bucket (which reaches u64::MAX), this is the heap
            // alone again.
            self.near_last = last;
            if self.rungs.is_empty() {
                self.heap_limit = LADDER_ABOVE;
            }
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_time_order_with_fifo_ties() {
        let mut q = EventQueue::new();
        q.schedule(SimTime(5), "c");
        q.schedule(SimTime(1), "a");
        q.schedule(SimTime(5), "d");
        q.schedule(SimTime(1), "b");
        q.schedule(SimTime(9), "e");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert_eq!(
            order,
            [(SimTime(1), "a"), (SimTime(1), "b"), (SimTime(5), "c"), (SimTime(5), "d"), (SimTime(9), "e")]
        );
    }

    #[test]
    fn cancelled_events_never_come_out() {
        let mut q = EventQueue::new();
        let a = q.schedule_cancellable(SimTime(1), 'a');
        let b = q.schedule_cancellable(SimTime(2), 'b');
        q.schedule(SimTime(3), 'c');
        assert!(q.cancel(a));
        assert!(!q.cancel(a), "a second cancel is a no-op");
        assert_eq!(q.len(), 2);
        assert_eq!(q.peek_time(), Some(SimTime(2)));
        assert_eq!(q.pop(), Some((SimTime(2), 'b')));
        assert!(!q.cancel(b), "cannot cancel an event that already happened");
        assert_eq!(q.pop(), Some((SimTime(3), 'c')));
        assert!(q.is_empty());
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn plain_events_are_not_cancellable() {
        let mut q = EventQueue::new();
        let a = q.schedule(SimTime(1), ());
        assert!(!q.cancel(a));
        assert_eq!(q.len(), 1);
    }

    /// Pops everything, checking the order and that nothing is lost.
    fn drain_sorted<E: std::fmt::Debug>(q: &mut EventQueue<E>) -> Vec<(SimTime, E)> {
        let out: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
        assert!(out.windows(2).all(|w| w[0].0 <= w[1].0), "times never go back");
        out
    }

    #[test]
    fn grows_into_a_ladder_and_back_into_a_heap() {
        let mut q = EventQueue::new();
        for i in 0..LADDER_ABOVE as u64 + 1 {
            q.schedule(SimTime(i * 7919 % 100_000), i);
        }
        assert_eq!(q.peek_time(), Some(SimTime(0)));
        assert!(!q.rungs.is_empty(), "past LADDER_ABOVE the queue builds a ladder");
        assert_eq!(q.len(), LADDER_ABOVE + 1);
        let mut popped = Vec::new();
        while q.len() > HEAP_BELOW / 2 {
            popped.push(q.pop().unwrap());
        }
        assert!(q.rungs.is_empty(), "below HEAP_BELOW the ladder goes back into the heap");
        assert_eq!(q.near_last, u64::MAX);
        popped.extend(drain_sorted(&mut q));
        let mut expected: Vec<_> =
            (0..LADDER_ABOVE as u64 + 1).map(|i| (SimTime(i * 7919 % 100_000), i)).collect();
        expected.sort_by_key(|&(t, i)| (t, i));
        assert_eq!(popped, expected);
    }

    #[test]
    fn huge_gaps_and_saturated_times_keep_their_order() {
        let mut q = EventQueue::new();
        let mut expected = Vec::new();
        let hour = 3_600_000_000_000;
        for i in 0..3 * LADDER_ABOVE as u64 {
            let t = match i % 6 {
                0 => u64::MAX,
                1 => u64::MAX - i % 3,
                2 => hour + i,
                3 => i % 5,
                _ => 1_000 * i,
            };
            q.schedule(SimTime(t), i);
            expected.push((SimTime(t), i));
        }
        expected.sort();
        assert_eq!(q.peek_time(), Some(expected[0].0));
        assert!(!q.rungs.is_empty());
        assert!(q.rungs.iter().map(|r| r.buckets.len()).sum::<usize>() < 4 * expected.len());
        assert_eq!(drain_sorted(&mut q), expected);
    }

    #[test]
    fn thousands_at_one_time_stay_in_a_heap_in_schedule_order() {
        let mut q = EventQueue::new();
        for i in 0..2 * LADDER_ABOVE {
            q.schedule(SimTime(42), i);
        }
        assert_eq!(q.peek_time(), Some(SimTime(42)));
        assert!(q.rungs.is_empty(), "one time cannot be split into buckets");
        let popped: Vec<_> = drain_sorted(&mut q).into_iter().map(|(_, i)| i).collect();
        assert_eq!(popped, (0..2 * LADDER_ABOVE).collect::<Vec<_>>());
    }

    /// splitmix64: a few lines of deterministic randomness for the model test below.
    fn next(state: &mut u64) -> u64 {
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A time for a new event, `now` being the last time popped, in one of four shapes.
    fn time_after(now: u64, shape: u8, r: &mut u64) -> u64 {
        let x = next(r);
        match shape {
            // Dense: nanoseconds apart.
            0 => now + x % 1_000,
            // Spread over many scales, up to about 18 minutes ahead.
            1 => now.saturating_add(x % (1 << (x >> 58).min(40))),
            // Few distinct times: many ties.
            2 => now + (x % 4) * 1_000,
            // Mixed: mostly near, some hours ahead, some saturated, some in the past.
            _ => match x % 16 {
                0 => u64::MAX,
                1 => u64::MAX - (x >> 8) % 4,
                2 => now.saturating_add(3_600_000_000_000 + (x >> 8) % 1_000_000),
                3 => now.saturating_sub((x >> 8) % 10_000),
                _ => now.saturating_add((x >> 8) % 100_000),
            },
        }
    }

    proptest::proptest! {
        #[test]
        fn any_schedule_pops_sorted_by_time_then_schedule_order(
            times in proptest::collection::vec(0u64..20, 0..200),
            cancel in proptest::collection::vec(proptest::bool::ANY, 200),
        ) {
            let mut q = EventQueue::new();
            let mut expected = Vec::new();
            for (seq, &t) in times.iter().enumerate() {
                let id = q.schedule_cancellable(SimTime(t), seq);
                if cancel[seq] {
                    q.cancel(id);
                } else {
                    expected.push((SimTime(t), seq));
                }
            }
            expected.sort();
            proptest::prop_assert_eq!(q.len(), expected.len());
            let popped: Vec<_> = std::iter::from_fn(|| q.pop()).collect();
            proptest::prop_assert_eq!(popped, expected);
        }
    }

    /// An `EventQueue` and a sorted set driven side by side.
    struct Against {
        q: EventQueue<u64>,
        reference: std::collections::BTreeSet<(u64, u64)>,
        /// Every event scheduled: time, sequence number, cancellable.
        scheduled: Vec<(u64, u64, bool)>,
        shape: u8,
        rng: u64,
        now: u64,
    }

    impl Against {
        fn schedule(&mut self) {
            let t = time_after(self.now, self.shape, &mut self.rng);
            let cancellable = next(&mut self.rng).is_multiple_of(4);
            let seq = self.scheduled.len() as u64;
            let id = if cancellable {
                self.q.schedule_cancellable(SimTime(t), seq)
            } else {
                self.q.schedule(SimTime(t), seq)
            };
            assert_eq!(id, EventId(seq));
            self.reference.insert((t, seq));
            self.scheduled.push((t, seq, cancellable));
        }

        /// Pops with `pop`, or as the event loop does (`peek_time`, then `pop`).
        fn pop(&mut self) {
            let expected = self.reference.pop_first();
            let popped = if next(&mut self.rng).is_multiple_of(2) {
                self.q.pop()
            } else {
                let time = self.q.peek_time();
                let popped = self.q.pop();
                assert_eq!(popped.as_ref().map(|&(t, _)| t), time);
                popped
            };
            assert_eq!(popped, expected.map(|(t, seq)| (SimTime(t), seq)));
            if let Some((t, _)) = expected {
                self.now = t;
            }
        }

        fn cancel_any(&mut self) {
            if self.scheduled.is_empty() {
                return;
            }
            let pick = next(&mut self.rng) % self.scheduled.len() as u64;
            let (t, seq, cancellable) = self.scheduled[pick as usize];
            let pending = self.reference.contains(&(t, seq));
            assert_eq!(self.q.cancel(EventId(seq)), cancellable && pending);
            if cancellable {
                self.reference.remove(&(t, seq));
            }
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Thousands of events, scheduled and popped in phases that cross `LADDER_ABOVE` and
        /// `HEAP_BELOW` both ways, with cancellations, against a sorted set.
        #[test]
        fn the_ladder_pops_as_a_sorted_set_would(
            seed in proptest::num::u64::ANY,
            shape in 0u8..4,
            fill in 0usize..3 * LADDER_ABOVE,
            phases in proptest::collection::vec((0usize..3 * LADDER_ABOVE, 0u64..100), 1..6),
        ) {
            let mut run = Against {
                q: EventQueue::new(),
                reference: std::collections::BTreeSet::new(),
                scheduled: Vec::new(),
                shape,
                rng: seed,
                now: 0,
            };
            for _ in 0..fill {
                run.schedule();
            }
            for (ops, pop_percent) in phases {
                for _ in 0..ops {
                    let x = next(&mut run.rng) % 100;
                    if x < pop_percent {
                        run.pop();
                    } else if x < pop_percent + 3 {
                        run.cancel_any();
                    } else {
                        run.schedule();
                    }
                    proptest::prop_assert_eq!(run.q.len(), run.reference.len());
                }
                let first = run.reference.first().map(|&(t, _)| SimTime(t));
                proptest::prop_assert_eq!(run.q.peek_time(), first);
            }
            while !run.reference.is_empty() {
                run.pop();
            }
            proptest::prop_assert_eq!(run.q.pop(), None);
        }
    }
}
