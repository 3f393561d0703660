//! Request classes in whole runs: the mix a client sends, each class's service time, priority
//! shedding at a backend, and a stack whose classes change nothing else.

use stacksim_model::policy::RoundRobin;
use stacksim_model::*;

use super::{assert_conserved, client, ms, s};

/// A class of `weight` with `service_scale` and `priority`.
fn class(name: &str, weight: f64, service_scale: f64, priority: Priority) -> RequestClass {
    RequestClass { name: name.into(), weight, service_scale, priority }
}

/// One backend with `workers` workers and exponential service of mean `mean`.
fn backend(workers: u32, queue: QueueLimit, mean: std::time::Duration) -> BackendConfig {
    BackendConfig::new("app", workers, queue, ServiceTime::Exponential { mean })
}

fn run(stack: &StackConfig, seed: u64, duration: u64, warmup: u64) -> RunSummary {
    let params = RunParams { seed, duration: s(duration), warmup: s(warmup) };
    simulate(stack, Box::new(RoundRobin::new()), params).unwrap()
}

/// The class called `name` of a run.
fn of<'a>(run: &'a RunSummary, name: &str) -> &'a ClassSummary {
    run.classes.iter().find(|c| c.name == name).unwrap_or_else(|| panic!("no class {name}: {run:#?}"))
}

/// Per class, and over the classes: `arrived = completed + errors + in_flight`, and the
/// classes add up to the run.
fn assert_classes_conserved(run: &RunSummary) {
    for c in &run.classes {
        assert_eq!(c.arrived, c.completed + c.errors + c.in_flight, "{c:#?}");
        assert!(c.shed <= c.errors, "{c:#?}");
    }
    let sum = |f: fn(&ClassSummary) -> u64| run.classes.iter().map(f).sum::<u64>();
    assert_eq!(sum(|c| c.arrived), run.arrived);
    assert_eq!(sum(|c| c.completed), run.completed);
    assert_eq!(sum(|c| c.errors), run.rejected + run.timed_out + run.failed);
    assert_eq!(sum(|c| c.in_flight), run.in_flight);
}

/// Weights 0.8 and 0.2: each request draws its class, so the share of `search` is binomial,
/// within 3.29 standard deviations (99.9%) of 0.2.
#[test]
fn classes_get_their_weights_share_of_the_requests() {
    let mut users = client(100.0);
    users.classes =
        vec![class("browse", 0.8, 1.0, Priority::Normal), class("search", 0.2, 1.0, Priority::Normal)];
    let stack = StackConfig {
        clients: vec![users],
        backends: vec![backend(50, QueueLimit::Unbounded, ms(10))],
        ..StackConfig::default()
    };
    let summary = run(&stack, 3, 600, 0);
    assert_conserved(&summary);
    assert_classes_conserved(&summary);
    let n = summary.arrived as f64;
    let share = of(&summary, "search").arrived as f64 / n;
    let sd = (0.2 * 0.8 / n).sqrt();
    assert!((share - 0.2).abs() < 3.29 * sd, "search got {share:.4} of {n} requests (sd {sd:.4})");
    assert_eq!(of(&summary, "browse").client, "users");
}

/// Mean and 99% Student-t half-width of `samples`.
fn mean_ci99(samples: &[f64]) -> (f64, f64) {
    let n = samples.len() as f64;
    let mean = samples.iter().sum::<f64>() / n;
    let var = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    // t(0.995, 7).
    assert_eq!(samples.len(), 8);
    (mean, 3.4995 * (var / n).sqrt())
}

