//! Clients that retry: attempts, exponential backoff with jitter, and retry budgets.

use std::time::Duration;

use rand::{Rng, RngExt};
use stacksim_engine::SimTime;

/// How a client retries a request whose attempt failed (5xx, reset) or timed out.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means never retry.
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles for each further retry.
    pub backoff: Duration,
    /// The backoff never exceeds this.
    pub max_backoff: Duration,
    /// Optional token bucket limiting retries to a fraction of requests.
    pub budget: Option<RetryBudget>,
}

impl RetryPolicy {
    /// The wait before attempt number `attempt` (2 for the first retry): "full jitter" as in
    /// the AWS Architecture Blog's *Exponential Backoff and Jitter* and gRPC's retry design —
    /// uniform in `[0, min(max_backoff, backoff × 2^(attempt−2))]`.
    pub fn backoff_before<R: Rng + ?Sized>(&self, attempt: u32, rng: &mut R) -> Duration {
        let doublings = attempt.saturating_sub(2).min(32);
        let ceiling = self.backoff.saturating_mul(1 << doublings).min(self.max_backoff);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        Duration::from_nanos(rng.random_range(0..=u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX)))
    }
}

/// A retry budget as Envoy's `retry_budget` and Finagle's `RetryBudget`: retries may add at most
/// `ratio` of the requests sent, plus `min_per_s` retries per second regardless.
///
/// Implemented as a token bucket: every request deposits `ratio` tokens, time deposits
/// `min_per_s` per second, a retry withdraws one; the bucket holds at most
/// `max(10, 10 × min_per_s)` tokens, so a quiet period cannot bank an unlimited burst.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryBudget {
    /// Retries allowed per request sent (0.2 = 20% extra load at most).
    pub ratio: f64,
    /// Retries allowed per second even with little traffic.
    pub min_per_s: f64,
}

impl RetryBudget {
    /// The floor of retries per second when none is given: 10, Finagle's `RetryBudget`
    /// default `minRetriesPerSec`.
    pub const DEFAULT_MIN_PER_S: f64 = 10.0;
}

/// The runtime state of a [`RetryBudget`].
#[derive(Clone, Debug)]
pub struct BudgetBucket {
    budget: RetryBudget,
    tokens: f64,
    capacity: f64,
    last: SimTime,
}

impl BudgetBucket {
    /// A full bucket.
    pub fn new(budget: RetryBudget) -> Self {
        let capacity = (10.0 * budget.min_per_s).max(10.0);
        BudgetBucket { budget, tokens: capacity, capacity, last: SimTime::ZERO }
    }

    fn refill(&mut self, now: SimTime) {
        let secs = (now - self.last).as_secs_f64();
        self.tokens = (self.tokens + secs * self.budget.min_per_s).min(self.capacity);
        self.last = now;
    }

    /// Records a first attempt at `now`.
    pub fn deposit(&mut self, now: SimTime) {
        self.refill(now);
        self.tokens = (self.tokens + self.budget.ratio).min(self.capacity);
    }

    /// Whether a retry may go out at `now`; withdraws a token if so.
    pub fn try_withdraw(&mut self, now: SimTime) -> bool {
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// gRPC's `retryThrottling` (gRFC A6, "Throttling Retry Attempts and Hedged RPCs",
/// <https://github.com/grpc/proposal/blob/master/A6-client-retries.md>): retries and hedges
/// stop while the client's recent failures outweigh its successes.
///
/// The client keeps `token_count`, starting at `max_tokens` and kept within `[0, max_tokens]`:
/// every failed attempt takes 1 away, every successful one adds `token_ratio`. While
/// `token_count ≤ max_tokens / 2` no retry and no further hedge is sent (the first attempt of a
/// request always is). As in gRPC core (`src/core/client_channel/retry_throttle.cc`) the count
/// is kept in thousandths of a token, so `token_ratio` has three decimal places and the
/// arithmetic is exact.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RetryThrottling {
    /// Tokens at the start, and at most (gRPC `maxTokens`, > 0; gRFC A6's example: 10).
    pub max_tokens: f64,
    /// Tokens a successful attempt adds (gRPC `tokenRatio`, ≥ 0.001; A6's example: 0.1).
    pub token_ratio: f64,
}

impl RetryThrottling {
    /// The largest `max_tokens` accepted: far above any real configuration, and small enough
    /// for the count in thousandths to stay exact.
    pub const MAX_TOKENS: f64 = 1_000_000.0;
}

/// The runtime state of a [`RetryThrottling`]: one per client (gRPC keeps one per server name).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RetryThrottle {
    max_milli_tokens: u64,
    milli_token_ratio: u64,
    milli_tokens: u64,
}

impl RetryThrottle {
    /// A full bucket of `max_tokens`.
    pub fn new(throttling: RetryThrottling) -> Self {
        let max_milli_tokens = (throttling.max_tokens * 1000.0).round() as u64;
        RetryThrottle {
            max_milli_tokens,
            // gRPC core truncates tokenRatio after its third decimal place.
            milli_token_ratio: (throttling.token_ratio * 1000.0 + 1e-9).floor() as u64,
            milli_tokens: max_milli_tokens,
        }
    }

    /// An attempt failed: takes a token, and tells whether a retry or hedge may still go out
    /// (gRPC core's `RecordFailure`).
    pub fn record_failure(&mut self) -> bool {
        self.milli_tokens = self.milli_tokens.saturating_sub(1000);
        self.allows()
    }

