//! The experiment-file format: types that mirror the RON text one to one.
//!
//! These are schema types, kept apart from the runtime types of `stacksim-model`; see
//! [`crate::build`] for the translation. Every struct denies unknown fields, so a typo is an
//! error with its line and column.

use std::fmt;
use std::time::Duration;

mod classes;
mod concurrency;
mod discipline;
mod fleet;
mod hedge;
mod overload;
mod policy;
mod replay;
mod slo;
mod topology;
mod warmup;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use classes::{ClassSpec, PrioritySpec, ShedSpec};
pub use concurrency::ConcurrencySpec;
pub use discipline::DisciplineSpec;
pub use fleet::{AmountSpec, AutoscaleSpec, HpaMetricSpec, ScaleDownSpec, ScaleUpSpec};
pub use hedge::{HedgeSpec, RetryThrottlingSpec};
pub use overload::{
    AdmissionControlSpec, CircuitBreakersSpec, ClientBreakerSpec, ProtectionSpec, RateLimitSpec,
    SlowStartSpec, ThrottleSpec, WarmupSpec,
};
pub(crate) use policy::ron_extensions;
pub use policy::{CustomSpec, PolicySpec};
pub use replay::{
    ActionSpec, AlertMetric, AlertSpec, At, CheckKindSpec, CheckSpec, DatabaseSpec, DegradationSpec,
    HealthSpec, ObserveSpec, OutlierSpec, RetrySpec, TimeError, TimelineEntry, Timestamp, action_label,
};
pub use slo::{Objective, Slo, SloError};
pub use stacksim_model::HumanDuration;
pub use topology::{ConnectionsSpec, SplitSpec, SubsetSpec, ZoneAwareSpec};
pub use warmup::Warmup;

/// One experiment: a stack, how long to run it, with which seed, how many times, and which
/// variants to compare.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Experiment {
    /// Name, echoed in reports.
    pub name: String,
    /// Master seed; replication seeds derive from it.
    pub seed: u64,
    /// Simulated time per run, warm-up included.
    pub duration: HumanDuration,
    /// Initial simulated time excluded from every statistic, or `"auto"` to choose it with
    /// MSER-5. Default: none.
    #[serde(default)]
    pub warmup: Warmup,
    /// Independent runs per variant, for confidence intervals. Default: 1.
    #[serde(default = "one")]
    pub replications: u32,
    /// The web stack: written inline, or the name of a stack file (under `models/`), relative
    /// to the experiment file.
    pub stack: StackRef,
    /// Axes to vary; the variants are their cartesian product. Default: none (one variant).
    #[serde(default)]
    pub sweep: Vec<SweepAxis>,
    /// The variant the others are compared with, by label (like `"policy=RoundRobin"`).
    /// Default: the first variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<String>,
    /// Wall-clock time of the run's start, like `"2024-03-08T13:00:00Z"`: timeline entries,
    /// reports and plots may then use clock times. Default: none (offsets only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<Timestamp>,
    /// Actions at given times: misconfigurations, faults, fixes. Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub timeline: Vec<TimelineEntry>,
    /// Time series and users affected. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observe: Option<ObserveSpec>,
    /// Service-level objectives every variant should meet, like `"p99<250ms,errors<0.1%"`:
    /// `stacksim run` exits with 1 when a variant misses them (the upper end of a metric's
    /// 95% interval beyond its limit). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slo: Option<Slo>,
    /// Alert rules evaluated on the time series (they need `observe`). Default: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub alerts: Vec<AlertSpec>,
}

fn one() -> u32 {
    1
}

/// Clients, balancer and backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StackSpec {
    /// Sources of requests.
    pub clients: Vec<ClientSpec>,
    /// The load balancer in front of the backends.
    pub balancer: BalancerSpec,
    /// Backend groups, in balancer order.
    pub backends: Vec<BackendSpec>,
    /// The database behind the backends. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<DatabaseSpec>,
    /// Health checks and outlier ejection. Default: none (every backend presumed healthy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<HealthSpec>,
}

/// Where an experiment's stack is: written inline, or in a stack file.
// Not boxed: an experiment holds one, and `StackRef::Inline(stack)` reads as the file does.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum StackRef {
    /// `stack: (clients: [...], balancer: (...), backends: [...])`.
    Inline(StackSpec),
    /// `stack: "../models/web.ron"`: a stack file, relative to the experiment file.
    File(String),
}

