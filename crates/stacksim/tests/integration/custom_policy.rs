//! Custom policies with parameters: `Custom(name: "pinned", params: (backend: 1))` reaches
//! the registered type, and its own range checks are reported at their line and column.

use serde::Deserialize;
use stacksim::model::policy::catalog::{Context, Params, Problem};
use stacksim::model::policy::{BackendState, Policy, RequestInfo, RoundRobin, SimRng};
use stacksim::{Experiment, LoadError, PolicyRegistry, Runner};

/// Everything to one backend, while it is available.
#[derive(Debug)]
struct Pinned(usize);

impl Policy for Pinned {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        backends.get(self.0).filter(|b| b.is_available()).map(|_| self.0)
    }
}

/// `Custom(name: "pinned", params: (backend: 1))`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PinnedSpec {
    /// The backend's index. Default: 0.
    #[serde(default)]
    backend: usize,
    /// Only to show a second parameter's problem: ≥ 0.
    #[serde(default)]
    weight: Option<f64>,
}

impl Params for PinnedSpec {
    fn check(&self, context: &Context) -> Vec<Problem> {
        let mut problems = Vec::new();
        if self.backend as u64 >= context.backends {
            let message = format!(
                "backend must be below {}, the number of backends, not {}",
                context.backends, self.backend
            );
            problems.push(Problem::error(message).at("backend"));
        }
        if self.weight.is_some_and(|w| w < 0.0) {
            problems.push(Problem::warning("a negative weight is ignored").at("weight"));
        }
        problems
    }

    fn build(&self) -> Box<dyn Policy> {
        Box::new(Pinned(self.backend))
    }
}

fn registry() -> PolicyRegistry {
    let mut registry = PolicyRegistry::new();
    registry.register_with_params::<PinnedSpec>("pinned");
    registry.register("plain", || Box::new(RoundRobin::new()));
    registry
}

/// An experiment with `policy` in front of three backends.
fn experiment(policy: &str) -> String {
    format!(
        r#"Experiment(
    name: "custom", seed: 3, duration: "60s", replications: 2,
    stack: (
        clients: [(name: "users", arrivals: Poisson(rate_per_s: 20.0))],
        balancer: (policy: {policy}),
        backends: [(name: "app", replicas: 3, workers: 4, queue: Bounded(50), service: Exponential(mean: "20ms"))],
    ),
)"#
    )
}

/// The diagnostics of loading `policy`, one line each.
fn errors(policy: &str) -> Vec<String> {
    match Experiment::load_str(&experiment(policy), "custom.ron", &registry()) {
        Ok(_) => Vec::new(),
        Err(LoadError::Invalid(diagnostics)) => diagnostics.iter().map(ToString::to_string).collect(),
        Err(error) => vec![error.to_string()],
    }
}

#[test]
fn parameters_reach_the_registered_type() {
    let registry = registry();
    let text = experiment(r#"Custom(name: "pinned", params: (backend: 2))"#);
    let loaded = Experiment::load_str(&text, "custom.ron", &registry).unwrap();
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    let report = Runner::new().run(&loaded.plan).unwrap();
    let variant = &report.variants[0];
    assert_eq!(variant.label, r#"policy=Custom(name: "pinned", params: (backend: 2))"#);
    let shares: Vec<f64> = variant.backends.iter().map(|b| b.metrics["share"].mean).collect();
    assert_eq!(shares, [0.0, 0.0, 1.0]);
}

#[test]
fn a_custom_policy_without_parameters_takes_its_defaults() {
    let registry = registry();
    for policy in
        [r#"Custom("pinned")"#, r#"Custom(name: "pinned")"#, r#"Custom(name: "pinned", params: ())"#]
    {
        let loaded = Experiment::load_str(&experiment(policy), "custom.ron", &registry).unwrap();
        let report = Runner::new().run(&loaded.plan).unwrap();
        assert_eq!(report.variants[0].backends[0].metrics["share"].mean, 1.0, "{policy}");
    }
}

#[test]
fn its_range_checks_are_located_like_a_built_ins() {
    assert_eq!(
        errors(r#"Custom(name: "pinned", params: (backend: 3))"#),
        [
            "custom.ron:5:69: error: stack.balancer.policy.params.backend: backend must be below 3, the number of backends, not 3"
        ]
    );
    let text = experiment(r#"Custom(name: "pinned", params: (backend: 1, weight: -1.0))"#);
    let loaded = Experiment::load_str(&text, "custom.ron", &registry()).unwrap();
    let warnings: Vec<String> = loaded.warnings.iter().map(ToString::to_string).collect();
    assert_eq!(
        warnings,
        ["custom.ron:5:80: warning: stack.balancer.policy.params.weight: a negative weight is ignored"]
    );
}

#[test]
fn parameters_its_type_cannot_read_are_located_errors() {
    assert_eq!(
        errors(r#"Custom(name: "pinned", params: (backend: "two"))"#),
        ["custom.ron:5:69: error: stack.balancer.policy.params.backend: Expected integer"]
    );
    assert_eq!(
        errors(r#"Custom(name: "pinned", params: (backnd: 1))"#),
        [
            "custom.ron:5:68: error: stack.balancer.policy.params.backnd: Unexpected field named `backnd`, expected either `backend` or `weight` instead"
        ]
    );
}

#[test]
fn parameters_for_a_policy_registered_without_are_an_error() {
    assert_eq!(errors(r#"Custom("plain")"#), Vec::<String>::new());
    assert_eq!(
        errors(r#"Custom(name: "plain", params: (n: 1))"#),
        [
            r#"custom.ron:5:58: error: stack.balancer.policy.params: the custom policy "plain" takes no parameters: write Custom("plain")"#
        ]
    );
    assert_eq!(
        errors(r#"Custom(name: "nobody", params: ())"#),
        [
            r#"custom.ron:5:28: error: stack.balancer.policy: unknown custom policy "nobody": registered: pinned, plain"#
        ]
    );
}

#[test]
fn a_sweep_compares_parameter_sets() {
    let registry = registry();
    let mut text = experiment("RoundRobin");
    text = text.replace(
        "\n)",
        "\n    sweep: [Policy([Custom(name: \"pinned\", params: (backend: 0)), Custom(name: \"pinned\", params: (backend: 1))])],\n)",
    );
    let loaded = Experiment::load_str(&text, "custom.ron", &registry).unwrap();
    let report = Runner::new().run(&loaded.plan).unwrap();
    let pinned_to =
        |v: usize| report.variants[v].backends.iter().position(|b| b.metrics["share"].mean == 1.0);
    assert_eq!((pinned_to(0), pinned_to(1)), (Some(0), Some(1)));
}

#[test]
fn files_without_custom_parameters_read_as_before() {
    // The parameters form needs ron's `unwrap_variant_newtypes`, which would also change how an
    // explicit `Some((…))` reads: it is on only in files that give a custom policy parameters.
    let explicit_some = experiment("RoundRobin").replace("\n)", "\n    observe: Some((window: \"10s\")),\n)");
    assert!(Experiment::load_str(&explicit_some, "some.ron", &registry()).is_ok());
}
