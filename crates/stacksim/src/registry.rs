//! Policies by name: the built-ins of the policy catalog, and the ones a library user
//! registers.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use stacksim_model::Policy;
use stacksim_model::policy::catalog::{self, Context, Params, Severity};

use crate::locate::{FieldPath, Outline, without_type_names};
use crate::spec::{CustomSpec, PolicySpec};

/// One row of `stacksim policies`: how an experiment file writes a policy, what it does, and
/// whose semantics it follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PolicyInfo {
    /// How an experiment file writes it, with its parameters' defaults:
    /// `Maglev(table_size: 65537)`.
    pub name: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// The production implementation it matches.
    pub source: &'static str,
}

impl PolicyInfo {
    const fn of(info: &catalog::Info) -> Self {
        PolicyInfo { name: info.synopsis, summary: info.summary, source: info.source }
    }
}

const CUSTOM: PolicyInfo = PolicyInfo {
    name: "Custom(\"name\")",
    summary: "a policy a library user registered under this name",
    source: "PolicyRegistry::register in the stacksim crate",
};

/// Every built-in policy, in catalog order (the order `stacksim policies` lists them), then
/// `Custom`.
pub const BUILTIN_POLICIES: &[PolicyInfo] = &builtin_policies();

const fn builtin_policies() -> [PolicyInfo; catalog::BUILTINS.len() + 1] {
    let mut table = [CUSTOM; catalog::BUILTINS.len() + 1];
    let mut i = 0;
    while i < catalog::BUILTINS.len() {
        table[i] = PolicyInfo::of(catalog::BUILTINS[i].info());
        i += 1;
    }
    table
}

/// How a custom policy is made.
#[derive(Clone)]
enum Registration {
    /// Without parameters.
    Plain(Arc<dyn Fn() -> Box<dyn Policy> + Send + Sync>),
    /// From parameters read from the experiment file.
    WithParams(ReadParams),
}

/// Reads a custom policy's parameters as the type it was registered with.
type ReadParams = fn(&CustomSpec) -> Result<Box<dyn Params>, ron::error::SpannedError>;

fn read_params<P: Params + DeserializeOwned + 'static>(
    spec: &CustomSpec,
) -> Result<Box<dyn Params>, ron::error::SpannedError> {
    spec.read_params::<P>().map(|params| Box::new(params) as Box<dyn Params>)
}

/// Builds a fresh policy for every run: the built-ins, plus custom policies registered under
/// a name and selected in an experiment file as `Custom("name")`, or, for those registered
/// with parameters, `Custom(name: "name", params: (...))`.
///
/// ```
/// use stacksim::{PolicyRegistry, spec::PolicySpec};
/// use stacksim_model::policy::RoundRobin;
///
/// let mut registry = PolicyRegistry::new();
/// registry.register("my-rr", || Box::new(RoundRobin::new()));
/// assert!(registry.build(&PolicySpec::custom("my-rr")).is_ok());
/// assert!(registry.build(&PolicySpec::custom("nope")).is_err());
/// ```
///
/// [`register_with_params`](Self::register_with_params) shows a custom policy with
/// parameters.
#[derive(Clone, Default)]
pub struct PolicyRegistry {
    custom: BTreeMap<String, Registration>,
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

/// A policy cannot be built (an experiment that passed validation never gives this).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// A custom policy that nobody registered.
    #[error(transparent)]
    Unknown(#[from] UnknownPolicy),
    /// A custom policy's parameters that its registration cannot read, or parameters for one
    /// registered without.
    #[error("custom policy {name:?}: {message}")]
    Params {
        /// The policy's name.
        name: String,
        /// What is wrong with its parameters.
        message: String,
    },
}

/// Something wrong with a policy as written: where, relative to the policy (`table_size`,
/// `params.limit`, or the policy itself), how bad, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyProblem {
    /// The field, relative to the policy.
    pub at: FieldPath,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl PolicyProblem {
    fn error(at: FieldPath, message: impl Into<String>) -> Self {
        PolicyProblem { at, severity: Severity::Error, message: message.into() }
    }

    /// `problem`, found in the parameters at `params`.
    fn from_params(params: &FieldPath, problem: catalog::Problem) -> Self {
        let at = problem.param.map_or_else(FieldPath::root, |param| params.field(param));
        PolicyProblem { at, severity: problem.severity, message: problem.message }
    }
}

impl PolicyRegistry {
    /// A registry of the built-in policies only.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers `factory` as `Custom(name)`, a policy without parameters, replacing any
    /// earlier policy of that name.
    pub fn register<F>(&mut self, name: impl Into<String>, factory: F) -> &mut Self
    where
        F: Fn() -> Box<dyn Policy> + Send + Sync + 'static,
    {
        self.custom.insert(name.into(), Registration::Plain(Arc::new(factory)));
        self
    }

