//! From a checked experiment to runnable variants: spec types become model types.
//!
//! Every function here is a total translation of values that [`crate::validate`] has checked
//! and resolved (clock times to offsets, traces read); the one thing resolved here is which
//! backend a timeline entry names, because a sweep can change the backends of each variant.

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use serde_json::Value;
use stacksim_model::fleet::hpa::{Behavior, ScaleDown, ScaleUp};
use stacksim_model::{
    Action, ActiveCheck, Arrivals, BackendConfig, CheckKind, ClientConfig, DatabaseConfig, Degradation,
    FleetConfig, HealthConfig, Hpa, HpaMetric, Observe, OutlierDetection, QueueLimit, RetryBudget,
    RetryPolicy, ServiceTime, StackConfig, TimedAction, Users,
};
use stacksim_model::{HedgePolicy, RetryThrottling};

use crate::locate::FieldPath;
use crate::problem::{Problem, Severity};
use crate::report::VariantInfo;
use crate::spec::{
    ActionSpec, AdmissionControlSpec, ArrivalsSpec, AutoscaleSpec, BackendSpec, CheckKindSpec,
    CircuitBreakersSpec, ClientBreakerSpec, ClientSpec, ConcurrencySpec, DatabaseSpec, Experiment,
    HealthSpec, HedgeSpec, HpaMetricSpec, PolicySpec, QueueSpec, RateLimitSpec, RetrySpec,
    RetryThrottlingSpec, ServiceSpec, SlowStartSpec, StackSpec, SweepAxis, ThrottleSpec, TimelineEntry,
    WarmupSpec,
};
use crate::trace::LoadedTrace;

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

