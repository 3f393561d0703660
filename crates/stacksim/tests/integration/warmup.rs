//! Automatic warm-up with MSER-5.

use stacksim::{Experiment, PolicyRegistry, Runner};

#[test]
fn auto_warmup_cuts_the_empty_start_and_reports_the_cut() {
    // M/M/1 at 90% load starts empty, far below its mean of 9 requests in the system.
    let text = r#"Experiment(
        name: "auto-warmup", seed: 4, duration: "20000s", warmup: "auto", replications: 4,
        stack: (
            clients: [(name: "poisson", arrivals: Poisson(rate_per_s: 0.9))],
            balancer: (policy: RoundRobin),
            backends: [(name: "server", workers: 1, queue: Unbounded, service: Exponential(mean: "1s"))],
        ),
    )"#;
    let registry = PolicyRegistry::new();
    let experiment = Experiment::load_str(text, "auto.ron", &registry).unwrap().plan;
    let report = Runner::new().run(&experiment).unwrap();
    let cut = report.variants[0].metrics["warmup_s"];
    assert!(cut.mean.is_finite(), "{cut:?}");
    for run in &report.runs {
        // MSER-5 cuts whole batches of five pilot windows (20 s each: 1/1000 of the run).
        let cut = run.metrics["warmup_s"].0;
        assert!(cut % 100.0 == 0.0 && cut <= 10_000.0, "cut {cut}");
    }
    for run in &report.runs {
        let m = |k: &str| run.metrics[k].0;
        assert!(super::conserves(run));
        // The measured period is what remains after the cut.
        let measured = 20_000.0 - m("warmup_s");
        assert!((m("arrived") / measured - 0.9).abs() < 0.05, "{}", m("arrived") / measured);
    }
    // A fixed warm-up reports no cut.
    let fixed = Experiment::load_str(&text.replace("\"auto\"", "\"100s\""), "f.ron", &registry).unwrap().plan;
    assert!(!Runner::new().run(&fixed).unwrap().variants[0].metrics.contains_key("warmup_s"));
}
