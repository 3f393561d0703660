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
}
