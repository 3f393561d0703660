//! Checks an experiment beyond what its types enforce, and reports every problem at once.

use std::collections::BTreeSet;
use std::fmt;

use crate::locate::FieldPath;
use crate::registry::PolicyRegistry;
use crate::spec::{
    ArrivalsSpec, BackendSpec, Experiment, PolicySpec, QueueSpec, ServiceSpec, SweepAxis,
};

/// How bad a problem is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    /// The experiment cannot run as written.
    Error,
    /// It runs, but probably not as meant (`stacksim check` shows these).
    Warning,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        })
    }
}

/// One thing wrong with an experiment: where, how bad, and what would be valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field, like `stack.backends[0].workers`.
    pub path: FieldPath,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong and what would be valid.
    pub message: String,
}

struct Checker<'a> {
    registry: &'a PolicyRegistry,
    problems: Vec<Problem>,
}

impl Checker<'_> {
    fn error(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            severity: Severity::Error,
            message: message.into(),
        });
    }

    fn warning(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem {
            path,
            severity: Severity::Warning,
            message: message.into(),
        });
    }

    fn positive(&mut self, path: FieldPath, value: f64, what: &str) {
        if !(value > 0.0 && value.is_finite()) {
            self.error(
                path,
                format!("{what} must be a positive, finite number, not {value}"),
            );
        }
    }

    fn at_least_one(&mut self, path: FieldPath, value: u32, what: &str) {
        if value == 0 {
            self.error(path, format!("{what} must be at least 1, not 0"));
        }
    }

    fn policy(&mut self, path: FieldPath, policy: &PolicySpec) {
        match policy {
            PolicySpec::RandomChoices(0) => {
                self.error(
                    path,
                    "RandomChoices needs at least 1 choice, like RandomChoices(2)",
                );
            }
            PolicySpec::Custom(name) if !self.registry.knows(policy) => {
                let registered = self.registry.custom_names();
                let valid = if registered.is_empty() {
                    "no custom policy is registered (custom policies are registered from Rust; see `stacksim policies` for the built-ins)".to_owned()
                } else {
                    format!("registered: {}", registered.join(", "))
                };
                self.error(path, format!("unknown custom policy {name:?}: {valid}"));
            }
            _ => {}
        }
    }

    fn service(&mut self, path: FieldPath, service: &ServiceSpec) {
        let zero = |d: &crate::spec::HumanDuration| d.0.is_zero();
        match service {
            ServiceSpec::Exponential { mean } if zero(mean) => {
                self.error(
                    path.field("mean"),
                    "the mean must be longer than zero, like \"100ms\"",
                );
            }
            ServiceSpec::LogNormal { median, sigma } => {
                if zero(median) {
                    self.error(
                        path.field("median"),
                        "the median must be longer than zero, like \"80ms\"",
                    );
                }
                if !(*sigma >= 0.0 && sigma.is_finite()) {
                    self.error(
                        path.field("sigma"),
                        format!("sigma must be a finite number ≥ 0, not {sigma}"),
                    );
                }
            }
            ServiceSpec::Gamma { mean, cv } => {
                if zero(mean) {
                    self.error(
                        path.field("mean"),
                        "the mean must be longer than zero, like \"100ms\"",
                    );
                }
                self.positive(path.field("cv"), *cv, "cv");
            }
            ServiceSpec::Uniform { min, max } if min > max => {
                self.error(
                    path.field("max"),
                    format!("max ({max}) must not be shorter than min ({min})"),
                );
            }
            ServiceSpec::Pareto { scale, shape } => {
                if zero(scale) {
                    self.error(
                        path.field("scale"),
                        "the scale must be longer than zero, like \"10ms\"",
                    );
                }
                self.positive(path.field("shape"), *shape, "shape");
            }
            _ => {}
        }
    }

    fn backend(&mut self, path: FieldPath, backend: &BackendSpec) {
        self.at_least_one(path.field("replicas"), backend.replicas, "replicas");
        self.at_least_one(path.field("workers"), backend.workers, "workers");
        self.service(path.field("service"), &backend.service);
        match (&backend.weight, &backend.weights) {
            (Some(_), Some(_)) => {
                self.error(
                    path.field("weights"),
                    "give either `weight` (every replica) or `weights` (one per replica), not both",
                );
            }
            (None, Some(weights)) if weights.len() != backend.replicas as usize => self.error(
                path.field("weights"),
                format!(
                    "{} weights for {} replicas: give exactly one weight per replica",
                    weights.len(),
                    backend.replicas
                ),
            ),
            _ => {}
        }
    }
}

