//! The fleet: backend groups whose pods come and go while traffic flows — a horizontal
//! autoscaler, the pod lifecycle (provision, readiness, termination grace), rolling deploys
//! and canaries.
//!
//! A group with fleet dynamics owns a fixed range of backend *slots* (`app-0`, `app-1`, ...),
//! enough for its largest fleet with a deploy's surge and pods still draining; a slot holds at
//! most one pod at a time. Memory is O(slots); per event nothing here runs: the group acts on
//! its own rare events (an autoscaler sync, a pod's next phase, a timeline action) and returns
//! `Change`s for the stack to apply to the balancer and backends. Membership changes rebuild
//! the balancer's indexes once each (O(n log n)), never per request.
//!
//! A pod's life, as Kubernetes runs it:
//!
//! ```text
//!  scheduled ──provision──▶ started ──readiness──▶ ready (routable) ──removed──▶ draining ──termination_grace──▶ gone
//! ```
//!
//! - *provision*: scheduling, image pull, process start; *readiness*: until the readiness
//!   probe first passes. Only a ready pod is an endpoint: the balancer sends it requests.
//! - A removed pod leaves the endpoints at once (the balancer stops sending), its in-flight
//!   requests finish, and after `termination_grace` whatever it still holds is killed (SIGKILL)
//!   and fails. A pod removed before it was ready just goes.
//! - Which pods go first follows the ReplicaSet controller (`controller.ActivePods` order):
//!   pods not yet started, then not ready, then the most recently ready.
//!
//! Autoscaling follows the Kubernetes HPA ([`hpa`]); rolling deploys the Deployment
//! controller's `RollingUpdate` strategy (`pkg/controller/deployment/rolling.go`: new pods while
//! all pods ≤ replicas + maxSurge; old pods removed while ready pods ≥ replicas −
//! maxUnavailable; surge percentages round up, unavailable ones down, and both zero is not
//! allowed); see <https://kubernetes.io/docs/concepts/workloads/controllers/deployment/#rolling-update-deployment>.
//! A canary is one extra pod of the new version which, once ready, gets `weight_percent` of
//! the group's traffic through balancer weights (the stable pods `100 − p` each, the canary
//! `p ×` the stable pods ready), as a weighted traffic split (Istio `VirtualService` weights)
//! does.

pub mod hpa;

use std::time::Duration;

use stacksim_engine::SimTime;

use crate::metrics::TimeIntegral;
use crate::service::ServiceTime;
use hpa::{Behavior, History, Reading};

/// Most replicas an autoscaler may ask for: slots are allocated up front, so this bounds a
/// group's memory.
pub const MAX_REPLICAS: u32 = 10_000;

/// The metric an autoscaler tracks, averaged over a group's ready pods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HpaMetric {
    /// Busy workers over workers, averaged over the last sync period (CPU utilization's
    /// stand-in); the target is a fraction (0.75).
    Utilization,
    /// Requests at the pod (served or queued) at the sync, as a custom per-pod metric.
    InFlightPerPod,
    /// Requests routed to the pod per second over the last sync period (as KEDA's and
    /// Prometheus-adapter request-rate metrics are).
    RequestsPerSecondPerPod,
}

/// A horizontal pod autoscaler (Kubernetes `autoscaling/v2` HPA).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Hpa {
    /// What it tracks.
    pub metric: HpaMetric,
    /// The per-pod value it aims for (`Utilization`: 0 < target ≤ 1).
    pub target: f64,
    /// No scaling while the metric is within this fraction of the target (default 0.1).
    pub tolerance: f64,
    /// Time between evaluations (`--horizontal-pod-autoscaler-sync-period`, default 15 s).
    pub sync: Duration,
    /// Bounds, stabilization window and scaling policies.
    pub behavior: Behavior,
}

impl Hpa {
    /// The target in the reading's integer unit: percent for utilization, thousandths else.
    fn target_units(&self) -> u64 {
        match self.metric {
            HpaMetric::Utilization => (self.target * 100.0).round() as u64,
            _ => (self.target * 1000.0).round() as u64,
        }
    }
}

