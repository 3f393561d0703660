//! Overload controls in whole runs: token buckets, admission control, client breakers, slow
//! start and warm-up (the formulas' own oracles are unit tests in `stacksim_model::overload`;
//! the circuit breakers' M/M/c/K oracle is `experiments/validation/circuit-breaker-mmck.ron`).

use stacksim_model::policy::{Policy, RoundRobin};
use stacksim_model::*;

use super::{assert_conserved, backends, client, ms, run, s};

/// A token bucket at rate r and burst b, under Poisson demand far above r, admits r·t + b
/// requests in t (give or take the one token being refilled at the end).
#[test]
fn a_token_bucket_admits_its_rate_times_the_time_plus_its_burst() {
    for (at_balancer, rate, burst) in [(true, 50.0, 100), (false, 20.0, 7)] {
        let limit = RateLimit { tokens_per_s: rate, burst };
        let mut stack = StackConfig {
            clients: vec![client(400.0)],
            backends: backends(1, 100, ms(10)),
            ..StackConfig::default()
        };
        if at_balancer {
            stack.rate_limit = Some(limit);
        } else {
            stack.backends[0].rate_limit = Some(limit);
        }
        let summary = run(&stack, s(60));
        assert_conserved(&summary);
        let limited = summary.overload.expect("a rate limit is an overload control").counts.limited;
        let admitted = summary.arrived - limited;
        let expected = rate * 60.0 + f64::from(burst);
        assert!((admitted as f64 - expected).abs() <= 2.0, "admitted {admitted}, expected {expected}");
        assert!(limited > 0 && summary.rejected >= limited);
    }
}

/// The balancer's rate limit is per balancer instance (Envoy's local rate limit): four
/// instances splitting requests evenly admit four times the rate and burst of one.
#[test]
fn each_balancer_instance_has_its_own_token_bucket() {
    let (rate, burst) = (25.0, 10);
    let stack = StackConfig {
        clients: vec![client(400.0)],
        backends: backends(1, 100, ms(10)),
        rate_limit: Some(RateLimit { tokens_per_s: rate, burst }),
        topology: Topology { instances: 4, ..Topology::default() },
        ..StackConfig::default()
    };
    let copies =
        (0..stack.policy_copies()).map(|_| (Box::new(RoundRobin::new()) as Box<dyn Policy>, Vec::new()));
    let params = RunParams { seed: 5, duration: s(60), warmup: s(0) };
    let (summary, _) =
        stacksim_model::stack::simulate_copies(&stack, copies.collect(), params, Default::default()).unwrap();
    assert_conserved(&summary);
    let limited = summary.overload.expect("a rate limit is an overload control").counts.limited;
    let admitted = summary.arrived - limited;
    let expected = 4.0 * (rate * 60.0 + f64::from(burst));
    assert!((admitted as f64 - expected).abs() <= 8.0, "admitted {admitted}, expected {expected}");
}

/// Envoy admission control at a steady 50% success rate (one of two backends refuses every
/// connection, round robin alternates): the rejection probability settles at
/// (n − s/0.95)/(n + 1) → 1 − 0.5/0.95 = 47.4%, and the requests it lets through still alternate.
#[test]
fn admission_control_sheds_47_percent_at_a_50_percent_success_rate() {
    let stack = StackConfig {
        clients: vec![client(200.0)],
        backends: backends(2, 50, ms(5)),
        timeline: vec![TimedAction { at: s(0), action: Action::Fail { backend: 1 } }],
        admission_control: Some(AdmissionControl {
            window: s(30),
            success_threshold: 0.95,
            aggression: 1.0,
            max_rejection_probability: 0.8,
        }),
        ..StackConfig::default()
    };
    let params = RunParams { seed: 3, duration: s(330), warmup: s(30) };
    let summary = simulate(&stack, Box::new(RoundRobin::new()), params).unwrap();
    assert_conserved(&summary);
    let shed = summary.overload.unwrap().counts.shed as f64 / summary.arrived as f64;
    // 60,000 draws: the sampling noise is about ±0.4%.
    assert!((shed - (1.0 - 0.5 / 0.95)).abs() < 0.015, "shed {shed}");
}

