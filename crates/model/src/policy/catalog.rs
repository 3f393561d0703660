//! The catalog of built-in policies: for each, its name in experiment files, what it does,
//! whose semantics it follows, its parameters with their range checks, and how to build it.
//!
//! # One place per policy
//!
//! A built-in's catalog entry sits in the policy's own file, beside its implementation: a
//! type that holds its parameters as an experiment file writes them (`MaglevSpec {
//! table_size }` for `Maglev(table_size: 5003)`; a unit struct for a policy without
//! parameters), implementing [`Params`] (check the values, build the policy) and [`Entry`]
//! (what `stacksim policies` says about it, and example parameters for tests). The catalog
//! list, [`builtin_policies!`](crate::builtin_policies), names every entry on one line.
//! Everything else reads that list: the `stacksim` crate generates its experiment-file enum
//! (`PolicySpec`: parsing, labels), its validation, `stacksim policies` and its registry
//! from it, and this module generates [`BUILTINS`], which tests iterate.
//!
//! # Adding a built-in policy
//!
//! 1. Write `src/policy/my_policy.rs`: the policy, implementing [`Policy`]; its parameters
//!    type, deriving `serde::Deserialize` with `#[serde(deny_unknown_fields)]` (defaults with
//!    `#[serde(default = "…")]`); and its [`Params`] and [`Entry`] implementations, as below.
//! 2. In `src/policy.rs`, declare the module and export both types
//!    (`mod my_policy; pub use my_policy::{MyPolicy, MyPolicySpec};`), and add the catalog
//!    line to `builtin_policies!`: `MyPolicy(MyPolicySpec),`, or `MyPolicy = MyPolicySpec,`
//!    for a policy without parameters (a unit struct).
//!
//! Nothing else changes: `MyPolicy(threshold: 3)` then parses in experiment files, is
//! range-checked with located errors, labels variants, is listed by `stacksim policies`, is
//! built for runs, and is checked against the policy contract by `stacksim-testkit`'s tests.
//!
//! The entry of a policy that sends to the first backend with fewer than `threshold`
//! requests in flight:
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use stacksim_model::policy::catalog::{Context, Entry, Info, Param, Params, Problem, written_unless_default};
//! use stacksim_model::policy::{BackendState, Policy, RequestInfo, SimRng};
//!
//! /// The first available backend with fewer than `threshold` in flight, else the first.
//! #[derive(Debug)]
//! pub struct FirstBelow(u32);
//!
//! impl Policy for FirstBelow {
//!     fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
//!         let mut available = backends.iter().enumerate().filter(|(_, b)| b.is_available());
//!         let first = available.clone().next().map(|(i, _)| i);
//!         available.find(|(_, b)| b.in_flight < self.0).map(|(i, _)| i).or(first)
//!     }
//! }
//!
//! /// `FirstBelow(threshold: 4)` in an experiment file.
//! #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
//! #[serde(deny_unknown_fields)]
//! pub struct FirstBelowSpec {
//!     /// Requests in flight at which a backend counts as busy, ≥ 1. Default: 4.
//!     #[serde(default = "default_threshold")]
//!     pub threshold: u32,
//! }
//!
//! fn default_threshold() -> u32 {
//!     4
//! }
//!
//! impl Params for FirstBelowSpec {
//!     fn check(&self, _: &Context) -> Vec<Problem> {
//!         if self.threshold == 0 {
//!             vec![Problem::error("threshold must be at least 1, like 4").at("threshold")]
//!         } else {
//!             Vec::new()
//!         }
//!     }
//!
//!     fn build(&self) -> Box<dyn Policy> {
//!         Box::new(FirstBelow(self.threshold))
//!     }
//! }
//!
//! impl Entry for FirstBelowSpec {
//!     const INFO: &'static Info = &Info {
//!         name: "FirstBelow",
//!         synopsis: "FirstBelow(threshold: 4)",
//!         summary: "the first available backend with fewer than threshold in flight, else the first",
//!         source: "a textbook example",
//!         params: &[Param {
//!             name: "threshold",
//!             ty: "u32",
//!             default: Some("4"),
//!             doc: "requests in flight at which a backend counts as busy, ≥ 1",
//!         }],
//!         routes_on_keys: false,
//!         splits_by_weight: false,
//!     };
//!
//!     fn examples() -> Vec<Self> {
//!         vec![FirstBelowSpec { threshold: 4 }, FirstBelowSpec { threshold: 1 }]
//!     }
//!
//!     fn written(&self) -> Vec<String> {
//!         written_unless_default("threshold", self.threshold, default_threshold()).into_iter().collect()
//!     }
//! }
//!
//! let spec = FirstBelowSpec { threshold: 0 };
//! let problems = spec.check(&Context::new(3));
//! assert_eq!(problems[0].param, Some("threshold"));
//! assert_eq!(FirstBelowSpec { threshold: 8 }.written(), ["threshold: 8"]);
//! assert!(FirstBelowSpec::examples().iter().all(|e| e.check(&Context::new(3)).is_empty()));
//! let _policy = FirstBelowSpec::examples()[0].build();
//! ```
//!
//! A library user's own policy with parameters implements [`Params`] the same way (no
//! [`Entry`]: it is not built in) and is registered under a name with the `stacksim` crate's
//! `PolicyRegistry::register_with_params`; its range checks are then reported at the file's
//! line and column like a built-in's.