/// Kubernetes' default scaling behavior with `min`/`max`: scale-down window 5 minutes,
/// scale-up by 100% or 4 pods per 15 s, scale-down by 100% per 15 s.
pub fn default_behavior(min: u32, max: u32) -> Behavior {
    Behavior {
        min,
        max,
        scale_down_window: Duration::from_secs(300),
        scale_up: hpa::ScaleUp { percent: 100, pods: 4, period: Duration::from_secs(15) },
        scale_down: hpa::ScaleDown { percent: 100, period: Duration::from_secs(15) },
    }
}

/// A count or a percentage of the replicas (`max_surge: "25%"`, `max_unavailable: 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Amount {
    /// Pods.
    Count(u32),
    /// Percent of the desired replicas.
    Percent(u32),
}

impl Amount {
    /// Resolved against `replicas`, rounding up (`max_surge`) or down (`max_unavailable`),
    /// as `intstr.GetScaledValueFromIntOrPercent` in `ResolveFenceposts`.
    pub fn resolve(self, replicas: u32, round_up: bool) -> u32 {
        match self {
            Amount::Count(n) => n,
            Amount::Percent(p) => {
                let scaled = u64::from(p) * u64::from(replicas);
                let value = if round_up { scaled.div_ceil(100) } else { scaled / 100 };
                value.min(u64::from(u32::MAX)) as u32
            }
        }
    }
}

/// `maxSurge` and `maxUnavailable` for `replicas` (`deploymentutil.ResolveFenceposts`): surge
/// rounds up, unavailable down, and when both come to zero one pod may be unavailable.
pub fn fenceposts(max_surge: Amount, max_unavailable: Amount, replicas: u32) -> (u32, u32) {
    let surge = max_surge.resolve(replicas, true);
    let unavailable = max_unavailable.resolve(replicas, false);
    if surge == 0 && unavailable == 0 { (0, 1) } else { (surge, unavailable) }
}

/// A backend group with fleet dynamics.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetConfig {
    /// The group's name (`app`): its time-series columns are `app.ready_replicas`, ...
    pub name: String,
    /// Index of its first backend slot.
    pub first: usize,
    /// Backend slots it owns (`first..first + slots`); the first `replicas` hold ready pods at
    /// the start, the others are empty (not present in the balancer).
    pub slots: usize,
    /// Replicas at the start.
    pub replicas: u32,
    /// Its autoscaler, if any.
    pub autoscale: Option<Hpa>,
    /// Scheduled → started.
    pub provision: Duration,
    /// Started → ready (routable).
    pub readiness: Duration,
    /// Draining before a removed pod is killed.
    pub termination_grace: Duration,
    /// Service time of each version: `versions[0]` is the group's own; `RollingDeploy` and
    /// `Canary` actions name later ones by index.
    pub versions: Vec<ServiceTime>,
}

/// What the stack does for the fleet: each a rare event.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Change {
    /// Schedule the pod's next phase on `backend` after `after` (generation `generation`).
    Timer {
        /// Backend slot.
        backend: usize,
        /// The pod's generation: a later pod in the slot ignores the timer.
        generation: u32,
        /// Delay.
        after: Duration,
    },
    /// A process starts on `backend` with service-time version `version` (0: the slot's
    /// own): an empty, running backend, not yet routable.
    Boot {
        /// Backend slot.
        backend: usize,
        /// Version.
        version: usize,
    },
    /// The pod became ready: the balancer may send it requests. The one place a pod joins
    /// the endpoints (slow start / warm-up hooks here).
    Routable {
        /// Backend slot.
        backend: usize,
    },
    /// The pod leaves the endpoints: no new requests; those in flight finish.
    Unroutable {
        /// Backend slot.
        backend: usize,
    },
    /// The process stops: whatever it holds fails.
    Kill {
        /// Backend slot.
        backend: usize,
    },
    /// New balancer weights, in one batch.
    Weights(Vec<(usize, u32)>),
}

/// Where a pod is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// No pod in the slot.
    Empty,
    /// Scheduled: provisioning.
    Provisioning,
    /// Started: waiting for readiness.
    Starting,
    /// Routable.
    Ready,
    /// Removed: draining until its grace ends.
    Draining,
}

#[derive(Clone, Copy, Debug)]
struct Pod {
    phase: Phase,
    version: usize,
    generation: u32,
    canary: bool,
    /// The metric's marks at the last sync (or when it became ready): busy area, routed.
    mark_busy: u128,
    mark_routed: u64,
    mark_at: SimTime,
}

impl Pod {
    fn live(&self) -> bool {
        matches!(self.phase, Phase::Provisioning | Phase::Starting | Phase::Ready)
    }
}

