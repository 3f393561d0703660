//! Backends: workers behind a FIFO queue, and the decision to admit an attempt.
//!
//! A backend knows its own occupancy — busy workers and the attempts waiting for one — and
//! decides, for each attempt the balancer sends, whether it is served at once, queued, or
//! turned away ([`Admission`]). It holds references to the attempts in its queue, not the
//! attempts themselves: a queued attempt that expired or was abandoned stays in the queue until
//! it reaches the front, and the caller says which references are still waiting.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use rand_xoshiro::SplitMix64;
use stacksim_engine::{SimTime, scale_span};

use crate::ModelError;
use crate::classes::{Priority, Shed};
use crate::health::{ActiveCheck, CheckKind};
use crate::metrics::{FALL, Mark, area, record_change};
use crate::overload::discipline::Discipline;
use crate::overload::{CircuitBreakers, Concurrency, RateLimit, SlowStart, TokenBucket, Warmup};
use crate::request::AttemptRef;
use crate::service::{ServiceSampler, ServiceTime};

/// How many requests may wait at a backend for a free worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueLimit {
    /// At most this many wait; a request arriving to a full queue is rejected at once (503).
    Bounded(u32),
    /// No limit: the queue grows without bound when load exceeds capacity.
    Unbounded,
}

/// Service slows down as a backend fills up: every service starting while `in_system`
/// requests are at the backend (queued or served) takes `1 + slope × max(0, in_system − knee)`
/// times as long. An overwhelmed backend thus becomes unresponsive, as real ones do when
/// they thrash on memory, locks or garbage collection.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Degradation {
    /// Requests at the backend beyond which service slows.
    pub knee: u32,
    /// Extra service time per request beyond the knee, as a fraction of the normal time.
    pub slope: f64,
}

/// One backend server.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendConfig {
    /// Name, unique within the stack (`app-0`).
    pub name: String,
    /// Requests served at once.
    pub workers: u32,
    /// Waiting room in front of the workers (FIFO).
    pub queue: QueueLimit,
    /// Time a worker spends on one request (its own work; database calls come on top).
    pub service: ServiceTime,
    /// Balancer weight.
    pub weight: u32,
    /// A request that waited this long in the queue is answered 503 (HAProxy `timeout queue`).
    pub queue_timeout: Option<Duration>,
    /// Slow-down under overload.
    pub degradation: Option<Degradation>,
    /// Whether the backend is in the balancer's configuration at the start (an `Add` action
    /// brings in one that is not).
    pub present: bool,
    /// The order its workers take waiting requests, and CoDel's limits on waiting.
    pub discipline: Discipline,
    /// The backend group (Envoy cluster) it belongs to: its circuit breakers count the
    /// attempts of every backend of its group. Backends of one group share their settings.
    pub group: u32,
    /// The group's circuit-breaking thresholds. `None`: none.
    pub circuit_breakers: Option<CircuitBreakers>,
    /// A token bucket in front of this backend (429 when empty). `None`: none.
    pub rate_limit: Option<RateLimit>,
    /// The balancer ramps its weight up after it joins. `None`: full weight at once.
    pub slow_start: Option<SlowStart>,
    /// Its service is slower for a while after its process (re)starts. `None`: never.
    pub warmup: Option<Warmup>,
    /// An adaptive concurrency limit in front of it (Envoy's adaptive concurrency filter in its
    /// sidecar, or a Netflix concurrency-limits limiter): attempts over the limit are answered
    /// 503 at once. `None`: none.
    pub concurrency: Option<Concurrency>,
    /// The zone it runs in (zone-aware routing, `FailZone`, cross-zone traffic).
    pub zone: Option<String>,
    /// Its Envoy priority level: 0 is used first, higher levels take over as it fails.
    pub priority: u32,
    /// Refuses attempts of low request priority while its queue is long (see
    /// [`crate::classes`]). `None`: never.
    pub shed: Option<Shed>,
}

impl BackendConfig {
    /// A present backend with weight 1 and no queue timeout or degradation.
    pub fn new(name: impl Into<String>, workers: u32, queue: QueueLimit, service: ServiceTime) -> Self {
        BackendConfig {
            name: name.into(),
            workers,
            queue,
            service,
            weight: 1,
            queue_timeout: None,
            degradation: None,
            present: true,
            discipline: Discipline::Fifo,
            group: 0,
            circuit_breakers: None,
            rate_limit: None,
            slow_start: None,
            warmup: None,
            concurrency: None,
            zone: None,
            priority: 0,
            shed: None,
        }
    }
}

