//! The web stack as one simulation model: clients → balancer → backends.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;
use slab::Slab;
use stacksim_engine::{Context, Model, SimRng, SimTime, Simulation, rng};

use crate::ModelError;
use crate::arrivals::{Arrivals, GapSampler};
use crate::keys::{KeySampler, Users};
use crate::metrics::{Latency, TimeIntegral};
use crate::policy::{BackendState, Feedback, Policy, RequestInfo};
use crate::service::{ServiceSampler, ServiceTime};

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
}

impl ClientConfig {
    /// A client called `name` sending `arrivals`, each request with a fresh key.
    pub fn new(name: impl Into<String>, arrivals: Arrivals) -> Self {
        ClientConfig { name: name.into(), arrivals, users: None }
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

/// One backend server.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendConfig {
    /// Name, unique within the stack (`app-0`).
    pub name: String,
    /// Requests served at once.
    pub workers: u32,
    /// Waiting room in front of the workers (FIFO).
    pub queue: QueueLimit,
    /// Time a worker spends on one request.
    pub service: ServiceTime,
    /// Balancer weight.
    pub weight: u32,
}

/// The stack: who sends requests and who serves them. The policy is passed separately.
#[derive(Clone, Debug, PartialEq)]
pub struct StackConfig {
    /// Request sources.
    pub clients: Vec<ClientConfig>,
    /// Backends, in balancer order.
    pub backends: Vec<BackendConfig>,
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
/// let stack = StackConfig {
///     clients: vec![ClientConfig::new("users", Arrivals::Poisson { rate_per_s: 50.0 })],
///     backends: (0..2).map(|i| BackendConfig {
///         name: format!("app-{i}"), workers: 4, queue: QueueLimit::Bounded(10),
///         service: ServiceTime::Exponential { mean: Duration::from_millis(100) }, weight: 1,
///     }).collect(),
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
    let mut sim = WebStack::simulation(stack, policy, params)?;
    sim.run_until(SimTime::from(params.duration));
    let end = sim.now();
    let events = sim.events_handled();
    Ok(sim.into_model().summary(end, events))
}

/// What happens in the stack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// The next request from client `client` reaches the balancer.
    Arrival {
        /// Index into the stack's clients.
        client: u32,
    },
    /// A worker finishes request `request`.
    Completion {
        /// Key of the request in flight.
        request: u32,
    },
    /// The warm-up ends: statistics start here.
    EndWarmup,
}

#[derive(Debug)]
struct Client {
    gaps: GapSampler,
    arrivals: SimRng,
    sizes: SimRng,
    key_sampler: KeySampler,
    keys: SimRng,
}

#[derive(Debug)]
struct Request {
    arrived: SimTime,
    /// Seeds the draw of this request's service time: drawn at arrival from the client's
    /// size stream, so the same request takes the same time whichever backend serves it.
    size_seed: u64,
    backend: u32,
    /// Arrived after warm-up: counted in the statistics.
    counted: bool,
}

#[derive(Debug)]
struct Backend {
    name: String,
    workers: u32,
    queue_limit: Option<u32>,
    service: ServiceSampler,
    queue: VecDeque<u32>,
    busy: TimeIntegral,
    queued: TimeIntegral,
    routed: u64,
    rejected: u64,
    completed: u64,
}

/// The stack model: implements [`Model`] for the engine.
#[derive(Debug)]
pub struct WebStack {
    clients: Vec<Client>,
    policy: Box<dyn Policy>,
    policy_rng: SimRng,
    states: Vec<BackendState>,
    backends: Vec<Backend>,
    requests: Slab<Request>,
    warmup: SimTime,
    in_system: TimeIntegral,
    arrived: u64,
    completed: u64,
    rejected: u64,
    unrouted: u64,
    response: Latency,
    wait: Latency,
}