/// A rolling deploy in progress.
#[derive(Clone, Copy, Debug)]
struct Rollout {
    version: usize,
    max_surge: Amount,
    max_unavailable: Amount,
}

/// One group while the simulation runs.
#[derive(Debug)]
struct Group {
    config: FleetConfig,
    pods: Vec<Pod>,
    /// The replica count asked for (`spec.replicas`), by the autoscaler or the start.
    desired: u32,
    /// The version new pods run.
    version: usize,
    rollout: Option<Rollout>,
    /// Percent of the traffic a ready canary gets.
    canary_percent: u32,
    history: History,
    /// Pods by phase over time: ready, starting (scheduled or started), draining, all.
    ready: TimeIntegral,
    starting: TimeIntegral,
    draining: TimeIntegral,
    alive: TimeIntegral,
    /// Their lifetime areas when the open window began.
    window_marks: [u128; 3],
    /// Scale events after warm-up.
    scale_events: u64,
    /// A shortfall of ready capacity: from the sync that first measured load above target.
    short_since: Option<SimTime>,
    /// Longest shortfall ended after warm-up.
    time_to_capacity: Option<Duration>,
    warmup: SimTime,
}

/// What a group measured, for the summary.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetSummary {
    /// The group's name.
    pub name: String,
    /// Pod-seconds of every pod that existed (scheduled, starting, ready or draining) over
    /// the measured period: the cost.
    pub replica_seconds: f64,
    /// Time-averaged ready pods.
    pub ready_mean: f64,
    /// Times the autoscaler changed the replica count (after warm-up).
    pub scale_events: u64,
    /// The longest shortfall of ready capacity: from the autoscaler sync that first measured
    /// load above target (beyond the tolerance) to the first that measured it back within, with
    /// every pod it asked for ready (a shortfall still open at the end counts until the end);
    /// NaN if it never had to catch up. Resolution: the sync period.
    pub time_to_capacity_s: f64,
}

/// One group in one time-series window.
#[derive(Clone, Debug, PartialEq)]
pub struct FleetWindow {
    /// The group's name.
    pub name: String,
    /// Time-averaged ready (routable) pods.
    pub ready: f64,
    /// Time-averaged pods scheduled or started but not ready.
    pub starting: f64,
    /// Time-averaged pods draining.
    pub draining: f64,
    /// At the window's end: ready pods of the newest version over the replicas asked for
    /// (1 when nothing was deployed): a deploy's progress.
    pub deploy_progress: f64,
}

/// A backend's load, as the autoscaler reads it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PodLoad {
    /// Busy-worker area since the start [worker·ns].
    pub busy: u128,
    /// Requests at it now, served or queued.
    pub in_system: u64,
    /// Its workers.
    pub workers: u32,
}

/// Every group with fleet dynamics.
#[derive(Debug)]
pub(crate) struct Fleet {
    groups: Vec<Group>,
    /// Attempts routed to each backend of any group since the start (for request rates).
    routed: Vec<u64>,
    /// Per backend: its group, if any.
    group_of: Vec<Option<u32>>,
}

impl Fleet {
    /// The fleet of `configs` over `backends` backends; `None` without groups (the fleet then
    /// costs nothing).
    pub fn new(configs: &[FleetConfig], backends: usize, warmup: SimTime) -> Option<Fleet> {
        if configs.is_empty() {
            return None;
        }
        let mut group_of = vec![None; backends];
        let groups = configs
            .iter()
            .enumerate()
            .map(|(g, config)| {
                for slot in group_of.iter_mut().skip(config.first).take(config.slots) {
                    *slot = Some(g as u32);
                }
                let pods = (0..config.slots)
                    .map(|i| Pod {
                        phase: if i < config.replicas as usize { Phase::Ready } else { Phase::Empty },
                        version: 0,
                        generation: 0,
                        canary: false,
                        mark_busy: 0,
                        mark_routed: 0,
                        mark_at: SimTime::ZERO,
                    })
                    .collect();
                let mut ready = TimeIntegral::default();
                ready.set(SimTime::ZERO, u64::from(config.replicas));
                let mut alive = TimeIntegral::default();
                alive.set(SimTime::ZERO, u64::from(config.replicas));
                Group {
                    pods,
                    desired: config.replicas,
                    version: 0,
                    rollout: None,
                    canary_percent: 0,
                    history: History::starting_at(SimTime::ZERO, config.replicas),
                    ready,
                    starting: TimeIntegral::default(),
                    draining: TimeIntegral::default(),
                    alive,
                    window_marks: [0; 3],
                    scale_events: 0,
                    short_since: None,
                    time_to_capacity: None,
                    warmup,
                    config: config.clone(),
                }
            })
            .collect();
        Some(Fleet { groups, routed: vec![0; backends], group_of })
    }

