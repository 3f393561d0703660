//! The balancer tier (issue 11): instances, subsets, connections, priority levels and zones,
//! each against the number its production source gives.

use std::time::Duration;

use proptest::prelude::*;
use stacksim_model::policy::{LeastConnections, RandomChoices, RoundRobin};
use stacksim_model::*;

use super::{assert_conserved, backends, client, ms, run_with, s};

fn round_robin() -> Box<dyn Policy> {
    Box::new(RoundRobin::new())
}

fn p2c() -> Box<dyn Policy> {
    Box::new(RandomChoices::power_of_two())
}

#[test]
fn one_instance_with_every_default_is_the_single_balancer() {
    let stack =
        StackConfig { clients: vec![client(60.0)], backends: backends(4, 2, ms(50)), ..Default::default() };
    assert_eq!(stack.policy_copies(), 1);
    let params = RunParams { seed: 3, duration: s(120), warmup: s(10) };
    let old = simulate(&stack, p2c(), params).unwrap();
    let new = run_with(&stack, p2c, params);
    assert_eq!(format!("{old:?}"), format!("{new:?}"));
    assert_eq!(new.topology, None, "the default tier adds nothing to the summary");
}

#[test]
fn a_run_with_too_few_policy_copies_is_an_error_not_a_panic() {
    let mut stack =
        StackConfig { clients: vec![client(10.0)], backends: backends(2, 1, ms(10)), ..Default::default() };
    stack.topology.instances = 4;
    let params = RunParams { seed: 1, duration: s(10), warmup: Duration::ZERO };
    let error = simulate(&stack, round_robin(), params).unwrap_err();
    assert_eq!(error, ModelError::PolicyCopies { needed: 4, given: 1 });
}

#[test]
fn deterministic_subsets_of_10_of_300_over_300_instances_give_every_backend_10_connections() {
    let mut stack = StackConfig {
        clients: vec![client(3000.0)],
        backends: backends(300, 1, ms(10)),
        ..Default::default()
    };
    stack.topology.instances = 300;
    stack.topology.subset = Subset::Deterministic { size: 10 };
    let run = run_with(&stack, round_robin, RunParams { seed: 9, duration: s(5), warmup: s(1) });
    assert_conserved(&run);
    let counts = run.topology.unwrap().subset_connections.unwrap();
    assert_eq!(counts, vec![10; 300]);
}

#[test]
fn random_subsets_of_90_of_300_are_as_uneven_as_the_sre_book_says() {
    // SRE book ch. 20: 300 clients, 90 of 300 backends each: in one draw the least-connected
    // backend had 63% of the mean (56 of 90), the most 121% (109).
    let counts = topology::subset_counts(Subset::Random { size: 90 }, 300, 300, 1);
    let (min, max) = (*counts.iter().min().unwrap(), *counts.iter().max().unwrap());
    assert_eq!(counts.iter().sum::<u32>(), 300 * 90);
    assert!((50..80).contains(&min) && (100..130).contains(&max), "{min}..{max}");
}

#[test]
fn an_instance_sends_nothing_outside_its_subset() {
    let mut stack =
        StackConfig { clients: vec![client(200.0)], backends: backends(10, 2, ms(10)), ..Default::default() };
    stack.topology.subset = Subset::Deterministic { size: 3 };
    let run = run_with(&stack, p2c, RunParams { seed: 4, duration: s(30), warmup: s(1) });
    let counts = run.topology.as_ref().unwrap().subset_connections.clone().unwrap();
    assert_eq!(counts.iter().sum::<u32>(), 3);
    for (b, backend) in run.backends.iter().enumerate() {
        assert_eq!(backend.routed > 0, counts[b] == 1, "{}: routed {}", backend.name, backend.routed);
    }
}

/// P0 and P1 of 100 backends each, `down` of P0 failed at the start and marked down by TCP
/// checks within a second: P0's share of the requests.
fn priority_zero_share(down: usize) -> f64 {
    let mut all = backends(200, 4, ms(2));
    for (i, b) in all.iter_mut().enumerate() {
        b.priority = u32::from(i >= 100);
    }
    let stack = StackConfig {
        clients: vec![client(2000.0)],
        backends: all,
        health: HealthConfig {
            active: Some(ActiveCheck { interval: ms(500), fall: 1, ..ActiveCheck::default() }),
            ..HealthConfig::default()
        },
        timeline: (0..down).map(|b| TimedAction { at: ms(1), action: Action::Fail { backend: b } }).collect(),
        ..Default::default()
    };
    let run = run_with(&stack, round_robin, RunParams { seed: 2, duration: s(60), warmup: s(5) });
    assert_conserved(&run);
    run.backends[..100].iter().map(|b| b.share).sum()
}

