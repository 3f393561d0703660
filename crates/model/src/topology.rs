//! The balancer tier: how many balancer instances, which backends each one sees, how requests
//! ride connections, and how zones and priority levels shape the pick.
//!
//! Production balancing is rarely one balancer that sees everything. Envoy balances per worker
//! thread and per sidecar, a fleet of gRPC clients each balance on their own, and each
//! instance sees only the requests *it* sent (envoy issues 35935, 31643, 26115). This module
//! models that:
//!
//! 1. **Instances** ([`Topology::instances`]): N independent copies of the policy, each with
//!    its own state, random stream (`policy` for instance 0, as with one balancer;
//!    `policy/<i>` for the others), in-flight view, health checks and outlier ejection. A
//!    request reaches one instance ([`Split`]) and its retries go through the same one.
//! 2. **Subsets** ([`Subset`]): each instance connects to a subset of the fleet. Deterministic
//!    subsetting is the Google SRE book's algorithm (Beyer et al., *Site Reliability
//!    Engineering*, ch. 20, "Load Balancing in the Datacenter",
//!    <https://sre.google/sre-book/load-balancing-datacenter/>): instances are taken in rounds
//!    of `backends / size`; each round shuffles the backends with the round number as seed and
//!    deals them out in `size`-sized slices, so every backend gets the same number of
//!    instances. Subsets are recomputed when the fleet changes (an `Add` or `Remove`).
//! 3. **Connections** ([`Connections`]): with `KeepAlive` or `Http2` the policy picks a backend
//!    per *connection*, as kube-proxy picks a pod per TCP connection (kubernetes issue 38456),
//!    and requests ride open connections. `KeepAlive` is HTTP/1.1 as Go's `net/http`
//!    `Transport` pools it (one request at a time per connection; idle connections kept up to
//!    `MaxIdleConnsPerHost` = `per_instance`, most recently used first; a request finding none
//!    idle dials a new one). `Http2` multiplexes every request over `per_instance` long-lived
//!    connections, used in turn. A connection closes after `max_requests` requests, at
//!    `max_age` with a ±10% jitter (gRPC A9, `MAX_CONNECTION_AGE`:
//!    <https://github.com/grpc/proposal/blob/master/A9-server-side-conn-mgt.md>), and when a
//!    request on it is refused or reset because its backend is down; the next request then
//!    reconnects through the policy.
//! 4. **Zones and priorities**: Envoy's priority levels with the overprovisioning factor,
//!    degraded and panic rules, and zone-aware routing, as
//!    `source/common/upstream/load_balancer_impl.cc` (`recalculatePerPriorityState`,
//!    `distributeLoad`, `recalculatePerPriorityPanic`, `regenerateLocalityRoutingStructures`,
//!    `tryChooseLocalLocalityHosts`) computes them, and as the Envoy docs describe them
//!    (<https://www.envoyproxy.io/docs/envoy/latest/intro/arch_overview/upstream/load_balancing/priority>,
//!    `.../zone_aware`, `.../panic_threshold`). Each priority level, and with zone-aware
//!    routing each (level, zone), has its own copy of the policy: Envoy keeps a scheduler per
//!    host set for the same reason.
//!
//! With the defaults (one instance, every backend, a connection per request, one priority, no
//! zone-aware routing) the tier is exactly the single balancer of earlier releases: the same
//! policy stream, the same calls in the same order, so every number is unchanged.

use std::time::Duration;

use rand::RngExt;
use stacksim_engine::{SimRng, SimTime, rng};

use crate::backend::BackendConfig;
use crate::balancer::{Balancer, Heard};
use crate::client::ClientConfig;
use crate::health::{ActiveCheck, Health, HealthConfig};
use crate::policy::{Policy, RequestInfo};
use crate::request::NO_CONNECTION;

mod connection;
mod instance;
mod subset;
mod zone;

pub use connection::Connections;
use connection::{ConnectionStats, Pool, close, open};
use instance::Instance;
pub(crate) use subset::subset_of;
pub use subset::{Subset, subset_counts};
pub use zone::ZoneAware;
use zone::{Layout, Locality, NONE, zone_numbers};

