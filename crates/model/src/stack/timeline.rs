//! Timeline actions and active health checks.

use stacksim_engine::Context;

use super::{Event, WebStack};
use crate::timeline::Action;

impl WebStack {
    pub(super) fn health_check(&mut self, b: usize, cx: &mut Context<'_, Event>) {
        let Some(check) = self.tier.active_check() else { return };
        cx.schedule_in(check.interval, Event::HealthCheck { backend: b as u32 });
        let passed = self.backends[b].passes(&check);
        if self.tier.record_check(b, passed) {
            // Envoy starts a host's slow start when active health checking moves it from
            // unhealthy to healthy (`lastHcPassTime`, load_balancer_impl.cc: "Host enters slow
            // start if only it has transitioned into healthy state"); HAProxy's `slowstart`
            // ramps a server that comes back up the same way.
            self.joined(b, cx.now());
        }
    }

    pub(super) fn act(&mut self, index: usize, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        match self.timeline[index].action {
            Action::SetWeight { backend, weight } => {
                // Under slow start the policies see scaled (and, while it ramps, reduced) weights.
                let weight = match &mut self.balancer_guard {
                    Some(guard) => guard.weight(backend, weight, now),
                    None => weight,
                };
                self.tier.set_weight(backend, weight);
            }
            Action::SetPolicy { policy } => self.tier.switch_policy(policy),
            Action::Fail { backend } => self.crash(backend, cx),
            Action::Recover { backend } => {
                // A restart: a cold process, which the balancer ramps up to full weight.
                self.backends[backend].recover();
                self.backends[backend].cold_start(now);
                self.joined(backend, now);
            }
            Action::SlowDown { backend, factor } => self.backends[backend].slow_down(factor),
            Action::Remove { backend } => self.tier.set_present(backend, false),
            Action::Add { backend } => {
                self.tier.set_present(backend, true);
                self.backends[backend].cold_start(now);
                self.joined(backend, now);
            }
            Action::ScaleTraffic { factor } => {
                for c in &mut self.clients {
                    c.scale_rate(factor);
                }
            }
            action @ (Action::RollingDeploy { .. } | Action::Canary { .. }) => self.release(action, cx),
            Action::SetRate { rate_per_s } => {
                let total: f64 = self.clients.iter().map(|c| c.base_rate(now)).sum();
                if total > 0.0 {
                    for c in &mut self.clients {
                        c.set_rate_scale(rate_per_s / total);
                    }
                }
            }
        }
    }
}
