//! The capacity audit: at the stated traffic, is any backend offered more than it can serve?

use crate::locate::FieldPath;
use crate::spec::{ClientSpec, Experiment, QueueSpec, StackSpec};

use super::Checker;

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

/// The configuration audit the 2024-03-08 postmortem asked for: at the stated traffic, is any
/// backend offered more than it can serve? For policies that split traffic by weight (round
/// robin, random, hashing), a backend's share is its weight over the total; a least-loaded
/// policy adapts, so only the total is checked. Unbounded queues behind too much load are
/// warned about too.
pub(super) fn capacity_warnings(c: &mut Checker<'_>, experiment: &Experiment, stack: &StackSpec) {
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
    use crate::registry::PolicyRegistry;
    use crate::validate::check;

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
