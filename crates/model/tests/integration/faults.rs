//! Backends that fail like backends, clients that retry, and health checks that notice.

use stacksim_model::*;

use super::{assert_conserved, backends, client, ms, run, s};

fn at(secs: u64, action: Action) -> TimedAction {
    TimedAction { at: s(secs), action }
}

#[test]
fn retries_against_a_backend_that_fails_everything_multiply_its_load() {
    for retries in [0_u32, 1, 3] {
        let mut c = client(20.0);
        c.retry = Some(RetryPolicy {
            max_attempts: 1 + retries,
            backoff: ms(10),
            max_backoff: ms(100),
            budget: None,
        });
        let stack = StackConfig {
            clients: vec![c],
            backends: backends(1, 4, ms(50)),
            timeline: vec![at(0, Action::Fail { backend: 0 })],
            ..StackConfig::default()
        };
        let r = run(&stack, s(600));
        assert_conserved(&r);
        assert_eq!(r.completed, 0);
        let finished = r.arrived - r.in_flight;
        assert_eq!(r.failed, finished);
        // Every finished request made exactly 1 + retries attempts at the backend.
        let routed = r.backends[0].routed;
        let pending_attempts = routed - finished * u64::from(1 + retries);
        assert!(pending_attempts <= r.in_flight * u64::from(1 + retries), "{routed} vs {finished}");
        assert!(
            (r.attempts_per_request() - f64::from(1 + retries)).abs() < 0.01,
            "{}",
            r.attempts_per_request()
        );
    }
}

#[test]
fn a_retry_budget_caps_amplification() {
    let mut c = client(50.0);
    c.retry = Some(RetryPolicy {
        max_attempts: 4,
        backoff: ms(10),
        max_backoff: ms(100),
        budget: Some(RetryBudget { ratio: 0.2, min_per_s: 1.0 }),
    });
    let stack = StackConfig {
        clients: vec![c],
        backends: backends(1, 4, ms(50)),
        timeline: vec![at(0, Action::Fail { backend: 0 })],
        ..StackConfig::default()
    };
    let r = run(&stack, s(600));
    // 20% of requests plus one per second, on top of first attempts (and the initial bucket).
    let extra = r.attempts_per_request() - 1.0;
    assert!(extra > 0.15 && extra < 0.27, "{extra}");
}

#[test]
fn timed_out_attempts_keep_the_backend_busy_as_wasted_work() {
    let mut c = client(50.0);
    c.timeout = Some(ms(200));
    // 4 workers at 100 ms mean: capacity 40/s, offered 50/s: the queue fills and waits exceed
    // the client's patience.
    let stack = StackConfig { clients: vec![c], backends: backends(1, 4, ms(100)), ..StackConfig::default() };
    let r = run(&stack, s(600));
    assert_conserved(&r);
    assert!(r.timed_out > 1000, "{}", r.timed_out);
    assert!(r.wasted_work_ratio > 0.3, "{}", r.wasted_work_ratio);
    assert!(r.backends[0].utilization > 0.99);
    // Successful responses all came within the timeout.
    assert!(r.response_time.max_s <= 0.2 + 1e-3, "{}", r.response_time.max_s);
}

#[test]
fn a_queue_timeout_answers_503_instead_of_waiting() {
    let mut stack = StackConfig {
        clients: vec![client(50.0)],
        backends: backends(1, 4, ms(100)),
        ..StackConfig::default()
    };
    stack.backends[0].queue = QueueLimit::Unbounded;
    stack.backends[0].queue_timeout = Some(ms(300));
    let r = run(&stack, s(600));
    assert_conserved(&r);
    assert!(r.rejected > 1000);
    // Served requests waited at most the queue timeout, then were served.
    assert!(r.wait_time_mean_s <= 0.3, "{}", r.wait_time_mean_s);
}

