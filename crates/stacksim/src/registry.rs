//! Policies by name: the built-ins, and the ones a library user registers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use stacksim_model::Policy;
use stacksim_model::policy::{
    BoundedLoadHash, First, JoinIdleQueue, JoinShortestQueue, LeastConnections, LeastRequest,
    LeastResponseTime, Maglev, PeakEwma, Random, RandomChoices, RingHash, RoundRobin, SourceHash,
    StaticRoundRobin,
};

use crate::spec::PolicySpec;

/// A built-in policy: its name in experiment files, what it does, and whose semantics it
/// follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    /// How an experiment file names it.
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// The production implementation it matches.
    pub source: &'static str,
}

/// Every built-in policy, in the order `stacksim policies` lists them.
pub const BUILTIN_POLICIES: &[PolicyInfo] = &[
    PolicyInfo {
        name: "RoundRobin",
        summary: "smooth weighted round robin: interleaves backends in proportion to weight",
        source: "NGINX upstream round robin (weights 5:1:1 give a a b a c a a)",
    },
    PolicyInfo {
        name: "StaticRoundRobin",
        summary: "weighted round robin over a fixed map of weight slots, rebuilt on changes",
        source: "HAProxy balance static-rr (weights 5:1:1 give a a a b a a c)",
    },
    PolicyInfo {
        name: "Random",
        summary: "weighted random: backend i with probability weight_i / total weight",
        source: "HAProxy random(1), Envoy RANDOM",
    },
    PolicyInfo {
        name: "LeastConnections",
        summary: "fewest requests in flight per unit of weight; ties rotate round robin",
        source: "NGINX least_conn, HAProxy leastconn",
    },
    PolicyInfo {
        name: "JoinShortestQueue",
        summary: "scan every backend, fewest requests in flight wins (weights ignored); ties rotate",
        source: "JSQ (Winston 1977), the full-information benchmark for sampled policies",
    },
    PolicyInfo {
        name: "PowerOfTwoChoices",
        summary: "two random backends (with replacement), the one with fewer in flight wins",
        source: "Envoy LEAST_REQUEST (choice_count 2), HAProxy random(2)",
    },
    PolicyInfo {
        name: "RandomChoices(n)",
        summary: "n random backends (with replacement), the one with the fewest in flight wins",
        source: "Envoy LEAST_REQUEST choice_count n, HAProxy random(n)",
    },
    PolicyInfo {
        name: "LeastRequest(active_request_bias: 1.0, choice_count: 2)",
        summary: "equal weights: P2C on active requests; else EDF on weight / (active + 1)^bias",
        source: "Envoy LEAST_REQUEST with active_request_bias (weight 2, 4 active -> 0.4)",
    },
    PolicyInfo {
        name: "PeakEwma(decay: \"10s\")",
        summary: "two distinct random backends, lower peak-EWMA latency x (in flight + 1) wins",
        source: "Finagle p2cPeakEwma (also linkerd2-proxy / tower PeakEwma)",
    },
    PolicyInfo {
        name: "LeastResponseTime",
        summary: "lowest smoothed response time x (in flight + 1) / weight; ties weighted round robin",
        source: "NGINX Plus least_time (as documented; formula after Finagle/Envoy)",
    },
    PolicyInfo {
        name: "RingHash(entries_per_host: 100)",
        summary: "consistent hash ring on the request key; one of n leaving moves ~1/n of keys",
        source: "Ketama, Envoy RING_HASH",
    },
    PolicyInfo {
        name: "Maglev(table_size: 65537)",
        summary: "Maglev lookup table on the request key: even shares, minimal disruption",
        source: "Maglev (Eisenbud et al. 2016), Envoy MAGLEV weighted table (1:2 -> 21846/43691)",
    },
    PolicyInfo {
        name: "BoundedLoadHash(factor: 1.25)",
        summary: "ring hash, skipping backends above ceil(factor x their share of in-flight load)",
        source: "HAProxy hash-balance-factor (Mirrokni et al., consistent hashing with bounded loads)",
    },
    PolicyInfo {
        name: "SourceHash",
        summary: "hash of the request key modulo the available weight slots; remaps most keys on change",
        source: "HAProxy hash-type map-based, NGINX ip_hash",
    },
    PolicyInfo {
        name: "First(max_in_flight: n)",
        summary: "lowest-index backend with fewer than n in flight; if all full, the least loaded",
        source: "HAProxy balance first (n is maxconn)",
    },
    PolicyInfo {
        name: "JoinIdleQueue",
        summary: "a backend that reported idle if any (FIFO), else a uniformly random one",
        source: "Join-Idle-Queue (Lu et al. 2011)",
    },
    PolicyInfo {
        name: "Custom(\"name\")",
        summary: "a policy a library user registered under this name",
        source: "PolicyRegistry::register in the stacksim crate",
    },
];

type Factory = Arc<dyn Fn() -> Box<dyn Policy> + Send + Sync>;

/// Builds a fresh policy for every run: the built-ins, plus custom policies registered under
/// a name and selected in an experiment file as `Custom("name")`.
///
/// ```
/// use stacksim::{PolicyRegistry, spec::PolicySpec};
/// use stacksim_model::policy::RoundRobin;
///
/// let mut registry = PolicyRegistry::new();
/// registry.register("my-rr", || Box::new(RoundRobin::new()));
/// assert!(registry.build(&PolicySpec::Custom("my-rr".into())).is_ok());
/// assert!(registry.build(&PolicySpec::Custom("nope".into())).is_err());
/// ```
#[derive(Clone, Default)]
pub struct PolicyRegistry {
    custom: BTreeMap<String, Factory>,
}

