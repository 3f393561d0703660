//! Traffic over time, traces, and closed-loop users.

use std::sync::Arc;

use stacksim_model::*;

use super::{assert_conserved, backends, ms, run, s};

#[test]
fn a_closed_loop_follows_the_interactive_response_time_law() {
    // N users, think time Z, response time R: throughput X = N / (Z + R).
    let stack = StackConfig {
        clients: vec![ClientConfig::new("people", Arrivals::Closed { users: 100, think: s(2) })],
        backends: backends(2, 4, ms(100)),
        ..StackConfig::default()
    };
    let r = run(&stack, s(3000));
    assert_conserved(&r);
    let law = 100.0 / (2.0 + r.response_time.mean_s);
    assert!((r.throughput_per_s - law).abs() < 0.02 * law, "{} vs {law}", r.throughput_per_s);
    assert!(r.in_flight <= 100);
    assert_eq!(r.users_active, 100);
}

#[test]
fn a_trace_is_replayed_request_for_request_with_its_keys() {
    let times: Arc<[std::time::Duration]> = (0..1000).map(|i| ms(100 * i + 5)).collect();
    let keys: Arc<[u64]> = (0..1000).map(|i| i % 7).collect();
    let mut c = ClientConfig::new("trace", Arrivals::Trace { times, keys: Some(keys) });
    c.users = Some(Users { count: 7, skew: 0.0 });
    let stack = StackConfig { clients: vec![c], backends: backends(1, 4, ms(10)), ..StackConfig::default() };
    let r = run(&stack, s(200));
    assert_eq!(r.arrived, 1000);
    assert_eq!(r.completed, 1000);
    assert_eq!(r.users_active, 7);
}

#[test]
fn a_spike_in_the_schedule_shows_in_the_series() {
    let points = vec![(s(0), 10.0), (s(100), 100.0), (s(160), 10.0)];
    let stack = StackConfig {
        clients: vec![ClientConfig::new("users", Arrivals::Schedule { points, linear: false })],
        backends: backends(2, 8, ms(50)),
        observe: Observe { window: Some(s(20)), ..Observe::default() },
        ..StackConfig::default()
    };
    let r = run(&stack, s(300));
    assert_conserved(&r);
    let arrived: Vec<u64> = r.windows.iter().map(|w| w.arrived).collect();
    assert!(arrived[2] < 300 && arrived[6] > 1700 && arrived[10] < 300, "{arrived:?}");
}
