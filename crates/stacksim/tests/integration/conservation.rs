//! Flow conservation and Little's law, in runs with rejections and unrouted requests.

use stacksim::report::Reading;
use stacksim::{Experiment, PolicyRegistry, Report, Runner};

/// Overloaded and underloaded backends, bounded queues (rejections), and every policy.
const MIXED: &str = r#"Experiment(
    name: "mixed",
    seed: 3,
    duration: "2h",
    warmup: "5m",
    replications: 3,
    stack: (
        clients: [
            (name: "web", arrivals: Poisson(rate_per_s: 30.0)),
            (name: "batch", arrivals: Deterministic(rate_per_s: 5.0)),
        ],
        balancer: (policy: RoundRobin),
        backends: [
            (name: "small", replicas: 2, workers: 1, queue: Bounded(3), service: Exponential(mean: "150ms")),
            (name: "big", workers: 4, queue: Bounded(20), service: LogNormal(median: "80ms", sigma: 0.8),
             weight: 3),
        ],
    ),
    sweep: [Policy([RoundRobin, Random, LeastConnections, PowerOfTwoChoices, RandomChoices(3)])],
)"#;

fn run(text: &str) -> Report {
    let registry = PolicyRegistry::new();
    let loaded = Experiment::load_str(text, "mixed.ron", &registry).unwrap();
    Runner::new().run(&loaded.plan).unwrap()
}

fn get(metrics: &indexmap::IndexMap<String, Reading>, name: &str) -> f64 {
    metrics[name].0
}

#[test]
fn arrived_equals_completed_plus_rejected_plus_timed_out_plus_failed_plus_in_flight() {
    let report = run(MIXED);
    let mut rejected_somewhere = false;
    for run in &report.runs {
        let m = &run.metrics;
        assert!(super::conserves(run), "run {run:?}");
        rejected_somewhere |= get(m, "rejected") > 0.0;
    }
    assert!(rejected_somewhere, "the experiment exercises rejections");
}

#[test]
fn littles_law_holds_in_every_run() {
    let report = run(MIXED);
    for run in &report.runs {
        let m = &run.metrics;
        let l = get(m, "in_system_mean");
        let lambda_w = get(m, "throughput_per_s") * get(m, "response_time_mean_s");
        // L = lambda W is exact over a window that starts and ends empty; requests in the
        // system at the window's edges make the difference, which shrinks as 1/duration.
        assert!((l - lambda_w).abs() <= 0.01 * l, "run {}: L = {l}, lambda W = {lambda_w}", run.replication);
    }
}

#[test]
fn an_unavailable_backend_set_rejects_everything_and_conserves() {
    let text =
        MIXED.replace("weight: 3", "weight: 0").replace("queue: Bounded(3)", "queue: Bounded(3), weight: 0");
    let report = run(&text);
    for run in &report.runs {
        assert_eq!(get(&run.metrics, "completed"), 0.0);
        assert_eq!(get(&run.metrics, "rejected"), get(&run.metrics, "arrived"));
        assert_eq!(get(&run.metrics, "error_ratio"), 1.0);
        assert!(
            get(&run.metrics, "response_time_mean_s").is_nan(),
            "no successful request, no response time"
        );
    }
}

/// Timeouts, retries with a budget, queue timeouts, a crash, health checks, ejection and a
/// database, all at once.
const FAULTY: &str = r#"Experiment(
    name: "faulty",
    seed: 9,
    duration: "30m",
    warmup: "1m",
    replications: 3,
    stack: (
        clients: [
            (name: "web", arrivals: Poisson(rate_per_s: 60.0), users: 500, timeout: "400ms",
             retry: (max_attempts: 3, backoff: "20ms", budget_ratio: 0.2)),
            (name: "batch", arrivals: Closed(users: 20, think: "1s")),
        ],
        balancer: (policy: LeastConnections),
        backends: [
            (name: "app", replicas: 4, workers: 4, queue: Bounded(20), service: Exponential(mean: "60ms"),
             queue_timeout: "200ms", degradation: (knee: 10, slope: 0.2)),
        ],
        database: (workers: 4, service: Exponential(mean: "10ms"), pool: 2, fraction: 0.5),
        health: (check: (kind: Http, timeout: "500ms"), outlier: (consecutive_5xx: 5)),
    ),
    timeline: [
        (at: "5m", action: Crash(backend: "app-1", restart_after: "3m")),
        (at: "12m", action: SlowDown(backend: "app-2", factor: 3.0)),
        (at: "20m", action: SetRate(90.0)),
    ],
    observe: (window: "1m", slow: "300ms"),
    sweep: [Policy([LeastConnections, RoundRobin, RingHash(entries_per_host: 100)])],
)"#;

