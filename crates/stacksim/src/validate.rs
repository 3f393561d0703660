//! Checks an experiment beyond what its types enforce, and reports every problem at once.
//!
//! Ranges that the model knows (service times, arrival rates, retries, the database, health
//! checks) are checked by the model's own `problems()` methods, once, and placed here at the
//! field of the experiment file; this module checks what only the file has (names, replicas,
//! weights, sweeps, clock times) and resolves clock times to offsets for [`crate::build`].

use std::collections::BTreeSet;
use std::sync::Arc;

use stacksim_model::Invalid;

use crate::build::Resolved;
use stacksim_model::policy::catalog::{self, Context};

use crate::locate::FieldPath;
use crate::metric::readable_duration;
pub use crate::problem::{Problem, Severity};
use crate::registry::PolicyRegistry;
use crate::spec::{
    ArrivalsSpec, BackendSpec, ClientSpec, Experiment, PolicySpec, QueueSpec, ServiceSpec, StackSpec,
    SweepAxis,
};
use crate::trace::LoadedTrace;

struct Checker<'a> {
    registry: &'a PolicyRegistry,
    problems: Vec<Problem>,
    resolved: Resolved,
}

impl Checker<'_> {
    fn error(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem { path, severity: Severity::Error, message: message.into() });
    }

    fn warning(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem { path, severity: Severity::Warning, message: message.into() });
    }

    /// The model's problems with a value at `path`, each at its own field.
    fn model(&mut self, path: &FieldPath, problems: Vec<Invalid>) {
        for problem in problems {
            self.error(path.join(&problem.field), problem.message);
        }
    }

    fn positive(&mut self, path: FieldPath, value: f64, what: &str) {
        if !(value > 0.0 && value.is_finite()) {
            self.error(path, format!("{what} must be a positive, finite number, not {value}"));
        }
    }

    fn at_least_one(&mut self, path: FieldPath, value: u32, what: &str) {
        if value == 0 {
            self.error(path, format!("{what} must be at least 1, not 0"));
        }
    }

    fn policy(&mut self, path: FieldPath, policy: &PolicySpec, stack: &StackSpec) {
        if policy.routes_on_keys() && !stack.clients.iter().any(has_keys) {
            self.warning(
                path.clone(),
                format!("{policy} routes on request keys, but no client declares `users`: every request has a fresh key, so it spreads them like Random; add users: N to a client"),
            );
        }
        let backends = stack.backends.iter().map(|b| u64::from(b.replicas)).sum();
        for problem in self.registry.check(policy, &Context::new(backends)) {
            let severity = match problem.severity {
                catalog::Severity::Error => Severity::Error,
                catalog::Severity::Warning => Severity::Warning,
            };
            self.problems.push(Problem {
                path: path.append(&problem.at),
                severity,
                message: problem.message,
            });
        }
    }

    fn users(&mut self, path: FieldPath, client: &ClientSpec) {
        match crate::build::users(client) {
            Some(users) => self.model(&path, users.problems()),
            None if client.user_skew.is_some() => self
                .error(path.field("user_skew"), "user_skew shapes a user population: give users: N as well"),
            None => {}
        }
    }

    fn service(&mut self, path: FieldPath, service: &ServiceSpec) {
        self.model(&path, crate::build::service(service).problems());
    }

    fn backend(&mut self, path: FieldPath, backend: &BackendSpec) {
        self.at_least_one(path.field("replicas"), backend.replicas, "replicas");
        self.model(&path, stacksim_model::check::workers(backend.workers));
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
        self.fleet(path, backend);
    }

    /// A group's fleet dynamics: the autoscaler's ranges, and what does not combine with it.
    fn fleet(&mut self, path: FieldPath, backend: &BackendSpec) {
        if let Some(autoscale) = &backend.autoscale {
            self.model(&path.field("autoscale"), crate::build::hpa(autoscale).problems());
        }
        if !crate::build::is_dynamic(backend) {
            return;
        }
        let max = stacksim_model::fleet::MAX_REPLICAS;
        if backend.replicas > max {
            self.error(
                path.field("replicas"),
                format!("a group with fleet dynamics has at most {max} replicas"),
            );
        }
        if backend.standby {
            self.error(
                path.field("standby"),
                "a group with fleet dynamics starts with its replicas ready: drop standby",
            );
        }
        if backend.weights.is_some() {
            self.error(
                path.field("weights"),
                "a group with fleet dynamics changes size: give one `weight` for every pod, not `weights`",
            );
        }
    }
}