/// What a backend does with an attempt the balancer sends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Admission {
    /// A worker is free: it starts now.
    Serve,
    /// Every worker is busy and the queue has room: it waits.
    Queue,
    /// It is turned away at once.
    Reject(Rejection),
}

/// Why a backend turned an attempt away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rejection {
    /// The process is down: the connection is refused (a failure, not a 503).
    Down,
    /// Every worker is busy and the queue is full: answered 503.
    QueueFull,
}

/// Time integrals of a backend's busy workers and queue since the start of the run, for the
/// time series.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Areas {
    /// Busy workers [worker·ns].
    pub busy: u128,
    /// Attempts waiting [attempt·ns].
    pub queued: u128,
    /// Workers it has.
    pub workers: u32,
}

/// A backend while the simulation runs.
///
/// Laid out by hand (`repr(C)`), hottest first: each attempt reads and changes its backend
/// twice, and in a large fleet each time is a cache miss per line touched (issue 10). The
/// first cache line holds the occupancy every attempt changes, the workers and the service
/// draw; the second the queue, its limits and what slows service down; the rest is read only when a mechanism it belongs to
/// is configured, by health checks, or by reports. Test `hot_fields_share_two_cache_lines`
/// keeps it so.
#[derive(Debug)]
#[repr(C, align(64))]
pub(crate) struct Backend {
    occupancy: Occupancy,
    workers: u32,
    up: bool,
    /// Whether the discipline is FIFO: read at every enqueue and release, where other
    /// disciplines leave FIFO's path.
    fifo: bool,
    /// Shared by the backends built with the same service time (a fleet's are all alike), so
    /// that one copy stays in cache.
    service: Arc<ServiceSampler>,
    queue_limit: Option<u32>,
    queue: VecDeque<AttemptRef>,
    queue_timeout: Option<Duration>,
    /// The timeline's slow-down, its overload degradation and warm-up, if any of them is on.
    slowing: Option<Box<Slowing>>,
    name: String,
    mean_service_s: f64,
    discipline: Discipline,
    /// When the queue was last empty (kept only for a discipline that watches it).
    last_empty: SimTime,
    /// Where the averages of busy workers and the queue begin (the end of warm-up).
    busy_mark: Mark,
    queued_mark: Mark,
    /// Its rate limit, if it has one.
    bucket: Option<TokenBucket>,
    /// Its priority shedding, if any.
    shed: Option<Shed>,
}

/// A backend's busy workers and live waiting attempts, and the time integrals of both since the
/// start of the run (48 bytes: with the workers and the service, one cache line). The
/// integrals are kept as `metrics::Area` keeps them: a sum of change times,
/// exact, without a multiplication per change.
#[derive(Clone, Debug, Default)]
struct Occupancy {
    /// Σ tᵢ·Δᵢ over the changes of `busy`, modulo 2¹²⁸.
    busy_changes: u128,
    /// Σ tᵢ·Δᵢ over the changes of `queued`, modulo 2¹²⁸.
    queued_changes: u128,
    busy: u32,
    /// Live (not expired) attempts in the queue.
    queued: u32,
}

impl Occupancy {
    /// One more busy worker at `now`.
    #[inline]
    fn start(&mut self, now: SimTime) {
        record_change(&mut self.busy_changes, now, 1);
        self.busy += 1;
    }

    /// One fewer busy worker at `now` (not below zero).
    #[inline]
    fn finish(&mut self, now: SimTime) {
        if self.busy > 0 {
            record_change(&mut self.busy_changes, now, FALL);
            self.busy -= 1;
        }
    }

    /// One more attempt waits, from `now`.
    #[inline]
    fn enqueue(&mut self, now: SimTime) {
        record_change(&mut self.queued_changes, now, 1);
        self.queued += 1;
    }

    /// One fewer attempt waits, from `now`.
    #[inline]
    fn dequeue(&mut self, now: SimTime) {
        record_change(&mut self.queued_changes, now, FALL);
        self.queued -= 1;
    }

    /// Nothing is busy or waiting from `now` on.
    fn clear(&mut self, now: SimTime) {
        record_change(&mut self.busy_changes, now, u128::from(self.busy).wrapping_neg());
        record_change(&mut self.queued_changes, now, u128::from(self.queued).wrapping_neg());
        self.busy = 0;
        self.queued = 0;
    }

    /// Both areas at `now`: (busy, queued).
    fn areas(&self, now: SimTime) -> (u128, u128) {
        (
            area(u64::from(self.busy), self.busy_changes, now),
            area(u64::from(self.queued), self.queued_changes, now),
        )
    }
}