/// What validation resolved once for the whole experiment, for the translation to use.
#[derive(Clone, Debug, Default)]
pub(crate) struct Resolved {
    /// Per client: the offsets of its schedule's points (empty for other arrivals).
    pub schedules: Vec<Vec<Duration>>,
    /// Per client: its trace, read.
    pub traces: Vec<Option<Arc<LoadedTrace>>>,
    /// Per timeline entry: its offset from the start of the run.
    pub timeline: Vec<Duration>,
    /// The incident interval, as offsets.
    pub incident: Option<(Duration, Duration)>,
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

/// The variants of an experiment whose stack is `stack`, as stack specs: the cartesian
/// product of its sweep axes, in file order (the last axis varies fastest). Without a sweep
/// there is one variant.
pub fn variant_specs(experiment: &Experiment, stack: &StackSpec) -> Vec<VariantSpec> {
    let policy = &stack.balancer.policy;
    let base = Draft {
        params: IndexMap::from([("policy".to_owned(), Value::String(policy.to_string()))]),
        swept: Vec::new(),
        stack: stack.clone(),
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
        SweepAxis::Protection(values) => each(draft, values, |d, protection| {
            protection.apply(&mut d.stack);
            d.set("protection".to_owned(), Value::String(protection.name.clone()));
        }),
        SweepAxis::Target { backend, values } => each(draft, values, |d, &value| {
            for group in d.groups(backend) {
                if let Some(AutoscaleSpec::Hpa { target, .. }) = &mut group.autoscale {
                    *target = value;
                }
            }
            d.set(param_name("target", backend), Value::from(value));
        }),
        SweepAxis::MinReplicas { backend, values } => each(draft, values, |d, &n| {
            for group in d.groups(backend) {
                if let Some(AutoscaleSpec::Hpa { min, .. }) = &mut group.autoscale {
                    *min = n;
                    group.replicas = n;
                }
            }
            d.set(param_name("min_replicas", backend), Value::from(n));
        }),
        SweepAxis::Provision { backend, values } => each(draft, values, |d, &time| {
            d.groups(backend).for_each(|group| group.provision = Some(time));
            d.set(param_name("provision", backend), Value::String(time.to_string()));
        }),
        SweepAxis::Instances(values) => each(draft, values, |d, &n| {
            d.stack.balancer.instances = n;
            d.set("instances".to_owned(), Value::from(n));
        }),
        SweepAxis::Connections(values) => each(draft, values, |d, connections| {
            d.stack.balancer.connections = *connections;
            d.set("connections".to_owned(), Value::String(connections.to_string()));
        }),
        SweepAxis::ZoneAware(values) => each(draft, values, |d, &on| {
            d.stack.balancer.zone_aware =
                if on { Some(d.stack.balancer.zone_aware.unwrap_or_default()) } else { None };
            d.set("zone_aware".to_owned(), Value::Bool(on));
        }),
        SweepAxis::ServiceScale { backend, values } => each(draft, values, |d, &factor| {
            d.groups(backend).for_each(|group| group.service = group.service.scaled(factor));
            d.set(param_name("service_scale", backend), Value::from(factor));
        }),
        SweepAxis::Discipline { backend, values } => each(draft, values, |d, &discipline| {
            d.groups(backend).for_each(|group| group.discipline = Some(discipline));
            d.set(param_name("discipline", backend), Value::String(discipline.to_string()));
        }),
        SweepAxis::Shed { backend, values } => each(draft, values, |d, &shed| {
            d.groups(backend).for_each(|group| group.shed = shed);
            let shown = shed.map_or_else(|| "none".to_owned(), |s| s.to_string());
            d.set(param_name("shed", backend), Value::String(shown));
        }),
        SweepAxis::RetryThrottling { values } => each(draft, values, |d, &throttling| {
            d.stack.clients.iter_mut().for_each(|c| c.retry_throttling = throttling);
            let shown = throttling.map_or_else(|| "none".to_owned(), |t| t.to_string());
            d.set("retry_throttling".to_owned(), Value::String(shown));
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

/// The offered rate of a client at its busiest [requests·s⁻¹] (for capacity warnings). A
/// closed loop offers none of its own: its users wait for answers, so it slows down with
/// the stack instead of overloading it.
pub(crate) fn peak_rate(client: usize, spec: &ArrivalsSpec, resolved: &Resolved) -> f64 {
    match spec {
        ArrivalsSpec::Schedule { points, .. } => points.iter().map(|p| p.1).fold(0.0, f64::max),
        ArrivalsSpec::Closed { .. } => 0.0,
        other => arrivals(client, other, resolved).rate_per_s(),
    }
}

/// The names of a stack's backends after expanding replicas: `app-0`, `app-1`, ... (just
/// `app` for a single replica), in balancer order. A group with fleet dynamics has a slot
/// per pod it may run (see [`backend_names_in`]); without the timeline, deploys are not
/// counted.
pub fn backend_names(spec: &StackSpec) -> Vec<String> {
    backend_names_in(spec, &[])
}

/// The names of a stack's backends with the experiment's `timeline`, which may deploy to
/// fleet groups (and so need slots for their surge).
pub fn backend_names_in(spec: &StackSpec, timeline: &[TimelineEntry]) -> Vec<String> {
    let shapes = fleet_shapes(spec, timeline);
    spec.backends
        .iter()
        .zip(shapes)
        .flat_map(|(b, shape)| {
            let n = shape.map_or(b.replicas, |s| s.slots);
            (0..n).map(move |i| if n == 1 { b.name.clone() } else { format!("{}-{i}", b.name) })
        })
        .collect()
}

/// What a backend group with fleet dynamics needs: its slots and its versions.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct FleetShape {
    /// Backend slots: room for its largest fleet, a deploy's surge and canaries, and as many
    /// pods again draining.
    pub slots: u32,
    /// Service times of its versions: its own, then one per deploy or canary naming it, in
    /// timeline order (timeline entry index, version).
    pub versions: Vec<(Option<usize>, ServiceSpec)>,
}

/// Whether a group has fleet dynamics of its own (autoscaler or lifecycle times).
pub(crate) fn is_dynamic(b: &BackendSpec) -> bool {
    b.autoscale.is_some() || b.provision.is_some() || b.readiness.is_some() || b.termination_grace.is_some()
}

/// Whether a group becomes a fleet group (slots, pod lifecycle): it has fleet dynamics, or the
/// timeline deploys to it.
pub(crate) fn has_fleet(b: &BackendSpec, timeline: &[TimelineEntry]) -> bool {
    is_dynamic(b)
        || timeline.iter().any(|e| match &e.action {
            ActionSpec::RollingDeploy { backend, .. } | ActionSpec::Canary { backend, .. } => {
                *backend == b.name
            }
            _ => false,
        })
}

/// Per backend group: its fleet shape, if it has fleet dynamics or the timeline deploys to it.
pub(crate) fn fleet_shapes(spec: &StackSpec, timeline: &[TimelineEntry]) -> Vec<Option<FleetShape>> {
    spec.backends
        .iter()
        .map(|b| {
            let mut versions = vec![(None, b.service.clone())];
            let (mut surge, mut canaries) = (0u32, 0u32);
            let cap = match &b.autoscale {
                Some(AutoscaleSpec::Hpa { max, .. }) => b.replicas.max(*max),
                None => b.replicas,
            }
            .min(stacksim_model::fleet::MAX_REPLICAS);
            for (i, entry) in timeline.iter().enumerate() {
                match &entry.action {
                    ActionSpec::RollingDeploy { backend, max_surge, max_unavailable, service }
                        if *backend == b.name =>
                    {
                        let (s, _) = stacksim_model::fleet::fenceposts(
                            (*max_surge).into(),
                            (*max_unavailable).into(),
                            cap,
                        );
                        surge = surge.max(s.min(stacksim_model::fleet::MAX_REPLICAS));
                        versions.push((Some(i), service.clone().unwrap_or_else(|| b.service.clone())));
                    }
                    ActionSpec::Canary { backend, service, .. } if *backend == b.name => {
                        canaries = canaries.saturating_add(1);
                        versions.push((Some(i), service.clone()));
                    }
                    _ => {}
                }
            }
            (is_dynamic(b) || versions.len() > 1).then(|| FleetShape {
                slots: (2 * cap).saturating_add(surge).saturating_add(canaries),
                versions,
            })
        })
        .collect()
}

/// The indices of the backends in zone `zone`.
pub(crate) fn zone_members(stack: &StackSpec, zone: &str) -> Vec<usize> {
    stack
        .backends
        .iter()
        .flat_map(|b| (0..b.replicas).map(move |_| b.zone.as_deref() == Some(zone)))
        .enumerate()
        .filter_map(|(i, member)| member.then_some(i))
        .collect()
}

/// The zones of the backends, in order of first mention.
pub(crate) fn zone_names(stack: &StackSpec) -> Vec<String> {
    let mut zones: Vec<String> = Vec::new();
    for zone in stack.backends.iter().filter_map(|b| b.zone.as_ref()) {
        if !zones.contains(zone) {
            zones.push(zone.clone());
        }
    }
    zones
}

/// The model's client for a client spec (the `client`-th of the stack).
pub(crate) fn client(client: usize, c: &ClientSpec, resolved: &Resolved) -> ClientConfig {
    let mut config = ClientConfig::new(c.name.clone(), arrivals(client, &c.arrivals, resolved));
    config.users = users(c);
    if let Some(trace) = resolved.traces.get(client).and_then(Option::as_ref)
        && trace.keys.is_some()
    {
        config.users = Some(Users { count: trace.users.max(1), skew: 0.0 });
    }
    config.timeout = c.timeout.map(|t| t.0);
    config.retry = c.retry.as_ref().map(retry);
    config.hedge_on_per_try_timeout =
        c.retry.as_ref().and_then(|r| r.hedge_on_per_try_timeout).unwrap_or(false);
    config.hedge = c.hedge.map(hedge);
    config.retry_throttling = c.retry_throttling.map(retry_throttling);
    config.breaker = c.breaker.as_ref().map(ClientBreakerSpec::model);
    config.throttle = c.throttle.as_ref().map(ThrottleSpec::model);
    config.zone = c.zone.clone();
    config.classes = c.classes.iter().map(crate::spec::ClassSpec::model).collect();
    config
}

/// The model's hedging policy.
pub(crate) fn hedge(h: HedgeSpec) -> HedgePolicy {
    HedgePolicy { max_attempts: h.max_attempts, delay: h.delay.0 }
}

/// The model's retry throttling.
pub(crate) fn retry_throttling(t: RetryThrottlingSpec) -> RetryThrottling {
    RetryThrottling { max_tokens: t.max_tokens, token_ratio: t.token_ratio }
}

/// The client's user population, if it declares one.
pub(crate) fn users(c: &ClientSpec) -> Option<Users> {
    c.users.map(|count| Users { count, skew: c.user_skew.unwrap_or(0.0) })
}

/// The model's retry policy, with the default budget floor (Envoy's `min_retry_concurrency`
/// spirit: 10 retries per second).
pub(crate) fn retry(r: &RetrySpec) -> RetryPolicy {
    RetryPolicy {
        max_attempts: r.max_attempts,
        backoff: r.backoff.0,
        max_backoff: r.max_backoff.0,
        budget: r.budget_ratio.map(|ratio| RetryBudget {
            ratio,
            min_per_s: r.budget_min_per_s.unwrap_or(RetryBudget::DEFAULT_MIN_PER_S),
        }),
    }
}

/// The model's backends for one backend group (the `group`-th): `replicas` of them (or a fleet
/// group's `slots`, the first `replicas` present), named `name-i`.
fn backends(group: usize, b: &BackendSpec, slots: Option<u32>) -> impl Iterator<Item = BackendConfig> + '_ {
    let queue = match b.queue {
        QueueSpec::Bounded(n) => QueueLimit::Bounded(n),
        QueueSpec::Unbounded => QueueLimit::Unbounded,
    };
    let n = slots.unwrap_or(b.replicas);
    (0..n).map(move |i| {
        let name = if n == 1 { b.name.clone() } else { format!("{}-{i}", b.name) };
        let mut backend = BackendConfig::new(name, b.workers, queue, service(&b.service));
        backend.weight =
            b.weights.as_ref().and_then(|w| w.get(i as usize).copied()).or(b.weight).unwrap_or(1);
        backend.queue_timeout = b.queue_timeout.map(|t| t.0);
        backend.degradation = b.degradation.map(|d| Degradation { knee: d.knee, slope: d.slope });
        backend.discipline = b.discipline.unwrap_or_default().to_model();
        backend.present = !b.standby && i < b.replicas;
        backend.group = group as u32;
        backend.circuit_breakers = b.circuit_breakers.as_ref().map(CircuitBreakersSpec::model);
        backend.rate_limit = b.rate_limit.as_ref().map(RateLimitSpec::model);
        backend.slow_start = b.slow_start.as_ref().map(SlowStartSpec::model);
        backend.warmup = b.warmup.as_ref().map(WarmupSpec::model);
        backend.concurrency = b.concurrency.as_ref().map(ConcurrencySpec::model);
        backend.zone = b.zone.clone();
        backend.priority = b.priority.unwrap_or(0);
        backend.shed = b.shed.as_ref().map(crate::spec::ShedSpec::model);
        backend
    })
}

/// The model's fleet groups of a stack whose groups have `shapes`.
pub(crate) fn fleets(spec: &StackSpec, shapes: &[Option<FleetShape>]) -> Vec<FleetConfig> {
    let mut first = 0usize;
    let mut fleets = Vec::new();
    for (b, shape) in spec.backends.iter().zip(shapes) {
        let n = shape.as_ref().map_or(b.replicas, |s| s.slots) as usize;
        if let Some(shape) = shape {
            fleets.push(FleetConfig {
                name: b.name.clone(),
                first,
                slots: n,
                replicas: b.replicas,
                autoscale: b.autoscale.as_ref().map(hpa),
                provision: b.provision.map_or(Duration::ZERO, |d| d.0),
                readiness: b.readiness.map_or(Duration::ZERO, |d| d.0),
                termination_grace: b.termination_grace.map_or(DEFAULT_TERMINATION_GRACE, |d| d.0),
                versions: shape.versions.iter().map(|(_, v)| service(v)).collect(),
            });
        }
        first += n;
    }
    fleets
}

/// Kubernetes' `terminationGracePeriodSeconds` default: 30 s.
pub const DEFAULT_TERMINATION_GRACE: Duration = Duration::from_secs(30);

/// The model's autoscaler for an autoscale spec.
pub(crate) fn hpa(spec: &AutoscaleSpec) -> Hpa {
    let AutoscaleSpec::Hpa {
        metric,
        target,
        min,
        max,
        sync,
        tolerance,
        scale_down_window,
        scale_up,
        scale_down,
    } = spec;
    Hpa {
        metric: match metric {
            HpaMetricSpec::Utilization => HpaMetric::Utilization,
            HpaMetricSpec::InFlightPerPod => HpaMetric::InFlightPerPod,
            HpaMetricSpec::RequestsPerSecondPerPod => HpaMetric::RequestsPerSecondPerPod,
        },
        target: *target,
        tolerance: *tolerance,
        sync: sync.0,
        behavior: Behavior {
            min: *min,
            max: *max,
            scale_down_window: scale_down_window.0,
            scale_up: ScaleUp { percent: scale_up.percent, pods: scale_up.pods, period: scale_up.period.0 },
            scale_down: ScaleDown { percent: scale_down.percent, period: scale_down.period.0 },
        },
    }
}

/// The model's database tier.
pub(crate) fn database(db: &DatabaseSpec) -> DatabaseConfig {
    DatabaseConfig {
        workers: db.workers,
        service: service(&db.service),
        pool: db.pool,
        fraction: db.fraction,
    }
}

/// The model's stack for a stack spec, without the experiment's timeline and observation
/// settings (see [`variant`]); `timeline` sizes the fleet groups it deploys to.
pub(crate) fn stack(spec: &StackSpec, resolved: &Resolved, timeline: &[TimelineEntry]) -> StackConfig {
    let shapes = fleet_shapes(spec, timeline);
    StackConfig {
        clients: spec.clients.iter().enumerate().map(|(i, c)| client(i, c, resolved)).collect(),
        backends: spec
            .backends
            .iter()
            .zip(&shapes)
            .enumerate()
            .flat_map(|(group, (b, shape))| backends(group, b, shape.as_ref().map(|s| s.slots)))
            .collect(),
        database: spec.database.as_ref().map(database),
        health: health(spec.health.as_ref()),
        fleets: fleets(spec, &shapes),
        admission_control: spec.balancer.admission_control.as_ref().map(AdmissionControlSpec::model),
        rate_limit: spec.balancer.rate_limit.as_ref().map(RateLimitSpec::model),
        topology: spec.balancer.topology(),
        ..StackConfig::default()
    }
}

/// One variant's timeline, resolved: see [`timeline`].
#[derive(Clone, Debug)]
pub(crate) struct VariantTimeline {
    /// `(timeline entry, delay after its time, action)`.
    actions: Vec<(usize, Duration, Action)>,
    /// The policies `SetPolicy` actions switch to, in order.
    later: Vec<PolicySpec>,
}

/// The timeline of one variant as the model's actions, each with the index of its timeline
/// entry (a `Crash` is two actions: `Fail`, and `Recover` after `restart_after`), with
/// backend names resolved to this variant's indices; the policies `SetPolicy` switches to
/// come in order. A timeline entry naming a backend the variant does not have is an error
/// at that entry.
pub(crate) fn timeline(
    spec: &VariantSpec,
    experiment: &Experiment,
    base_names: &[String],
) -> Result<VariantTimeline, Vec<Problem>> {
    let names = backend_names_in(&spec.stack, &experiment.timeline);
    let shapes = fleet_shapes(&spec.stack, &experiment.timeline);
    // Per backend group: its fleet group index and the version each timeline entry made.
    let mut fleet_index = Vec::new();
    let mut next = 0usize;
    for shape in &shapes {
        fleet_index.push(shape.as_ref().map(|_| {
            next += 1;
            next - 1
        }));
    }
    let version_of = |group: usize, entry: usize| -> usize {
        shapes[group]
            .as_ref()
            .and_then(|s| s.versions.iter().position(|(e, _)| *e == Some(entry)))
            .unwrap_or_default()
    };
    let mut problems = Vec::new();
    let mut actions = Vec::new();
    let mut later = Vec::new();
    for (i, entry) in experiment.timeline.iter().enumerate() {
        let mut index = |name: &str| {
            let found = names.iter().position(|n| n == name);
            if found.is_none() {
                let valid = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
                let within =
                    if names == base_names { String::new() } else { format!(" in variant {}", spec.label) };
                problems.push(Problem {
                    path: FieldPath::root().field("timeline").index(i).field("action"),
                    severity: Severity::Error,
                    message: format!("no backend is named {name:?}{within}; the backends are {valid}"),
                });
            }
            found.unwrap_or_default()
        };
        let mut push = |after: Duration, action| actions.push((i, after, action));
        match &entry.action {
            ActionSpec::SetWeight { backend, weight } => {
                push(Duration::ZERO, Action::SetWeight { backend: index(backend), weight: *weight })
            }
            ActionSpec::SetPolicy(policy) => {
                push(Duration::ZERO, Action::SetPolicy { policy: later.len() });
                later.push(policy.clone());
            }
            ActionSpec::Fail(b) => push(Duration::ZERO, Action::Fail { backend: index(b) }),
            ActionSpec::Recover(b) => push(Duration::ZERO, Action::Recover { backend: index(b) }),
            ActionSpec::Crash { backend, restart_after } => {
                let backend = index(backend);
                push(Duration::ZERO, Action::Fail { backend });
                push(restart_after.0, Action::Recover { backend });
            }
            ActionSpec::SlowDown { backend, factor } => {
                push(Duration::ZERO, Action::SlowDown { backend: index(backend), factor: *factor })
            }
            ActionSpec::Remove(b) => push(Duration::ZERO, Action::Remove { backend: index(b) }),
            ActionSpec::Add(b) => push(Duration::ZERO, Action::Add { backend: index(b) }),
            ActionSpec::Drain(b) => push(Duration::ZERO, Action::SetWeight { backend: index(b), weight: 0 }),
            ActionSpec::ScaleTraffic(factor) => {
                push(Duration::ZERO, Action::ScaleTraffic { factor: *factor })
            }
            ActionSpec::SetRate(rate_per_s) => {
                push(Duration::ZERO, Action::SetRate { rate_per_s: *rate_per_s })
            }
            ActionSpec::RollingDeploy { backend, max_surge, max_unavailable, .. } => {
                if let Some(g) = spec.stack.backends.iter().position(|b| b.name == *backend) {
                    let group = fleet_index[g].unwrap_or_default();
                    push(
                        Duration::ZERO,
                        Action::RollingDeploy {
                            group,
                            version: version_of(g, i),
                            max_surge: (*max_surge).into(),
                            max_unavailable: (*max_unavailable).into(),
                        },
                    );
                } else {
                    problems.push(no_group(i, backend, &spec.stack));
                }
            }
            ActionSpec::Canary { backend, weight_percent, .. } => {
                if let Some(g) = spec.stack.backends.iter().position(|b| b.name == *backend) {
                    let group = fleet_index[g].unwrap_or_default();
                    push(
                        Duration::ZERO,
                        Action::Canary { group, version: version_of(g, i), weight_percent: *weight_percent },
                    );
                } else {
                    problems.push(no_group(i, backend, &spec.stack));
                }
            }
            ActionSpec::FailZone(zone) | ActionSpec::RecoverZone(zone) => {
                let fail = matches!(entry.action, ActionSpec::FailZone(_));
                let in_zone = zone_members(&spec.stack, zone);
                if in_zone.is_empty() {
                    let zones = zone_names(&spec.stack);
                    let valid = if zones.is_empty() {
                        "no backend has a zone; give backends zone: \"name\"".to_owned()
                    } else {
                        format!(
                            "the zones are {}",
                            zones.iter().map(|z| format!("{z:?}")).collect::<Vec<_>>().join(", ")
                        )
                    };
                    problems.push(Problem {
                        path: FieldPath::root().field("timeline").index(i).field("action"),
                        severity: Severity::Error,
                        message: format!("no backend is in zone {zone:?}; {valid}"),
                    });
                }
                for backend in in_zone {
                    push(
                        Duration::ZERO,
                        if fail { Action::Fail { backend } } else { Action::Recover { backend } },
                    );
                }
            }
        }
    }
    if problems.is_empty() { Ok(VariantTimeline { actions, later }) } else { Err(problems) }
}

/// A deploy naming a backend group the stack does not have.
fn no_group(entry: usize, name: &str, stack: &StackSpec) -> Problem {
    let groups = stack.backends.iter().map(|b| format!("{:?}", b.name)).collect::<Vec<_>>().join(", ");
    Problem {
        path: FieldPath::root().field("timeline").index(entry).field("action").field("backend"),
        severity: Severity::Error,
        message: format!("no backend group is named {name:?}; the groups are {groups}"),
    }
}

/// The model's variant for a variant spec within `experiment`: its stack, its timeline (from
/// [`timeline`]) at the offsets validation resolved, and what to observe.
pub(crate) fn variant(
    spec: VariantSpec,
    VariantTimeline { actions, later }: VariantTimeline,
    experiment: &Experiment,
    resolved: &Resolved,
) -> Variant {
    let mut stack = stack(&spec.stack, resolved, &experiment.timeline);
    stack.timeline = actions
        .into_iter()
        .map(|(entry, after, action)| TimedAction { at: resolved.timeline[entry] + after, action })
        .collect();
    if let Some(observe) = &experiment.observe {
        stack.observe = Observe {
            window: Some(observe.window.0),
            slow: observe.slow.map(|s| s.0),
            incident: resolved.incident,
        };
    }
    Variant {
        policy: spec.stack.balancer.policy.clone(),
        stack,
        later_policies: later,
        label: spec.label,
        params: spec.params,
    }
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
    HealthConfig {
        active,
        outlier,
        panic_threshold: spec
            .panic_threshold_percent
            .map_or(HealthConfig::DEFAULT_PANIC_THRESHOLD, |p| p / 100.0),
    }
}

/// The model's arrival process for the `client`-th client's arrivals.
pub(crate) fn arrivals(client: usize, spec: &ArrivalsSpec, resolved: &Resolved) -> Arrivals {
    match spec {
        ArrivalsSpec::Poisson { rate_per_s } => Arrivals::Poisson { rate_per_s: *rate_per_s },
        ArrivalsSpec::Deterministic { rate_per_s } => Arrivals::Deterministic { rate_per_s: *rate_per_s },
        ArrivalsSpec::Schedule { points, linear } => Arrivals::Schedule {
            points: resolved.schedules[client]
                .iter()
                .zip(points)
                .map(|(&at, &(_, rate))| (at, rate))
                .collect(),
            linear: *linear,
        },
        ArrivalsSpec::Trace { .. } => {
            let trace = resolved.traces[client].clone().unwrap_or_default();
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