/// How requests reach the balancer instances.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Split {
    /// In turn: request n goes to instance n mod N (an L4 balancer in front, round robin).
    #[default]
    Even,
    /// By downstream client: the request's user or session key picks the instance
    /// ([`crate::policy::key_hash`] mod N), so one user always reaches the same sidecar.
    ByClient,
    /// Uniformly at random, from the `split` stream.
    Random,
}

/// The balancer tier's shape. The default is one balancer that sees every backend and picks
/// per request.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Topology {
    /// Independent balancer instances, ≥ 1.
    pub instances: u32,
    /// How requests reach them.
    pub split: Split,
    /// Which backends each sees.
    pub subset: Subset,
    /// Per request or per connection.
    pub connections: Connections,
    /// Envoy zone-aware routing, when set.
    pub zone_aware: Option<ZoneAware>,
    /// Envoy's overprovisioning factor for priority levels (1.4), ≥ 1.
    pub overprovisioning: f64,
    /// The round trip a successful response spends crossing zones (client and backend in
    /// different zones), added between the backend's answer and the client's: the client
    /// sees it in its response time and the balancer in the latency it observes. `None`: free.
    pub cross_zone_latency: Option<Duration>,
}

impl Topology {
    /// Envoy's default overprovisioning factor.
    pub const DEFAULT_OVERPROVISIONING: f64 = 1.4;

    /// Whether anything differs from one balancer picking per request over every backend.
    pub fn is_default(&self) -> bool {
        *self == Topology::default()
    }
}

impl Default for Topology {
    fn default() -> Self {
        Topology {
            instances: 1,
            split: Split::Even,
            subset: Subset::All,
            connections: Connections::PerRequest,
            zone_aware: None,
            overprovisioning: Self::DEFAULT_OVERPROVISIONING,
            cross_zone_latency: None,
        }
    }
}

/// The most balancer instances a run may have.
pub const MAX_INSTANCES: u32 = 100_000;

/// The highest priority level (Envoy allows 128 levels, 0 to 127).
pub const MAX_PRIORITY: u32 = 127;

/// What the balancer tier measured (present only when the topology is not the default).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TopologySummary {
    /// Balancer instances.
    pub instances: u32,
    /// Attempts whose client and backend are in different zones, over attempts with both
    /// zones known (when zones are configured).
    pub cross_zone_ratio: Option<f64>,
    /// Per backend: instances whose subset holds it at the end (with a subset).
    pub subset_connections: Option<Vec<u32>>,
    /// Per backend: time-averaged open connections (with `KeepAlive` or `Http2`).
    pub connections_mean: Option<Vec<f64>>,
    /// Connections opened after warm-up, first ones included (with `KeepAlive` or `Http2`).
    pub reconnects: Option<u64>,
}

/// The balancer tier while the simulation runs.
#[derive(Debug)]
pub(crate) struct Tier {
    instances: Vec<Instance>,
    layout: Layout,
    topology: Topology,
    split_rng: SimRng,
    next: u32,
    seed: u64,
    /// Per backend: in the balancers' configuration.
    present: Vec<bool>,
    /// Per client: its zone or [`NONE`].
    client_zone: Vec<u32>,
    stats: Option<ConnectionStats>,
    /// Counted attempts with both zones known, and those crossing zones.
    zoned: u64,
    crossed: u64,
}

/// The policies a tier needs: per copy, the policy and the ones the timeline switches to.
pub type PolicyCopies = Vec<(Box<dyn Policy>, Vec<Box<dyn Policy>>)>;

/// How many copies of the policy (each with its own later policies) a run of `backends` and
/// `clients` under `topology` needs: one per instance and host set.
pub fn policy_copies(topology: &Topology, backends: &[BackendConfig], clients: &[ClientConfig]) -> usize {
    let layout = Layout::new(topology, backends, clients, HealthConfig::default());
    topology.instances as usize * layout.groups()
}

