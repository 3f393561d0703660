//! The sweep's axes: each axis's values, and the backend group it names.

use crate::locate::FieldPath;
use crate::spec::{BackendSpec, StackSpec, SweepAxis};

use super::Checker;

impl Checker<'_> {
    pub(super) fn axis(
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
        // The autoscaled groups an HPA axis changes; an error when there are none.
        let scaled = |c: &mut Self, backend: &Option<String>| {
            let scaled = autoscaled(groups, backend);
            if scaled.is_empty() {
                c.error(path.clone(), "no autoscaled group to sweep: give a group autoscale: Hpa(...)");
            }
            scaled
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
                let scaled = scaled(self, backend);
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
                let scaled = scaled(self, backend);
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