impl Checker<'_> {
    fn axis(
        &mut self,
        path: FieldPath,
        axis: &SweepAxis,
        stack: &StackSpec,
        timeline: &[crate::spec::TimelineEntry],
    ) {
        let groups = &stack.backends;
        let target = |c: &mut Self, backend: &Option<String>| {
            if let Some(name) = backend
                && !groups.iter().any(|b| b.name == *name)
            {
                let names: Vec<_> = groups.iter().map(|b| format!("{:?}", b.name)).collect();
                c.error(
                    path.field("backend"),
                    format!("no backend group is named {name:?}; the groups are {}", names.join(", ")),
                );
            }
        };
        let empty = |c: &mut Self, len: usize, example: &str| {
            if len == 0 {
                c.error(path.field("values"), format!("give at least one value, like {example}"));
            }
        };
        match axis {
            SweepAxis::Policy(policies) => {
                if policies.is_empty() {
                    self.error(path, "a Policy sweep needs at least one policy, like Policy([RoundRobin, LeastConnections])");
                } else {
                    for (j, policy) in policies.iter().enumerate() {
                        self.policy(path.index(0).index(j), policy, stack);
                    }
                }
            }
            SweepAxis::Rate { values, from, to, step } => match (values, from, to, step) {
                (Some(values), None, None, None) => {
                    empty(self, values.len(), "Rate(values: [100.0, 200.0])");
                    for (j, rate) in values.iter().enumerate() {
                        self.positive(path.field("values").index(j), *rate, "a rate (requests per second)");
                    }
                }
                (None, Some(from), Some(to), Some(step)) => {
                    self.positive(path.field("from"), *from, "from (requests per second)");
                    self.positive(path.field("step"), *step, "step (requests per second)");
                    if to < from {
                        self.error(path.field("to"), format!("to ({to}) must not be below from ({from})"));
                    } else if *step > 0.0 && (to - from) / step > 10_000.0 {
                        self.error(path.field("step"), "the range has more than 10 000 steps; use a larger step");
                    }
                }
                _ => self.error(
                    path,
                    "give either values, like Rate(values: [100.0, 200.0]), or a range, like Rate(from: 100.0, to: 400.0, step: 50.0)",
                ),
            },
            SweepAxis::Replicas { backend, values } | SweepAxis::Workers { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [2, 4, 8]");
                for (j, &n) in values.iter().enumerate() {
                    self.at_least_one(path.field("values").index(j), n, "each value");
                }
                // A fleet group's pods are slots built for at most this many replicas.
                let max = stacksim_model::fleet::MAX_REPLICAS;
                if matches!(axis, SweepAxis::Replicas { .. })
                    && groups.iter().any(|g| {
                        backend.as_ref().is_none_or(|name| *name == g.name) && crate::build::has_fleet(g, timeline)
                    })
                {
                    for (j, &n) in values.iter().enumerate() {
                        if n > max {
                            self.error(
                                path.field("values").index(j),
                                format!("a group with fleet dynamics or deploys has at most {max} replicas, not {n}"),
                            );
                        }
                    }
                }
            }
            SweepAxis::Queue { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [Bounded(10), Bounded(100)]");
            }
            SweepAxis::Weights { backend, values } => {
                target(self, backend);
                if backend.is_none() && groups.len() > 1 {
                    self.error(path.field("backend"), "with several backend groups, name the one whose weights to sweep");
                }
                empty(self, values.len(), "values: [[1, 1, 1], [5, 1, 1]]");
                for (j, weights) in values.iter().enumerate() {
                    if weights.is_empty() {
                        self.error(path.field("values").index(j), "a weight list needs one weight per replica");
                    }
                }
            }
            SweepAxis::Protection(values) => {
                if values.is_empty() {
                    self.error(path.clone(), "a Protection sweep needs at least one value, like Protection([(name: \"none\")])");
                }
                for (j, protection) in values.iter().enumerate() {
                    self.model(&path.index(0).index(j), protection.problems());
                }
            }
            SweepAxis::Target { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [0.5, 0.7, 0.9]");
                let scaled = autoscaled(groups, backend);
                if scaled.is_empty() {
                    self.error(path.clone(), "no autoscaled group to sweep: give a group autoscale: Hpa(...)");
                }
                for (j, &value) in values.iter().enumerate() {
                    for group in &scaled {
                        let mut hpa = crate::build::hpa(group.autoscale.as_ref().expect("autoscaled"));
                        hpa.target = value;
                        if let Some(problem) = hpa.problems().into_iter().find(|p| p.field == "target") {
                            self.error(path.field("values").index(j), problem.message);
                            break;
                        }
                    }
                }
            }
            SweepAxis::MinReplicas { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [2, 4, 8]");
                let scaled = autoscaled(groups, backend);
                if scaled.is_empty() {
                    self.error(path.clone(), "no autoscaled group to sweep: give a group autoscale: Hpa(...)");
                }
                for (j, &n) in values.iter().enumerate() {
                    self.at_least_one(path.field("values").index(j), n, "each value");
                    for group in &scaled {
                        if let Some(crate::spec::AutoscaleSpec::Hpa { max, .. }) = &group.autoscale
                            && n > *max
                        {
                            self.error(
                                path.field("values").index(j),
                                format!("min {n} is above the max ({max}) of {:?}", group.name),
                            );
                        }
                    }
                }
            }
            SweepAxis::Instances(values) => {
                if values.is_empty() {
                    self.error(path.clone(), "an Instances sweep needs at least one count, like Instances([1, 4, 16])");
                }
                for (j, &n) in values.iter().enumerate() {
                    let topology = stacksim_model::Topology { instances: n, ..stacksim_model::Topology::default() };
                    for problem in topology.problems() {
                        self.error(path.index(0).index(j), problem.message);
                    }
                }
            }
            SweepAxis::Connections(values) => {
                if values.is_empty() {
                    self.error(path.clone(), "a Connections sweep needs at least one mode, like Connections([PerRequest, Http2(per_instance: 1)])");
                }
                for (j, connections) in values.iter().enumerate() {
                    let mut balancer = stack.balancer.clone();
                    balancer.connections = *connections;
                    for problem in balancer.topology().problems() {
                        if let Some(field) = problem.field.strip_prefix("connections.") {
                            self.error(path.index(0).index(j).field(field), problem.message);
                        }
                    }
                }
            }
            SweepAxis::Provision { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [\"45s\", \"3m\"]");
            }
            SweepAxis::ZoneAware(values) => {
                if values.is_empty() {
                    self.error(path, "a ZoneAware sweep needs at least one value, like ZoneAware([false, true])");
                }
            }
            SweepAxis::ServiceScale { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [0.8, 1.0, 1.2]");
                for (j, factor) in values.iter().enumerate() {
                    self.positive(path.field("values").index(j), *factor, "a service-time factor");
                }
            }
            SweepAxis::Discipline { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [Fifo, CoDel()]");
                for (j, discipline) in values.iter().enumerate() {
                    self.model(&path.field("values").index(j), discipline.to_model().problems());
                }
            }
            SweepAxis::Shed { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [None, Some((queue_above: 20, priority_below: High))]");
                if values.iter().any(Option::is_some) {
                    self.classes_for_shedding(path.clone(), stack);
                }
            }
            SweepAxis::RetryThrottling { values } => {
                empty(self, values.len(), "values: [None, Some((max_tokens: 10, token_ratio: 0.1))]");
                for (j, throttling) in values.iter().enumerate() {
                    if let Some(t) = throttling {
                        let problems = crate::build::retry_throttling(*t).problems();
                        self.model(&path.field("values").index(j).index(0), problems);
                    }
                }
            }
        }
    }
}