/// On an M/M/∞-like backend (ample workers, no waiting) a class's response time is its service
/// time: `service_scale: 5.0` makes its mean five times the backend's 100 ms, while the other
/// class keeps 100 ms; with two hedges sent at once each attempt is scaled, and the first of two
/// Exp(500 ms) answers in 250 ms on average. Each exact value lies within the 99% interval over
/// eight replications.
#[test]
fn service_scale_multiplies_the_service_time_of_every_attempt_of_its_class() {
    let mut users = client(20.0);
    users.classes =
        vec![class("page", 0.5, 1.0, Priority::Normal), class("search", 0.5, 5.0, Priority::Normal)];
    let mut hedged = ClientConfig::new("hedged", Arrivals::Poisson { rate_per_s: 10.0 });
    hedged.classes = vec![class("export", 1.0, 5.0, Priority::Normal)];
    hedged.hedge = Some(HedgePolicy { max_attempts: 2, delay: ms(0) });
    let stack = StackConfig {
        clients: vec![users, hedged],
        backends: vec![backend(1000, QueueLimit::Unbounded, ms(100))],
        ..StackConfig::default()
    };
    let runs: Vec<RunSummary> = (1..=8).map(|seed| run(&stack, seed, 1000, 0)).collect();
    for (name, expected) in [("page", 0.1), ("search", 0.5), ("export", 0.25)] {
        let means: Vec<f64> = runs.iter().map(|r| of(r, name).response_time.mean_s).collect();
        let (mean, ci) = mean_ci99(&means);
        assert!((mean - expected).abs() <= ci, "{name}: {mean:.4} ±{ci:.4}, exact {expected}");
        assert!(ci < 0.02 * expected, "{name}: interval ±{ci:.4} too wide to tell");
    }
    for r in &runs {
        assert_conserved(r);
        assert_classes_conserved(r);
    }
}

/// A saturated backend (capacity 100/s, 120/s offered, half of it `checkout` at High and half
/// `search` at Low) that sheds below High past 20 queued: search is shed, checkout never is and
/// never fails, and conservation holds. Without shedding the queue fills and both fail.
/// 120 requests a second, half checkout (High) and half search (Low), into one backend of 10
/// workers (100 ms) that can serve 100 a second.
fn checkout_and_search() -> StackConfig {
    let mut users = client(120.0);
    users.classes =
        vec![class("checkout", 0.5, 1.0, Priority::High), class("search", 0.5, 1.0, Priority::Low)];
    StackConfig {
        clients: vec![users],
        backends: vec![backend(10, QueueLimit::Bounded(200), ms(100))],
        ..StackConfig::default()
    }
}

#[test]
fn a_saturated_backend_sheds_low_priority_and_spares_high_priority() {
    let mut stack = checkout_and_search();
    let plain = run(&stack, 7, 600, 60);
    stack.backends[0].shed = Some(Shed { queue_above: 20, priority_below: Priority::High });
    let shedding = run(&stack, 7, 600, 60);
    for r in [&plain, &shedding] {
        assert_conserved(r);
        assert_classes_conserved(r);
    }
    // Without shedding the full queue turns both classes away alike.
    assert!(of(&plain, "checkout").errors > 0 && of(&plain, "search").errors > 0, "{plain:#?}");
    assert_eq!(plain.priority_shed_ratio(), 0.0);
    // With it, search pays for the overload and checkout does not.
    let (checkout, search) = (of(&shedding, "checkout"), of(&shedding, "search"));
    assert_eq!((checkout.shed, checkout.errors), (0, 0), "{checkout:#?}");
    assert!(search.shed > 0 && search.shed == search.errors, "{search:#?}");
    // About the 20/s the backend cannot serve, of search's 60/s.
    assert!((0.25..0.45).contains(&search.shed_ratio()), "{}", search.shed_ratio());
    assert!(shedding.rejected >= search.shed && shedding.priority_shed_ratio() > 0.1);
    assert!(checkout.response_time.p99_s < of(&plain, "checkout").response_time.p99_s / 3.0);
    assert_eq!(shedding.backends[0].rejected, search.shed);
}

