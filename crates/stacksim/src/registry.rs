//! Policies by name: the built-ins, and the ones a library user registers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use stacksim_model::Policy;
use stacksim_model::policy::{LeastConnections, Random, RandomChoices, RoundRobin};

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
        f.debug_struct("PolicyRegistry")
            .field("custom", &self.custom.keys().collect::<Vec<_>>())
            .finish()
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
            PolicySpec::Random => Box::new(Random::new()),
            PolicySpec::LeastConnections => Box::new(LeastConnections::new()),
            PolicySpec::PowerOfTwoChoices => Box::new(RandomChoices::power_of_two()),
            PolicySpec::RandomChoices(n) => Box::new(RandomChoices::new(*n)),
            PolicySpec::Custom(name) => match self.custom.get(name) {
                Some(factory) => factory(),
                None => {
                    return Err(UnknownPolicy {
                        name: name.clone(),
                        registered: self.custom_names(),
                    });
                }
            },
        })
    }
}
