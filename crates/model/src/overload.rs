//! Overload control: the mechanisms real stacks use to contain overload, each following a
//! documented production implementation, cited where it is modelled.
//!
//! | mechanism | where | production source |
//! |---|---|---|
//! | [`SlowStart`] | balancer weight of a backend after it (re)joins | Envoy `slow_start_config` |
//! | [`Warmup`] | a backend's own service time after a (re)start | JIT/cache cold start (Finagle-style factor) |
//! | [`CircuitBreakers`] | per backend group (an Envoy cluster) | Envoy cluster `circuit_breakers` thresholds |
//! | [`ClientBreaker`] | per client | resilience4j / Hystrix circuit breaker |
//! | [`AdmissionControl`] | balancer | Envoy `admission_control` filter |
//! | [`Throttle`] | per client | Google SRE book, "Client-side throttling" |
//! | [`RateLimit`] | balancer, or per backend | Envoy local rate limit (token bucket) |
//! | [`Concurrency`] | per backend (its sidecar), over its attempts in flight | Envoy `adaptive_concurrency` gradient controller; Netflix concurrency-limits `VegasLimit`, `AIMDLimit` |
//! | [`hedge`] | per client | gRPC `hedgingPolicy` (gRFC A6), limited by gRPC retry throttling ([`crate::retry::RetryThrottling`]) |
//! | [`discipline`] | per backend: the order its queue is served in | FIFO, LIFO, Facebook adaptive LIFO and CoDel |
//! | [`Shed`](crate::classes::Shed) | per backend: requests of low priority refused past a queue mark | Google SRE book ch. 21, "Criticality" (see [`crate::classes`]) |
//!
//! None of them is on by default; a mechanism that is not configured is an `Option` checked
//! once per attempt, and changes no number of a run.

mod admission;
mod breaker;
mod circuit_breakers;
mod concurrency;
pub mod discipline;
pub mod hedge;
mod rate_limit;
mod slow_start;
mod window;

pub use admission::{AdmissionControl, Throttle};
pub(crate) use admission::{AdmissionState, ThrottleState};
pub(crate) use breaker::BreakerRuntime;
pub use breaker::{BreakerState, ClientBreaker};
pub use circuit_breakers::CircuitBreakers;
pub(crate) use circuit_breakers::ClusterBreakers;
pub use concurrency::{Aimd, Concurrency, Gradient, Vegas};
pub(crate) use concurrency::{BackendLimits, Sample};
pub use rate_limit::RateLimit;
pub(crate) use rate_limit::TokenBucket;
pub use slow_start::{SlowStart, Warmup};
pub(crate) use window::SlidingCounts;