/// Every problem with `experiment`, errors and warnings, in file order.
pub fn validate(experiment: &Experiment, registry: &PolicyRegistry) -> Vec<Problem> {
    let mut c = Checker {
        registry,
        problems: Vec::new(),
    };
    let root = FieldPath::root();
    if experiment.duration.0.is_zero() {
        c.error(
            root.field("duration"),
            "the duration must be longer than zero, like \"1h\"",
        );
    }
    if experiment.warmup >= experiment.duration && !experiment.duration.0.is_zero() {
        c.error(
            root.field("warmup"),
            format!(
                "the warm-up ({}) must be shorter than the duration ({}), or nothing is measured",
                experiment.warmup, experiment.duration
            ),
        );
    }
    c.at_least_one(
        root.field("replications"),
        experiment.replications,
        "replications",
    );

    let stack = &experiment.stack;
    let stack_path = root.field("stack");
    if stack.clients.is_empty() {
        c.error(stack_path.field("clients"), "at least one client is needed, like (name: \"users\", arrivals: Poisson(rate_per_s: 100.0))");
    }
    let mut client_names = BTreeSet::new();
    for (i, client) in stack.clients.iter().enumerate() {
        let path = stack_path.field("clients").index(i);
        if !client_names.insert(client.name.as_str()) {
            c.error(
                path.field("name"),
                format!(
                    "the client name {:?} is used twice; names must be unique",
                    client.name
                ),
            );
        }
        let (ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s }) =
            client.arrivals;
        c.positive(
            path.field("arrivals").field("rate_per_s"),
            rate_per_s,
            "rate_per_s (requests per second)",
        );
    }
    c.policy(
        stack_path.field("balancer").field("policy"),
        &stack.balancer.policy,
    );
    if stack.backends.is_empty() {
        c.error(stack_path.field("backends"), "at least one backend is needed, like (name: \"app\", workers: 8, queue: Bounded(100), service: Exponential(mean: \"100ms\"))");
    }
    let mut backend_names = BTreeSet::new();
    for (i, backend) in stack.backends.iter().enumerate() {
        let path = stack_path.field("backends").index(i);
        if !backend_names.insert(backend.name.as_str()) {
            c.error(
                path.field("name"),
                format!(
                    "the backend name {:?} is used twice; names must be unique",
                    backend.name
                ),
            );
        }
        c.backend(path, backend);
    }
    for (i, axis) in experiment.sweep.iter().enumerate() {
        let path = root.field("sweep").index(i);
        match axis {
            SweepAxis::Policy(policies) if policies.is_empty() => {
                c.error(path, "a Policy sweep needs at least one policy, like Policy([RoundRobin, LeastConnections])");
            }
            SweepAxis::Policy(policies) => {
                for (j, policy) in policies.iter().enumerate() {
                    c.policy(path.index(0).index(j), policy);
                }
            }
        }
    }
    if c.problems.iter().all(|p| p.severity == Severity::Warning) {
        capacity_warnings(&mut c, experiment);
    }
    c.problems
}

/// Warns when unbounded queues sit behind more load than the backends can serve.
fn capacity_warnings(c: &mut Checker<'_>, experiment: &Experiment) {
    let stack = &experiment.stack;
    let offered: f64 = stack
        .clients
        .iter()
        .map(|client| crate::build::arrivals(&client.arrivals).rate_per_s())
        .sum();
    let capacity: f64 = stack
        .backends
        .iter()
        .map(|b| {
            f64::from(b.replicas) * f64::from(b.workers)
                / crate::build::service(&b.service).mean_secs()
        })
        .sum();
    if offered >= capacity {
        for (i, backend) in stack.backends.iter().enumerate() {
            if backend.queue == QueueSpec::Unbounded {
                c.warning(
                    FieldPath::root().field("stack").field("backends").index(i).field("queue"),
                    format!(
                        "offered load {offered:.1}/s is at or above total capacity {capacity:.1}/s: this unbounded queue can grow without limit; use Bounded(n)"
                    ),
                );
            }
        }
    }
}
