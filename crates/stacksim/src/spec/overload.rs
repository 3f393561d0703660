//! Overload-control settings in the experiment file (issue 12): each mirrors one type of
//! [`stacksim_model::overload`], with the production defaults written next to the fields.

use serde::{Deserialize, Serialize};
use stacksim_model::HumanDuration;
use stacksim_model::overload::{
    AdmissionControl, CircuitBreakers, ClientBreaker, RateLimit, SlowStart, Throttle, Warmup,
};

/// `circuit_breakers: (max_connections: 1024, max_pending_requests: 1024, max_requests: 1024,
/// max_retries: 3)`: Envoy's cluster thresholds for a backend group; an omitted field takes
/// Envoy's default.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CircuitBreakersSpec {
    /// Connections to the group, ≥ 1. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_connections: Option<u32>,
    /// Requests waiting for a connection. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pending_requests: Option<u32>,
    /// Requests outstanding to the group, ≥ 1. Default 1024.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_requests: Option<u32>,
    /// Retries outstanding to the group. Default 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retries: Option<u32>,
}

impl CircuitBreakersSpec {
    /// The model's thresholds, defaults filled.
    pub fn model(&self) -> CircuitBreakers {
        let d = CircuitBreakers::default();
        CircuitBreakers {
            max_connections: self.max_connections.unwrap_or(d.max_connections),
            max_pending_requests: self.max_pending_requests.unwrap_or(d.max_pending_requests),
            max_requests: self.max_requests.unwrap_or(d.max_requests),
            max_retries: self.max_retries.unwrap_or(d.max_retries),
        }
    }
}

/// `rate_limit: (tokens_per_s: 500.0, burst: 100)`: a local token bucket.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateLimitSpec {
    /// Refill rate [tokens·s⁻¹], > 0.
    pub tokens_per_s: f64,
    /// Bucket size, ≥ 1.
    pub burst: u32,
}

impl RateLimitSpec {
    /// The model's rate limit.
    pub fn model(&self) -> RateLimit {
        RateLimit { tokens_per_s: self.tokens_per_s, burst: self.burst }
    }
}

/// `slow_start: (window: "60s", aggression: 1.0, min_weight_percent: 10)`: Envoy's
/// `slow_start_config`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowStartSpec {
    /// Length of the ramp, > 0.
    pub window: HumanDuration,
    /// Speed of the ramp, > 0. Default 1.0 (linear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggression: Option<f64>,
    /// Floor of the ramp in percent of the weight, 0..=100. Default 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_weight_percent: Option<f64>,
}

impl SlowStartSpec {
    /// The model's slow start, defaults filled.
    pub fn model(&self) -> SlowStart {
        SlowStart {
            window: self.window.0,
            aggression: self.aggression.unwrap_or(1.0),
            min_weight_percent: self.min_weight_percent.unwrap_or(10.0),
        }
    }
}

/// `warmup: (window: "30s", factor: 3.0)`: a cold backend's slower service after a restart.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WarmupSpec {
    /// Time to reach normal speed, > 0.
    pub window: HumanDuration,
    /// Slowness at the start, ≥ 1.
    pub factor: f64,
}

impl WarmupSpec {
    /// The model's warm-up.
    pub fn model(&self) -> Warmup {
        Warmup { window: self.window.0, factor: self.factor }
    }
}

/// `admission_control: (window: "120s", success_threshold: 0.95, aggression: 1.0)`: Envoy's
/// admission control filter; omitted fields take Envoy's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdmissionControlSpec {
    /// Sliding window of the success rate. Default "30s" (Envoy `sampling_window`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
    /// Success rate below which requests are rejected, in (0, 1]. Default 0.95.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_threshold: Option<f64>,
    /// Speed of the rise of rejection, > 0. Default 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggression: Option<f64>,
    /// Ceiling of the rejection probability, in [0, 1]. Default 0.8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rejection_probability: Option<f64>,
}

impl AdmissionControlSpec {
    /// The model's admission control, defaults filled.
    pub fn model(&self) -> AdmissionControl {
        AdmissionControl {
            window: self.window.map_or(std::time::Duration::from_secs(30), |w| w.0),
            success_threshold: self.success_threshold.unwrap_or(0.95),
            aggression: self.aggression.unwrap_or(1.0),
            max_rejection_probability: self
                .max_rejection_probability
                .unwrap_or(AdmissionControl::DEFAULT_MAX_REJECTION_PROBABILITY),
        }
    }
}