#[test]
fn conservation_and_determinism_hold_with_every_fault_at_once() {
    let report = run(FAULTY);
    let mut saw = [false; 3];
    for run in &report.runs {
        let m = &run.metrics;
        assert!(super::conserves(run), "run {run:?}");
        saw[0] |= get(m, "timed_out") > 0.0;
        saw[1] |= get(m, "failed") > 0.0;
        saw[2] |= get(m, "attempts_per_request") > 1.0;
    }
    assert_eq!(saw, [true; 3], "the experiment exercises timeouts, failures and retries");
    assert_eq!(report.to_json(), run(FAULTY).to_json(), "same seed, same bytes");
}

/// The overload controls of issue 12 part B at once: hedging (with retry throttling), a
/// retrying client throttled too, CoDel, adaptive LIFO and LIFO queues, a crash and a slowdown.
const OVERLOAD: &str = r#"Experiment(
    name: "overload",
    seed: 12,
    duration: "14m",
    warmup: "1m",
    replications: 2,
    stack: (
        clients: [
            (name: "web", arrivals: Poisson(rate_per_s: 60.0), timeout: "400ms",
             hedge: (max_attempts: 3, delay: "40ms"),
             retry_throttling: (max_tokens: 10.0, token_ratio: 0.1)),
            (name: "api", arrivals: Poisson(rate_per_s: 20.0), timeout: "300ms",
             retry: (max_attempts: 3, backoff: "20ms"),
             retry_throttling: (max_tokens: 5.0, token_ratio: 0.5)),
        ],
        balancer: (policy: LeastConnections),
        backends: [
            (name: "codel", replicas: 2, workers: 4, queue: Bounded(50), service: Exponential(mean: "60ms"),
             discipline: CoDel(adaptive_lifo: true)),
            (name: "alifo", workers: 4, queue: Unbounded, service: Exponential(mean: "60ms"),
             discipline: AdaptiveLifo, queue_timeout: "300ms"),
            (name: "lifo", workers: 4, queue: Bounded(20), service: LogNormal(median: "50ms", sigma: 1.0),
             discipline: Lifo),
        ],
    ),
    timeline: [
        (at: "5m", action: Crash(backend: "lifo", restart_after: "2m")),
        (at: "10m", action: SlowDown(backend: "alifo", factor: 4.0)),
        (at: "12m", action: SlowDown(backend: "codel-0", factor: 3.0)),
    ],
    observe: (window: "1m"),
    sweep: [Discipline(backend: "alifo", values: [AdaptiveLifo, Fifo, CoDel()])],
)"#;

#[test]
fn conservation_and_determinism_hold_with_hedging_throttling_and_queue_disciplines() {
    let report = run(OVERLOAD);
    let mut saw = [false; 3];
    for run in &report.runs {
        let m = &run.metrics;
        assert!(super::conserves(run), "run {run:?}");
        saw[0] |= get(m, "attempts_per_request") > 1.2;
        saw[1] |= get(m, "rejected") > 0.0;
        saw[2] |= get(m, "wasted_work_ratio") > 0.0;
    }
    assert_eq!(saw, [true; 3], "the experiment exercises hedges, rejections and cancelled work");
    assert_eq!(report.to_json(), run(OVERLOAD).to_json(), "same seed, same bytes");
    let plan = Experiment::load_str(OVERLOAD, "overload.ron", &PolicyRegistry::new()).unwrap().plan;
    for jobs in [1, 3] {
        let options = stacksim::RunOptions { jobs: Some(jobs), ..Default::default() };
        let other = Runner::new().options(options).run(&plan).unwrap();
        assert_eq!(report.to_json(), other.to_json(), "{jobs} threads, same bytes");
    }
}
