//! Scenarios shared by the stacksim benches and the release-mode resource checks.
//!
//! Each scenario is a function of a seed and a number of requests, and returns the events
//! handled; the benches in `benches/engine.rs` time them, and the memory check in
//! `tests/memory.rs` builds its stack from [`single_worker_backends`]. Every scenario offers
//! `requests` arrivals *on average*: it simulates `requests / rate` seconds of a Poisson
//! stream.
//!
//! - [`reference::mm1`]: a bare M/M/1 event loop on `std`'s `BinaryHeap`, no metrics. It is
//!   the ceiling the engine is measured against.
//! - [`mm1`]: the same M/M/1 queue as a stacksim [`StackConfig`]: one backend, one worker,
//!   unbounded queue, exponential service with mean 1 s, Poisson arrivals at 0.9/s.
//! - [`mm1_timeout`]: the stacksim M/M/1 with a client timeout on every attempt, which almost
//!   always fires after the response: the cost of timers that outlive their attempt.
//! - [`p2c_10`]: ten such backends behind the power of two choices at 9/s in total.
//! - [`fleet`]: `n` such backends at 90% load behind any policy: the scaling bench
//!   (`benches/scaling.rs`), from 10 to 100,000 backends.
#![warn(missing_docs)]

use std::time::Duration;

use stacksim_engine::{SimTime, Simulation};
use stacksim_model::policy::{RandomChoices, RoundRobin};
use stacksim_model::{
    Arrivals, BackendConfig, ClientConfig, ModelError, Policy, QueueLimit, RunParams, ServiceTime,
    StackConfig, WebStack,
};

pub mod reference;

/// Peak resident set size of this process in KiB (`VmHWM` in `/proc/self/status`).
///
/// `None` where the file does not exist or does not report it; that is a skip on a developer's
/// machine, but a failure in CI (`CI` set), where a memory check must not pass unmeasured.
pub fn peak_rss_kib() -> Option<u64> {
    let read = || {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        // "VmHWM:	   12345 kB"
        line.split_whitespace().nth(1)?.parse().ok()
    };
    let peak = read();
    assert!(
        peak.is_some() || std::env::var_os("CI").is_none(),
        "CI is set but this system does not report VmHWM in /proc/self/status: the memory check cannot run"
    );
    peak
}

/// Arrival rate of the M/M/1 scenarios [requests·s⁻¹].
pub const MM1_RATE_PER_S: f64 = 0.9;

/// Total arrival rate of the ten-backend scenario [requests·s⁻¹].
pub const P2C_RATE_PER_S: f64 = 9.0;

/// Simulated time that offers `requests` arrivals on average at `rate_per_s`.
pub fn horizon(requests: u64, rate_per_s: f64) -> Duration {
    Duration::from_secs_f64(requests as f64 / rate_per_s)
}

/// `n` single-worker backends with unbounded queues and exponential service of mean 1 s,
/// fed by one Poisson client at `rate_per_s`.
pub fn single_worker_backends(n: usize, rate_per_s: f64) -> StackConfig {
    let service = ServiceTime::Exponential { mean: Duration::from_secs(1) };
    StackConfig {
        clients: vec![ClientConfig::new("users", Arrivals::Poisson { rate_per_s })],
        backends: (0..n)
            .map(|i| BackendConfig::new(format!("app-{i}"), 1, QueueLimit::Unbounded, service.clone()))
            .collect(),
        ..StackConfig::default()
    }
}

/// Turns on every overload control of issue 12 in `stack` with settings that never bind
/// (limits far above the load, thresholds no healthy run reaches), so that a run makes the
/// same decisions and pays only their bookkeeping: cluster circuit breakers, a rate limit at
/// the balancer and at each backend, admission control, a client breaker and throttling, slow
/// start and warm-up (neither active without a restart).
pub fn guarded(stack: &mut StackConfig) {
    use stacksim_model::overload::*;
    let never = RateLimit { tokens_per_s: 1e12, burst: u32::MAX };
    for b in &mut stack.backends {
        b.circuit_breakers = Some(CircuitBreakers {
            max_connections: u32::MAX,
            max_pending_requests: u32::MAX,
            max_requests: u32::MAX,
            max_retries: 3,
        });
        b.rate_limit = Some(never);
        b.slow_start =
            Some(SlowStart { window: Duration::from_secs(60), aggression: 1.0, min_weight_percent: 10.0 });
        b.warmup = Some(Warmup { window: Duration::from_secs(30), factor: 3.0 });
    }
    for c in &mut stack.clients {
        c.breaker = Some(ClientBreaker {
            failure_rate: 0.5,
            window: Duration::from_secs(10),
            min_requests: 20,
            open_for: Duration::from_secs(30),
            half_open: 5,
        });
        c.throttle = Some(Throttle { k: 2.0, window: Duration::from_secs(120) });
    }
    stack.rate_limit = Some(never);
    stack.admission_control = Some(AdmissionControl {
        window: Duration::from_secs(30),
        success_threshold: 0.95,
        aggression: 1.0,
        max_rejection_probability: 0.8,
    });
}

