//! Request classes and priority shedding through the experiment file: located problems, the
//! `Shed` axis, and per-class metrics in the report (aggregated over replications as every
//! other metric), its JSON and `classes.csv`.

use stacksim::metric::ClassMetric;
use stacksim::{Experiment, Metric, PolicyRegistry, Report, Runner};

/// An experiment on a saturated backend (capacity 100/s, 120/s offered) whose client has
/// `classes` (text to append after its arrivals) and with `rest` (a sweep).
fn text(classes: &str, rest: &str) -> String {
    format!(
        r#"Experiment(
    name: "classes",
    seed: 3,
    duration: "6m",
    warmup: "1m",
    replications: 3,
    stack: (
        clients: [(name: "users", arrivals: Poisson(rate_per_s: 120.0){classes})],
        balancer: (policy: RoundRobin),
        backends: [(name: "app", workers: 10, queue: Bounded(200), service: Exponential(mean: "100ms"))],
    ),
    {rest}
)"#
    )
}

const CLASSES: &str = r#",
            classes: [
                (name: "checkout", weight: 0.5, priority: High),
                (name: "search", weight: 0.5, priority: Low),
            ]"#;

fn report(text: &str) -> Report {
    let plan = Experiment::load_str(text, "classes.ron", &PolicyRegistry::new())
        .unwrap_or_else(|e| panic!("{e}"))
        .plan;
    Runner::new().run(&plan).unwrap()
}

#[test]
fn the_shed_axis_compares_shedding_and_the_report_has_every_class_of_every_variant() {
    let report = report(&text(
        CLASSES,
        "sweep: [Shed(values: [None, Some((queue_above: 20, priority_below: High))])],",
    ));
    let labels: Vec<&str> = report.variants.iter().map(|v| v.label.as_str()).collect();
    assert_eq!(labels, ["shed=none", "shed=20/High"]);
    for v in &report.variants {
        let names: Vec<(&str, &str, &str)> =
            v.classes.iter().map(|c| (c.client.as_str(), c.name.as_str(), c.priority.as_str())).collect();
        assert_eq!(names, [("users", "checkout", "High"), ("users", "search", "Low")]);
        // Means and intervals over the three replications, as for every metric.
        let share = v.class("users", "search").unwrap().metric(ClassMetric::Share);
        assert!((share.mean - 0.5).abs() < 0.02 && share.ci95.is_finite(), "{share:?}");
        let arrived: f64 = v.classes.iter().map(|c| c.metric(ClassMetric::Arrived).mean).sum();
        assert!((arrived - v.metric(Metric::Arrived).mean).abs() < 1e-6);
    }
    let (plain, shedding) = (&report.variants[0], &report.variants[1]);
    let m = |v: &stacksim::report::VariantReport, class: &str, metric| {
        v.class("users", class).unwrap().metric(metric)
    };
    assert_eq!(plain.metric(Metric::PriorityShedRatio).mean, 0.0);
    assert!(m(plain, "checkout", ClassMetric::ErrorRatio).mean > 0.05);
    assert_eq!(m(shedding, "checkout", ClassMetric::ErrorRatio).mean, 0.0);
    assert_eq!(m(shedding, "checkout", ClassMetric::Shed).mean, 0.0);
    let search_shed = m(shedding, "search", ClassMetric::ShedRatio).mean;
    assert!(search_shed > 0.2, "{search_shed}");
    // Over all arrivals, half of which are search.
    let overall = shedding.metric(Metric::PriorityShedRatio).mean;
    assert!((overall - search_shed / 2.0).abs() < 0.01, "{overall} vs {search_shed}");
    assert!(
        m(shedding, "checkout", ClassMetric::ResponseTimeP99).mean
            < m(plain, "checkout", ClassMetric::ResponseTimeP99).mean / 3.0
    );

    let json = report.to_json();
    assert!(json.contains("\"classes\": [") && json.contains("\"priority_shed_ratio\""));
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(back.variants[1].classes, shedding.classes);

    let mut csv = Vec::new();
    report.write_classes_csv(&mut csv).unwrap();
    let csv = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 1 + 2 * 2, "{csv}");
    assert!(lines[0].starts_with("variant,label,client,class,priority,share,share_ci95,arrived,"), "{csv}");
    assert!(lines[4].starts_with("1,shed=20/High,users,search,Low,"), "{csv}");
}

#[test]
fn a_report_without_classes_has_no_class_section_and_no_priority_shed_metric() {
    let report = report(&text("", ""));
    assert!(report.variants.iter().all(|v| v.classes.is_empty()));
    assert!(!report.has_classes());
    let json = report.to_json();
    assert!(!json.contains("\"classes\": ") && !json.contains("priority_shed"), "{json}");
    let mut csv = Vec::new();
    report.write_classes_csv(&mut csv).unwrap();
    assert!(csv.is_empty());
}

/// Problems as `path: severity` (the message after it).
fn problems(text: &str) -> Vec<String> {
    match Experiment::load_str(text, "classes.ron", &PolicyRegistry::new()) {
        Ok(loaded) => loaded.warnings.iter().map(ToString::to_string).collect(),
        Err(error) => error.to_string().lines().map(str::to_owned).collect(),
    }
}

#[test]
fn class_problems_are_errors_at_their_field_and_shedding_without_classes_a_warning() {
    let bad = r#",
            classes: [
                (name: "a", weight: 0.0),
                (name: "a", weight: 1.0, service_scale: -2.0),
            ]"#;
    let found = problems(&text(bad, ""));
    let at =
        |field: &str| found.iter().any(|p| p.contains(&format!("error: stack.clients[0].classes{field}")));
    assert!(at("[0].weight") && at("[1].name") && at("[1].service_scale"), "{found:#?}");
    assert!(found.iter().all(|p| p.contains("classes.ron:")), "located: {found:#?}");

    let shed = text("", "").replace(
        r#"service: Exponential(mean: "100ms"))"#,
        r#"service: Exponential(mean: "100ms"), shed: (queue_above: 5, priority_below: High))"#,
    );
    let warned: Vec<String> = problems(&shed).into_iter().filter(|p| p.contains("shed")).collect();
    assert_eq!(warned.len(), 1, "{warned:#?}");
    assert!(
        warned[0].contains("warning: stack.backends[0].shed: no client declares request classes"),
        "{warned:#?}"
    );
}
