//! The validated plan: an experiment with every file read, every clock time an offset, every
//! name resolved and every range checked, translated into the model's types. Only a plan
//! runs ([`crate::Runner::run`] takes one), so an unchecked experiment cannot.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::build::{self, Variant};
use crate::estimate::Work;
use crate::locate::FieldPath;
use crate::problem::{Problem, Severity};
use crate::registry::PolicyRegistry;
use crate::report::{Mark, TimelineReport};
use crate::spec::{ArrivalsSpec, Experiment, StackRef, StackSpec};
use crate::trace::{self, LoadedTrace};

/// An experiment ready to run: checked, resolved and translated.
///
/// Made by [`Plan::new`] (or [`Experiment::load`](crate::Experiment::load), which also
/// places problems at their line and column). The experiment it was made from stays
/// readable as written; [`Plan::revised`] makes the plan of a changed copy, as capacity
/// searches do.
///
/// ```
/// use std::time::Duration;
/// use stacksim::spec::*;
/// use stacksim::{Plan, PolicyRegistry};
///
/// let stack = StackSpec::new(
///     vec![ClientSpec::new("users", ArrivalsSpec::Poisson { rate_per_s: 50.0 })],
///     PolicySpec::RoundRobin,
///     vec![BackendSpec::new("app", 4, QueueSpec::Bounded(10), ServiceSpec::exponential(Duration::from_millis(100)))],
/// );
/// let plan = Plan::new(Experiment::new("demo", stack, Duration::from_secs(60)), &PolicyRegistry::new())?;
/// assert_eq!(plan.variants().len(), 1);
///
/// // A problem is found before anything runs, and names its field.
/// let broken = StackSpec::new(vec![], PolicySpec::RoundRobin, vec![]);
/// let error = Plan::new(Experiment::new("broken", broken, Duration::from_secs(60)), &PolicyRegistry::new())
///     .unwrap_err();
/// assert!(error.to_string().contains("stack.clients"));
/// # Ok::<(), stacksim::PlanError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Plan {
    experiment: Experiment,
    stack: StackSpec,
    variants: Vec<Variant>,
    baseline: usize,
    timeline: Option<TimelineReport>,
    detection_reference: Duration,
    registry: PolicyRegistry,
    files: Files,
    work: Work,
    warnings: Vec<Problem>,
}

/// An experiment that cannot run: every problem found (errors, and any warnings beside
/// them), each at its field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.errors().map(|p| if p.path.is_root() { p.message.clone() } else { format!("{}: {}", p.path, p.message) }).collect::<Vec<_>>().join("\n"))]
pub struct PlanError {
    /// Every problem, in the order found.
    pub problems: Vec<Problem>,
}

impl PlanError {
    /// The problems that stop the experiment from running.
    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.severity == Severity::Error)
    }
}

/// The files an experiment names, resolved relative to its directory and read once; a
/// revised plan reuses them.
#[derive(Clone, Debug, Default)]
struct Files {
    dir: Option<PathBuf>,
    traces: BTreeMap<(PathBuf, Option<String>), Arc<LoadedTrace>>,
}

impl Plan {
    /// Checks `experiment` and makes its plan. Files it names (a stack file, traces) are
    /// looked up relative to the current directory; see [`Plan::in_dir`].
    pub fn new(experiment: Experiment, registry: &PolicyRegistry) -> Result<Plan, PlanError> {
        Self::build(experiment, registry, Files::default())
    }

    /// Checks `experiment` and makes its plan, with the files it names relative to `dir`
    /// (the experiment file's directory).
    pub fn in_dir(experiment: Experiment, dir: &Path, registry: &PolicyRegistry) -> Result<Plan, PlanError> {
        Self::build(experiment, registry, Files { dir: Some(dir.to_owned()), ..Files::default() })
    }

    /// The plan of a changed copy of this plan's experiment (its stack inline), with the
    /// same policies and files.
    pub fn revised(&self, change: impl FnOnce(&mut Experiment)) -> Result<Plan, PlanError> {
        let mut experiment = self.experiment.clone();
        change(&mut experiment);
        Self::build(experiment, &self.registry, self.files.clone())
    }