    /// The first autoscaler syncs: `(group, after)`.
    pub fn first_syncs(&self) -> Vec<(usize, Duration)> {
        self.groups
            .iter()
            .enumerate()
            .filter_map(|(g, group)| group.config.autoscale.map(|hpa| (g, hpa.sync)))
            .collect()
    }

    /// The autoscaler's sync period of group `g`.
    pub fn sync_period(&self, g: usize) -> Option<Duration> {
        self.groups.get(g).and_then(|group| group.config.autoscale.map(|h| h.sync))
    }

    /// An attempt was routed to backend `b`.
    #[inline]
    pub fn routed(&mut self, b: usize) {
        self.routed[b] += 1;
    }

    /// Service time of version `version` of the group owning backend `b`.
    pub fn service(&self, b: usize, version: usize) -> Option<&ServiceTime> {
        let g = self.group_of.get(b).copied().flatten()? as usize;
        self.groups[g].config.versions.get(version)
    }

    /// Autoscaler sync of group `g` at `now`, reading each backend's load with `load`.
    pub fn sync(&mut self, g: usize, now: SimTime, mut load: impl FnMut(usize) -> PodLoad) -> Vec<Change> {
        let Some(group) = self.groups.get_mut(g) else { return Vec::new() };
        let Some(hpa) = group.config.autoscale else { return Vec::new() };
        let first = group.config.first;
        let mut reading = Reading { ready: 0, unready: 0, total: 0 };
        for (i, pod) in group.pods.iter_mut().enumerate() {
            match pod.phase {
                Phase::Provisioning | Phase::Starting => reading.unready += 1,
                Phase::Ready if !pod.canary => {
                    let b = first + i;
                    let l = load(b);
                    let span = (now - pod.mark_at).as_nanos() as f64;
                    let value = match hpa.metric {
                        HpaMetric::Utilization if span > 0.0 => {
                            // Whole percent, truncated, as the controller computes it.
                            let busy = (l.busy - pod.mark_busy) as f64;
                            (busy * 100.0 / span / f64::from(l.workers.max(1))) as u64
                        }
                        HpaMetric::Utilization => 0,
                        HpaMetric::InFlightPerPod => l.in_system * 1000,
                        HpaMetric::RequestsPerSecondPerPod if span > 0.0 => {
                            ((self.routed[b] - pod.mark_routed) as f64 * 1e9 / span * 1000.0) as u64
                        }
                        HpaMetric::RequestsPerSecondPerPod => 0,
                    };
                    reading.ready += 1;
                    reading.total += value;
                    pod.mark_busy = l.busy;
                    pod.mark_routed = self.routed[b];
                    pod.mark_at = now;
                }
                _ => {}
            }
        }
        let target = hpa.target_units();
        // A shortfall opens at the sync that first measures load beyond the tolerance, and
        // closes at the first that measures it back within, every pod asked for ready.
        if reading.ready > 0 {
            let usage = (reading.total / u64::from(reading.ready)) as f64 / target as f64;
            let within = usage <= 1.0 + hpa.tolerance;
            match group.short_since {
                None if !within => group.short_since = Some(now),
                Some(since) if within && reading.unready == 0 && reading.ready >= group.desired => {
                    group.short_since = None;
                    group.caught_up(now - since, now);
                }
                _ => {}
            }
        }
        let current = group.desired;
        let desired = hpa::recommend(current, reading, target, hpa.tolerance);
        let next = hpa.behavior.normalize(&mut group.history, now, current, desired);
        if next != current && now >= group.warmup {
            group.scale_events += 1;
        }
        group.desired = next;
        let mut changes = Vec::new();
        self.reconcile(g, now, &mut changes);
        changes
    }