impl StackRef {
    /// The stack, if it is written inline.
    pub fn inline(&self) -> Option<&StackSpec> {
        match self {
            StackRef::Inline(stack) => Some(stack),
            StackRef::File(_) => None,
        }
    }

    /// The stack, if it is written inline, for changing it.
    pub fn inline_mut(&mut self) -> Option<&mut StackSpec> {
        match self {
            StackRef::Inline(stack) => Some(stack),
            StackRef::File(_) => None,
        }
    }
}

impl From<StackSpec> for StackRef {
    fn from(stack: StackSpec) -> Self {
        StackRef::Inline(stack)
    }
}

impl Serialize for StackRef {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            StackRef::Inline(stack) => stack.serialize(serializer),
            StackRef::File(file) => serializer.serialize_str(file),
        }
    }
}

/// Reads `stack:` as either an inline stack or the name of a stack file.
impl<'de> Deserialize<'de> for StackRef {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct StackOrFile;
        impl<'de> serde::de::Visitor<'de> for StackOrFile {
            type Value = StackRef;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a stack, like (clients: [...], balancer: (...), backends: [...]), or a stack file name, like \"models/web.ron\"")
            }
            fn visit_str<E: serde::de::Error>(self, file: &str) -> Result<StackRef, E> {
                Ok(StackRef::File(file.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<StackRef, A::Error> {
                StackSpec::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(StackRef::Inline)
            }
        }
        deserializer.deserialize_any(StackOrFile)
    }
}

impl StackSpec {
    /// Clients behind a balancer with `policy`, in front of `backends`; no database or health
    /// checks.
    pub fn new(clients: Vec<ClientSpec>, policy: PolicySpec, backends: Vec<BackendSpec>) -> Self {
        StackSpec { clients, balancer: BalancerSpec::new(policy), backends, database: None, health: None }
    }
}

/// A source of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Unique name; also names the client's random streams.
    pub name: String,
    /// When requests are sent.
    pub arrivals: ArrivalsSpec,
    /// How many distinct users send them (≥ 1); each request carries one user's key, which
    /// hash-based policies route on. Default: none, and every request gets a fresh key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u64>,
    /// Zipf exponent of user popularity (≥ 0; needs `users`): user `k` sends in proportion to
    /// `1 / (k + 1)^user_skew`. Default: 0, every user equally often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_skew: Option<f64>,
    /// The client gives up on an attempt after this long. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// How failed and timed-out attempts are retried. Default: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySpec>,
    /// Hedged requests, gRPC `hedgingPolicy`; not with `retry`. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge: Option<HedgeSpec>,
    /// gRPC `retryThrottling` of its retries or hedges. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_throttling: Option<RetryThrottlingSpec>,
    /// Client-side circuit breaker (resilience4j). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breaker: Option<ClientBreakerSpec>,
    /// Adaptive throttling (SRE book). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<ThrottleSpec>,
    /// The zone its requests come from. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// The kinds of request it sends, each drawn by weight, with its own service-time
    /// multiplier and priority: `[(name: "search", weight: 0.2, service_scale: 5.0, priority:
    /// High)]`. Default: none (one kind, priority `Normal`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<ClassSpec>,
}

/// Open-loop arrival process.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ArrivalsSpec {
    /// Poisson arrivals at `rate_per_s` requests per second.
    Poisson {
        /// Mean rate [requests·s⁻¹], > 0.
        rate_per_s: f64,
    },
    /// Evenly spaced arrivals at `rate_per_s` requests per second.
    Deterministic {
        /// Rate [requests·s⁻¹], > 0.
        rate_per_s: f64,
    },
    /// Poisson arrivals whose rate follows a schedule: `(time, rate_per_s)` points, stepping
    /// at each point or, with `linear: true`, moving linearly between them.
    Schedule {
        /// `(at, rate_per_s)` in time order; times as in the timeline (`"14:00"`, `"90m"`).
        points: Vec<(At, f64)>,
        /// Interpolate linearly between points. Default: steps.
        #[serde(default)]
        linear: bool,
    },
    /// Replay of a CSV of arrival times (column `time`: seconds from the start, or RFC 3339
    /// timestamps with the experiment's `start`), optionally with a key column.
    Trace {
        /// The CSV file, relative to the experiment file.
        file: String,
        /// Column with each request's user or session key. Default: none.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key_column: Option<String>,
    },
    /// Closed loop: `users` users who each send, wait for the answer, think, and send again.
    Closed {
        /// Users in the loop.
        users: u32,
        /// Mean (exponential) think time.
        think: HumanDuration,
    },
}

