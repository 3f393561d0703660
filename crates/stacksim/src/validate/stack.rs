//! The rest of the stack: each backend's overload mechanisms (queue timeout, degradation,
//! discipline, circuit breakers, rate limit, slow start, warm-up, concurrency, shedding), the
//! number of request classes, the balancer's admission control and rate limit, a fleet all on
//! standby, the database and health checks.

use crate::locate::FieldPath;
use crate::spec::StackSpec;

use super::Checker;

impl Checker<'_> {
    /// Priority shedding at `path` in a stack where no client declares classes: every request
    /// is `Normal`, which is worth a warning.
    pub(super) fn classes_for_shedding(&mut self, path: FieldPath, stack: &StackSpec) {
        if stack.clients.iter().all(|c| c.classes.is_empty()) {
            self.warning(
                path,
                "no client declares request classes, so every request is Normal and is shed alike once the queue passes the mark: give clients classes: [(name: ..., weight: ..., priority: ...)]",
            );
        }
    }

    pub(super) fn stack_extras(&mut self, path: &FieldPath, stack: &crate::spec::StackSpec) {
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
}
