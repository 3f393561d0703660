//! Hedged requests (gRPC `hedgingPolicy`) and retry throttling (gRPC `retryThrottling`).

use std::time::Duration;

use stacksim_model::*;

use super::{assert_conserved, client, ms, run, run_with, s};

/// One backend with so many workers that nothing queues (M/M/∞-like), exponential service
/// with mean `mean`, behind a client hedging with `hedge`.
fn infinite_server(rate: f64, mean: Duration, hedge: Option<HedgePolicy>) -> StackConfig {
    let mut c = client(rate);
    c.hedge = hedge;
    infinite_server_with(c, mean)
}

/// The same backend behind `c`.
fn infinite_server_with(c: ClientConfig, mean: Duration) -> StackConfig {
    StackConfig {
        clients: vec![c],
        backends: vec![BackendConfig::new(
            "app",
            10_000,
            QueueLimit::Bounded(0),
            ServiceTime::Exponential { mean },
        )],
        ..StackConfig::default()
    }
}

/// Mean and 95% half-width (Student t, 9 degrees of freedom) of `xs`.
fn mean_ci(xs: &[f64]) -> (f64, f64) {
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    assert_eq!(xs.len(), 10, "t quantile below is for 9 degrees of freedom");
    (mean, 2.262 * (var / n).sqrt())
}

#[test]
fn hedging_twice_at_once_halves_the_mean_of_an_exponential_server() {
    // Short run: the fast check. The release-mode test below pins the value with its CI.
    let hedge = HedgePolicy { max_attempts: 2, delay: Duration::ZERO };
    let hedged = run(&infinite_server(50.0, ms(100), Some(hedge)), s(400));
    let plain = run(&infinite_server(50.0, ms(100), None), s(400));
    assert_conserved(&hedged);
    assert_eq!(hedged.arrived, plain.arrived, "common random numbers: the same arrivals");
    assert_eq!(hedged.attempts, 2 * hedged.arrived);
    assert_eq!(hedged.retries, hedged.arrived, "each request sends one hedge");
    let (h, p) = (hedged.response_time.mean_s, plain.response_time.mean_s);
    assert!((h - 0.05).abs() < 0.004 && (p - 0.1).abs() < 0.008, "hedged {h}, plain {p}");
    // The losers ran on: the loser is the longer of two services (E[max] = 3m/2, E[min] =
    // m/2), so three quarters of the work is wasted.
    assert!((hedged.wasted_work_ratio - 0.75).abs() < 0.02, "{}", hedged.wasted_work_ratio);
}

/// The oracle: min of two exponential service times with mean m has mean m/2 (and is
/// exponential: p50 = m/2 · ln 2, p99 = m/2 · ln 100).
#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim-model --test integration -- --ignored"]
fn hedging_an_infinite_server_gives_the_minimum_of_two_service_times() {
    let hedge = HedgePolicy { max_attempts: 2, delay: Duration::ZERO };
    let stack = infinite_server(100.0, ms(100), Some(hedge));
    let (mut means, mut p50s, mut p99s) = (Vec::new(), Vec::new(), Vec::new());
    for seed in 0..10 {
        let params = RunParams { seed, duration: s(2000), warmup: s(10) };
        let r = simulate(&stack, Box::new(policy::RoundRobin::new()), params).unwrap();
        assert_conserved(&r);
        means.push(r.response_time.mean_s);
        p50s.push(r.response_time.p50_s);
        p99s.push(r.response_time.p99_s);
    }
    for (name, xs, exact) in [
        ("mean", &means, 0.05),
        ("p50", &p50s, 0.05 * std::f64::consts::LN_2),
        ("p99", &p99s, 0.05 * 100f64.ln()),
    ] {
        let (mean, ci) = mean_ci(xs);
        eprintln!("{name}: {mean:.6} ±{ci:.6} vs {exact:.6}");
        // HDR histograms keep 3 significant digits: 0.1% of slack for the percentiles.
        assert!((mean - exact).abs() <= ci + 0.001 * exact, "{name}: {mean} ±{ci} vs {exact}");
        assert!(ci < 0.01 * exact, "{name}: the interval is too wide to say: ±{ci}");
    }
}

