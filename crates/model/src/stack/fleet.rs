//! Fleet groups' events: autoscaler syncs, pod phases, deploys and canaries.

use stacksim_engine::{Context, SimTime};

use super::{Event, WebStack};
use crate::fleet::Change;
use crate::timeline::Action;

impl WebStack {
    /// A fleet group's autoscaler evaluates, and the next evaluation is scheduled. Rare, and
    /// kept out of line: inlined into `handle` it slowed every event of unconfigured runs.
    #[cold]
    #[inline(never)]
    pub(super) fn autoscale(&mut self, group: usize, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(fleet) = &mut self.fleet else { return };
        if let Some(sync) = fleet.sync_period(group) {
            cx.schedule_in(sync, Event::Autoscale { group: group as u32 });
        }
        let backends = &mut self.backends;
        let changes = fleet.sync(group, now, |b| backends[b].load(now));
        self.apply(changes, cx);
    }

    /// A rolling deploy or a canary starts.
    #[cold]
    #[inline(never)]
    pub(super) fn release(&mut self, action: Action, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(fleet) = &mut self.fleet else { return };
        let changes = match action {
            Action::RollingDeploy { group, version, max_surge, max_unavailable } => {
                fleet.deploy(group, version, max_surge, max_unavailable, now)
            }
            Action::Canary { group, version, weight_percent } => {
                fleet.canary(group, version, weight_percent, now)
            }
            _ => Vec::new(),
        };
        self.apply(changes, cx);
    }

    /// The pod in slot `b` reaches its next phase.
    #[cold]
    #[inline(never)]
    pub(super) fn pod(&mut self, b: usize, generation: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(fleet) = &mut self.fleet else { return };
        let backends = &mut self.backends;
        let changes = fleet.advance(b, generation, now, |b| backends[b].load(now));
        self.apply(changes, cx);
    }

    /// Applies what the fleet decided, in order.
    #[cold]
    #[inline(never)]
    fn apply(&mut self, changes: Vec<Change>, cx: &mut Context<'_, Event>) {
        for change in changes {
            match change {
                Change::Timer { backend, generation, after } => {
                    cx.schedule_in(after, Event::Pod { backend: backend as u32, generation });
                }
                Change::Boot { backend, version } => {
                    if let Some(service) = self.fleet.as_ref().and_then(|f| f.service(backend, version)) {
                        self.backends[backend].boot(service);
                    }
                }
                Change::Routable { backend } => self.pod_ready(backend, cx.now()),
                Change::Unroutable { backend } => self.tier.set_present(backend, false),
                Change::Kill { backend } => self.crash(backend, cx),
                Change::Weights(mut weights) => {
                    // Under slow start the policies see scaled (and, while ramping, reduced)
                    // weights, as for the timeline's `SetWeight`.
                    if let Some(guard) = &mut self.balancer_guard {
                        let now = cx.now();
                        for (b, weight) in &mut weights {
                            *weight = guard.weight(*b, *weight, now);
                        }
                    }
                    self.tier.set_weights(&weights);
                }
            }
        }
    }

    /// Backend `b` joined the balancers at `now` (added, or restarted): its slow start, if it
    /// has one, begins in every instance.
    pub(super) fn joined(&mut self, b: usize, now: SimTime) {
        if let Some(weight) = self.balancer_guard.as_mut().and_then(|g| g.joined(b, now)) {
            self.tier.set_weight(b, weight);
        }
    }

    /// A pod became ready at `now`: it joins the balancer's endpoints and, if its group has
    /// one, begins its slow start (Envoy ramps a host that joins the cluster; a scale-out's new
    /// pods join this way).
    fn pod_ready(&mut self, b: usize, now: SimTime) {
        self.tier.set_present(b, true);
        self.joined(b, now);
    }
}
