//! Fleet dynamics against the fixed-fleet capacity answer: with instant pods and a slow ramp,
//! the autoscaler holds the fleet `stacksim capacity --rate` finds, rate after rate.

use stacksim::capacity::{SearchOptions, Slo, min_replicas};
use stacksim::metric::WindowMetric;
use stacksim::{Experiment, PolicyRegistry, Runner};

/// Mean response time [s] of M/M/c with service rate `mu` at arrival rate `lambda` (Erlang C).
fn mmc_mean(c: u32, lambda: f64, mu: f64) -> f64 {
    let a = lambda / mu;
    let rho = a / f64::from(c);
    let (mut term, mut sum) = (1.0, 1.0);
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let p_wait = last / (sum + last);
    1.0 / mu + p_wait / (f64::from(c) * mu - lambda)
}

/// Pods of 8 workers serving 100 ms on average, behind Random: each pod is an M/M/8 queue
/// of its own, so the SLO `mean<130ms` holds exactly while a pod's utilization is at most u*.
const POD: &str = r#"(name: "app", replicas: 4, workers: 8, queue: Bounded(1000),
                      service: Exponential(mean: "100ms")"#;

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim --test integration -- --ignored"]
fn with_instant_pods_and_a_slow_ramp_the_autoscaled_fleet_tracks_the_capacity_answer() {
    // u*: the utilization at which M/M/8 (mu = 10/s) has a mean response time of 130 ms.
    let (mut lo, mut hi) = (0.01, 0.99);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if mmc_mean(8, mid * 80.0, 10.0) < 0.130 { lo = mid } else { hi = mid }
    }
    let u_star = lo;
    let registry = PolicyRegistry::new();
    let fixed = format!(
        r#"Experiment(name: "fixed", seed: 3, duration: "20m", warmup: "2m", replications: 4,
            stack: (clients: [(name: "u", arrivals: Poisson(rate_per_s: 100.0))], balancer: (policy: Random),
                    backends: [{POD})]))"#
    );
    let fixed = Experiment::load_str(&fixed, "fixed.ron", &registry).unwrap().plan;
    let slo: Slo = "mean<130ms".parse().unwrap();
    // The ramp: 100/s to 900/s over two hours, the autoscaler aiming at u*, pods instant.
    let ramp = format!(
        r#"Experiment(name: "ramp", seed: 3, duration: "125m", replications: 1,
            stack: (clients: [(name: "u", arrivals: Schedule(points: [("0s", 100.0), ("120m", 900.0), ("125m", 900.0)], linear: true))],
                    balancer: (policy: Random),
                    backends: [{POD}, autoscale: Hpa(metric: Utilization, target: {u_star}, min: 1, max: 40),
                               provision: "0s", readiness: "0s")]),
            observe: (window: "1m"))"#
    );
    let ramp = Experiment::load_str(&ramp, "ramp.ron", &registry).unwrap().plan;
    let report = Runner::new().run(&ramp).unwrap();
    let windows = &report.timeseries[0].windows;
    let ready = WindowMetric::ReadyReplicas("app".into());
    for rate in [200.0, 400.0, 800.0] {
        let found = min_replicas(&Runner::new(), &fixed, &slo, rate, &SearchOptions::default()).unwrap();
        let answer = f64::from(found[0].best.unwrap());
        // The minute the ramp passes `rate`, and the two around it.
        let minute = ((rate - 100.0) / 800.0 * 120.0).round() as usize;
        let held: f64 =
            windows[minute - 1..=minute + 1].iter().map(|w| w[ready.name().as_ref()].0).sum::<f64>() / 3.0;
        eprintln!(
            "{rate}/s: capacity --rate answers {answer} replicas; the autoscaler held {held:.2} (u* = {u_star:.4})"
        );
        // The autoscaler stays within its 10% tolerance of u*, so within 10% (and a pod) of
        // the fewest pods that keep utilization at u*.
        let slack = (0.1 * answer).ceil().max(1.0);
        assert!((held - answer).abs() <= slack, "{rate}/s: autoscaler {held}, capacity {answer}");
    }
}

/// A fleet group's pods are slots built for at most `MAX_REPLICAS`: a `Replicas` sweep past it
/// (found by the loader fuzzer: the plan loaded, then the run refused it) and a deploy to a
/// group past it are located errors when the file loads.
#[test]
fn fleet_groups_past_the_replica_limit_are_refused_where_the_file_says_so() {
    let registry = PolicyRegistry::new();
    let max = stacksim_model::fleet::MAX_REPLICAS;
    let swept = format!(
        r#"Experiment(name: "x", seed: 1, duration: "1m",
            stack: (clients: [(name: "u", arrivals: Poisson(rate_per_s: 10.0))], balancer: (policy: Random),
                    backends: [(name: "app", replicas: 2, workers: 1, queue: Bounded(10), service: Exponential(mean: "10ms"),
                                provision: "1s")]),
            sweep: [Replicas(values: [2, {}])])"#,
        max + 1
    );
    let error = Experiment::load_str(&swept, "swept.ron", &registry).unwrap_err().to_string();
    assert!(error.contains("sweep[0].values[1]") && error.contains("at most 10000 replicas"), "{error}");

    let deployed = format!(
        r#"Experiment(name: "x", seed: 1, duration: "1m",
            stack: (clients: [(name: "u", arrivals: Poisson(rate_per_s: 10.0))], balancer: (policy: Random),
                    backends: [(name: "app", replicas: {}, workers: 1, queue: Bounded(10), service: Exponential(mean: "10ms"))]),
            timeline: [(at: "30s", action: RollingDeploy(backend: "app"))])"#,
        max + 1
    );
    let error = Experiment::load_str(&deployed, "deployed.ron", &registry).unwrap_err().to_string();
    assert!(
        error.contains("timeline[0].action.backend") && error.contains("at most 10000 replicas"),
        "{error}"
    );
}