/// A ready-to-run stacksim simulation: `stack` behind `policy` for the time that offers
/// `requests` arrivals at `rate_per_s`, with no warm-up, so every request is measured.
pub fn simulation(
    stack: &StackConfig,
    policy: Box<dyn Policy>,
    seed: u64,
    requests: u64,
    rate_per_s: f64,
) -> Result<(Simulation<WebStack>, SimTime), ModelError> {
    let duration = horizon(requests, rate_per_s);
    let params = RunParams { seed, duration, warmup: Duration::ZERO };
    let sim = WebStack::simulation(stack, policy, params)?;
    Ok((sim, SimTime::from(duration)))
}

/// Runs stacksim's M/M/1 (one backend behind round robin, full metrics) and returns the
/// events the engine handled.
pub fn mm1(seed: u64, requests: u64) -> u64 {
    let stack = single_worker_backends(1, MM1_RATE_PER_S);
    run(&stack, Box::new(RoundRobin::new()), seed, requests, MM1_RATE_PER_S)
}

/// The client timeout of [`mm1_timeout`]: six mean response times, so all but e⁻⁶ = 0.25% of
/// requests are answered first and their timeout finds the attempt already ended.
pub const MM1_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs stacksim's M/M/1 with a client timeout on every attempt ([`MM1_CLIENT_TIMEOUT`]) and
/// returns the events the engine handled: about three per request, the third a timeout that
/// almost always finds its attempt gone (the stale-attempt check).
pub fn mm1_timeout(seed: u64, requests: u64) -> u64 {
    let mut stack = single_worker_backends(1, MM1_RATE_PER_S);
    stack.clients[0].timeout = Some(MM1_CLIENT_TIMEOUT);
    run(&stack, Box::new(RoundRobin::new()), seed, requests, MM1_RATE_PER_S)
}

/// Runs ten single-worker backends behind [`RandomChoices::power_of_two`] at
/// [`P2C_RATE_PER_S`] (full metrics) and returns the events the engine handled.
pub fn p2c_10(seed: u64, requests: u64) -> u64 {
    let stack = single_worker_backends(10, P2C_RATE_PER_S);
    run(&stack, Box::new(RandomChoices::power_of_two()), seed, requests, P2C_RATE_PER_S)
}

/// Runs [`p2c_10`]'s stack with `instances` balancer instances (issue 11), each with its own
/// power-of-two-choices copy, requests split among them in turn, and returns the events the
/// engine handled. With one instance it is [`p2c_10`].
pub fn p2c_10_instances(instances: u32, seed: u64, requests: u64) -> u64 {
    let mut stack = single_worker_backends(10, P2C_RATE_PER_S);
    stack.topology.instances = instances;
    let duration = horizon(requests, P2C_RATE_PER_S);
    let params = RunParams { seed, duration, warmup: Duration::ZERO };
    let copies = (0..stack.policy_copies())
        .map(|_| (Box::new(RandomChoices::power_of_two()) as Box<dyn Policy>, Vec::new()))
        .collect();
    let mut sim = WebStack::simulation_copies(&stack, copies, params).expect("bench stacks are valid");
    sim.run_until(SimTime::from(duration));
    sim.events_handled()
}

/// [`p2c_10_instances`] with 16 instances.
pub fn p2c_10_16_instances(seed: u64, requests: u64) -> u64 {
    p2c_10_instances(16, seed, requests)
}

/// Load on every backend of the fleet scenarios.
pub const FLEET_LOAD: f64 = 0.9;

/// The built-in policy called `name` in the catalog, with its first example parameters
/// (its defaults, or typical values where it has no default).
pub fn builtin_policy(name: &str) -> Option<Box<dyn Policy>> {
    let builtin = stacksim_model::policy::catalog::BUILTINS.iter().find(|b| b.info().name == name)?;
    builtin.examples().first().map(|params| params.build())
}

/// `n` single-worker backends ([`single_worker_backends`]) at [`FLEET_LOAD`] (arrivals at
/// `0.9 × n` per second) behind `policy`, ready to offer `requests` requests, and its end.
pub fn fleet_simulation(
    n: usize,
    policy: Box<dyn Policy>,
    seed: u64,
    requests: u64,
) -> (Simulation<WebStack>, SimTime) {
    fleet_simulation_with(n, policy, seed, requests, |_| {})
}

