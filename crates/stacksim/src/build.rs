//! From an experiment file to runnable variants: spec types become model types.

use indexmap::IndexMap;
use serde_json::Value;
use stacksim_model::{Arrivals, BackendConfig, ClientConfig, QueueLimit, ServiceTime, StackConfig, Users};

use crate::spec::{
    ArrivalsSpec, BackendSpec, Experiment, PolicySpec, QueueSpec, ServiceSpec, StackSpec, SweepAxis,
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
/// (the last axis varies fastest). Without a sweep there is one variant.
pub fn variants(experiment: &Experiment) -> Vec<Variant> {
    variant_specs(experiment)
        .into_iter()
        .map(|v| Variant {
            stack: stack(&v.stack),
            policy: v.stack.balancer.policy.clone(),
            label: v.label,
            params: v.params,
        })
        .collect()
}

/// A variant before translation to the model: its stack as the experiment file would say it.
#[derive(Clone, Debug, PartialEq)]
pub struct VariantSpec {
    /// Its swept parameters as `name=value`, space-separated.
    pub label: String,
    /// Every parameter that defines it.
    pub params: IndexMap<String, Value>,
    /// The stack with the sweep's values applied.
    pub stack: StackSpec,
}

/// The variants of an experiment as stack specs (see [`variants`]).
pub fn variant_specs(experiment: &Experiment) -> Vec<VariantSpec> {
    let policy = &experiment.stack.balancer.policy;
    let base = Draft {
        params: IndexMap::from([("policy".to_owned(), Value::String(policy.to_string()))]),
        swept: Vec::new(),
        stack: experiment.stack.clone(),
    };
    let mut drafts = vec![base];
    for axis in &experiment.sweep {
        drafts = drafts.into_iter().flat_map(|draft| sweep(axis, &draft)).collect();
    }
    drafts
        .into_iter()
        .map(|d| {
            let label = if d.swept.is_empty() {
                format!("policy={}", d.stack.balancer.policy)
            } else {
                d.swept.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
            };
            VariantSpec { label, params: d.params, stack: d.stack }
        })
        .collect()
}

/// A variant under construction: the stack spec with the axes so far applied.
#[derive(Clone)]
struct Draft {
    params: IndexMap<String, Value>,
    swept: Vec<(String, String)>,
    stack: StackSpec,
}

impl Draft {
    fn set(&mut self, name: String, value: Value) {
        let shown = match &value {
            Value::String(s) => s.clone(),
            // Rust's shortest form: 40 rather than JSON's 40.0.
            Value::Number(n) => n.as_f64().map_or_else(|| n.to_string(), |x| x.to_string()),
            other => other.to_string(),
        };
        self.swept.retain(|(k, _)| *k != name);
        self.swept.push((name.clone(), shown));
        self.params.insert(name, value);
    }

    /// The backend groups an axis applies to: the named one, or all.
    fn groups(&mut self, backend: &Option<String>) -> impl Iterator<Item = &mut BackendSpec> {
        self.stack.backends.iter_mut().filter(move |b| backend.as_ref().is_none_or(|name| *name == b.name))
    }
}

fn param_name(base: &str, backend: &Option<String>) -> String {
    match backend {
        Some(group) => format!("{group}.{base}"),
        None => base.to_owned(),
    }
}

/// `draft` once for each value of `axis`.
fn sweep(axis: &SweepAxis, draft: &Draft) -> Vec<Draft> {
    fn each<T: Clone>(draft: &Draft, values: &[T], apply: impl Fn(&mut Draft, &T)) -> Vec<Draft> {
        values
            .iter()
            .map(|value| {
                let mut d = draft.clone();
                apply(&mut d, value);
                d
            })
            .collect()
    }
    match axis {
        SweepAxis::Policy(policies) => each(draft, policies, |d, policy| {
            d.stack.balancer.policy = policy.clone();
            d.set("policy".to_owned(), Value::String(policy.to_string()));
        }),
        SweepAxis::Rate { .. } => each(draft, &axis.rates(), |d, &rate| {
            let total: f64 = d.stack.clients.iter().map(|c| arrivals(&c.arrivals).rate_per_s()).sum();
            for client in &mut d.stack.clients {
                let (ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s }) =
                    &mut client.arrivals;
                *rate_per_s *= rate / total;
            }
            d.set("rate_per_s".to_owned(), Value::from(rate));
        }),
        SweepAxis::Replicas { backend, values } => each(draft, values, |d, &n| {
            for group in d.groups(backend) {
                group.replicas = n;
                if group.weights.as_ref().is_some_and(|w| w.len() != n as usize) {
                    group.weights = None;
                }
            }
            d.set(param_name("replicas", backend), Value::from(n));
        }),
        SweepAxis::Workers { backend, values } => each(draft, values, |d, &n| {
            d.groups(backend).for_each(|group| group.workers = n);
            d.set(param_name("workers", backend), Value::from(n));
        }),
        SweepAxis::Queue { backend, values } => each(draft, values, |d, queue| {
            d.groups(backend).for_each(|group| group.queue = *queue);
            d.set(param_name("queue", backend), Value::String(queue.to_string()));
        }),
        SweepAxis::Weights { backend, values } => each(draft, values, |d, weights| {
            for group in d.groups(backend) {
                group.replicas = weights.len() as u32;
                group.weights = Some(weights.clone());
                group.weight = None;
            }
            let shown = weights.iter().map(u32::to_string).collect::<Vec<_>>().join(":");
            d.set(param_name("weights", backend), Value::String(shown));
        }),
        SweepAxis::ServiceScale { backend, values } => each(draft, values, |d, &factor| {
            d.groups(backend).for_each(|group| group.service = group.service.scaled(factor));
            d.set(param_name("service_scale", backend), Value::from(factor));
        }),
    }
}

/// The model's stack for a stack spec: replicas expanded and named `name-i`.
pub fn stack(spec: &StackSpec) -> StackConfig {
    let clients = spec
        .clients
        .iter()
        .map(|c| {
            let mut client = ClientConfig::new(c.name.clone(), arrivals(&c.arrivals));
            client.users = c.users.map(|count| Users { count, skew: c.user_skew.unwrap_or(0.0) });
            client
        })
        .collect();
    let backends = spec
        .backends
        .iter()
        .flat_map(|b| {
            (0..b.replicas).map(move |i| {
                let name = if b.replicas == 1 { b.name.clone() } else { format!("{}-{i}", b.name) };
                let queue = match b.queue {
                    QueueSpec::Bounded(n) => QueueLimit::Bounded(n),
                    QueueSpec::Unbounded => QueueLimit::Unbounded,
                };
                let mut backend = BackendConfig::new(name, b.workers, queue, service(&b.service));
                backend.weight =
                    b.weights.as_ref().and_then(|w| w.get(i as usize).copied()).or(b.weight).unwrap_or(1);
                backend
            })
        })
        .collect();
    StackConfig { clients, backends, ..StackConfig::default() }
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
        ServiceSpec::LogNormal { median, sigma } => ServiceTime::LogNormal { median: median.0, sigma },
        ServiceSpec::Gamma { mean, cv } => ServiceTime::Gamma { mean: mean.0, cv },
        ServiceSpec::Uniform { min, max } => ServiceTime::Uniform { min: min.0, max: max.0 },
        ServiceSpec::Pareto { scale, shape } => ServiceTime::Pareto { scale: scale.0, shape },
    }
}