impl WebStack {
    /// A simulation of `stack` with its first arrivals and the end of warm-up scheduled.
    pub fn simulation(
        stack: &StackConfig,
        mut policy: Box<dyn Policy>,
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
        let clients = stack
            .clients
            .iter()
            .map(|c| {
                Ok(Client {
                    gaps: c.arrivals.sampler()?,
                    arrivals: rng::stream(params.seed, &format!("arrivals/{}", c.name)),
                    sizes: rng::stream(params.seed, &format!("sizes/{}", c.name)),
                    key_sampler: KeySampler::new(c.users.as_ref())?,
                    keys: rng::stream(params.seed, &format!("keys/{}", c.name)),
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
                    service: b.service.sampler()?,
                    queue: VecDeque::new(),
                    busy: TimeIntegral::default(),
                    queued: TimeIntegral::default(),
                    routed: 0,
                    rejected: 0,
                    completed: 0,
                })
            })
            .collect::<Result<Vec<_>, ModelError>>()?;
        let states: Vec<BackendState> = stack
            .backends
            .iter()
            .map(|b| BackendState { weight: b.weight, eligible: true, in_flight: 0, latency: None })
            .collect();
        policy.on_backends_changed(&states);
        let model = WebStack {
            clients,
            policy,
            policy_rng: rng::stream(params.seed, "policy"),
            states,
            backends,
            requests: Slab::new(),
            warmup: SimTime::from(params.warmup),
            in_system: TimeIntegral::default(),
            arrived: 0,
            completed: 0,
            rejected: 0,
            unrouted: 0,
            response: Latency::default(),
            wait: Latency::default(),
        };
        let mut sim = Simulation::new(model);
        for client in 0..stack.clients.len() {
            let c = &mut sim.model_mut().clients[client];
            let first = SimTime::ZERO + c.gaps.sample(&mut c.arrivals);
            sim.schedule_at(first, Event::Arrival { client: client as u32 });
        }
        sim.schedule_at(SimTime::from(params.warmup), Event::EndWarmup);
        Ok(sim)
    }

    fn arrive(&mut self, client: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let c = &mut self.clients[client as usize];
        cx.schedule_in(c.gaps.sample(&mut c.arrivals), Event::Arrival { client });
        let size_seed = c.sizes.next_u64();
        let key = c.key_sampler.sample(&mut c.keys);
        let counted = now >= self.warmup;
        self.arrived += u64::from(counted);

        let info = RequestInfo { key, arrived: now };
        let Some(b) = self.policy.pick(&self.states, &info, &mut self.policy_rng) else {
            self.unrouted += u64::from(counted);
            return;
        };
        let backend = &mut self.backends[b];
        backend.routed += u64::from(counted);
        if backend.busy.level() < u64::from(backend.workers) {
            let request =
                self.requests.insert(Request { arrived: now, size_seed, backend: b as u32, counted });
            self.start_service(request as u32, cx);
        } else if backend.queue_limit.is_none_or(|limit| backend.queue.len() < limit as usize) {
            let request =
                self.requests.insert(Request { arrived: now, size_seed, backend: b as u32, counted });
            backend.queue.push_back(request as u32);
            backend.queued.increment(now);
        } else {
            backend.rejected += u64::from(counted);
            self.rejected += u64::from(counted);
            return;
        }
        self.states[b].in_flight += 1;
        self.in_system.increment(now);
    }

    /// Puts `request` on a free worker of its backend.
    fn start_service(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let r = &self.requests[request as usize];
        let backend = &mut self.backends[r.backend as usize];
        backend.busy.increment(now);
        if r.counted {
            self.wait.record(now - r.arrived);
        }
        let service = backend.service.sample(&mut SplitMix64::seed_from_u64(r.size_seed));
        cx.schedule_in(service, Event::Completion { request });
    }

    fn complete(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let r = self.requests.remove(request as usize);
        let b = r.backend as usize;
        let latency = now - r.arrived;
        if r.counted {
            self.completed += 1;
            self.backends[b].completed += 1;
            self.response.record(latency);
        }
        self.in_system.decrement(now);
        let state = &mut self.states[b];
        state.in_flight -= 1;
        state.latency = Some(match state.latency {
            None => latency,
            Some(smoothed) => (smoothed * 7 + latency) / 8,
        });
        self.policy.on_response(&Feedback { backend: b, at: now, latency, success: true });

        let backend = &mut self.backends[b];
        backend.busy.decrement(now);
        if let Some(next) = backend.queue.pop_front() {
            backend.queued.decrement(now);
            self.start_service(next, cx);
        }
    }

