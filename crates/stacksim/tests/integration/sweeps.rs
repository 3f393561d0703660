//! Sweep axes, paired comparisons against a baseline, and sharded runs.

use stacksim::{Experiment, PolicyRegistry, Report, RunOptions, Runner, Shard, merge};

const STACK: &str = r#"
    seed: 11,
    duration: "20m",
    warmup: "1m",
    replications: 5,
    stack: (
        clients: [
            (name: "web", arrivals: Poisson(rate_per_s: 60.0)),
            (name: "api", arrivals: Poisson(rate_per_s: 20.0)),
        ],
        balancer: (policy: RoundRobin),
        backends: [
            (name: "app", replicas: 4, workers: 4, queue: Bounded(40), service: Exponential(mean: "40ms")),
        ],
    ),"#;

fn experiment(name: &str, rest: &str) -> stacksim::Plan {
    let text = format!("Experiment(\n    name: {name:?},{STACK}\n{rest}\n)");
    Experiment::load_str(&text, name, &PolicyRegistry::new()).unwrap_or_else(|e| panic!("{e}")).plan
}

fn run(experiment: &stacksim::Plan) -> Report {
    Runner::new().run(experiment).unwrap()
}

#[test]
fn axes_multiply_into_labelled_variants_last_axis_fastest() {
    let e = experiment(
        "grid",
        "sweep: [Policy([RoundRobin, LeastConnections]), Rate(from: 40.0, to: 80.0, step: 20.0), \
         Workers(values: [2, 4])],",
    );
    let labels: Vec<String> = e.variants().to_vec().into_iter().map(|v| v.label).collect();
    assert_eq!(labels.len(), 2 * 3 * 2);
    assert_eq!(labels[0], "policy=RoundRobin rate_per_s=40 workers=2");
    assert_eq!(labels[1], "policy=RoundRobin rate_per_s=40 workers=4");
    assert_eq!(labels[11], "policy=LeastConnections rate_per_s=80 workers=4");
}

#[test]
fn rate_axis_scales_every_client_in_proportion() {
    let e = experiment("rate", "sweep: [Rate(values: [160.0])],");
    let variant = &e.variants().to_vec()[0];
    let rates: Vec<f64> = variant.stack.clients.iter().map(|c| c.arrivals.rate_per_s()).collect();
    assert_eq!(rates, [120.0, 40.0]);
    assert_eq!(variant.params["rate_per_s"], 160.0);
}

#[test]
fn backend_axes_change_the_stack() {
    let e = experiment(
        "backends",
        "sweep: [Weights(values: [[3, 1, 1]]), Queue(values: [Unbounded]), ServiceScale(values: [2.0])],",
    );
    let variant = &e.variants().to_vec()[0];
    let weights: Vec<u32> = variant.stack.backends.iter().map(|b| b.weight).collect();
    assert_eq!(weights, [3, 1, 1], "three replicas, as the weight list says");
    assert_eq!(variant.stack.backends[0].queue, stacksim::model::QueueLimit::Unbounded);
    assert_eq!(variant.stack.backends[0].service.mean_secs(), 0.08);
    assert_eq!(variant.label, "weights=3:1:1 queue=Unbounded service_scale=2");
}

#[test]
fn more_replicas_cut_response_time() {
    let report = run(&experiment("replicas", "sweep: [Replicas(backend: \"app\", values: [3, 6])],"));
    let mean = |i: usize| report.variants[i].metrics["response_time_mean_s"].mean;
    assert_eq!(report.variants[1].backends.len(), 6);
    assert!(mean(1) < mean(0), "{} vs {}", mean(1), mean(0));
}

#[test]
fn a_bad_axis_is_reported_with_its_place() {
    let text = format!(
        "Experiment(\n    name: \"bad\",{STACK}\n    sweep: [Replicas(backend: \"db\", values: [0])],\n)"
    );
    let err = Experiment::load_str(&text, "bad.ron", &PolicyRegistry::new()).unwrap_err().to_string();
    assert!(err.contains("sweep[0].backend: no backend group is named \"db\""), "{err}");
    assert!(err.contains("sweep[0].values[0]: each value must be at least 1"), "{err}");
}

#[test]
fn paired_intervals_are_at_least_three_times_narrower_than_unpaired() {
    let report = run(&experiment("paired", "sweep: [Policy([RoundRobin, LeastConnections])],"));
    let (base, other) = (&report.variants[0], &report.variants[1]);
    assert!(base.vs_baseline.is_empty(), "the baseline is not compared with itself");
    for metric in ["response_time_mean_s", "response_time_p99_s"] {
        let paired = other.vs_baseline[metric];
        let (a, b) = (base.metrics[metric], other.metrics[metric]);
        let unpaired = (a.ci95.powi(2) + b.ci95.powi(2)).sqrt();
        assert!((paired.mean - (b.mean - a.mean)).abs() < 1e-12);
        assert!(3.0 * paired.ci95 <= unpaired, "{metric}: paired ±{} vs unpaired ±{unpaired}", paired.ci95);
    }
}

#[test]
fn baseline_can_be_chosen_by_label() {
    let e = experiment(
        "baseline",
        "sweep: [Policy([RoundRobin, LeastConnections])],\n    baseline: \"policy=LeastConnections\",",
    );
    let report = run(&e);
    assert_eq!(report.baseline, 1);
    assert!(report.variants[1].vs_baseline.is_empty() && !report.variants[0].vs_baseline.is_empty());
    let text = format!("Experiment(\n    name: \"x\",{STACK}\n    baseline: \"policy=Nope\",\n)");
    let err = Experiment::load_str(&text, "x.ron", &PolicyRegistry::new()).unwrap_err().to_string();
    assert!(
        err.contains("no variant is labelled \"policy=Nope\"; the variants are \"policy=RoundRobin\""),
        "{err}"
    );
}

#[test]
fn four_shards_merge_into_the_unsharded_report_byte_for_byte() {
    let e = experiment("shards", "sweep: [Policy([RoundRobin, Random, PowerOfTwoChoices])],");
    let runner = Runner::new().options(RunOptions { jobs: Some(2), ..RunOptions::default() });
    let whole = runner.run(&e).unwrap().to_json();
    let shards: Vec<_> =
        (0..4).map(|index| runner.run_shard(&e, Shard { index, count: 4 }).unwrap()).collect();
    assert_eq!(shards.iter().map(|s| s.records.len()).sum::<usize>(), 15);
    // In any order, and after a trip through JSON files.
    let reread: Vec<stacksim::ShardOutput> = shards
        .iter()
        .rev()
        .map(|s| serde_json::from_str(&serde_json::to_string(s).unwrap()).unwrap())
        .collect();
    let merged = merge(&reread).unwrap().to_json();
    if merged != whole {
        let line = merged.lines().zip(whole.lines()).position(|(a, b)| a != b);
        panic!("merged report differs from the whole at line {line:?}");
    }
    assert!(matches!(merge(&reread[1..]), Err(stacksim::MergeError::Missing { .. })));
    let twice = [reread.clone(), reread[..1].to_vec()].concat();
    assert!(matches!(merge(&twice), Err(stacksim::MergeError::ShardTwice { .. })));
}
