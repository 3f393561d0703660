//! Parallel speed-up of a sweep: the same 200-run experiment (20 variants × 10 replications)
//! with one worker thread and with two. Results are identical (tested elsewhere); only the
//! wall-clock time may differ. The ratio of the two times is the speed-up on this machine.

use criterion::{Criterion, criterion_group, criterion_main};
use stacksim::{Experiment, PolicyRegistry, RunOptions, Runner};

const SWEEP: &str = r#"Experiment(
    name: "sweep-bench",
    seed: 1,
    duration: "10m",
    warmup: "1m",
    replications: 10,
    stack: (
        clients: [(name: "users", arrivals: Poisson(rate_per_s: 200.0))],
        balancer: (policy: RoundRobin),
        backends: [(name: "app", replicas: 4, workers: 4, queue: Bounded(50),
                    service: Exponential(mean: "50ms"))],
    ),
    sweep: [
        Policy([RoundRobin, Random, LeastConnections, PowerOfTwoChoices]),
        Rate(values: [120.0, 160.0, 200.0, 240.0, 280.0]),
    ],
)"#;

fn sweep(c: &mut Criterion) {
    let registry = PolicyRegistry::new();
    let experiment = Experiment::load_str(SWEEP, "sweep-bench.ron", &registry).unwrap().plan;
    let mut group = c.benchmark_group("sweep_200_runs");
    group.sample_size(10);
    for jobs in [1, 2] {
        let runner = Runner::new().options(RunOptions { jobs: Some(jobs), ..RunOptions::default() });
        group.bench_function(format!("jobs_{jobs}"), |b| {
            b.iter(|| {
                let report = runner.run(&experiment).unwrap();
                assert_eq!(report.runs.len(), 200);
                report
            })
        });
    }
    group.finish();
}

criterion_group!(benches, sweep);
criterion_main!(benches);