/// A client breaker opens when a backend dies, holds requests back while open, and its state
/// is in the time series; a healthy stack never trips it.
#[test]
fn a_client_breaker_opens_on_failures_and_shows_in_the_series() {
    let mut c = client(100.0);
    c.breaker = Some(ClientBreaker {
        failure_rate: 0.5,
        window: s(10),
        min_requests: 20,
        open_for: s(5),
        half_open: 3,
    });
    let mut stack = StackConfig {
        clients: vec![c],
        backends: backends(1, 20, ms(10)),
        observe: Observe { window: Some(s(10)), slow: None, incident: None },
        ..StackConfig::default()
    };
    let healthy = run(&stack, s(60));
    let o = healthy.overload.unwrap();
    assert_eq!((o.counts.short_circuited, o.breaker_open_ratio), (0, 0.0));
    stack.timeline = vec![TimedAction { at: s(30), action: Action::Fail { backend: 0 } }];
    let failing = run(&stack, s(60));
    assert_conserved(&failing);
    let o = failing.overload.unwrap();
    assert!(o.counts.short_circuited > 2000, "{o:?}");
    // Open 5 s, then 3 failing probes, again and again: open nearly all of the last 30 s.
    assert!((0.4..0.5).contains(&o.breaker_open_ratio), "{o:?}");
    let open: Vec<u32> = failing.windows.iter().map(|w| w.overload.unwrap().breakers_open).collect();
    assert_eq!(&open[..3], &[0, 0, 0]);
    assert!(open[3..].iter().sum::<u32>() >= 2, "{open:?}");
    // Only the failures until the window's failure share reaches half (about 5 s of them, the
    // last 10 s having been successes) and the probes reach the dead backend.
    assert!((450..650).contains(&failing.failed), "{}", failing.failed);
}

/// Slow start after a restart: the restarted backend's share of round robin climbs from the
/// 10% floor to its full half over the window.
#[test]
fn a_restarted_backend_is_ramped_up_by_slow_start() {
    let mut stack = StackConfig {
        clients: vec![client(100.0)],
        backends: backends(2, 20, ms(10)),
        timeline: vec![
            TimedAction { at: s(10), action: Action::Fail { backend: 1 } },
            TimedAction { at: s(20), action: Action::Recover { backend: 1 } },
        ],
        observe: Observe { window: Some(s(10)), slow: None, incident: None },
        ..StackConfig::default()
    };
    for b in &mut stack.backends {
        b.slow_start = Some(SlowStart { window: s(60), aggression: 1.0, min_weight_percent: 10.0 });
    }
    // Windows from 20 s: the weight is max(10%, t/60) of the other's, t the time since 20 s.
    let expected = |from: f64| {
        let w: f64 = (0..10)
            .map(|i| (from + f64::from(i) + 0.5).max(1.0) / 60.0)
            .map(|x: f64| x.max(0.1))
            .sum::<f64>()
            / 10.0;
        w / (1.0 + w)
    };
    // One balancer, and three instances: the ramp reaches every instance's policy.
    for instances in [1, 3] {
        stack.topology.instances = instances;
        let copies = (0..stack.policy_copies())
            .map(|_| (Box::new(RoundRobin::new()) as Box<dyn Policy>, Vec::new()))
            .collect();
        let params = RunParams { seed: 5, duration: s(100), warmup: s(0) };
        let (summary, _) =
            stacksim_model::stack::simulate_copies(&stack, copies, params, Default::default()).unwrap();
        assert_conserved(&summary);
        let share =
            |w: &Window| w.backends[1].routed as f64 / (w.backends[0].routed + w.backends[1].routed) as f64;
        let shares: Vec<f64> = summary.windows.iter().map(share).collect();
        for (k, from) in [(2, 0.0), (3, 10.0), (4, 20.0), (6, 40.0)] {
            assert!(
                (shares[k] - expected(from)).abs() < 0.04,
                "{instances} instances, window {k}: {} vs {}",
                shares[k],
                expected(from)
            );
        }
        assert!(
            (shares[8] - 0.5).abs() < 0.01,
            "{instances} instances, full weight after the window: {shares:?}"
        );
    }
}

