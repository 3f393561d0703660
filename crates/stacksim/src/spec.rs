//! The experiment-file format: types that mirror the RON text one to one.
//!
//! These are schema types, kept apart from the runtime types of `stacksim-model`; see
//! [`crate::build`] for the translation. Every struct denies unknown fields, so a typo is an
//! error with its line and column.

use std::fmt;
use std::time::Duration;

mod replay;
mod slo;
mod warmup;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use replay::{
    ActionSpec, AlertMetric, AlertSpec, At, CheckKindSpec, CheckSpec, DatabaseSpec, DegradationSpec,
    HealthSpec, ObserveSpec, OutlierSpec, RetrySpec, TimeError, TimelineEntry, Timestamp, action_label,
};
pub use slo::{Objective, Slo, SloError};
use stacksim_model::policy::{Maglev, PeakEwma, RingHash};
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
        StackSpec { clients, balancer: BalancerSpec { policy }, backends, database: None, health: None }
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
}

/// A balancing policy, by name, with its parameters. `stacksim policies` lists them with their
/// semantics; the policy types in `stacksim_model::policy` document each in full.
///
/// Parameters with a default may be left out: `Maglev()` is `Maglev(table_size: 65537)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum PolicySpec {
    /// Smooth weighted round robin (NGINX).
    RoundRobin,
    /// Weighted round robin over a fixed map (HAProxy static-rr).
    StaticRoundRobin,
    /// Weighted random.
    Random,
    /// Fewest in flight relative to weight, ties round robin (NGINX least_conn, HAProxy leastconn).
    LeastConnections,
    /// Two random backends, fewer in flight wins (Envoy least_request, choice_count 2).
    PowerOfTwoChoices,
    /// `n` random backends, fewest in flight wins (Envoy choice_count n, HAProxy random(n)).
    RandomChoices(u32),
    /// Envoy least_request: P2C when weights are equal, else EDF on
    /// `weight / (active + 1)^active_request_bias`.
    LeastRequest {
        /// How strongly active requests lower a backend's weight, ≥ 0. Default: 1.0.
        #[serde(default = "default_active_request_bias")]
        active_request_bias: f64,
        /// Backends sampled per pick when all weights are equal, ≥ 1. Default: 2.
        #[serde(default = "default_choice_count")]
        choice_count: u32,
    },
    /// Full scan, fewest in flight (join the shortest queue).
    JoinShortestQueue,
    /// Peak-EWMA latency × (in flight + 1) over two random backends (Finagle).
    PeakEwma {
        /// Time over which latency history decays, > 0. Default: "10s".
        #[serde(default = "default_decay")]
        decay: HumanDuration,
    },
    /// Lowest average response time × (in flight + 1) / weight (NGINX Plus least_time).
    LeastResponseTime,
    /// Consistent hashing on a ring of points (Ketama, Envoy ring_hash).
    RingHash {
        /// Ring points per backend on average, ≥ 1. Default: 100.
        #[serde(default = "default_entries_per_host")]
        entries_per_host: u32,
    },
    /// Maglev consistent hashing (Google's Maglev, Envoy maglev).
    Maglev {
        /// Lookup-table entries, a prime. Default: 65537.
        #[serde(default = "default_table_size")]
        table_size: u32,
    },
    /// Consistent hashing with bounded loads (HAProxy hash-balance-factor).
    BoundedLoadHash {
        /// No backend takes more than `factor` × its share of the load, ≥ 1.0.
        factor: f64,
        /// Ring points per backend on average, ≥ 1. Default: 100.
        #[serde(default = "default_entries_per_host")]
        entries_per_host: u32,
    },
    /// Hash of the key modulo the available backends (HAProxy map-based, NGINX ip_hash).
    SourceHash,
    /// Lowest-index backend with a free slot (HAProxy first).
    First {
        /// Requests in flight at which a backend counts as full (HAProxy maxconn), ≥ 1.
        max_in_flight: u32,
    },
    /// Idle backends first, else random (Join-Idle-Queue).
    JoinIdleQueue,
    /// A policy registered by a library user under this name.
    Custom(String),
}

fn default_active_request_bias() -> f64 {
    1.0
}

fn default_choice_count() -> u32 {
    2
}

fn default_decay() -> HumanDuration {
    HumanDuration(PeakEwma::DEFAULT_DECAY)
}

fn default_entries_per_host() -> u32 {
    RingHash::DEFAULT_ENTRIES_PER_HOST
}

fn default_table_size() -> u32 {
    Maglev::DEFAULT_TABLE_SIZE
}

impl PolicySpec {
    /// Whether the policy routes on request keys (and so needs clients with `users` to mean
    /// anything).
    pub fn routes_on_keys(&self) -> bool {
        matches!(
            self,
            PolicySpec::RingHash { .. }
                | PolicySpec::Maglev { .. }
                | PolicySpec::BoundedLoadHash { .. }
                | PolicySpec::SourceHash
        )
    }
}