#[test]
fn a_hedge_goes_out_only_after_its_delay_and_the_first_answer_wins() {
    // Deterministic 80 ms service, a hedge after 50 ms: the first attempt wins at 80 ms, the
    // hedge (sent at 50 ms) is cancelled while it runs, its 30 ms of work wasted.
    let mut c = client(5.0);
    c.hedge = Some(HedgePolicy { max_attempts: 3, delay: ms(50) });
    let stack = StackConfig {
        clients: vec![c.clone()],
        backends: vec![BackendConfig::new("app", 100, QueueLimit::Bounded(0), ServiceTime::Constant(ms(80)))],
        ..StackConfig::default()
    };
    let r = run(&stack, s(200));
    assert_conserved(&r);
    assert!((r.response_time.mean_s - 0.08).abs() < 1e-6, "{}", r.response_time.mean_s);
    // Sent at 0 and 50 ms; the third (due at 100 ms) never goes out.
    assert_eq!(r.attempts, 2 * r.arrived);
    // Work per request: 80 ms useful, 80 ms by the hedge (it runs to its end, unneeded).
    assert!((r.wasted_work_ratio - 0.5).abs() < 0.01, "{}", r.wasted_work_ratio);
    // A delay longer than the service: no hedge is ever sent.
    let mut slow = stack.clone();
    slow.clients[0].hedge = Some(HedgePolicy { max_attempts: 3, delay: ms(100) });
    let r = run(&slow, s(200));
    assert_eq!(r.attempts, r.arrived);
    assert_eq!(r.wasted_work_ratio, 0.0);
}

#[test]
fn a_failed_hedge_sends_the_next_at_once_and_the_request_fails_only_when_all_have() {
    // One backend that is down from the start: every attempt is refused. With 3 attempts and
    // a long delay, the refusals send the hedges at once: 3 attempts, failed at t = 0.
    let mut c = client(10.0);
    c.hedge = Some(HedgePolicy { max_attempts: 3, delay: s(60) });
    let stack = StackConfig {
        clients: vec![c],
        backends: super::backends(1, 2, ms(50)),
        timeline: vec![TimedAction { at: Duration::ZERO, action: Action::Fail { backend: 0 } }],
        ..StackConfig::default()
    };
    let r = run(&stack, s(100));
    assert_conserved(&r);
    assert_eq!(r.failed, r.arrived);
    assert_eq!(r.attempts, 3 * r.arrived);
    assert_eq!(r.in_flight, 0, "no request waits for a hedge delay once all attempts failed");
}

/// `client` in front of one backend of 8 workers (50 ms) that is down from 100 s to 200 s.
fn with_an_outage(client: ClientConfig) -> StackConfig {
    StackConfig {
        clients: vec![client],
        backends: super::backends(1, 8, ms(50)),
        timeline: vec![
            TimedAction { at: s(100), action: Action::Fail { backend: 0 } },
            TimedAction { at: s(200), action: Action::Recover { backend: 0 } },
        ],
        ..StackConfig::default()
    }
}

#[test]
fn retry_throttling_stops_hedges_while_failures_outweigh_successes() {
    // A backend down for the middle third: with throttling (10 tokens, ratio 0.1) the first
    // few failures drain the tokens to the threshold and hedging stops; without, every request
    // sends all its attempts into the dead backend.
    let stack = |throttling: Option<RetryThrottling>| {
        let mut c = client(20.0);
        c.hedge = Some(HedgePolicy { max_attempts: 3, delay: ms(20) });
        c.retry_throttling = throttling;
        with_an_outage(c)
    };
    let free = run(&stack(None), s(300));
    let throttled = run(&stack(Some(RetryThrottling { max_tokens: 10.0, token_ratio: 0.1 })), s(300));
    assert_conserved(&free);
    assert_conserved(&throttled);
    let down = |r: &RunSummary| r.failed as f64;
    // Without throttling: 3 attempts per failed request. With it: 1 (after the first 5
    // failures bring the count to the threshold of 5 tokens).
    let extra = |r: &RunSummary| (r.attempts - r.arrived) as f64;
    assert!(extra(&free) > 1.9 * down(&free), "{} vs {}", extra(&free), down(&free));
    assert!(extra(&throttled) < extra(&free) * 0.75, "{} vs {}", extra(&throttled), extra(&free));
    assert_eq!(free.arrived, throttled.arrived);
}

