//! Counts over a sliding time window, kept in fixed buckets.

use std::collections::VecDeque;
use std::time::Duration;

use stacksim_engine::SimTime;

/// Requests and successes over the last `window`, in buckets of `bucket` (Envoy's admission
/// control keeps one bucket per second of its sampling window, resilience4j's time-based
/// sliding window one per epoch second: both are this with `bucket` = 1 s). A bucket leaves
/// the window once its start is `window` or more in the past.
#[derive(Clone, Debug)]
pub(crate) struct SlidingCounts {
    window: u64,
    bucket: u64,
    /// `(bucket start [ns], requests, successes)`, oldest first.
    buckets: VecDeque<(u64, u64, u64)>,
    requests: u64,
    successes: u64,
}

impl SlidingCounts {
    /// Counts over `window` (> 0) in buckets of at most one second, and at most 1000 buckets.
    pub fn new(window: Duration) -> Self {
        let window = window.as_nanos().clamp(1, u128::from(u64::MAX)) as u64;
        let bucket = (window / 1000).max(1_000_000_000.min(window));
        SlidingCounts { window, bucket, buckets: VecDeque::new(), requests: 0, successes: 0 }
    }

    fn expire(&mut self, now: SimTime) {
        while let Some(&(start, r, s)) = self.buckets.front() {
            if start + self.window <= now.0 {
                self.buckets.pop_front();
                self.requests -= r;
                self.successes -= s;
            } else {
                break;
            }
        }
    }

    /// Records `requests` and `successes` at `now`.
    pub fn add(&mut self, now: SimTime, requests: u64, successes: u64) {
        self.expire(now);
        let start = now.0 - now.0 % self.bucket;
        match self.buckets.back_mut() {
            Some(last) if last.0 == start => {
                last.1 += requests;
                last.2 += successes;
            }
            _ => self.buckets.push_back((start, requests, successes)),
        }
        self.requests += requests;
        self.successes += successes;
    }

    /// `(requests, successes)` over the window ending at `now`.
    pub fn totals(&mut self, now: SimTime) -> (u64, u64) {
        self.expire(now);
        (self.requests, self.successes)
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.buckets.clear();
        self.requests = 0;
        self.successes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_leave_the_window_a_window_after_their_bucket_began() {
        let mut c = SlidingCounts::new(Duration::from_secs(10));
        c.add(SimTime(500_000_000), 2, 1);
        c.add(SimTime(5_000_000_000), 3, 3);
        assert_eq!(c.totals(SimTime(9_999_999_999)), (5, 4));
        assert_eq!(c.totals(SimTime(10_000_000_000)), (3, 3));
        assert_eq!(c.totals(SimTime(15_000_000_000)), (0, 0));
    }
}
