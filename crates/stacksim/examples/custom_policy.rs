//! This example shows how to bring your own balancing policy: implement
//! [`stacksim::model::Policy`], register it in a [`PolicyRegistry`] under a name, and select it
//! in an experiment as `Custom("name")`, here next to three built-ins.
//!
//! The policy is Linux IPVS's "shortest expected delay" (`sed`): send to the backend with the
//! lowest `(in flight + 1) / weight`, the delay a new request would expect if each backend
//! served at a speed proportional to its weight. It is not among stacksim's built-ins.
//!
//! ```text
//!   users (Poisson, 240/s)
//!          │
//!   ┌──────▼──────┐
//!   │  balancer   │  Custom("shortest-expected-delay") | LeastConnections | RoundRobin | Random
//!   └─┬────┬────┬─┘
//!   big-0 big-1  small-0 small-1
//!   8 workers,   4 workers,        exponential service, mean 80 ms,
//!   weight 2     weight 1          queues of 50
//! ```
//!
//! Run it with `cargo run --release -p stacksim --example custom_policy`. Before relying on a
//! policy of your own, property-test it with `stacksim-testkit` (`check_policy`).

use stacksim::model::policy::{BackendState, Policy, RequestInfo, SimRng};
use stacksim::{Experiment, PolicyRegistry, Runner};

/// IPVS `sed`: the lowest `(in_flight + 1) / weight`, the lowest index on ties.
#[derive(Debug, Default)]
struct ShortestExpectedDelay;

impl Policy for ShortestExpectedDelay {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let mut best: Option<usize> = None;
        for (i, b) in backends.iter().enumerate().filter(|(_, b)| b.is_available()) {
            // (n_i + 1) / w_i < (n_b + 1) / w_b, in integers.
            let better = best.is_none_or(|j| {
                let incumbent = &backends[j];
                (u64::from(b.in_flight) + 1) * u64::from(incumbent.weight)
                    < (u64::from(incumbent.in_flight) + 1) * u64::from(b.weight)
            });
            if better {
                best = Some(i);
            }
        }
        best
    }
}

const EXPERIMENT: &str = r#"
// Two big and two small app servers at 80% load: does shortest expected delay beat the
// built-ins when backends differ in size?
Experiment(
    name: "custom-policy",
    seed: 7,
    duration: "10m",
    warmup: "1m",
    replications: 3,
    stack: (
        clients: [(name: "users", arrivals: Poisson(rate_per_s: 240.0))],
        balancer: (policy: Custom("shortest-expected-delay")),
        backends: [
            (name: "big", replicas: 2, workers: 8, weight: 2, queue: Bounded(50),
             service: Exponential(mean: "80ms")),
            (name: "small", replicas: 2, workers: 4, weight: 1, queue: Bounded(50),
             service: Exponential(mean: "80ms")),
        ],
    ),
    sweep: [
        Policy([Custom("shortest-expected-delay"), LeastConnections, RoundRobin, Random]),
    ],
)
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = PolicyRegistry::new();
    registry.register("shortest-expected-delay", || Box::new(ShortestExpectedDelay));

    let loaded = Experiment::load_str(EXPERIMENT, "custom-policy.ron", &registry)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let report = Runner::new().run(&loaded.plan)?;

    println!("{:<48} {:>16} {:>16} {:>9}", "variant", "mean [ms]", "p99 [ms]", "errors");
    for variant in &report.variants {
        let mean = variant.metrics["response_time_mean_s"];
        let p99 = variant.metrics["response_time_p99_s"];
        let errors = variant.metrics["error_ratio"];
        println!(
            "{:<48} {:>9.1} ±{:<5.1} {:>9.1} ±{:<5.1} {:>8.3}%",
            variant.label,
            mean.mean * 1e3,
            mean.ci95 * 1e3,
            p99.mean * 1e3,
            p99.ci95 * 1e3,
            errors.mean * 100.0,
        );
    }
    Ok(())
}
