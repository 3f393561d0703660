//! The timeline, observation and alerts: their clock times (resolved to offsets), actions,
//! windows and rules.

use std::collections::BTreeSet;

use crate::locate::FieldPath;
use crate::metric::readable_duration;
use crate::spec::{Experiment, StackSpec};

use super::Checker;

impl Checker<'_> {
    fn duration_positive(&mut self, path: FieldPath, d: Option<crate::spec::HumanDuration>, what: &str) {
        if d.is_some_and(|d| d.0.is_zero()) {
            self.error(path, format!("{what} must be longer than zero"));
        }
    }

    /// The timeline, observation and alerts.
    /// The timeline, observation and alerts; resolves their clock times. Which backend a
    /// timeline entry names is resolved per variant, in [`crate::build::variant`].
    pub(super) fn replay(&mut self, experiment: &Experiment, stack: &StackSpec) {
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