impl fmt::Debug for PolicyRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PolicyRegistry").field("custom", &self.custom.keys().collect::<Vec<_>>()).finish()
    }
}

/// An experiment names a custom policy that nobody registered.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no policy is registered as {name:?}; registered: {}", if registered.is_empty() { "none".to_owned() } else { registered.join(", ") })]
pub struct UnknownPolicy {
    /// The name asked for.
    pub name: String,
    /// The names that are registered.
    pub registered: Vec<String>,
}

impl PolicyRegistry {
    /// A registry of the built-in policies only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` as `Custom(name)`, replacing any earlier policy of that name.
    pub fn register<F>(&mut self, name: impl Into<String>, factory: F) -> &mut Self
    where
        F: Fn() -> Box<dyn Policy> + Send + Sync + 'static,
    {
        self.custom.insert(name.into(), Arc::new(factory));
        self
    }

    /// The names of the registered custom policies, sorted.
    pub fn custom_names(&self) -> Vec<String> {
        self.custom.keys().cloned().collect()
    }

    /// Whether `spec` can be built.
    pub fn knows(&self, spec: &PolicySpec) -> bool {
        match spec {
            PolicySpec::Custom(name) => self.custom.contains_key(name),
            _ => true,
        }
    }

    /// A new policy as `spec` describes.
    pub fn build(&self, spec: &PolicySpec) -> Result<Box<dyn Policy>, UnknownPolicy> {
        Ok(match spec {
            PolicySpec::RoundRobin => Box::new(RoundRobin::new()),
            PolicySpec::StaticRoundRobin => Box::new(StaticRoundRobin::new()),
            PolicySpec::Random => Box::new(Random::new()),
            PolicySpec::LeastConnections => Box::new(LeastConnections::new()),
            PolicySpec::PowerOfTwoChoices => Box::new(RandomChoices::power_of_two()),
            PolicySpec::RandomChoices(n) => Box::new(RandomChoices::new(*n)),
            PolicySpec::LeastRequest { active_request_bias, choice_count } => {
                Box::new(LeastRequest::with(*active_request_bias, *choice_count))
            }
            PolicySpec::JoinShortestQueue => Box::new(JoinShortestQueue::new()),
            PolicySpec::PeakEwma { decay } => Box::new(PeakEwma::new(decay.0)),
            PolicySpec::LeastResponseTime => Box::new(LeastResponseTime::new()),
            PolicySpec::RingHash { entries_per_host } => Box::new(RingHash::new(*entries_per_host)),
            PolicySpec::Maglev { table_size } => Box::new(Maglev::new(*table_size)),
            PolicySpec::BoundedLoadHash { factor, entries_per_host } => {
                Box::new(BoundedLoadHash::with_entries(*factor, *entries_per_host))
            }
            PolicySpec::SourceHash => Box::new(SourceHash::new()),
            PolicySpec::First { max_in_flight } => Box::new(First::new(*max_in_flight)),
            PolicySpec::JoinIdleQueue => Box::new(JoinIdleQueue::new()),
            PolicySpec::Custom(name) => match self.custom.get(name) {
                Some(factory) => factory(),
                None => {
                    return Err(UnknownPolicy { name: name.clone(), registered: self.custom_names() });
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> PolicySpec {
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    /// Every built-in, as an experiment file writes it.
    const WRITTEN: &[&str] = &[
        "RoundRobin",
        "StaticRoundRobin",
        "Random",
        "LeastConnections",
        "JoinShortestQueue",
        "PowerOfTwoChoices",
        "RandomChoices(3)",
        "LeastRequest(active_request_bias: 0.5)",
        "LeastRequest(choice_count: 3)",
        "PeakEwma(decay: \"5s\")",
        "LeastResponseTime",
        "RingHash(entries_per_host: 40)",
        "Maglev(table_size: 5003)",
        "BoundedLoadHash(factor: 1.25)",
        "SourceHash",
        "First(max_in_flight: 8)",
        "JoinIdleQueue",
    ];

    #[test]
    fn every_builtin_parses_builds_and_prints_as_written() {
        let registry = PolicyRegistry::new();
        for text in WRITTEN {
            let spec = parse(text);
            assert_eq!(spec.to_string(), *text);
            assert!(registry.build(&spec).is_ok(), "{text}");
        }
    }

    #[test]
    fn parameters_default_as_documented() {
        assert_eq!(
            parse("LeastRequest()"),
            PolicySpec::LeastRequest { active_request_bias: 1.0, choice_count: 2 }
        );
        assert_eq!(parse("Maglev()").to_string(), "Maglev");
        assert_eq!(parse("Maglev()"), PolicySpec::Maglev { table_size: 65_537 });
        assert_eq!(parse("RingHash()").to_string(), "RingHash");
        assert_eq!(parse("PeakEwma()").to_string(), "PeakEwma");
        assert!(
            ron::from_str::<PolicySpec>("Maglev(table_sise: 5)").is_err(),
            "unknown parameters are errors"
        );
    }

    #[test]
    fn every_builtin_variant_is_listed() {
        // One line per built-in variant (RandomChoices and PowerOfTwoChoices are two), plus
        // Custom.
        let listed: Vec<&str> = BUILTIN_POLICIES.iter().map(|p| p.name.split('(').next().unwrap()).collect();
        for text in WRITTEN {
            let name = text.split('(').next().unwrap();
            assert!(listed.contains(&name), "{name} is not in BUILTIN_POLICIES");
        }
        assert!(listed.contains(&"Custom"));
        assert_eq!(BUILTIN_POLICIES.len(), 17);
    }
}
