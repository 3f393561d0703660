//! Time series windows and users affected.

use stacksim_model::*;

use super::{backends, client, ms, run, s};

#[test]
fn windows_add_up_to_the_totals() {
    let stack = StackConfig {
        clients: vec![client(30.0)],
        backends: backends(2, 2, ms(60)),
        observe: Observe { window: Some(s(60)), ..Observe::default() },
        ..StackConfig::default()
    };
    let r = run(&stack, s(600));
    assert_eq!(r.windows.len(), 10);
    let sum = |f: fn(&Window) -> u64| r.windows.iter().map(f).sum::<u64>();
    assert_eq!(sum(|w| w.arrived), r.arrived);
    assert_eq!(sum(|w| w.completed) + sum(|w| w.rejected), r.completed + r.rejected);
    assert_eq!(r.windows[3].start, s(180));
    let u: f64 = r.windows.iter().map(|w| w.backends[1].utilization).sum::<f64>() / 10.0;
    assert!((u - r.backends[1].utilization).abs() < 1e-9);
}

#[test]
fn users_behind_a_dead_backend_are_affected_and_no_others() {
    // Sticky routing by user: keys hash to backends; backend 0 dies for the whole incident.
    let mut c = client(50.0);
    c.users = Some(Users { count: 1000, skew: 0.0 });
    let stack = StackConfig {
        clients: vec![c],
        backends: backends(4, 4, ms(50)),
        timeline: vec![TimedAction { at: s(100), action: Action::Fail { backend: 0 } }],
        observe: Observe { window: Some(s(50)), slow: Some(s(5)), incident: Some((s(100), s(600))) },
        ..StackConfig::default()
    };
    let params = RunParams { seed: 3, duration: s(600), warmup: s(0) };
    let r = simulate(&stack, Box::new(policy::SourceHash::new()), params).unwrap();
    assert_eq!(r.users_active, 1000);
    let share = r.users_affected as f64 / r.users_active as f64;
    assert!((share - 0.25).abs() < 0.05, "{share}");
    assert_eq!(r.windows[0].users_affected, 0);
    assert!(r.windows[5].users_affected > 150);
}