impl Tier {
    /// The tier for `backends` and `clients` under `topology`, with `policies` (as many as
    /// [`policy_copies`] says, in instance-major order) and health checking as `health`.
    pub fn new(
        topology: &Topology,
        backends: &[BackendConfig],
        clients: &[ClientConfig],
        health: HealthConfig,
        policies: PolicyCopies,
        seed: u64,
    ) -> Self {
        let layout = Layout::new(topology, backends, clients, health);
        let (_, client_zone, _) = zone_numbers(backends, clients);
        let present: Vec<bool> = backends.iter().map(|b| b.present).collect();
        let n = backends.len();
        let mut policies = policies.into_iter();
        let instances = (0..topology.instances as usize)
            .map(|i| {
                let stream = if i == 0 { "policy".to_owned() } else { format!("policy/{i}") };
                let groups = (0..layout.groups())
                    .map(|_| {
                        let (policy, later) = policies.next().expect("one policy copy per group");
                        // Eligibility is set below, once the subset is known.
                        Balancer::new(policy, later, backends, &present)
                    })
                    .collect();
                Instance {
                    rng: rng::stream(seed, &stream),
                    draws: rng::stream(seed, &format!("balancer/{i}")),
                    health: Health::new(health, n),
                    member: present.clone(),
                    groups,
                    load: vec![0; layout.levels],
                    panic: vec![false; layout.levels],
                    locality: vec![Locality::None; layout.levels * layout.zones],
                    pool: Pool::default(),
                    scratch: vec![false; n],
                }
            })
            .collect();
        let stats = match topology.connections {
            Connections::PerRequest => None,
            _ => Some(ConnectionStats {
                open: vec![0; n],
                area: vec![0.0; n],
                last: vec![SimTime::ZERO; n],
                ..ConnectionStats::default()
            }),
        };
        let mut tier = Tier {
            instances,
            layout,
            topology: *topology,
            split_rng: rng::stream(seed, "split"),
            next: 0,
            seed,
            present,
            client_zone,
            stats,
            zoned: 0,
            crossed: 0,
        };
        tier.resubset();
        tier
    }

    /// Whether the tier is the single balancer of earlier releases: one instance, one host
    /// set (no priority levels, no zone-aware routing), no zones, a connection per request.
    /// Then the `single_*` methods stand for their general versions with instance 0.
    pub fn is_single(&self) -> bool {
        self.instances.len() == 1
            && self.layout.simple
            && self.layout.zones == 0
            && self.topology.connections == Connections::PerRequest
            && self.topology.cross_zone_latency.is_none()
    }

    /// [`Tier::route`] of a single balancer ([`Tier::is_single`]).
    #[inline(always)]
    pub fn single_route(&mut self, request: &RequestInfo) -> Option<usize> {
        debug_assert!(self.is_single());
        let inst = &mut self.instances[0];
        inst.groups[0].route(request, &mut inst.rng)
    }

    /// [`Tier::sent`] of a single balancer ([`Tier::is_single`]).
    #[inline(always)]
    pub fn single_sent(&mut self, b: usize) {
        self.instances[0].groups[0].sent(b);
    }

    /// [`Tier::returned`] of a single balancer ([`Tier::is_single`]).
    #[inline(always)]
    pub fn single_returned(&mut self, b: usize) {
        self.instances[0].groups[0].returned(b);
    }

    /// [`Tier::feedback`] of a single balancer ([`Tier::is_single`]).
    #[inline(always)]
    pub fn single_feedback(&mut self, b: usize, now: SimTime, heard: Heard) -> Option<SimTime> {
        let inst = &mut self.instances[0];
        let balancer = &mut inst.groups[0];
        balancer.observe(b, heard);
        let error = !matches!(heard, Heard::Response { success: true, .. });
        let ejected = inst.health.record_response(b, now, error);
        if ejected.is_some() {
            inst.refresh(&self.layout);
        }
        inst.groups[0].respond(b, now, heard);
        ejected
    }

    /// The instance a new request from `client` with key `key` reaches.
    #[inline(always)]
    pub fn assign(&mut self, key: u64) -> u32 {
        let n = self.topology.instances;
        if n == 1 {
            return 0;
        }
        match self.topology.split {
            Split::Even => {
                let i = self.next;
                self.next = (self.next + 1) % n;
                i
            }
            Split::ByClient => (crate::policy::key_hash(key) % u64::from(n)) as u32,
            Split::Random => self.split_rng.random_range(0..n),
        }
    }

