//! One run of the fleet scenario, for profilers (`valgrind --tool=callgrind`, `perf record`)
//! and for whole-process measurements: `n` single-worker backends at 90% load behind a
//! built-in policy.
//!
//! ```sh
//! cargo run --release -p stacksim-benches --example fleet -- PowerOfTwoChoices 10000 2000000
//! cargo run --release -p stacksim-benches --example fleet -- RoundRobin 10 200000 autoscale
//! ```
//!
//! With `autoscale`, the `n` backends are a fleet group (issue 13) of `2n` slots with an HPA
//! on utilization (target 0.9, min and max `n`, so the fleet keeps its size and the run's
//! requests are the same): what the autoscaler's syncs and the per-attempt routed count cost.
//!
//! Prints the events handled, the time the run took (construction excluded), the process's
//! peak resident memory, and the requests in the system (in flight at the end, and on average
//! by Little's law). The policy name `reference` runs the bare M/M/1 loop
//! (`stacksim_benches::reference::mm1`) instead, for whole-process comparisons;
//! `reference-rotation` and `reference-two-choices` run the bare fleet loop
//! (`stacksim_benches::reference::fleet`) with `n` backends. A fourth
//! argument `log` hands every ended attempt to an attempt log that only counts them (the hook
//! of `stacksim run --access-log`, without formatting or I/O); `guarded` turns on every
//! overload control with limits that never bind (`stacksim_benches::guarded`), to measure what
//! their bookkeeping costs.

use std::time::Instant;

use stacksim_benches::{builtin_policy, fleet_simulation, guarded_fleet_simulation};

fn main() {
    let mut args = std::env::args().skip(1);
    let name = args.next().unwrap_or_else(|| "PowerOfTwoChoices".to_owned());
    let n: usize = args.next().map_or(10, |a| a.parse().expect("backends: a number"));
    let requests: u64 = args.next().map_or(200_000, |a| a.parse().expect("requests: a number"));
    if name == "reference" {
        let started = Instant::now();
        let events = stacksim_benches::reference::mm1(1, requests);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "reference M/M/1 requests={requests}: {events} events in {secs:.3} s = {:.2} M events/s",
            events as f64 / secs / 1e6
        );
        return;
    }
    if let Some(pick) = name.strip_prefix("reference-") {
        let pick = match pick {
            "rotation" => stacksim_benches::reference::FleetPick::Rotation,
            "two-choices" => stacksim_benches::reference::FleetPick::TwoChoices,
            other => panic!("no bare fleet pick named {other}: rotation or two-choices"),
        };
        let started = Instant::now();
        let events = stacksim_benches::reference::fleet(n, pick, 1, requests);
        let secs = started.elapsed().as_secs_f64();
        println!(
            "{name} n={n} requests={requests}: {events} events in {secs:.3} s = {:.2} M events/s",
            events as f64 / secs / 1e6
        );
        return;
    }
    let policy = builtin_policy(&name).unwrap_or_else(|| panic!("no built-in policy named {name}"));
    let built = Instant::now();
    let extra = args.next();
    let (mut sim, end) = match extra.as_deref() {
        Some("autoscale") => stacksim_benches::autoscaled_fleet_simulation(n, policy, 1, requests),
        Some("guarded") => guarded_fleet_simulation(n, policy, 1, requests),
        _ => fleet_simulation(n, policy, 1, requests),
    };
    let logged = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    if extra.as_deref() == Some("log") {
        sim.model_mut().set_attempt_log(Box::new(Count(std::sync::Arc::clone(&logged))));
    }
    let started = Instant::now();
    sim.run_until(end);
    let secs = started.elapsed().as_secs_f64();
    let events = sim.events_handled();
    let peak = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("?").to_owned())
        })
        .unwrap_or_else(|| "?".to_owned());
    println!(
        "{name} n={n} requests={requests}: {events} events in {secs:.3} s = {:.2} M events/s (built in {:.3} s); VmHWM {peak} kB",
        events as f64 / secs / 1e6,
        (started - built).as_secs_f64()
    );
    let logged = logged.load(std::sync::atomic::Ordering::Relaxed);
    if logged > 0 {
        println!("attempt log: {logged} attempts");
    }
    // What the run's events reached into: by Little's law, the requests in the system on
    // average are the arrival rate times the mean response time (an estimate in a run that
    // starts empty and ends with requests in flight).
    let run = sim.into_model().summary(end, events);
    let rate = stacksim_benches::FLEET_LOAD * n as f64;
    println!(
        "arrived {}, completed {}, in flight at the end {}; mean response {:.3} s, so {:.0} requests in the system on average",
        run.arrived,
        run.completed,
        run.in_flight,
        run.response_time.mean_s,
        rate * run.response_time.mean_s
    );
}

/// Counts the attempts it hears.
struct Count(std::sync::Arc<std::sync::atomic::AtomicU64>);

impl stacksim_model::AttemptLog for Count {
    fn record(&mut self, _: &stacksim_model::AttemptRecord) {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}