use std::fmt;

use crate::HumanDuration;
use crate::policy::Policy;

/// What the catalog says about a built-in policy, for `stacksim policies` and for code that
/// treats policies alike.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Info {
    /// How an experiment file names it: `Maglev`.
    pub name: &'static str,
    /// How it is written, with its parameters (defaults, or a placeholder for a required
    /// one), as `stacksim policies` lists it: `Maglev(table_size: 65537)`, `RandomChoices(n)`.
    pub synopsis: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// The production implementation it matches.
    pub source: &'static str,
    /// Its parameters, in the order it is written with them.
    pub params: &'static [Param],
    /// Whether it routes on request keys (and so needs clients with `users` to mean anything).
    pub routes_on_keys: bool,
    /// Whether it sends every backend its weight's share of the requests whatever their load
    /// (round robin, random, hashing), so that a backend's load follows from the weights.
    pub splits_by_weight: bool,
}

/// One parameter of a built-in policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Param {
    /// Its name in the experiment file (`table_size`), or a placeholder for a positional one
    /// (`n` in `RandomChoices(n)`).
    pub name: &'static str,
    /// Its type: `u32`, `f64`, `duration` (a string like `"10s"`).
    pub ty: &'static str,
    /// Its default as an experiment file writes it (`65537`, `"10s"`), or `None` if it must
    /// be given.
    pub default: Option<&'static str>,
    /// What it means, and its valid range.
    pub doc: &'static str,
}

/// A policy's parameters as an experiment file writes them: they check their own values and
/// build the policy.
pub trait Params: fmt::Debug + Send + Sync {
    /// What is wrong with these values: out-of-range values as errors, likely mistakes as
    /// warnings, each naming the parameter it is about. Default: nothing.
    fn check(&self, _context: &Context) -> Vec<Problem> {
        Vec::new()
    }

    /// A new policy with these parameters, for one run. Called after [`check`](Self::check)
    /// found no errors; must not panic for any values.
    fn build(&self) -> Box<dyn Policy>;
}

/// A built-in policy's catalog entry, implemented by the type holding its parameters.
pub trait Entry: Params + Sized + 'static {
    /// Its name, summary, source and parameters.
    const INFO: &'static Info;

    /// Valid parameters, the typical ones first: what the policy-contract tests run and the
    /// catalog tests print, parse back and build.
    fn examples() -> Vec<Self>;

    /// The parameters as written after the name, those that differ from their defaults only,
    /// in order: `["table_size: 5003"]`; a positional one bare (`["3"]`). Labels use it, so
    /// a defaulted policy is labelled by its name alone. Default: none.
    fn written(&self) -> Vec<String> {
        Vec::new()
    }
}

/// What a range check may know about the stack the policy balances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Context {
    /// Backends configured behind the balancer (every replica of every group).
    pub backends: u64,
}

impl Context {
    /// The context of a balancer in front of `backends` backends.
    pub fn new(backends: u64) -> Self {
        Context { backends }
    }
}

/// How bad a [`Problem`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The policy cannot be used with these parameters.
    Error,
    /// It can, but probably not as meant.
    Warning,
}

/// Something wrong with a policy's parameters.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The parameter it is about, or `None` for the policy as a whole.
    pub param: Option<&'static str>,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Problem {
    /// An error about the policy as a whole.
    pub fn error(message: impl Into<String>) -> Self {
        Problem { param: None, severity: Severity::Error, message: message.into() }
    }

    /// A warning about the policy as a whole.
    pub fn warning(message: impl Into<String>) -> Self {
        Problem { param: None, severity: Severity::Warning, message: message.into() }
    }

    /// The same problem, about the parameter `param`.
    pub fn at(self, param: &'static str) -> Self {
        Problem { param: Some(param), ..self }
    }
}

