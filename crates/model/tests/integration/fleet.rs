//! Fleet dynamics: pods that become ready after their lifecycle delays, an autoscaler that
//! follows load, rolling deploys that keep capacity, canaries that take their share, drains
//! that let in-flight requests finish.

use std::time::Duration;

use stacksim_model::fleet::{self, Amount, FleetConfig, Hpa, HpaMetric};
use stacksim_model::*;

use super::{assert_conserved, backends, client, ms, run, s};

/// A stack with one fleet group `app` of `slots` slots, `replicas` ready at the start.
fn group(rate: f64, slots: usize, replicas: u32, mean: Duration) -> StackConfig {
    let mut backends = backends(slots, 4, mean);
    for (i, b) in backends.iter_mut().enumerate() {
        b.present = i < replicas as usize;
    }
    StackConfig {
        clients: vec![client(rate)],
        backends,
        fleets: vec![FleetConfig {
            name: "app".into(),
            first: 0,
            slots,
            replicas,
            autoscale: None,
            provision: Duration::ZERO,
            readiness: Duration::ZERO,
            termination_grace: s(30),
            versions: vec![ServiceTime::Exponential { mean }],
        }],
        observe: Observe { window: Some(s(1)), ..Observe::default() },
        ..StackConfig::default()
    }
}

fn hpa(target: f64, min: u32, max: u32) -> Hpa {
    Hpa {
        metric: HpaMetric::Utilization,
        target,
        tolerance: 0.1,
        sync: s(15),
        behavior: fleet::default_behavior(min, max),
    }
}

#[test]
fn a_rolling_deploy_with_max_unavailable_zero_never_drops_ready_capacity() {
    // Six pods at 50% load; a deploy at 60 s with 25% surge (2 pods) and none unavailable;
    // pods take 20 s to provision and 5 s to become ready.
    let mut stack = group(120.0, 16, 6, ms(100));
    stack.fleets[0].provision = s(20);
    stack.fleets[0].readiness = s(5);
    stack.fleets[0].versions.push(ServiceTime::Exponential { mean: ms(120) });
    stack.timeline = vec![TimedAction {
        at: s(60),
        action: Action::RollingDeploy {
            group: 0,
            version: 1,
            max_surge: Amount::Percent(25),
            max_unavailable: Amount::Count(0),
        },
    }];
    let r = run(&stack, s(300));
    assert_conserved(&r);
    let ready: Vec<f64> = r.windows.iter().map(|w| w.fleet[0].ready).collect();
    let progress: Vec<f64> = r.windows.iter().map(|w| w.fleet[0].deploy_progress).collect();
    for (i, &n) in ready.iter().enumerate() {
        assert!(n >= 6.0 - 1e-9, "window {i}: {n} ready pods, below the 6 replicas: {ready:?}");
    }
    // Surge: at most 6 + 2 live pods, so at most 2 starting at once.
    assert!(r.windows.iter().all(|w| w.fleet[0].starting <= 2.0 + 1e-9));
    // Three waves of two, 25 s each: done by 60 + 3 × 25 = 135 s.
    assert_eq!(progress[59], 0.0, "{progress:?}");
    assert!((progress[140] - 1.0).abs() < 1e-12, "{progress:?}");
    assert!(progress[100] > 0.0 && progress[100] < 1.0, "{progress:?}");
    // Old pods drained for their grace: some windows saw draining pods.
    assert!(r.windows.iter().any(|w| w.fleet[0].draining > 0.0));
    assert_eq!(r.failed, 0, "drains let in-flight requests finish");
}

#[test]
fn a_rolling_deploy_with_max_unavailable_lets_ready_capacity_dip() {
    // The contrast: no surge and 50% unavailable removes three pods at once.
    let mut stack = group(60.0, 16, 6, ms(100));
    stack.fleets[0].provision = s(20);
    stack.fleets[0].versions.push(ServiceTime::Exponential { mean: ms(100) });
    stack.timeline = vec![TimedAction {
        at: s(60),
        action: Action::RollingDeploy {
            group: 0,
            version: 1,
            max_surge: Amount::Count(0),
            max_unavailable: Amount::Percent(50),
        },
    }];
    let r = run(&stack, s(200));
    assert_conserved(&r);
    let low = r.windows.iter().map(|w| w.fleet[0].ready).fold(f64::INFINITY, f64::min);
    assert!((low - 3.0).abs() < 1e-9, "three of six pods unavailable at once: {low}");
    assert!((r.windows.last().unwrap().fleet[0].deploy_progress - 1.0).abs() < 1e-12);
}

#[test]
fn a_slower_release_serves_with_its_own_service_time() {
    let mut stack = group(40.0, 12, 4, ms(50));
    stack.fleets[0].versions.push(ServiceTime::Constant(ms(200)));
    stack.timeline = vec![TimedAction {
        at: s(100),
        action: Action::RollingDeploy {
            group: 0,
            version: 1,
            max_surge: Amount::Count(4),
            max_unavailable: Amount::Count(0),
        },
    }];
    let r = run(&stack, s(400));
    let before = &r.windows[50];
    let after = &r.windows[300];
    assert!(before.p50_s < 0.1, "{}", before.p50_s);
    assert!((after.p50_s - 0.2).abs() < 0.002, "every request now takes 200 ms: {}", after.p50_s);
}

