//! Running an experiment: every (variant, replication), in parallel, deterministically.

mod shape;

use std::sync::atomic::{AtomicU64, Ordering};

use rayon::prelude::*;
use stacksim_engine::rng::replication_seed;
use stacksim_model::{ModelError, RunControl, RunEnd, RunParams, RunSummary, simulate_copies};

use std::collections::BTreeMap;
use std::fmt;
use std::ops::RangeInclusive;
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
    /// A capacity search's next probe is estimated to need more events per run than the
    /// search allows ([`SearchOptions::max_probe_events`](crate::capacity::SearchOptions)): the
    /// answer is beyond what the experiment can probe in reasonable time.
    #[error(
        "a probe at {value} would simulate about {events:.1e} events per run, more than the search allows ({limit:.1e}){}: \
         shorten the experiment's duration, or search a smaller rate or fleet",
        passed.map_or(String::new(), |p| format!("; the SLO held up to {p}"))
    )]
    ProbeTooLarge {
        /// The value the probe would have tried (a rate \[s⁻¹\] or a number of replicas).
        value: f64,
        /// Its estimated events per run.
        events: f64,
        /// The search's limit.
        limit: f64,
        /// The best value that met the SLO before, if any.
        passed: Option<f64>,
    },
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
    /// Stop each simulation after this many events (`stacksim run --max-events`); a run
    /// stopped early is reported [truncated](crate::report::RunReport::truncated), its
    /// metrics covering the simulated time it reached. Default: no limit. With an automatic
    /// warm-up the pilot run is limited too, and a pilot stopped early also marks its run
    /// truncated (its warm-up was chosen from less than the whole run).
    pub max_events: Option<u64>,
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

/// How far an experiment has got; passed to the progress callback after each run and, within
/// a run, every [`PROGRESS_EVERY`](stacksim_model::stack::PROGRESS_EVERY) events.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Progress {
    /// Runs finished.
    pub done: u64,
    /// Runs in all.
    pub total: u64,
    /// Events handled so far, by finished runs and by runs under way.
    pub events: u64,
    /// Runs' worth of simulated time done, in `0..=total`: a finished run counts 1, a run under
    /// way the fraction of its simulated time it has reached (an automatic warm-up's pilot run
    /// is the first half). What an ETA is estimated from.
    pub runs_simulated: f64,
}

/// Progress shared by the runs of one grid, from any worker thread.
struct Tally<'p> {
    report: &'p (dyn Fn(Progress) + Sync),
    total: u64,
    done: AtomicU64,
    events: AtomicU64,
    /// Millionths of a run simulated.
    micro_runs: AtomicU64,
}

impl Tally<'_> {
    /// Adds what one run has done since it last reported, and reports the whole.
    fn add(&self, micro_runs: u64, events: u64, finished: bool) {
        let done = if finished {
            self.done.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.done.load(Ordering::Relaxed)
        };
        let events = self.events.fetch_add(events, Ordering::Relaxed) + events;
        let micro = self.micro_runs.fetch_add(micro_runs, Ordering::Relaxed) + micro_runs;
        (self.report)(Progress { done, total: self.total, events, runs_simulated: micro as f64 / 1e6 });
    }
}

/// One run's part of a [`Tally`]: what it has reported so far.
struct RunProgress<'t, 'p> {
    tally: &'t Tally<'p>,
    /// Simulations in this run (2 with a pilot run), and those finished.
    passes: u32,
    pass: u32,
    /// Events of the finished passes.
    base_events: u64,
    micro_runs: u64,
    events: u64,
}

impl<'t, 'p> RunProgress<'t, 'p> {
    fn new(tally: &'t Tally<'p>, passes: u32) -> Self {
        RunProgress { tally, passes, pass: 0, base_events: 0, micro_runs: 0, events: 0 }
    }

    /// The current pass has reached `fraction` of its simulated time after `events` events.
    fn reached(&mut self, fraction: f64, events: u64) {
        let fraction = (f64::from(self.pass) + fraction.clamp(0.0, 1.0)) / f64::from(self.passes);
        let micro = ((fraction * 1e6) as u64).clamp(self.micro_runs, 1_000_000);
        let events = self.base_events + events;
        self.tally.add(micro - self.micro_runs, events.saturating_sub(self.events), false);
        (self.micro_runs, self.events) = (micro, events.max(self.events));
    }

