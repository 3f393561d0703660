//! Runs stopped by `max_events` are reported as truncated, never silently; a long run reports
//! its progress as it goes.

use std::sync::Mutex;

use stacksim::{Experiment, Plan, PolicyRegistry, Progress, RunOptions, Runner, Shard, merge};

/// Two policies, two replications, about 24 000 events per run (over 2.4 million with `rate`
/// 4000).
fn plan(rate: &str, warmup: &str) -> Plan {
    let text = r#"Experiment(name: "t", seed: 2, duration: "5m", warmup: WARMUP, replications: 2,
        stack: (clients: [(name: "u", arrivals: Poisson(rate_per_s: RATE))], balancer: (policy: RoundRobin),
                backends: [(name: "app", replicas: 4, workers: 64, queue: Bounded(20), service: Exponential(mean: "50ms"))]),
        sweep: [Policy([RoundRobin, LeastConnections])])"#;
    let text = text.replace("RATE", rate).replace("WARMUP", warmup);
    Experiment::load_str(&text, "t.ron", &PolicyRegistry::new()).unwrap().plan
}

fn limited(max_events: Option<u64>) -> RunOptions {
    RunOptions { max_events, ..RunOptions::default() }
}

#[test]
fn a_limit_that_bites_marks_runs_and_variants_truncated_and_one_that_does_not_changes_no_byte() {
    let plan = plan("40.0", "\"30s\"");
    let whole = Runner::new().run(&plan).unwrap();
    assert_eq!(whole.truncated_runs(), 0);
    let json = whole.to_json();
    assert!(!json.contains("truncated") && !json.contains("reached_s"), "no new fields when nothing is cut");
    let most = whole.runs.iter().map(|r| r.events).max().unwrap();
    let generous = Runner::new().options(limited(Some(most))).run(&plan).unwrap();
    assert_eq!(generous.to_json(), json, "a limit no run reaches changes nothing");

    let cut = Runner::new().options(limited(Some(5_000))).run(&plan).unwrap();
    assert_eq!(cut.truncated_runs(), 4);
    for (run, full) in cut.runs.iter().zip(&whole.runs) {
        assert!(run.truncated && run.events == 5_000, "{run:?}");
        let reached = run.reached_s.unwrap();
        assert!(reached > 30.0 && reached < 300.0, "{reached}");
        assert!(run.metric(stacksim::Metric::Arrived) < full.metric(stacksim::Metric::Arrived));
        assert!(super::conserves(run));
    }
    assert!(cut.variants.iter().all(|v| v.truncated_runs == 2));
    let json = cut.to_json();
    assert!(json.contains("\"truncated_runs\": 2") && json.contains("\"truncated\": true"), "{json}");
    let mut runs = Vec::new();
    cut.write_runs_csv(&mut runs).unwrap();
    let runs = String::from_utf8(runs).unwrap();
    assert!(runs.starts_with("variant,label,replication,seed,events,truncated,reached_s,"), "{runs}");
    assert!(runs.lines().nth(1).unwrap().contains(",5000,true,"), "{runs}");
    let mut variants = Vec::new();
    cut.write_variants_csv(&mut variants).unwrap();
    assert!(String::from_utf8(variants).unwrap().starts_with("variant,label,replications,truncated_runs,"));
}

#[test]
fn truncation_survives_sharding_and_an_automatic_warm_up_is_limited_too() {
    let plan = plan("40.0", "\"auto\"");
    let runner = Runner::new().options(limited(Some(5_000)));
    let whole = runner.run(&plan).unwrap();
    assert_eq!(whole.truncated_runs(), 4, "pilot and main run both stop at 5000 events");
    let shards: Vec<_> =
        (0..3).map(|index| runner.run_shard(&plan, Shard { index, count: 3 }).unwrap()).collect();
    assert_eq!(merge(&shards).unwrap().to_json(), whole.to_json());
}

#[test]
fn a_single_long_run_reports_its_progress_as_it_goes() {
    let plan = plan("4000.0", "\"30s\"").revised(|e| {
        e.sweep.clear();
        e.replications = 1;
    });
    let plan = plan.unwrap();
    let seen = Mutex::new(Vec::new());
    let record = |p: Progress| seen.lock().unwrap().push(p);
    let report = Runner::new().on_progress(&record).run(&plan).unwrap();
    let seen = seen.into_inner().unwrap();
    let events = report.runs[0].events;
    assert!(events > 2_000_000, "{events}");
    let (last, during) = seen.split_last().unwrap();
    assert_eq!((last.done, last.total, last.events, last.runs_simulated), (1, 1, events, 1.0));
    assert_eq!(during.len() as u64, events / stacksim::model::stack::PROGRESS_EVERY, "{during:?}");
    for (p, next) in during.iter().zip(&seen[1..]) {
        assert_eq!((p.done, p.total), (0, 1));
        assert!(p.runs_simulated > 0.0 && p.runs_simulated < 1.0, "{p:?}");
        assert!(next.runs_simulated > p.runs_simulated && next.events > p.events, "{p:?} then {next:?}");
    }
    // Simulated time advances with events here: the first report is at about 1/events of the way.
    let expected = stacksim::model::stack::PROGRESS_EVERY as f64 / events as f64;
    assert!((during[0].runs_simulated - expected).abs() < 0.05, "{:?} vs {expected}", during[0]);
}