#[test]
fn priority_levels_fail_over_as_envoys_table_says() {
    // Envoy docs, "Priority levels", overprovisioning factor 1.4: P0 at 72% healthy keeps all
    // the traffic; 71% → 99/1; 50% → 70/30; 25% → 35/65.
    for (healthy, expected) in [(72, 1.0), (71, 0.99), (50, 0.70), (25, 0.35)] {
        let share = priority_zero_share(100 - healthy);
        // 110,000 picks: the binomial standard deviation is under 0.0015.
        assert!((share - expected).abs() < 0.008, "P0 {healthy}% healthy: share {share}, Envoy {expected}");
    }
}

#[test]
fn zone_aware_routing_keeps_per_backend_load_equal_and_spills_the_rest() {
    // Clients 50/50 in two zones, 2 backends in one and 6 in the other: every backend gets
    // 12.5% of the requests, and a quarter of them cross zones.
    let mut all = backends(8, 4, ms(2));
    for (i, b) in all.iter_mut().enumerate() {
        b.zone = Some(if i < 2 { "a" } else { "b" }.to_owned());
    }
    let mut east = client(1000.0);
    east.name = "east".into();
    east.zone = Some("a".into());
    let mut west = client(1000.0);
    west.name = "west".into();
    west.zone = Some("b".into());
    let mut stack = StackConfig { clients: vec![east, west], backends: all, ..Default::default() };
    stack.topology.zone_aware = Some(ZoneAware { min_cluster_size: 6 });
    let run = run_with(&stack, round_robin, RunParams { seed: 6, duration: s(60), warmup: s(1) });
    assert_conserved(&run);
    for b in &run.backends {
        assert!((b.share - 0.125).abs() < 0.004, "{}: {}", b.name, b.share);
    }
    let crossed = run.topology.unwrap().cross_zone_ratio.unwrap();
    assert!((crossed - 0.25).abs() < 0.005, "cross-zone {crossed}");
    // Without zone-aware routing, round robin crosses zones for 1/2 (zone a's clients send
    // 6/8 away, zone b's 2/8).
    stack.topology.zone_aware = None;
    let plain = run_with(&stack, round_robin, RunParams { seed: 6, duration: s(60), warmup: s(1) });
    let crossed = plain.topology.unwrap().cross_zone_ratio.unwrap();
    assert!((crossed - 0.5).abs() < 0.005, "cross-zone without zone-aware routing {crossed}");
}

#[test]
fn zone_aware_routing_falls_back_below_min_cluster_size() {
    let mut all = backends(4, 4, ms(2));
    for (i, b) in all.iter_mut().enumerate() {
        b.zone = Some(if i < 1 { "a" } else { "b" }.to_owned());
    }
    let mut c = client(500.0);
    c.zone = Some("a".into());
    let mut stack = StackConfig { clients: vec![c], backends: all, ..Default::default() };
    stack.topology.zone_aware = Some(ZoneAware { min_cluster_size: 6 });
    let run = run_with(&stack, round_robin, RunParams { seed: 6, duration: s(20), warmup: s(1) });
    for b in &run.backends {
        assert!((b.share - 0.25).abs() < 0.01, "{}: {}", b.name, b.share);
    }
}

#[test]
fn cross_zone_latency_adds_its_round_trip_to_every_crossing_response() {
    let mut all = backends(4, 4, ms(5));
    for (i, b) in all.iter_mut().enumerate() {
        b.zone = Some(if i < 2 { "a" } else { "b" }.to_owned());
    }
    let mut c = client(200.0);
    c.zone = Some("a".into());
    let mut stack = StackConfig { clients: vec![c], backends: all, ..Default::default() };
    let params = RunParams { seed: 12, duration: s(60), warmup: s(5) };
    let free = run_with(&stack, round_robin, params);
    stack.topology.cross_zone_latency = Some(ms(2));
    let paid = run_with(&stack, round_robin, params);
    assert_conserved(&paid);
    // Round robin ignores latency, so the same requests go to the same backends: half cross
    // zones and each of those answers exactly 2 ms later.
    // (A response still crossing when the run ends is in flight.)
    assert!(free.completed - paid.completed <= 3, "{} {}", free.completed, paid.completed);
    let crossed = paid.topology.unwrap().cross_zone_ratio.unwrap();
    let added = paid.response_time.mean_s - free.response_time.mean_s;
    assert!((added - 0.002 * crossed).abs() < 2e-5, "added {added} s with {crossed} crossing");
    assert!((crossed - 0.5).abs() < 0.01);
}

