//! This example shows capacity planning from Rust, without an experiment file: build today's
//! stack in code, check it against an SLO, then find how many app servers three times today's
//! traffic needs, and how much traffic that fleet could take.
//!
//! ```text
//!   users (Poisson, 400/s today)
//!          │
//!   ┌──────▼──────┐
//!   │  balancer   │  PowerOfTwoChoices
//!   └──┬───┬───┬──┘
//!   app-0 … app-5     8 workers each, queue of 64, log-normal service (median 60 ms)
//! ```
//!
//! Run it with `cargo run --release -p stacksim --example capacity_planning`.

use std::time::Duration;

use stacksim::capacity::{SearchOptions, max_rate, min_replicas};
use stacksim::spec::{
    ArrivalsSpec, BackendSpec, ClientSpec, Experiment, PolicySpec, QueueSpec, ServiceSpec, Slo, StackSpec,
};
use stacksim::{Metric, Plan, PolicyRegistry, Runner};

const TODAY_PER_S: f64 = 400.0;

/// Today's stack, as short as its experiment file would be.
fn todays_stack() -> Experiment {
    let service = ServiceSpec::log_normal(Duration::from_millis(60), 0.6);
    let stack = StackSpec::new(
        vec![ClientSpec::new("users", ArrivalsSpec::poisson(TODAY_PER_S))],
        PolicySpec::PowerOfTwoChoices,
        vec![BackendSpec::new("app", 8, QueueSpec::Bounded(64), service).replicas(6)],
    );
    Experiment::new("capacity-planning", stack, Duration::from_secs(15 * 60))
        .seed(42)
        .warmup(Duration::from_secs(60))
        .replications(4)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let runner = Runner::new();
    let slo: Slo = "p99<400ms,errors<0.1%".parse()?;
    // Checked once: every range, name and time; only a plan runs.
    let today = Plan::new(todays_stack(), &PolicyRegistry::new())?;

    let report = runner.run(&today)?;
    let now = &report.variants[0];
    let (p99, errors) = (now.metric(Metric::ResponseTimeP99), now.metric(Metric::ErrorRatio));
    println!(
        "today: {TODAY_PER_S}/s on 6 servers, p99 {:.0} ms ±{:.0}, errors {:.3}% -> SLO {slo}: {}",
        p99.mean * 1e3,
        p99.ci95 * 1e3,
        errors.mean * 100.0,
        if slo.met_by(now) { "met" } else { "MISSED" },
    );

    let target = 3.0 * TODAY_PER_S;
    let app = SearchOptions { backend: Some("app".into()), ..SearchOptions::default() };
    let fleet = min_replicas(&runner, &today, &slo, target, &app)?;
    let Some(servers) = fleet[0].best else {
        println!("no fleet size tried meets the SLO at {target}/s");
        return Ok(());
    };
    let sized = today.revised(|e| {
        if let Some(stack) = e.stack.inline_mut() {
            stack.backends[0].replicas = servers;
        }
    })?;
    let headroom = max_rate(&runner, &sized, &slo, &SearchOptions::default())?;

    println!();
    println!("{:<34} {:>12}", "question", "answer");
    println!("{:<34} {:>12}", "servers needed for 3x today", servers);
    if let Some(fails) = fleet[0].failed_at {
        println!("{:<34} {:>12}", "  (one fewer misses the SLO)", fails);
    }
    if let Some(rate) = headroom[0].best {
        println!("{:<34} {:>12}", format!("max rate on {servers} servers"), format!("{rate:.0}/s"));
        println!(
            "{:<34} {:>12}",
            "headroom over 3x today",
            format!("{:+.0}%", (rate / target - 1.0) * 100.0)
        );
    }
    Ok(())
}