    /// An attempt succeeded: adds `token_ratio`, up to `max_tokens` (gRPC core's
    /// `RecordSuccess`).
    pub fn record_success(&mut self) {
        self.milli_tokens = (self.milli_tokens + self.milli_token_ratio).min(self.max_milli_tokens);
    }

    /// Whether a retry or hedge may go out now: `token_count > max_tokens / 2`.
    pub fn allows(&self) -> bool {
        // Compared doubled, so that an odd max in thousandths is not rounded.
        2 * self.milli_tokens > self.max_milli_tokens
    }

    /// Tokens now.
    pub fn tokens(&self) -> f64 {
        self.milli_tokens as f64 / 1000.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacksim_engine::rng::stream;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_full_jitter() {
        let policy = RetryPolicy {
            max_attempts: 10,
            backoff: Duration::from_millis(100),
            max_backoff: Duration::from_millis(1000),
            budget: None,
        };
        let mut rng = stream(1, "retry");
        for (attempt, ceiling_ms) in [(2, 100), (3, 200), (4, 400), (5, 800), (6, 1000), (9, 1000)] {
            let draws: Vec<Duration> = (0..2000).map(|_| policy.backoff_before(attempt, &mut rng)).collect();
            let max = draws.iter().max().unwrap().as_secs_f64() * 1e3;
            let mean = draws.iter().map(Duration::as_secs_f64).sum::<f64>() / 2000.0 * 1e3;
            assert!(max <= f64::from(ceiling_ms) && max > 0.95 * f64::from(ceiling_ms), "{attempt}: {max}");
            assert!(
                (mean - f64::from(ceiling_ms) / 2.0).abs() < 0.05 * f64::from(ceiling_ms),
                "{attempt}: {mean}"
            );
        }
    }

    #[test]
    fn budget_allows_ratio_of_requests_plus_a_floor() {
        let mut bucket = BudgetBucket::new(RetryBudget { ratio: 0.2, min_per_s: 0.0 });
        // Drain the initial burst.
        while bucket.try_withdraw(SimTime::ZERO) {}
        let mut allowed = 0;
        for i in 0..1000_u64 {
            let now = SimTime::from_nanos(i * 1_000_000);
            bucket.deposit(now);
            allowed += u32::from(bucket.try_withdraw(now));
        }
        assert!((195..=200).contains(&allowed), "{allowed}");
        let mut floor = BudgetBucket::new(RetryBudget { ratio: 0.0, min_per_s: 2.0 });
        while floor.try_withdraw(SimTime::ZERO) {}
        let later = SimTime::from(Duration::from_secs(10));
        let granted = (0..100).filter(|_| floor.try_withdraw(later)).count();
        assert_eq!(granted, 20);
    }

    /// gRPC core's own test of its throttle (`test/core/client_channel/retry_throttle_test.cc`,
    /// `RetryThrottler.Basic`): max 4 tokens, ratio 1.6, threshold 2.
    #[test]
    fn retry_throttling_follows_grpc_core_token_arithmetic() {
        let mut t = RetryThrottle::new(RetryThrottling { max_tokens: 4.0, token_ratio: 1.6 });
        let fail = |t: &mut RetryThrottle, allowed: bool, tokens: f64| {
            assert_eq!(t.record_failure(), allowed, "at {tokens}");
            assert!((t.tokens() - tokens).abs() < 1e-9, "{} != {tokens}", t.tokens());
        };
        fail(&mut t, true, 3.0);
        t.record_success(); // 4: not beyond the max
        assert_eq!(t.tokens(), 4.0);
        fail(&mut t, true, 3.0);
        fail(&mut t, false, 2.0); // at the threshold: no retries
        fail(&mut t, false, 1.0);
        fail(&mut t, false, 0.0);
        fail(&mut t, false, 0.0); // not below the min
        t.record_success(); // 1.6
        t.record_success(); // 3.2
        fail(&mut t, true, 2.2);
        fail(&mut t, false, 1.2);
        t.record_success(); // 2.8
        fail(&mut t, false, 1.8);
        t.record_success(); // 3.4
        fail(&mut t, true, 2.4);
    }

    /// gRFC A6's example, `maxTokens: 10, tokenRatio: 0.1`: throttling "when the client's ratio
    /// of failures to successes exceeds ~10%". Retries flow at a failure rate below 1/11 (a
    /// failure costs as much as ten successes earn) and stop above it.
    #[test]
    fn a6_example_throttles_above_about_ten_percent_failures() {
        let throttled_share = |failures_per_100: u32| {
            let mut t = RetryThrottle::new(RetryThrottling { max_tokens: 10.0, token_ratio: 0.1 });
            let mut throttled = 0;
            for i in 0..100_000_u32 {
                // Failures spread evenly: `failures_per_100` in every hundred attempts.
                if (i * failures_per_100) % 100 < failures_per_100 {
                    throttled += u32::from(!t.record_failure());
                } else {
                    t.record_success();
                }
            }
            f64::from(throttled) / (1000.0 * f64::from(failures_per_100))
        };
        assert_eq!(throttled_share(8), 0.0);
        assert!(throttled_share(12) > 0.9, "{}", throttled_share(12));
    }
}
