#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod arrivals;
mod backend;
mod balancer;
pub mod check;
pub mod classes;
mod client;
mod database;
pub mod fleet;
pub mod health;
mod human_duration;
pub mod keys;
pub mod metrics;
pub mod overload;
pub mod policy;
mod recorder;
mod request;
pub mod retry;
pub mod series;
pub mod service;
pub mod stack;
mod summary;
pub mod timeline;
pub mod topology;

use std::time::Duration;

pub use arrivals::Arrivals;
pub use backend::{BackendConfig, Degradation, QueueLimit};
pub use check::Invalid;
pub use classes::{Priority, RequestClass, Shed};
pub use client::ClientConfig;
pub use database::DatabaseConfig;
pub use fleet::{Amount, FleetConfig, FleetSummary, FleetWindow, Hpa, HpaMetric};
pub use health::{ActiveCheck, CheckKind, HealthConfig, OutlierDetection};
pub use human_duration::{DurationError, HumanDuration, within_clock};
pub use keys::Users;
pub use overload::hedge::HedgePolicy;
pub use overload::{
    AdmissionControl, BreakerState, CircuitBreakers, ClientBreaker, RateLimit, SlowStart, Throttle, Warmup,
};
pub use policy::{BackendState, Feedback, Policy, RequestInfo};
pub use recorder::Observe;
pub use retry::{RetryBudget, RetryPolicy, RetryThrottling};
pub use series::{BackendWindow, ClassWindow, OverloadCounts, OverloadWindow, Window};
pub use service::ServiceTime;
pub use stack::{
    AttemptLog, AttemptOutcome, AttemptRecord, RunControl, RunEnd, RunParams, StackConfig, WebStack,
    simulate, simulate_controlled, simulate_copies, simulate_with,
};
pub use summary::{
    BackendSummary, ClassSummary, DatabaseSummary, LatencySummary, OverloadSummary, RunSummary,
};
pub use timeline::{Action, TimedAction};
pub use topology::{Connections, Split, Subset, Topology, TopologySummary, ZoneAware};

/// A stack that cannot be simulated as configured.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ModelError {
    /// An arrival rate that is not a positive finite number of requests per second.
    #[error("arrival rate must be a positive, finite number of requests per second, not {0}")]
    InvalidRate(f64),
    /// A user population that cannot be sampled (no users, or a bad Zipf exponent).
    #[error("invalid user population: {0}")]
    InvalidUsers(String),
    /// Service-time parameters the distribution does not accept.
    #[error("invalid service time {0}")]
    InvalidServiceTime(String),
    /// Arrival-process parameters that make no sense.
    #[error("invalid arrivals: {0}")]
    InvalidArrivals(String),
    /// Nothing sends requests.
    #[error("the stack has no clients")]
    NoClients,
    /// Nothing serves requests.
    #[error("the stack has no backends")]
    NoBackends,
    /// A parameter outside its range: the field (like `backends[2].service.mean`) and what
    /// would be valid.
    #[error("{0}")]
    Invalid(Invalid),
    /// The run was given a different number of policy copies than its balancer tier needs
    /// ([`StackConfig::policy_copies`]).
    #[error(
        "the balancer tier needs {needed} copies of the policy, one per instance and host set; {given} given"
    )]
    PolicyCopies {
        /// Copies needed.
        needed: usize,
        /// Copies given.
        given: usize,
    },
    /// The warm-up would leave nothing to measure.
    #[error("warm-up ({warmup:?}) must be shorter than the duration ({duration:?})")]
    WarmupTooLong {
        /// The warm-up asked for.
        warmup: Duration,
        /// The run's duration.
        duration: Duration,
    },
}