/// The autoscaled groups an axis naming `backend` (or every group) applies to.
fn autoscaled<'s>(groups: &'s [BackendSpec], backend: &Option<String>) -> Vec<&'s BackendSpec> {
    groups
        .iter()
        .filter(|b| b.autoscale.is_some() && backend.as_ref().is_none_or(|name| *name == b.name))
        .collect()
}

impl Checker<'_> {
    fn duration_positive(&mut self, path: FieldPath, d: Option<crate::spec::HumanDuration>, what: &str) {
        if d.is_some_and(|d| d.0.is_zero()) {
            self.error(path, format!("{what} must be longer than zero"));
        }
    }

    /// The `client`-th client's arrivals; resolves a schedule's clock times.
    fn arrivals(&mut self, client: usize, path: FieldPath, arrivals: &ArrivalsSpec, experiment: &Experiment) {
        let mut offsets = Vec::new();
        if let ArrivalsSpec::Schedule { points, .. } = arrivals {
            for (j, (at, _)) in points.iter().enumerate() {
                match at.offset(experiment.start) {
                    Ok(t) => offsets.push(t),
                    Err(why) => self.error(path.field("points").index(j), why.to_string()),
                }
            }
            if offsets.len() < points.len() {
                return;
            }
        }
        self.resolved.schedules[client] = offsets;
        match arrivals {
            ArrivalsSpec::Trace { file, .. } => {
                // Where reading it failed, that error is reported where it was read.
                let Some(trace) = self.resolved.traces[client].clone() else { return };
                for problem in crate::build::arrivals(client, arrivals, &self.resolved).problems() {
                    let message = if trace.times.is_empty() {
                        format!("the trace {file:?} has no arrivals")
                    } else {
                        problem.message
                    };
                    self.error(path.field("file"), message);
                }
            }
            _ => self.model(&path, crate::build::arrivals(client, arrivals, &self.resolved).problems()),
        }
    }

    fn client_behaviour(&mut self, path: &FieldPath, client: &crate::spec::ClientSpec) {
        self.model(path, stacksim_model::check::timeout(client.timeout.map(|t| t.0)));
        let classes: Vec<_> = client.classes.iter().map(crate::spec::ClassSpec::model).collect();
        self.model(path, stacksim_model::check::classes(&classes));
        self.client_hedging(path, client);
        if let Some(retry) = &client.retry {
            let retry_path = path.field("retry");
            self.model(&retry_path, crate::build::retry(retry).problems());
            if retry.budget_ratio.is_none() && retry.budget_min_per_s.is_some() {
                self.warning(
                    retry_path.field("budget_min_per_s"),
                    "budget_min_per_s has no effect without a budget: give budget_ratio as well, like 0.2",
                );
            }
        }
        if let Some(breaker) = &client.breaker {
            self.model(&path.field("breaker"), breaker.model().problems());
        }
        if let Some(throttle) = &client.throttle {
            self.model(&path.field("throttle"), throttle.model().problems());
        }
    }

    /// The balancer tier's ranges, and the audit of its failure modes (issue 11): a policy that
    /// needs global load information behind many instances, subsets that leave backends out or
    /// load them unevenly, long-lived connections across a scale-out, zone-aware routing with
    /// no client zones.
    fn topology(&mut self, path: &FieldPath, experiment: &Experiment, stack: &StackSpec) {
        let bp = path.field("balancer");
        let topology = stack.balancer.topology();
        self.model(&bp, topology.problems());
        for (i, b) in stack.backends.iter().enumerate() {
            if let Some(p) = b.priority
                && p > stacksim_model::topology::MAX_PRIORITY
            {
                self.error(
                    path.field("backends").index(i).field("priority"),
                    format!("a priority level from 0 to {}, not {p}", stacksim_model::topology::MAX_PRIORITY),
                );
            }
        }
        let b = &stack.balancer;
        if b.instances > 1 && b.policy.info().is_some_and(|info| !info.splits_by_weight) {
            self.warning(
                bp.field("instances"),
                format!(
                    "{} compares backends' load, but each of the {} instances sees only the requests it sent itself (about 1/{} of them): its picks drift toward random (envoy issues 35935, 31643); fewer instances, or a policy that needs no load information, behave as configured",
                    b.policy, b.instances, b.instances
                ),
            );
        }
        let fleet = stack.backends.iter().filter(|b| !b.standby).map(|b| b.replicas as usize).sum::<usize>();
        if let Some(size) = match b.subset {
            crate::spec::SubsetSpec::All => None,
            crate::spec::SubsetSpec::Random { size } | crate::spec::SubsetSpec::Deterministic { size } => {
                Some(size)
            }
        } && size >= 1
            && fleet > 0
            && b.instances <= stacksim_model::topology::MAX_INSTANCES
        {
            let counts =
                stacksim_model::topology::subset_counts(topology.subset, fleet, b.instances, experiment.seed);
            let min = counts.iter().copied().min().unwrap_or(0);
            let max = counts.iter().copied().max().unwrap_or(0);
            let mean = counts.iter().map(|&c| f64::from(c)).sum::<f64>() / counts.len() as f64;
            if min == 0 {
                let idle = counts.iter().filter(|&&c| c == 0).count();
                self.warning(
                    bp.field("subset"),
                    format!(
                        "{idle} of {fleet} backends are in no instance's subset ({} instances × {size} backends each): they get no traffic; use larger subsets or more instances",
                        b.instances
                    ),
                );
            } else if f64::from(max) > 1.25 * mean || f64::from(min) < 0.75 * mean {
                self.warning(
                    bp.field("subset"),
                    format!(
                        "these subsets give backends {min} to {max} connections ({:.0}% to {:.0}% of the mean {mean:.1}): the busiest gets {:.0}% more traffic than the least; Deterministic(size: {size}) gives equal counts (SRE book, ch. 20)",
                        100.0 * f64::from(min) / mean,
                        100.0 * f64::from(max) / mean,
                        100.0 * (f64::from(max) / f64::from(min) - 1.0)
                    ),
                );
            }
        }
        let long_lived = match b.connections {
            crate::spec::ConnectionsSpec::PerRequest => None,
            crate::spec::ConnectionsSpec::KeepAlive { max_age, .. } => {
                max_age.is_none().then_some("KeepAlive")
            }
            crate::spec::ConnectionsSpec::Http2 { max_age, .. } => max_age.is_none().then_some("Http2"),
        };
        let scales_out =
            experiment.timeline.iter().any(|t| matches!(t.action, crate::spec::ActionSpec::Add(_)));
        if let Some(kind) = long_lived
            && scales_out
        {
            self.warning(
                bp.field("connections"),
                format!(
                    "{kind} connections without max_age are never recycled, so the backends the timeline adds get only requests from new connections: a scale-out does not relieve the others (kubernetes issue 38456); set max_age, like \"5m\" (gRPC A9)"
                ),
            );
        }
        if b.zone_aware.is_some() {
            if !stack.clients.iter().any(|c| c.zone.is_some()) {
                self.warning(
                    bp.field("zone_aware"),
                    "zone-aware routing needs to know where requests come from: no client has a zone, so every pick ignores zones; give clients zone: \"name\"",
                );
            } else if !stack.backends.iter().any(|b| b.zone.is_some()) {
                self.warning(
                    bp.field("zone_aware"),
                    "no backend has a zone: zone-aware routing has nothing to prefer",
                );
            }
        }
    }

    /// Priority shedding at `path` in a stack where no client declares classes: every request
    /// is `Normal`, which is worth a warning.
    fn classes_for_shedding(&mut self, path: FieldPath, stack: &StackSpec) {
        if stack.clients.iter().all(|c| c.classes.is_empty()) {
            self.warning(
                path,
                "no client declares request classes, so every request is Normal and is shed alike once the queue passes the mark: give clients classes: [(name: ..., weight: ..., priority: ...)]",
            );
        }
    }

    /// Hedging and retry throttling (issue 12): ranges, hedging with retries, and throttling
    /// that has nothing to throttle.
    fn client_hedging(&mut self, path: &FieldPath, client: &crate::spec::ClientSpec) {
        if let Some(hedge) = client.hedge {
            let hedge_path = path.field("hedge");
            self.model(&hedge_path, crate::build::hedge(hedge).problems());
            if client.retry.is_some() {
                self.error(
                    hedge_path,
                    "a client either retries or hedges, as gRPC's service config allows only one of \
                     retryPolicy and hedgingPolicy: remove retry or hedge",
                );
            }
        }
        if let Some(retry) = client.retry.filter(|r| r.hedge_on_per_try_timeout == Some(true)) {
            let at = path.field("retry").field("hedge_on_per_try_timeout");
            let most = stacksim_model::HedgePolicy::MAX_ATTEMPTS;
            if client.timeout.is_none() {
                self.error(
                    at,
                    "hedging on the per-try timeout needs the client's timeout (the per-try timeout, \
                     like timeout: \"200ms\")",
                );
            } else if retry.max_attempts > most {
                self.error(
                    at,
                    format!(
                        "a request hedged on its per-try timeout keeps at most {most} attempts in flight: \
                         max_attempts must be at most {most}, not {}",
                        retry.max_attempts
                    ),
                );
            }
        }
        if let Some(throttling) = client.retry_throttling {
            let throttling_path = path.field("retry_throttling");
            self.model(&throttling_path, crate::build::retry_throttling(throttling).problems());
            if client.retry.is_none() && client.hedge.is_none() {
                self.warning(
                    throttling_path,
                    "retry_throttling has no effect on a client that neither retries nor hedges: \
                     give retry or hedge as well",
                );
            }
        }
    }

    fn stack_extras(&mut self, path: &FieldPath, stack: &crate::spec::StackSpec) {
        for (i, b) in stack.backends.iter().enumerate() {
            let bp = path.field("backends").index(i);
            self.model(&bp, stacksim_model::check::queue_timeout(b.queue_timeout.map(|t| t.0)));
            if let Some(d) = b.degradation {
                let model = stacksim_model::Degradation { knee: d.knee, slope: d.slope };
                self.model(&bp.field("degradation"), model.problems());
            }
            if let Some(discipline) = b.discipline {
                self.model(&bp.field("discipline"), discipline.to_model().problems());
            }
            if let Some(limits) = &b.circuit_breakers {
                self.model(&bp.field("circuit_breakers"), limits.model().problems());
            }
            if let Some(limit) = &b.rate_limit {
                self.model(&bp.field("rate_limit"), limit.model().problems());
            }
            if let Some(slow_start) = &b.slow_start {
                self.model(&bp.field("slow_start"), slow_start.model().problems());
            }
            if let Some(warmup) = &b.warmup {
                self.model(&bp.field("warmup"), warmup.model().problems());
            }
            if let Some(concurrency) = &b.concurrency {
                self.model(&bp.field("concurrency"), concurrency.problems());
            }
            if let Some(shed) = b.shed {
                if shed.priority_below == crate::spec::PrioritySpec::Low {
                    self.warning(
                        bp.field("shed").field("priority_below"),
                        "no priority is below Low, so this sheds nothing: give Normal, High or Critical",
                    );
                } else {
                    self.classes_for_shedding(bp.field("shed"), stack);
                }
            }
        }
        let classes: usize = stack.clients.iter().map(|c| c.classes.len().max(1)).sum();
        let max = stacksim_model::classes::MAX_CLASSES;
        let shedding = stack.backends.iter().any(|b| b.shed.is_some());
        if classes > max && (shedding || stack.clients.iter().any(|c| !c.classes.is_empty())) {
            self.error(
                path.field("clients"),
                format!(
                    "a stack has at most {max} request classes, counting one for each client without classes; this one has {classes}"
                ),
            );
        }
        let balancer = path.field("balancer");
        if let Some(admission) = &stack.balancer.admission_control {
            self.model(&balancer.field("admission_control"), admission.model().problems());
        }
        if let Some(limit) = &stack.balancer.rate_limit {
            self.model(&balancer.field("rate_limit"), limit.model().problems());
        }
        if stack.backends.iter().all(|b| b.standby) && !stack.backends.is_empty() {
            self.warning(
                path.field("backends"),
                "every backend is on standby: nothing serves until an Add action",
            );
        }
        if let Some(db) = &stack.database {
            self.model(&path.field("database"), crate::build::database(db).problems());
        }
        if let Some(health) = &stack.health {
            let hp = path.field("health");
            let model = crate::build::health(Some(health));
            if let (Some(check), Some(spec)) = (model.active, &health.check) {
                // An unset timeout is the interval: only the interval's problem is reported.
                let problems =
                    check.problems().into_iter().filter(|p| p.field != "timeout" || spec.timeout.is_some());
                self.model(&hp.field("check"), problems.collect());
            }
            if let (Some(outlier), Some(spec)) = (model.outlier, &health.outlier) {
                let op = hp.field("outlier");
                // The fraction is checked as the percentage the file writes, below.
                let problems = outlier.problems().into_iter().filter(|p| p.field != "max_ejection_fraction");
                self.model(&op, problems.collect());
                if let Some(p) = spec.max_ejection_percent
                    && !(0.0..=100.0).contains(&p)
                {
                    self.error(
                        op.field("max_ejection_percent"),
                        format!("a percentage between 0 and 100, not {p}"),
                    );
                }
            }
            if let Some(p) = health.panic_threshold_percent
                && !(0.0..=100.0).contains(&p)
            {
                self.error(
                    hp.field("panic_threshold_percent"),
                    format!("a percentage between 0 and 100, not {p}"),
                );
            }
        }
    }

    /// The timeline, observation and alerts.
    /// The timeline, observation and alerts; resolves their clock times. Which backend a
    /// timeline entry names is resolved per variant, in [`crate::build::variant`].
    fn replay(&mut self, experiment: &Experiment, stack: &StackSpec) {
        let root = FieldPath::root();
        for (i, entry) in experiment.timeline.iter().enumerate() {
            let path = root.field("timeline").index(i);
            match entry.at.offset(experiment.start) {
                Err(why) => self.error(path.field("at"), why.to_string()),
                Ok(at) => {
                    if at >= experiment.duration.0 {
                        self.warning(
                            path.field("at"),
                            format!(
                                "{} is after the run ends ({} after the start): it never happens",
                                entry.at,
                                readable_duration(experiment.duration.0)
                            ),
                        );
                    }
                    self.resolved.timeline[i] = at;
                }
            }
            use crate::spec::ActionSpec as A;
            match &entry.action {
                A::SetPolicy(policy) => self.policy(path.field("action").index(0), policy, stack),
                A::ScaleTraffic(f) | A::SetRate(f) => {
                    self.positive(path.field("action").index(0), *f, "the factor or rate")
                }
                _ => {}
            }
            if let A::RollingDeploy { backend, .. } | A::Canary { backend, .. } = &entry.action
                && let Some(group) = stack.backends.iter().find(|b| b.name == *backend)
                && !crate::build::is_dynamic(group)
                && group.replicas > stacksim_model::fleet::MAX_REPLICAS
            {
                // A deployed group's pods are slots built for at most this many replicas (a
                // group with fleet dynamics is told so at its `replicas`).
                self.error(
                    path.field("action").field("backend"),
                    format!(
                        "a group that is deployed to has at most {} replicas; {backend:?} has {}",
                        stacksim_model::fleet::MAX_REPLICAS,
                        group.replicas
                    ),
                );
            }
            match &entry.action {
                A::RollingDeploy { max_surge, max_unavailable, service, .. } => {
                    let ap = path.field("action");
                    if let crate::spec::AmountSpec::Percent(p) = max_unavailable
                        && *p > 100
                    {
                        self.error(
                            ap.field("max_unavailable"),
                            format!("a percentage of at most 100%, not {p}%"),
                        );
                    }
                    let zero = |a: &crate::spec::AmountSpec| {
                        matches!(a, crate::spec::AmountSpec::Count(0) | crate::spec::AmountSpec::Percent(0))
                    };
                    if zero(max_surge) && zero(max_unavailable) {
                        self.error(
                            ap.field("max_unavailable"),
                            "max_surge and max_unavailable cannot both be 0 (the deploy could never move): give one of them, like max_surge: 1",
                        );
                    }
                    if let Some(service) = service {
                        self.service(ap.field("service"), service);
                    }
                }
                A::Canary { weight_percent, service, .. } => {
                    let ap = path.field("action");
                    if !(1..=99).contains(weight_percent) {
                        self.error(
                            ap.field("weight_percent"),
                            format!(
                                "a canary takes between 1 and 99 percent of the traffic, not {weight_percent}"
                            ),
                        );
                    }
                    self.service(ap.field("service"), service);
                }
                _ => {}
            }
            if let A::SlowDown { factor, .. } = &entry.action {
                self.positive(path.field("action").field("factor"), *factor, "the slow-down factor");
            }
        }
        if let Some(observe) = &experiment.observe {
            let op = root.field("observe");
            self.duration_positive(op.field("window"), Some(observe.window), "the window");
            if observe.window.0 > experiment.duration.0 {
                self.error(op.field("window"), "the window is longer than the run");
            }
            if let Some((from, to)) = observe.incident {
                match (from.offset(experiment.start), to.offset(experiment.start)) {
                    (Err(why), _) | (_, Err(why)) => self.error(op.field("incident"), why.to_string()),
                    (Ok(a), Ok(b)) if b <= a => {
                        self.error(op.field("incident"), "the incident must end after it starts")
                    }
                    (Ok(a), Ok(b)) => self.resolved.incident = Some((a, b)),
                }
            }
        }
        let mut alert_names = BTreeSet::new();
        for (i, alert) in experiment.alerts.iter().enumerate() {
            let path = root.field("alerts").index(i);
            if experiment.observe.is_none() {
                self.error(
                    path.clone(),
                    "alerts are evaluated on the time series: add observe: (window: \"1m\")",
                );
            }
            if alert.name.is_empty()
                || !alert.name.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_' || ch == '-')
            {
                self.error(path.field("name"), "a name of letters, digits, '_' or '-', like \"errors_5xx\"");
            }
            if !alert_names.insert(alert.name.as_str()) {
                self.error(path.field("name"), format!("the alert name {:?} is used twice", alert.name));
            }
            if !alert.above.is_finite() {
                self.error(path.field("above"), "a finite threshold");
            }
        }
    }
}