#[test]
fn retry_throttling_stops_retries_of_a_retry_storm() {
    let stack = |throttling: Option<RetryThrottling>| {
        let mut c = client(20.0);
        c.retry = Some(RetryPolicy { max_attempts: 5, backoff: ms(10), max_backoff: ms(100), budget: None });
        c.retry_throttling = throttling;
        with_an_outage(c)
    };
    let free = run(&stack(None), s(300));
    let throttled = run(&stack(Some(RetryThrottling { max_tokens: 10.0, token_ratio: 0.1 })), s(300));
    assert_conserved(&throttled);
    // Unthrottled, each request failing in the outage retries 4 times; throttled, retries stop
    // once the 10 tokens fall to 5: at most a handful in the outage.
    assert!(free.retries as f64 > 3.9 * free.failed as f64, "{} vs {}", free.retries, free.failed);
    assert!(throttled.retries < 20, "{}", throttled.retries);
    // Before the outage, nothing failed: throttling changed nothing there, so the requests
    // are the same.
    assert_eq!(free.arrived, throttled.arrived);
}

/// A hedged request whose winner crosses zones is answered once: the other attempts are
/// cancelled when the winner leaves its backend, not when its response reaches the client
/// (a later answer in between would otherwise end the request a second time). Over HTTP/2
/// connections and many balancer instances, every request still ends exactly once.
#[test]
fn hedges_answered_across_zones_end_each_request_once() {
    let mut stack = infinite_server(50.0, ms(100), Some(HedgePolicy { max_attempts: 3, delay: ms(20) }));
    stack.clients[0].zone = Some("a".into());
    let template = stack.backends[0].clone();
    stack.backends = ["a", "b"]
        .into_iter()
        .map(|zone| BackendConfig {
            name: format!("app-{zone}"),
            zone: Some(zone.into()),
            ..template.clone()
        })
        .collect();
    stack.topology = Topology {
        instances: 4,
        connections: Connections::Http2 { per_instance: 1, max_age: Some(s(30)) },
        cross_zone_latency: Some(ms(40)),
        ..Topology::default()
    };
    let params = RunParams { seed: 5, duration: s(300), warmup: Duration::ZERO };
    let r = run_with(&stack, || Box::new(policy::RoundRobin::new()), params);
    assert_conserved(&r);
    assert_eq!(r.in_flight + r.completed, r.arrived, "nothing fails on an infinite server");
    // A response from the other zone arrives 40 ms late, so the mean lies between the hedged
    // local mean and that plus 40 ms.
    assert!(r.response_time.mean_s > 0.02 && r.response_time.mean_s < 0.1, "{}", r.response_time.mean_s);
}

/// Envoy's `hedge_on_per_try_timeout` against plain retries on an M/M/∞-like backend
/// (exponential service, mean 100 ms), a per-try timeout of 50 ms, two attempts, no backoff.
/// Hedged, the answer is min(S₁, 50 ms + S₂) and the request times out only when that passes
/// the second per-try timeout (100 ms): P = P(S₁ > 100) · P(S₂ > 50) = e^-1.5 = 22.31%, and a
/// success takes 46.60 ms on average (a hedge's work is drawn anew, as for every hedge).
/// Retried plainly, the first attempt is given up at 50 ms and the retry repeats the same
/// request's work (a retry is the same request, its size unchanged), so a request slower than
/// 50 ms times out twice: e^-0.5 = 60.65%.
#[test]
fn hedging_on_the_per_try_timeout_keeps_the_first_attempt_running() {
    let stack = |hedge_on_timeout: bool| {
        let mut c = client(100.0);
        c.timeout = Some(ms(50));
        c.retry = Some(RetryPolicy { max_attempts: 2, backoff: ms(0), max_backoff: ms(0), budget: None });
        c.hedge_on_per_try_timeout = hedge_on_timeout;
        infinite_server_with(c, ms(100))
    };
    let hedged = run(&stack(true), s(2000));
    let retried = run(&stack(false), s(2000));
    assert_conserved(&hedged);
    assert_conserved(&retried);
    let ratio = |r: &RunSummary| r.timed_out as f64 / r.arrived as f64;
    // Binomial standard errors at 200,000 requests: under 0.1 point; 4 of them.
    let (h, p) = (ratio(&hedged), ratio(&retried));
    assert!((h - (-1.5f64).exp()).abs() < 0.004, "hedged: {h} timed out");
    assert!((p - (-0.5f64).exp()).abs() < 0.004, "retried: {p} timed out");
    let mean = hedged.response_time.mean_s;
    assert!((mean - 0.04660).abs() < 0.0006, "hedged: mean success {mean}");
    // Every first attempt slower than 50 ms sends a retry, in both.
    assert_eq!(hedged.arrived, retried.arrived);
    assert_eq!(hedged.retries, retried.retries);
}