    /// The backend (and connection) instance `i` sends `request` of `client` to at `now`, or
    /// `None` when it has none available (the balancer answers 503).
    #[inline(always)]
    pub fn route(
        &mut self,
        i: u32,
        request: &RequestInfo,
        client: u32,
        now: SimTime,
    ) -> Option<(usize, u32)> {
        if self.topology.connections == Connections::PerRequest {
            let local = if self.layout.zones == 0 { NONE } else { self.client_zone[client as usize] };
            let inst = &mut self.instances[i as usize];
            return inst.pick(&self.layout, request, local).map(|b| (b, NO_CONNECTION));
        }
        self.route_connection(i, request, client, now)
    }

    /// [`Tier::route`] with `KeepAlive` or `Http2` connections (out of line: the per-request
    /// path stays small).
    #[inline(never)]
    fn route_connection(
        &mut self,
        i: u32,
        request: &RequestInfo,
        client: u32,
        now: SimTime,
    ) -> Option<(usize, u32)> {
        let local = self.client_zone.get(client as usize).copied().unwrap_or(NONE);
        let inst = &mut self.instances[i as usize];
        match self.topology.connections {
            Connections::PerRequest => inst.pick(&self.layout, request, local).map(|b| (b, NO_CONNECTION)),
            Connections::Http2 { per_instance, max_age } => {
                let pool = &mut inst.pool;
                if pool.slots.is_empty() {
                    pool.slots = vec![NO_CONNECTION; per_instance as usize];
                }
                let slot = pool.next % pool.slots.len();
                pool.next = slot + 1;
                let c = pool.slots[slot];
                if c != NO_CONNECTION {
                    let conn = pool.connections[c as usize].expect("a slot holds an open connection");
                    if conn.expires > now && inst.member[conn.backend as usize] {
                        return Some((conn.backend as usize, c));
                    }
                    inst.pool.slots[slot] = NO_CONNECTION;
                    close(&mut inst.pool, self.stats.as_mut(), c, now);
                }
                let b = inst.pick(&self.layout, request, local)?;
                let c = open(&mut inst.pool, &mut inst.draws, self.stats.as_mut(), b, now, max_age);
                inst.pool.slots[slot] = c;
                Some((b, c))
            }
            Connections::KeepAlive { max_age, .. } => {
                while let Some(c) = inst.pool.idle.pop() {
                    let conn = inst.pool.connections[c as usize].expect("an idle connection is open");
                    if conn.expires > now && inst.member[conn.backend as usize] {
                        return Some((conn.backend as usize, c));
                    }
                    close(&mut inst.pool, self.stats.as_mut(), c, now);
                }
                let b = inst.pick(&self.layout, request, local)?;
                Some((b, open(&mut inst.pool, &mut inst.draws, self.stats.as_mut(), b, now, max_age)))
            }
        }
    }

    /// A request of `client` went to backend `b`; `counted` if it is in the statistics.
    #[inline(always)]
    pub fn count_zones(&mut self, client: u32, b: usize, counted: bool) {
        if self.layout.zones == 0 || !counted {
            return;
        }
        let (from, to) = (self.client_zone[client as usize], self.layout.zone[b]);
        if from != NONE && to != NONE {
            self.zoned += 1;
            self.crossed += u64::from(from != to);
        }
    }

    /// Whether responses that cross zones take longer ([`Topology::cross_zone_latency`]).
    #[inline(always)]
    pub fn charges_crossing(&self) -> bool {
        self.topology.cross_zone_latency.is_some()
    }

    /// The latency a response from backend `b` to `client` spends crossing zones, if any.
    #[inline]
    pub fn crossing_latency(&self, client: u32, b: usize) -> Option<Duration> {
        let extra = self.topology.cross_zone_latency?;
        let (from, to) = (self.client_zone[client as usize], self.layout.zone[b]);
        (from != NONE && to != NONE && from != to).then_some(extra)
    }