/// [`fleet_simulation`] of a stack that `adjust` changed first.
fn fleet_simulation_with(
    n: usize,
    policy: Box<dyn Policy>,
    seed: u64,
    requests: u64,
    adjust: impl FnOnce(&mut StackConfig),
) -> (Simulation<WebStack>, SimTime) {
    let rate = FLEET_LOAD * n as f64;
    let mut stack = single_worker_backends(n, rate);
    adjust(&mut stack);
    simulation(&stack, policy, seed, requests, rate).expect("bench stacks are valid")
}

/// [`fleet_simulation`] with every overload control on (see [`guarded`]).
pub fn guarded_fleet_simulation(
    n: usize,
    policy: Box<dyn Policy>,
    seed: u64,
    requests: u64,
) -> (Simulation<WebStack>, SimTime) {
    fleet_simulation_with(n, policy, seed, requests, guarded)
}

/// [`fleet_simulation`] with its backends as one fleet group (issue 13) of `2n` slots, `n`
/// ready, under an HPA on utilization (target 0.9, min = max = `n`): the fleet keeps its
/// size, so the run is the same work plus what the fleet costs.
pub fn autoscaled_fleet_simulation(
    n: usize,
    policy: Box<dyn Policy>,
    seed: u64,
    requests: u64,
) -> (Simulation<WebStack>, SimTime) {
    let rate = FLEET_LOAD * n as f64;
    let mut stack = single_worker_backends(2 * n, rate);
    for (i, b) in stack.backends.iter_mut().enumerate() {
        b.present = i < n;
    }
    let service = stack.backends[0].service.clone();
    stack.fleets = vec![stacksim_model::FleetConfig {
        name: "app".into(),
        first: 0,
        slots: 2 * n,
        replicas: n as u32,
        autoscale: Some(stacksim_model::Hpa {
            metric: stacksim_model::HpaMetric::Utilization,
            target: 0.9,
            tolerance: 0.1,
            sync: std::time::Duration::from_secs(15),
            behavior: stacksim_model::fleet::default_behavior(n as u32, n as u32),
        }),
        provision: std::time::Duration::ZERO,
        readiness: std::time::Duration::ZERO,
        termination_grace: std::time::Duration::from_secs(30),
        versions: vec![service],
    }];
    simulation(&stack, policy, seed, requests, rate).expect("bench stacks are valid")
}

/// Runs [`fleet_simulation`] and returns the events the engine handled.
pub fn fleet(n: usize, policy: Box<dyn Policy>, seed: u64, requests: u64) -> u64 {
    let (mut sim, end) = fleet_simulation(n, policy, seed, requests);
    sim.run_until(end);
    sim.events_handled()
}

fn run(stack: &StackConfig, policy: Box<dyn Policy>, seed: u64, requests: u64, rate_per_s: f64) -> u64 {
    let (mut sim, end) =
        simulation(stack, policy, seed, requests, rate_per_s).expect("bench stacks are valid");
    sim.run_until(end);
    sim.events_handled()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_and_stacksim_handle_about_two_events_per_request() {
        let requests = 20_000;
        // One arrival and one departure per request, give or take the Poisson count and the
        // requests still in the system at the end.
        for (name, events) in [
            ("reference", reference::mm1(1, requests)),
            ("stacksim M/M/1", mm1(1, requests)),
            ("stacksim P2C", p2c_10(1, requests)),
        ] {
            let per_request = events as f64 / requests as f64;
            assert!((per_request - 2.0).abs() < 0.1, "{name}: {events} events for {requests} requests");
        }
        assert_eq!(
            p2c_10_instances(1, 1, requests),
            p2c_10(1, requests),
            "one instance is the single balancer"
        );
        let per_request = p2c_10_16_instances(1, requests) as f64 / requests as f64;
        assert!((per_request - 2.0).abs() < 0.1, "16 instances: {per_request} events per request");
        let per_request = mm1_timeout(1, requests) as f64 / requests as f64;
        assert!((per_request - 3.0).abs() < 0.1, "with timeouts: {per_request} events per request");
    }

    #[test]
    fn the_bare_fleet_of_one_is_the_bare_mm1_and_larger_fleets_do_two_events_per_request() {
        use reference::FleetPick::{Rotation, TwoChoices};
        let requests = 20_000;
        let mm1 = reference::mm1(1, requests);
        assert_eq!(reference::fleet(1, Rotation, 1, requests), mm1);
        assert_eq!(reference::fleet(1, TwoChoices, 1, requests), mm1);
        for pick in [Rotation, TwoChoices] {
            let per_request = reference::fleet(100, pick, 1, requests) as f64 / requests as f64;
            assert!((per_request - 2.0).abs() < 0.1, "{pick:?}: {per_request} events per request");
        }
    }
}
