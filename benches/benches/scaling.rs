//! Events per second against fleet size: every built-in policy (its catalog defaults) in front
//! of 10, 100, 1,000, 10,000 and 100,000 single-worker backends at 90% load
//! ([`stacksim_benches::fleet_simulation`]).
//!
//! Each iteration offers `max(200,000, 10 × n)` requests, about two events each; building the
//! simulation (and the policy's tables) is set-up, not timed. The event count of each case is
//! measured once before timing (runs are deterministic) and handed to criterion as the
//! throughput, so criterion reports events per second.
//!
//! The bare fleet loop ([`stacksim_benches::reference::fleet`]: a heap and one counter per
//! backend, no model) runs at the same sizes as `scaling/reference-rotation` and
//! `scaling/reference-two-choices`: how much of a policy's loss with fleet size the memory
//! hierarchy imposes on any simulator.
//!
//! Run with `cargo bench -p stacksim-benches --bench scaling`, or one policy with
//! `cargo bench -p stacksim-benches --bench scaling -- scaling/RoundRobin/`; results are in
//! `BENCHMARKS.md`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BatchSize, BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use stacksim_benches::reference::{FleetPick, fleet};
use stacksim_benches::{builtin_policy, fleet_simulation};
use stacksim_model::policy::catalog::BUILTINS;

const SIZES: [usize; 5] = [10, 100, 1_000, 10_000, 100_000];

const SEED: u64 = 1;

/// Requests offered per iteration with `n` backends: ten per backend, at least 200,000.
fn requests(n: usize) -> u64 {
    (10 * n as u64).max(200_000)
}

fn scaling(c: &mut Criterion) {
    let mut group = c.benchmark_group("scaling");
    for builtin in BUILTINS {
        let name = builtin.info().name;
        for n in SIZES {
            let id = BenchmarkId::new(name, n);
            // Criterion's filter (the bench's argument) is applied inside `bench_function`;
            // skip the event-count run of the cases it would filter out.
            if !selected(&format!("scaling/{name}/{n}")) {
                continue;
            }
            let make = || fleet_simulation(n, builtin_policy(name).expect("a built-in"), SEED, requests(n));
            let events = {
                let (mut sim, end) = make();
                sim.run_until(end);
                sim.events_handled()
            };
            group.throughput(Throughput::Elements(events));
            group.bench_function(id, |b| {
                b.iter_batched(
                    make,
                    |(mut sim, end)| {
                        sim.run_until(black_box(end));
                        assert_eq!(sim.events_handled(), events, "runs are deterministic");
                        sim
                    },
                    BatchSize::PerIteration,
                );
            });
        }
    }
    for (name, pick) in
        [("reference-rotation", FleetPick::Rotation), ("reference-two-choices", FleetPick::TwoChoices)]
    {
        for n in SIZES {
            if !selected(&format!("scaling/{name}/{n}")) {
                continue;
            }
            let events = fleet(n, pick, SEED, requests(n));
            group.throughput(Throughput::Elements(events));
            group.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| {
                    assert_eq!(fleet(black_box(n), pick, SEED, requests(n)), events, "runs are deterministic")
                });
            });
        }
    }
    group.finish();
}

/// Whether `id` matches the filter given on the command line, if any: a substring, or with a
/// trailing `$` a suffix (the two regex forms of criterion's own filter used here; flags are
/// skipped).
fn selected(id: &str) -> bool {
    let filters: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with('-')).collect();
    filters.is_empty()
        || filters.iter().any(|f| match f.strip_suffix('$') {
            Some(suffix) => id.ends_with(suffix),
            None => id.contains(f.as_str()),
        })
}

criterion_group! {
    name = benches;
    // Each iteration is a whole run (tens of milliseconds to seconds): ten samples.
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = scaling
}
criterion_main!(benches);
