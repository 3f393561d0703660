//! Checks an experiment beyond what its types enforce, and reports every problem at once.

use std::collections::BTreeSet;
use std::fmt;

use stacksim_model::policy::catalog::{self, Context};

use crate::locate::FieldPath;
use crate::registry::PolicyRegistry;
use crate::spec::{
    ArrivalsSpec, BackendSpec, ClientSpec, Experiment, PolicySpec, QueueSpec, ServiceSpec, StackSpec,
    SweepAxis,
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
        self.problems.push(Problem { path, severity: Severity::Error, message: message.into() });
    }

    fn warning(&mut self, path: FieldPath, message: impl Into<String>) {
        self.problems.push(Problem { path, severity: Severity::Warning, message: message.into() });
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
        if policy.routes_on_keys() && stack.clients.iter().all(|c| c.users.is_none()) {
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
            self.problems.push(Problem { path: path.join(&problem.at), severity, message: problem.message });
        }
    }

    fn users(&mut self, path: FieldPath, client: &ClientSpec) {
        if client.users == Some(0) {
            self.error(path.field("users"), "users must be at least 1, like users: 10000");
        }
        match (client.users, client.user_skew) {
            (None, Some(_)) => self.error(
                path.field("user_skew"),
                "user_skew shapes a user population: give users: N as well",
            ),
            (_, Some(skew)) if !(skew >= 0.0 && skew.is_finite()) => self.error(
                path.field("user_skew"),
                format!("user_skew must be a finite number ≥ 0 (0 = every user alike; around 1 is typical of web traffic), not {skew}"),
            ),
            _ => {}
        }
    }

    fn service(&mut self, path: FieldPath, service: &ServiceSpec) {
        let zero = |d: &crate::spec::HumanDuration| d.0.is_zero();
        match service {
            ServiceSpec::Exponential { mean } if zero(mean) => {
                self.error(path.field("mean"), "the mean must be longer than zero, like \"100ms\"");
            }
            ServiceSpec::LogNormal { median, sigma } => {
                if zero(median) {
                    self.error(path.field("median"), "the median must be longer than zero, like \"80ms\"");
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
                    self.error(path.field("mean"), "the mean must be longer than zero, like \"100ms\"");
                }
                self.positive(path.field("cv"), *cv, "cv");
            }
            ServiceSpec::Uniform { min, max } if min > max => {
                self.error(path.field("max"), format!("max ({max}) must not be shorter than min ({min})"));
            }
            ServiceSpec::Pareto { scale, shape } => {
                if zero(scale) {
                    self.error(path.field("scale"), "the scale must be longer than zero, like \"10ms\"");
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

impl Checker<'_> {
    fn axis(&mut self, path: FieldPath, axis: &SweepAxis, experiment: &Experiment) {
        let groups = &experiment.stack.backends;
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
                        self.policy(path.index(0).index(j), policy, &experiment.stack);
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
            SweepAxis::ServiceScale { backend, values } => {
                target(self, backend);
                empty(self, values.len(), "values: [0.8, 1.0, 1.2]");
                for (j, factor) in values.iter().enumerate() {
                    self.positive(path.field("values").index(j), *factor, "a service-time factor");
                }
            }
        }
    }
}

impl Checker<'_> {
    fn duration_positive(&mut self, path: FieldPath, d: Option<crate::spec::HumanDuration>, what: &str) {
        if d.is_some_and(|d| d.0.is_zero()) {
            self.error(path, format!("{what} must be longer than zero"));
        }
    }

    fn arrivals(&mut self, path: FieldPath, arrivals: &ArrivalsSpec, experiment: &Experiment) {
        match arrivals {
            ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s } => {
                self.positive(path.field("rate_per_s"), *rate_per_s, "rate_per_s (requests per second)");
            }
            ArrivalsSpec::Schedule { points, .. } => {
                if points.is_empty() {
                    self.error(
                        path.field("points"),
                        "a schedule needs points, like [(\"0s\", 100.0), (\"10m\", 300.0)]",
                    );
                }
                let mut last = None;
                for (j, (at, rate)) in points.iter().enumerate() {
                    let point = path.field("points").index(j);
                    if !(rate.is_finite() && *rate >= 0.0) {
                        self.error(point.clone(), format!("a rate must be a finite number ≥ 0, not {rate}"));
                    }
                    match at.offset(experiment.start) {
                        Err(why) => self.error(point, why),
                        Ok(t) if last.is_some_and(|l| t < l) => {
                            self.error(point, "schedule points must be in time order");
                        }
                        Ok(t) => last = Some(t),
                    }
                }
                if !points.is_empty() && points.iter().all(|p| p.1 == 0.0) {
                    self.error(path.field("points"), "at least one point needs a rate above zero");
                }
            }
            ArrivalsSpec::Trace { file, loaded, .. } => {
                if loaded.as_ref().is_none_or(|t| t.times.is_empty()) {
                    self.error(path.field("file"), format!("the trace {file:?} has no arrivals"));
                }
            }
            ArrivalsSpec::Closed { users, think } => {
                self.at_least_one(path.field("users"), *users, "users");
                self.duration_positive(path.field("think"), Some(*think), "the think time");
            }
        }
    }

    fn client_behaviour(&mut self, path: &FieldPath, client: &crate::spec::ClientSpec) {
        self.duration_positive(path.field("timeout"), client.timeout, "the timeout");
        if let Some(retry) = &client.retry {
            let retry_path = path.field("retry");
            self.at_least_one(
                retry_path.field("max_attempts"),
                retry.max_attempts,
                "max_attempts (the first try included)",
            );
            if retry.max_backoff < retry.backoff {
                self.error(retry_path.field("max_backoff"), "max_backoff must not be shorter than backoff");
            }
            if let Some(ratio) = retry.budget_ratio
                && !(ratio.is_finite() && ratio >= 0.0)
            {
                self.error(
                    retry_path.field("budget_ratio"),
                    format!("budget_ratio must be ≥ 0, like 0.2, not {ratio}"),
                );
            }
            if let Some(min) = retry.budget_min_per_s
                && !(min.is_finite() && min >= 0.0)
            {
                self.error(
                    retry_path.field("budget_min_per_s"),
                    format!("budget_min_per_s must be ≥ 0, not {min}"),
                );
            }
        }
    }

    fn stack_extras(&mut self, path: &FieldPath, stack: &crate::spec::StackSpec) {
        for (i, b) in stack.backends.iter().enumerate() {
            let bp = path.field("backends").index(i);
            self.duration_positive(bp.field("queue_timeout"), b.queue_timeout, "the queue timeout");
            if let Some(d) = b.degradation
                && !(d.slope.is_finite() && d.slope >= 0.0)
            {
                self.error(
                    bp.field("degradation").field("slope"),
                    format!("slope must be ≥ 0, not {}", d.slope),
                );
            }
        }
        if stack.backends.iter().all(|b| b.standby) && !stack.backends.is_empty() {
            self.warning(
                path.field("backends"),
                "every backend is on standby: nothing serves until an Add action",
            );
        }
        if let Some(db) = &stack.database {
            let dp = path.field("database");
            self.at_least_one(dp.field("workers"), db.workers, "workers");
            self.at_least_one(dp.field("pool"), db.pool, "pool (connections per backend)");
            if !(0.0..=1.0).contains(&db.fraction) {
                self.error(
                    dp.field("fraction"),
                    format!("fraction must be between 0 and 1, not {}", db.fraction),
                );
            }
            self.service(dp.field("service"), &db.service);
        }
        if let Some(health) = &stack.health {
            let hp = path.field("health");
            if let Some(check) = &health.check {
                self.duration_positive(
                    hp.field("check").field("interval"),
                    check.interval,
                    "the check interval",
                );
                self.duration_positive(
                    hp.field("check").field("timeout"),
                    check.timeout,
                    "the check timeout",
                );
                for (name, value) in [("rise", check.rise), ("fall", check.fall)] {
                    if let Some(v) = value {
                        self.at_least_one(hp.field("check").field(name), v, name);
                    }
                }
            }
            if let Some(outlier) = &health.outlier {
                let op = hp.field("outlier");
                if let Some(n) = outlier.consecutive_5xx {
                    self.at_least_one(op.field("consecutive_5xx"), n, "consecutive_5xx");
                }
                if let Some(p) = outlier.max_ejection_percent
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
    fn replay(&mut self, experiment: &Experiment) {
        let root = FieldPath::root();
        let names = crate::build::backend_names(&experiment.stack);
        let known = |name: &String| names.contains(name);
        for (i, entry) in experiment.timeline.iter().enumerate() {
            let path = root.field("timeline").index(i);
            match entry.at.offset(experiment.start) {
                Err(why) => self.error(path.field("at"), why),
                Ok(at) if at >= experiment.duration.0 => self.warning(
                    path.field("at"),
                    format!(
                        "{} is after the run ends ({} after the start): it never happens",
                        entry.at, experiment.duration
                    ),
                ),
                Ok(_) => {}
            }
            use crate::spec::ActionSpec as A;
            let backend = match &entry.action {
                A::SetWeight { backend, .. } | A::Crash { backend, .. } | A::SlowDown { backend, .. } => {
                    Some(backend)
                }
                A::Fail(b) | A::Recover(b) | A::Remove(b) | A::Add(b) | A::Drain(b) => Some(b),
                A::SetPolicy(policy) => {
                    self.policy(path.field("action").index(0), policy, &experiment.stack);
                    None
                }
                A::ScaleTraffic(f) | A::SetRate(f) => {
                    self.positive(path.field("action").index(0), *f, "the factor or rate");
                    None
                }
            };
            if let Some(name) = backend.filter(|b| !known(b)) {
                let valid = names.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ");
                self.error(
                    path.field("action"),
                    format!("no backend is named {name:?}; the backends are {valid}"),
                );
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
                    (Err(why), _) | (_, Err(why)) => self.error(op.field("incident"), why),
                    (Ok(a), Ok(b)) if b <= a => {
                        self.error(op.field("incident"), "the incident must end after it starts")
                    }
                    _ => {}
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

/// Every problem with `experiment`, errors and warnings, in file order.
pub fn validate(experiment: &Experiment, registry: &PolicyRegistry) -> Vec<Problem> {
    let mut c = Checker { registry, problems: Vec::new() };
    let root = FieldPath::root();
    if experiment.duration.0.is_zero() {
        c.error(root.field("duration"), "the duration must be longer than zero, like \"1h\"");
    }
    if experiment.warmup.fixed() >= experiment.duration.0 && !experiment.duration.0.is_zero() {
        c.error(
            root.field("warmup"),
            format!(
                "the warm-up ({}) must be shorter than the duration ({}), or nothing is measured",
                experiment.warmup, experiment.duration
            ),
        );
    }
    c.at_least_one(root.field("replications"), experiment.replications, "replications");

    let stack = &experiment.stack;
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
        c.arrivals(path.field("arrivals"), &client.arrivals, experiment);
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
        c.axis(root.field("sweep").index(i), axis, experiment);
    }
    c.stack_extras(&stack_path, stack);
    c.replay(experiment);
    if let Some(label) = &experiment.baseline {
        let labels: Vec<String> = crate::build::variants(experiment).into_iter().map(|v| v.label).collect();
        if !labels.contains(label) {
            let valid = labels.iter().map(|l| format!("{l:?}")).collect::<Vec<_>>().join(", ");
            c.error(
                root.field("baseline"),
                format!("no variant is labelled {label:?}; the variants are {valid}"),
            );
        }
    }
    if c.problems.iter().all(|p| p.severity == Severity::Warning) {
        capacity_warnings(&mut c, experiment);
    }
    c.problems
}

/// The configuration audit the 2024-03-08 postmortem asked for: at the stated traffic, is any
/// backend offered more than it can serve? For policies that split traffic by weight (round
/// robin, random, hashing), a backend's share is its weight over the total; a least-loaded
/// policy adapts, so only the total is checked. Unbounded queues behind too much load are
/// warned about too.
fn capacity_warnings(c: &mut Checker<'_>, experiment: &Experiment) {
    let stack = &experiment.stack;
    let offered: f64 =
        stack.clients.iter().map(|client| crate::build::peak_rate(&client.arrivals, experiment.start)).sum();
    let capacity_of =
        |b: &crate::spec::BackendSpec| f64::from(b.workers) / crate::build::service(&b.service).mean_secs();
    let capacity: f64 = stack.backends.iter().map(|b| f64::from(b.replicas) * capacity_of(b)).sum();
    let backends_path = FieldPath::root().field("stack").field("backends");
    if offered >= capacity {
        for (i, backend) in stack.backends.iter().enumerate() {
            if backend.queue == QueueSpec::Unbounded {
                c.warning(
                    backends_path.index(i).field("queue"),
                    format!(
                        "offered load {offered:.1}/s is at or above total capacity {capacity:.1}/s: this unbounded queue can grow without limit; use Bounded(n)"
                    ),
                );
            }
        }
    }
    if !stack.balancer.policy.splits_by_weight() {
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
    let mut changes: Vec<(std::time::Duration, usize)> = experiment
        .timeline
        .iter()
        .enumerate()
        .filter_map(|(i, e)| Some((e.at.offset(experiment.start).ok()?, i)))
        .collect();
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
        validate(&experiment, &PolicyRegistry::new())
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
}