    /// The current pass ended after `events` events.
    fn pass_done(&mut self, events: u64) {
        self.pass += 1;
        self.base_events += events;
    }

    /// The run is over.
    fn finish(self) {
        let events = self.base_events.saturating_sub(self.events);
        self.tally.add(1_000_000 - self.micro_runs, events, true);
    }
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

    /// Calls `progress` after every finished run and, within a run, every
    /// [`PROGRESS_EVERY`](stacksim_model::stack::PROGRESS_EVERY) events (from worker threads).
    /// Watching costs a run one comparison per event; without a callback it costs nothing.
    pub fn on_progress(mut self, progress: &'a (dyn Fn(Progress) + Sync)) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Runs every variant of `plan` for every replication and reports the results.
    pub fn run(&self, plan: &Plan) -> Result<Report, RunError> {
        let mut merger = Merger::new();
        merger.add(self.run_shard(plan, Shard::WHOLE)?).expect("one whole shard always merges");
        Ok(merger.finish().expect("one whole shard always merges"))
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
        let tally = self.progress.map(|report| Tally {
            report,
            total: grid.len() as u64,
            done: AtomicU64::new(0),
            events: AtomicU64::new(0),
            micro_runs: AtomicU64::new(0),
        });
        let passes = if experiment.warmup == Warmup::Auto { 2 } else { 1 };
        // The balancer tier's metrics, in every run or in none (issue 11).
        let topology = variants.iter().any(|v| {
            !v.stack.topology.is_default()
                || v.stack.backends.iter().any(|b| b.zone.is_some())
                || v.stack.clients.iter().any(|c| c.zone.is_some())
        });
        // Request classes and priority shedding: `priority_shed_ratio` in every run or in none.
        let classes = variants.iter().any(|v| v.stack.has_classes());
        let run_one = |&(v, r): &(usize, usize)| -> Result<RunRecord, RunError> {
            let mut progress = tally.as_ref().map(|t| RunProgress::new(t, passes));
            let (summary, cut, end) = self.run_variant(plan, &variants[v], seeds[r], progress.as_mut())?;
            if let Some(progress) = progress {
                progress.finish();
            }
            let mut alerts = crate::alert::metrics(plan, &summary.windows);
            if let Some(cut) = cut {
                alerts.push((crate::Metric::Warmup, cut.as_secs_f64()));
            }
            if topology {
                alerts.extend(crate::report::topology_metrics(&summary));
            }
            if classes {
                alerts.push((crate::Metric::PriorityShedRatio, summary.priority_shed_ratio()));
            }
            let mut record = RunRecord::new(v, r as u32, seeds[r], &summary, alerts);
            if let Some(reached) = end {
                record.truncated = true;
                record.reached_s = Some(reached.as_secs_f64());
            }
            Ok(record)
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
            span: Some(RunSpan { duration: experiment.duration, warmup: experiment.warmup }),
        })
    }