/// The load balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerSpec {
    /// How it picks a backend for each request.
    pub policy: PolicySpec,
    /// Envoy admission control: rejects with a probability that grows as the success rate
    /// falls; each balancer instance keeps its own window. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_control: Option<AdmissionControlSpec>,
    /// A token bucket in front of each balancer instance: 429 when empty. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Independent balancer instances, each with its own policy state and view. Default: 1.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub instances: u32,
    /// How requests reach the instances. Default: `Even`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub split: SplitSpec,
    /// Which backends each instance connects to. Default: `All`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub subset: SubsetSpec,
    /// Per request or per connection. Default: `PerRequest`.
    #[serde(default, skip_serializing_if = "is_default")]
    pub connections: ConnectionsSpec,
    /// Envoy zone-aware routing. Default: off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone_aware: Option<ZoneAwareSpec>,
    /// Envoy's priority overprovisioning factor. Default: 1.4.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overprovisioning: Option<f64>,
    /// Round trip added to a response that crosses zones. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cross_zone_latency: Option<HumanDuration>,
}

impl BalancerSpec {
    /// A single balancer picking per request with `policy`: every topology field at its default.
    pub fn new(policy: PolicySpec) -> Self {
        BalancerSpec {
            policy,
            admission_control: None,
            rate_limit: None,
            instances: 1,
            split: SplitSpec::default(),
            subset: SubsetSpec::default(),
            connections: ConnectionsSpec::default(),
            zone_aware: None,
            overprovisioning: None,
            cross_zone_latency: None,
        }
    }

    /// The model's balancer tier.
    pub fn topology(&self) -> stacksim_model::Topology {
        topology::topology(
            self.instances,
            self.split,
            self.subset,
            self.connections,
            self.zone_aware,
            self.overprovisioning,
            self.cross_zone_latency,
        )
    }
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

fn is_default<T: Default + PartialEq>(value: &T) -> bool {
    *value == T::default()
}

/// A group of identical backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackendSpec {
    /// Name; with `replicas` > 1 the backends are `name-0`, `name-1`, ...
    pub name: String,
    /// How many identical backends. Default: 1.
    #[serde(default = "one")]
    pub replicas: u32,
    /// Requests served at once by each backend, ≥ 1.
    pub workers: u32,
    /// Waiting room in front of the workers.
    pub queue: QueueSpec,
    /// Time a worker spends on one request.
    pub service: ServiceSpec,
    /// Balancer weight of every replica. Default: 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    /// Balancer weight per replica (instead of `weight`), one per replica.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<Vec<u32>>,
    /// A request that waited this long in the queue is answered 503 (HAProxy `timeout queue`).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_timeout: Option<HumanDuration>,
    /// Service slows as the backend fills up. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub degradation: Option<DegradationSpec>,
    /// Queue discipline: `Fifo`, `Lifo`, `AdaptiveLifo` or `CoDel(target:, interval:)`.
    /// Default: `Fifo`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discipline: Option<DisciplineSpec>,
    /// Not in the balancer's configuration at the start (an `Add` action brings it in).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
    /// Envoy circuit-breaking thresholds of the group (counted over all its replicas).
    /// Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breakers: Option<CircuitBreakersSpec>,
    /// A token bucket in front of each replica: 429 when empty. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitSpec>,
    /// Envoy slow start after a replica joins or restarts. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow_start: Option<SlowStartSpec>,
    /// Slower service after a replica's process starts. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warmup: Option<WarmupSpec>,
    /// An adaptive concurrency limit in front of each replica: `Gradient(...)` (Envoy),
    /// `Vegas()` or `Aimd()` (Netflix concurrency-limits). Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencySpec>,
    /// Its autoscaler: `Hpa(metric: Utilization, target: 0.75, min: 4, max: 40, ...)`.
    /// Default: none (the replica count is fixed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscale: Option<AutoscaleSpec>,
    /// A new pod's time from scheduled to started (image pull, boot). Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provision: Option<HumanDuration>,
    /// A started pod's time until its readiness probe passes and it is routable. Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<HumanDuration>,
    /// How long a removed pod drains (no new requests, in-flight ones finish) before it is
    /// killed. Default: 30s, Kubernetes' `terminationGracePeriodSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_grace: Option<HumanDuration>,
    /// The zone its replicas run in. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zone: Option<String>,
    /// Envoy priority level of its replicas: 0 first, higher levels as failover. Default: 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    /// Priority shedding: `(queue_above: 50, priority_below: High)` answers requests of the
    /// classes below `High` 503 at once while more than 50 wait. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shed: Option<ShedSpec>,
}

