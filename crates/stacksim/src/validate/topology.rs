//! The balancer tier's checks: its ranges, and the audit of its failure modes (issue 11).

use crate::locate::FieldPath;
use crate::spec::{Experiment, StackSpec};

use super::Checker;

impl Checker<'_> {
    /// The balancer tier's ranges, and the audit of its failure modes (issue 11): a policy that
    /// needs global load information behind many instances, subsets that leave backends out or
    /// load them unevenly, long-lived connections across a scale-out, zone-aware routing with
    /// no client zones.
    pub(super) fn topology(&mut self, path: &FieldPath, experiment: &Experiment, stack: &StackSpec) {
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
}