    /// Runs one variant on one seed, reporting to `progress` as it goes. Returns its summary,
    /// the cut an automatic warm-up chose, and, if `max_events` stopped it, the simulated time
    /// it reached.
    fn run_variant(
        &self,
        plan: &Plan,
        variant: &Variant,
        seed: u64,
        mut progress: Option<&mut RunProgress<'_, '_>>,
    ) -> Result<(RunSummary, Option<Duration>, Option<Duration>), RunError> {
        let experiment = plan.experiment();
        let registry = plan.registry();
        let duration = experiment.duration.0;
        let mut simulate =
            |stack: &stacksim_model::StackConfig, warmup| -> Result<(RunSummary, RunEnd), RunError> {
                // A copy of the policy (and of those the timeline switches to) per balancer
                // instance and host set: each keeps its own state.
                let policies = (0..stack.policy_copies())
                    .map(|_| {
                        let policy = registry.build(&variant.policy)?;
                        let later = variant
                            .later_policies
                            .iter()
                            .map(|p| registry.build(p))
                            .collect::<Result<Vec<_>, _>>()?;
                        Ok((policy, later))
                    })
                    .collect::<Result<Vec<_>, crate::registry::PolicyError>>()?;
                let params = RunParams { seed, duration, warmup };
                let watching = progress.is_some();
                let mut report = |reached: Duration, events: u64| {
                    if let Some(progress) = progress.as_deref_mut() {
                        progress.reached(reached.as_secs_f64() / duration.as_secs_f64(), events);
                    }
                };
                let control = RunControl {
                    max_events: self.options.max_events,
                    progress: if watching { Some(&mut report) } else { None },
                };
                let (summary, end) = simulate_copies(stack, policies, params, control)
                    .map_err(|source| RunError::Model { variant: variant.label.clone(), source })?;
                if let Some(progress) = progress.as_deref_mut() {
                    progress.pass_done(summary.events);
                }
                Ok((summary, end))
            };
        let reached = |end: RunEnd| match end {
            RunEnd::Complete => None,
            RunEnd::Truncated { reached } => Some(reached),
        };
        match experiment.warmup {
            Warmup::Fixed(warmup) => {
                let (summary, end) = simulate(&variant.stack, warmup.0)?;
                Ok((summary, None, reached(end)))
            }
            Warmup::Auto => {
                // A pilot run on the same seed, with windows, to choose the cut.
                let mut pilot_stack = variant.stack.clone();
                let window = *pilot_stack.observe.window.get_or_insert(pilot_window(duration));
                let (pilot, pilot_end) = simulate(&pilot_stack, Duration::ZERO)?;
                let means: Vec<f64> = pilot.windows.iter().map(|w| w.mean_s).collect();
                let cut = (window * mser5(&means) as u32).min(duration / 2);
                let (summary, end) = simulate(&variant.stack, cut)?;
                // A pilot stopped early chose the cut from part of the run: say so.
                let truncated = reached(end).or(reached(pilot_end).map(|_| duration));
                Ok((summary, Some(cut), truncated))
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
    /// Simulated time per run and its warm-up, so a merged report's table can say them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<RunSpan>,
}

/// How long each run of an experiment simulates, and its warm-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSpan {
    /// Simulated time per run, warm-up included.
    pub duration: crate::spec::HumanDuration,
    /// The warm-up, fixed or automatic.
    pub warmup: crate::spec::Warmup,
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
    /// The same shard given twice (the same file, or two copies of it).
    #[error("shard {shard} is given twice: merge each shard file once")]
    ShardTwice {
        /// The shard.
        shard: Shard,
    },
    /// A run outside the shard's slice of the grid: the file was damaged or edited.
    #[error(
        "shard {shard} holds run (variant {variant}, replication {replication}), which is not in its \
         slice of the grid: the file is damaged; re-run the shard"
    )]
    Foreign {
        /// The shard.
        shard: Shard,
        /// The run's variant index.
        variant: usize,
        /// The run's replication.
        replication: u32,
    },
    /// A run whose record is unlike the others: a metric missing or added, a count without a
    /// whole value (`null`, negative, fractional), or backends or windows unlike those of its
    /// variant's other runs. The file was damaged, edited, or made by another run.
    #[error(
        "shard {shard} holds run (variant {variant}, replication {replication}), which {problem}: the \
         file is damaged or from another run; re-run the shard"
    )]
    Malformed {
        /// The shard.
        shard: Shard,
        /// The run's variant index.
        variant: usize,
        /// The run's replication.
        replication: u32,
        /// What is wrong with it, in a phrase (`lacks the metric "arrived", which the other
        /// runs have`).
        problem: String,
    },
    /// A run that appears twice within one shard: the file was damaged or edited.
    #[error("run (variant {variant}, replication {replication}) appears twice: a shard file is damaged")]
    Duplicate {
        /// Variant index.
        variant: usize,
        /// Replication.
        replication: u32,
    },
    /// A shard that is not `INDEX/COUNT` with `0 <= INDEX < COUNT`: the file was damaged.
    #[error("shard {shard} is not a valid INDEX/COUNT: the file is damaged; re-run the shard")]
    Invalid {
        /// The shard.
        shard: Shard,
    },
    /// Shards that were not given (or are incomplete): re-run exactly these and merge again.
    #[error(
        "missing shard{s} {list} of {count} ({missing_runs} of {total_runs} runs): re-run {them} alone \
         with `stacksim run FILE --shard {rerun}/{count} --out DIR` (on Slurm: `sbatch --array={array}` \
         with the same job script), then merge again",
        s = if single(shards) { "" } else { "s" },
        list = ShardList(shards, ", "),
        them = if single(shards) { "it" } else { "each" },
        rerun = if single(shards) { shards[0].start().to_string() } else { "I".to_owned() },
        array = ShardList(shards, ","),
    )]
    Missing {
        /// The missing shards' indices, as increasing, disjoint inclusive ranges.
        shards: Vec<RangeInclusive<u32>>,
        /// Shards in all (the `N` of `--shard I/N`).
        count: u32,
        /// Runs that the missing shards would hold.
        missing_runs: u64,
        /// Runs in the whole grid.
        total_runs: u64,
    },
}