/// Every problem with `experiment`, whose stack is `stack` and whose clients' traces have
/// been read (`None` where a client has none, or reading it failed), errors and warnings; and
/// what was resolved on the way (clock times as offsets), for [`crate::build`].
pub(crate) fn check(
    experiment: &Experiment,
    stack: &StackSpec,
    traces: Vec<Option<Arc<LoadedTrace>>>,
    registry: &PolicyRegistry,
) -> (Vec<Problem>, Resolved) {
    let resolved = Resolved {
        schedules: vec![Vec::new(); stack.clients.len()],
        traces,
        timeline: vec![std::time::Duration::ZERO; experiment.timeline.len()],
        incident: None,
    };
    let mut c = Checker { registry, problems: Vec::new(), resolved };
    let root = FieldPath::root();
    if experiment.duration.0.is_zero() {
        c.error(root.field("duration"), "the duration must be longer than zero, like \"1h\"");
    }
    if experiment.warmup.fixed() >= experiment.duration.0 && !experiment.duration.0.is_zero() {
        c.error(
            root.field("warmup"),
            format!(
                "the warm-up ({}) must be shorter than the duration ({}), or nothing is measured",
                readable_duration(experiment.warmup.fixed()),
                readable_duration(experiment.duration.0)
            ),
        );
    }
    c.at_least_one(root.field("replications"), experiment.replications, "replications");

    let stack_path = root.field("stack");
    if stack.clients.is_empty() {
        c.error(
            stack_path.field("clients"),
            "at least one client is needed, like (name: \"users\", arrivals: Poisson(rate_per_s: 100.0))",
        );
    }
    let mut client_names = BTreeSet::new();
    for (i, client) in stack.clients.iter().enumerate() {
        let path = stack_path.field("clients").index(i);
        if !client_names.insert(client.name.as_str()) {
            c.error(
                path.field("name"),
                format!("the client name {:?} is used twice; names must be unique", client.name),
            );
        }
        c.arrivals(i, path.field("arrivals"), &client.arrivals, experiment);
        c.client_behaviour(&path, client);
        c.users(path, client);
    }
    c.policy(stack_path.field("balancer").field("policy"), &stack.balancer.policy, stack);
    if stack.backends.is_empty() {
        c.error(stack_path.field("backends"), "at least one backend is needed, like (name: \"app\", workers: 8, queue: Bounded(100), service: Exponential(mean: \"100ms\"))");
    }
    let mut backend_names = BTreeSet::new();
    for (i, backend) in stack.backends.iter().enumerate() {
        let path = stack_path.field("backends").index(i);
        if !backend_names.insert(backend.name.as_str()) {
            c.error(
                path.field("name"),
                format!("the backend name {:?} is used twice; names must be unique", backend.name),
            );
        }
        c.backend(path, backend);
    }
    for (i, axis) in experiment.sweep.iter().enumerate() {
        c.axis(root.field("sweep").index(i), axis, stack, &experiment.timeline);
    }
    c.stack_extras(&stack_path, stack);
    c.topology(&stack_path, experiment, stack);
    c.replay(experiment, stack);
    if let Some(label) = &experiment.baseline {
        let labels: Vec<String> =
            crate::build::variant_specs(experiment, stack).into_iter().map(|v| v.label).collect();
        if !labels.contains(label) {
            let valid = labels.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ");
            c.error(
                root.field("baseline"),
                format!("no variant is labelled {label:?}; the variants are {valid}"),
            );
        }
    }
    if c.problems.iter().all(|p| p.severity == Severity::Warning) {
        capacity_warnings(&mut c, experiment, stack);
    }
    (c.problems, c.resolved)
}