    fn build(
        mut experiment: Experiment,
        registry: &PolicyRegistry,
        mut files: Files,
    ) -> Result<Plan, PlanError> {
        let stack = match &experiment.stack {
            StackRef::Inline(stack) => stack.clone(),
            StackRef::File(file) => {
                let path = trace::path_of(files.dir.as_deref(), file);
                read_stack(&path).map_err(|message| PlanError {
                    problems: vec![Problem {
                        path: FieldPath::root().field("stack"),
                        severity: Severity::Error,
                        message,
                    }],
                })?
            }
        };
        experiment.stack = StackRef::Inline(stack.clone());
        // Traces are read first (each is bounded in size), then the work is sized before
        // anything is expanded: four billion replicas are refused here, not by the allocator.
        let (mut problems, traces) = files.read_traces(&experiment, &stack);
        let rows: Vec<Option<usize>> = traces.iter().map(|t| t.as_ref().map(|t| t.times.len())).collect();
        let work = Work::of(&experiment, &stack, &rows, 1);
        let limits = work.problems();
        if limits.iter().any(|p| p.severity == Severity::Error) {
            problems.extend(limits);
            return Err(PlanError { problems });
        }
        problems.extend(limits);
        let (found, resolved) = crate::validate::check(&experiment, &stack, traces, registry);
        problems.extend(found);
        // Which backend each timeline entry names, per variant (a sweep may change them).
        let names = build::backend_names_in(&stack, &experiment.timeline);
        let mut timelines = Vec::new();
        for spec in build::variant_specs(&experiment, &stack) {
            match build::timeline(&spec, &experiment, &names) {
                Ok(timeline) => timelines.push((spec, timeline)),
                Err(found) => {
                    for problem in found {
                        if !problems.contains(&problem) {
                            problems.push(problem);
                        }
                    }
                }
            }
        }
        if problems.iter().any(|p| p.severity == Severity::Error) {
            return Err(PlanError { problems });
        }
        let mut variants: Vec<Variant> = timelines
            .into_iter()
            .map(|(spec, timeline)| build::variant(spec, timeline, &experiment, &resolved))
            .collect();
        // Every run of an experiment reports the same metrics: the overload metrics in all
        // variants when one of them has an overload control.
        if variants.iter().any(|v| v.stack.has_overload_control()) {
            variants.iter_mut().for_each(|v| v.stack.report_overload = true);
        }
        if variants.iter().any(|v| v.stack.backends.iter().any(|b| b.concurrency.is_some())) {
            variants.iter_mut().for_each(|v| v.stack.report_concurrency = true);
        }
        let baseline = experiment
            .baseline
            .as_ref()
            .and_then(|label| variants.iter().position(|v| v.label == *label))
            .unwrap_or(0);
        // Detection is measured from the incident's start, else the first timeline action,
        // else the start of the run.
        let detection_reference = resolved
            .incident
            .map(|(from, _)| from)
            .or_else(|| resolved.timeline.iter().copied().min())
            .unwrap_or(Duration::ZERO);
        let timeline = timeline_report(&experiment, &resolved.timeline);
        Ok(Plan {
            experiment,
            stack,
            variants,
            baseline,
            timeline,
            detection_reference,
            registry: registry.clone(),
            files,
            work,
            warnings: problems,
        })
    }

    /// The experiment as written, with a stack file's stack inline.
    pub fn experiment(&self) -> &Experiment {
        &self.experiment
    }

    /// The stack, from the experiment or its stack file.
    pub fn stack(&self) -> &StackSpec {
        &self.stack
    }

    /// The variants to run, in sweep order.
    pub fn variants(&self) -> &[Variant] {
        &self.variants
    }

    /// The index of the variant the others are compared with.
    pub fn baseline(&self) -> usize {
        self.baseline
    }