/// Whether `shards` is one shard.
fn single(shards: &[RangeInclusive<u32>]) -> bool {
    matches!(shards, [only] if only.start() == only.end())
}

/// Shard indices as Slurm writes array indices: `3,17,20-29` (with `", "` between items in prose).
struct ShardList<'a>(&'a [RangeInclusive<u32>], &'static str);

impl fmt::Display for ShardList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, range) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(self.1)?;
            }
            if range.start() == range.end() {
                write!(f, "{}", range.start())?;
            } else {
                write!(f, "{}-{}", range.start(), range.end())?;
            }
        }
        Ok(())
    }
}

/// Combines the shards of one experiment into its report, one shard at a time: the same
/// report, byte for byte, as running the whole grid at once.
///
/// Shards may come in any order. The merger keeps each run's record (what the report is built
/// from) and, per shard, its index and run count; a shard can be dropped once added, so merging
/// shard files read one by one needs the memory of one shard plus the runs, not of every file.
///
/// ```
/// # use stacksim::{Merger, ShardOutput};
/// # fn merge_files(shards: impl Iterator<Item = ShardOutput>) -> Result<stacksim::Report, stacksim::MergeError> {
/// let mut merger = Merger::new();
/// for shard in shards {
///     merger.add(shard)?; // e.g. read from `shard-I-of-N.json`, then dropped
/// }
/// merger.finish() // names the missing shards by index, if any
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Merger {
    grid: Option<Grid>,
}

/// What the first shard said about the whole grid, and the runs gathered so far.
#[derive(Debug)]
struct Grid {
    /// The first shard, without its records: every later shard must agree with it.
    first: ShardOutput,
    /// Runs in the whole grid: variants × replications.
    total: u64,
    /// Every run added so far, in the order added.
    records: Vec<RunRecord>,
    /// Runs added per shard index.
    added: BTreeMap<u32, u64>,
    /// What every record must have, from the first records seen.
    shapes: shape::Shapes,
}

impl Merger {
    /// A merger with no shards yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one shard's runs, after checking that it belongs to the same run as the shards
    /// before it, has not been added already, holds only runs of its own slice, and that each
    /// run's record is like the others (the same metrics, counts with whole values, the same
    /// backends and windows as the other runs of its variant).
    pub fn add(&mut self, mut shard: ShardOutput) -> Result<(), MergeError> {
        let Shard { index, count } = shard.shard;
        if count == 0 || index >= count {
            return Err(MergeError::Invalid { shard: shard.shard });
        }
        let records = std::mem::take(&mut shard.records);
        match &self.grid {
            Some(grid) => grid.check(&shard)?,
            None => {
                let total = shard.variants.len() as u64 * u64::from(shard.replications);
                self.grid = Some(Grid {
                    first: shard,
                    total,
                    records: Vec::new(),
                    added: BTreeMap::new(),
                    shapes: shape::Shapes::default(),
                });
            }
        }
        let grid = self.grid.as_mut().expect("set above");
        if grid.added.insert(index, records.len() as u64).is_some() {
            return Err(MergeError::ShardTwice { shard: Shard { index, count } });
        }
        let (variants, replications) = (grid.first.variants.len(), grid.first.replications);
        for record in &records {
            let position = || record.variant as u64 * u64::from(replications) + u64::from(record.replication);
            if record.variant >= variants
                || record.replication >= replications
                || position() % u64::from(count) != u64::from(index)
            {
                return Err(MergeError::Foreign {
                    shard: Shard { index, count },
                    variant: record.variant,
                    replication: record.replication,
                });
            }
            grid.shapes.check(record, variants).map_err(|problem| MergeError::Malformed {
                shard: Shard { index, count },
                variant: record.variant,
                replication: record.replication,
                problem,
            })?;
        }
        grid.records.extend(records);
        Ok(())
    }

