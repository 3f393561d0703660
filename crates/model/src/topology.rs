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

use rand::{Rng, RngExt};
use stacksim_engine::{SimRng, SimTime, rng};

use crate::backend::BackendConfig;
use crate::balancer::{Balancer, Heard};
use crate::client::ClientConfig;
use crate::health::{ActiveCheck, Health, HealthConfig};
use crate::policy::{Policy, RequestInfo};
use crate::request::NO_CONNECTION;

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

/// Which backends each instance connects to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Subset {
    /// Every backend.
    #[default]
    All,
    /// `size` backends drawn at random per instance (stream `subset/<i>`).
    Random {
        /// Backends per instance, ≥ 1 (the whole fleet when larger).
        size: u32,
    },
    /// The SRE book's deterministic subsetting (module docs).
    Deterministic {
        /// Backends per instance, ≥ 1 (the whole fleet when larger).
        size: u32,
    },
}

/// How requests travel from an instance to backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Connections {
    /// A new connection per request: the policy picks per request.
    #[default]
    PerRequest,
    /// HTTP/1.1 keep-alive: one request at a time per connection, a pool of idle connections.
    KeepAlive {
        /// Idle connections kept per instance (Go's `MaxIdleConnsPerHost`), ≥ 1.
        per_instance: u32,
        /// A connection closes after this many requests (NGINX `keepalive_requests`).
        max_requests: Option<u32>,
        /// A connection closes at this age, ±10%.
        max_age: Option<Duration>,
    },
    /// HTTP/2 (gRPC): requests multiplexed over `per_instance` connections, used in turn.
    Http2 {
        /// Connections per instance, ≥ 1.
        per_instance: u32,
        /// A connection closes at this age, ±10% (gRPC `MAX_CONNECTION_AGE`).
        max_age: Option<Duration>,
    },
}

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

/// No zone, no group.
const NONE: u32 = u32::MAX;

/// What every instance shares: which priority level and zone each backend is in, the groups.
#[derive(Debug)]
struct Layout {
    /// Priority levels (highest priority first), ≥ 1.
    levels: usize,
    /// Per backend: its priority level.
    priority: Vec<u32>,
    /// Zone names, in order of first mention (backends, then clients).
    zones: usize,
    /// Per backend: its zone, or [`NONE`].
    zone: Vec<u32>,
    /// Per zone: the share of zoned clients in it, in 1/10000 (Envoy's local percentage).
    local_percentage: Vec<u64>,
    zone_aware: Option<ZoneAware>,
    /// Overprovisioning in percent (140).
    overprovisioning: u64,
    panic_threshold: f64,
    /// Per backend: its level's group and its (level, zone) group or [`NONE`].
    groups_of: Vec<(u32, u32)>,
    /// One group and no draws: the single balancer of earlier releases.
    simple: bool,
}

impl Layout {
    fn groups(&self) -> usize {
        if self.zone_aware.is_some() { self.levels * (1 + self.zones) } else { self.levels }
    }

    fn zone_group(&self, level: usize, zone: usize) -> usize {
        self.levels + level * self.zones + zone
    }
}

/// Where an instance routes requests of one (level, local zone): Envoy's
/// `LocalityRoutingState`.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Locality {
    /// No zone-aware routing: the whole level.
    None,
    /// Every request stays in the local zone.
    Direct,
    /// `local` (in 1/10000) stay; the rest go to other zones in proportion to their residual
    /// capacity, accumulated in `residual` (local zone first, as Envoy orders localities).
    Residual { local: u64, residual: Vec<u64>, order: Vec<u32> },
}

/// One open connection.
#[derive(Clone, Copy, Debug)]
struct Connection {
    backend: u32,
    served: u32,
    expires: SimTime,
}

/// An instance's connections.
#[derive(Debug, Default)]
struct Pool {
    /// Slots; `None` when closed (its index is then in `free`).
    connections: Vec<Option<Connection>>,
    free: Vec<u32>,
    /// `KeepAlive`: idle connections, most recent last.
    idle: Vec<u32>,
    /// `Http2`: the connection in each slot, or [`NO_CONNECTION`].
    slots: Vec<u32>,
    /// `Http2`: the slot the next request uses.
    next: usize,
}