/// The mean `service_scale` of a client's requests, by its classes' weights (1 without
/// classes).
fn mean_service_scale(client: &ClientSpec) -> f64 {
    let total: f64 = client.classes.iter().map(|c| c.weight).sum();
    if client.classes.is_empty() || !(total > 0.0 && total.is_finite()) {
        return 1.0;
    }
    let scaled: f64 = client.classes.iter().map(|c| c.weight * c.service_scale.unwrap_or(1.0)).sum();
    let mean = scaled / total;
    if mean.is_finite() && mean > 0.0 { mean } else { 1.0 }
}

/// Whether a client's requests carry keys that repeat: it declares users, is a closed loop
/// (its users are its keys), or replays a trace with a key column.
fn has_keys(client: &ClientSpec) -> bool {
    client.users.is_some()
        || matches!(
            client.arrivals,
            ArrivalsSpec::Closed { .. } | ArrivalsSpec::Trace { key_column: Some(_), .. }
        )
}

/// The configuration audit the 2024-03-08 postmortem asked for: at the stated traffic, is any
/// backend offered more than it can serve? For policies that split traffic by weight (round
/// robin, random, hashing), a backend's share is its weight over the total; a least-loaded
/// policy adapts, so only the total is checked. Unbounded queues behind too much load are
/// warned about too.
fn capacity_warnings(c: &mut Checker<'_>, experiment: &Experiment, stack: &StackSpec) {
    // In requests of the backends' own service time: a class with `service_scale` counts as
    // that many (the mean scale of a client's mix multiplies its rate).
    let offered: f64 = stack
        .clients
        .iter()
        .enumerate()
        .map(|(i, client)| {
            crate::build::peak_rate(i, &client.arrivals, &c.resolved) * mean_service_scale(client)
        })
        .sum();
    let capacity_of =
        |b: &crate::spec::BackendSpec| f64::from(b.workers) / crate::build::service(&b.service).mean_secs();
    // An autoscaled group can grow to its `max`.
    let most = |b: &crate::spec::BackendSpec| match &b.autoscale {
        Some(crate::spec::AutoscaleSpec::Hpa { max, .. }) => b.replicas.max(*max),
        None => b.replicas,
    };
    let capacity: f64 = stack.backends.iter().map(|b| f64::from(most(b)) * capacity_of(b)).sum();
    let backends_path = FieldPath::root().field("stack").field("backends");
    if offered >= capacity {
        for (i, backend) in stack.backends.iter().enumerate() {
            // A queue timeout bounds a queue as surely as a limit does, and so do circuit
            // breakers (at most max_requests outstanding).
            if backend.queue == QueueSpec::Unbounded
                && backend.queue_timeout.is_none()
                && backend.circuit_breakers.is_none()
            {
                c.warning(
                    backends_path.index(i).field("queue"),
                    format!(
                        "offered load {offered:.1}/s is at or above total capacity {capacity:.1}/s: this unbounded queue can grow without limit; use Bounded(n)"
                    ),
                );
            }
        }
    }
    // A zone's loss: what the other zones can serve against the whole offered load.
    for zone in crate::build::zone_names(stack) {
        let left: f64 = stack
            .backends
            .iter()
            .filter(|b| b.zone.as_deref() != Some(zone.as_str()))
            .map(|b| f64::from(b.replicas) * capacity_of(b))
            .sum();
        if left < offered
            && let Some(first) = stack.backends.iter().position(|b| b.zone.as_deref() == Some(zone.as_str()))
        {
            c.warning(
                backends_path.index(first).field("zone"),
                format!(
                    "losing zone {zone:?} leaves {left:.1}/s of capacity for {offered:.1}/s offered: the other zones will be overwhelmed; add capacity outside it"
                ),
            );
        }
    }
    // Fleet groups change size and weights as they run: no static split to audit.
    if !stack.balancer.policy.splits_by_weight()
        || stack.backends.iter().any(crate::build::is_dynamic)
        || experiment.timeline.iter().any(|e| {
            matches!(
                e.action,
                crate::spec::ActionSpec::RollingDeploy { .. } | crate::spec::ActionSpec::Canary { .. }
            )
        })
    {
        return;
    }
    // Per backend: its group, its configured weight, its capacity.
    let configured: Vec<(usize, u32, f64)> = stack
        .backends
        .iter()
        .enumerate()
        .flat_map(|(i, b)| {
            (0..b.replicas as usize).map(move |r| {
                let w = b.weights.as_ref().and_then(|w| w.get(r).copied()).or(b.weight).unwrap_or(1);
                (i, w, capacity_of(b))
            })
        })
        .collect();
    // The weights in force: standby backends start with none.
    let mut weights: Vec<(usize, u32, f64)> = configured
        .iter()
        .map(|&(i, w, capacity)| (i, if stack.backends[i].standby { 0 } else { w }, capacity))
        .collect();
    let names = crate::build::backend_names(stack);
    let overloaded = |weights: &[(usize, u32, f64)]| -> Vec<(usize, String)> {
        let total: u32 = weights.iter().map(|w| w.1).sum();
        if total == 0 {
            return Vec::new();
        }
        weights
            .iter()
            .zip(&names)
            .filter_map(|(&(group, weight, capacity), name)| {
                let load = offered * f64::from(weight) / f64::from(total);
                (load >= capacity).then(|| {
                    let share = 100.0 * f64::from(weight) / f64::from(total);
                    (group, format!(
                        "{name} gets {share:.0}% of the traffic by weight ({load:.1}/s at {offered:.1}/s offered) but can serve {capacity:.1}/s: it will be overwhelmed; lower its weight or add capacity"
                    ))
                })
            })
            .collect()
    };
    for (group, message) in overloaded(&weights) {
        c.warning(backends_path.index(group), message);
    }
    // The same audit after every weight change the timeline makes.
    let mut changes: Vec<(std::time::Duration, usize)> =
        c.resolved.timeline.iter().enumerate().map(|(i, &at)| (at, i)).collect();
    changes.sort();
    for (_, i) in changes {
        let entry = &experiment.timeline[i];
        use crate::spec::ActionSpec as A;
        let (name, weight) = match &entry.action {
            A::SetWeight { backend, weight } => (backend, Some(*weight)),
            A::Drain(backend) | A::Remove(backend) => (backend, Some(0)),
            A::Add(backend) => (backend, None),
            _ => continue,
        };
        let Some(b) = names.iter().position(|n| n == name) else { continue };
        weights[b].1 = weight.unwrap_or(configured[b].1);
        for (_, message) in overloaded(&weights) {
            c.warning(FieldPath::root().field("timeline").index(i), format!("from {}: {message}", entry.at));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The problems in an experiment with this policy and this client, as (field, severity,
    /// message).
    fn problems(policy: &str, client_extra: &str) -> Vec<(String, Severity, String)> {
        let text = format!(
            r#"Experiment(
                name: "t", seed: 1, duration: "1m",
                stack: (
                    clients: [(name: "users", arrivals: Poisson(rate_per_s: 10.0){client_extra})],
                    balancer: (policy: {policy}),
                    backends: [(name: "app", replicas: 4, workers: 2, queue: Bounded(10),
                                service: Exponential(mean: "10ms"))],
                ),
            )"#
        );
        let experiment = crate::Experiment::parse(&text, "t.ron").unwrap_or_else(|e| panic!("{e}"));
        let stack = experiment.stack.inline().unwrap();
        check(&experiment, stack, vec![None], &PolicyRegistry::new())
            .0
            .into_iter()
            .map(|p| (p.path.to_string(), p.severity, p.message))
            .collect()
    }

    fn errors_at(policy: &str, client_extra: &str) -> Vec<String> {
        problems(policy, client_extra)
            .into_iter()
            .filter(|(_, s, _)| *s == Severity::Error)
            .map(|(path, _, _)| path)
            .collect()
    }

    #[test]
    fn policy_parameters_out_of_range_are_errors_at_the_parameter() {
        let users = ", users: 100";
        let at = |field: &str| vec![format!("stack.balancer.policy.{field}")];
        assert_eq!(errors_at("Maglev(table_size: 65536)", users), at("table_size"));
        assert_eq!(errors_at("Maglev(table_size: 1)", users), at("table_size"));
        assert_eq!(errors_at("BoundedLoadHash(factor: 0.9)", users), at("factor"));
        assert_eq!(errors_at("RingHash(entries_per_host: 0)", users), at("entries_per_host"));
        assert_eq!(errors_at("LeastRequest(active_request_bias: -1.0)", ""), at("active_request_bias"));
        assert_eq!(errors_at("LeastRequest(choice_count: 0)", ""), at("choice_count"));
        assert_eq!(errors_at("PeakEwma(decay: \"0s\")", ""), at("decay"));
        assert_eq!(errors_at("First(max_in_flight: 0)", ""), at("max_in_flight"));
        for fine in [
            "Maglev(table_size: 5003)",
            "BoundedLoadHash(factor: 1.0)",
            "LeastRequest(active_request_bias: 0.0)",
        ] {
            assert_eq!(errors_at(fine, users), Vec::<String>::new(), "{fine}");
        }
    }

    #[test]
    fn the_maglev_message_says_what_would_be_valid() {
        let found = problems("Maglev(table_size: 65536)", ", users: 10");
        assert!(found[0].2.contains("must be a prime") && found[0].2.contains("65537"), "{found:?}");
    }

    #[test]
    fn user_populations_are_checked() {
        assert_eq!(errors_at("RoundRobin", ", users: 0"), ["stack.clients[0].users"]);
        assert_eq!(errors_at("RoundRobin", ", user_skew: 1.0"), ["stack.clients[0].user_skew"]);
        assert_eq!(errors_at("RoundRobin", ", users: 10, user_skew: -0.5"), ["stack.clients[0].user_skew"]);
        assert!(errors_at("RoundRobin", ", users: 10, user_skew: 1.2").is_empty());
    }

    #[test]
    fn hashing_without_users_is_a_warning() {
        let found = problems("RingHash()", "");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Severity::Warning);
        assert!(found[0].2.contains("users"), "{found:?}");
        assert!(problems("RingHash()", ", users: 1000").is_empty());
        assert!(problems("RoundRobin", "").is_empty());
    }

    #[test]
    fn a_small_maglev_table_for_many_backends_is_a_warning() {
        let found = problems("Maglev(table_size: 251)", ", users: 10");
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].1, Severity::Warning);
    }

    /// Problems with a one-backend stack of capacity 10/s and this client and queue.
    fn audit(arrivals: &str, queue: &str) -> Vec<String> {
        let text = format!(
            r#"Experiment(name: "t", seed: 1, duration: "1m",
                stack: (clients: [(name: "c", arrivals: {arrivals})], balancer: (policy: RingHash()),
                        backends: [(name: "a", workers: 1, {queue}, service: Constant("100ms"))]))"#
        );
        let experiment = crate::Experiment::parse(&text, "t.ron").unwrap_or_else(|e| panic!("{e}"));
        let stack = experiment.stack.inline().unwrap();
        check(&experiment, stack, vec![None], &PolicyRegistry::new())
            .0
            .into_iter()
            .map(|p| p.message)
            .collect()
    }

    #[test]
    fn closed_loops_have_keys_and_do_not_overload_an_unbounded_queue() {
        assert_eq!(audit("Closed(users: 100, think: \"1s\")", "queue: Unbounded"), Vec::<String>::new());
        let open = audit("Poisson(rate_per_s: 20.0)", "queue: Unbounded");
        assert!(open.iter().any(|m| m.contains("unbounded queue can grow")), "{open:?}");
        assert!(open.iter().any(|m| m.contains("routes on request keys")), "{open:?}");
    }

    #[test]
    fn a_queue_timeout_bounds_an_unbounded_queue() {
        let bounded =
            audit("Poisson(rate_per_s: 20.0), users: 10", "queue: Unbounded, queue_timeout: \"1s\"");
        assert!(bounded.iter().all(|m| !m.contains("unbounded queue")), "{bounded:?}");
    }
}
