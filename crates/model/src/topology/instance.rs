//! One balancer instance: its policy copies (one per host set), health, subset and connection
//! pool, and how it picks a backend through Envoy's priority levels (`choosePriority`,
//! `recalculatePerPriorityState`, `recalculatePerPriorityPanic`) and zone-aware routing
//! (`tryChooseLocalLocalityHosts`).

use rand::Rng;
use stacksim_engine::SimRng;

use crate::balancer::Balancer;
use crate::health::Health;
use crate::policy::RequestInfo;

use super::connection::Pool;
use super::zone::{Layout, Locality, NONE, locality};

/// One balancer instance.
#[derive(Debug)]
pub(super) struct Instance {
    /// Handed to the policies.
    pub(super) rng: SimRng,
    /// Priority and zone draws, and connection-age jitter (not the policy's stream).
    pub(super) draws: SimRng,
    pub(super) health: Health,
    /// Per backend: in the configuration and in this instance's subset.
    pub(super) member: Vec<bool>,
    pub(super) groups: Vec<Balancer>,
    /// Per level: Envoy's healthy priority load, in percent (sums to 100).
    pub(super) load: Vec<u32>,
    /// Per level: in panic (every member of the level is used, whatever its health).
    pub(super) panic: Vec<bool>,
    /// Per (level, local zone).
    pub(super) locality: Vec<Locality>,
    pub(super) pool: Pool,
    pub(super) scratch: Vec<bool>,
}

impl Instance {
    /// The backend for `request` from a client in zone `local` ([`NONE`] if unknown).
    #[inline(always)]
    pub(super) fn pick(&mut self, layout: &Layout, request: &RequestInfo, local: u32) -> Option<usize> {
        if layout.simple {
            let b = self.groups[0].route(request, &mut self.rng);
            debug_assert!(b.is_none_or(|b| self.member[b]), "backend {b:?} is outside the instance's subset");
            return b;
        }
        let level = if layout.levels > 1 { self.choose_level() } else { 0 };
        let mut group = level;
        if layout.zone_aware.is_some() && local != NONE && !self.panic[level] {
            group = match &self.locality[level * layout.zones + local as usize] {
                Locality::None => level,
                Locality::Direct => layout.zone_group(level, local as usize),
                Locality::Residual { local: stay, residual, order } => {
                    let zone = if self.draws.next_u64() % 10_000 < *stay {
                        local as usize
                    } else {
                        let total = *residual.last().expect("two zones or more");
                        if total == 0 {
                            order[(self.draws.next_u64() % order.len() as u64) as usize] as usize
                        } else {
                            // Envoy's scan, `while (threshold > residual_capacity[i]) i++`.
                            let threshold = self.draws.next_u64() % total;
                            let mut k = 0;
                            while threshold > residual[k] {
                                k += 1;
                            }
                            order[k] as usize
                        }
                    };
                    layout.zone_group(level, zone)
                }
            };
        }
        let b = self.groups[group].route(request, &mut self.rng);
        debug_assert!(b.is_none_or(|b| self.member[b]), "backend {b:?} is outside the instance's subset");
        b
    }

    /// Envoy's `choosePriority`: a draw in 1..=100 against the cumulative priority loads.
    fn choose_level(&mut self) -> usize {
        let hash = self.draws.next_u64() % 100 + 1;
        let mut total = 0;
        for (level, &load) in self.load.iter().enumerate() {
            total += u64::from(load);
            if hash <= total {
                return level;
            }
        }
        0
    }