#[test]
fn new_pods_are_routable_only_after_provision_and_readiness() {
    // Two replicas asked to become four at once by the autoscaler's first sync.
    let mut stack = group(70.0, 12, 2, ms(100));
    stack.fleets[0].autoscale = Some(hpa(0.5, 2, 6));
    stack.fleets[0].provision = s(30);
    stack.fleets[0].readiness = s(10);
    let r = run(&stack, s(120));
    assert_conserved(&r);
    let ready: Vec<f64> = r.windows.iter().map(|w| w.fleet[0].ready).collect();
    // 70/s × 0.1 s over 2 × 4 workers = 87.5%: the sync at 15 s asks for ceil(2 × 87/50) = 4.
    assert_eq!(ready[54], 2.0, "{ready:?}");
    assert_eq!(r.windows[54].fleet[0].starting, 2.0);
    assert_eq!(ready[56], 4.0, "ready at 15 + 30 + 10 = 55 s: {ready:?}");
    // No routing to a pod before it is ready.
    let routed_early: u64 = r.windows[..55].iter().map(|w| w.backends[2].routed + w.backends[3].routed).sum();
    assert_eq!(routed_early, 0);
}

#[test]
fn the_autoscaler_scales_up_a_spike_and_down_after_the_stabilization_window() {
    let mut stack = group(100.0, 40, 4, ms(100));
    stack.clients[0].arrivals =
        Arrivals::Schedule { points: vec![(s(0), 60.0), (s(120), 180.0), (s(300), 60.0)], linear: false };
    stack.fleets[0].autoscale = Some(hpa(0.6, 2, 20));
    let r = run(&stack, s(900));
    assert_conserved(&r);
    let ready = |t: usize| r.windows[t].fleet[0].ready;
    // 60/s × 0.1 s = 6 busy workers: 4 pods at 37.5% scale down to ceil(4 × 37/60) = 3 once
    // the first window (5 minutes from the start) has passed.
    assert_eq!(ready(100), 4.0);
    // 180/s needs 18 busy workers: at 60% of 4 each, 8 pods.
    assert!(ready(250) >= 7.0 && ready(250) <= 10.0, "{}", ready(250));
    // The spike ends at 300 s; the fleet holds until the 5-minute window has passed.
    assert_eq!(ready(550), ready(310));
    assert!(ready(800) <= 4.0, "{}", ready(800));
    let summary = &r.fleet[0];
    assert!(summary.scale_events >= 3, "{summary:?}");
    assert!(summary.time_to_capacity_s.is_finite() && summary.time_to_capacity_s < 120.0, "{summary:?}");
    // Cost: the time integral of the pods that existed.
    let from_windows: f64 =
        r.windows.iter().map(|w| w.fleet[0].ready + w.fleet[0].starting + w.fleet[0].draining).sum();
    assert!(
        (summary.replica_seconds - from_windows).abs() < 1e-6 * from_windows,
        "{summary:?} vs {from_windows}"
    );
}

#[test]
fn a_canary_takes_its_weight_percent_of_the_traffic() {
    let mut stack = group(100.0, 12, 4, ms(50));
    stack.fleets[0].versions.push(ServiceTime::Exponential { mean: ms(50) });
    stack.timeline =
        vec![TimedAction { at: s(10), action: Action::Canary { group: 0, version: 1, weight_percent: 20 } }];
    let r = run(&stack, s(200));
    assert_conserved(&r);
    // The canary is the first free slot, app-4; smooth weighted round robin splits exactly.
    let routed = |b: usize| r.windows[20..].iter().map(|w| w.backends[b].routed).sum::<u64>() as f64;
    let total: f64 = (0..12).map(routed).sum();
    let share = routed(4) / total;
    assert!((share - 0.2).abs() < 0.01, "{share}");
}

#[test]
fn a_pod_killed_at_the_end_of_its_grace_fails_what_it_still_holds() {
    // Requests take 2 s; the autoscaler removes pods with a 100 ms grace: some are killed.
    let mut stack = group(8.0, 16, 8, ms(2000));
    stack.fleets[0].termination_grace = ms(100);
    let mut hpa = hpa(0.9, 1, 8);
    hpa.behavior.scale_down_window = s(15);
    stack.fleets[0].autoscale = Some(hpa);
    let r = run(&stack, s(120));
    assert_conserved(&r);
    assert!(r.failed > 0, "{r:#?}");
    let mut generous = group(8.0, 16, 8, ms(2000));
    generous.fleets[0].termination_grace = s(60);
    generous.fleets[0].autoscale = stack.fleets[0].autoscale;
    let r = run(&generous, s(120));
    assert_eq!(r.failed, 0, "a long grace lets every request finish");
}

/// Under slow start, a canary pod ramps like any backend that joins (Envoy ramps hosts that
/// join the cluster) and then takes its weight percent: its weight reaches the policies scaled
/// as the other pods' are, not as a raw weight beside scaled ones.
#[test]
fn a_canary_under_slow_start_ramps_up_to_its_weight_percent() {
    let mut stack = group(100.0, 12, 4, ms(50));
    stack.fleets[0].versions.push(ServiceTime::Exponential { mean: ms(50) });
    for b in &mut stack.backends {
        b.slow_start = Some(SlowStart { window: s(60), aggression: 1.0, min_weight_percent: 10.0 });
    }
    stack.timeline =
        vec![TimedAction { at: s(10), action: Action::Canary { group: 0, version: 1, weight_percent: 20 } }];
    let r = run(&stack, s(200));
    assert_conserved(&r);
    let share = |from: usize, to: usize| {
        let routed = |b: usize| r.windows[from..to].iter().map(|w| w.backends[b].routed).sum::<u64>() as f64;
        routed(4) / (0..12).map(routed).sum::<f64>()
    };
    // Its first ten seconds: at most a sixth of its weight, so well under its 20%.
    assert!(share(11, 21) < 0.06, "{}", share(11, 21));
    // After the 60 s window: its full 20%.
    assert!((share(80, 200) - 0.2).abs() < 0.01, "{}", share(80, 200));
}