    /// The pod in backend `b` reaches its next phase (a timer of generation `generation`).
    pub fn advance(
        &mut self,
        b: usize,
        generation: u32,
        now: SimTime,
        mut load: impl FnMut(usize) -> PodLoad,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let Some(g) = self.group_of.get(b).copied().flatten().map(|g| g as usize) else { return changes };
        let group = &mut self.groups[g];
        let slot = b - group.config.first;
        let pod = group.pods[slot];
        if pod.generation != generation {
            return changes;
        }
        match pod.phase {
            Phase::Provisioning => {
                group.set_phase(slot, Phase::Starting, now);
                let generation = group.pods[slot].generation;
                changes.push(Change::Timer { backend: b, generation, after: group.config.readiness });
            }
            Phase::Starting => {
                group.set_phase(slot, Phase::Ready, now);
                let l = load(b);
                let pod = &mut group.pods[slot];
                pod.mark_busy = l.busy;
                pod.mark_routed = self.routed[b];
                pod.mark_at = now;
                changes.push(Change::Routable { backend: b });
                self.reconcile(g, now, &mut changes);
            }
            Phase::Draining => {
                group.set_phase(slot, Phase::Empty, now);
                changes.push(Change::Kill { backend: b });
                // A pod waiting for a slot may take this one.
                self.reconcile(g, now, &mut changes);
            }
            Phase::Ready | Phase::Empty => {}
        }
        changes
    }

    /// A rolling deploy of `version` starts in group `g`.
    pub fn deploy(
        &mut self,
        g: usize,
        version: usize,
        max_surge: Amount,
        max_unavailable: Amount,
        now: SimTime,
    ) -> Vec<Change> {
        let mut changes = Vec::new();
        let Some(group) = self.groups.get_mut(g) else { return changes };
        group.version = version;
        group.rollout = Some(Rollout { version, max_surge, max_unavailable });
        self.reconcile(g, now, &mut changes);
        changes
    }

    /// A canary of `version` taking `weight_percent` of group `g`'s traffic once ready.
    pub fn canary(&mut self, g: usize, version: usize, weight_percent: u32, now: SimTime) -> Vec<Change> {
        let mut changes = Vec::new();
        let Some(group) = self.groups.get_mut(g) else { return changes };
        group.canary_percent = weight_percent;
        if let Some(slot) = group.free_slot() {
            group.schedule(slot, version, true, now, &mut changes);
        }
        self.reconcile(g, now, &mut changes);
        changes
    }

    /// Brings group `g`'s pods to what is asked: the replica count, and a rollout's steps.
    fn reconcile(&mut self, g: usize, now: SimTime, changes: &mut Vec<Change>) {
        let group = &mut self.groups[g];
        match group.rollout {
            // The Deployment controller syncs again on every change it makes: to a fixpoint.
            // Each pass schedules or removes at least one pod or stops: bounded by the slots.
            Some(rollout) => {
                for _ in 0..=2 * group.pods.len() {
                    let before = changes.len();
                    group.roll(rollout, now, changes);
                    if changes.len() == before || group.rollout.is_none() {
                        break;
                    }
                }
            }
            None => group.scale_to(now, changes),
        }
        if group.pods.iter().any(|p| p.canary && p.phase == Phase::Ready) {
            changes.push(group.canary_weights());
        }
    }

    /// Statistics start at `now`.
    pub fn end_warmup(&mut self, now: SimTime) {
        for group in &mut self.groups {
            for integral in [&mut group.ready, &mut group.starting, &mut group.draining, &mut group.alive] {
                integral.restart(now);
            }
        }
    }

    /// Each group's window ending at `now`, `width` long.
    pub fn close_window(&mut self, now: SimTime, width: Duration) -> Vec<FleetWindow> {
        let span = width.as_nanos() as f64;
        self.groups
            .iter_mut()
            .map(|group| {
                let areas = [
                    group.ready.lifetime_area(now),
                    group.starting.lifetime_area(now),
                    group.draining.lifetime_area(now),
                ];
                let means: Vec<f64> =
                    areas.iter().zip(&group.window_marks).map(|(a, m)| (a - m) as f64 / span).collect();
                group.window_marks = areas;
                let updated =
                    group.count(|p| p.phase == Phase::Ready && !p.canary && p.version == group.version);
                FleetWindow {
                    name: group.config.name.clone(),
                    ready: means[0],
                    starting: means[1],
                    draining: means[2],
                    deploy_progress: (f64::from(updated) / f64::from(group.desired.max(1))).min(1.0),
                }
            })
            .collect()
    }

