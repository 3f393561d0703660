//! Capacity search against Erlang C.

use stacksim::capacity::{SearchOptions, Slo, max_rate};
use stacksim::{Experiment, PolicyRegistry, RunError, Runner};

/// Mean response time of M/M/c with unit service rate at arrival rate `lambda` (Erlang C).
fn mmc_mean_response(c: u32, lambda: f64) -> f64 {
    let a = lambda; // offered load in erlangs (mu = 1)
    let rho = a / f64::from(c);
    let mut term = 1.0;
    let mut sum = 1.0;
    for k in 1..c {
        term *= a / f64::from(k);
        sum += term;
    }
    let last = term * a / f64::from(c) / (1.0 - rho);
    let p_wait = last / (sum + last);
    1.0 + p_wait / (f64::from(c) - lambda)
}

#[test]
fn erlang_c_helper_matches_the_design_table() {
    assert!((mmc_mean_response(8, 7.2) - 1.876916).abs() < 1e-6);
}

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim --test integration -- --ignored"]
fn max_rate_on_mm8_agrees_with_erlang_c() {
    // The rate at which M/M/8 has a mean response time of exactly 2 s, by bisection on Erlang C.
    let (mut lo, mut hi) = (6.0, 7.99);
    for _ in 0..100 {
        let mid = (lo + hi) / 2.0;
        if mmc_mean_response(8, mid) < 2.0 { lo = mid } else { hi = mid }
    }
    let exact = lo;
    let text = std::fs::read_to_string(super::repo_root().join("experiments/validation/mm8.ron")).unwrap();
    let registry = PolicyRegistry::new();
    let experiment = Experiment::load_str(&text, "mm8.ron", &registry).unwrap().plan;
    let slo: Slo = "mean<2s".parse().unwrap();
    let found = max_rate(&Runner::new(), &experiment, &slo, &SearchOptions::default()).unwrap();
    let best = found[0].best.unwrap();
    eprintln!("Erlang C: {exact:.4}/s; search: {best:.4}/s after {} probes", found[0].probes.len());
    assert!((best - exact).abs() <= 0.02 * exact, "{best} vs {exact}");
}

#[test]
fn a_search_whose_slo_always_holds_stops_at_the_probe_limit_saying_how_far_it_got() {
    // A bounded queue keeps p99 under a second at any rate: the search would double for ever.
    let text = r#"Experiment(name: "always", seed: 1, duration: "1m", replications: 2,
        stack: (clients: [(name: "u", arrivals: Poisson(rate_per_s: 10.0))], balancer: (policy: RoundRobin),
                backends: [(name: "app", workers: 1, queue: Bounded(2), service: Constant("10ms"))]))"#;
    let plan = Experiment::load_str(text, "always.ron", &PolicyRegistry::new()).unwrap().plan;
    let slo: Slo = "p99<1h".parse().unwrap();
    // About 120 events per run per request/s: probes stop before 1000/s.
    let options = SearchOptions { max_probe_events: 1e5, ..SearchOptions::default() };
    let error = max_rate(&Runner::new(), &plan, &slo, &options).unwrap_err();
    assert!(
        matches!(error, RunError::ProbeTooLarge { value: 1280.0, passed: Some(640.0), limit: 1e5, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("the SLO held up to 640"), "{error}");
}