    /// Registers a policy with parameters `P` as `Custom(name: "name", params: (...))`,
    /// replacing any earlier policy of that name. The parameters are read as `P` (like an
    /// experiment file: optional values bare), checked by [`Params::check`], whose problems
    /// validation reports at their line and column like a built-in's, and built by
    /// [`Params::build`] for every run. `Custom("name")` reads as `params: ()`, every
    /// parameter at its default.
    ///
    /// ```
    /// use serde::Deserialize;
    /// use stacksim::model::policy::catalog::{Context, Params, Problem};
    /// use stacksim::model::policy::{Policy, RandomChoices};
    /// use stacksim::{Experiment, PolicyRegistry};
    ///
    /// /// `Custom(name: "sampled", params: (choices: 3))`.
    /// #[derive(Debug, Deserialize)]
    /// #[serde(deny_unknown_fields)]
    /// struct Sampled {
    ///     choices: u32,
    /// }
    ///
    /// impl Params for Sampled {
    ///     fn check(&self, _: &Context) -> Vec<Problem> {
    ///         match self.choices {
    ///             0 => vec![Problem::error("choices must be at least 1").at("choices")],
    ///             _ => Vec::new(),
    ///         }
    ///     }
    ///
    ///     fn build(&self) -> Box<dyn Policy> {
    ///         Box::new(RandomChoices::new(self.choices))
    ///     }
    /// }
    ///
    /// let mut registry = PolicyRegistry::new();
    /// registry.register_with_params::<Sampled>("sampled");
    /// let text = r#"Experiment(
    ///     name: "sampled", seed: 1, duration: "1m",
    ///     stack: (
    ///         clients: [(name: "users", arrivals: Poisson(rate_per_s: 10.0))],
    ///         balancer: (policy: Custom(name: "sampled", params: (choices: 0))),
    ///         backends: [(name: "app", workers: 2, queue: Bounded(10), service: Exponential(mean: "10ms"))],
    ///     ),
    /// )"#;
    /// let error = Experiment::load_str(text, "sampled.ron", &registry).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "sampled.ron:5:70: error: stack.balancer.policy.params.choices: choices must be at least 1"
    /// );
    /// let fixed = text.replace("choices: 0", "choices: 3");
    /// assert!(Experiment::load_str(&fixed, "sampled.ron", &registry).is_ok());
    /// ```
    pub fn register_with_params<P>(&mut self, name: impl Into<String>) -> &mut Self
    where
        P: Params + DeserializeOwned + 'static,
    {
        self.custom.insert(name.into(), Registration::WithParams(read_params::<P>));
        self
    }

    /// The names of the registered custom policies, sorted.
    pub fn custom_names(&self) -> Vec<String> {
        self.custom.keys().cloned().collect()
    }

    /// Whether `spec` can be built.
    pub fn knows(&self, spec: &PolicySpec) -> bool {
        match spec {
            PolicySpec::Custom(custom) => self.custom.contains_key(&custom.name),
            _ => true,
        }
    }

