//! Local rate limits: token buckets in front of the balancer or of one backend.

use stacksim_engine::SimTime;

/// A local token bucket (`RateLimit(tokens_per_s, burst)`), as Envoy's local rate limit
/// filter keeps one: it holds at most `burst` tokens, starts full, refills at `tokens_per_s`,
/// and a request that finds no whole token is answered 429 at once
/// (<https://www.envoyproxy.io/docs/envoy/latest/configuration/http/http_filters/local_rate_limit_filter>:
/// `token_bucket { max_tokens, tokens_per_fill, fill_interval }`; here the fill is continuous,
/// the limit of a short `fill_interval`).
///
/// Over a span `t` of demand above the rate it admits `tokens_per_s × t + burst` requests.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Refill rate [tokens·s⁻¹], > 0.
    pub tokens_per_s: f64,
    /// Bucket size \[tokens\], ≥ 1: requests admitted at once after a quiet spell.
    pub burst: u32,
}

/// A token bucket while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    per_ns: f64,
    burst: f64,
    tokens: f64,
    last: SimTime,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket {
            per_ns: limit.tokens_per_s / 1e9,
            burst: f64::from(limit.burst),
            tokens: f64::from(limit.burst),
            last: SimTime::ZERO,
        }
    }

    /// Takes a token at `now` if there is one: whether the request may pass.
    #[inline]
    pub fn try_take(&mut self, now: SimTime) -> bool {
        let elapsed = now.0.saturating_sub(self.last.0) as f64;
        self.tokens = (self.tokens + elapsed * self.per_ns).min(self.burst);
        self.last = now;
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

    #[test]
    fn a_full_bucket_passes_its_burst_then_the_rate() {
        let mut bucket = TokenBucket::new(RateLimit { tokens_per_s: 10.0, burst: 5 });
        let passed = (0..20).filter(|_| bucket.try_take(SimTime::ZERO)).count();
        assert_eq!(passed, 5);
        // Every 100 ms one token: a request every 50 ms for 10 s passes 100 of 200.
        let passed = (1..=200).filter(|i| bucket.try_take(SimTime(i * 50_000_000))).count();
        assert_eq!(passed, 100);
    }
}