/// A backend's waiting room.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum QueueSpec {
    /// At most `n` requests wait; one arriving to a full queue is rejected at once with 503.
    Bounded(u32),
    /// No limit (`stacksim check` warns when load can exceed capacity).
    Unbounded,
}

/// A service-time distribution.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ServiceSpec {
    /// Exponential with this mean.
    Exponential {
        /// Mean, > 0.
        mean: HumanDuration,
    },
    /// Always exactly this long.
    Constant(HumanDuration),
    /// Log-normal with this median; `sigma` is the standard deviation of the log.
    LogNormal {
        /// Median, > 0.
        median: HumanDuration,
        /// Standard deviation of ln T, ≥ 0.
        sigma: f64,
    },
    /// Gamma with this mean and coefficient of variation.
    Gamma {
        /// Mean, > 0.
        mean: HumanDuration,
        /// Standard deviation over mean, > 0.
        cv: f64,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Lower bound.
        min: HumanDuration,
        /// Upper bound, ≥ `min`.
        max: HumanDuration,
    },
    /// Pareto: `P(T > t) = (scale/t)^shape` for t ≥ scale.
    Pareto {
        /// Minimum, > 0.
        scale: HumanDuration,
        /// Tail index, > 0.
        shape: f64,
    },
}

impl ServiceSpec {
    /// The same distribution with every time multiplied by `factor` (shape parameters kept);
    /// times too long for the clock saturate at its limit, and a negative or NaN factor gives
    /// zero (validation refuses both).
    pub fn scaled(&self, factor: f64) -> ServiceSpec {
        let scale = |d: &HumanDuration| {
            HumanDuration(stacksim_engine::scale_span(d.0, factor.max(0.0)).unwrap_or_default())
        };
        match self {
            ServiceSpec::Exponential { mean } => ServiceSpec::Exponential { mean: scale(mean) },
            ServiceSpec::Constant(d) => ServiceSpec::Constant(scale(d)),
            ServiceSpec::LogNormal { median, sigma } => {
                ServiceSpec::LogNormal { median: scale(median), sigma: *sigma }
            }
            ServiceSpec::Gamma { mean, cv } => ServiceSpec::Gamma { mean: scale(mean), cv: *cv },
            ServiceSpec::Uniform { min, max } => ServiceSpec::Uniform { min: scale(min), max: scale(max) },
            ServiceSpec::Pareto { scale: s, shape } => ServiceSpec::Pareto { scale: scale(s), shape: *shape },
        }
    }
}

/// One axis of a sweep. The variants of an experiment are the cartesian product of its axes,
/// in file order, the last axis varying fastest. Axes that change backends apply to every
/// backend group, or only to the one named by `backend`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SweepAxis {
    /// Run the stack once behind each of these policies.
    Policy(Vec<PolicySpec>),
    /// Total arrival rate [requests·s⁻¹], as a list (`values`) or a range (`from`, `to`,
    /// `step`, both ends included). Every client's rate is scaled in proportion.
    Rate {
        /// Rates to try.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        values: Option<Vec<f64>>,
        /// First rate of a range.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        from: Option<f64>,
        /// Last rate of a range (included when a whole number of steps from `from`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<f64>,
        /// Step of a range, > 0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<f64>,
    },
    /// Replicas per backend group.
    Replicas {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Replica counts to try, each ≥ 1.
        values: Vec<u32>,
    },
    /// Workers per backend.
    Workers {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Worker counts to try, each ≥ 1.
        values: Vec<u32>,
    },
    /// Queue limits.
    Queue {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Queues to try.
        values: Vec<QueueSpec>,
    },
    /// Per-replica weights of one backend group.
    Weights {
        /// The backend group (may be omitted when there is only one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Weight lists to try, each with one weight per replica.
        values: Vec<Vec<u32>>,
    },
    /// Overload protection: the stack once with each named set of mechanisms, added to every
    /// backend group and every client (and the balancer) on top of what the stack configures.
    Protection(Vec<ProtectionSpec>),
    /// Service times multiplied by a factor (1.0 = as configured; 2.0 = twice as slow).
    ServiceScale {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Factors to try, each > 0.
        values: Vec<f64>,
    },
    /// The autoscaler's target (of autoscaled groups).
    Target {
        /// Only this backend group (default: every autoscaled group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Targets to try, each in the autoscaler metric's range.
        values: Vec<f64>,
    },
    /// The autoscaler's `min` replicas (of autoscaled groups): the warm pods that stand by.
    /// The group starts with that many.
    MinReplicas {
        /// Only this backend group (default: every autoscaled group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Minimums to try, each ≥ 1 and at most the group's `max`.
        values: Vec<u32>,
    },
    /// The time a new pod takes to provision (scheduled → started).
    Provision {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Provision times to try.
        values: Vec<HumanDuration>,
    },
    /// Queue disciplines (issue 12): `Discipline(values: [Fifo, CoDel()])`.
    Discipline {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Disciplines to try.
        values: Vec<DisciplineSpec>,
    },
    /// Every client's gRPC retry throttling (issue 12), `None` for none:
    /// `RetryThrottling(values: [None, Some((max_tokens: 10, token_ratio: 0.1))])`.
    RetryThrottling {
        /// Settings to try.
        values: Vec<Option<RetryThrottlingSpec>>,
    },
    /// Priority shedding of backend groups (issue 12), `None` for none:
    /// `Shed(values: [None, Some((queue_above: 20, priority_below: High))])`.
    Shed {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Settings to try.
        values: Vec<Option<ShedSpec>>,
    },
    /// Balancer instances (`balancer.instances`), each ≥ 1.
    Instances(Vec<u32>),
    /// How requests travel to backends (`balancer.connections`).
    Connections(Vec<ConnectionsSpec>),
    /// Zone-aware routing off (`false`) or on (`true`: the balancer's `zone_aware`, or
    /// Envoy's defaults).
    ZoneAware(Vec<bool>),
}