/// With active health checks, slow start begins when the checks bring the backend back up, not
/// when its process restarts (Envoy's `lastHcPassTime`).
#[test]
fn with_health_checks_slow_start_begins_when_the_checks_see_the_backend_up() {
    let mut stack = StackConfig {
        clients: vec![client(100.0)],
        backends: backends(2, 20, ms(10)),
        timeline: vec![
            TimedAction { at: s(8), action: Action::Fail { backend: 1 } },
            TimedAction { at: s(21), action: Action::Recover { backend: 1 } },
        ],
        observe: Observe { window: Some(s(10)), slow: None, incident: None },
        ..StackConfig::default()
    };
    // Checks every 5 s: failures at 10, 15 and 20 s take it down; passes at 25 and 30 s bring
    // it up at 30 s.
    stack.health.active =
        Some(ActiveCheck { interval: s(5), timeout: s(1), rise: 2, fall: 3, ..ActiveCheck::default() });
    for b in &mut stack.backends {
        b.slow_start = Some(SlowStart { window: s(60), aggression: 1.0, min_weight_percent: 10.0 });
    }
    let r = run(&stack, s(70));
    assert_conserved(&r);
    let share =
        |w: &Window| w.backends[1].routed as f64 / (w.backends[0].routed + w.backends[1].routed) as f64;
    let shares: Vec<f64> = r.windows.iter().map(share).collect();
    // Windows 30-40 s and 40-50 s: the ramp from 30 s gives weights of about 0.11 and 0.25 of
    // the other's (shares 0.10 and 0.20); from the restart at 21 s they would be 0.25 and 0.42
    // (shares 0.20 and 0.29).
    let expected = |from: f64| {
        let w: f64 =
            (0..10).map(|i| ((from + f64::from(i) + 0.5).max(1.0) / 60.0).max(0.1)).sum::<f64>() / 10.0;
        w / (1.0 + w)
    };
    for (k, from) in [(3, 0.0), (4, 10.0)] {
        assert!(
            (shares[k] - expected(from)).abs() < 0.04,
            "window {k}: {} vs {} ({shares:?})",
            shares[k],
            expected(from)
        );
    }
}

/// Warm-up after a restart: with constant service and no queueing, a response right after
/// the restart takes `factor` times as long, and normal time after the window.
#[test]
fn a_restarted_backend_serves_slowly_while_it_warms_up() {
    let mut stack = StackConfig {
        clients: vec![ClientConfig::new("users", Arrivals::Deterministic { rate_per_s: 10.0 })],
        backends: vec![BackendConfig::new("app", 10, QueueLimit::Unbounded, ServiceTime::Constant(ms(10)))],
        timeline: vec![
            TimedAction { at: s(10), action: Action::Fail { backend: 0 } },
            TimedAction { at: s(20), action: Action::Recover { backend: 0 } },
        ],
        observe: Observe { window: Some(s(1)), slow: None, incident: None },
        ..StackConfig::default()
    };
    stack.backends[0].warmup = Some(Warmup { window: s(30), factor: 3.0 });
    let summary = run(&stack, s(60));
    let p50 = |second: usize| summary.windows[second].p50_s;
    assert!((p50(5) - 0.010).abs() < 0.0005, "warm before the restart: {}", p50(5));
    assert!((p50(20) - 0.030).abs() < 0.0005, "3× at first: {}", p50(20));
    assert!((p50(35) - 0.020).abs() < 0.001, "window/t = 2 at 15 s: {}", p50(35));
    assert!((p50(55) - 0.010).abs() < 0.0005, "warm again: {}", p50(55));
}
