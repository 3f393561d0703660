//! Conservation and determinism hold whatever the features: a property test over random
//! stacks with timeouts, retries, hedging, retry throttling, queue disciplines (LIFO, CoDel),
//! queue timeouts, crashes, health checks, ejection, a database, a fleet group that
//! autoscales, deploys and runs a canary, the overload controls (circuit breakers, rate
//! limits, admission control, client breakers and throttling, slow start and warm-up,
//! adaptive concurrency limits), and request classes with priority shedding.

use proptest::prelude::*;
use stacksim_model::overload::{Aimd, Concurrency, Gradient, Vegas};
use stacksim_model::policy::{LeastConnections, RandomChoices};
use stacksim_model::*;

use super::{ms, s};

fn stack(seed_bits: u64) -> StackConfig {
    let bit = |i: u32| seed_bits >> i & 1 == 1;
    let mut c = ClientConfig::new("users", Arrivals::Poisson { rate_per_s: 20.0 + (seed_bits % 40) as f64 });
    c.users = bit(1).then_some(Users { count: 200, skew: 0.8 });
    c.timeout = bit(2).then_some(ms(300));
    c.breaker = bit(21).then_some(ClientBreaker {
        failure_rate: 0.3,
        window: s(5),
        min_requests: 10,
        open_for: s(3),
        half_open: 3,
    });
    c.throttle = bit(22).then_some(Throttle { k: 1.5, window: s(10) });
    c.retry = bit(3).then_some(RetryPolicy {
        max_attempts: 3,
        backoff: ms(20),
        max_backoff: ms(200),
        budget: bit(4).then_some(RetryBudget { ratio: 0.2, min_per_s: 1.0 }),
    });
    // Hedging replaces retries (a client does one or the other, as in gRPC); with its
    // cancelled attempts, conservation counts requests, not attempts.
    // (Bits: the fleet's use 12 to 20, part A's overload controls 21 to 28, concurrency limits
    // 29 to 31, these 32 and up.)
    if bit(32) {
        c.retry = None;
        c.hedge = Some(HedgePolicy { max_attempts: 2 + (seed_bits >> 38) as u32 % 4, delay: ms(25) });
    }
    c.retry_throttling = bit(33).then_some(RetryThrottling { max_tokens: 10.0, token_ratio: 0.1 });
    // Envoy's hedge on per-try timeout, where the client retries with a timeout (bit 47).
    c.hedge_on_per_try_timeout = bit(47) && c.retry.is_some() && c.timeout.is_some();
    // Request classes (bits 40 to 43) and priority shedding (44 to 46).
    let priority = |b: u32| match seed_bits >> b & 3 {
        0 => Priority::Low,
        1 => Priority::Normal,
        2 => Priority::High,
        _ => Priority::Critical,
    };
    if bit(40) {
        c.classes = vec![
            RequestClass { name: "page".into(), weight: 0.6, service_scale: 1.0, priority: priority(41) },
            RequestClass { name: "search".into(), weight: 0.3, service_scale: 3.0, priority: Priority::Low },
            RequestClass { name: "pay".into(), weight: 0.1, service_scale: 0.5, priority: priority(42) },
        ];
    }
    let shed = bit(44).then(|| Shed { queue_above: 2, priority_below: priority(45) });
    let mut backends: Vec<BackendConfig> = (0..3)
        .map(|i| {
            let mut b = BackendConfig::new(
                format!("app-{i}"),
                2,
                QueueLimit::Bounded(10),
                ServiceTime::Exponential { mean: ms(60) },
            );
            b.queue_timeout = bit(5).then_some(ms(150));
            b.degradation = bit(6).then_some(Degradation { knee: 4, slope: 0.3 });
            b.discipline = match (seed_bits >> 34) % 5 {
                0 | 1 => stacksim_model::overload::discipline::Discipline::Fifo,
                2 => stacksim_model::overload::discipline::Discipline::Lifo,
                3 => stacksim_model::overload::discipline::Discipline::AdaptiveLifo,
                _ => stacksim_model::overload::discipline::Discipline::CoDel {
                    target: ms(5),
                    interval: ms(100),
                    adaptive_lifo: bit(37),
                },
            };
            b.group = u32::from(i == 2);
            b.circuit_breakers = bit(23).then_some(CircuitBreakers {
                max_connections: 3,
                max_pending_requests: 2,
                max_requests: 6,
                max_retries: 1,
            });
            b.rate_limit = bit(24).then_some(RateLimit { tokens_per_s: 10.0, burst: 5 });
            b.slow_start =
                bit(25).then_some(SlowStart { window: s(20), aggression: 1.5, min_weight_percent: 10.0 });
            b.warmup = bit(26).then_some(Warmup { window: s(15), factor: 3.0 });
            b.shed = shed;
            b.concurrency = match (bit(29), bit(30), bit(31)) {
                (false, _, _) => None,
                (true, false, false) => Some(Concurrency::Gradient(Gradient::new(ms(100), s(5)))),
                (true, true, false) => Some(Concurrency::Vegas(Vegas::default())),
                (true, _, true) => {
                    Some(Concurrency::Aimd(Aimd { min_limit: 1, initial_limit: 4, ..Aimd::default() }))
                }
            };
            b
        })
        .collect();
    if bit(7) {
        backends[2].queue = QueueLimit::Unbounded;
    }
    // A fleet group behind the fixed backends: eight slots, two pods at the start, an
    // autoscaler, pod lifecycle times, a rolling deploy and a canary.
    let mut fleets = Vec::new();
    let mut timeline = Vec::new();
    if bit(12) {
        let first = backends.len();
        for i in 0..8 {
            let mut b = BackendConfig::new(
                format!("web-{i}"),
                2,
                QueueLimit::Bounded(10),
                ServiceTime::Exponential { mean: ms(60) },
            );
            b.present = i < 2;
            backends.push(b);
        }
        let mut behavior = fleet::default_behavior(1, 4);
        behavior.scale_down_window = s(10);
        fleets.push(FleetConfig {
            name: "web".into(),
            first,
            slots: 8,
            replicas: 2,
            autoscale: bit(13).then_some(Hpa {
                metric: if bit(14) { HpaMetric::Utilization } else { HpaMetric::RequestsPerSecondPerPod },
                target: if bit(14) { 0.5 } else { 5.0 },
                tolerance: 0.1,
                sync: s(5),
                behavior,
            }),
            provision: if bit(15) { s(3) } else { ms(0) },
            readiness: if bit(16) { s(2) } else { ms(0) },
            termination_grace: if bit(17) { ms(50) } else { s(5) },
            versions: vec![
                ServiceTime::Exponential { mean: ms(60) },
                ServiceTime::Exponential { mean: ms(90) },
            ],
        });
        if bit(18) {
            let (max_surge, max_unavailable) = if bit(19) {
                (Amount::Percent(25), Amount::Count(0))
            } else {
                (Amount::Count(0), Amount::Percent(50))
            };
            timeline.push(TimedAction {
                at: s(40),
                action: Action::RollingDeploy { group: 0, version: 1, max_surge, max_unavailable },
            });
        }
        if bit(20) {
            timeline.push(TimedAction {
                at: s(50),
                action: Action::Canary { group: 0, version: 1, weight_percent: 20 },
            });
        }
    }
    StackConfig {
        fleets,
        clients: vec![c],
        backends,
        database: bit(8).then(|| DatabaseConfig {
            workers: 3,
            service: ServiceTime::Exponential { mean: ms(10) },
            pool: 2,
            fraction: 0.5,
        }),
        health: HealthConfig {
            active: bit(9).then(ActiveCheck::default),
            outlier: bit(10).then(OutlierDetection::default),
            panic_threshold: 0.5,
        },
        timeline: if bit(11) {
            [
                TimedAction { at: s(30), action: Action::Fail { backend: 1 } },
                TimedAction { at: s(60), action: Action::Recover { backend: 1 } },
                TimedAction { at: s(70), action: Action::SetWeight { backend: 0, weight: 5 } },
                TimedAction { at: s(75), action: Action::Remove { backend: 2 } },
                TimedAction { at: s(80), action: Action::Add { backend: 2 } },
            ]
            .into_iter()
            .chain(timeline)
            .collect()
        } else {
            timeline
        },
        observe: Observe { window: Some(s(10)), slow: Some(ms(500)), incident: None },
        admission_control: bit(27).then_some(AdmissionControl {
            window: s(10),
            success_threshold: 0.9,
            aggression: 1.0,
            max_rejection_probability: 0.8,
        }),
        rate_limit: bit(28).then_some(RateLimit { tokens_per_s: 40.0, burst: 20 }),
        report_overload: false,
        report_concurrency: false,
        topology: Topology::default(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn every_feature_combination_conserves_and_is_deterministic(bits in any::<u64>(), seed in any::<u64>()) {
        let stack = stack(bits);
        let params = RunParams { seed, duration: s(120), warmup: s(10) };
        let run = |policy: Box<dyn Policy>| simulate(&stack, policy, params).unwrap();
        let a = run(Box::new(LeastConnections::new()));
        prop_assert_eq!(a.arrived, a.completed + a.rejected + a.timed_out + a.failed + a.in_flight);
        prop_assert!(a.users_affected <= a.users_active);
        prop_assert_eq!(a.overload.is_some(), stack.has_overload_control());
        if let Some(o) = a.overload {
            let c = o.counts;
            prop_assert!(c.overflowed + c.limited + c.shed + c.short_circuited + c.throttled <= a.rejected);
            prop_assert!((0.0..=1.0).contains(&o.breaker_open_ratio));
        }
        for group in &a.fleet {
            prop_assert!(group.replica_seconds >= 0.0 && group.replica_seconds.is_finite());
        }
        // Per request class: each conserves, and the classes add up to the run.
        prop_assert_eq!(a.classes.is_empty(), !stack.has_classes());
        for class in &a.classes {
            prop_assert_eq!(class.arrived, class.completed + class.errors + class.in_flight);
            prop_assert!(class.shed <= class.errors);
        }
        if !a.classes.is_empty() {
            let sum = |f: fn(&ClassSummary) -> u64| a.classes.iter().map(f).sum::<u64>();
            prop_assert_eq!(sum(|c| c.arrived), a.arrived);
            prop_assert_eq!(sum(|c| c.completed), a.completed);
            prop_assert_eq!(sum(|c| c.errors), a.rejected + a.timed_out + a.failed);
            prop_assert_eq!(sum(|c| c.in_flight), a.in_flight);
            prop_assert!(sum(|c| c.shed) <= a.rejected);
        }
        let b = run(Box::new(LeastConnections::new()));
        // Compared as text: NaN (no database) is not equal to itself.
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
        // Common random numbers: another policy sees the same arrivals.
        let c = run(Box::new(RandomChoices::power_of_two()));
        prop_assert_eq!(a.arrived, c.arrived);
        prop_assert_eq!(c.arrived, c.completed + c.rejected + c.timed_out + c.failed + c.in_flight);
    }
}

/// Counts of the attempts an [`AttemptLog`] heard, shared with the test.
#[derive(Default)]
struct Heard {
    counted: u64,
    completed: u64,
    out_of_order: u64,
}

struct Counter(std::sync::Arc<std::sync::Mutex<Heard>>);

impl AttemptLog for Counter {
    fn record(&mut self, a: &AttemptRecord) {
        let mut heard = self.0.lock().unwrap();
        heard.counted += u64::from(a.counted);
        heard.completed += u64::from(a.counted && a.outcome == AttemptOutcome::Completed);
        let ordered = a.sent <= a.ended && a.started.is_none_or(|s| a.sent <= s && s <= a.ended);
        heard.out_of_order += u64::from(!ordered);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// `stacksim run --access-log`: the attempt log changes nothing, and accounts for every
    /// attempt — one line per attempt that ended, a completed line per completed request.
    #[test]
    fn the_attempt_log_changes_nothing_and_hears_every_ended_attempt(bits in any::<u64>(), seed in any::<u64>()) {
        let stack = stack(bits);
        let params = RunParams { seed, duration: s(120), warmup: s(10) };
        let plain = simulate(&stack, Box::new(LeastConnections::new()), params).unwrap();
        let heard = std::sync::Arc::new(std::sync::Mutex::new(Heard::default()));
        let mut sim = WebStack::simulation(&stack, Box::new(LeastConnections::new()), params).unwrap();
        sim.model_mut().set_attempt_log(Box::new(Counter(std::sync::Arc::clone(&heard))));
        sim.run_until(stacksim_engine::SimTime::from(params.duration));
        let (now, events) = (sim.now(), sim.events_handled());
        let logged = sim.into_model().summary(now, events);
        prop_assert_eq!(format!("{plain:?}"), format!("{logged:?}"));
        let heard = heard.lock().unwrap();
        prop_assert_eq!(heard.completed, logged.completed);
        prop_assert_eq!(heard.out_of_order, 0);
        // Every counted attempt ended and was heard, but those of requests still in flight:
        // one each, or as many as its hedges (or hedged retries on the per-try timeout).
        let outstanding = stack
            .clients
            .iter()
            .map(|c| match (c.hedge, c.retry) {
                (Some(h), _) => u64::from(h.max_attempts),
                (None, Some(r)) if c.hedge_on_per_try_timeout => u64::from(r.max_attempts),
                _ => 1,
            })
            .max()
            .unwrap_or(1);
        prop_assert!(heard.counted <= logged.attempts);
        prop_assert!(heard.counted + outstanding * logged.in_flight >= logged.attempts, "{} heard, {} sent, {} in flight", heard.counted, logged.attempts, logged.in_flight);
    }
}