    /// An attempt from instance `i` went to backend `b`.
    #[inline(always)]
    pub fn sent(&mut self, i: u32, b: usize) {
        let inst = &mut self.instances[i as usize];
        if self.layout.simple {
            inst.groups[0].sent(b);
            return;
        }
        let (g, zg) = self.layout.groups_of[b];
        inst.groups[g as usize].sent(b);
        if zg != NONE {
            inst.groups[zg as usize].sent(b);
        }
    }

    /// An attempt instance `i` sent left backend `b` (answered, expired or reset).
    #[inline(always)]
    pub fn returned(&mut self, i: u32, b: usize) {
        let inst = &mut self.instances[i as usize];
        if self.layout.simple {
            inst.groups[0].returned(b);
            return;
        }
        let (g, zg) = self.layout.groups_of[b];
        inst.groups[g as usize].returned(b);
        if zg != NONE {
            inst.groups[zg as usize].returned(b);
        }
    }

    /// Connection `c` of instance `i` to backend `b` is free again at `now`: the request on it
    /// was answered, or (`down`) refused or reset by a backend that is down, which closes it.
    ///
    /// An HTTP/2 connection may close while requests ride it (aged out, or its backend left)
    /// and its slot be reused; a late release for it finds a connection to another backend
    /// there and is ignored (one to the same backend is, for this purpose, the same).
    #[cold]
    pub fn release(&mut self, i: u32, c: u32, b: usize, now: SimTime, down: bool) {
        if c == NO_CONNECTION {
            return;
        }
        let inst = &mut self.instances[i as usize];
        let Some(conn) = inst.pool.connections.get_mut(c as usize).and_then(Option::as_mut) else { return };
        if conn.backend as usize != b {
            return;
        }
        conn.served += 1;
        let (served, expires) = (conn.served, conn.expires);
        match self.topology.connections {
            Connections::PerRequest => {}
            Connections::Http2 { .. } => {
                if down {
                    if let Some(slot) = inst.pool.slots.iter().position(|&s| s == c) {
                        inst.pool.slots[slot] = NO_CONNECTION;
                    }
                    close(&mut inst.pool, self.stats.as_mut(), c, now);
                }
            }
            Connections::KeepAlive { per_instance, max_requests, .. } => {
                let spent = max_requests.is_some_and(|m| served >= m) || expires <= now;
                if down || spent || inst.pool.idle.len() >= per_instance as usize {
                    close(&mut inst.pool, self.stats.as_mut(), c, now);
                } else {
                    inst.pool.idle.push(c);
                }
            }
        }
    }

    /// The client gave up on the request riding connection `c` of instance `i`: an HTTP/1.1
    /// client closes the connection (it cannot be reused with a response outstanding); an
    /// HTTP/2 client resets only the stream. Returns whether the attempt still holds `c`.
    pub fn abandon(&mut self, i: u32, c: u32, now: SimTime) -> bool {
        if c == NO_CONNECTION {
            return false;
        }
        match self.topology.connections {
            Connections::KeepAlive { .. } => {
                let inst = &mut self.instances[i as usize];
                if inst.pool.connections.get(c as usize).is_some_and(Option::is_some) {
                    close(&mut inst.pool, self.stats.as_mut(), c, now);
                }
                false
            }
            _ => true,
        }
    }

    /// What instance `i` heard at `now` about an attempt at backend `b`: latency, outlier
    /// detection, then the policy. Returns the end of an ejection this caused.
    #[inline(always)]
    pub fn feedback(&mut self, i: u32, b: usize, now: SimTime, heard: Heard) -> Option<SimTime> {
        let inst = &mut self.instances[i as usize];
        let (g, zg) = if self.layout.simple { (0, NONE) } else { self.layout.groups_of[b] };
        inst.groups[g as usize].observe(b, heard);
        if zg != NONE {
            inst.groups[zg as usize].observe(b, heard);
        }
        let error = !matches!(heard, Heard::Response { success: true, .. });
        let ejected = inst.health.record_response(b, now, error);
        if ejected.is_some() {
            inst.refresh(&self.layout);
        }
        inst.groups[g as usize].respond(b, now, heard);
        if zg != NONE {
            inst.groups[zg as usize].respond(b, now, heard);
        }
        ejected
    }