    /// What each group measured, from the end of warm-up to `end`.
    pub fn summary(&mut self, end: SimTime) -> Vec<FleetSummary> {
        self.groups
            .iter_mut()
            .map(|group| {
                // A shortfall still open at the end lasted at least until then.
                if let Some(since) = group.short_since {
                    group.caught_up(end - since, end);
                }
                let measured = (end - group.warmup).as_secs_f64();
                FleetSummary {
                    name: group.config.name.clone(),
                    replica_seconds: group.alive.mean(end) * measured,
                    ready_mean: group.ready.mean(end),
                    scale_events: group.scale_events,
                    time_to_capacity_s: group.time_to_capacity.map_or(f64::NAN, |d| d.as_secs_f64()),
                }
            })
            .collect()
    }
}

impl Group {
    /// A shortfall that lasted `took` ended at `now`.
    fn caught_up(&mut self, took: Duration, now: SimTime) {
        if now >= self.warmup {
            self.time_to_capacity = Some(self.time_to_capacity.map_or(took, |t| t.max(took)));
        }
    }

    fn count(&self, which: impl Fn(&Pod) -> bool) -> u32 {
        self.pods.iter().filter(|p| which(p)).count() as u32
    }

    /// Moves the pod in `slot` to `phase` at `now`, keeping the counts by phase.
    fn set_phase(&mut self, slot: usize, phase: Phase, now: SimTime) {
        let old = self.pods[slot].phase;
        let bump = |t: &mut TimeIntegral, up: bool| {
            if up { t.increment(now) } else { t.decrement(now) }
        };
        for (p, up) in [(old, false), (phase, true)] {
            match p {
                Phase::Ready => bump(&mut self.ready, up),
                Phase::Provisioning | Phase::Starting => bump(&mut self.starting, up),
                Phase::Draining => bump(&mut self.draining, up),
                Phase::Empty => {}
            }
        }
        match (old == Phase::Empty, phase == Phase::Empty) {
            (true, false) => self.alive.increment(now),
            (false, true) => self.alive.decrement(now),
            _ => {}
        }
        let pod = &mut self.pods[slot];
        pod.phase = phase;
        pod.generation = pod.generation.wrapping_add(1);
        if phase == Phase::Empty {
            pod.canary = false;
        }
    }

    fn free_slot(&self) -> Option<usize> {
        self.pods.iter().position(|p| p.phase == Phase::Empty)
    }

    /// Schedules a pod of `version` in `slot`.
    fn schedule(
        &mut self,
        slot: usize,
        version: usize,
        canary: bool,
        now: SimTime,
        changes: &mut Vec<Change>,
    ) {
        self.set_phase(slot, Phase::Provisioning, now);
        let pod = &mut self.pods[slot];
        pod.version = version;
        pod.canary = canary;
        let backend = self.config.first + slot;
        changes.push(Change::Boot { backend, version });
        changes.push(Change::Timer { backend, generation: pod.generation, after: self.config.provision });
    }

    /// Removes the pod in `slot`: a ready one drains, others just go.
    fn remove(&mut self, slot: usize, now: SimTime, changes: &mut Vec<Change>) {
        let backend = self.config.first + slot;
        if self.pods[slot].phase == Phase::Ready {
            self.set_phase(slot, Phase::Draining, now);
            changes.push(Change::Unroutable { backend });
            let generation = self.pods[slot].generation;
            changes.push(Change::Timer { backend, generation, after: self.config.termination_grace });
        } else {
            self.set_phase(slot, Phase::Empty, now);
            changes.push(Change::Kill { backend });
        }
    }

    /// The next live pod to remove among those `which` selects, in the ReplicaSet
    /// controller's order: not started, then not ready, then the most recently ready (the
    /// highest slot stands in for the newest).
    fn victim(&self, which: impl Fn(&Pod) -> bool) -> Option<usize> {
        let rank = |p: &Pod| match p.phase {
            Phase::Provisioning => 0,
            Phase::Starting => 1,
            _ => 2,
        };
        (0..self.pods.len())
            .rev()
            .filter(|&i| self.pods[i].live() && !self.pods[i].canary && which(&self.pods[i]))
            .min_by_key(|&i| rank(&self.pods[i]))
    }