/// As written in experiment files, parameters that differ from their defaults only (so a
/// sweep's labels stay short): `RingHash(entries_per_host: 40)`, `Maglev`, `PeakEwma(decay: "5s")`.
impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::RoundRobin => f.write_str("RoundRobin"),
            PolicySpec::StaticRoundRobin => f.write_str("StaticRoundRobin"),
            PolicySpec::Random => f.write_str("Random"),
            PolicySpec::LeastConnections => f.write_str("LeastConnections"),
            PolicySpec::PowerOfTwoChoices => f.write_str("PowerOfTwoChoices"),
            PolicySpec::RandomChoices(n) => write!(f, "RandomChoices({n})"),
            PolicySpec::LeastRequest { active_request_bias, choice_count } => {
                let mut params = Vec::new();
                if *active_request_bias != default_active_request_bias() {
                    params.push(format!("active_request_bias: {active_request_bias:?}"));
                }
                if *choice_count != default_choice_count() {
                    params.push(format!("choice_count: {choice_count}"));
                }
                with_params(f, "LeastRequest", &params)
            }
            PolicySpec::JoinShortestQueue => f.write_str("JoinShortestQueue"),
            PolicySpec::PeakEwma { decay } => {
                let params =
                    if *decay == default_decay() { vec![] } else { vec![format!("decay: \"{decay}\"")] };
                with_params(f, "PeakEwma", &params)
            }
            PolicySpec::LeastResponseTime => f.write_str("LeastResponseTime"),
            PolicySpec::RingHash { entries_per_host } => {
                let params = if *entries_per_host == default_entries_per_host() {
                    vec![]
                } else {
                    vec![format!("entries_per_host: {entries_per_host}")]
                };
                with_params(f, "RingHash", &params)
            }
            PolicySpec::Maglev { table_size } => {
                let params = if *table_size == default_table_size() {
                    vec![]
                } else {
                    vec![format!("table_size: {table_size}")]
                };
                with_params(f, "Maglev", &params)
            }
            PolicySpec::BoundedLoadHash { factor, entries_per_host } => {
                let mut params = vec![format!("factor: {factor:?}")];
                if *entries_per_host != default_entries_per_host() {
                    params.push(format!("entries_per_host: {entries_per_host}"));
                }
                with_params(f, "BoundedLoadHash", &params)
            }
            PolicySpec::SourceHash => f.write_str("SourceHash"),
            PolicySpec::First { max_in_flight } => {
                write!(f, "First(max_in_flight: {max_in_flight})")
            }
            PolicySpec::JoinIdleQueue => f.write_str("JoinIdleQueue"),
            PolicySpec::Custom(name) => write!(f, "Custom({name:?})"),
        }
    }
}

fn with_params(f: &mut fmt::Formatter<'_>, name: &str, params: &[String]) -> fmt::Result {
    f.write_str(name)?;
    if !params.is_empty() {
        write!(f, "({})", params.join(", "))?;
    }
    Ok(())
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
    /// Not in the balancer's configuration at the start (an `Add` action brings it in).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub standby: bool,
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
    /// The same distribution with every time multiplied by `factor` (shape parameters kept).
    pub fn scaled(&self, factor: f64) -> ServiceSpec {
        let scale = |d: &HumanDuration| HumanDuration(d.0.mul_f64(factor.max(0.0)));
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
    /// Service times multiplied by a factor (1.0 = as configured; 2.0 = twice as slow).
    ServiceScale {
        /// Only this backend group (default: every group).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backend: Option<String>,
        /// Factors to try, each > 0.
        values: Vec<f64>,
    },
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

/// A span of time written as text: `"250ms"`, `"90s"`, `"5m"`, `"4h"`, `"1h 30m"`.
///
/// Parsed with the `humantime` crate; units are `ns`, `us`, `ms`, `s`, `m`, `h`, `d`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct HumanDuration(pub Duration);

impl fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_duration(self.0))
    }
}

impl std::str::FromStr for HumanDuration {
    type Err = TimeError;
    fn from_str(text: &str) -> Result<Self, TimeError> {
        let span = humantime::parse_duration(text)
            .map_err(|e| TimeError::Duration { text: text.to_owned(), reason: e.to_string() })?;
        replay::within_clock(text, span).map(HumanDuration)
    }
}

impl Serialize for HumanDuration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for HumanDuration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl ClientSpec {
    /// A client called `name` with these arrivals and every optional field at its default.
    pub fn new(name: impl Into<String>, arrivals: ArrivalsSpec) -> Self {
        ClientSpec { name: name.into(), arrivals, users: None, user_skew: None, timeout: None, retry: None }
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
            standby: false,
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

    /// With a warm-up: a [`Duration`], or [`Warmup::Auto`](crate::warmup::Warmup::Auto).
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