    /// The active checks the instances run, if any (every instance runs the same).
    pub fn active_check(&self) -> Option<ActiveCheck> {
        self.instances[0].health.config().active
    }

    /// Records an active check of backend `b` in every instance (each checks the same process).
    /// Returns whether it came back up (from down) in any instance.
    pub fn record_check(&mut self, b: usize, passed: bool) -> bool {
        let mut came_up = false;
        for inst in &mut self.instances {
            if inst.health.record_check(b, passed) {
                inst.refresh(&self.layout);
                came_up |= passed;
            }
        }
        came_up
    }

    /// Ends backend `b`'s ejection in every instance where it is due at `now`.
    pub fn uneject(&mut self, b: usize, now: SimTime) {
        for inst in &mut self.instances {
            if inst.health.uneject(b, now) {
                inst.refresh(&self.layout);
            }
        }
    }

    /// Sets backend `b`'s weight everywhere.
    pub fn set_weight(&mut self, b: usize, weight: u32) {
        for inst in &mut self.instances {
            for g in &mut inst.groups {
                g.set_weight(b, weight);
            }
        }
    }

    /// Sets several backends' weights everywhere at once: each policy rebuilds once.
    pub fn set_weights(&mut self, weights: &[(usize, u32)]) {
        for inst in &mut self.instances {
            for g in &mut inst.groups {
                g.set_weights(weights);
            }
        }
    }

    /// Switches every instance to later policy number `index`.
    pub fn switch_policy(&mut self, index: usize) {
        for inst in &mut self.instances {
            for g in &mut inst.groups {
                g.switch_policy(index);
            }
        }
    }

    /// Brings backend `b` into the configuration, or takes it out; subsets are recomputed.
    pub fn set_present(&mut self, b: usize, present: bool) {
        self.present[b] = present;
        self.resubset();
    }

    /// Recomputes every instance's subset of the present backends, and its eligibility.
    fn resubset(&mut self) {
        let fleet: Vec<usize> = (0..self.present.len()).filter(|&b| self.present[b]).collect();
        for (i, inst) in self.instances.iter_mut().enumerate() {
            inst.member.iter_mut().for_each(|m| *m = false);
            for b in subset_of(self.topology.subset, &fleet, i, self.seed) {
                inst.member[b] = true;
            }
            inst.refresh(&self.layout);
        }
    }

    /// The warm-up ends at `now`: connection statistics start.
    pub fn end_warmup(&mut self, now: SimTime) {
        if let Some(stats) = &mut self.stats {
            stats.measuring = true;
            stats.start = now;
            stats.last.iter_mut().for_each(|t| *t = now);
            stats.area.iter_mut().for_each(|a| *a = 0.0);
            stats.opened = 0;
        }
    }

    /// What the tier measured up to `end`, unless it is the default single balancer.
    pub fn summary(&mut self, end: SimTime) -> Option<TopologySummary> {
        if self.topology.is_default() && self.layout.zones == 0 {
            return None;
        }
        let subset_connections = (self.topology.subset != Subset::All).then(|| {
            (0..self.present.len())
                .map(|b| self.instances.iter().filter(|inst| inst.member[b]).count() as u32)
                .collect()
        });
        let (connections_mean, reconnects) = match &mut self.stats {
            Some(stats) if stats.measuring => {
                for b in 0..stats.open.len() {
                    stats.area[b] += f64::from(stats.open[b]) * (end - stats.last[b]).as_secs_f64();
                    stats.last[b] = end;
                }
                let span = (end - stats.start).as_secs_f64();
                let mean = stats.area.iter().map(|a| if span > 0.0 { a / span } else { f64::NAN }).collect();
                (Some(mean), Some(stats.opened))
            }
            Some(_) => (Some(vec![f64::NAN; self.present.len()]), Some(0)),
            None => (None, None),
        };
        Some(TopologySummary {
            instances: self.topology.instances,
            cross_zone_ratio: (self.layout.zones > 0)
                .then(|| if self.zoned == 0 { f64::NAN } else { self.crossed as f64 / self.zoned as f64 }),
            subset_connections,
            connections_mean,
            reconnects,
        })
    }
}