/// Classes that cost nothing extra and a shedding mark nothing is below change no number of a
/// run: the class draw has a stream of its own (`classes/<client>`), and only the new per-class
/// summary differs from the run without them.
#[test]
fn classes_at_scale_one_and_shedding_that_sheds_nothing_change_no_number() {
    let mut stack = StackConfig {
        clients: vec![client(60.0)],
        backends: (0..3)
            .map(|i| {
                let mut b = backend(2, QueueLimit::Bounded(10), ms(45));
                b.name = format!("app-{i}");
                b
            })
            .collect(),
        ..StackConfig::default()
    };
    stack.clients[0].timeout = Some(ms(300));
    stack.clients[0].retry =
        Some(RetryPolicy { max_attempts: 2, backoff: ms(10), max_backoff: ms(50), budget: None });
    let before = run(&stack, 11, 300, 20);
    assert!(before.classes.is_empty());
    stack.clients[0].classes =
        vec![class("a", 0.7, 1.0, Priority::Normal), class("b", 0.3, 1.0, Priority::Low)];
    for b in &mut stack.backends {
        b.shed = Some(Shed { queue_above: 0, priority_below: Priority::Low });
    }
    let mut with = run(&stack, 11, 300, 20);
    assert_eq!(with.classes.len(), 2);
    assert_classes_conserved(&with);
    with.classes.clear();
    assert_eq!(format!("{before:#?}"), format!("{with:#?}"));
}

/// A backend that sheds in a stack without classes sheds every request below its mark as
/// `Normal`, and the client appears as one class, `default`.
#[test]
fn without_classes_every_request_is_normal_in_one_default_class() {
    let mut stack = StackConfig {
        clients: vec![client(120.0)],
        backends: vec![backend(10, QueueLimit::Bounded(200), ms(100))],
        ..StackConfig::default()
    };
    stack.backends[0].shed = Some(Shed { queue_above: 5, priority_below: Priority::High });
    let summary = run(&stack, 2, 300, 30);
    assert_conserved(&summary);
    assert_classes_conserved(&summary);
    assert_eq!(summary.classes.len(), 1);
    let default = &summary.classes[0];
    assert_eq!((default.name.as_str(), default.priority), ("default", Priority::Normal));
    assert!(default.shed > 0 && default.shed == summary.rejected, "{default:#?}");
}

/// Per-class time series: in every window the classes' arrivals add up to the window's, their
/// errors to its rejected, timed-out and failed requests; under shedding, search's error ratio
/// rises while checkout's stays 0. A stack without classes has no per-class windows.
#[test]
fn every_window_has_each_class_and_they_add_up_to_the_window() {
    let mut stack = checkout_and_search();
    stack.observe = Observe { window: Some(s(60)), slow: None, incident: None };
    stack.backends[0].shed = Some(Shed { queue_above: 20, priority_below: Priority::High });
    let r = run(&stack, 7, 600, 60);
    assert_eq!(r.windows.len(), 10);
    for w in &r.windows {
        let labels: Vec<&str> = w.classes.iter().map(|c| c.label.as_str()).collect();
        assert_eq!(labels, ["users/checkout", "users/search"]);
        assert_eq!(w.classes.iter().map(|c| c.arrived).sum::<u64>(), w.arrived);
        assert_eq!(w.classes.iter().map(|c| c.completed).sum::<u64>(), w.completed);
        assert_eq!(w.classes.iter().map(|c| c.errors).sum::<u64>(), w.rejected + w.timed_out + w.failed);
        assert_eq!(w.classes[0].errors, 0, "checkout is never shed: {w:#?}");
    }
    let late = &r.windows[9].classes;
    assert!(late[1].error_ratio() > 0.2, "search sheds: {late:#?}");
    assert!(late[0].p99_s < late[1].p99_s * 2.0 && late[0].p99_s.is_finite());
    stack.clients[0].classes.clear();
    stack.backends[0].shed = None;
    assert!(run(&stack, 7, 120, 60).windows.iter().all(|w| w.classes.is_empty()));
}