    /// The report of the whole grid; an error naming the missing shards when runs are missing.
    pub fn finish(self) -> Result<Report, MergeError> {
        let Grid { first, total, mut records, added, .. } = self.grid.ok_or(MergeError::Empty)?;
        records.sort_unstable_by_key(|r| (r.variant, r.replication));
        if let Some(pair) =
            records.windows(2).find(|p| (p[0].variant, p[0].replication) == (p[1].variant, p[1].replication))
        {
            return Err(MergeError::Duplicate { variant: pair[0].variant, replication: pair[0].replication });
        }
        // Every record is in its shard's slice and none is there twice, so no shard has more
        // runs than its slice; those with fewer, and those never added, are missing.
        if (records.len() as u64) < total {
            let count = first.shard.count;
            let slice = |index: u32| {
                let index = u64::from(index);
                if index < total { (total - 1 - index) / u64::from(count) + 1 } else { 0 }
            };
            let complete = added.iter().filter(|&(&index, &runs)| runs == slice(index)).map(|(&i, _)| i);
            let owning = u64::from(count).min(total); // shards from `total` on own no runs
            let mut shards = Vec::new();
            let mut next = 0u64;
            for index in complete.map(u64::from).filter(|&i| i < owning).chain([owning]) {
                if index > next {
                    shards.push(next as u32..=(index - 1) as u32);
                }
                next = index + 1;
            }
            return Err(MergeError::Missing {
                shards,
                count,
                missing_runs: total - records.len() as u64,
                total_runs: total,
            });
        }
        let mut report =
            Report::from_records(&first.experiment, first.seed, &first.variants, first.baseline, &records);
        report.timeline = first.timeline;
        Ok(report)
    }
}

impl Grid {
    /// Whether `shard` is a slice of the same run as the first shard.
    fn check(&self, shard: &ShardOutput) -> Result<(), MergeError> {
        let first = &self.first;
        let what = if shard.experiment != first.experiment {
            "experiment"
        } else if shard.seed != first.seed {
            "seed"
        } else if shard.replications != first.replications {
            "replications"
        } else if shard.variants != first.variants {
            "variants"
        } else if shard.baseline != first.baseline {
            "baseline"
        } else if shard.shard.count != first.shard.count {
            "shard count"
        } else {
            return Ok(());
        };
        Err(MergeError::Mismatch { shard: shard.shard, what })
    }
}

/// Combines shards of one experiment into its report: the same report, byte for byte, as
/// running the whole grid at once. To merge shards read one at a time, use [`Merger`].
pub fn merge(shards: &[ShardOutput]) -> Result<Report, MergeError> {
    let mut merger = Merger::new();
    for shard in shards {
        merger.add(shard.clone())?;
    }
    merger.finish()
}

#[cfg(test)]
mod tests {
    use indexmap::IndexMap;

    use super::*;
    use crate::report::Reading;

    /// Shard `index/count` of a grid of `variants` × `replications` runs, with made-up values.
    fn shard(index: u32, count: u32, variants: usize, replications: u32) -> ShardOutput {
        let shard = Shard { index, count };
        let records = (0..variants)
            .flat_map(|v| (0..replications).map(move |r| (v, r)))
            .enumerate()
            .filter(|(k, _)| shard.contains(*k))
            .map(|(_, (variant, replication))| RunRecord {
                variant,
                replication,
                seed: u64::from(replication),
                events: 1,
                truncated: false,
                reached_s: None,
                metrics: IndexMap::from([("x".to_owned(), Reading(variant as f64 + f64::from(replication)))]),
                backends: Vec::new(),
                windows: Vec::new(),
                classes: Vec::new(),
            })
            .collect();
        ShardOutput {
            experiment: "e".to_owned(),
            seed: 1,
            shard,
            replications,
            baseline: 0,
            variants: (0..variants)
                .map(|v| VariantInfo { label: format!("v={v}"), params: IndexMap::new() })
                .collect(),
            records,
            timeline: None,
            span: None,
        }
    }

