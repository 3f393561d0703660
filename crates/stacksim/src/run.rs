//! Running an experiment: every (variant, replication), in parallel, deterministically.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use stacksim_engine::rng::replication_seed;
use stacksim_model::{ModelError, RunParams, RunSummary, simulate};

use crate::build::{Variant, variants};
use crate::registry::{PolicyRegistry, UnknownPolicy};
use crate::report::Report;
use crate::spec::Experiment;

/// Why an experiment could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The stack is not simulable (an experiment that passed validation never gives this).
    #[error("variant {variant}: {source}")]
    Model {
        /// The variant's label.
        variant: String,
        /// What the model rejected.
        source: ModelError,
    },
    /// A custom policy is not registered.
    #[error(transparent)]
    UnknownPolicy(#[from] UnknownPolicy),
    /// The worker threads could not be started.
    #[error("cannot start {jobs} worker threads: {source}")]
    Threads {
        /// Threads asked for.
        jobs: usize,
        /// Why not.
        source: rayon::ThreadPoolBuildError,
    },
}

/// How to run an experiment, beyond what its file says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// Replications instead of the file's.
    pub replications: Option<u32>,
    /// Master seed instead of the file's.
    pub seed: Option<u64>,
    /// Worker threads (default: one per core). Results do not depend on it.
    pub jobs: Option<usize>,
}

/// Runs experiments with a policy registry, options and an optional progress callback.
///
/// Every run is single-threaded and a pure function of its seed; runs are spread over worker
/// threads and their results put back in (variant, replication) order, so the report is the
/// same, byte for byte, for any number of threads.
pub struct Runner<'a> {
    registry: &'a PolicyRegistry,
    options: RunOptions,
    progress: Option<&'a (dyn Fn(Progress) + Sync)>,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner")
            .field("registry", self.registry)
            .field("options", &self.options)
            .finish()
    }
}

/// How far an experiment has got; passed to the progress callback after each run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Progress {
    /// Runs finished.
    pub done: u64,
    /// Runs in all.
    pub total: u64,
    /// Events handled by the finished runs.
    pub events: u64,
}

impl<'a> Runner<'a> {
    /// A runner with the policies of `registry` and default options.
    pub fn new(registry: &'a PolicyRegistry) -> Self {
        Runner {
            registry,
            options: RunOptions::default(),
            progress: None,
        }
    }

    /// Overrides replications, seed or threads.
    pub fn options(mut self, options: RunOptions) -> Self {
        self.options = options;
        self
    }

    /// Calls `progress` after every finished run (from worker threads).
    pub fn on_progress(mut self, progress: &'a (dyn Fn(Progress) + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Runs every variant of `experiment` for every replication and reports the results.
    ///
    /// The experiment should have been validated (see [`Experiment::load`]).
    pub fn run(&self, experiment: &Experiment) -> Result<Report, RunError> {
        let seed = self.options.seed.unwrap_or(experiment.seed);
        let replications = self.options.replications.unwrap_or(experiment.replications);
        let variants = variants(experiment);
        let seeds: Vec<u64> = (0..u64::from(replications))
            .map(|r| replication_seed(seed, r))
            .collect();
        for v in &variants {
            self.registry.build(&v.policy)?;
        }
        let grid: Vec<(usize, usize)> = (0..variants.len())
            .flat_map(|v| (0..seeds.len()).map(move |r| (v, r)))
            .collect();
        let total = grid.len() as u64;
        let (done, events) = (AtomicU64::new(0), AtomicU64::new(0));
        let run_one = |&(v, r): &(usize, usize)| -> Result<RunSummary, RunError> {
            let summary = self.run_variant(experiment, &variants[v], seeds[r])?;
            if let Some(progress) = self.progress {
                let events = events.fetch_add(summary.events, Ordering::Relaxed) + summary.events;
                progress(Progress {
                    done: done.fetch_add(1, Ordering::Relaxed) + 1,
                    total,
                    events,
                });
            }
            Ok(summary)
        };
        let results: Vec<Result<RunSummary, RunError>> = match self.options.jobs {
            Some(jobs) => rayon::ThreadPoolBuilder::new()
                .num_threads(jobs)
                .build()
                .map_err(|source| RunError::Threads { jobs, source })?
                .install(|| grid.par_iter().map(run_one).collect()),
            None => grid.par_iter().map(run_one).collect(),
        };
        let mut runs = vec![Vec::with_capacity(seeds.len()); variants.len()];
        for ((v, _), result) in grid.iter().zip(results) {
            runs[*v].push(result?);
        }
        Ok(Report::new(
            &experiment.name,
            seed,
            &variants,
            &seeds,
            &runs,
        ))
    }

    fn run_variant(
        &self,
        experiment: &Experiment,
        variant: &Variant,
        seed: u64,
    ) -> Result<RunSummary, RunError> {
        let policy = self.registry.build(&variant.policy)?;
        let params = RunParams {
            seed,
            duration: experiment.duration.0,
            warmup: experiment.warmup.0,
        };
        simulate(&variant.stack, policy, params).map_err(|source| RunError::Model {
            variant: variant.label.clone(),
            source,
        })
    }
}
