//! The experiment-file format: types that mirror the RON text one to one.
//!
//! These are schema types, kept apart from the runtime types of `stacksim-model`; see
//! [`crate::build`] for the translation. Every struct denies unknown fields, so a typo is an
//! error with its line and column.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

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
    /// Initial simulated time excluded from every statistic. Default: none.
    #[serde(default)]
    pub warmup: HumanDuration,
    /// Independent runs per variant, for confidence intervals. Default: 1.
    #[serde(default = "one")]
    pub replications: u32,
    /// The web stack.
    pub stack: StackSpec,
    /// Axes to vary; the variants are their cartesian product. Default: none (one variant).
    #[serde(default)]
    pub sweep: Vec<SweepAxis>,
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
}

/// A source of requests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSpec {
    /// Unique name; also names the client's random streams.
    pub name: String,
    /// When requests are sent.
    pub arrivals: ArrivalsSpec,
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
}

/// The load balancer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalancerSpec {
    /// How it picks a backend for each request.
    pub policy: PolicySpec,
}

/// A balancing policy, by name. `stacksim policies` lists them with their semantics.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PolicySpec {
    /// Smooth weighted round robin (NGINX).
    RoundRobin,
    /// Weighted random.
    Random,
    /// Fewest in flight relative to weight, ties round robin (NGINX least_conn, HAProxy leastconn).
    LeastConnections,
    /// Two random backends, fewer in flight wins (Envoy least_request, choice_count 2).
    PowerOfTwoChoices,
    /// `n` random backends, fewest in flight wins (Envoy choice_count n, HAProxy random(n)).
    RandomChoices(u32),
    /// A policy registered by a library user under this name.
    Custom(String),
}

impl fmt::Display for PolicySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PolicySpec::RoundRobin => f.write_str("RoundRobin"),
            PolicySpec::Random => f.write_str("Random"),
            PolicySpec::LeastConnections => f.write_str("LeastConnections"),
            PolicySpec::PowerOfTwoChoices => f.write_str("PowerOfTwoChoices"),
            PolicySpec::RandomChoices(n) => write!(f, "RandomChoices({n})"),
            PolicySpec::Custom(name) => write!(f, "Custom({name:?})"),
        }
    }
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

/// One axis of a sweep.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum SweepAxis {
    /// Run the stack once behind each of these policies.
    Policy(Vec<PolicySpec>),
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
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        humantime::parse_duration(text).map(HumanDuration).map_err(|e| {
            format!("invalid duration {text:?} ({e}): write a number and a unit, like \"250ms\", \"90s\", \"5m\" or \"4h\"")
        })
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
