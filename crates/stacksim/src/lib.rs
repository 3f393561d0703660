#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod alert;
pub mod build;
pub mod capacity;
pub mod cost;
pub mod estimate;
mod files;
mod load;
pub mod locate;
pub mod mechanisms;
pub mod metric;
mod plan;
mod problem;
pub mod registry;
pub mod report;
mod run;
pub mod spec;
pub mod stats;
pub mod trace;
pub mod validate;
pub mod warmup;

pub use files::MAX_FILE_BYTES;
pub use load::{Diagnostic, LoadError, Loaded};
pub use metric::Metric;
pub use plan::{Plan, PlanError};
pub use registry::{BUILTIN_POLICIES, PolicyError, PolicyInfo, PolicyProblem, PolicyRegistry, UnknownPolicy};
pub use report::Report;
pub use run::{
    MergeError, Merger, Progress, RunError, RunOptions, RunSpan, Runner, Shard, ShardError, ShardOutput,
    merge,
};
pub use spec::Experiment;
pub use stacksim_engine as engine;
pub use stacksim_model as model;
pub use validate::{Problem, Severity};
