//! From an experiment file to runnable variants: spec types become model types.

use indexmap::IndexMap;
use serde_json::Value;
use stacksim_model::{Arrivals, BackendConfig, ClientConfig, QueueLimit, ServiceTime, StackConfig};

use crate::spec::{
    ArrivalsSpec, Experiment, PolicySpec, QueueSpec, ServiceSpec, StackSpec, SweepAxis,
};

/// One point of the sweep: a stack behind a policy.
#[derive(Clone, Debug, PartialEq)]
pub struct Variant {
    /// Its swept parameters as `name=value`, space-separated.
    pub label: String,
    /// Every parameter that defines it (the policy always; swept ones besides).
    pub params: IndexMap<String, Value>,
    /// The stack to simulate.
    pub stack: StackConfig,
    /// The balancing policy.
    pub policy: PolicySpec,
}

/// The variants of an experiment: the cartesian product of its sweep axes, in file order
/// (the last axis varies fastest).
pub fn variants(experiment: &Experiment) -> Vec<Variant> {
    let base = Variant {
        label: String::new(),
        params: IndexMap::from([(
            "policy".to_owned(),
            Value::String(experiment.stack.balancer.policy.to_string()),
        )]),
        stack: stack(&experiment.stack),
        policy: experiment.stack.balancer.policy.clone(),
    };
    let mut variants = vec![base];
    for axis in &experiment.sweep {
        variants = variants
            .into_iter()
            .flat_map(|variant| match axis {
                SweepAxis::Policy(policies) => policies
                    .iter()
                    .map(|policy| {
                        let mut v = variant.clone();
                        v.policy = policy.clone();
                        set_param(&mut v, "policy", Value::String(policy.to_string()));
                        v
                    })
                    .collect::<Vec<_>>(),
            })
            .collect();
    }
    for v in &mut variants {
        if v.label.is_empty() {
            v.label = format!("policy={}", v.policy);
        }
    }
    variants
}

fn set_param(variant: &mut Variant, name: &str, value: Value) {
    let shown = match &value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    variant.params.insert(name.to_owned(), value);
    if !variant.label.is_empty() {
        variant.label.push(' ');
    }
    variant.label.push_str(&format!("{name}={shown}"));
}

/// The model's stack for a stack spec: replicas expanded and named `name-i`.
pub fn stack(spec: &StackSpec) -> StackConfig {
    let clients = spec
        .clients
        .iter()
        .map(|c| ClientConfig {
            name: c.name.clone(),
            arrivals: arrivals(&c.arrivals),
        })
        .collect();
    let backends = spec
        .backends
        .iter()
        .flat_map(|b| {
            (0..b.replicas).map(move |i| BackendConfig {
                name: if b.replicas == 1 {
                    b.name.clone()
                } else {
                    format!("{}-{i}", b.name)
                },
                workers: b.workers,
                queue: match b.queue {
                    QueueSpec::Bounded(n) => QueueLimit::Bounded(n),
                    QueueSpec::Unbounded => QueueLimit::Unbounded,
                },
                service: service(&b.service),
                weight: b
                    .weights
                    .as_ref()
                    .and_then(|w| w.get(i as usize).copied())
                    .or(b.weight)
                    .unwrap_or(1),
            })
        })
        .collect();
    StackConfig { clients, backends }
}

/// The model's arrival process for an arrivals spec.
pub fn arrivals(spec: &ArrivalsSpec) -> Arrivals {
    match *spec {
        ArrivalsSpec::Poisson { rate_per_s } => Arrivals::Poisson { rate_per_s },
        ArrivalsSpec::Deterministic { rate_per_s } => Arrivals::Deterministic { rate_per_s },
    }
}

/// The model's service time for a service spec.
pub fn service(spec: &ServiceSpec) -> ServiceTime {
    match *spec {
        ServiceSpec::Exponential { mean } => ServiceTime::Exponential { mean: mean.0 },
        ServiceSpec::Constant(d) => ServiceTime::Constant(d.0),
        ServiceSpec::LogNormal { median, sigma } => ServiceTime::LogNormal {
            median: median.0,
            sigma,
        },
        ServiceSpec::Gamma { mean, cv } => ServiceTime::Gamma { mean: mean.0, cv },
        ServiceSpec::Uniform { min, max } => ServiceTime::Uniform {
            min: min.0,
            max: max.0,
        },
        ServiceSpec::Pareto { scale, shape } => ServiceTime::Pareto {
            scale: scale.0,
            shape,
        },
    }
}
