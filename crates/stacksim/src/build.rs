//! From an experiment file to runnable variants: spec types become model types.

use indexmap::IndexMap;
use serde_json::Value;
use stacksim_model::{
    Action, ActiveCheck, Arrivals, BackendConfig, CheckKind, ClientConfig, DatabaseConfig, Degradation,
    HealthConfig, Observe, OutlierDetection, QueueLimit, RetryBudget, RetryPolicy, ServiceTime, StackConfig,
    TimedAction, Users,
};

use crate::report::VariantInfo;
use crate::spec::{
    ActionSpec, ArrivalsSpec, BackendSpec, CheckKindSpec, Experiment, HealthSpec, PolicySpec, QueueSpec,
    ServiceSpec, StackSpec, SweepAxis, Timestamp,
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
    /// Policies the timeline switches to (`SetPolicy { policy: i }` is the i-th).
    pub later_policies: Vec<PolicySpec>,
}

impl From<&Variant> for VariantInfo {
    fn from(v: &Variant) -> Self {
        VariantInfo { label: v.label.clone(), params: v.params.clone() }
    }
}

/// The variants of an experiment: the cartesian product of its sweep axes, in file order
/// (the last axis varies fastest). Without a sweep there is one variant.
pub fn variants(experiment: &Experiment) -> Vec<Variant> {
    variant_specs(experiment)
        .into_iter()
        .map(|v| {
            let (stack, later_policies) = stack_for(&v.stack, experiment);
            Variant {
                stack,
                policy: v.stack.balancer.policy.clone(),
                later_policies,
                label: v.label,
                params: v.params,
            }
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
            let total: f64 = d.stack.clients.iter().map(|c| open_loop_rate(&c.arrivals)).sum();
            for client in &mut d.stack.clients {
                match &mut client.arrivals {
                    ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s } => {
                        *rate_per_s *= rate / total;
                    }
                    ArrivalsSpec::Schedule { points, .. } => {
                        points.iter_mut().for_each(|p| p.1 *= rate / total)
                    }
                    ArrivalsSpec::Trace { .. } | ArrivalsSpec::Closed { .. } => {}
                }
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

/// The open-loop rate a client starts with [requests·s⁻¹]: what a `Rate` sweep scales.
/// Traces and closed loops have none.
pub fn open_loop_rate(spec: &ArrivalsSpec) -> f64 {
    match spec {
        ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s } => *rate_per_s,
        ArrivalsSpec::Schedule { points, .. } => points.first().map_or(0.0, |p| p.1),
        ArrivalsSpec::Trace { .. } | ArrivalsSpec::Closed { .. } => 0.0,
    }
}

/// The offered rate of a client at its busiest [requests·s⁻¹] (for capacity warnings).
pub fn peak_rate(spec: &ArrivalsSpec, start: Option<Timestamp>) -> f64 {
    match spec {
        ArrivalsSpec::Schedule { points, .. } => points.iter().map(|p| p.1).fold(0.0, f64::max),
        other => arrivals(other, start).rate_per_s(),
    }
}

/// The names of a stack's backends after expanding replicas: `app-0`, `app-1`, ... (just
/// `app` for a single replica), in balancer order.
pub fn backend_names(spec: &StackSpec) -> Vec<String> {
    spec.backends
        .iter()
        .flat_map(|b| {
            (0..b.replicas)
                .map(move |i| if b.replicas == 1 { b.name.clone() } else { format!("{}-{i}", b.name) })
        })
        .collect()
}

/// The model's stack for a stack spec, without the experiment's timeline and observation
/// settings (see [`stack_for`]); clock times in schedules need `start`.
pub fn stack(spec: &StackSpec, start: Option<Timestamp>) -> StackConfig {
    let names = backend_names(spec);
    let clients = spec
        .clients
        .iter()
        .map(|c| {
            let mut client = ClientConfig::new(c.name.clone(), arrivals(&c.arrivals, start));
            client.users = c.users.map(|count| Users { count, skew: c.user_skew.unwrap_or(0.0) });
            if let ArrivalsSpec::Trace { loaded: Some(trace), .. } = &c.arrivals
                && trace.keys.is_some()
            {
                client.users = Some(Users { count: trace.users.max(1), skew: 0.0 });
            }
            client.timeout = c.timeout.map(|t| t.0);
            client.retry = c.retry.map(|r| RetryPolicy {
                max_attempts: r.max_attempts.max(1),
                backoff: r.backoff.0,
                max_backoff: r.max_backoff.0,
                budget: r
                    .budget_ratio
                    .map(|ratio| RetryBudget { ratio, min_per_s: r.budget_min_per_s.unwrap_or(10.0) }),
            });
            client
        })
        .collect();
    let mut names = names.into_iter();
    let backends = spec
        .backends
        .iter()
        .flat_map(|b| (0..b.replicas).map(move |i| (b, i)))
        .map(|(b, i)| {
            let queue = match b.queue {
                QueueSpec::Bounded(n) => QueueLimit::Bounded(n),
                QueueSpec::Unbounded => QueueLimit::Unbounded,
            };
            let name = names.next().unwrap_or_default();
            let mut backend = BackendConfig::new(name, b.workers, queue, service(&b.service));
            backend.weight =
                b.weights.as_ref().and_then(|w| w.get(i as usize).copied()).or(b.weight).unwrap_or(1);
            backend.queue_timeout = b.queue_timeout.map(|t| t.0);
            backend.degradation = b.degradation.map(|d| Degradation { knee: d.knee, slope: d.slope });
            backend.present = !b.standby;
            backend
        })
        .collect();
    let database = spec.database.as_ref().map(|db| DatabaseConfig {
        workers: db.workers,
        service: service(&db.service),
        pool: db.pool,
        fraction: db.fraction,
    });
    StackConfig {
        clients,
        backends,
        database,
        health: health(spec.health.as_ref()),
        ..StackConfig::default()
    }
}

/// The model's stack for a variant's stack spec within `experiment`: the stack, plus the
/// timeline resolved to backend indices and offsets, and what to observe. Also returns the
/// policies `SetPolicy` actions switch to. Entries that do not resolve (validation reports
/// them) are left out.
pub fn stack_for(spec: &StackSpec, experiment: &Experiment) -> (StackConfig, Vec<PolicySpec>) {
    let start = experiment.start;
    let mut stack = stack(spec, start);
    let names = backend_names(spec);
    let index = |name: &str| names.iter().position(|n| n == name);
    let mut later = Vec::new();
    for entry in &experiment.timeline {
        let Ok(at) = entry.at.offset(start) else { continue };
        let mut push = |at, action| stack.timeline.push(TimedAction { at, action });
        match &entry.action {
            ActionSpec::SetWeight { backend, weight } => {
                if let Some(backend) = index(backend) {
                    push(at, Action::SetWeight { backend, weight: *weight });
                }
            }
            ActionSpec::SetPolicy(policy) => {
                push(at, Action::SetPolicy { policy: later.len() });
                later.push(policy.clone());
            }
            ActionSpec::Fail(b) => {
                if let Some(backend) = index(b) {
                    push(at, Action::Fail { backend });
                }
            }
            ActionSpec::Recover(b) => {
                if let Some(backend) = index(b) {
                    push(at, Action::Recover { backend });
                }
            }
            ActionSpec::Crash { backend, restart_after } => {
                if let Some(backend) = index(backend) {
                    push(at, Action::Fail { backend });
                    push(at + restart_after.0, Action::Recover { backend });
                }
            }
            ActionSpec::SlowDown { backend, factor } => {
                if let Some(backend) = index(backend) {
                    push(at, Action::SlowDown { backend, factor: *factor });
                }
            }
            ActionSpec::Remove(b) => {
                if let Some(backend) = index(b) {
                    push(at, Action::Remove { backend });
                }
            }
            ActionSpec::Add(b) => {
                if let Some(backend) = index(b) {
                    push(at, Action::Add { backend });
                }
            }
            ActionSpec::Drain(b) => {
                if let Some(backend) = index(b) {
                    push(at, Action::SetWeight { backend, weight: 0 });
                }
            }
            ActionSpec::ScaleTraffic(factor) => push(at, Action::ScaleTraffic { factor: *factor }),
            ActionSpec::SetRate(rate_per_s) => push(at, Action::SetRate { rate_per_s: *rate_per_s }),
        }
    }
    if let Some(observe) = &experiment.observe {
        let incident =
            observe.incident.and_then(|(from, to)| Some((from.offset(start).ok()?, to.offset(start).ok()?)));
        stack.observe = Observe { window: Some(observe.window.0), slow: observe.slow.map(|s| s.0), incident };
    }
    (stack, later)
}

/// The model's health configuration, with HAProxy's and Envoy's defaults filled in.
pub fn health(spec: Option<&HealthSpec>) -> HealthConfig {
    let Some(spec) = spec else { return HealthConfig::default() };
    let active = spec.check.map(|c| {
        let defaults = ActiveCheck::default();
        let interval = c.interval.map_or(defaults.interval, |i| i.0);
        ActiveCheck {
            interval,
            timeout: c.timeout.map_or(interval, |t| t.0),
            rise: c.rise.unwrap_or(defaults.rise),
            fall: c.fall.unwrap_or(defaults.fall),
            kind: match c.kind {
                CheckKindSpec::Tcp => CheckKind::Tcp,
                CheckKindSpec::Http => CheckKind::Http,
            },
        }
    });
    let outlier = spec.outlier.map(|o| {
        let defaults = OutlierDetection::default();
        OutlierDetection {
            consecutive_5xx: o.consecutive_5xx.unwrap_or(defaults.consecutive_5xx),
            base_ejection: o.base_ejection.map_or(defaults.base_ejection, |d| d.0),
            max_ejection: o.max_ejection.map_or(defaults.max_ejection, |d| d.0),
            max_ejection_fraction: o
                .max_ejection_percent
                .map_or(defaults.max_ejection_fraction, |p| p / 100.0),
        }
    });
    HealthConfig { active, outlier, panic_threshold: spec.panic_threshold_percent.map_or(0.5, |p| p / 100.0) }
}

/// The model's arrival process for an arrivals spec; clock times in schedules need `start`.
pub fn arrivals(spec: &ArrivalsSpec, start: Option<Timestamp>) -> Arrivals {
    match spec {
        ArrivalsSpec::Poisson { rate_per_s } => Arrivals::Poisson { rate_per_s: *rate_per_s },
        ArrivalsSpec::Deterministic { rate_per_s } => Arrivals::Deterministic { rate_per_s: *rate_per_s },
        ArrivalsSpec::Schedule { points, linear } => Arrivals::Schedule {
            points: points.iter().filter_map(|(at, rate)| Some((at.offset(start).ok()?, *rate))).collect(),
            linear: *linear,
        },
        ArrivalsSpec::Trace { loaded, .. } => {
            let trace = loaded.clone().unwrap_or_default();
            Arrivals::Trace { times: trace.times.clone(), keys: trace.keys.clone() }
        }
        ArrivalsSpec::Closed { users, think } => Arrivals::Closed { users: *users, think: think.0 },
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