    /// Things that will run but look wrong.
    pub fn warnings(&self) -> &[Problem] {
        &self.warnings
    }

    /// How much work the plan is, estimated (one run at a time).
    pub fn work(&self) -> &Work {
        &self.work
    }

    /// The policies the plan's variants are built from.
    pub fn registry(&self) -> &PolicyRegistry {
        &self.registry
    }

    /// The clock, timeline marks and alert rules as reports show them.
    pub(crate) fn timeline(&self) -> Option<&TimelineReport> {
        self.timeline.as_ref()
    }

    /// Where alert detection is measured from (offset from the start of the run).
    pub(crate) fn detection_reference(&self) -> Duration {
        self.detection_reference
    }
}

impl Files {
    /// Reads every client's trace (reusing ones read before); returns the problems and, per
    /// client, its trace.
    fn read_traces(
        &mut self,
        experiment: &Experiment,
        stack: &StackSpec,
    ) -> (Vec<Problem>, Vec<Option<Arc<LoadedTrace>>>) {
        let mut problems = Vec::new();
        let mut traces = Vec::new();
        for (i, client) in stack.clients.iter().enumerate() {
            let ArrivalsSpec::Trace { file, key_column } = &client.arrivals else {
                traces.push(None);
                continue;
            };
            let path = trace::path_of(self.dir.as_deref(), file);
            let key = (path.clone(), key_column.clone());
            if let Some(trace) = self.traces.get(&key) {
                traces.push(Some(trace.clone()));
                continue;
            }
            match trace::read(&path, key_column.as_deref(), experiment.start) {
                Ok(trace) => {
                    let trace = Arc::new(trace);
                    self.traces.insert(key, trace.clone());
                    traces.push(Some(trace));
                }
                Err(error) => {
                    problems.push(Problem {
                        path: FieldPath::root()
                            .field("stack")
                            .field("clients")
                            .index(i)
                            .field("arrivals")
                            .field("file"),
                        severity: Severity::Error,
                        message: format!("{}: {error}", path.display()),
                    });
                    traces.push(None);
                }
            }
        }
        (problems, traces)
    }
}

/// Reads and parses a stack file named by an experiment built in Rust (files loaded with
/// [`Experiment::load`](crate::Experiment::load) are read there, with located errors).
fn read_stack(path: &Path) -> Result<StackSpec, String> {
    let text = crate::files::read_text(path, crate::files::MAX_FILE_BYTES)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    crate::files::parse_ron(&text).map_err(|e| format!("{}:{e}", path.display()))
}

/// The experiment's clock, timeline marks and alert rules as the report shows them; `None`
/// for an experiment with neither a timeline nor a time series.
fn timeline_report(experiment: &Experiment, offsets: &[Duration]) -> Option<TimelineReport> {
    if experiment.timeline.is_empty() && experiment.observe.is_none() {
        return None;
    }
    let marks = experiment
        .timeline
        .iter()
        .zip(offsets)
        .map(|(e, at)| {
            let what = crate::spec::action_label(&e.action);
            let label = match &e.note {
                Some(note) => format!("{note} ({what})"),
                None => what,
            };
            Mark { at_s: at.as_secs_f64(), label }
        })
        .collect();
    Some(TimelineReport {
        start: experiment.start.map(|s| s.to_string()),
        window_s: experiment.observe.as_ref().map_or(0.0, |o| o.window.0.as_secs_f64()),
        marks,
        alerts: experiment
            .alerts
            .iter()
            .map(|a| {
                let for_ = a.for_.map_or(String::new(), |f| format!(" for {f}"));
                format!("{}: {:?} above {}{for_}", a.name, a.metric, a.above)
            })
            .collect(),
    })
}

impl fmt::Display for Plan {
    /// One line: variants × replications, simulated time, warm-up and seed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let e = &self.experiment;
        write!(
            f,
            "{}: {} variants × {} replications of {}",
            e.name,
            self.variants.len(),
            e.replications,
            e.duration
        )
    }
}
