//! Running an experiment: every (variant, replication), in parallel, deterministically.

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use stacksim_engine::rng::replication_seed;
use stacksim_model::{ModelError, RunParams, RunSummary, simulate_with};

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::build::Variant;
use crate::plan::Plan;
use crate::registry::PolicyError;
use crate::report::{Report, RunRecord, TimelineReport, VariantInfo};
use crate::warmup::{Warmup, mser5, pilot_window};

/// Why an experiment could not run.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The stack is not simulable (a plan never gives this: its stacks were checked).
    #[error("variant {variant}: {source}")]
    Model {
        /// The variant's label.
        variant: String,
        /// What the model rejected.
        source: ModelError,
    },
    /// A policy cannot be built: a custom policy is not registered, or its parameters are
    /// not what its registration reads (an experiment that passed validation never gives
    /// this).
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// A changed experiment (a capacity search's probe) is not valid.
    #[error(transparent)]
    Plan(#[from] crate::plan::PlanError),
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

/// Runs [plans](Plan) with options and an optional progress callback.
///
/// Every run is single-threaded and a pure function of its seed; runs are spread over worker
/// threads and their results put back in (variant, replication) order, so the report is the
/// same, byte for byte, for any number of threads.
#[derive(Default)]
pub struct Runner<'a> {
    options: RunOptions,
    progress: Option<&'a (dyn Fn(Progress) + Sync)>,
}

impl std::fmt::Debug for Runner<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runner").field("options", &self.options).finish()
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
    /// A runner with default options: the plan's replications and seed, one thread per core.
    pub fn new() -> Self {
        Self::default()
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

    /// Runs every variant of `plan` for every replication and reports the results.
    pub fn run(&self, plan: &Plan) -> Result<Report, RunError> {
        let whole = self.run_shard(plan, Shard::WHOLE)?;
        Ok(merge(&[whole]).expect("one whole shard always merges"))
    }

    /// Runs the slice `shard` of the (variant, replication) grid of `experiment`.
    ///
    /// Shards of one experiment, run anywhere, [merge](merge) into the report that
    /// [`Runner::run`] gives, byte for byte.
    pub fn run_shard(&self, plan: &Plan, shard: Shard) -> Result<ShardOutput, RunError> {
        let experiment = plan.experiment();
        let seed = self.options.seed.unwrap_or(experiment.seed);
        let replications = self.options.replications.unwrap_or(experiment.replications);
        let variants = plan.variants();
        let seeds: Vec<u64> = (0..u64::from(replications)).map(|r| replication_seed(seed, r)).collect();
        let grid: Vec<(usize, usize)> = (0..variants.len())
            .flat_map(|v| (0..seeds.len()).map(move |r| (v, r)))
            .enumerate()
            .filter(|(k, _)| shard.contains(*k))
            .map(|(_, cell)| cell)
            .collect();
        let total = grid.len() as u64;
        let (done, events) = (AtomicU64::new(0), AtomicU64::new(0));
        let run_one = |&(v, r): &(usize, usize)| -> Result<RunRecord, RunError> {
            let (summary, cut) = self.run_variant(plan, &variants[v], seeds[r])?;
            if let Some(progress) = self.progress {
                let events = events.fetch_add(summary.events, Ordering::Relaxed) + summary.events;
                progress(Progress { done: done.fetch_add(1, Ordering::Relaxed) + 1, total, events });
            }
            let mut alerts = crate::alert::metrics(plan, &summary.windows);
            if let Some(cut) = cut {
                alerts.push((crate::Metric::Warmup, cut.as_secs_f64()));
            }
            Ok(RunRecord::new(v, r as u32, seeds[r], &summary, alerts))
        };
        let records: Vec<Result<RunRecord, RunError>> = match self.options.jobs {
            Some(jobs) => rayon::ThreadPoolBuilder::new()
                .num_threads(jobs)
                .build()
                .map_err(|source| RunError::Threads { jobs, source })?
                .install(|| grid.par_iter().map(run_one).collect()),
            None => grid.par_iter().map(run_one).collect(),
        };
        let baseline = plan.baseline();
        Ok(ShardOutput {
            experiment: experiment.name.clone(),
            seed,
            shard,
            replications,
            baseline,
            variants: variants.iter().map(VariantInfo::from).collect(),
            records: records.into_iter().collect::<Result<_, _>>()?,
            timeline: plan.timeline().cloned(),
        })
    }

    /// Runs one variant on one seed; with an automatic warm-up, also returns the cut chosen.
    fn run_variant(
        &self,
        plan: &Plan,
        variant: &Variant,
        seed: u64,
    ) -> Result<(RunSummary, Option<Duration>), RunError> {
        let experiment = plan.experiment();
        let registry = plan.registry();
        let simulate = |stack: &stacksim_model::StackConfig, warmup| -> Result<RunSummary, RunError> {
            let policy = registry.build(&variant.policy)?;
            let later =
                variant.later_policies.iter().map(|p| registry.build(p)).collect::<Result<Vec<_>, _>>()?;
            let params = RunParams { seed, duration: experiment.duration.0, warmup };
            simulate_with(stack, policy, later, params)
                .map_err(|source| RunError::Model { variant: variant.label.clone(), source })
        };
        match experiment.warmup {
            Warmup::Fixed(warmup) => Ok((simulate(&variant.stack, warmup.0)?, None)),
            Warmup::Auto => {
                // A pilot run on the same seed, with windows, to choose the cut.
                let mut pilot_stack = variant.stack.clone();
                let window = *pilot_stack.observe.window.get_or_insert(pilot_window(experiment.duration.0));
                let pilot = simulate(&pilot_stack, Duration::ZERO)?;
                let means: Vec<f64> = pilot.windows.iter().map(|w| w.mean_s).collect();
                let cut = (window * mser5(&means) as u32).min(experiment.duration.0 / 2);
                Ok((simulate(&variant.stack, cut)?, Some(cut)))
            }
        }
    }
}

