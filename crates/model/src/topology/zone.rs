//! Zones and priority levels: which level and zone each backend is in (the [`Layout`] every
//! instance shares), zone numbering, and Envoy's zone-aware routing state per (level, local
//! zone) (`regenerateLocalityRoutingStructures`).

use crate::backend::BackendConfig;
use crate::client::ClientConfig;
use crate::health::HealthConfig;

use super::Topology;

/// Envoy zone-aware routing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZoneAware {
    /// Below this many healthy backends in a priority level, no zone-aware routing (Envoy
    /// `min_cluster_size`, default 6).
    pub min_cluster_size: u32,
}

impl Default for ZoneAware {
    fn default() -> Self {
        ZoneAware { min_cluster_size: 6 }
    }
}

/// No zone, no group.
pub(super) const NONE: u32 = u32::MAX;

/// What every instance shares: which priority level and zone each backend is in, the groups.
#[derive(Debug)]
pub(super) struct Layout {
    /// Priority levels (highest priority first), ≥ 1.
    pub(super) levels: usize,
    /// Per backend: its priority level.
    pub(super) priority: Vec<u32>,
    /// Zone names, in order of first mention (backends, then clients).
    pub(super) zones: usize,
    /// Per backend: its zone, or [`NONE`].
    pub(super) zone: Vec<u32>,
    /// Per zone: the share of zoned clients in it, in 1/10000 (Envoy's local percentage).
    local_percentage: Vec<u64>,
    pub(super) zone_aware: Option<ZoneAware>,
    /// Overprovisioning in percent (140).
    pub(super) overprovisioning: u64,
    pub(super) panic_threshold: f64,
    /// Per backend: its level's group and its (level, zone) group or [`NONE`].
    pub(super) groups_of: Vec<(u32, u32)>,
    /// One group and no draws: the single balancer of earlier releases.
    pub(super) simple: bool,
}

impl Layout {
    pub(super) fn new(
        topology: &Topology,
        backends: &[BackendConfig],
        clients: &[ClientConfig],
        health: HealthConfig,
    ) -> Self {
        let (zone, client_zone, zones) = zone_numbers(backends, clients);
        let mut per_zone = vec![0u64; zones];
        for &z in &client_zone {
            if z != NONE {
                per_zone[z as usize] += 1;
            }
        }
        let total: u64 = per_zone.iter().sum();
        let local_percentage =
            per_zone.iter().map(|&n| (10_000 * n).checked_div(total).unwrap_or(0)).collect();
        let priority: Vec<u32> = backends.iter().map(|b| b.priority).collect();
        let levels = priority.iter().max().map_or(1, |&p| p as usize + 1);
        let zone_aware = topology.zone_aware.filter(|_| zones > 0);
        let groups_of = priority
            .iter()
            .zip(&zone)
            .map(|(&p, &z)| {
                let zg = if zone_aware.is_some() && z != NONE {
                    (levels + p as usize * zones + z as usize) as u32
                } else {
                    NONE
                };
                (p, zg)
            })
            .collect();
        Layout {
            levels,
            priority,
            zones,
            zone,
            local_percentage,
            zone_aware,
            overprovisioning: (topology.overprovisioning * 100.0).round() as u64,
            panic_threshold: health.panic_threshold,
            groups_of,
            simple: levels == 1 && zone_aware.is_none(),
        }
    }

    pub(super) fn groups(&self) -> usize {
        if self.zone_aware.is_some() { self.levels * (1 + self.zones) } else { self.levels }
    }

    pub(super) fn zone_group(&self, level: usize, zone: usize) -> usize {
        self.levels + level * self.zones + zone
    }
}

/// Numbers the zones in order of first mention (backends, then clients): per backend, per
/// client (or [`NONE`]), and how many.
pub(super) fn zone_numbers(
    backends: &[BackendConfig],
    clients: &[ClientConfig],
) -> (Vec<u32>, Vec<u32>, usize) {
    fn index<'a>(names: &mut Vec<&'a str>, name: Option<&'a str>) -> u32 {
        let Some(name) = name else { return NONE };
        if let Some(i) = names.iter().position(|n| *n == name) {
            return i as u32;
        }
        names.push(name);
        (names.len() - 1) as u32
    }
    let mut names: Vec<&str> = Vec::new();
    let backend: Vec<u32> = backends.iter().map(|b| index(&mut names, b.zone.as_deref())).collect();
    let client: Vec<u32> = clients.iter().map(|c| index(&mut names, c.zone.as_deref())).collect();
    (backend, client, names.len())
}

/// Where an instance routes requests of one (level, local zone): Envoy's
/// `LocalityRoutingState`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Locality {
    /// No zone-aware routing: the whole level.
    None,
    /// Every request stays in the local zone.
    Direct,
    /// `local` (in 1/10000) stay; the rest go to other zones in proportion to their residual
    /// capacity, accumulated in `residual` (local zone first, as Envoy orders localities).
    Residual { local: u64, residual: Vec<u64>, order: Vec<u32> },
}

/// Envoy's `regenerateLocalityRoutingStructures` for clients in zone `local`, given the healthy
/// backends per zone of one level.
pub(super) fn locality(layout: &Layout, healthy: &[u64], local: usize) -> Locality {
    let Some(zone_aware) = layout.zone_aware else { return Locality::None };
    let all: u64 = healthy.iter().sum();
    if layout.zones < 2 || healthy[local] == 0 || all < u64::from(zone_aware.min_cluster_size) {
        return Locality::None;
    }
    let upstream: Vec<u64> = healthy.iter().map(|&h| 10_000 * h / all).collect();
    let downstream = &layout.local_percentage;
    if upstream[local] >= downstream[local] {
        return Locality::Direct;
    }
    let stay = upstream[local] * 10_000 / downstream[local].max(1);
    // Envoy puts the local locality first, with no residual capacity.
    let mut order = vec![local as u32];
    order.extend((0..layout.zones).filter(|&z| z != local).map(|z| z as u32));
    let mut residual = Vec::with_capacity(order.len());
    let mut sum = 0;
    for (k, &z) in order.iter().enumerate() {
        let z = z as usize;
        if k > 0 && upstream[z] > downstream[z] {
            sum += upstream[z] - downstream[z];
        }
        residual.push(sum);
    }
    Locality::Residual { local: stay, residual, order }
}
