//! Netflix concurrency-limits' `AIMDLimit`
//! (<https://github.com/Netflix/concurrency-limits/blob/78a74b9878d38c4c048b0304ce12a162ab7b7222/concurrency-limits-core/src/main/java/com/netflix/concurrency/limits/limit/AIMDLimit.java>,
//! v0.5.4 and later).

use std::time::Duration;

/// Netflix concurrency-limits' `AIMDLimit`, loss-based: on each sample,
///
/// - dropped, or slower than `timeout`: `limit ← ⌊limit × backoff_ratio⌋`;
/// - otherwise, with at least half the limit in flight when it was admitted:
///   `limit ← limit + 1`;
///
/// then clamped to `[min_limit, max_limit]`. With the defaults (`min_limit` = the initial
/// limit = 20) the limit never falls below where it starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Aimd {
    /// The limit at the start, ≥ 1 (`initialLimit`, default 20).
    pub initial_limit: u32,
    /// Floor of the limit, ≥ 1 (`minLimit`, default 20).
    pub min_limit: u32,
    /// Ceiling of the limit (`maxLimit`, default 200).
    pub max_limit: u32,
    /// Multiplier on a drop, in [0.5, 1) (`backoffRatio`, default 0.9).
    pub backoff_ratio: f64,
    /// A sample slower than this counts as a drop, > 0 (`timeout`, default 5 s).
    pub timeout: Duration,
}

impl Default for Aimd {
    /// `AIMDLimit.newBuilder().build()`.
    fn default() -> Self {
        Aimd {
            initial_limit: 20,
            min_limit: 20,
            max_limit: 200,
            backoff_ratio: 0.9,
            timeout: Duration::from_secs(5),
        }
    }
}

/// An AIMD limit while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct AimdState {
    config: Aimd,
    limit: u32,
}

impl AimdState {
    /// At `initial_limit`, unclamped until the first sample (as in the source).
    pub fn new(config: Aimd) -> Self {
        AimdState { config, limit: config.initial_limit }
    }

    #[inline]
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// `AIMDLimit._update`.
    pub fn on_sample(&mut self, rtt: Duration, in_flight: u32, dropped: bool) {
        let mut limit = self.limit;
        if dropped || rtt > self.config.timeout {
            // `as` truncates, as Java's `(int)` does.
            limit = (f64::from(limit) * self.config.backoff_ratio) as u32;
        } else if 2 * u64::from(in_flight) >= u64::from(limit) {
            limit += 1;
        }
        self.limit = limit.max(self.config.min_limit).min(self.config.max_limit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    fn from(limit: u32) -> AimdState {
        AimdState::new(Aimd { initial_limit: limit, min_limit: 1, ..Aimd::default() })
    }

    #[test]
    fn a_drop_backs_off_to_nine_tenths_rounded_down() {
        let mut a = from(100);
        a.on_sample(ms(10), 100, true);
        assert_eq!(a.limit(), 90);
        a.on_sample(ms(10), 100, true);
        assert_eq!(a.limit(), 81);
        let mut odd = from(15);
        odd.on_sample(ms(10), 15, true);
        assert_eq!(odd.limit(), 13, "13.5 truncated");
    }

    #[test]
    fn a_success_grows_by_one_only_with_half_the_limit_in_flight() {
        let mut a = from(100);
        a.on_sample(ms(10), 50, false);
        assert_eq!(a.limit(), 101);
        a.on_sample(ms(10), 50, false);
        assert_eq!(a.limit(), 101, "50·2 < 101");
    }

    #[test]
    fn a_sample_slower_than_the_timeout_is_a_drop() {
        let mut a = from(100);
        a.on_sample(Duration::from_secs(5), 100, false);
        assert_eq!(a.limit(), 101, "exactly the timeout is not a drop");
        a.on_sample(Duration::from_secs(5) + Duration::from_nanos(1), 100, false);
        assert_eq!(a.limit(), 90);
    }

    #[test]
    fn the_limit_stays_between_min_and_max() {
        let mut defaults = AimdState::new(Aimd::default());
        defaults.on_sample(ms(10), 20, true);
        assert_eq!(defaults.limit(), 20, "18 raised to min_limit 20");
        let mut top = AimdState::new(Aimd { initial_limit: 200, ..Aimd::default() });
        top.on_sample(ms(10), 200, false);
        assert_eq!(top.limit(), 200);
    }
}