/// What slows a backend's service down, when anything does.
#[derive(Debug)]
struct Slowing {
    /// The timeline's slow-down factor.
    factor: f64,
    degradation: Option<Degradation>,
    /// Its warm-up, and when its process last started (`None`: warm since the start of the
    /// run).
    warmup: Option<(Warmup, Option<SimTime>)>,
}

impl Backend {
    /// An idle, running backend as `config` describes it, drawing its service times from
    /// `service` (`config.service`'s sampler); `config` has passed
    /// [`StackConfig::check`](crate::StackConfig::check).
    pub fn new(config: &BackendConfig, service: Arc<ServiceSampler>) -> Self {
        let slowing = (config.degradation.is_some() || config.warmup.is_some()).then(|| {
            Box::new(Slowing {
                factor: 1.0,
                degradation: config.degradation,
                warmup: config.warmup.map(|w| (w, None)),
            })
        });
        Backend {
            occupancy: Occupancy::default(),
            workers: config.workers,
            up: true,
            fifo: config.discipline == Discipline::Fifo,
            service,
            queue_limit: match config.queue {
                QueueLimit::Bounded(n) => Some(n),
                QueueLimit::Unbounded => None,
            },
            queue: VecDeque::new(),
            queue_timeout: config.queue_timeout,
            slowing,
            name: config.name.clone(),
            mean_service_s: config.service.mean_secs(),
            discipline: config.discipline,
            last_empty: SimTime::ZERO,
            busy_mark: Mark::default(),
            queued_mark: Mark::default(),
            bucket: config.rate_limit.map(TokenBucket::new),
            shed: config.shed,
        }
    }