    fn end_warmup(&mut self, now: SimTime) {
        self.in_system.restart(now);
        for b in &mut self.backends {
            b.busy.restart(now);
            b.queued.restart(now);
        }
    }

    /// What the run measured, from the end of warm-up to `end`.
    pub fn summary(mut self, end: SimTime, events: u64) -> RunSummary {
        let measured = end - self.warmup;
        let secs = measured.as_secs_f64();
        let routed: u64 = self.backends.iter().map(|b| b.routed).sum();
        let ratio = |part: u64, whole: u64| {
            if whole == 0 { 0.0 } else { part as f64 / whole as f64 }
        };
        let backends = self
            .backends
            .iter_mut()
            .map(|b| BackendSummary {
                name: b.name.clone(),
                routed: b.routed,
                completed: b.completed,
                rejected: b.rejected,
                utilization: b.busy.mean(end) / f64::from(b.workers),
                queue_length_mean: b.queued.mean(end),
                share: ratio(b.routed, routed),
                rejected_ratio: ratio(b.rejected, b.routed),
            })
            .collect();
        let in_flight = self.requests.iter().filter(|(_, r)| r.counted).count() as u64;
        RunSummary {
            measured,
            events,
            arrived: self.arrived,
            completed: self.completed,
            rejected: self.rejected + self.unrouted,
            timed_out: 0,
            failed: 0,
            in_flight,
            response_time: LatencySummary::of(&self.response),
            wait_time_mean_s: self.wait.mean_s(),
            throughput_per_s: self.completed as f64 / secs,
            arrival_rate_per_s: self.arrived as f64 / secs,
            in_system_mean: self.in_system.mean(end),
            backends,
        }
    }
}

impl Model for WebStack {
    type Event = Event;

    #[inline]
    fn handle(&mut self, event: Event, cx: &mut Context<'_, Event>) {
        match event {
            Event::Arrival { client } => self.arrive(client, cx),
            Event::Completion { request } => self.complete(request, cx),
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

/// What one backend saw during the measured period.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendSummary {
    /// Backend name.
    pub name: String,
    /// Requests the balancer sent here.
    pub routed: u64,
    /// Requests answered successfully.
    pub completed: u64,
    /// Requests turned away because the queue was full.
    pub rejected: u64,
    /// Busy worker-time over available worker-time (0..=1).
    pub utilization: f64,
    /// Time-averaged number of requests waiting.
    pub queue_length_mean: f64,
    /// Fraction of all routed requests sent here.
    pub share: f64,
    /// `rejected / routed`.
    pub rejected_ratio: f64,
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
    /// Requests answered 503 at once: a full queue, or no available backend.
    pub rejected: u64,
    /// Requests the client gave up on.
    pub timed_out: u64,
    /// Requests answered with an error after being served.
    pub failed: u64,
    /// Requests still unanswered when the run ended.
    pub in_flight: u64,
    /// Response time of successful requests (from reaching the balancer to the response).
    pub response_time: LatencySummary,
    /// Mean time successful requests waited in a queue [s].
    pub wait_time_mean_s: f64,
    /// Successful responses per second of measured time.
    pub throughput_per_s: f64,
    /// Arrivals per second of measured time.
    pub arrival_rate_per_s: f64,
    /// Time-averaged requests in the stack (queued or in service): Little's L.
    pub in_system_mean: f64,
    /// Per backend, in balancer order.
    pub backends: Vec<BackendSummary>,
}

impl RunSummary {
    /// Requests that did not succeed, over arrivals.
    pub fn error_ratio(&self) -> f64 {
        let errors = self.rejected + self.timed_out + self.failed;
        if self.arrived == 0 { 0.0 } else { errors as f64 / self.arrived as f64 }
    }
}
