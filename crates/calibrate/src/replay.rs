//! Runs an experiment with its attempts written as an access log (`stacksim run
//! --access-log`), and summarises each replication's log as `compare` needs it.
//!
//! The runs are those of the report: the baseline variant, replication `r` on the seed the
//! runner gives it ([`stacksim_engine::rng::replication_seed`]), so replication 0's log is the
//! log of the report's first run of that variant. The access log is a second pass over the
//! same seeds (the report's runs are not changed): it costs as much again as the baseline
//! variant's runs.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use stacksim::spec::Warmup;
use stacksim::{Plan, build::Variant};
use stacksim_engine::SimTime;
use stacksim_engine::rng::replication_seed;
use stacksim_model::{AttemptLog, AttemptOutcome, AttemptRecord, RunParams, WebStack};

use crate::observed::{LogSummary, Observed};
use crate::record::{LogFormat, LogRecord};
use crate::write::AccessLogWriter;

/// Start of a run whose experiment gives no `start`: 2024-01-01T00:00:00Z.
pub const DEFAULT_START_UNIX_S: f64 = 1_704_067_200.0;

/// What `stacksim run --access-log --out DIR` writes to `DIR/access-log.json`: each
/// replication's log, summarised.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SimulatedLogs {
    /// The experiment.
    pub experiment: String,
    /// The variant logged (the baseline).
    pub variant: String,
    /// One summary per replication.
    pub replications: Vec<LogSummary>,
}

/// Why the logged runs failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// The model refused the stack.
    #[error("simulating {variant}: {source}")]
    Model {
        /// The variant.
        variant: String,
        /// Why.
        source: stacksim_model::ModelError,
    },
    /// Its policy could not be built.
    #[error("building the policy of {variant}: {message}")]
    Policy {
        /// The variant.
        variant: String,
        /// Why.
        message: String,
    },
    /// The log could not be written.
    #[error("writing the access log: {0}")]
    Io(#[from] std::io::Error),
}

struct Shared {
    observed: Observed,
    writer: Option<AccessLogWriter<Box<dyn Write + Send>>>,
    error: Option<std::io::Error>,
    start_s: f64,
    names: Vec<String>,
}

struct Sink(Arc<Mutex<Shared>>);

impl AttemptLog for Sink {
    fn record(&mut self, a: &AttemptRecord) {
        let Ok(mut shared) = self.0.lock() else { return };
        let shared = &mut *shared;
        if let Some(w) = &mut shared.writer
            && shared.error.is_none()
            && let Err(e) = w.write(a)
        {
            shared.error = Some(e);
        }
        let secs = |t: SimTime| (t - SimTime::ZERO).as_secs_f64();
        let completed = a.outcome == AttemptOutcome::Completed;
        let record = LogRecord {
            time_s: shared.start_s + secs(a.sent),
            latency_s: Some(secs(a.ended) - secs(a.sent)),
            service_s: a.started.filter(|_| completed).map(|s| secs(a.ended) - secs(s)),
            queue_s: a.started.map(|s| secs(s) - secs(a.sent)),
            backend: a.backend.and_then(|b| shared.names.get(b as usize).cloned()),
            status: Some(a.outcome.status()),
            path: None,
            client: None,
            server_conn: None,
        };
        shared.observed.add(&record);
    }
}

/// The Unix time a plan's runs start at.
pub fn start_unix_s(plan: &Plan) -> f64 {
    plan.experiment()
        .start
        .as_ref()
        .and_then(|t| t.0.duration_since(SystemTime::UNIX_EPOCH).ok())
        .map_or(DEFAULT_START_UNIX_S, |d| d.as_secs_f64())
}

/// Runs every replication of `plan`'s baseline variant with an attempt log; replication 0's
/// is written to `log` in `format` (if given). Windows are the experiment's `observe` window
/// (default 60 s).
pub fn simulate_logs(
    plan: &Plan,
    format: LogFormat,
    log: Option<Box<dyn Write + Send>>,
) -> Result<SimulatedLogs, ReplayError> {
    let experiment = plan.experiment();
    let variant: &Variant = &plan.variants()[plan.baseline()];
    let window_s = experiment.observe.as_ref().map_or(60.0, |o| o.window.0.as_secs_f64());
    let warmup = match experiment.warmup {
        Warmup::Fixed(w) => w.0,
        _ => Duration::ZERO,
    };
    let start_s = start_unix_s(plan);
    let names: Vec<String> = variant.stack.backends.iter().map(|b| b.name.clone()).collect();
    let mut log = log;
    let mut replications = Vec::new();
    for r in 0..experiment.replications {
        let seed = replication_seed(experiment.seed, u64::from(r));
        let policy_error = |e: stacksim::PolicyError| ReplayError::Policy {
            variant: variant.label.clone(),
            message: e.to_string(),
        };
        let policy = plan.registry().build(&variant.policy).map_err(policy_error)?;
        let later = variant
            .later_policies
            .iter()
            .map(|p| plan.registry().build(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(policy_error)?;
        let params = RunParams { seed, duration: experiment.duration.0, warmup };
        let model_error = |source| ReplayError::Model { variant: variant.label.clone(), source };
        let mut sim =
            WebStack::simulation_with(&variant.stack, policy, later, params).map_err(model_error)?;
        let writer = log.take().map(|out| AccessLogWriter::new(out, format, start_s, names.clone()));
        let shared = Arc::new(Mutex::new(Shared {
            observed: Observed::new(window_s),
            writer,
            error: None,
            start_s,
            names: names.clone(),
        }));
        sim.model_mut().set_attempt_log(Box::new(Sink(Arc::clone(&shared))));
        sim.run_until(SimTime::from(experiment.duration.0));
        drop(sim);
        let shared = Arc::try_unwrap(shared).ok().and_then(|m| m.into_inner().ok());
        let Some(mut shared) = shared else { continue };
        if let Some(e) = shared.error.take() {
            return Err(e.into());
        }
        if let Some(w) = shared.writer.take() {
            w.into_inner().flush()?;
        }
        replications.push(shared.observed.summary());
    }
    Ok(SimulatedLogs { experiment: experiment.name.clone(), variant: variant.label.clone(), replications })
}