impl SweepAxis {
    /// The rates of a `Rate` axis: its `values`, or the range `from..=to` by `step`.
    pub fn rates(&self) -> Vec<f64> {
        match self {
            SweepAxis::Rate { values: Some(values), .. } => values.clone(),
            SweepAxis::Rate { from: Some(from), to: Some(to), step: Some(step), .. } if *step > 0.0 => {
                // Whole steps from `from`, tolerating rounding at the top end.
                let steps = ((to - from) / step + 1e-9).floor();
                if steps.is_finite() && steps >= 0.0 {
                    (0..=steps as usize).map(|i| from + step * i as f64).collect()
                } else {
                    Vec::new()
                }
            }
            _ => Vec::new(),
        }
    }
}

impl fmt::Display for QueueSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueSpec::Bounded(n) => write!(f, "Bounded({n})"),
            QueueSpec::Unbounded => f.write_str("Unbounded"),
        }
    }
}

impl ClientSpec {
    /// A client called `name` with these arrivals and every optional field at its default.
    pub fn new(name: impl Into<String>, arrivals: ArrivalsSpec) -> Self {
        ClientSpec {
            name: name.into(),
            arrivals,
            users: None,
            user_skew: None,
            timeout: None,
            retry: None,
            hedge: None,
            retry_throttling: None,
            breaker: None,
            throttle: None,
            zone: None,
            classes: Vec::new(),
        }
    }
}

impl BackendSpec {
    /// One backend called `name`, with every optional field at its default (one replica,
    /// weight 1).
    pub fn new(name: impl Into<String>, workers: u32, queue: QueueSpec, service: ServiceSpec) -> Self {
        BackendSpec {
            name: name.into(),
            replicas: 1,
            workers,
            queue,
            service,
            weight: None,
            weights: None,
            queue_timeout: None,
            degradation: None,
            discipline: None,
            standby: false,
            circuit_breakers: None,
            rate_limit: None,
            slow_start: None,
            warmup: None,
            concurrency: None,
            autoscale: None,
            provision: None,
            readiness: None,
            termination_grace: None,
            zone: None,
            priority: None,
            shed: None,
        }
    }
}

impl Experiment {
    /// An experiment called `name` running `stack` for `duration`, with seed 1, no warm-up,
    /// one replication and no sweep; set the other fields as needed.
    pub fn new(name: impl Into<String>, stack: StackSpec, duration: Duration) -> Self {
        Experiment {
            name: name.into(),
            seed: 1,
            duration: HumanDuration(duration),
            warmup: Warmup::default(),
            replications: 1,
            stack: StackRef::Inline(stack),
            sweep: Vec::new(),
            baseline: None,
            start: None,
            timeline: Vec::new(),
            observe: None,
            slo: None,
            alerts: Vec::new(),
        }
    }
}

