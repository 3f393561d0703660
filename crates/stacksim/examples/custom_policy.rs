//! This example shows how to bring your own balancing policy, with parameters: implement
//! [`stacksim::model::Policy`], give its parameters a type that reads them from the
//! experiment file, checks them and builds the policy ([`Params`]), register that type in a
//! [`PolicyRegistry`] under a name, and select it in an experiment as
//! `Custom(name: "sed", params: (never_queue: true))`, here next to three built-ins.
//!
//! The policy is Linux IPVS's "shortest expected delay" (`sed`): send to the backend with the
//! lowest `(in flight + 1) / weight`, the delay a new request would expect if each backend
//! served at a speed proportional to its weight. With `never_queue: true` it is IPVS's
//! "never queue" (`nq`): a backend with nothing in flight takes the request first. Neither is
//! among stacksim's built-ins. (Here the two differ only when no big server is idle but a
//! small one is and a big one has a single request in flight, which at this load hardly
//! happens: they come out the same, and both beat round robin and random.)
//!
//! ```text
//!   users (Poisson, 240/s)
//!          │
//!   ┌──────▼──────┐
//!   │  balancer   │  Custom sed | Custom nq | LeastConnections | RoundRobin | Random
//!   └─┬────┬────┬─┘
//!   big-0 big-1  small-0 small-1
//!   8 workers,   4 workers,        exponential service, mean 80 ms,
//!   weight 2     weight 1          queues of 50
//! ```
//!
//! Run it with `cargo run --release -p stacksim --example custom_policy`. Before relying on a
//! policy of your own, property-test it with `stacksim-testkit` (`check_policy`).

use serde::Deserialize;
use stacksim::model::policy::catalog::{Context, Params, Problem};
use stacksim::model::policy::{BackendState, Policy, RequestInfo, SimRng};
use stacksim::{Experiment, PolicyRegistry, Runner};

/// IPVS `sed`: the lowest `(in_flight + 1) / weight`, the lowest index on ties; as IPVS `nq`,
/// an idle backend first.
#[derive(Debug, Default)]
struct ShortestExpectedDelay {
    never_queue: bool,
}

impl Policy for ShortestExpectedDelay {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let available = backends.iter().enumerate().filter(|(_, b)| b.is_available());
        if self.never_queue
            && let Some((idle, _)) = available.clone().find(|(_, b)| b.in_flight == 0)
        {
            return Some(idle);
        }
        let mut best: Option<usize> = None;
        for (i, b) in available {
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

/// Its parameters, as the experiment file writes them:
/// `Custom(name: "sed", params: (never_queue: true))`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ShortestExpectedDelaySpec {
    /// Send to an idle backend first (IPVS `nq`). Default: false (IPVS `sed`).
    #[serde(default)]
    never_queue: bool,
}

impl Params for ShortestExpectedDelaySpec {
    fn check(&self, context: &Context) -> Vec<Problem> {
        if self.never_queue && context.backends == 1 {
            vec![Problem::warning("never_queue changes nothing in front of one backend").at("never_queue")]
        } else {
            Vec::new()
        }
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(ShortestExpectedDelay { never_queue: self.never_queue })
    }
}

const EXPERIMENT: &str = r#"
// Two big and two small app servers at 80% load: does shortest expected delay, or never
// queue, beat the built-ins when backends differ in size?
Experiment(
    name: "custom-policy",
    seed: 7,
    duration: "10m",
    warmup: "1m",
    replications: 3,
    stack: (
        clients: [(name: "users", arrivals: Poisson(rate_per_s: 240.0))],
        balancer: (policy: Custom(name: "sed")),
        backends: [
            (name: "big", replicas: 2, workers: 8, weight: 2, queue: Bounded(50),
             service: Exponential(mean: "80ms")),
            (name: "small", replicas: 2, workers: 4, weight: 1, queue: Bounded(50),
             service: Exponential(mean: "80ms")),
        ],
    ),
    sweep: [
        Policy([
            Custom(name: "sed", params: (never_queue: false)),
            Custom(name: "sed", params: (never_queue: true)),
            LeastConnections,
            RoundRobin,
            Random,
        ]),
    ],
)
"#;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut registry = PolicyRegistry::new();
    registry.register_with_params::<ShortestExpectedDelaySpec>("sed");

    let loaded = Experiment::load_str(EXPERIMENT, "custom-policy.ron", &registry)?;
    for warning in &loaded.warnings {
        eprintln!("{warning}");
    }
    let report = Runner::new().run(&loaded.plan)?;

    println!("{:<60} {:>16} {:>16} {:>9}", "variant", "mean [ms]", "p99 [ms]", "errors");
    for variant in &report.variants {
        let mean = variant.metrics["response_time_mean_s"];
        let p99 = variant.metrics["response_time_p99_s"];
        let errors = variant.metrics["error_ratio"];
        println!(
            "{:<60} {:>9.1} ±{:<5.1} {:>9.1} ±{:<5.1} {:>8.3}%",
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