/// `breaker: (failure_rate: 0.5, window: "10s", min_requests: 20, open_for: "30s",
/// half_open: 5)`: a client-side circuit breaker (resilience4j).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientBreakerSpec {
    /// Failure share that opens it, in (0, 1].
    pub failure_rate: f64,
    /// Sliding window of outcomes, > 0.
    pub window: HumanDuration,
    /// Outcomes in the window before it judges, ≥ 1.
    pub min_requests: u32,
    /// Time spent open, > 0.
    pub open_for: HumanDuration,
    /// Probes let through half-open, ≥ 1.
    pub half_open: u32,
}

impl ClientBreakerSpec {
    /// The model's breaker.
    pub fn model(&self) -> ClientBreaker {
        ClientBreaker {
            failure_rate: self.failure_rate,
            window: self.window.0,
            min_requests: self.min_requests,
            open_for: self.open_for.0,
            half_open: self.half_open,
        }
    }
}

/// `throttle: (k: 2.0, window: "2m")`: the SRE book's adaptive throttling; omitted fields take
/// the book's values.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThrottleSpec {
    /// Multiplier of accepts, ≥ 1. Default 2.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub k: Option<f64>,
    /// Sliding window. Default "2m".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<HumanDuration>,
}

impl ThrottleSpec {
    /// The model's throttle, defaults filled.
    pub fn model(&self) -> Throttle {
        Throttle {
            k: self.k.unwrap_or(2.0),
            window: self.window.map_or(std::time::Duration::from_secs(120), |w| w.0),
        }
    }
}

/// One value of a `Protection` sweep axis: a name for the variant's label and the mechanisms
/// it adds, each as the stack writes it (`breaker` and `throttle` go to every client,
/// `circuit_breakers`, `backend_rate_limit`, `slow_start` and `warmup` to every backend group,
/// `admission_control` and `rate_limit` to the balancer). `(name: "none")` adds nothing.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSpec {
    /// Shown in the variant's label: `protection=<name>`.
    pub name: String,
    /// Envoy cluster thresholds for every backend group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breakers: Option<CircuitBreakersSpec>,
    /// A token bucket in front of every backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend_rate_limit: Option<RateLimitSpec>,
    /// Slow start for every backend group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_start: Option<SlowStartSpec>,
    /// Warm-up for every backend group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupSpec>,
    /// The balancer's admission control.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_control: Option<AdmissionControlSpec>,
    /// A token bucket in front of the balancer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// A circuit breaker in every client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<ClientBreakerSpec>,
    /// Adaptive throttling in every client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    /// An adaptive concurrency limit in front of every backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<super::ConcurrencySpec>,
}

impl ProtectionSpec {
    /// Adds its mechanisms to `stack` (replacing those the stack sets of the same kind).
    pub fn apply(&self, stack: &mut super::StackSpec) {
        for b in &mut stack.backends {
            b.circuit_breakers = self.circuit_breakers.or(b.circuit_breakers);
            b.rate_limit = self.backend_rate_limit.or(b.rate_limit);
            b.slow_start = self.slow_start.or(b.slow_start);
            b.warmup = self.warmup.or(b.warmup);
            b.concurrency = self.concurrency.or(b.concurrency);
        }
        for c in &mut stack.clients {
            c.breaker = self.breaker.or(c.breaker);
            c.throttle = self.throttle.or(c.throttle);
        }
        let balancer = &mut stack.balancer;
        balancer.admission_control = self.admission_control.or(balancer.admission_control);
        balancer.rate_limit = self.rate_limit.or(balancer.rate_limit);
    }

    /// Every problem with its mechanisms, with fields as the file writes them.
    pub fn problems(&self) -> Vec<stacksim_model::Invalid> {
        let mut p = Vec::new();
        let mut add = |field: &str, problems: Vec<stacksim_model::Invalid>| {
            p.extend(problems.into_iter().map(|i| i.within(field)));
        };
        if let Some(x) = &self.circuit_breakers {
            add("circuit_breakers", x.model().problems());
        }
        if let Some(x) = &self.backend_rate_limit {
            add("backend_rate_limit", x.model().problems());
        }
        if let Some(x) = &self.slow_start {
            add("slow_start", x.model().problems());
        }
        if let Some(x) = &self.warmup {
            add("warmup", x.model().problems());
        }
        if let Some(x) = &self.concurrency {
            add("concurrency", x.problems());
        }
        if let Some(x) = &self.admission_control {
            add("admission_control", x.model().problems());
        }
        if let Some(x) = &self.rate_limit {
            add("rate_limit", x.model().problems());
        }
        if let Some(x) = &self.breaker {
            add("breaker", x.model().problems());
        }
        if let Some(x) = &self.throttle {
            add("throttle", x.model().problems());
        }
        p
    }
}