/// One balancer instance.
#[derive(Debug)]
struct Instance {
    /// Handed to the policies.
    rng: SimRng,
    /// Priority and zone draws, and connection-age jitter (not the policy's stream).
    draws: SimRng,
    health: Health,
    /// Per backend: in the configuration and in this instance's subset.
    member: Vec<bool>,
    groups: Vec<Balancer>,
    /// Per level: Envoy's healthy priority load, in percent (sums to 100).
    load: Vec<u32>,
    /// Per level: in panic (every member of the level is used, whatever its health).
    panic: Vec<bool>,
    /// Per (level, local zone).
    locality: Vec<Locality>,
    pool: Pool,
    scratch: Vec<bool>,
}

/// Time-weighted open connections per backend.
#[derive(Debug, Default)]
struct ConnectionStats {
    open: Vec<u32>,
    area: Vec<f64>,
    last: Vec<SimTime>,
    start: SimTime,
    measuring: bool,
    opened: u64,
}

impl ConnectionStats {
    fn change(&mut self, b: usize, now: SimTime, up: bool) {
        if self.measuring {
            self.area[b] += f64::from(self.open[b]) * (now - self.last[b]).as_secs_f64();
        }
        self.last[b] = now;
        if up {
            self.open[b] += 1;
            if self.measuring {
                self.opened += 1;
            }
        } else {
            self.open[b] = self.open[b].saturating_sub(1);
        }
    }
}

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

