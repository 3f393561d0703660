//! The web stack as one simulation model: clients → balancer → backends → database.
//!
//! A *request* is what a user asked for; an *attempt* is one try of it at one backend. A
//! request ends once: successfully, or with the outcome of its last attempt (rejected, timed
//! out, failed) when no retry is left. Attempts that a client gave up on keep their backend
//! busy until they finish: that work is *wasted*.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;
use slab::Slab;
use stacksim_engine::{Context, Model, SimRng, SimTime, Simulation, rng};

use crate::ModelError;
use crate::arrivals::{ArrivalClock, Arrivals};
use crate::health::{CheckKind, Health, HealthConfig};
use crate::keys::{KeySampler, Users};
use crate::metrics::{Latency, TimeIntegral};
use crate::policy::{BackendState, Feedback, Policy, RequestInfo};
use crate::retry::{BudgetBucket, RetryPolicy};
use crate::series::{BackendWindow, OpenWindow, UserTracker, Window};
use crate::service::{ServiceSampler, ServiceTime};
use crate::timeline::{Action, TimedAction};

/// A source of requests.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    /// Name, unique within the stack; names the client's random streams.
    pub name: String,
    /// When requests are sent.
    pub arrivals: Arrivals,
    /// Who sends them: the keys its requests carry (see [`crate::keys`]). `None`: a fresh
    /// key per request.
    pub users: Option<Users>,
    /// The client gives up on an attempt after this long (counted as a timeout, or retried).
    pub timeout: Option<Duration>,
    /// How failed and timed-out attempts are retried. `None`: never.
    pub retry: Option<RetryPolicy>,
}

impl ClientConfig {
    /// A client called `name` sending `arrivals`, each request with a fresh key, no timeout,
    /// no retries.
    pub fn new(name: impl Into<String>, arrivals: Arrivals) -> Self {
        ClientConfig { name: name.into(), arrivals, users: None, timeout: None, retry: None }
    }
}

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
        }
    }
}

/// A database every backend calls for a fraction of its requests, through a connection pool
/// of its own. A request holds its app worker while it waits for a connection and while the
/// database serves it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseConfig {
    /// Queries served at once.
    pub workers: u32,
    /// Time the database spends on one query.
    pub service: ServiceTime,
    /// Connections per backend.
    pub pool: u32,
    /// Fraction of requests that query the database (0..=1).
    pub fraction: f64,
}

/// What the run records beyond totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observe {
    /// Width of the time-series windows; `None`: no time series.
    pub window: Option<Duration>,
    /// A successful response slower than this counts its user as affected.
    pub slow: Option<Duration>,
    /// The interval (from the start of the run) over which users affected are counted; `None`:
    /// the measured period.
    pub incident: Option<(Duration, Duration)>,
}

/// The stack: who sends requests, who serves them, and what happens to it over time. The
/// policy is passed separately.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StackConfig {
    /// Request sources.
    pub clients: Vec<ClientConfig>,
    /// Backends, in balancer order.
    pub backends: Vec<BackendConfig>,
    /// The tier behind the backends.
    pub database: Option<DatabaseConfig>,
    /// Health checks and outlier ejection.
    pub health: HealthConfig,
    /// Changes at given times.
    pub timeline: Vec<TimedAction>,
    /// Time series and users affected.
    pub observe: Observe,
}

/// One run's clock settings and seed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunParams {
    /// Master seed of the run's random streams.
    pub seed: u64,
    /// Simulated time of the whole run, warm-up included.
    pub duration: Duration,
    /// Initial period excluded from every statistic; shorter than `duration`.
    pub warmup: Duration,
}

/// Runs `stack` behind `policy` and returns what it measured.
///
/// ```
/// use std::time::Duration;
/// use stacksim_model::{policy::RoundRobin, *};
///
/// let service = ServiceTime::Exponential { mean: Duration::from_millis(100) };
/// let stack = StackConfig {
///     clients: vec![ClientConfig::new("users", Arrivals::Poisson { rate_per_s: 50.0 })],
///     backends: (0..2)
///         .map(|i| BackendConfig::new(format!("app-{i}"), 4, QueueLimit::Bounded(10), service.clone()))
///         .collect(),
///     ..StackConfig::default()
/// };
/// let params = RunParams { seed: 1, duration: Duration::from_secs(600), warmup: Duration::from_secs(60) };
/// let summary = simulate(&stack, Box::new(RoundRobin::new()), params)?;
/// assert_eq!(summary.arrived, summary.completed + summary.rejected + summary.in_flight);
/// assert!((summary.backends[0].utilization - 0.625).abs() < 0.05); // 25/s × 0.1 s / 4 workers
/// # Ok::<(), ModelError>(())
/// ```
pub fn simulate(
    stack: &StackConfig,
    policy: Box<dyn Policy>,
    params: RunParams,
) -> Result<RunSummary, ModelError> {
    simulate_with(stack, policy, Vec::new(), params)
}

/// Like [`simulate`], with the policies that `SetPolicy` actions of the timeline switch to
/// (`SetPolicy { policy: i }` switches to `later[i]`).
pub fn simulate_with(
    stack: &StackConfig,
    policy: Box<dyn Policy>,
    later: Vec<Box<dyn Policy>>,
    params: RunParams,
) -> Result<RunSummary, ModelError> {
    let mut sim = WebStack::simulation_with(stack, policy, later, params)?;
    sim.run_until(SimTime::from(params.duration));
    let end = sim.now();
    let events = sim.events_handled();
    Ok(sim.into_model().summary(end, events))
}