/// A parameter value as an experiment file writes it.
pub trait Literal {
    /// `5003`, `1.0`, `"10s"`.
    fn literal(&self) -> String;
}

macro_rules! integer_literals {
    ($($t:ty),*) => {
        $(impl Literal for $t {
            fn literal(&self) -> String {
                self.to_string()
            }
        })*
    };
}

integer_literals!(u8, u16, u32, u64, usize, i32, i64, bool);

impl Literal for f64 {
    /// With a decimal point, as RON reads a float: `1.0`, `0.5`.
    fn literal(&self) -> String {
        format!("{self:?}")
    }
}

impl Literal for HumanDuration {
    fn literal(&self) -> String {
        format!("\"{self}\"")
    }
}

impl Literal for str {
    fn literal(&self) -> String {
        format!("{self:?}")
    }
}

impl Literal for String {
    fn literal(&self) -> String {
        self.as_str().literal()
    }
}

/// `name: value`, as an experiment file writes a parameter.
pub fn written<T: Literal + ?Sized>(name: &str, value: &T) -> String {
    format!("{name}: {}", value.literal())
}

/// `name: value`, unless `value` is the parameter's default.
pub fn written_unless_default<T: Literal + PartialEq>(name: &str, value: T, default: T) -> Option<String> {
    (value != default).then(|| written(name, &value))
}

/// One built-in policy, for code that iterates the catalog.
#[derive(Clone, Copy)]
pub struct Builtin {
    info: &'static Info,
    examples: fn() -> Vec<Box<dyn Params>>,
}

impl Builtin {
    /// The built-in whose entry is `E`.
    pub const fn of<E: Entry>() -> Self {
        Builtin { info: E::INFO, examples: boxed_examples::<E> }
    }

    /// What the catalog says about it.
    pub const fn info(&self) -> &'static Info {
        self.info
    }

    /// Its [example parameters](Entry::examples), typical first.
    pub fn examples(&self) -> Vec<Box<dyn Params>> {
        (self.examples)()
    }
}

fn boxed_examples<E: Entry>() -> Vec<Box<dyn Params>> {
    E::examples().into_iter().map(|e| Box::new(e) as Box<dyn Params>).collect()
}

impl fmt::Debug for Builtin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Builtin").field(&self.info.name).finish()
    }
}

macro_rules! builtins {
    ($krate:tt; $($name:ident $(= $unit:ident)? $(($params:ident))?),* $(,)?) => {
        /// Every built-in policy, in catalog order (the order `stacksim policies` lists them).
        pub const BUILTINS: &[Builtin] = &[$(Builtin::of::<$krate::policy::$($unit)? $($params)?>(),)*];

        /// The names on the catalog lines, which must be their entries' names.
        #[cfg(test)]
        const LINE_NAMES: &[&str] = &[$(stringify!($name),)*];
    };
}

crate::builtin_policies!(builtins);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_line_names_its_entry() {
        let names: Vec<&str> = BUILTINS.iter().map(|b| b.info().name).collect();
        assert_eq!(names, LINE_NAMES);
    }

    #[test]
    fn every_entry_describes_itself_and_its_parameters() {
        for builtin in BUILTINS {
            let info = builtin.info();
            assert!(info.synopsis.starts_with(info.name), "{info:?}");
            assert!(!info.summary.is_empty() && !info.source.is_empty(), "{info:?}");
            for param in info.params {
                assert!(!param.ty.is_empty() && !param.doc.is_empty(), "{}: {param:?}", info.name);
            }
            let mut names: Vec<&str> = info.params.iter().map(|p| p.name).collect();
            names.dedup();
            assert_eq!(names.len(), info.params.len(), "{}: a parameter twice", info.name);
        }
    }

    #[test]
    fn every_example_passes_its_own_checks_and_builds() {
        for builtin in BUILTINS {
            let examples = builtin.examples();
            assert!(!examples.is_empty(), "{builtin:?} has no examples");
            for example in examples {
                let errors: Vec<Problem> = example
                    .check(&Context::new(4))
                    .into_iter()
                    .filter(|p| p.severity == Severity::Error)
                    .collect();
                assert!(errors.is_empty(), "{example:?}: {errors:?}");
                let _ = example.build();
            }
        }
    }

    #[test]
    fn literals_read_back_as_ron_does() {
        assert_eq!(written("bias", &1.0), "bias: 1.0");
        assert_eq!(written("decay", &HumanDuration(std::time::Duration::from_secs(5))), "decay: \"5s\"");
        assert_eq!(written_unless_default("n", 3_u32, 3), None);
        assert_eq!(written_unless_default("n", 4_u32, 3).as_deref(), Some("n: 4"));
    }
}