impl Layout {
    fn new(
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
                    close(inst, self.stats.as_mut(), c, now);
                }
                let b = inst.pick(&self.layout, request, local)?;
                let c = open(inst, self.stats.as_mut(), b, now, max_age);
                inst.pool.slots[slot] = c;
                Some((b, c))
            }
            Connections::KeepAlive { max_age, .. } => {
                while let Some(c) = inst.pool.idle.pop() {
                    let conn = inst.pool.connections[c as usize].expect("an idle connection is open");
                    if conn.expires > now && inst.member[conn.backend as usize] {
                        return Some((conn.backend as usize, c));
                    }
                    close(inst, self.stats.as_mut(), c, now);
                }
                let b = inst.pick(&self.layout, request, local)?;
                Some((b, open(inst, self.stats.as_mut(), b, now, max_age)))
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
                    close(inst, self.stats.as_mut(), c, now);
                }
            }
            Connections::KeepAlive { per_instance, max_requests, .. } => {
                let spent = max_requests.is_some_and(|m| served >= m) || expires <= now;
                if down || spent || inst.pool.idle.len() >= per_instance as usize {
                    close(inst, self.stats.as_mut(), c, now);
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
                    close(inst, self.stats.as_mut(), c, now);
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

/// Numbers the zones in order of first mention (backends, then clients): per backend, per
/// client (or [`NONE`]), and how many.
fn zone_numbers(backends: &[BackendConfig], clients: &[ClientConfig]) -> (Vec<u32>, Vec<u32>, usize) {
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

/// Opens a connection of `inst` to backend `b` at `now`, aged out at `max_age` ±10%.
fn open(
    inst: &mut Instance,
    stats: Option<&mut ConnectionStats>,
    b: usize,
    now: SimTime,
    max_age: Option<Duration>,
) -> u32 {
    let expires = match max_age {
        // gRPC A9: "a random jitter of +/-10% will be added to MAX_CONNECTION_AGE".
        Some(age) => now + age.mul_f64(inst.draws.random_range(0.9..1.1)),
        None => SimTime::MAX,
    };
    let conn = Connection { backend: b as u32, served: 0, expires };
    if let Some(stats) = stats {
        stats.change(b, now, true);
    }
    match inst.pool.free.pop() {
        Some(c) => {
            inst.pool.connections[c as usize] = Some(conn);
            c
        }
        None => {
            inst.pool.connections.push(Some(conn));
            (inst.pool.connections.len() - 1) as u32
        }
    }
}

/// Closes connection `c` of `inst` at `now`.
fn close(inst: &mut Instance, stats: Option<&mut ConnectionStats>, c: u32, now: SimTime) {
    if let Some(conn) = inst.pool.connections[c as usize].take() {
        inst.pool.free.push(c);
        inst.pool.idle.retain(|&x| x != c);
        if let Some(stats) = stats {
            stats.change(conn.backend as usize, now, false);
        }
    }
}

/// Per backend of a fleet of `backends`: how many of `instances` instances hold it in their
/// `subset`, as a run with `seed` draws them (the subset audit of `stacksim check`).
pub fn subset_counts(subset: Subset, backends: usize, instances: u32, seed: u64) -> Vec<u32> {
    let fleet: Vec<usize> = (0..backends).collect();
    let mut counts = vec![0u32; backends];
    for i in 0..instances as usize {
        for b in subset_of(subset, &fleet, i, seed) {
            counts[b] += 1;
        }
    }
    counts
}

/// The backends of instance `i` among `fleet` (present backends, in index order).
pub(crate) fn subset_of(subset: Subset, fleet: &[usize], i: usize, seed: u64) -> Vec<usize> {
    match subset {
        Subset::All => fleet.to_vec(),
        Subset::Random { size } => {
            let mut all = fleet.to_vec();
            let size = (size as usize).min(all.len());
            let mut draws = rng::stream(seed, &format!("subset/{i}"));
            // A partial Fisher–Yates shuffle: the first `size` are a uniform sample.
            for k in 0..size {
                // `k + [0, n - k)` is the draw `[k, n)` makes, bit for bit; a range from 0 keeps
                // `random_range` over `usize` ranges called with a constant start alone, as the
                // policies' picks call it (where it is specialised for a start of 0).
                let j = k + draws.random_range(0..all.len() - k);
                all.swap(k, j);
            }
            all.truncate(size);
            all.sort_unstable();
            all
        }
        Subset::Deterministic { size } => {
            // SRE book, ch. 20: subset_count = backends / size; round = client_id / subset_count;
            // shuffle the backends with the round as seed; subset_id = client_id % subset_count.
            let size = (size as usize).min(fleet.len()).max(1);
            if fleet.is_empty() {
                return Vec::new();
            }
            let subset_count = fleet.len() / size;
            let round = i / subset_count;
            let mut all = fleet.to_vec();
            let mut draws = rng::stream(seed, &format!("subset/round/{round}"));
            for k in (1..all.len()).rev() {
                let j = draws.random_range(0..=k);
                all.swap(k, j);
            }
            let start = (i % subset_count) * size;
            let mut mine = all[start..start + size].to_vec();
            mine.sort_unstable();
            mine
        }
    }
}

impl Instance {
    /// The backend for `request` from a client in zone `local` ([`NONE`] if unknown).
    #[inline(always)]
    fn pick(&mut self, layout: &Layout, request: &RequestInfo, local: u32) -> Option<usize> {
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
    fn refresh(&mut self, layout: &Layout) {
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

/// Envoy's `regenerateLocalityRoutingStructures` for clients in zone `local`, given the healthy
/// backends per zone of one level.
fn locality(layout: &Layout, healthy: &[u64], local: usize) -> Locality {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_subsets_give_every_backend_the_same_number_of_instances() {
        let fleet: Vec<usize> = (0..300).collect();
        let mut count = vec![0u32; 300];
        for i in 0..300 {
            let mine = subset_of(Subset::Deterministic { size: 10 }, &fleet, i, 7);
            assert_eq!(mine.len(), 10);
            for b in mine {
                count[b] += 1;
            }
        }
        assert!(count.iter().all(|&c| c == 10), "{count:?}");
    }

    #[test]
    fn random_subsets_are_uneven() {
        // SRE book: 90 of 300 per client, 300 clients: 63%–121% of the mean in one draw.
        let fleet: Vec<usize> = (0..300).collect();
        let mut count = vec![0u32; 300];
        for i in 0..300 {
            for b in subset_of(Subset::Random { size: 90 }, &fleet, i, 7) {
                count[b] += 1;
            }
        }
        let (min, max) = (*count.iter().min().unwrap(), *count.iter().max().unwrap());
        assert!(min < 90 && max > 90 && min > 45 && max < 135, "{min}..{max}");
    }

    #[test]
    fn a_random_subset_draws_from_k_as_k_plus_a_draw_from_zero() {
        // `subset_of` draws `k + [0, n - k)` where it used to draw `[k, n)`: the same numbers,
        // so every random subset is the one earlier releases drew.
        let (mut from_k, mut from_zero) = (rng::stream(7, "subset/0"), rng::stream(7, "subset/0"));
        for n in 1usize..2000 {
            for k in [0, n / 3, n / 2, n - 1] {
                assert_eq!(from_k.random_range(k..n), k + from_zero.random_range(0..n - k), "{k}..{n}");
            }
        }
    }
}
