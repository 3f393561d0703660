//! Event throughput of stacksim against a bare event loop, in events per second.
//!
//! - `mm1/reference`: a hand-written M/M/1 loop on `std`'s `BinaryHeap`, no metrics: the
//!   ceiling.
//! - `mm1/stacksim`: the same queue through `WebStack` and the engine, with full metrics.
//! - `mm1_timeout/stacksim`: the same M/M/1 with a 60 s client timeout on every attempt; nearly
//!   every timeout fires after its response and is ignored as stale.
//! - `p2c_10/stacksim`: ten single-worker backends behind the power of two choices.
//! - `p2c_10/16_instances`: the same behind 16 balancer instances, each with its own policy
//!   copy and view (issue 11: within 20% of one instance).
//!
//! Every case offers the same number of requests ([`REQUESTS`]). The event count of each case
//! is measured once before timing (runs are deterministic, so it is exact) and handed to
//! criterion as the throughput, so criterion reports events per second.
//!
//! Run with `cargo bench -p stacksim-benches`; results are recorded in `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use stacksim_benches::{mm1, mm1_timeout, p2c_10, p2c_10_16_instances, reference};

/// Requests offered per iteration, in every case.
const REQUESTS: u64 = 200_000;

const SEED: u64 = 1;

fn bench(c: &mut Criterion, group: &str, name: &str, run: fn(u64, u64) -> u64) {
    let events = run(SEED, REQUESTS);
    println!("{group}/{name}: {events} events per iteration ({REQUESTS} requests offered)");
    let mut group = c.benchmark_group(group);
    group.throughput(Throughput::Elements(events));
    group.bench_function(name, |b| {
        b.iter(|| {
            let handled = run(black_box(SEED), black_box(REQUESTS));
            assert_eq!(handled, events, "runs are deterministic");
            handled
        });
    });
    group.finish();
}

fn event_throughput(c: &mut Criterion) {
    bench(c, "mm1", "reference", reference::mm1);
    bench(c, "mm1", "stacksim", mm1);
    bench(c, "mm1_timeout", "stacksim", mm1_timeout);
    bench(c, "p2c_10", "stacksim", p2c_10);
    bench(c, "p2c_10", "16_instances", p2c_10_16_instances);
}

criterion_group! {
    name = benches;
    // Each iteration is a whole run of a few hundred thousand events (milliseconds), so a
    // few samples give tight intervals and keep the suite under a minute on two cores.
    config = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    targets = event_throughput
}
criterion_main!(benches);
