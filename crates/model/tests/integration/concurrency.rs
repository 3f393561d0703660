//! Adaptive concurrency limits (issue 12, item 5): Envoy's gradient controller and Netflix's
//! Vegas and AIMD limits in front of a backend.

use std::time::Duration;

use stacksim_model::overload::{Aimd, Concurrency, Gradient, Vegas};
use stacksim_model::*;

use super::{assert_conserved, client, ms, s};

/// One backend of `workers` workers with an unbounded queue and exponential service of mean
/// 50 ms, offered `rate` requests a second, behind `limit`; windows of 10 s.
fn stack(rate: f64, workers: u32, limit: Option<Concurrency>) -> StackConfig {
    let mut backend =
        BackendConfig::new("app", workers, QueueLimit::Unbounded, ServiceTime::Exponential { mean: ms(50) });
    backend.concurrency = limit;
    StackConfig {
        clients: vec![client(rate)],
        backends: vec![backend],
        observe: Observe { window: Some(s(10)), ..Observe::default() },
        ..StackConfig::default()
    }
}

fn run(stack: &StackConfig, duration: Duration) -> RunSummary {
    let params = RunParams { seed: 11, duration, warmup: s(20) };
    simulate(stack, Box::new(policy::RoundRobin::new()), params).unwrap()
}

fn envoy() -> Concurrency {
    Concurrency::Gradient(Gradient::new(ms(100), s(30)))
}

#[test]
fn a_gradient_limit_keeps_an_overloaded_backend_near_its_unloaded_latency() {
    // Four workers (80/s) offered 160/s: without a limit the queue grows without end.
    let plain = run(&stack(160.0, 4, None), s(200));
    let limited = run(&stack(160.0, 4, Some(envoy())), s(200));
    assert_conserved(&plain);
    assert_conserved(&limited);
    assert!(plain.response_time.mean_s > 20.0, "unlimited: {}", plain.response_time.mean_s);
    let o = limited.overload.expect("a concurrency limit reports overload metrics");
    // Half the offered load is beyond capacity: the limit refuses about that much, and what
    // it admits waits little (the limit settles near workers × (1 + buffer) + headroom).
    let refused = o.counts.concurrency_limited as f64 / limited.arrived as f64;
    assert!((0.45..0.6).contains(&refused), "refused {refused}");
    assert!(limited.response_time.mean_s < 0.15, "limited: {}", limited.response_time.mean_s);
    let mean_limit = o.concurrency_limit_mean.expect("the mean limit is reported");
    eprintln!("refused {refused:.3}, mean {:.3} s, mean limit {mean_limit:.2}", limited.response_time.mean_s);
    assert!((3.0..20.0).contains(&mean_limit), "mean limit {mean_limit}");
    // The limit over time is in the windows.
    let limits: Vec<u32> = limited.windows.iter().filter_map(|w| w.backends[0].concurrency_limit).collect();
    assert_eq!(limits.len(), limited.windows.len());
    assert!(plain.windows.iter().all(|w| w.backends[0].concurrency_limit.is_none()));
}

#[test]
fn under_light_load_the_gradient_limit_climbs_to_its_ceiling() {
    // 100 workers at 10% load: every sample is near minRTT, the gradient is at its 1.25 cap
    // ((1 + 25%) · minRTT / sampleRTT), and the limit grows by ×1.25 + √limit per update to
    // Envoy's ceiling.
    let mut gradient = Gradient::new(ms(100), s(600));
    gradient.max_concurrency_limit = 300;
    let r = run(&stack(200.0, 100, Some(Concurrency::Gradient(gradient))), s(120));
    assert_conserved(&r);
    let limits: Vec<u32> = r.windows.iter().filter_map(|w| w.backends[0].concurrency_limit).collect();
    // Samples are single exponential services, so a window's p50 now and then exceeds
    // 1.25 · minRTT and the limit dips; it reaches the ceiling.
    assert_eq!(limits.iter().max(), Some(&300), "{limits:?}");
    assert_eq!(r.overload.unwrap().counts.concurrency_limited, 0);
}

#[test]
fn aimd_backs_off_on_queue_timeouts_and_vegas_on_queueing() {
    // Two workers (40/s) offered 60/s, waits over 200 ms answered 503: drops for AIMD.
    let mut timed = stack(60.0, 2, None);
    timed.backends[0].queue_timeout = Some(ms(200));
    let aimd = Aimd { initial_limit: 50, min_limit: 2, max_limit: 200, ..Aimd::default() };
    let mut with_aimd = timed.clone();
    with_aimd.backends[0].concurrency = Some(Concurrency::Aimd(aimd));
    let r = run(&with_aimd, s(200));
    assert_conserved(&r);
    let limit = r.overload.unwrap().concurrency_limit_mean.unwrap();
    eprintln!("AIMD mean limit {limit:.2}, errors {:.3}", r.error_ratio());
    assert!(limit < 25.0, "AIMD's mean limit {limit} stayed near its initial 50");
    // Vegas reads queueing from the RTT alone (no drops needed).
    let vegas = run(&stack(60.0, 2, Some(Concurrency::Vegas(Vegas::default()))), s(200));
    assert_conserved(&vegas);
    let o = vegas.overload.unwrap();
    eprintln!(
        "Vegas mean limit {:?}, refused {}, mean {:.3} s",
        o.concurrency_limit_mean, o.counts.concurrency_limited, vegas.response_time.mean_s
    );
    assert!(o.counts.concurrency_limited > 0);
    assert!(vegas.response_time.mean_s < 1.0, "Vegas: {}", vegas.response_time.mean_s);
}