    fn merge_all(shards: impl IntoIterator<Item = ShardOutput>) -> Result<Report, MergeError> {
        let mut merger = Merger::new();
        for s in shards {
            merger.add(s)?;
        }
        merger.finish()
    }

    #[test]
    fn shards_in_any_order_merge_into_the_whole_grid() {
        let whole = merge_all([shard(0, 1, 3, 7)]).unwrap();
        let shards = merge_all((0..5).rev().map(|i| shard(i, 5, 3, 7))).unwrap();
        assert_eq!(shards.to_json(), whole.to_json());
        assert_eq!(whole.runs.len(), 21);
    }

    #[test]
    fn missing_shards_are_named_by_index_in_slurm_array_syntax() {
        let lost = |i: u32| i == 3 || i == 17 || (20..=29).contains(&i);
        let error = merge_all((0..32).filter(|&i| !lost(i)).map(|i| shard(i, 32, 5, 400))).unwrap_err();
        // 2000 runs: shards 0-15 hold 63 each, 16-31 hold 62.
        assert_eq!(
            error,
            MergeError::Missing {
                shards: vec![3..=3, 17..=17, 20..=29],
                count: 32,
                missing_runs: 63 + 62 * 11,
                total_runs: 2000
            }
        );
        assert_eq!(
            error.to_string(),
            "missing shards 3, 17, 20-29 of 32 (745 of 2000 runs): re-run each alone with \
             `stacksim run FILE --shard I/32 --out DIR` (on Slurm: `sbatch --array=3,17,20-29` with the \
             same job script), then merge again"
        );
        // As the README shows it.
        let error = merge_all((0..32).filter(|&i| i != 3 && i != 17).map(|i| shard(i, 32, 5, 400)));
        assert_eq!(
            error.unwrap_err().to_string(),
            "missing shards 3, 17 of 32 (125 of 2000 runs): re-run each alone with `stacksim run FILE \
             --shard I/32 --out DIR` (on Slurm: `sbatch --array=3,17` with the same job script), then \
             merge again"
        );
        let error = merge_all([0, 1, 2].map(|i| shard(i, 4, 5, 400))).unwrap_err().to_string();
        assert!(error.starts_with("missing shard 3 of 4 (500 of 2000 runs): re-run it alone with `stacksim run FILE --shard 3/4 "), "{error}");
        assert!(error.contains("`sbatch --array=3`"), "{error}");
        let error = merge_all([1, 2].map(|i| shard(i, 4, 5, 400))).unwrap_err().to_string();
        assert!(error.starts_with("missing shards 0, 3 of 4"), "{error}");
        assert!(error.contains("--array=0,3`"), "{error}");
    }

    #[test]
    fn an_incomplete_shard_is_missing_and_shards_past_the_grid_are_not() {
        // 2 × 3 = 6 runs in 8 shards: shards 6 and 7 own no runs, so need not be there.
        assert!(merge_all((0..6).map(|i| shard(i, 8, 2, 3))).is_ok());
        let error = merge_all((0..8).filter(|&i| i != 0).map(|i| shard(i, 8, 2, 3))).unwrap_err();
        assert!(matches!(&error, MergeError::Missing { shards, .. } if *shards == vec![0..=0]), "{error}");
        let mut damaged = shard(1, 2, 2, 3);
        damaged.records.pop();
        let error = merge_all([shard(0, 2, 2, 3), damaged]).unwrap_err();
        assert!(
            matches!(&error, MergeError::Missing { shards, missing_runs: 1, .. } if *shards == vec![1..=1]),
            "{error}"
        );
    }