    /// What is wrong with `spec`'s parameters, from its catalog entry's range checks or, for
    /// a custom policy, from its registration; with `context`, what the checks may know of
    /// the stack.
    pub fn check(&self, spec: &PolicySpec, context: &Context) -> Vec<PolicyProblem> {
        let custom = match spec.builtin_or_custom() {
            Ok(params) => {
                let problems = params.check(context);
                return problems
                    .into_iter()
                    .map(|p| PolicyProblem::from_params(&FieldPath::root(), p))
                    .collect();
            }
            Err(custom) => custom,
        };
        let root = FieldPath::root();
        let params_path = root.field("params");
        match self.custom.get(&custom.name) {
            None => {
                let registered = self.custom_names();
                let valid = if registered.is_empty() {
                    "no custom policy is registered (custom policies are registered from Rust; see `stacksim policies` for the built-ins)".to_owned()
                } else {
                    format!("registered: {}", registered.join(", "))
                };
                vec![PolicyProblem::error(root, format!("unknown custom policy {:?}: {valid}", custom.name))]
            }
            Some(Registration::Plain(_)) => match custom.params {
                Some(_) => vec![PolicyProblem::error(
                    params_path,
                    format!(
                        "the custom policy {:?} takes no parameters: write Custom({:?})",
                        custom.name, custom.name
                    ),
                )],
                None => Vec::new(),
            },
            Some(Registration::WithParams(read)) => match read(custom) {
                Ok(params) => params
                    .check(context)
                    .into_iter()
                    .map(|p| PolicyProblem::from_params(&params_path, p))
                    .collect(),
                Err(error) => {
                    let at = match &custom.params {
                        Some(raw) => {
                            let inside = ron_position(&error);
                            params_path.append(
                                &inside.map(|p| Outline::new(raw.get_ron()).path_at(p)).unwrap_or_default(),
                            )
                        }
                        None => root,
                    };
                    vec![PolicyProblem::error(at, without_type_names(&error.code.to_string()))]
                }
            },
        }
    }

    /// A new policy as `spec` describes.
    pub fn build(&self, spec: &PolicySpec) -> Result<Box<dyn Policy>, PolicyError> {
        let custom = match spec.builtin_or_custom() {
            Ok(params) => return Ok(params.build()),
            Err(custom) => custom,
        };
        let params_error = |message: String| PolicyError::Params { name: custom.name.clone(), message };
        match self.custom.get(&custom.name) {
            None => Err(UnknownPolicy { name: custom.name.clone(), registered: self.custom_names() }.into()),
            Some(Registration::Plain(_)) if custom.params.is_some() => {
                Err(params_error("takes no parameters".to_owned()))
            }
            Some(Registration::Plain(factory)) => Ok(factory()),
            Some(Registration::WithParams(read)) => {
                read(custom).map(|params| params.build()).map_err(|e| params_error(e.to_string()))
            }
        }
    }
}

/// Where in its text ron found `error`, if it says.
fn ron_position(error: &ron::error::SpannedError) -> Option<crate::locate::Position> {
    let start = error.span.start;
    (start.line > 0).then_some(crate::locate::Position { line: start.line, column: start.col })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_catalog_example_builds() {
        let registry = PolicyRegistry::new();
        for spec in PolicySpec::every_example() {
            assert!(registry.build(&spec).is_ok(), "{spec}");
            assert!(registry.knows(&spec));
        }
    }

    #[test]
    fn stacksim_policies_lists_the_catalog_then_custom() {
        assert_eq!(BUILTIN_POLICIES.len(), catalog::BUILTINS.len() + 1);
        for (row, builtin) in BUILTIN_POLICIES.iter().zip(catalog::BUILTINS) {
            assert_eq!(row.name, builtin.info().synopsis);
        }
        assert_eq!(BUILTIN_POLICIES.last(), Some(&CUSTOM));
    }

    #[test]
    fn range_checks_name_their_parameter() {
        let registry = PolicyRegistry::new();
        let check = |text: &str| {
            let spec: PolicySpec = text.parse().unwrap();
            let problems = registry.check(&spec, &Context::new(4));
            problems.into_iter().map(|p| (p.at.to_string(), p.severity)).collect::<Vec<_>>()
        };
        assert_eq!(check("RandomChoices(0)"), [(String::new(), Severity::Error)]);
        assert_eq!(check("Maglev(table_size: 65536)"), [("table_size".to_owned(), Severity::Error)]);
        assert_eq!(check("Maglev(table_size: 251)"), [("table_size".to_owned(), Severity::Warning)]);
        assert_eq!(
            check("BoundedLoadHash(factor: 0.5, entries_per_host: 0)"),
            [("factor".to_owned(), Severity::Error), ("entries_per_host".to_owned(), Severity::Error)]
        );
        assert!(check("Maglev()").is_empty());
    }
}
