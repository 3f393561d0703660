//! Behaviour of the web-stack model, one module per behaviour. Add a test to the module whose
//! behaviour it pins, or a module for a new behaviour.

mod classes;
mod clients;
mod concurrency;
mod conservation;
mod control;
mod database;
mod discipline;
mod faults;
mod fleet;
mod hedging;
mod overload;
mod series;
mod snapshots;
mod topology;

use std::time::Duration;

use stacksim_model::policy::RoundRobin;
use stacksim_model::*;

/// Seconds.
pub fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// Milliseconds.
pub fn ms(millis: u64) -> Duration {
    Duration::from_millis(millis)
}

/// `n` backends of `workers` workers, bounded queues, exponential service with mean `mean`.
pub fn backends(n: usize, workers: u32, mean: Duration) -> Vec<BackendConfig> {
    (0..n)
        .map(|i| {
            BackendConfig::new(
                format!("app-{i}"),
                workers,
                QueueLimit::Bounded(50),
                ServiceTime::Exponential { mean },
            )
        })
        .collect()
}

/// A Poisson client at `rate` per second.
pub fn client(rate: f64) -> ClientConfig {
    ClientConfig::new("users", Arrivals::Poisson { rate_per_s: rate })
}

/// Runs `stack` behind round robin for `duration` with no warm-up.
pub fn run(stack: &StackConfig, duration: Duration) -> RunSummary {
    let params = RunParams { seed: 5, duration, warmup: Duration::ZERO };
    simulate(stack, Box::new(RoundRobin::new()), params).unwrap()
}

/// Runs `stack` with a fresh copy of `policy` for every balancer instance and host set.
pub fn run_with(stack: &StackConfig, policy: fn() -> Box<dyn Policy>, params: RunParams) -> RunSummary {
    let copies = (0..stack.policy_copies()).map(|_| (policy(), Vec::new())).collect();
    stacksim_model::stack::simulate_copies(stack, copies, params, Default::default()).unwrap().0
}

/// Asserts the conservation law of a run.
pub fn assert_conserved(run: &RunSummary) {
    assert_eq!(
        run.arrived,
        run.completed + run.rejected + run.timed_out + run.failed + run.in_flight,
        "arrived = completed + rejected + timed out + failed + in flight: {run:#?}"
    );
}