/// What happens in the stack. Events that name an attempt carry its generation, so an event
/// for an attempt that has since ended (its slot reused) is recognised and ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The next open-loop request from client `client` reaches the balancer.
    Arrival {
        /// Client index.
        client: u32,
    },
    /// A closed-loop user sends its next request.
    Send {
        /// Client index.
        client: u32,
        /// User number.
        user: u32,
    },
    /// A request's next attempt leaves the client (after a retry backoff).
    Retry {
        /// Request key.
        request: u32,
    },
    /// A worker finishes an attempt.
    Completion(AttemptRef),
    /// The database finishes a query for an attempt of `backend`.
    QueryDone {
        /// The backend whose connection it used.
        backend: u32,
        /// The attempt.
        attempt: AttemptRef,
    },
    /// The client gives up on an attempt.
    ClientTimeout(AttemptRef),
    /// An attempt has waited in its backend's queue as long as it may.
    QueueTimeout(AttemptRef),
    /// An active health check of a backend.
    HealthCheck {
        /// Backend index.
        backend: u32,
    },
    /// A backend's ejection ends.
    Unejection {
        /// Backend index.
        backend: u32,
    },
    /// Timeline action number `index` happens.
    Action {
        /// Index into the timeline.
        index: u32,
    },
    /// The current time-series window ends.
    WindowEnd,
    /// The warm-up ends: statistics start here.
    EndWarmup,
}

/// An attempt and its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRef {
    key: u32,
    generation: u32,
}

#[derive(Debug)]
struct Client {
    clock: ArrivalClock,
    arrivals: SimRng,
    sizes: SimRng,
    key_sampler: KeySampler,
    keys: SimRng,
    retries: SimRng,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    budget: Option<BudgetBucket>,
    /// The trace key of the arrival already scheduled.
    pending_key: Option<u64>,
    /// Whether its keys are user numbers (a declared population or a closed loop).
    tracks_users: bool,
}

/// How a request or attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    Completed,
    Rejected,
    TimedOut,
    Failed,
}

#[derive(Debug)]
struct Request {
    client: u32,
    key: u64,
    /// Closed-loop user, if any.
    user: Option<u32>,
    arrived: SimTime,
    size_seed: u64,
    attempts: u32,
    counted: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Queued,
    WaitingForConnection,
    Querying,
    Serving,
}

#[derive(Debug)]
struct Attempt {
    generation: u32,
    /// The request's size seed: every attempt of a request does the same work.
    size_seed: u64,
    /// Its request is counted in the statistics.
    counted: bool,
    request: u32,
    backend: u32,
    sent: SimTime,
    stage: Stage,
    /// The client gave up; the backend does not know.
    abandoned: bool,
    /// Its app work (set when a worker takes it).
    work: Duration,
    started: SimTime,
    /// When it asked for a database connection.
    asked_for_connection: SimTime,
}

#[derive(Debug)]
struct Backend {
    name: String,
    workers: u32,
    queue_limit: Option<u32>,
    queue_timeout: Option<Duration>,
    degradation: Option<Degradation>,
    service: ServiceSampler,
    mean_service_s: f64,
    slow_factor: f64,
    up: bool,
    present: bool,
    queue: VecDeque<AttemptRef>,
    /// Live (not expired) attempts in the queue.
    queued_live: u32,
    waiting_for_connection: VecDeque<AttemptRef>,
    /// Pool connections in use (waiting in the database's queue or being served).
    connections: u32,
    /// Queries of this backend the database is serving.
    querying: u32,
    busy: TimeIntegral,
    queued: TimeIntegral,
    /// Lifetime busy and queued areas at the start of the current window.
    window_marks: (u128, u128),
    window_routed: u64,
    routed: u64,
    rejected: u64,
    completed: u64,
    failed: u64,
}

impl Backend {
    fn in_system(&self) -> u64 {
        self.busy.level() + u64::from(self.queued_live)
    }

    /// How many times its normal time a service starting now takes: the timeline's slow-down
    /// times the overload degradation at the current occupancy.
    fn slowness(&self) -> f64 {
        let degradation = self
            .degradation
            .map_or(1.0, |d| 1.0 + d.slope * self.in_system().saturating_sub(u64::from(d.knee)) as f64);
        self.slow_factor * degradation
    }
}

#[derive(Debug)]
struct Database {
    workers: u32,
    pool: u32,
    fraction: f64,
    service: ServiceSampler,
    queue: VecDeque<(u32, AttemptRef)>,
    busy: TimeIntegral,
    window_mark: u128,
    wait: Latency,
    queries: u64,
}

/// The stack model: implements [`Model`] for the engine.
#[derive(Debug)]
pub struct WebStack {
    clients: Vec<Client>,
    policy: Box<dyn Policy>,
    later_policies: Vec<Option<Box<dyn Policy>>>,
    policy_rng: SimRng,
    states: Vec<BackendState>,
    backends: Vec<Backend>,
    database: Option<Database>,
    health: Health,
    timeline: Vec<TimedAction>,
    requests: Slab<Request>,
    attempts: Slab<Attempt>,
    next_generation: u32,
    warmup: SimTime,
    in_system: TimeIntegral,
    arrived: u64,
    completed: u64,
    rejected: u64,
    timed_out: u64,
    failed: u64,
    attempts_sent: u64,
    retries: u64,
    wasted_ns: u128,
    busy_ns: u128,
    response: Latency,
    wait: Latency,
    window: Option<Duration>,
    window_index: u32,
    open: OpenWindow,
    windows: Vec<Window>,
    slow: Option<Duration>,
    users: Option<UserTracker>,
}

