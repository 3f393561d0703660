//! Every number of a run, pinned: each scenario switches on many mechanisms at once (crashes
//! with work in flight, queue and client timeouts, retries under a budget, HTTP checks,
//! outlier ejection, a database with a small pool, degradation, every timeline action, time
//! series, users affected) and its whole summary is compared with a snapshot taken before the
//! component redesign. A restructuring of the model must leave these unchanged; a change of
//! behaviour shows here as a diff of the numbers it moved.

use std::sync::Arc;
use std::time::Duration;

use stacksim_model::policy::{LeastResponseTime, PeakEwma, RandomChoices};
use stacksim_model::*;

use super::{ms, s};

fn at(secs: u64, action: Action) -> TimedAction {
    TimedAction { at: s(secs), action }
}

/// Six backends, a database behind them, and a timeline that does everything once.
fn stack_with_every_mechanism() -> StackConfig {
    let mut web = ClientConfig::new("web", Arrivals::Poisson { rate_per_s: 300.0 });
    web.users = Some(Users { count: 500, skew: 1.1 });
    web.timeout = Some(ms(400));
    web.retry = Some(RetryPolicy {
        max_attempts: 3,
        backoff: ms(20),
        max_backoff: ms(200),
        budget: Some(RetryBudget { ratio: 0.2, min_per_s: 2.0 }),
    });
    let mut batch = ClientConfig::new(
        "batch",
        Arrivals::Schedule { points: vec![(s(0), 5.0), (s(200), 40.0), (s(300), 5.0)], linear: true },
    );
    batch.timeout = Some(s(2));
    let backends = (0..6)
        .map(|i| {
            let mut b = BackendConfig::new(
                format!("app-{i}"),
                2,
                QueueLimit::Bounded(12),
                ServiceTime::Exponential { mean: ms(25) },
            );
            b.queue_timeout = Some(ms(150));
            if i == 2 {
                b.degradation = Some(Degradation { knee: 6, slope: 0.3 });
            }
            if i == 5 {
                b.present = false;
                b.weight = 2;
            }
            b
        })
        .collect();
    StackConfig {
        fleets: Vec::new(),
        clients: vec![web, batch],
        backends,
        database: Some(DatabaseConfig {
            workers: 2,
            service: ServiceTime::Exponential { mean: ms(8) },
            pool: 1,
            fraction: 0.5,
        }),
        health: HealthConfig {
            active: Some(ActiveCheck {
                interval: s(2),
                timeout: ms(300),
                rise: 2,
                fall: 2,
                kind: CheckKind::Http,
            }),
            outlier: Some(OutlierDetection {
                consecutive_5xx: 3,
                base_ejection: s(10),
                max_ejection: s(60),
                max_ejection_fraction: 0.34,
            }),
            panic_threshold: 0.5,
        },
        timeline: vec![
            at(60, Action::Fail { backend: 1 }),
            at(90, Action::Recover { backend: 1 }),
            at(100, Action::SlowDown { backend: 3, factor: 6.0 }),
            at(140, Action::SlowDown { backend: 3, factor: 1.0 }),
            at(150, Action::Add { backend: 5 }),
            at(170, Action::SetWeight { backend: 0, weight: 3 }),
            at(200, Action::SetPolicy { policy: 0 }),
            at(230, Action::Fail { backend: 2 }),
            at(250, Action::Remove { backend: 4 }),
            at(260, Action::ScaleTraffic { factor: 1.5 }),
            at(280, Action::Recover { backend: 2 }),
            at(300, Action::Add { backend: 4 }),
            at(320, Action::SetRate { rate_per_s: 330.0 }),
            at(330, Action::SetPolicy { policy: 1 }),
        ],
        observe: Observe { window: Some(s(30)), slow: Some(ms(100)), incident: Some((s(50), s(250))) },
        ..StackConfig::default()
    }
}

fn summary(stack: &StackConfig, policy: Box<dyn Policy>, later: Vec<Box<dyn Policy>>, seed: u64) -> String {
    let params = RunParams { seed, duration: s(400), warmup: s(20) };
    let run = simulate_with(stack, policy, later, params).unwrap();
    format!("{run:#?}")
}

#[test]
fn a_stack_with_every_mechanism_gives_the_same_numbers() {
    let stack = stack_with_every_mechanism();
    let later: Vec<Box<dyn Policy>> =
        vec![Box::new(LeastResponseTime::new()), Box::new(RandomChoices::power_of_two())];
    let got = summary(&stack, Box::new(PeakEwma::default()), later, 11);
    insta::assert_snapshot!("every-mechanism", got);
}

#[test]
fn closed_loops_and_traces_give_the_same_numbers() {
    let times: Arc<[Duration]> = (0..4000_u64).map(|i| ms(i * 90 + (i * 37) % 50)).collect();
    let keys: Arc<[u64]> = (0..4000_u64).map(|i| (i * 7919) % 300).collect();
    let mut replay = ClientConfig::new("replay", Arrivals::Trace { times, keys: Some(keys) });
    replay.timeout = Some(ms(300));
    let mut users = ClientConfig::new("users", Arrivals::Closed { users: 40, think: ms(500) });
    users.timeout = Some(ms(250));
    users.retry = Some(RetryPolicy { max_attempts: 2, backoff: ms(50), max_backoff: ms(50), budget: None });
    let steady = ClientConfig::new("steady", Arrivals::Deterministic { rate_per_s: 20.0 });
    let backends = (0..3)
        .map(|i| {
            BackendConfig::new(
                format!("app-{i}"),
                2,
                QueueLimit::Unbounded,
                ServiceTime::Exponential { mean: ms(30) },
            )
        })
        .collect();
    let stack = StackConfig {
        clients: vec![replay, users, steady],
        backends,
        health: HealthConfig { outlier: Some(OutlierDetection::default()), ..HealthConfig::default() },
        timeline: vec![at(100, Action::Fail { backend: 0 }), at(130, Action::Recover { backend: 0 })],
        observe: Observe { window: Some(s(60)), ..Observe::default() },
        ..StackConfig::default()
    };
    let got = summary(&stack, Box::new(RandomChoices::power_of_two()), Vec::new(), 3);
    insta::assert_snapshot!("closed-loop-and-trace", got);
}