#[test]
fn a_crashed_backend_is_taken_out_by_health_checks_and_comes_back() {
    let stack = StackConfig {
        clients: vec![client(30.0)],
        backends: backends(3, 4, ms(50)),
        health: HealthConfig { active: Some(ActiveCheck::default()), ..HealthConfig::default() },
        timeline: vec![at(100, Action::Fail { backend: 0 }), at(400, Action::Recover { backend: 0 })],
        observe: Observe { window: Some(s(10)), ..Observe::default() },
        ..StackConfig::default()
    };
    let r = run(&stack, s(600));
    assert_conserved(&r);
    // Down after three failed checks two seconds apart: a few seconds of failures, no more.
    assert!(r.failed > 20 && r.failed < 200, "{}", r.failed);
    let share = |w: &Window| w.backends[0].routed as f64 / w.attempts.max(1) as f64;
    assert!(share(&r.windows[5]) > 0.25, "before the crash");
    assert_eq!(r.windows[20].backends[0].routed, 0, "ejected while down");
    assert!(share(&r.windows[50]) > 0.25, "back after recovery");
}

#[test]
fn consecutive_errors_eject_a_backend_without_active_checks() {
    let stack = StackConfig {
        clients: vec![client(30.0)],
        backends: backends(4, 4, ms(50)),
        health: HealthConfig {
            outlier: Some(OutlierDetection { max_ejection_fraction: 0.25, ..OutlierDetection::default() }),
            ..HealthConfig::default()
        },
        timeline: vec![at(100, Action::Fail { backend: 0 })],
        ..StackConfig::default()
    };
    let r = run(&stack, s(400));
    assert_conserved(&r);
    // Five failures eject it for 30 s, then ten more for 60 s, fifteen for 90 s, ...
    assert!(r.failed >= 5 && r.failed < 60, "{}", r.failed);
}

#[test]
fn a_tcp_check_misses_an_overloaded_backend_an_http_check_does_not() {
    let stack = |kind| {
        let mut b = backends(2, 4, ms(50));
        b[0].degradation = Some(Degradation { knee: 8, slope: 0.5 });
        StackConfig {
            clients: vec![client(60.0)],
            backends: b,
            health: HealthConfig {
                active: Some(ActiveCheck { kind, timeout: ms(500), ..ActiveCheck::default() }),
                ..HealthConfig::default()
            },
            timeline: vec![at(60, Action::SetWeight { backend: 0, weight: 9 })],
            ..StackConfig::default()
        }
    };
    let tcp = run(&stack(CheckKind::Tcp), s(600));
    let http = run(&stack(CheckKind::Http), s(600));
    assert_conserved(&tcp);
    assert_conserved(&http);
    assert!(tcp.error_ratio() > 2.0 * http.error_ratio(), "{} vs {}", tcp.error_ratio(), http.error_ratio());
}

#[test]
fn draining_and_removing_stop_new_traffic() {
    let stack = StackConfig {
        clients: vec![client(30.0)],
        backends: backends(3, 4, ms(50)),
        timeline: vec![
            at(100, Action::SetWeight { backend: 1, weight: 0 }),
            at(100, Action::Remove { backend: 2 }),
            at(300, Action::Add { backend: 2 }),
        ],
        observe: Observe { window: Some(s(50)), ..Observe::default() },
        ..StackConfig::default()
    };
    let r = run(&stack, s(400));
    assert_conserved(&r);
    assert_eq!(r.error_ratio(), 0.0);
    let w = &r.windows[3]; // 150..200 s
    assert_eq!((w.backends[1].routed, w.backends[2].routed), (0, 0));
    assert!(r.windows[7].backends[2].routed > 0);
}

#[test]
fn slow_down_and_traffic_scaling_act_when_scheduled() {
    let stack = StackConfig {
        clients: vec![client(20.0)],
        backends: backends(2, 4, ms(50)),
        timeline: vec![
            at(100, Action::SlowDown { backend: 0, factor: 4.0 }),
            at(200, Action::ScaleTraffic { factor: 2.0 }),
            at(300, Action::SetRate { rate_per_s: 10.0 }),
        ],
        observe: Observe { window: Some(s(100)), ..Observe::default() },
        ..StackConfig::default()
    };
    let r = run(&stack, s(400));
    let arrivals: Vec<u64> = r.windows.iter().map(|w| w.arrived).collect();
    assert!((1800..2200).contains(&arrivals[0]) && (3600..4400).contains(&arrivals[2]), "{arrivals:?}");
    assert!((800..1200).contains(&arrivals[3]), "{arrivals:?}");
    let u = |i: usize| r.windows[i].backends[0].utilization;
    assert!(u(1) > 3.0 * u(0), "{} vs {}", u(1), u(0));
}
