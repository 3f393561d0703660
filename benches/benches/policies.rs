//! The cost of one `pick`, per built-in policy, at 8, 64 and 512 backends.
//!
//! Every backend set has mixed weights (1 to 3), a few requests in flight and a known latency,
//! so weighted and load-aware paths are the ones measured; the policy is told of the set once,
//! as a balancer does when it starts, and then picks for a rotating list of request keys.
//! Table-building costs (Maglev, ring hash) are paid in `on_backends_changed`, not here:
//! `availability_change` measures them, for one backend leaving or coming back among 10,000.
//!
//! Run with `cargo bench -p stacksim-benches --bench policies`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use stacksim_engine::SimTime;
use stacksim_engine::rng::{splitmix64, stream};
use stacksim_model::policy::*;

const SIZES: [usize; 3] = [8, 64, 512];

/// Keys cycled through by the picks (enough that hash lookups do not stay in one cache line).
const KEYS: usize = 4096;

/// Builds a fresh policy.
type Factory = fn() -> Box<dyn Policy>;

fn policies() -> Vec<(&'static str, Factory)> {
    vec![
        ("RoundRobin", || Box::new(RoundRobin::new())),
        ("StaticRoundRobin", || Box::new(StaticRoundRobin::new())),
        ("Random", || Box::new(Random::new())),
        ("LeastConnections", || Box::new(LeastConnections::new())),
        ("JoinShortestQueue", || Box::new(JoinShortestQueue::new())),
        ("PowerOfTwoChoices", || Box::new(RandomChoices::power_of_two())),
        ("RandomChoices(3)", || Box::new(RandomChoices::new(3))),
        ("LeastRequest", || Box::new(LeastRequest::new())),
        ("PeakEwma", || Box::new(PeakEwma::default())),
        ("LeastResponseTime", || Box::new(LeastResponseTime::new())),
        ("RingHash", || Box::new(RingHash::default())),
        ("Maglev", || Box::new(Maglev::default())),
        ("BoundedLoadHash", || Box::new(BoundedLoadHash::new(1.25))),
        ("SourceHash", || Box::new(SourceHash::new())),
        ("First", || Box::new(First::new(8))),
        ("JoinIdleQueue", || Box::new(JoinIdleQueue::new())),
    ]
}

/// `n` backends with weights 1..=3, 1..=8 in flight and latencies around 50 ms.
fn backends(n: usize) -> Vec<BackendState> {
    (0..n)
        .map(|i| {
            let h = splitmix64(i as u64);
            BackendState {
                weight: 1 + (h % 3) as u32,
                eligible: true,
                in_flight: 1 + ((h >> 8) % 8) as u32,
                latency: Some(Duration::from_micros(40_000 + (h >> 16) % 20_000)),
            }
        })
        .collect()
}

fn pick(c: &mut Criterion) {
    let mut group = c.benchmark_group("pick");
    for (name, make) in policies() {
        for n in SIZES {
            let states = backends(n);
            let requests: Vec<RequestInfo> = (0..KEYS as u64)
                .map(|k| RequestInfo { key: splitmix64(k), arrived: SimTime::from(Duration::from_secs(60)) })
                .collect();
            let mut policy = make();
            policy.on_backends_changed(&states);
            let mut rng = stream(1, "policy");
            let mut next = 0;
            group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| {
                    next = (next + 1) % KEYS;
                    black_box(policy.pick(black_box(&states), &requests[next], &mut rng))
                });
            });
        }
    }
    group.finish();
}

/// One backend leaving and coming back (a failed health check, an ejection that ends) in a
/// fleet of 10,000: what `on_backends_changed` costs a policy that keeps a table. Each
/// iteration flips backend 0's eligibility and tells the policy.
fn availability_change(c: &mut Criterion) {
    let mut group = c.benchmark_group("availability_change");
    group.sample_size(10);
    for (name, make) in
        policies().into_iter().filter(|(name, _)| ["RingHash", "Maglev", "BoundedLoadHash"].contains(name))
    {
        let n = 10_000;
        let mut states = backends(n);
        let mut policy = make();
        policy.on_backends_changed(&states);
        group.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
            b.iter(|| {
                states[0].eligible = !states[0].eligible;
                policy.on_backends_changed(black_box(&states));
            });
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    // A pick takes nanoseconds: short measurements are tight, and 48 cases stay within a
    // couple of minutes on two cores.
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .sample_size(30);
    targets = pick, availability_change
}
criterion_main!(benches);
