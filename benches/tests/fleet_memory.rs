//! Memory grows with the fleet and what is in flight, not with the requests simulated
//! (issue 10): a one-hour run of 10,000 single-worker backends at 90% load (about 32 million
//! requests) stays under 256 MiB peak resident memory, measured as the process's `VmHWM`.
//!
//! Its own test binary, so that no other run in the process raises the peak it reads. Run with
//! `cargo test --release -p stacksim-benches --test fleet_memory -- --ignored --nocapture`.

use std::time::Duration;

use stacksim_benches::{FLEET_LOAD, builtin_policy, peak_rss_kib, single_worker_backends};
use stacksim_model::{RunParams, simulate};

const BACKENDS: usize = 10_000;
const LIMIT_KIB: u64 = 256 * 1024;

#[test]
#[ignore = "release-mode check: cargo test --release -p stacksim-benches --test fleet_memory -- --ignored"]
fn ten_thousand_backends_for_an_hour_stay_under_256_mib() {
    if peak_rss_kib().is_none() {
        println!("skipped: /proc/self/status with VmHWM is not available on this system");
        return;
    }
    let rate = FLEET_LOAD * BACKENDS as f64;
    let stack = single_worker_backends(BACKENDS, rate);
    let params = RunParams { seed: 1, duration: Duration::from_secs(3600), warmup: Duration::from_secs(60) };
    // A sampled policy, and one that keeps a table proportional to the fleet (a million ring
    // points) and an index of every backend's load.
    for name in ["PowerOfTwoChoices", "BoundedLoadHash"] {
        let run = simulate(&stack, builtin_policy(name).expect("a built-in"), params).expect("a valid stack");
        let expected = (params.duration - params.warmup).as_secs_f64() * rate;
        let arrivals = run.arrived as f64;
        assert!(
            (arrivals - expected).abs() < 6.0 * expected.sqrt(),
            "{name}: {arrivals} arrivals, expected about {expected}"
        );
        let peak_kib = peak_rss_kib().expect("VmHWM was readable before the run");
        println!(
            "{name}: {} arrivals, {} events, {} in flight at the end, mean response {:.3} s: peak RSS (VmHWM) so far {:.1} MiB",
            run.arrived,
            run.events,
            run.in_flight,
            run.response_time.mean_s,
            peak_kib as f64 / 1024.0
        );
        assert!(peak_kib < LIMIT_KIB, "{name}: peak RSS {peak_kib} KiB exceeds the {LIMIT_KIB} KiB limit");
    }
}