    /// The error of merging shard 0/2 with shard 1/2 after `damage` to the latter's first record
    /// (variant 0, replication 1).
    fn damaged(damage: impl FnOnce(&mut RunRecord)) -> String {
        let with_backends = |index| {
            let mut s = shard(index, 2, 2, 3);
            for r in &mut s.records {
                r.metrics.insert("arrived".to_owned(), Reading(100.0));
                r.backends = ["app-0", "app-1"]
                    .map(|name| crate::report::BackendRecord {
                        name: name.to_owned(),
                        metrics: IndexMap::from([("routed".to_owned(), Reading(50.0))]),
                    })
                    .to_vec();
                r.classes = vec![crate::report::ClassRecord {
                    name: "search".to_owned(),
                    client: "users".to_owned(),
                    priority: "Low".to_owned(),
                    metrics: IndexMap::from([("arrived".to_owned(), Reading(20.0))]),
                }];
            }
            s
        };
        let mut second = with_backends(1);
        damage(&mut second.records[0]);
        match merge_all([with_backends(0), second]).unwrap_err() {
            MergeError::Malformed {
                shard: Shard { index: 1, count: 2 },
                variant: 0,
                replication: 1,
                problem,
            } => problem,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_record_unlike_the_others_is_refused_and_says_how() {
        let gone = damaged(|r| {
            r.metrics.shift_remove("x");
        });
        assert_eq!(gone, "lacks the metric \"x\", which the other runs have");
        let extra = damaged(|r| {
            r.metrics.insert("bogus".to_owned(), Reading(1.0));
        });
        assert_eq!(extra, "has a metric \"bogus\", which the other runs do not");
        for (value, shown) in [(f64::NAN, "no value"), (-5.0, "-5"), (2.5, "2.5")] {
            let problem = damaged(|r| {
                r.metrics.insert("arrived".to_owned(), Reading(value));
            });
            assert_eq!(
                problem,
                format!("has {shown} for the metric \"arrived\", a count that every run measures")
            );
        }
        let routed = damaged(|r| r.backends[1].metrics["routed"] = Reading(f64::NAN));
        assert_eq!(
            routed,
            "has no value for the backend \"app-1\" metric \"routed\", a count that every run measures"
        );
        let fewer = damaged(|r| {
            r.backends.pop();
        });
        assert_eq!(
            fewer,
            "has backends [\"app-0\"] where its variant's other runs have [\"app-0\", \"app-1\"]"
        );
        let class = damaged(|r| r.classes[0].metrics["arrived"] = Reading(1.5));
        assert_eq!(
            class,
            "has 1.5 for the class \"users/search\" metric \"arrived\", a count that every run measures"
        );
        let no_class = damaged(|r| r.classes.clear());
        assert_eq!(no_class, "has request classes [] where its variant's other runs have [\"users/search\"]");
        let windows = damaged(|r| r.windows.push(IndexMap::new()));
        assert_eq!(windows, "has 1 time-series windows where its variant's other runs have 0");
        // A value that may not exist (a percentile without a successful request) may be null.
        let mut fine = shard(1, 2, 2, 3);
        fine.records[0].metrics.insert("x".to_owned(), Reading(f64::NAN));
        assert!(merge_all([shard(0, 2, 2, 3), fine]).is_ok());
    }

    #[test]
    fn shards_that_do_not_fit_are_refused() {
        let twice = merge_all([shard(0, 2, 2, 3), shard(1, 2, 2, 3), shard(1, 2, 2, 3)]).unwrap_err();
        assert_eq!(twice, MergeError::ShardTwice { shard: Shard { index: 1, count: 2 } });
        let mut foreign = shard(1, 2, 2, 3);
        foreign.records[0].replication = 0;
        assert!(matches!(merge_all([foreign]), Err(MergeError::Foreign { variant: 0, replication: 0, .. })));
        let mut outside = shard(0, 1, 2, 3);
        outside.records[0].variant = 2;
        assert!(matches!(merge_all([outside]), Err(MergeError::Foreign { variant: 2, .. })));
        let mut doubled = shard(0, 1, 2, 3);
        doubled.records.push(doubled.records[4].clone());
        doubled.records.remove(5);
        assert_eq!(merge_all([doubled]).unwrap_err(), MergeError::Duplicate { variant: 1, replication: 1 });
        for (index, count) in [(0, 0), (2, 2)] {
            let mut invalid = shard(0, 1, 2, 3);
            invalid.shard = Shard { index, count };
            assert_eq!(
                merge_all([invalid]).unwrap_err(),
                MergeError::Invalid { shard: Shard { index, count } }
            );
        }
        let mut other = shard(1, 2, 2, 3);
        other.seed = 2;
        let error = merge_all([shard(0, 2, 2, 3), other]).unwrap_err();
        assert_eq!(error, MergeError::Mismatch { shard: Shard { index: 1, count: 2 }, what: "seed" });
        assert_eq!(Merger::new().finish().unwrap_err(), MergeError::Empty);
    }
}
