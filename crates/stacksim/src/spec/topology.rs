//! The balancer tier as experiment files write it: instances, subsets, connections, zones.

use serde::{Deserialize, Serialize};
use stacksim_model::{Connections, HumanDuration, Split, Subset, Topology, ZoneAware};

/// How requests reach the balancer instances. Default: `Even`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SplitSpec {
    /// In turn (an L4 balancer in front, round robin).
    #[default]
    Even,
    /// By the request's user or session key: one downstream client, one instance.
    ByClient,
    /// Uniformly at random.
    Random,
}

/// Which backends each instance connects to. Default: `All`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum SubsetSpec {
    /// Every backend.
    #[default]
    All,
    /// `size` backends at random per instance.
    Random {
        /// Backends per instance, ≥ 1.
        size: u32,
    },
    /// Google SRE book deterministic subsetting (ch. 20).
    Deterministic {
        /// Backends per instance, ≥ 1.
        size: u32,
    },
}

/// Per request or per connection. Default: `PerRequest`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ConnectionsSpec {
    /// The policy picks per request.
    #[default]
    PerRequest,
    /// HTTP/1.1 keep-alive: one request at a time per connection.
    KeepAlive {
        /// Idle connections kept per instance, ≥ 1.
        per_instance: u32,
        /// Close after this many requests. Default: never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_requests: Option<u32>,
        /// Close at this age, ±10%. Default: never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age: Option<HumanDuration>,
    },
    /// HTTP/2 (gRPC): every request multiplexed over `per_instance` connections.
    Http2 {
        /// Connections per instance, ≥ 1. Default: 1.
        #[serde(default = "one")]
        per_instance: u32,
        /// Close at this age, ±10% (gRPC `MAX_CONNECTION_AGE`). Default: never.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_age: Option<HumanDuration>,
    },
}

/// As experiment files write it: `PerRequest`, `Http2(per_instance: 1, max_age: "30s")`.
impl std::fmt::Display for ConnectionsSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let age = |age: Option<HumanDuration>| age.map_or(String::new(), |a| format!(", max_age: \"{a}\""));
        match *self {
            ConnectionsSpec::PerRequest => f.write_str("PerRequest"),
            ConnectionsSpec::KeepAlive { per_instance, max_requests, max_age } => {
                let requests = max_requests.map_or(String::new(), |m| format!(", max_requests: {m}"));
                write!(f, "KeepAlive(per_instance: {per_instance}{requests}{})", age(max_age))
            }
            ConnectionsSpec::Http2 { per_instance, max_age } => {
                write!(f, "Http2(per_instance: {per_instance}{})", age(max_age))
            }
        }
    }
}

fn one() -> u32 {
    1
}

/// Envoy zone-aware routing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneAwareSpec {
    /// Below this many healthy backends in a priority level, no zone-aware routing.
    /// Default: 6 (Envoy's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_cluster_size: Option<u32>,
}

/// The model's balancer tier for a balancer spec's topology fields.
pub(crate) fn topology(
    instances: u32,
    split: SplitSpec,
    subset: SubsetSpec,
    connections: ConnectionsSpec,
    zone_aware: Option<ZoneAwareSpec>,
    overprovisioning: Option<f64>,
    cross_zone_latency: Option<HumanDuration>,
) -> Topology {
    Topology {
        instances,
        split: match split {
            SplitSpec::Even => Split::Even,
            SplitSpec::ByClient => Split::ByClient,
            SplitSpec::Random => Split::Random,
        },
        subset: match subset {
            SubsetSpec::All => Subset::All,
            SubsetSpec::Random { size } => Subset::Random { size },
            SubsetSpec::Deterministic { size } => Subset::Deterministic { size },
        },
        connections: match connections {
            ConnectionsSpec::PerRequest => Connections::PerRequest,
            ConnectionsSpec::KeepAlive { per_instance, max_requests, max_age } => {
                Connections::KeepAlive { per_instance, max_requests, max_age: max_age.map(|a| a.0) }
            }
            ConnectionsSpec::Http2 { per_instance, max_age } => {
                Connections::Http2 { per_instance, max_age: max_age.map(|a| a.0) }
            }
        },
        zone_aware: zone_aware.map(|z| ZoneAware {
            min_cluster_size: z.min_cluster_size.unwrap_or(ZoneAware::default().min_cluster_size),
        }),
        overprovisioning: overprovisioning.unwrap_or(Topology::DEFAULT_OVERPROVISIONING),
        cross_zone_latency: cross_zone_latency.map(|l| l.0),
    }
}