    /// Without a rollout: as many live (non-canary) pods as desired.
    fn scale_to(&mut self, now: SimTime, changes: &mut Vec<Change>) {
        let mut live = self.count(|p| p.live() && !p.canary);
        while live < self.desired {
            let Some(slot) = self.free_slot() else { break };
            self.schedule(slot, self.version, false, now, changes);
            live += 1;
        }
        while live > self.desired {
            let Some(slot) = self.victim(|_| true) else { break };
            self.remove(slot, now, changes);
            live -= 1;
        }
    }

    /// One step of a rolling update (`rolling.go`: `reconcileNewReplicaSet`, then
    /// `reconcileOldReplicaSets` with `cleanupUnhealthyReplicas` and
    /// `scaleDownOldReplicaSetsForRollingUpdate`).
    fn roll(&mut self, rollout: Rollout, now: SimTime, changes: &mut Vec<Change>) {
        let replicas = self.desired;
        let (surge, unavailable) = fenceposts(rollout.max_surge, rollout.max_unavailable, replicas);
        let v = rollout.version;
        let is_new = move |p: &Pod| p.version == v;
        // Scale the new version up, within replicas + surge pods in all.
        let all = self.count(|p| p.live() && !p.canary);
        let new = self.count(|p| p.live() && !p.canary && is_new(p));
        let room = (replicas + surge).saturating_sub(all).min(replicas.saturating_sub(new));
        for _ in 0..room {
            let Some(slot) = self.free_slot() else { break };
            self.schedule(slot, v, false, now, changes);
        }
        // More new pods than asked (the autoscaler shrank the fleet): remove the extra.
        let mut new = self.count(|p| p.live() && !p.canary && is_new(p));
        while new > replicas {
            let Some(slot) = self.victim(is_new) else { break };
            self.remove(slot, now, changes);
            new -= 1;
        }
        // Scale the old versions down, keeping replicas − unavailable ready.
        let min_available = replicas.saturating_sub(unavailable);
        let all = self.count(|p| p.live() && !p.canary);
        let new_unavailable =
            new.saturating_sub(self.count(|p| p.phase == Phase::Ready && !p.canary && is_new(p)));
        let mut max_scaled_down = i64::from(all) - i64::from(min_available) - i64::from(new_unavailable);
        if max_scaled_down > 0 {
            // Old pods that are not ready go first, up to the limit.
            while max_scaled_down > 0 {
                let Some(slot) = self.victim(|p| !is_new(p) && p.phase != Phase::Ready) else { break };
                self.remove(slot, now, changes);
                max_scaled_down -= 1;
            }
            let available = self.count(|p| p.phase == Phase::Ready && !p.canary);
            let mut down = available.saturating_sub(min_available);
            while down > 0 {
                let Some(slot) = self.victim(|p| !is_new(p)) else { break };
                self.remove(slot, now, changes);
                down -= 1;
            }
        }
        let old = self.count(|p| p.live() && !p.canary && !is_new(p));
        let ready_new = self.count(|p| p.phase == Phase::Ready && !p.canary && is_new(p));
        if old == 0 && ready_new >= replicas {
            // Complete: the group scales as usual from here, with the new version.
            self.rollout = None;
        }
    }

    /// Balancer weights for the canary split: stable ready pods `100 − p` each, ready
    /// canaries `p × stable` between them.
    fn canary_weights(&self) -> Change {
        let p = self.canary_percent.min(100);
        let stable = self.count(|q| q.phase == Phase::Ready && !q.canary).max(1);
        let canaries = self.count(|q| q.phase == Phase::Ready && q.canary).max(1);
        let first = self.config.first;
        Change::Weights(
            self.pods
                .iter()
                .enumerate()
                .filter(|(_, q)| q.phase == Phase::Ready)
                .map(|(i, q)| {
                    let w = if q.canary { (p * stable).div_ceil(canaries).max(1) } else { (100 - p).max(1) };
                    (first + i, w)
                })
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn surge_rounds_up_and_unavailable_down() {
        assert_eq!(fenceposts(Amount::Percent(25), Amount::Percent(25), 10), (3, 2));
        assert_eq!(fenceposts(Amount::Percent(25), Amount::Count(0), 6), (2, 0));
        assert_eq!(fenceposts(Amount::Count(0), Amount::Count(0), 6), (0, 1));
        assert_eq!(fenceposts(Amount::Percent(10), Amount::Percent(10), 5), (1, 0));
    }
}