/// Constructors and builders, so that an experiment written in Rust is as short as its RON.
///
/// ```
/// use std::time::Duration;
/// use stacksim::spec::*;
///
/// let ms = Duration::from_millis;
/// let experiment = Experiment::new(
///     "quickstart",
///     StackSpec::new(
///         vec![ClientSpec::new("users", ArrivalsSpec::poisson(320.0))],
///         PolicySpec::RoundRobin,
///         vec![BackendSpec::new("app", 8, QueueSpec::Bounded(100), ServiceSpec::exponential(ms(100))).replicas(5)],
///     ),
///     Duration::from_secs(3600),
/// )
/// .seed(1)
/// .warmup(Duration::from_secs(300))
/// .replications(5)
/// .sweep(SweepAxis::policies([PolicySpec::RoundRobin, PolicySpec::LeastConnections]));
/// assert_eq!(experiment.replications, 5);
/// ```
impl Experiment {
    /// With master seed `seed`.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// With `replications` runs per variant.
    pub fn replications(mut self, replications: u32) -> Self {
        self.replications = replications;
        self
    }

    /// With a warm-up: a [`Duration`], or [`Warmup::Auto`].
    pub fn warmup(mut self, warmup: impl Into<crate::warmup::Warmup>) -> Self {
        self.warmup = warmup.into();
        self
    }

    /// With one more sweep axis (the last added varies fastest).
    pub fn sweep(mut self, axis: SweepAxis) -> Self {
        self.sweep.push(axis);
        self
    }
}

impl ClientSpec {
    /// With a population of `users` users (keys `0..users`), all equally active.
    pub fn users(mut self, users: u64) -> Self {
        self.users = Some(users);
        self
    }

    /// With Zipf popularity of exponent `skew` over its users.
    pub fn user_skew(mut self, skew: f64) -> Self {
        self.user_skew = Some(skew);
        self
    }

    /// Giving up on an attempt after `timeout`.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(HumanDuration(timeout));
        self
    }
}

impl BackendSpec {
    /// With `replicas` identical backends, named `name-0`, `name-1`, ...
    pub fn replicas(mut self, replicas: u32) -> Self {
        self.replicas = replicas;
        self
    }

    /// With balancer weight `weight` for every replica.
    pub fn weight(mut self, weight: u32) -> Self {
        self.weight = Some(weight);
        self
    }
}

impl ArrivalsSpec {
    /// Poisson arrivals at `rate_per_s` requests per second.
    pub fn poisson(rate_per_s: f64) -> Self {
        ArrivalsSpec::Poisson { rate_per_s }
    }

    /// A closed loop of `users` users thinking for `think` on average between requests.
    pub fn closed(users: u32, think: Duration) -> Self {
        ArrivalsSpec::Closed { users, think: HumanDuration(think) }
    }
}

impl ServiceSpec {
    /// Exponential service with mean `mean`.
    pub fn exponential(mean: Duration) -> Self {
        ServiceSpec::Exponential { mean: HumanDuration(mean) }
    }

    /// Log-normal service with median `median` and log standard deviation `sigma`.
    pub fn log_normal(median: Duration, sigma: f64) -> Self {
        ServiceSpec::LogNormal { median: HumanDuration(median), sigma }
    }

    /// Always exactly `time`.
    pub fn constant(time: Duration) -> Self {
        ServiceSpec::Constant(HumanDuration(time))
    }
}

impl SweepAxis {
    /// A `Rate` axis over these total rates [requests·s⁻¹]: `Rate(values: [..])`.
    pub fn rate_values(values: impl IntoIterator<Item = f64>) -> Self {
        SweepAxis::Rate { values: Some(values.into_iter().collect()), from: None, to: None, step: None }
    }

    /// A `Rate` axis from `from` to `to` (included) by `step`.
    pub fn rate_range(from: f64, to: f64, step: f64) -> Self {
        SweepAxis::Rate { values: None, from: Some(from), to: Some(to), step: Some(step) }
    }

    /// A `Policy` axis.
    pub fn policies(policies: impl IntoIterator<Item = PolicySpec>) -> Self {
        SweepAxis::Policy(policies.into_iter().collect())
    }

    /// A `Replicas` axis of the backend group `backend` (every group if `None`).
    pub fn replicas(backend: Option<&str>, values: impl IntoIterator<Item = u32>) -> Self {
        SweepAxis::Replicas { backend: backend.map(str::to_owned), values: values.into_iter().collect() }
    }
}
