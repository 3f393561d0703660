//! Running a stack: one call from a configuration to a summary, with an optional event limit
//! and progress reports.

use std::time::Duration;

use stacksim_engine::{SimTime, Stop};

use super::{RunSummary, StackConfig, WebStack};
use crate::ModelError;
use crate::policy::Policy;
use crate::topology::PolicyCopies;

/// One run's clock settings and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunParams {
    /// Master seed of the run's random streams.
    pub seed: u64,
    /// Simulated time of the whole run, warm-up included.
    pub duration: Duration,
    /// Initial period excluded from every statistic; shorter than `duration`.
    pub warmup: Duration,
}

/// Runs `stack` behind `policy` and returns what it measured.
///
/// ```
/// use std::time::Duration;
/// use stacksim_model::{policy::RoundRobin, *};
///
/// let service = ServiceTime::Exponential { mean: Duration::from_millis(100) };
/// let stack = StackConfig {
///     clients: vec![ClientConfig::new("users", Arrivals::Poisson { rate_per_s: 50.0 })],
///     backends: (0..2)
///         .map(|i| BackendConfig::new(format!("app-{i}"), 4, QueueLimit::Bounded(10), service.clone()))
///         .collect(),
///     ..StackConfig::default()
/// };
/// let params = RunParams { seed: 1, duration: Duration::from_secs(600), warmup: Duration::from_secs(60) };
/// let summary = simulate(&stack, Box::new(RoundRobin::new()), params)?;
/// assert_eq!(summary.arrived, summary.completed + summary.rejected + summary.in_flight);
/// assert!((summary.backends[0].utilization - 0.625).abs() < 0.05); // 25/s × 0.1 s / 4 workers
/// # Ok::<(), ModelError>(())
/// ```
pub fn simulate(
    stack: &StackConfig,
    policy: Box<dyn Policy>,
    params: RunParams,
) -> Result<RunSummary, ModelError> {
    simulate_with(stack, policy, Vec::new(), params)
}

/// Like [`simulate`], with the policies that `SetPolicy` actions of the timeline switch to
/// (`SetPolicy { policy: i }` switches to `later[i]`).
pub fn simulate_with(
    stack: &StackConfig,
    policy: Box<dyn Policy>,
    later: Vec<Box<dyn Policy>>,
    params: RunParams,
) -> Result<RunSummary, ModelError> {
    simulate_controlled(stack, policy, later, params, RunControl::default()).map(|(summary, _)| summary)
}

/// Events between two progress reports of a [`RunControl`]: about a tenth of a second of a
/// run on one core.
pub const PROGRESS_EVERY: u64 = 1 << 20;

/// How a run may be cut short and watched. The default does neither, and costs nothing.
#[derive(Default)]
pub struct RunControl<'a> {
    /// Stop the run after this many events (`stacksim run --max-events`): it ends
    /// [truncated](RunEnd::Truncated), its summary covering the simulated time it reached.
    /// Costs one comparison per event.
    pub max_events: Option<u64>,
    /// Called every [`PROGRESS_EVERY`] events with the simulated time reached (from the start
    /// of the run) and the events handled so far. Costs one comparison per event.
    pub progress: Option<&'a mut dyn FnMut(Duration, u64)>,
}

impl std::fmt::Debug for RunControl<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunControl")
            .field("max_events", &self.max_events)
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// It simulated its whole duration.
    Complete,
    /// [`RunControl::max_events`] stopped it `reached` after its start; its summary covers the
    /// time up to there (none of it, if that is within the warm-up).
    Truncated {
        /// The simulated time it reached.
        reached: Duration,
    },
}

/// Like [`simulate_with`], under `control`: a run that may be stopped after a number of
/// events, and that reports its progress as it goes. Stopping changes nothing before the
/// stop: the events handled are those an unlimited run handles first.
///
/// ```
/// use std::time::Duration;
/// use stacksim_model::{policy::RoundRobin, stack::{RunControl, RunEnd, simulate_controlled}, *};
///
/// let service = ServiceTime::Exponential { mean: Duration::from_millis(100) };
/// let stack = StackConfig {
///     clients: vec![ClientConfig::new("users", Arrivals::Poisson { rate_per_s: 50.0 })],
///     backends: vec![BackendConfig::new("app", 8, QueueLimit::Bounded(10), service)],
///     ..StackConfig::default()
/// };
/// let params = RunParams { seed: 1, duration: Duration::from_secs(3600), warmup: Duration::ZERO };
/// let control = RunControl { max_events: Some(1000), ..RunControl::default() };
/// let (summary, end) = simulate_controlled(&stack, Box::new(RoundRobin::new()), vec![], params, control)?;
/// assert_eq!(summary.events, 1000);
/// let RunEnd::Truncated { reached } = end else { panic!("an hour is more than 1000 events") };
/// assert!(reached < Duration::from_secs(60), "{reached:?}");
/// # Ok::<(), ModelError>(())
/// ```
pub fn simulate_controlled(
    stack: &StackConfig,
    policy: Box<dyn Policy>,
    later: Vec<Box<dyn Policy>>,
    params: RunParams,
    control: RunControl<'_>,
) -> Result<(RunSummary, RunEnd), ModelError> {
    simulate_copies(stack, vec![(policy, later)], params, control)
}

/// Like [`simulate_controlled`], with one copy of the policy (and of the policies the timeline
/// switches to) for each balancer instance and host set: as many as
/// [`StackConfig::policy_copies`] says. A stack with one balancer needs one.
pub fn simulate_copies(
    stack: &StackConfig,
    policies: PolicyCopies,
    params: RunParams,
    control: RunControl<'_>,
) -> Result<(RunSummary, RunEnd), ModelError> {
    let mut sim = WebStack::simulation_copies(stack, policies, params)?;
    let until = SimTime::from(params.duration);
    // One loop for every run, even with nothing to watch (the limit is then never reached).
    // With a second instantiation of the event loop here (`run_until` beside
    // `run_until_or_events`), the heap's `pop` was left a call and the CLI's 5-million-request
    // M/M/1 took 0.64 s instead of 0.47 s (BENCHMARKS.md).
    let RunControl { max_events, mut progress } = control;
    let limit = max_events.unwrap_or(u64::MAX);
    let end = loop {
        let next = match progress {
            Some(_) => sim.events_handled().saturating_add(PROGRESS_EVERY).min(limit),
            None => limit,
        };
        match sim.run_until_or_events(until, next) {
            Stop::EventLimit if sim.events_handled() >= limit => {
                break RunEnd::Truncated { reached: sim.now() - SimTime::ZERO };
            }
            Stop::EventLimit => {
                if let Some(report) = progress.as_mut() {
                    report(sim.now() - SimTime::ZERO, sim.events_handled());
                }
            }
            _ => break RunEnd::Complete,
        }
    };
    let (now, events) = (sim.now(), sim.events_handled());
    Ok((sim.into_model().summary(now, events), end))
}