/// 4 backends, 2 more added at 60 s, 16 instances over HTTP/2 with one connection each.
fn scale_out(max_age: Option<Duration>) -> RunSummary {
    let mut all = backends(6, 4, ms(20));
    all[4].present = false;
    all[5].present = false;
    let mut stack = StackConfig {
        clients: vec![client(400.0)],
        backends: all,
        timeline: vec![
            TimedAction { at: s(60), action: Action::Add { backend: 4 } },
            TimedAction { at: s(60), action: Action::Add { backend: 5 } },
        ],
        ..Default::default()
    };
    stack.topology.instances = 16;
    stack.topology.connections = Connections::Http2 { per_instance: 1, max_age };
    run_with(&stack, p2c, RunParams { seed: 8, duration: s(240), warmup: s(60) })
}

#[test]
fn backends_added_under_http2_without_max_age_get_nothing() {
    let pinned = scale_out(None);
    assert_conserved(&pinned);
    assert_eq!((pinned.backends[4].routed, pinned.backends[5].routed), (0, 0));
    let t = pinned.topology.unwrap();
    assert_eq!(t.reconnects, Some(0), "no connection is recycled");
    assert_eq!(t.connections_mean.unwrap()[4], 0.0);
    // gRPC A9's fix: connections recycled every ~30 s spread over the new backends too.
    let recycled = scale_out(Some(s(30)));
    assert_conserved(&recycled);
    for b in &recycled.backends[4..] {
        assert!(b.share > 0.08, "{} gets {}", b.name, b.share);
    }
    assert!(recycled.topology.unwrap().reconnects.unwrap() > 16 * 4);
}

#[test]
fn keep_alive_with_one_request_per_connection_opens_one_per_attempt() {
    let mut stack =
        StackConfig { clients: vec![client(100.0)], backends: backends(3, 2, ms(10)), ..Default::default() };
    stack.topology.instances = 2;
    stack.topology.connections =
        Connections::KeepAlive { per_instance: 4, max_requests: Some(1), max_age: None };
    let run = run_with(&stack, p2c, RunParams { seed: 1, duration: s(30), warmup: Duration::ZERO });
    let routed: u64 = run.backends.iter().map(|b| b.routed).sum();
    assert_eq!(run.topology.unwrap().reconnects, Some(routed));
    // Without a request limit, the pool keeps a handful of connections open for good.
    stack.topology.connections =
        Connections::KeepAlive { per_instance: 4, max_requests: None, max_age: None };
    let pooled = run_with(&stack, p2c, RunParams { seed: 1, duration: s(30), warmup: Duration::ZERO });
    let t = pooled.topology.unwrap();
    assert!(t.reconnects.unwrap() < 40, "{:?}", t.reconnects);
    let open: f64 = t.connections_mean.unwrap().iter().sum();
    assert!(open > 1.0 && open <= 8.5, "{open}");
}

#[test]
fn a_crash_closes_the_connections_to_the_backend_and_they_reconnect_elsewhere() {
    let mut stack = StackConfig {
        clients: vec![client(200.0)],
        backends: backends(3, 4, ms(10)),
        timeline: vec![TimedAction { at: s(10), action: Action::Fail { backend: 0 } }],
        health: HealthConfig {
            outlier: Some(OutlierDetection { consecutive_5xx: 1, ..OutlierDetection::default() }),
            ..HealthConfig::default()
        },
        ..Default::default()
    };
    stack.topology.instances = 4;
    stack.topology.connections = Connections::Http2 { per_instance: 2, max_age: None };
    let run = run_with(&stack, round_robin, RunParams { seed: 3, duration: s(60), warmup: s(20) });
    assert_conserved(&run);
    assert_eq!(run.backends[0].routed, 0, "ejected and disconnected");
    assert!(run.completed > 0);
}

