//! Hedged requests and retry throttling in experiment files (issue 12): gRPC's
//! `hedgingPolicy` and `retryThrottling`, see `stacksim_model::overload::hedge`.

use std::fmt;

use serde::{Deserialize, Serialize};
use stacksim_model::HumanDuration;

/// `hedge: (max_attempts: 2, delay: "50ms")`: gRPC's `hedgingPolicy`. A client hedges or
/// retries, not both.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HedgeSpec {
    /// Attempts in all, the first included: 2 to 5 (gRPC `maxAttempts`).
    pub max_attempts: u32,
    /// Between one attempt and the next (gRPC `hedgingDelay`). Default: `"0s"`, every attempt
    /// at once, as gRPC's default.
    #[serde(default)]
    pub delay: HumanDuration,
}

/// `retry_throttling: (max_tokens: 10, token_ratio: 0.1)`: gRPC's `retryThrottling` (gRFC A6),
/// limiting a client's retries and hedges.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryThrottlingSpec {
    /// Tokens at the start and at most; retries and hedges stop at half (> 0).
    pub max_tokens: f64,
    /// Tokens a success adds; a failure takes 1 (≥ 0.001).
    pub token_ratio: f64,
}

impl fmt::Display for RetryThrottlingSpec {
    /// As a sweep labels it: `10/0.1` (max tokens / token ratio).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.max_tokens, self.token_ratio)
    }
}
