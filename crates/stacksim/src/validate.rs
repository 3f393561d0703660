//! Checks an experiment beyond what its types enforce, and reports every problem at once.
//!
//! Ranges that the model knows (service times, arrival rates, retries, the database, health
//! checks) are checked by the model's own `problems()` methods, once, and placed here at the
//! field of the experiment file; this module checks what only the file has (names, replicas,
//! weights, sweeps, clock times) and resolves clock times to offsets for [`crate::build`].

mod capacity;
mod client;
mod replay;
mod stack;
mod sweep;
mod topology;

use std::collections::BTreeSet;
use std::sync::Arc;

use stacksim_model::Invalid;

use crate::build::Resolved;
use stacksim_model::policy::catalog::{self, Context};

use crate::locate::FieldPath;
use crate::metric::readable_duration;
pub use crate::problem::{Problem, Severity};
use crate::registry::PolicyRegistry;
use crate::spec::{ArrivalsSpec, BackendSpec, ClientSpec, Experiment, PolicySpec, ServiceSpec, StackSpec};
use crate::trace::LoadedTrace;
use capacity::capacity_warnings;

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

/// Whether a client's requests carry keys that repeat: it declares users, is a closed loop
/// (its users are its keys), or replays a trace with a key column.
fn has_keys(client: &ClientSpec) -> bool {
    client.users.is_some()
        || matches!(
            client.arrivals,
            ArrivalsSpec::Closed { .. } | ArrivalsSpec::Trace { key_column: Some(_), .. }
        )
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
}