/// A stack from `bits`: instances, split, subset, connections, priorities, zones, faults.
fn tier_stack(bits: u64) -> StackConfig {
    let bit = |i: u32| bits >> i & 1 == 1;
    let mut all = backends(6, 2, ms(40));
    for (i, b) in all.iter_mut().enumerate() {
        if bit(0) {
            b.zone = Some(format!("z{}", i % 3));
        }
        if bit(1) {
            b.priority = (i % 2) as u32;
        }
    }
    all[5].present = !bit(2);
    let mut c = client(60.0 + (bits % 50) as f64);
    c.zone = bit(0).then(|| "z1".to_owned());
    c.timeout = bit(3).then_some(ms(200));
    c.users = bit(4).then_some(Users { count: 50, skew: 0.0 });
    let mut stack = StackConfig {
        clients: vec![c],
        backends: all,
        health: HealthConfig {
            active: bit(5).then(|| ActiveCheck { fall: 1, ..ActiveCheck::default() }),
            outlier: bit(6).then(OutlierDetection::default),
            panic_threshold: 0.5,
        },
        timeline: vec![
            TimedAction { at: s(20), action: Action::Fail { backend: 1 } },
            TimedAction { at: s(30), action: Action::Add { backend: 5 } },
            TimedAction { at: s(40), action: Action::Remove { backend: 2 } },
            TimedAction { at: s(50), action: Action::Recover { backend: 1 } },
        ],
        ..Default::default()
    };
    let t = &mut stack.topology;
    t.instances = [1, 3, 8][(bits >> 7) as usize % 3];
    t.split = [Split::Even, Split::ByClient, Split::Random][(bits >> 9) as usize % 3];
    t.subset = [Subset::All, Subset::Random { size: 2 }, Subset::Deterministic { size: 3 }]
        [(bits >> 11) as usize % 3];
    t.connections = [
        Connections::PerRequest,
        Connections::KeepAlive { per_instance: 2, max_requests: Some(5), max_age: Some(s(7)) },
        Connections::Http2 { per_instance: 2, max_age: bit(13).then_some(s(9)) },
    ][(bits >> 14) as usize % 3];
    t.zone_aware = bit(16).then_some(ZoneAware { min_cluster_size: 2 });
    stack
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    /// Conservation and determinism over instances × splits × subsets × connection modes ×
    /// priorities × zones; a request outside its instance's subset trips a debug assertion in
    /// the tier (these tests build in debug).
    #[test]
    fn every_tier_conserves_and_is_deterministic(bits in any::<u64>(), seed in any::<u64>()) {
        let stack = tier_stack(bits);
        let params = RunParams { seed, duration: s(80), warmup: s(10) };
        let least = || -> Box<dyn Policy> { Box::new(LeastConnections::new()) };
        let a = run_with(&stack, least, params);
        prop_assert_eq!(a.arrived, a.completed + a.rejected + a.timed_out + a.failed + a.in_flight);
        let b = run_with(&stack, least, params);
        prop_assert_eq!(format!("{a:?}"), format!("{b:?}"));
    }
}

/// Mean response time and its 95% interval (Student t, 4 degrees of freedom) over five
/// replications of 20 M/M/1 backends at 90% load behind `instances` least-request instances.
fn least_request_behind(instances: u32) -> (f64, f64) {
    let mut stack = StackConfig {
        clients: vec![client(1800.0)],
        backends: (0..20)
            .map(|i| {
                BackendConfig::new(
                    format!("app-{i}"),
                    1,
                    QueueLimit::Unbounded,
                    ServiceTime::Exponential { mean: ms(10) },
                )
            })
            .collect(),
        ..Default::default()
    };
    stack.topology.instances = instances;
    let least = || -> Box<dyn Policy> { Box::new(stacksim_model::policy::LeastRequest::new()) };
    let means: Vec<f64> = (0..5)
        .map(|r| {
            let run = run_with(&stack, least, RunParams { seed: 100 + r, duration: s(300), warmup: s(30) });
            run.response_time.mean_s
        })
        .collect();
    let mean = means.iter().sum::<f64>() / 5.0;
    let var = means.iter().map(|m| (m - mean).powi(2)).sum::<f64>() / 4.0;
    (mean, 2.776 * (var / 5.0).sqrt())
}

#[test]
#[ignore = "release-mode validation: cargo test --release -p stacksim-model --test integration -- --ignored"]
fn least_request_moves_from_jsq_like_toward_random_as_instances_grow() {
    // One instance: the power of two choices over 20 backends (supermarket model, E[T] about
    // 2.6 service times at 90% load); many instances each see ~1/N of the in-flight requests
    // and pick ever more blindly, toward random's M/M/1 (E[T] = 10 service times = 100 ms).
    let curve: Vec<(u32, (f64, f64))> =
        [1, 4, 16, 64].into_iter().map(|n| (n, least_request_behind(n))).collect();
    for (n, (mean, ci)) in &curve {
        eprintln!("{n:>2} instances: mean response time {:.2} ms ± {:.2}", mean * 1e3, ci * 1e3);
    }
    for pair in curve.windows(2) {
        let ((n, (a, ca)), (m, (b, cb))) = (pair[0], pair[1]);
        assert!(a + ca < b - cb, "{n} instances: {a:.4}±{ca:.4} s; {m}: {b:.4}±{cb:.4} s — not increasing");
    }
    let (one, _) = curve[0].1;
    let (many, _) = curve[3].1;
    assert!(one < 0.04, "one instance is JSQ-like: {one}");
    assert!(many > 0.05 && many < 0.1, "64 instances approach random (0.1 s): {many}");
}