    // Levels and zones index parallel arrays (counts, loads, groups): index loops read best.
    #[allow(clippy::needless_range_loop)]
    /// Recomputes eligibility in every group, the priority loads and panic, and the locality
    /// routing, after a change of health or membership.
    pub(super) fn refresh(&mut self, layout: &Layout) {
        let n = self.member.len();
        if layout.simple {
            self.health.eligibility(&self.member, &mut self.scratch);
            self.groups[0].set_eligible(&self.scratch);
            return;
        }
        let levels = layout.levels;
        let mut total = vec![0u64; levels];
        let mut healthy = vec![0u64; levels];
        for b in 0..n {
            if self.member[b] {
                let p = layout.priority[b] as usize;
                total[p] += 1;
                healthy[p] += u64::from(self.health.is_healthy(b));
            }
        }
        self.priority_state(layout, &total, &healthy);
        for level in 0..levels {
            for b in 0..n {
                self.scratch[b] = self.member[b]
                    && layout.priority[b] as usize == level
                    && (self.panic[level] || self.health.is_healthy(b));
            }
            self.groups[level].set_eligible(&self.scratch);
        }
        if layout.zone_aware.is_none() {
            return;
        }
        let zones = layout.zones;
        for level in 0..levels {
            let mut healthy_in = vec![0u64; zones];
            for zone in 0..zones {
                for b in 0..n {
                    self.scratch[b] = self.member[b]
                        && layout.priority[b] as usize == level
                        && layout.zone[b] as usize == zone
                        && self.health.is_healthy(b);
                    healthy_in[zone] += u64::from(self.scratch[b]);
                }
                self.groups[layout.zone_group(level, zone)].set_eligible(&self.scratch);
            }
            for local in 0..zones {
                self.locality[level * zones + local] = locality(layout, &healthy_in, local);
            }
        }
    }

    #[allow(clippy::needless_range_loop)]
    /// Envoy's `recalculatePerPriorityState` and `recalculatePerPriorityPanic` (no degraded
    /// hosts: nothing in the model marks a backend degraded, so the degraded load is zero).
    fn priority_state(&mut self, layout: &Layout, total: &[u64], healthy: &[u64]) {
        let levels = total.len();
        let health: Vec<u64> = (0..levels)
            .map(|p| (layout.overprovisioning * healthy[p]).checked_div(total[p]).unwrap_or(0).min(100))
            .collect();
        let normalized = health.iter().sum::<u64>().min(100);
        let threshold = layout.panic_threshold * 100.0;
        let in_panic = |p: usize| {
            let percent = if total[p] == 0 { 0.0 } else { 100.0 * healthy[p] as f64 / total[p] as f64 };
            percent < threshold
        };
        if levels == 1 {
            // One level: the panic rule of a single balancer (fewer healthy than the threshold).
            self.load[0] = 100;
            self.panic[0] = total[0] > 0 && (healthy[0] as f64) < layout.panic_threshold * total[0] as f64;
            return;
        }
        let mut remaining = 100u64;
        let mut first = None;
        if normalized > 0 {
            for p in 0..levels {
                if first.is_none() && health[p] > 0 {
                    first = Some(p);
                }
                let load = remaining.min((health[p] * 100).checked_div(normalized).unwrap_or(0));
                self.load[p] = load as u32;
                remaining -= load;
            }
            if let Some(first) = first {
                self.load[first] += remaining as u32;
            }
        }
        let mut total_panic = true;
        for p in 0..levels {
            // Never panic while the normalized total health is 100%.
            self.panic[p] = normalized != 100 && in_panic(p);
            total_panic &= self.panic[p];
        }
        if total_panic {
            // Envoy's `recalculateLoadInTotalPanic`: load by host count, whatever the health.
            let hosts: u64 = total.iter().sum();
            if hosts == 0 {
                self.load.iter_mut().for_each(|l| *l = 0);
                self.load[0] = 100;
                return;
            }
            let mut remaining = 100u64;
            let mut first = None;
            for p in 0..levels {
                if first.is_none() && total[p] != 0 {
                    first = Some(p);
                }
                let load = 100 * total[p] / hosts;
                self.load[p] = load as u32;
                remaining -= load;
            }
            self.load[first.unwrap_or(0)] += remaining as u32;
        } else if normalized == 0 {
            self.load.iter_mut().for_each(|l| *l = 0);
            self.load[0] = 100;
        }
    }
}