impl WebStack {
    /// A simulation of `stack` with its first events scheduled.
    pub fn simulation(
        stack: &StackConfig,
        policy: Box<dyn Policy>,
        params: RunParams,
    ) -> Result<Simulation<WebStack>, ModelError> {
        Self::simulation_with(stack, policy, Vec::new(), params)
    }

    /// A simulation of `stack`, with the policies its timeline may switch to.
    pub fn simulation_with(
        stack: &StackConfig,
        mut policy: Box<dyn Policy>,
        later: Vec<Box<dyn Policy>>,
        params: RunParams,
    ) -> Result<Simulation<WebStack>, ModelError> {
        if stack.clients.is_empty() {
            return Err(ModelError::NoClients);
        }
        if stack.backends.is_empty() {
            return Err(ModelError::NoBackends);
        }
        if params.warmup >= params.duration {
            return Err(ModelError::WarmupTooLong { warmup: params.warmup, duration: params.duration });
        }
        let stream = |name: &str| rng::stream(params.seed, name);
        let clients = stack
            .clients
            .iter()
            .map(|c| {
                Ok(Client {
                    clock: ArrivalClock::new(&c.arrivals)?,
                    arrivals: stream(&format!("arrivals/{}", c.name)),
                    sizes: stream(&format!("sizes/{}", c.name)),
                    key_sampler: KeySampler::new(c.users.as_ref())?,
                    keys: stream(&format!("keys/{}", c.name)),
                    retries: stream(&format!("retries/{}", c.name)),
                    timeout: c.timeout,
                    retry: c.retry,
                    budget: c.retry.and_then(|r| r.budget).map(BudgetBucket::new),
                    pending_key: None,
                    tracks_users: c.users.is_some() || matches!(c.arrivals, Arrivals::Closed { .. }),
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let backends = stack
            .backends
            .iter()
            .map(|b| {
                if b.workers == 0 {
                    return Err(ModelError::NoWorkers(b.name.clone()));
                }
                Ok(Backend {
                    name: b.name.clone(),
                    workers: b.workers,
                    queue_limit: match b.queue {
                        QueueLimit::Bounded(n) => Some(n),
                        QueueLimit::Unbounded => None,
                    },
                    queue_timeout: b.queue_timeout,
                    degradation: b.degradation,
                    service: b.service.sampler()?,
                    mean_service_s: b.service.mean_secs(),
                    slow_factor: 1.0,
                    up: true,
                    present: b.present,
                    queue: VecDeque::new(),
                    queued_live: 0,
                    waiting_for_connection: VecDeque::new(),
                    connections: 0,
                    querying: 0,
                    busy: TimeIntegral::default(),
                    queued: TimeIntegral::default(),
                    window_marks: (0, 0),
                    window_routed: 0,
                    routed: 0,
                    rejected: 0,
                    completed: 0,
                    failed: 0,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let database = match &stack.database {
            None => None,
            Some(db) => {
                if db.workers == 0 || db.pool == 0 || !(0.0..=1.0).contains(&db.fraction) {
                    return Err(ModelError::InvalidDatabase(
                        "the database needs workers, a pool of at least one connection, and a fraction in 0..=1".into(),
                    ));
                }
                Some(Database {
                    workers: db.workers,
                    pool: db.pool,
                    fraction: db.fraction,
                    service: db.service.sampler()?,
                    queue: VecDeque::new(),
                    busy: TimeIntegral::default(),
                    window_mark: 0,
                    wait: Latency::default(),
                    queries: 0,
                })
            }
        };
        let states: Vec<BackendState> = stack
            .backends
            .iter()
            .map(|b| BackendState { weight: b.weight, eligible: b.present, in_flight: 0, latency: None })
            .collect();
        policy.on_backends_changed(&states);
        let user_count = stack.clients.iter().filter_map(|c| match (&c.arrivals, &c.users) {
            (Arrivals::Closed { users, .. }, _) => Some(u64::from(*users)),
            (_, Some(users)) => Some(users.count),
            _ => None,
        });
        let user_count = user_count.max();
        let (from, to) = stack.observe.incident.unwrap_or((params.warmup, params.duration));
        let window = stack.observe.window.filter(|w| !w.is_zero());
        let model = WebStack {
            clients,
            policy,
            later_policies: later.into_iter().map(Some).collect(),
            policy_rng: stream("policy"),
            states,
            backends,
            database,
            health: Health::new(stack.health, stack.backends.len()),
            timeline: stack.timeline.clone(),
            requests: Slab::new(),
            attempts: Slab::new(),
            next_generation: 0,
            warmup: SimTime::from(params.warmup),
            in_system: TimeIntegral::default(),
            arrived: 0,
            completed: 0,
            rejected: 0,
            timed_out: 0,
            failed: 0,
            attempts_sent: 0,
            retries: 0,
            wasted_ns: 0,
            busy_ns: 0,
            response: Latency::default(),
            wait: Latency::default(),
            window,
            window_index: 0,
            open: OpenWindow::default(),
            windows: Vec::new(),
            slow: stack.observe.slow,
            users: user_count.map(|n| {
                UserTracker::new(n.min(u64::from(u32::MAX)) as usize, SimTime::from(from), SimTime::from(to))
            }),
        };
        let mut sim = Simulation::new(model);
        for client in 0..stack.clients.len() {
            let mut first_events = Vec::new();
            let c = &mut sim.model_mut().clients[client];
            let index = client as u32;
            if let Some((users, think)) = c.clock.closed() {
                for user in 0..users {
                    let first = SimTime::ZERO + exponential(think, &mut c.arrivals);
                    first_events.push((first, Event::Send { client: index, user }));
                }
            } else if let Some((first, key)) = c.clock.next(SimTime::ZERO, &mut c.arrivals) {
                c.pending_key = key;
                first_events.push((first, Event::Arrival { client: index }));
            }
            for (at, event) in first_events {
                sim.schedule_at(at, event);
            }
        }
        sim.schedule_at(SimTime::from(params.warmup), Event::EndWarmup);
        if let Some(check) = stack.health.active {
            for backend in 0..stack.backends.len() as u32 {
                sim.schedule_at(SimTime::ZERO + check.interval, Event::HealthCheck { backend });
            }
        }
        for (index, action) in stack.timeline.iter().enumerate() {
            sim.schedule_at(SimTime::from(action.at), Event::Action { index: index as u32 });
        }
        if let Some(window) = window {
            sim.schedule_at(SimTime::from(window), Event::WindowEnd);
        }
        Ok(sim)
    }

    // ---- clients ----------------------------------------------------------------------

    fn arrive(&mut self, client: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let c = &mut self.clients[client as usize];
        let key = c.pending_key.take();
        if let Some((next, next_key)) = c.clock.next(now, &mut c.arrivals) {
            c.pending_key = next_key;
            cx.schedule_at(next, Event::Arrival { client });
        }
        self.new_request(client, key, None, cx);
    }

    fn new_request(&mut self, client: u32, key: Option<u64>, user: Option<u32>, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let c = &mut self.clients[client as usize];
        let size_seed = c.sizes.next_u64();
        let drawn = c.key_sampler.sample(&mut c.keys);
        let key = user.map(u64::from).or(key).unwrap_or(drawn);
        if let Some(budget) = &mut c.budget {
            budget.deposit(now);
        }
        let tracked = c.tracks_users;
        let counted = now >= self.warmup;
        self.arrived += u64::from(counted);
        self.open.arrived += 1;
        if let Some(users) = self.users.as_mut().filter(|_| tracked) {
            users.active(key, now, self.window_index);
        }
        let request = self.requests.insert(Request {
            client,
            key,
            user,
            arrived: now,
            size_seed,
            attempts: 0,
            counted,
        }) as u32;
        self.send_attempt(request, cx);
    }

    /// Sends the next attempt of `request` to the backend the policy picks.
    fn send_attempt(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let r = &mut self.requests[request as usize];
        r.attempts += 1;
        let (key, arrived, client, counted, size_seed) = (r.key, r.arrived, r.client, r.counted, r.size_seed);
        self.attempts_sent += u64::from(counted);
        self.open.attempts += 1;
        let info = RequestInfo { key, arrived };
        let Some(b) = self.policy.pick(&self.states, &info, &mut self.policy_rng) else {
            // No backend available: the balancer answers 503 at once.
            self.attempt_failed(request, Outcome::Rejected, cx);
            return;
        };
        let backend = &mut self.backends[b];
        backend.routed += u64::from(counted);
        backend.window_routed += 1;
        if !backend.up {
            // Connection refused: the process is down.
            backend.failed += u64::from(counted);
            self.passive_health(b, true, cx);
            self.policy.on_response(&Feedback {
                backend: b,
                at: now,
                latency: Duration::ZERO,
                success: false,
            });
            self.attempt_failed(request, Outcome::Failed, cx);
            return;
        }
        let has_room = backend.busy.level() < u64::from(backend.workers)
            || backend.queue_limit.is_none_or(|limit| backend.queued_live < limit);
        if !has_room {
            backend.rejected += u64::from(counted);
            self.passive_health(b, true, cx);
            self.policy.on_response(&Feedback {
                backend: b,
                at: now,
                latency: Duration::ZERO,
                success: false,
            });
            self.attempt_failed(request, Outcome::Rejected, cx);
            return;
        }
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let key = self.attempts.insert(Attempt {
            generation,
            size_seed,
            counted,
            request,
            backend: b as u32,
            sent: now,
            stage: Stage::Queued,
            abandoned: false,
            work: Duration::ZERO,
            started: now,
            asked_for_connection: now,
        }) as u32;
        let attempt = AttemptRef { key, generation };
        self.states[b].in_flight += 1;
        self.in_system.increment(now);
        if let Some(timeout) = self.clients[client as usize].timeout {
            cx.schedule_in(timeout, Event::ClientTimeout(attempt));
        }
        let backend = &mut self.backends[b];
        if backend.busy.level() < u64::from(backend.workers) {
            self.start_service(attempt, cx);
        } else {
            backend.queue.push_back(attempt);
            backend.queued_live += 1;
            backend.queued.increment(now);
            if let Some(wait) = backend.queue_timeout {
                cx.schedule_in(wait, Event::QueueTimeout(attempt));
            }
        }
    }

    /// An attempt of `request` ended without success: retry it if the client may, else end
    /// the request with `outcome`.
    fn attempt_failed(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let r = &self.requests[request as usize];
        let (client, attempts, counted) = (r.client, r.attempts, r.counted);
        let c = &mut self.clients[client as usize];
        if let Some(retry) = c.retry
            && attempts < retry.max_attempts
            && c.budget.as_mut().is_none_or(|b| b.try_withdraw(now))
        {
            let wait = retry.backoff_before(attempts + 1, &mut c.retries);
            self.retries += u64::from(counted);
            cx.schedule_in(wait, Event::Retry { request });
            return;
        }
        self.finish(request, outcome, cx);
    }

    /// Ends `request` with `outcome`.
    fn finish(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let r = self.requests.remove(request as usize);
        let latency = now - r.arrived;
        let counted = r.counted;
        match outcome {
            Outcome::Completed => {
                self.completed += u64::from(counted);
                self.open.completed += 1;
                if self.window.is_some() {
                    self.open.latency.record(latency);
                }
                if counted {
                    self.response.record(latency);
                }
            }
            Outcome::Rejected => {
                self.rejected += u64::from(counted);
                self.open.rejected += 1;
            }
            Outcome::TimedOut => {
                self.timed_out += u64::from(counted);
                self.open.timed_out += 1;
            }
            Outcome::Failed => {
                self.failed += u64::from(counted);
                self.open.failed += 1;
            }
        }
        let too_slow = self.slow.is_some_and(|slow| latency > slow);
        let tracked = self.clients[r.client as usize].tracks_users;
        if let Some(users) = self.users.as_mut().filter(|_| tracked)
            && (outcome != Outcome::Completed || too_slow)
        {
            users.affected(r.key, now, self.window_index);
        }
        if let Some(user) = r.user {
            let c = &mut self.clients[r.client as usize];
            if let Some((_, think)) = c.clock.closed() {
                cx.schedule_in(exponential(think, &mut c.arrivals), Event::Send { client: r.client, user });
            }
        }
    }

    fn client_timeout(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let Some(a) = self.live(attempt) else { return };
        if a.abandoned {
            return;
        }
        let (request, backend) = (a.request, a.backend as usize);
        self.attempts[attempt.key as usize].abandoned = true;
        self.passive_health(backend, true, cx);
        self.attempt_failed(request, Outcome::TimedOut, cx);
    }

    // ---- backends -----------------------------------------------------------------------

    fn live(&self, attempt: AttemptRef) -> Option<&Attempt> {
        self.attempts.get(attempt.key as usize).filter(|a| a.generation == attempt.generation)
    }

    /// Puts `attempt` on a free worker of its backend.
    fn start_service(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let a = &self.attempts[attempt.key as usize];
        let (b, size_seed) = (a.backend as usize, a.size_seed);
        if a.counted && !a.abandoned {
            self.wait.record(now - a.sent);
        }
        let backend = &mut self.backends[b];
        let factor = backend.slowness();
        backend.busy.increment(now);
        let mut sizes = SplitMix64::seed_from_u64(size_seed);
        let work = backend.service.sample(&mut sizes);
        let work = if factor == 1.0 { work } else { work.mul_f64(factor) };
        let queries = self.database.as_ref().is_some_and(|db| {
            // A uniform draw from the request's own size stream: the same requests query the
            // database whichever backend serves them.
            ((sizes.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < db.fraction
        });
        let a = &mut self.attempts[attempt.key as usize];
        a.work = work;
        a.started = now;
        if queries {
            a.stage = Stage::WaitingForConnection;
            a.asked_for_connection = now;
            self.request_connection(b, attempt, cx);
        } else {
            a.stage = Stage::Serving;
            cx.schedule_in(work, Event::Completion(attempt));
        }
    }

    fn complete(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(a) = self.live(attempt) else { return };
        let (b, request, abandoned, sent, started) =
            (a.backend as usize, a.request, a.abandoned, a.sent, a.started);
        self.attempts.remove(attempt.key as usize);
        let busy = (now - started).as_nanos();
        if now >= self.warmup {
            self.busy_ns += busy;
            if abandoned {
                self.wasted_ns += busy;
            }
        }
        self.leave_backend(b, now);
        self.free_worker(b, cx);
        if abandoned {
            return;
        }
        let latency = now - sent;
        let counted = self.requests[request as usize].counted;
        self.backends[b].completed += u64::from(counted);
        let state = &mut self.states[b];
        state.latency = Some(match state.latency {
            None => latency,
            Some(smoothed) => (smoothed * 7 + latency) / 8,
        });
        self.passive_health(b, false, cx);
        self.policy.on_response(&Feedback { backend: b, at: now, latency, success: true });
        self.finish(request, Outcome::Completed, cx);
    }

    /// Bookkeeping for an attempt leaving backend `b` (done, failed or expired).
    fn leave_backend(&mut self, b: usize, now: SimTime) {
        self.states[b].in_flight = self.states[b].in_flight.saturating_sub(1);
        self.in_system.decrement(now);
    }

    /// A worker of `b` is free: give it the next live queued attempt.
    fn free_worker(&mut self, b: usize, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let backend = &mut self.backends[b];
        backend.busy.decrement(now);
        while let Some(next) = self.backends[b].queue.pop_front() {
            if self.live(next).is_some_and(|a| a.stage == Stage::Queued) {
                let backend = &mut self.backends[b];
                backend.queued_live -= 1;
                backend.queued.decrement(now);
                self.start_service(next, cx);
                return;
            }
        }
    }

    fn queue_timeout(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(a) = self.live(attempt) else { return };
        if a.stage != Stage::Queued {
            return;
        }
        let (b, request, abandoned, sent, counted) =
            (a.backend as usize, a.request, a.abandoned, a.sent, a.counted);
        // Lazy removal: the entry stays in the deque and is skipped when it reaches the front.
        self.attempts.remove(attempt.key as usize);
        let backend = &mut self.backends[b];
        backend.queued_live -= 1;
        backend.queued.decrement(now);
        self.leave_backend(b, now);
        if abandoned {
            return;
        }
        self.backends[b].rejected += u64::from(counted);
        self.passive_health(b, true, cx);
        self.policy.on_response(&Feedback { backend: b, at: now, latency: now - sent, success: false });
        self.attempt_failed(request, Outcome::Rejected, cx);
    }

    // ---- database -----------------------------------------------------------------------

    fn request_connection(&mut self, b: usize, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let pool = self.database.as_ref().map_or(0, |db| db.pool);
        let backend = &mut self.backends[b];
        if backend.connections < pool {
            backend.connections += 1;
            self.query(b, attempt, cx);
        } else {
            backend.waiting_for_connection.push_back(attempt);
        }
    }

    /// `attempt` holds one of `b`'s connections: the database serves it or queues it.
    fn query(&mut self, b: usize, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let Some(a) =
            self.attempts.get_mut(attempt.key as usize).filter(|a| a.generation == attempt.generation)
        else {
            return;
        };
        a.stage = Stage::Querying;
        let db = self.database.as_mut().expect("queries only happen with a database");
        if db.busy.level() < u64::from(db.workers) {
            self.serve_query(b as u32, attempt, cx);
        } else {
            db.queue.push_back((b as u32, attempt));
        }
    }

    /// The database starts serving `attempt`'s query.
    fn serve_query(&mut self, b: u32, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let a = &self.attempts[attempt.key as usize];
        let (seed, asked, counted) = (a.size_seed, a.asked_for_connection, a.counted);
        let db = self.database.as_mut().expect("queries only happen with a database");
        db.busy.increment(now);
        db.queries += 1;
        if counted {
            db.wait.record(now - asked);
        }
        // The query's time comes from the request's own size seed, so it is the same whichever
        // backend sends it.
        let work = db.service.sample(&mut SplitMix64::seed_from_u64(seed ^ 0xDA7A_BA5E));
        self.backends[b as usize].querying += 1;
        cx.schedule_in(work, Event::QueryDone { backend: b, attempt });
    }

    fn query_done(&mut self, b: usize, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let db = self.database.as_mut().expect("queries only happen with a database");
        db.busy.decrement(now);
        // The next live query in the database's queue.
        while let Some((next_b, next)) = self.database.as_mut().and_then(|db| db.queue.pop_front()) {
            if self.live(next).is_some() {
                self.serve_query(next_b, next, cx);
                break;
            }
        }
        // The connection goes back to the backend's pool, or to its next waiter.
        let backend = &mut self.backends[b];
        backend.querying = backend.querying.saturating_sub(1);
        backend.connections = backend.connections.saturating_sub(1);
        while let Some(waiter) = self.backends[b].waiting_for_connection.pop_front() {
            if self.live(waiter).is_some() {
                self.backends[b].connections += 1;
                self.query(b, waiter, cx);
                break;
            }
        }
        // The attempt goes on with its own work.
        if let Some(a) =
            self.attempts.get_mut(attempt.key as usize).filter(|a| a.generation == attempt.generation)
        {
            a.stage = Stage::Serving;
            cx.schedule_in(a.work, Event::Completion(attempt));
        }
    }

    // ---- health and the timeline ---------------------------------------------------------

    fn passive_health(&mut self, b: usize, error: bool, cx: &mut Context<'_, Event>) {
        if let Some(until) = self.health.record_response(b, cx.now(), error) {
            cx.schedule_at(until, Event::Unejection { backend: b as u32 });
            self.refresh_eligibility();
        }
    }

    fn health_check(&mut self, b: usize, cx: &mut Context<'_, Event>) {
        let Some(check) = self.health.config().active else { return };
        cx.schedule_in(check.interval, Event::HealthCheck { backend: b as u32 });
        let backend = &self.backends[b];
        let passed = backend.up
            && match check.kind {
                CheckKind::Tcp => true,
                CheckKind::Http => {
                    // Estimated answer time of a request sent now: its turn in the queue, then
                    // one service, at the backend's current speed.
                    let service = backend.mean_service_s * backend.slowness();
                    let ahead = (backend.in_system() + 1).saturating_sub(u64::from(backend.workers));
                    let estimate = service * (1.0 + ahead as f64 / f64::from(backend.workers));
                    estimate <= check.timeout.as_secs_f64()
                }
            };
        if self.health.record_check(b, passed) {
            self.refresh_eligibility();
        }
    }

    /// Recomputes which backends the policy may use and tells it if anything changed.
    fn refresh_eligibility(&mut self) {
        let present: Vec<bool> = self.backends.iter().map(|b| b.present).collect();
        let mut eligible = vec![false; present.len()];
        self.health.eligibility(&present, &mut eligible);
        let mut changed = false;
        for (state, eligible) in self.states.iter_mut().zip(eligible) {
            changed |= state.eligible != eligible;
            state.eligible = eligible;
        }
        if changed {
            self.policy.on_backends_changed(&self.states);
        }
    }

    fn act(&mut self, index: usize, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        match self.timeline[index].action {
            Action::SetWeight { backend, weight } => {
                if self.states[backend].weight != weight {
                    self.states[backend].weight = weight;
                    self.policy.on_backends_changed(&self.states);
                }
            }
            Action::SetPolicy { policy } => {
                if let Some(mut next) = self.later_policies.get_mut(policy).and_then(Option::take) {
                    next.on_backends_changed(&self.states);
                    self.policy = next;
                }
            }
            Action::Fail { backend } => self.crash(backend, cx),
            Action::Recover { backend } => self.backends[backend].up = true,
            Action::SlowDown { backend, factor } => self.backends[backend].slow_factor = factor,
            Action::Remove { backend } => {
                self.backends[backend].present = false;
                self.refresh_eligibility();
            }
            Action::Add { backend } => {
                self.backends[backend].present = true;
                self.refresh_eligibility();
            }
            Action::ScaleTraffic { factor } => {
                for c in &mut self.clients {
                    c.clock.scale *= factor;
                }
            }
            Action::SetRate { rate_per_s } => {
                let total: f64 = self.clients.iter().map(|c| c.clock.base_rate(now)).sum();
                if total > 0.0 {
                    for c in &mut self.clients {
                        c.clock.scale = rate_per_s / total;
                    }
                }
            }
        }
    }

    /// Backend `b` dies: everything it holds fails (or, if its client already left, is just
    /// dropped), and it refuses new attempts until it recovers.
    fn crash(&mut self, b: usize, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let held: Vec<u32> =
            self.attempts.iter().filter(|(_, a)| a.backend as usize == b).map(|(k, _)| k as u32).collect();
        let backend = &mut self.backends[b];
        backend.up = false;
        backend.queue.clear();
        backend.waiting_for_connection.clear();
        backend.queued_live = 0;
        backend.queued.set(now, 0);
        backend.busy.set(now, 0);
        // Queries in the database's queue die with their connections; those being served
        // finish there and hand their connection back (`query_done`).
        backend.connections = backend.querying;
        if let Some(db) = &mut self.database {
            db.queue.retain(|&(qb, _)| qb as usize != b);
        }
        // Pending completions and timeouts find their attempt gone and are ignored.
        for key in held {
            let a = self.attempts.remove(key as usize);
            self.leave_backend(b, now);
            if a.abandoned {
                continue;
            }
            self.backends[b].failed += u64::from(a.counted);
            self.passive_health(b, true, cx);
            self.attempt_failed(a.request, Outcome::Failed, cx);
        }
    }

    // ---- measurement --------------------------------------------------------------------

    fn end_warmup(&mut self, now: SimTime) {
        self.in_system.restart(now);
        for b in &mut self.backends {
            b.busy.restart(now);
            b.queued.restart(now);
        }
        if let Some(db) = &mut self.database {
            db.busy.restart(now);
        }
    }

    fn end_window(&mut self, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(width) = self.window else { return };
        cx.schedule_in(width, Event::WindowEnd);
        let span = width.as_nanos() as f64;
        let backends = self
            .backends
            .iter_mut()
            .map(|b| {
                let marks = (b.busy.lifetime_area(now), b.queued.lifetime_area(now));
                let window = BackendWindow {
                    routed: b.window_routed,
                    utilization: (marks.0 - b.window_marks.0) as f64 / span / f64::from(b.workers),
                    queue_mean: (marks.1 - b.window_marks.1) as f64 / span,
                };
                b.window_routed = 0;
                b.window_marks = marks;
                window
            })
            .collect();
        let database_utilization = self.database.as_mut().map_or(f64::NAN, |db| {
            let mark = db.busy.lifetime_area(now);
            let u = (mark - db.window_mark) as f64 / span / f64::from(db.workers);
            db.window_mark = mark;
            u
        });
        let users = self.users.as_mut().map_or((0, 0), UserTracker::close_window);
        let start = (now - SimTime::ZERO).saturating_sub(width);
        self.windows.push(self.open.close(start, backends, database_utilization, users));
        self.window_index += 1;
    }

    /// What the run measured, from the end of warm-up to `end`.
    pub fn summary(mut self, end: SimTime, events: u64) -> RunSummary {
        let measured = end - self.warmup;
        let secs = measured.as_secs_f64();
        let routed: u64 = self.backends.iter().map(|b| b.routed).sum();
        let ratio = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
        let backends = self
            .backends
            .iter_mut()
            .map(|b| BackendSummary {
                name: b.name.clone(),
                routed: b.routed,
                completed: b.completed,
                rejected: b.rejected,
                failed: b.failed,
                utilization: b.busy.mean(end) / f64::from(b.workers),
                queue_length_mean: b.queued.mean(end),
                share: ratio(b.routed, routed),
                rejected_ratio: ratio(b.rejected, b.routed),
            })
            .collect();
        let in_flight = self.requests.iter().filter(|(_, r)| r.counted).count() as u64;
        let (users_active, users_affected) = self.users.as_ref().map_or((0, 0), UserTracker::incident);
        let database = self.database.as_mut().map(|db| DatabaseSummary {
            utilization: db.busy.mean(end) / f64::from(db.workers),
            queries: db.queries,
            wait_mean_s: db.wait.mean_s(),
        });
        RunSummary {
            measured,
            events,
            arrived: self.arrived,
            completed: self.completed,
            rejected: self.rejected,
            timed_out: self.timed_out,
            failed: self.failed,
            in_flight,
            attempts: self.attempts_sent,
            retries: self.retries,
            response_time: LatencySummary::of(&self.response),
            wait_time_mean_s: self.wait.mean_s(),
            throughput_per_s: self.completed as f64 / secs,
            arrival_rate_per_s: self.arrived as f64 / secs,
            in_system_mean: self.in_system.mean(end),
            wasted_work_ratio: if self.busy_ns == 0 {
                0.0
            } else {
                self.wasted_ns as f64 / self.busy_ns as f64
            },
            users_active,
            users_affected,
            backends,
            database,
            windows: self.windows,
        }
    }
}

/// An exponential span with mean `mean`.
fn exponential<R: Rng + ?Sized>(mean: Duration, rng: &mut R) -> Duration {
    let draw: f64 = rand_distr::Distribution::sample(&rand_distr::Exp1, rng);
    mean.mul_f64(draw)
}

impl Model for WebStack {
    type Event = Event;

    #[inline]
    fn handle(&mut self, event: Event, cx: &mut Context<'_, Event>) {
        match event {
            Event::Arrival { client } => self.arrive(client, cx),
            Event::Completion(attempt) => self.complete(attempt, cx),
            Event::Send { client, user } => self.new_request(client, None, Some(user), cx),
            Event::Retry { request } => self.send_attempt(request, cx),
            Event::QueryDone { backend, attempt } => self.query_done(backend as usize, attempt, cx),
            Event::ClientTimeout(attempt) => self.client_timeout(attempt, cx),
            Event::QueueTimeout(attempt) => self.queue_timeout(attempt, cx),
            Event::HealthCheck { backend } => self.health_check(backend as usize, cx),
            Event::Unejection { backend } => {
                if self.health.uneject(backend as usize, cx.now()) {
                    self.refresh_eligibility();
                }
            }
            Event::Action { index } => self.act(index as usize, cx),
            Event::WindowEnd => self.end_window(cx),
            Event::EndWarmup => self.end_warmup(cx.now()),
        }
    }
}

/// Response-time statistics of successful requests, in seconds (NaN when there were none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    /// Mean (exact).
    pub mean_s: f64,
    /// Median.
    pub p50_s: f64,
    /// 90th percentile.
    pub p90_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// 99.9th percentile.
    pub p999_s: f64,
    /// Largest.
    pub max_s: f64,
}

impl LatencySummary {
    fn of(latency: &Latency) -> Self {
        LatencySummary {
            mean_s: latency.mean_s(),
            p50_s: latency.quantile_s(0.5),
            p90_s: latency.quantile_s(0.9),
            p99_s: latency.quantile_s(0.99),
            p999_s: latency.quantile_s(0.999),
            max_s: latency.max_s(),
        }
    }
}

/// What one backend saw during the measured period. Counts are of attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendSummary {
    /// Backend name.
    pub name: String,
    /// Attempts the balancer sent here.
    pub routed: u64,
    /// Attempts answered successfully.
    pub completed: u64,
    /// Attempts turned away: full queue, or queue timeout.
    pub rejected: u64,
    /// Attempts refused or reset because the backend was down.
    pub failed: u64,
    /// Busy worker-time over available worker-time (0..=1).
    pub utilization: f64,
    /// Time-averaged number of requests waiting.
    pub queue_length_mean: f64,
    /// Fraction of all routed attempts sent here.
    pub share: f64,
    /// `rejected / routed`.
    pub rejected_ratio: f64,
}

/// What the database did during the measured period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatabaseSummary {
    /// Busy database workers over database workers.
    pub utilization: f64,
    /// Queries served (warm-up included).
    pub queries: u64,
    /// Mean time a counted request's query waited for a connection and a database worker \[s\]
    /// (NaN without queries).
    pub wait_mean_s: f64,
}

/// What one run measured. Counts cover requests that arrived after warm-up; time averages
/// cover the time after warm-up.
///
/// Conservation: `arrived = completed + rejected + timed_out + failed + in_flight`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Simulated time measured (duration minus warm-up).
    pub measured: Duration,
    /// Events the engine handled, warm-up included.
    pub events: u64,
    /// Requests that reached the balancer.
    pub arrived: u64,
    /// Requests answered successfully.
    pub completed: u64,
    /// Requests whose last attempt was answered 503 at once: a full queue, a queue timeout,
    /// or no available backend.
    pub rejected: u64,
    /// Requests whose last attempt the client gave up on.
    pub timed_out: u64,
    /// Requests whose last attempt failed: refused or reset by a backend that was down.
    pub failed: u64,
    /// Requests still unanswered when the run ended.
    pub in_flight: u64,
    /// Attempts sent for the counted requests (first tries and retries).
    pub attempts: u64,
    /// Retries scheduled for the counted requests.
    pub retries: u64,
    /// Response time of successful requests (from reaching the balancer to the response).
    pub response_time: LatencySummary,
    /// Mean time successful requests waited in a queue \[s\].
    pub wait_time_mean_s: f64,
    /// Successful responses per second of measured time.
    pub throughput_per_s: f64,
    /// Arrivals per second of measured time.
    pub arrival_rate_per_s: f64,
    /// Time-averaged attempts in the stack (queued or in service): Little's L.
    pub in_system_mean: f64,
    /// Worker time spent on attempts whose client had already given up, over all worker time.
    pub wasted_work_ratio: f64,
    /// Users (of declared populations) active during the incident interval.
    pub users_active: u64,
    /// Of those, users with at least one failed or too-slow request in the interval.
    pub users_affected: u64,
    /// Per backend, in balancer order.
    pub backends: Vec<BackendSummary>,
    /// The database, if there is one.
    pub database: Option<DatabaseSummary>,
    /// The time series, if windows were asked for.
    pub windows: Vec<Window>,
}

impl RunSummary {
    /// Requests that did not succeed, over arrivals.
    pub fn error_ratio(&self) -> f64 {
        let errors = self.rejected + self.timed_out + self.failed;
        if self.arrived == 0 { 0.0 } else { errors as f64 / self.arrived as f64 }
    }

    /// Attempts per request (1 without retries): retry amplification.
    pub fn attempts_per_request(&self) -> f64 {
        if self.arrived == 0 { f64::NAN } else { self.attempts as f64 / self.arrived as f64 }
    }
}