/// A deterministic slice of the (variant, replication) grid: the runs whose position `k` in
/// variant-major order has `k % count == index`. Written `index/count`, from `0/N` to
/// `(N-1)/N`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// Which slice, from 0.
    pub index: u32,
    /// How many slices in all, ≥ 1.
    pub count: u32,
}

impl Shard {
    /// The whole grid.
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// Whether grid position `k` belongs to this shard.
    pub fn contains(&self, k: usize) -> bool {
        k % self.count as usize == self.index as usize
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Text that is not a shard `INDEX/COUNT` with `0 <= INDEX < COUNT`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid shard {text:?}: write INDEX/COUNT with 0 <= INDEX < COUNT, like 0/4")]
pub struct ShardError {
    /// The text given.
    pub text: String,
}

impl FromStr for Shard {
    type Err = ShardError;
    fn from_str(text: &str) -> Result<Shard, ShardError> {
        let bad = || ShardError { text: text.to_owned() };
        let (index, count) = text.split_once('/').ok_or_else(bad)?;
        let (index, count): (u32, u32) =
            (index.trim().parse().map_err(|_| bad())?, count.trim().parse().map_err(|_| bad())?);
        if count == 0 || index >= count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }
}

/// The runs one shard made, with what is needed to merge them: `shard-I-of-N.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShardOutput {
    /// The experiment's name.
    pub experiment: String,
    /// Its master seed.
    pub seed: u64,
    /// Which slice of the grid this is.
    pub shard: Shard,
    /// Replications per variant in the whole grid.
    pub replications: u32,
    /// Index of the baseline variant.
    pub baseline: usize,
    /// Every variant of the whole grid.
    pub variants: Vec<VariantInfo>,
    /// This shard's runs.
    pub records: Vec<RunRecord>,
    /// The experiment's clock and timeline, for the report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeline: Option<TimelineReport>,
}

impl ShardOutput {
    /// The file name a shard is written under: `shard-I-of-N.json`.
    pub fn file_name(&self) -> String {
        format!("shard-{}-of-{}.json", self.shard.index, self.shard.count)
    }
}

/// Shards that do not make up one whole grid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MergeError {
    /// Nothing to merge.
    #[error("no shards to merge")]
    Empty,
    /// Shards from different experiments, seeds or grids.
    #[error(
        "shard {shard} is from a different run ({what} differs): merge only shards of one `stacksim run`"
    )]
    Mismatch {
        /// The odd shard.
        shard: Shard,
        /// What differs.
        what: &'static str,
    },
    /// Runs that appear in more than one shard.
    #[error("run (variant {variant}, replication {replication}) appears twice: is a shard given twice?")]
    Duplicate {
        /// Variant index.
        variant: usize,
        /// Replication.
        replication: u32,
    },
    /// Runs that no shard has.
    #[error(
        "{missing} of {total} runs are missing, e.g. variant {variant}, replication {replication}: is a shard missing?"
    )]
    Missing {
        /// How many runs are missing.
        missing: usize,
        /// Runs in the whole grid.
        total: usize,
        /// The first missing run's variant.
        variant: usize,
        /// The first missing run's replication.
        replication: u32,
    },
}

/// Combines shards of one experiment into its report: the same report, byte for byte, as
/// running the whole grid at once.
pub fn merge(shards: &[ShardOutput]) -> Result<Report, MergeError> {
    let first = shards.first().ok_or(MergeError::Empty)?;
    for s in shards {
        let what = if s.experiment != first.experiment {
            "experiment"
        } else if s.seed != first.seed {
            "seed"
        } else if s.replications != first.replications {
            "replications"
        } else if s.variants != first.variants {
            "variants"
        } else if s.baseline != first.baseline {
            "baseline"
        } else if s.shard.count != first.shard.count {
            "shard count"
        } else {
            continue;
        };
        return Err(MergeError::Mismatch { shard: s.shard, what });
    }
    let mut seen = std::collections::BTreeSet::new();
    let mut records = Vec::new();
    for record in shards.iter().flat_map(|s| &s.records) {
        if !seen.insert((record.variant, record.replication)) {
            return Err(MergeError::Duplicate { variant: record.variant, replication: record.replication });
        }
        records.push(record.clone());
    }
    let total = first.variants.len() * first.replications as usize;
    if records.len() != total {
        let (variant, replication) = (0..first.variants.len())
            .flat_map(|v| (0..first.replications).map(move |r| (v, r)))
            .find(|cell| !seen.contains(cell))
            .unwrap_or((0, 0));
        return Err(MergeError::Missing { missing: total - records.len(), total, variant, replication });
    }
    let mut report =
        Report::from_records(&first.experiment, first.seed, &first.variants, first.baseline, &records);
    report.timeline = first.timeline.clone();
    Ok(report)
}