    /// The backends `configs` describe, in order; backends with equal service times (next to
    /// each other) share one sampler.
    pub fn fleet(configs: &[BackendConfig]) -> Result<Vec<Self>, ModelError> {
        let mut shared: Option<(&ServiceTime, Arc<ServiceSampler>)> = None;
        configs
            .iter()
            .map(|config| {
                let service = match &shared {
                    Some((time, sampler)) if **time == config.service => Arc::clone(sampler),
                    _ => {
                        let sampler = Arc::new(config.service.sampler()?);
                        shared = Some((&config.service, Arc::clone(&sampler)));
                        sampler
                    }
                };
                Ok(Backend::new(config, service))
            })
            .collect()
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// What it does with an attempt arriving now.
    #[inline]
    pub fn admit(&self) -> Admission {
        if !self.up {
            Admission::Reject(Rejection::Down)
        } else if self.occupancy.busy < self.workers {
            Admission::Serve
        } else if self.queue_limit.is_none_or(|limit| self.occupancy.queued < limit) {
            Admission::Queue
        } else {
            Admission::Reject(Rejection::QueueFull)
        }
    }

    /// Whether it sheds an attempt of `priority` arriving now (never, without shedding).
    #[inline]
    pub fn sheds(&self, priority: Priority) -> bool {
        self.shed.is_some_and(|shed| shed.sheds(self.occupancy.queued, priority))
    }

    /// Its rate limit at `now`: whether an attempt may pass (always, without a limit).
    #[inline]
    pub fn within_rate(&mut self, now: SimTime) -> bool {
        self.bucket.as_mut().is_none_or(|b| b.try_take(now))
    }

    /// Its process starts at `now` (a restart, or a standby brought in): its warm-up begins.
    pub fn cold_start(&mut self, now: SimTime) {
        if let Some((_, started)) = self.slowing.as_mut().and_then(|s| s.warmup.as_mut()) {
            *started = Some(now);
        }
    }

    /// Puts `attempt` in the queue at `now`; returns how long it may wait there, if limited.
    #[inline]
    pub fn enqueue(&mut self, attempt: AttemptRef, now: SimTime) -> Option<Duration> {
        self.queue.push_back(attempt);
        self.occupancy.enqueue(now);
        if self.fifo {
            return self.queue_timeout;
        }
        self.wait_limit_by_discipline(now)
    }

    /// [`Backend::enqueue`]'s wait limit under a discipline other than FIFO (kept out of
    /// FIFO's path).
    #[inline(never)]
    fn wait_limit_by_discipline(&mut self, now: SimTime) -> Option<Duration> {
        if self.occupancy.queued == 1 && self.discipline.watches_emptiness() {
            // It was empty until now.
            self.last_empty = now;
        }
        match (self.queue_timeout, self.discipline.wait_limit(now, self.last_empty)) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// [`Backend::release`]'s choice of the next waiting attempt under a discipline other than
    /// FIFO (kept out of FIFO's path): the oldest, or the newest.
    #[inline(never)]
    fn release_by_discipline(
        &mut self,
        now: SimTime,
        mut waiting: impl FnMut(AttemptRef) -> bool,
    ) -> Option<AttemptRef> {
        loop {
            let next = if self.discipline.takes_newest(now, self.last_empty) {
                self.queue.pop_back()
            } else {
                self.queue.pop_front()
            }?;
            if waiting(next) {
                self.dequeued(now);
                return Some(next);
            }
        }
    }

    /// One fewer attempt waits, at `now`.
    #[inline]
    fn dequeued(&mut self, now: SimTime) {
        self.occupancy.dequeue(now);
        if self.occupancy.queued == 0 && !self.fifo {
            self.last_empty = now;
            // Only stale references are left; under LIFO they would sit at the front of the
            // queue until it drained to them (FIFO pops them on its way).
            self.queue.clear();
        }
    }

    /// A worker starts an attempt at `now`: its work, drawn from the request's `sizes` stream
    /// at the backend's current speed, times `scale` (its request class's `service_scale`).
    #[inline]
    pub fn start(&mut self, now: SimTime, sizes: &mut SplitMix64, scale: f64) -> Duration {
        let mut factor = self.slowness() * scale;
        if let Some(Slowing { warmup: Some((warmup, Some(started))), .. }) = self.slowing.as_deref() {
            factor *= warmup.slowness(now.saturating_since(*started));
        }
        self.occupancy.start(now);
        let work = self.service.sample(sizes);
        // Saturates: a slowness too large for the clock is a service that never ends in the run
        // (and a NaN, which validation rules out, leaves the work as sampled).
        if factor == 1.0 { work } else { scale_span(work, factor).unwrap_or(work) }
    }

    /// A worker finishes at `now`. Returns the next attempt it takes from the queue: the first
    /// for which `waiting` holds (the others are dropped: they expired or ended elsewhere).
    #[inline]
    pub fn release(
        &mut self,
        now: SimTime,
        mut waiting: impl FnMut(AttemptRef) -> bool,
    ) -> Option<AttemptRef> {
        self.occupancy.finish(now);
        if !self.fifo {
            return self.release_by_discipline(now, waiting);
        }
        while let Some(next) = self.queue.pop_front() {
            if waiting(next) {
                self.occupancy.dequeue(now);
                return Some(next);
            }
        }
        None
    }

    /// A queued attempt leaves the queue at `now` without being served (it waited too long).
    /// Its reference stays in the queue and is dropped when it reaches the front.
    pub fn expire(&mut self, now: SimTime) {
        self.dequeued(now);
    }

    /// The process dies at `now`: its queue and workers are emptied, and it refuses attempts
    /// until it [recovers](Backend::recover).
    pub fn crash(&mut self, now: SimTime) {
        self.up = false;
        self.queue.clear();
        self.last_empty = now;
        self.occupancy.clear(now);
    }

    /// The process is back.
    pub fn recover(&mut self) {
        self.up = true;
    }

    /// A new process (a pod of the fleet) starts in this slot, serving with `service`: running,
    /// with an empty queue. A `service` that does not sample keeps the current one
    /// (validation rules it out).
    pub fn boot(&mut self, service: &ServiceTime) {
        if let Ok(sampler) = service.sampler() {
            self.service = Arc::new(sampler);
            self.mean_service_s = service.mean_secs();
        }
        self.up = true;
    }

    /// Its load as an autoscaler reads it at `now`.
    pub fn load(&mut self, now: SimTime) -> crate::fleet::PodLoad {
        crate::fleet::PodLoad {
            busy: self.occupancy.areas(now).0,
            in_system: self.in_system(),
            workers: self.workers,
        }
    }

    /// Every service starting from now takes `factor` times as long (the timeline's slow-down).
    pub fn slow_down(&mut self, factor: f64) {
        self.slowing
            .get_or_insert_with(|| Box::new(Slowing { factor: 1.0, degradation: None, warmup: None }))
            .factor = factor;
    }

    /// Attempts at the backend: served or waiting.
    #[inline]
    fn in_system(&self) -> u64 {
        u64::from(self.occupancy.busy) + u64::from(self.occupancy.queued)
    }

    /// How many times its normal time a service starting now takes: the timeline's slow-down
    /// times the overload degradation at the current occupancy.
    #[inline]
    pub fn slowness(&self) -> f64 {
        self.slowing.as_ref().map_or(1.0, |s| {
            let degradation = s
                .degradation
                .map_or(1.0, |d| 1.0 + d.slope * self.in_system().saturating_sub(u64::from(d.knee)) as f64);
            s.factor * degradation
        })
    }

    /// Whether an active check of kind `check.kind` passes now.
    pub fn passes(&self, check: &ActiveCheck) -> bool {
        self.up
            && match check.kind {
                CheckKind::Tcp => true,
                CheckKind::Http => {
                    // Estimated answer time of a request sent now: its turn in the queue, then
                    // one service, at the backend's current speed.
                    let service = self.mean_service_s * self.slowness();
                    let ahead = (self.in_system() + 1).saturating_sub(u64::from(self.workers));
                    let estimate = service * (1.0 + ahead as f64 / f64::from(self.workers));
                    estimate <= check.timeout.as_secs_f64()
                }
            }
    }

    /// Statistics start at `now` (end of warm-up).
    pub fn end_warmup(&mut self, now: SimTime) {
        let (busy, queued) = self.occupancy.areas(now);
        self.busy_mark.restart(busy, now);
        self.queued_mark.restart(queued, now);
    }

    /// Its time integrals since the start of the run, read at `now`.
    pub fn areas(&mut self, now: SimTime) -> Areas {
        let (busy, queued) = self.occupancy.areas(now);
        Areas { busy, queued, workers: self.workers }
    }

    /// Busy worker-time over worker-time, and the mean queue length, from the end of warm-up
    /// to `end`.
    pub fn usage(&mut self, end: SimTime) -> (f64, f64) {
        let (busy, queued) = self.occupancy.areas(end);
        (self.busy_mark.mean(busy, end) / f64::from(self.workers), self.queued_mark.mean(queued, end))
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{align_of, offset_of, size_of};

    use super::{AttemptRef, Backend, Occupancy, Slowing};

    /// The fields an attempt reads or changes on the plain path lie in the first two cache
    /// lines of a backend, and a backend starts a line (issue 10: a large fleet misses the
    /// cache on every line an attempt touches). Fails if a field is added among them, or
    /// one grows, past the second line.
    #[test]
    fn hot_fields_share_two_cache_lines() {
        assert_eq!(align_of::<Backend>(), 64);
        let ends = [
            offset_of!(Backend, occupancy) + size_of::<Occupancy>(),
            offset_of!(Backend, workers) + 4,
            offset_of!(Backend, up) + 1,
            offset_of!(Backend, fifo) + 1,
            offset_of!(Backend, service) + size_of::<usize>(),
            offset_of!(Backend, queue_limit) + size_of::<Option<u32>>(),
            offset_of!(Backend, queue) + size_of::<std::collections::VecDeque<AttemptRef>>(),
            offset_of!(Backend, queue_timeout) + size_of::<Option<std::time::Duration>>(),
            offset_of!(Backend, slowing) + size_of::<Option<Box<Slowing>>>(),
        ];
        let last = ends.into_iter().max().unwrap();
        assert!(last <= 2 * 64, "the hot fields end at byte {last}, past the second cache line");
        let first = [
            offset_of!(Backend, occupancy) + size_of::<Occupancy>(),
            offset_of!(Backend, workers) + 4,
            offset_of!(Backend, up) + 1,
            offset_of!(Backend, fifo) + 1,
            offset_of!(Backend, service) + size_of::<usize>(),
        ];
        let first = first.into_iter().max().unwrap();
        assert!(first <= 64, "the occupancy and the service draw end at byte {first}, past the first line");
    }

    proptest::proptest! {
        /// The occupancy's areas equal the step functions' integrals summed the plain way
        /// (level times the time since the last change), at any time, exactly.
        #[test]
        fn occupancy_areas_are_the_integrals(
            steps in proptest::collection::vec((0u64..5_000_000_000_000, 0u8..5), 1..300),
        ) {
            let mut occupancy = Occupancy::default();
            let (mut now, mut busy_area, mut queued_area) = (0_u64, 0_u128, 0_u128);
            for (dt, op) in steps {
                busy_area += u128::from(occupancy.busy) * u128::from(dt);
                queued_area += u128::from(occupancy.queued) * u128::from(dt);
                now += dt;
                let at = stacksim_engine::SimTime(now);
                match op {
                    0 => occupancy.start(at),
                    1 => occupancy.finish(at),
                    2 => occupancy.enqueue(at),
                    3 if occupancy.queued > 0 => occupancy.dequeue(at),
                    3 => {}
                    _ => occupancy.clear(at),
                }
                proptest::prop_assert_eq!(occupancy.areas(at), (busy_area, queued_area));
            }
        }
    }
}
