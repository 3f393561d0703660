//! Resource checks that only mean something in release mode.
//!
//! Design rule 7: memory grows with what is in flight, not with how many requests were
//! simulated. A 50-million-request M/M/1 run (λ = 0.9, μ = 1: about 55.6 million simulated
//! seconds) must stay under 64 MiB peak resident memory, measured as the process's `VmHWM`.
//!
//! Run with `cargo test --release -p stacksim-benches -- --ignored --nocapture`.

use std::time::Duration;

use stacksim_benches::{MM1_RATE_PER_S, horizon, peak_rss_kib, single_worker_backends};
use stacksim_model::policy::RoundRobin;
use stacksim_model::{RunParams, simulate};

const REQUESTS: u64 = 50_000_000;
const LIMIT_KIB: u64 = 64 * 1024;

#[test]
#[ignore = "release-mode check: cargo test --release -p stacksim-benches -- --ignored"]
fn fifty_million_request_mm1_stays_under_64_mib() {
    if peak_rss_kib().is_none() {
        println!("skipped: /proc/self/status with VmHWM is not available on this system");
        return;
    }
    let params = RunParams {
        seed: 1,
        duration: horizon(REQUESTS, MM1_RATE_PER_S),
        warmup: Duration::from_secs(10_000),
    };
    let stack = single_worker_backends(1, MM1_RATE_PER_S);
    let run = simulate(&stack, Box::new(RoundRobin::new()), params).expect("a valid stack");

    // The run must really have simulated ~50 million requests: Poisson count, sd ~7 100.
    let arrivals = run.arrived as f64;
    let expected = (params.duration - params.warmup).as_secs_f64() * MM1_RATE_PER_S;
    assert!(
        (arrivals - expected).abs() < 6.0 * expected.sqrt(),
        "{arrivals} arrivals, expected about {expected}"
    );
    let peak_kib = peak_rss_kib().expect("VmHWM was readable before the run");
    println!(
        "{} arrivals, {} events, mean response {:.3} s: peak RSS (VmHWM) {:.1} MiB",
        run.arrived,
        run.events,
        run.response_time.mean_s,
        peak_kib as f64 / 1024.0
    );
    assert!(peak_kib < LIMIT_KIB, "peak RSS {peak_kib} KiB exceeds the {LIMIT_KIB} KiB limit");
}
