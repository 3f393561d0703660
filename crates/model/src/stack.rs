//! The web stack as one simulation model: clients → balancer → backends → database.
//!
//! [`WebStack`] is the event dispatcher. It owns the components — the clients, the balancer,
//! the backends, the database, the requests and attempts in flight, and the recorder — and
//! wires them: each event asks the components concerned for their decisions and schedules what
//! follows. The bookkeeping lives in the components; what lives here is the order in which
//! they are asked.
//!
//! A *request* is what a user asked for; an *attempt* is one try of it at one backend. A
//! request ends once: successfully, or with the outcome of its last attempt (rejected, timed
//! out, failed) when no retry is left. Attempts that a client gave up on keep their backend
//! busy until they finish: that work is *wasted*.
//!
//! The hot path (requests, attempts, backends) and the dispatch are here; the rest lives beside
//! it, one idea a module: `run` (from a configuration to a summary), `path` (the two compiled
//! copies of the hot handlers), `attempt_log`, `hedging`, `overload` (with adaptive concurrency
//! and priority shedding), `database`, `timeline` (its actions and active health checks), `fleet`
//! and `measurement`.

use std::time::Duration;

use stacksim_engine::{Context, Model, SimTime, Simulation};

use crate::ModelError;
use crate::backend::{Admission, Backend, Rejection};
pub use crate::backend::{BackendConfig, Degradation, QueueLimit};
use crate::balancer::{BalancerLimits, Guard, Heard};
use crate::classes::ClassTable;
use crate::client::Client;
pub use crate::client::ClientConfig;
use crate::database::Database;
pub use crate::database::DatabaseConfig;
use crate::fleet::{Fleet, FleetConfig};
use crate::health::HealthConfig;
use crate::overload::hedge::Hedges;
use crate::overload::{AdmissionControl, BackendLimits, ClusterBreakers, RateLimit, Sample};
use crate::policy::{Policy, RequestInfo};
pub use crate::recorder::Observe;
use crate::recorder::{Outcome, Recorder};
pub use crate::request::AttemptRef;
use crate::request::{InFlight, NO_CONNECTION, Request, Stage, sizes};
pub use crate::summary::{BackendSummary, DatabaseSummary, LatencySummary, RunSummary};
use crate::timeline::TimedAction;
use crate::topology::{PolicyCopies, Tier, Topology, policy_copies};

mod attempt_log;
mod database;
mod fleet;
mod hedging;
mod measurement;
mod overload;
mod path;
mod run;
mod timeline;

pub use attempt_log::{AttemptLog, AttemptOutcome, AttemptRecord};
use path::{Full, Path, Plain};
pub use run::{
    PROGRESS_EVERY, RunControl, RunEnd, RunParams, simulate, simulate_controlled, simulate_copies,
    simulate_with,
};

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
    /// The balancer's admission control (Envoy), one per balancer instance
    /// ([`Topology::instances`]). `None`: none.
    pub admission_control: Option<AdmissionControl>,
    /// A token bucket in front of each balancer instance (429 when empty). `None`: none.
    pub rate_limit: Option<RateLimit>,
    /// Report what the overload mechanisms did (all zero) even when none is configured, so
    /// that the variants of a sweep that compares them report the same metrics.
    pub report_overload: bool,
    /// Report the adaptive concurrency metrics (`NaN` limit, none refused) even when no
    /// backend has a limit, for the same reason.
    pub report_concurrency: bool,
    /// Backend groups whose pods come and go (autoscaling, lifecycle, deploys); none by
    /// default, and then the fleet costs nothing.
    pub fleets: Vec<FleetConfig>,
    /// Balancer instances, subsets, connections, zone-aware routing and priority failover.
    pub topology: Topology,
}

impl StackConfig {
    /// Whether the run keeps per-class metrics: some client declares request classes or some
    /// backend sheds by priority (see [`crate::classes`]).
    pub fn has_classes(&self) -> bool {
        self.clients.iter().any(|c| !c.classes.is_empty()) || self.backends.iter().any(|b| b.shed.is_some())
    }

    /// Whether any overload mechanism is configured (their metrics are reported only then).
    pub fn has_overload_control(&self) -> bool {
        self.admission_control.is_some()
            || self.rate_limit.is_some()
            || self.clients.iter().any(|c| c.breaker.is_some() || c.throttle.is_some())
            || self.backends.iter().any(|b| {
                b.circuit_breakers.is_some()
                    || b.rate_limit.is_some()
                    || b.slow_start.is_some()
                    || b.warmup.is_some()
                    || b.concurrency.is_some()
            })
    }
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
    /// A hedged request's hedge delay ends: its next attempt goes out, unless an answer came
    /// first (then `timer` is stale).
    Hedge {
        /// Request key.
        request: u32,
        /// Which arming of the request's hedge timer this is.
        timer: u32,
    },
    /// A worker finishes an attempt.
    Completion(AttemptRef),
    /// A successful response that crossed zones reaches its client (after the topology's
    /// `cross_zone_latency`).
    Delivered {
        /// Request key.
        request: u32,
    },
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
    /// The pod in a fleet group's slot `backend` reaches its next phase (provisioned, ready,
    /// done draining), if it is still generation `generation`.
    Pod {
        /// Backend slot.
        backend: u32,
        /// The pod's generation when the timer was set.
        generation: u32,
    },
    /// A fleet group's autoscaler evaluates.
    Autoscale {
        /// Fleet group index.
        group: u32,
    },
    /// The current time-series window ends.
    WindowEnd,
    /// The warm-up ends: statistics start here.
    EndWarmup,
    /// A backend's adaptive concurrency limiter has a time-driven step due (Envoy's gradient
    /// controller: a limit update, or the start of a minRTT measurement).
    ConcurrencyStep {
        /// Backend index.
        backend: u32,
    },
}

/// The stack model: implements [`Model`] for the engine by dispatching each event to the
/// components it concerns.
#[derive(Debug)]
pub struct WebStack {
    clients: Vec<Client>,
    tier: Tier,
    /// The fleet, in balancer order; a backend's index is its identity.
    backends: Vec<Backend>,
    database: Option<Database>,
    in_flight: InFlight,
    /// Hedged requests' attempts and timers; `None` when no client hedges.
    hedges: Option<Hedges>,
    timeline: Vec<TimedAction>,
    recorder: Recorder,
    /// The balancer tier's rate limits, admission control and slow start, if any is
    /// configured (per instance; see [`Guard`]).
    balancer_guard: Option<Box<Guard>>,
    /// The backend groups' circuit breakers, if any group has them.
    breakers: Option<ClusterBreakers>,
    /// The backends' adaptive concurrency limits, if any backend has one.
    concurrency: Option<Box<BackendLimits>>,
    /// [`StackConfig::report_concurrency`].
    report_concurrency: bool,
    /// Whether any overload control is configured: checked once where they act, so that a
    /// stack without them pays one test of a flag.
    guarded: bool,
    /// Per client with a breaker, the time it had spent open when the warm-up ended.
    breaker_open_at_warmup: Vec<Duration>,
    /// Groups with fleet dynamics; `None` without (and then nothing here runs).
    fleet: Option<Fleet>,
    /// Where ended attempts are written, if anywhere.
    attempt_log: Option<Box<dyn AttemptLog>>,
    /// The stack's request classes, when some client declares them or some backend sheds;
    /// `None` otherwise (and then no class is looked up).
    classes: Option<Box<ClassTable>>,
    /// Whether some backend sheds by priority: checked once per attempt that reaches a backend.
    shedding: bool,
    /// Nothing beyond the single balancer of issue 10 is configured (see [`Path`]): events
    /// take the [`Plain`] path. Kept up to date by [`WebStack::set_plain`].
    plain: bool,
}

impl StackConfig {
    /// How many copies of the policy a run needs: one per balancer instance and host set
    /// (priority level, and (level, zone) with zone-aware routing). One for a single balancer.
    pub fn policy_copies(&self) -> usize {
        policy_copies(&self.topology, &self.backends, &self.clients)
    }
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
        policy: Box<dyn Policy>,
        later: Vec<Box<dyn Policy>>,
        params: RunParams,
    ) -> Result<Simulation<WebStack>, ModelError> {
        Self::simulation_copies(stack, vec![(policy, later)], params)
    }

    /// A simulation of `stack` with a copy of the policy (and its later ones) per balancer
    /// instance and host set ([`StackConfig::policy_copies`]).
    pub fn simulation_copies(
        stack: &StackConfig,
        policies: PolicyCopies,
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
        // Every range, once (the `stacksim` crate places the same problems in the file).
        stack.check()?;
        let needed = stack.policy_copies();
        if policies.len() != needed {
            return Err(ModelError::PolicyCopies { needed, given: policies.len() });
        }
        let classes = ClassTable::new(&stack.clients, stack.has_classes()).map(Box::new);
        let clients = stack
            .clients
            .iter()
            .enumerate()
            .map(|(i, c)| Client::new(c, params.seed, classes.as_ref().map_or(0, |t| t.first[i])))
            .collect::<Result<Vec<_>, _>>()?;
        let backends = Backend::fleet(&stack.backends)?;
        let database = stack.database.as_ref().map(|db| Database::new(db, backends.len())).transpose()?;
        let users = stack.clients.iter().filter_map(ClientConfig::user_count).max();
        let limits =
            BalancerLimits { admission_control: stack.admission_control, rate_limit: stack.rate_limit };
        let balancer_guard = Guard::new(limits, &stack.backends, stack.topology.instances, params.seed);
        // Under slow start every policy of every instance sees weights in hundredths.
        let scale = Guard::weight_scale(balancer_guard.as_deref());
        let scaled: Vec<BackendConfig>;
        let tier_backends = if scale == 1 {
            &stack.backends
        } else {
            scaled = stack
                .backends
                .iter()
                .map(|b| BackendConfig { weight: b.weight.saturating_mul(scale), ..b.clone() })
                .collect();
            &scaled
        };
        let mut model = WebStack {
            clients,
            tier: Tier::new(
                &stack.topology,
                tier_backends,
                &stack.clients,
                stack.health,
                policies,
                params.seed,
            ),
            recorder: Recorder::new(
                &stack.observe,
                params.warmup,
                params.duration,
                backends.len(),
                users,
                stack.report_overload || stack.report_concurrency || stack.has_overload_control(),
                classes.as_deref(),
            ),
            report_concurrency: stack.report_concurrency,
            balancer_guard,
            breakers: ClusterBreakers::new(stack.backends.iter().map(|b| (b.group, b.circuit_breakers))),
            concurrency: BackendLimits::new(
                stack.backends.iter().map(|b| {
                    let stream =
                        || stacksim_engine::rng::stream(params.seed, &format!("concurrency/{}", b.name));
                    b.concurrency.map(|c| (c, stream()))
                }),
                SimTime::ZERO,
            )
            .map(Box::new),
            breaker_open_at_warmup: Vec::new(),
            guarded: stack.has_overload_control(),
            backends,
            database,
            in_flight: InFlight::default(),
            hedges: stack
                .clients
                .iter()
                .any(|c| c.hedge.is_some() || c.hedge_on_per_try_timeout)
                .then(Hedges::default),
            timeline: stack.timeline.clone(),
            fleet: Fleet::new(&stack.fleets, stack.backends.len(), SimTime::from(params.warmup)),
            attempt_log: None,
            classes,
            shedding: stack.backends.iter().any(|b| b.shed.is_some()),
            plain: false,
        };
        model.set_plain();
        let first = model.first_events(params.warmup);
        let mut sim = Simulation::new(model);
        for (at, event) in first {
            sim.schedule_at(at, event);
        }
        Ok(sim)
    }

    /// The events that start the run, in the order they are scheduled (which orders events at
    /// equal times): each client's first requests, the end of warm-up, the first health check
    /// of each backend, the timeline, the end of the first window.
    fn first_events(&mut self, warmup: Duration) -> Vec<(SimTime, Event)> {
        let mut first = Vec::new();
        for (index, c) in self.clients.iter_mut().enumerate() {
            let client = index as u32;
            if let Some(users) = c.closed_loop_users() {
                for user in 0..users {
                    let think = c.think_time().expect("a closed loop thinks");
                    first.push((SimTime::ZERO + think, Event::Send { client, user }));
                }
            } else if let Some(at) = c.next_arrival(SimTime::ZERO) {
                first.push((at, Event::Arrival { client }));
            }
        }
        first.push((SimTime::from(warmup), Event::EndWarmup));
        if let Some(check) = self.tier.active_check() {
            for backend in 0..self.backends.len() as u32 {
                first.push((SimTime::ZERO + check.interval, Event::HealthCheck { backend }));
            }
        }
        for (index, action) in self.timeline.iter().enumerate() {
            first.push((SimTime::from(action.at), Event::Action { index: index as u32 }));
        }
        if let Some(window) = self.recorder.window() {
            first.push((SimTime::from(window), Event::WindowEnd));
        }
        if let Some(fleet) = &self.fleet {
            for (group, sync) in fleet.first_syncs() {
                first.push((SimTime::ZERO + sync, Event::Autoscale { group: group as u32 }));
            }
        }
        if let Some(limits) = &mut self.concurrency {
            for (b, at) in limits.first_wakeups() {
                first.push((at, Event::ConcurrencyStep { backend: b as u32 }));
            }
        }
        first
    }

    // ---- requests and attempts ----------------------------------------------------------

    fn arrive<P: Path>(&mut self, client: u32, cx: &mut Context<'_, Event>) {
        let (key, next) = self.clients[client as usize].arrive(cx.now());
        if let Some(next) = next {
            cx.schedule_at(next, Event::Arrival { client });
        }
        self.new_request::<P>(client, key, None, cx);
    }

    /// A new request from `client`, with its trace `key` or closed-loop `user` if any, reaches
    /// the balancer, and its first attempt goes out. Always inlined into its two callers, an
    /// arrival and a closed-loop user's send, each with a constant for what it does not pass
    /// (as a call it cost the M/M/1 bench 3.3% of its instructions: issue 10).
    #[inline(always)]
    fn new_request<P: Path>(
        &mut self,
        client: u32,
        key: Option<u64>,
        user: Option<u32>,
        cx: &mut Context<'_, Event>,
    ) {
        let now = cx.now();
        let c = &mut self.clients[client as usize];
        let (key, size_seed, class) = c.new_request(now, key, user);
        let counted = self.recorder.arrived(now, c.tracks_users().then_some(key), class);
        let hedged = P::FULL && c.hedge().is_some();
        let instance = if P::FULL { self.tier.assign(key) } else { 0 };
        let request = self.in_flight.open(Request {
            client,
            key,
            user,
            arrived: now,
            size_seed,
            attempts: 0,
            counted,
            instance,
            class,
        });
        if let Some(hedges) = self.hedges.as_mut().filter(|_| hedged) {
            hedges.open(request);
            self.hedge(request, cx);
        } else {
            self.send_attempt_inline::<P>(request, cx);
        }
    }

    /// Sends the next attempt of `request` to the backend the balancer picks.
    #[inline(never)]
    fn send_attempt<P: Path>(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        self.send_attempt_inline::<P>(request, cx);
    }

    /// The body of [`WebStack::send_attempt`], also inlined into [`WebStack::new_request`], so
    /// that every request's first attempt goes out without a call (issue 10: 1.4% of the M/M/1
    /// bench's instructions).
    #[inline(always)]
    fn send_attempt_inline<P: Path>(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        // Overload controls (one flag when none is configured): the client's breaker and
        // throttle, then the balancer's rate limit and admission control.
        if P::FULL && self.guarded && self.held_or_refused(request, cx) {
            return;
        }
        let r = self.in_flight.next_attempt(request);
        let (info, client, counted, instance) =
            (RequestInfo { key: r.key, arrived: r.arrived }, r.client, r.counted, r.instance);
        self.recorder.sent(counted);
        let routed = if P::FULL {
            self.tier.route(instance, &info, client, now)
        } else {
            self.tier.single_route(&info).map(|b| (b, NO_CONNECTION))
        };
        let Some((b, connection)) = routed else {
            // No backend available: the balancer answers 503 at once.
            self.log_attempt::<P>(request, None, (now, None, now), Outcome::Rejected);
            self.retry_or_finish::<P>(request, Outcome::Rejected, None, cx);
            return;
        };
        self.recorder.routed(b, counted);
        if P::FULL {
            if let Some(fleet) = &mut self.fleet {
                fleet.routed(b);
            }
            self.tier.count_zones(client, b, counted);
            // The cluster's circuit breakers and the backend's rate limit answer at once.
            if self.guarded && self.stopped_at_backend((instance, b, connection), request, counted, cx) {
                return;
            }
        }
        let admission = self.backends[b].admit();
        // Priority shedding (one flag when no backend sheds), unless the process is down.
        if P::FULL
            && self.shedding
            && admission != Admission::Reject(Rejection::Down)
            && self.shed_by_priority((instance, b, connection), request, counted, cx)
        {
            return;
        }
        if let Admission::Reject(why) = admission {
            if P::FULL
                && let Some(breakers) = &mut self.breakers
            {
                breakers.release(b);
            }
            let outcome = match why {
                // Connection refused: the process is down.
                Rejection::Down => Outcome::Failed,
                Rejection::QueueFull => Outcome::Rejected,
            };
            if P::FULL {
                self.tier.release(instance, connection, b, now, why == Rejection::Down);
                if let Some(limits) = &mut self.concurrency {
                    let sample = match why {
                        Rejection::Down => Sample::Ignored,
                        Rejection::QueueFull => Sample::Response { rtt: Duration::ZERO, dropped: true },
                    };
                    if let Some(at) = limits.bounced(b, now, sample) {
                        cx.schedule_at(at, Event::ConcurrencyStep { backend: b as u32 });
                    }
                }
            }
            let heard = Heard::Response { success: false, latency: Duration::ZERO };
            self.log_attempt::<P>(request, Some(b), (now, None, now), outcome);
            self.attempt_failed::<P>(instance, b, request, counted, outcome, heard, cx);
            return;
        }
        let attempt = self.in_flight.send(request, b, now, instance, connection);
        if P::FULL
            && let Some(limits) = &mut self.concurrency
        {
            limits.admitted(b, attempt.slot());
        }
        if P::FULL
            && let Some(hedges) = self.hedges.as_mut().filter(|h| h.is_hedged(request))
        {
            let n = self.in_flight.request(request).attempts - 1;
            hedges.sent(request, n, attempt);
            let a = self.in_flight.live_mut(attempt).expect("the attempt was just sent");
            a.size_seed = crate::overload::hedge::hedge_seed(a.size_seed, n);
        }
        if P::FULL {
            self.tier.sent(instance, b);
        } else {
            self.tier.single_sent(b);
        }
        self.recorder.entered(now);
        if let Some(timeout) = self.clients[client as usize].timeout() {
            cx.schedule_in(timeout, Event::ClientTimeout(attempt));
        }
        if admission == Admission::Serve {
            self.start_service(attempt, cx);
        } else if let Some(wait) = self.backends[b].enqueue(attempt, now) {
            cx.schedule_in(wait, Event::QueueTimeout(attempt));
        }
    }

    /// An attempt of `request` at backend `b` ended without success: the backend's count, what
    /// the balancer hears, then the client's retry or the request's end. The one path for every
    /// unsuccessful attempt that reached a backend.
    #[allow(clippy::too_many_arguments)]
    fn attempt_failed<P: Path>(
        &mut self,
        instance: u32,
        b: usize,
        request: u32,
        counted: bool,
        outcome: Outcome,
        heard: Heard,
        cx: &mut Context<'_, Event>,
    ) {
        self.recorder.attempt_ended(b, counted, outcome);
        self.feedback::<P>(instance, b, heard, cx);
        self.retry_or_finish::<P>(request, outcome, Some(b), cx);
    }

    /// Tells balancer instance `instance` what it heard from backend `b`, and schedules the
    /// end of any ejection that caused.
    // Always inlined: in `complete` the response is known to be a success, and the checks on
    // what was heard fold away (BENCHMARKS.md, "The unconfigured path").
    #[inline(always)]
    fn feedback<P: Path>(&mut self, instance: u32, b: usize, heard: Heard, cx: &mut Context<'_, Event>) {
        if P::FULL
            && let Some(guard) = &mut self.balancer_guard
        {
            guard.heard(instance, cx.now(), matches!(heard, Heard::Response { success: true, .. }));
        }
        let ejected = if P::FULL {
            self.tier.feedback(instance, b, cx.now(), heard)
        } else {
            self.tier.single_feedback(b, cx.now(), heard)
        };
        if let Some(until) = ejected {
            cx.schedule_at(until, Event::Unejection { backend: b as u32 });
        }
    }

    /// An attempt of `request` (last at backend `at`, if it reached one) ended without
    /// success: retry it if the client may (and its cluster's `max_retries` allows), else end
    /// the request with `outcome`.
    fn retry_or_finish<P: Path>(
        &mut self,
        request: u32,
        outcome: Outcome,
        at: Option<usize>,
        cx: &mut Context<'_, Event>,
    ) {
        let now = cx.now();
        if P::FULL && self.guarded {
            self.guard_heard(request, false, now);
        }
        if P::FULL && self.hedges.as_ref().is_some_and(|h| h.is_hedged(request)) {
            self.hedge_failed(request, outcome, cx);
            return;
        }
        let r = self.in_flight.request(request);
        let (client, attempts, counted) = (r.client, r.attempts, r.counted);
        if let Some(wait) = self.clients[client as usize].retry_after(attempts, now) {
            if P::FULL
                && let (Some(breakers), Some(b)) = (&mut self.breakers, at)
                && !breakers.admit_retry(request, b)
            {
                self.recorder.retry_overflowed(counted);
                self.finish(request, outcome, cx);
                return;
            }
            self.recorder.retried(counted);
            cx.schedule_in(wait, Event::Retry { request });
            return;
        }
        self.finish(request, outcome, cx);
    }

    /// Ends `request` with `outcome`; a closed-loop user thinks, then sends its next one.
    fn finish(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        self.end_request::<Full>(request, outcome, cx);
    }

    /// [`WebStack::finish`] of a successful request: a copy of its own, compiled with the
    /// outcome known (the recorder's count and histogram without a match over outcomes), and
    /// inlined into its one caller, [`WebStack::complete`] (as a call it cost the M/M/1 bench
    /// 1.5% of its instructions: issue 10).
    #[inline(always)]
    fn finish_completed<P: Path>(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        self.end_request::<P>(request, Outcome::Completed, cx);
    }

    /// The body of [`WebStack::finish`] and [`WebStack::finish_completed`].
    #[inline(always)]
    fn end_request<P: Path>(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let r = self.in_flight.close(request);
        let c = &mut self.clients[r.client as usize];
        if P::FULL && outcome == Outcome::Completed {
            c.succeeded();
        }
        let user = c.tracks_users().then_some(r.key);
        self.recorder.request_ended(now, (r.counted, r.class), outcome, r.arrived, user);
        if let Some(user) = r.user
            && let Some(think) = c.think_time()
        {
            cx.schedule_in(think, Event::Send { client: r.client, user });
        }
    }

    fn client_timeout<P: Path>(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let Some(a) = self.in_flight.live(attempt).filter(|a| !a.abandoned) else { return };
        if P::FULL && self.hedges.is_some() && self.hedge_on_timeout(a.request, attempt, cx) {
            return;
        }
        let (instance, b, request, counted) = self.give_up::<P>(attempt, cx);
        self.attempt_failed::<P>(instance, b, request, counted, Outcome::TimedOut, Heard::Silence, cx);
    }

    /// The client gives live `attempt` up at its timeout: it is abandoned (its worker may run
    /// on), its connection reset or closed, and it is logged as timed out. Returns its
    /// instance, backend, request and whether it is counted.
    #[inline]
    fn give_up<P: Path>(
        &mut self,
        attempt: AttemptRef,
        cx: &mut Context<'_, Event>,
    ) -> (u32, usize, u32, bool) {
        let a = self.in_flight.live_mut(attempt).expect("a timed-out attempt is live");
        a.abandoned = true;
        let (b, request, counted, instance, connection) =
            (a.backend as usize, a.request, a.counted, a.instance, a.connection);
        if P::FULL && self.concurrency.is_some() {
            // The client reset it: the limiter no longer counts it (Envoy's
            // `cancelLatencySample`), though its worker may run on.
            self.concurrency_heard(b, attempt, Sample::Ignored, cx);
        }
        let a = self.in_flight.live_mut(attempt).expect("a timed-out attempt is live");
        let started = (a.stage != Stage::Queued).then_some(a.started);
        let sent = a.sent;
        if P::FULL && connection != NO_CONNECTION && !self.tier.abandon(instance, connection, cx.now()) {
            a.connection = NO_CONNECTION;
        }
        self.log_attempt::<P>(request, Some(b), (sent, started, cx.now()), Outcome::TimedOut);
        (instance, b, request, counted)
    }

    // ---- backends -----------------------------------------------------------------------

    /// Puts `attempt` on a free worker of its backend.
    fn start_service(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        // One look-up: the attempt is borrowed from `in_flight` alone, beside the recorder, the
        // backends and the database.
        let a = self.in_flight.live_mut(attempt).expect("a live attempt starts");
        let b = a.backend as usize;
        if a.counted && !a.abandoned {
            self.recorder.waited(a.sent, now);
        }
        // Its request class's cost (one check when the stack has no classes).
        let scale = match &self.classes {
            None => 1.0,
            Some(table) => table.info[usize::from(a.class)].service_scale,
        };
        let mut sizes = sizes(a.size_seed);
        let work = self.backends[b].start(now, &mut sizes, scale);
        let queries = self.database.as_ref().is_some_and(|db| db.is_queried_by(&mut sizes));
        a.work_ns = work.as_nanos() as u64;
        a.started = now;
        if queries {
            a.stage = Stage::WaitingForConnection;
            a.asked_for_connection = now;
            if self.database.as_mut().expect("queries only happen with a database").acquire(b, attempt) {
                self.query(b, attempt, cx);
            }
        } else {
            a.stage = Stage::Serving;
            cx.schedule_in(work, Event::Completion(attempt));
        }
    }

    fn complete<P: Path>(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(a) = self.in_flight.end_if(attempt, |_| true) else { return };
        let b = a.backend as usize;
        if P::FULL && self.concurrency.is_some() {
            let sample = Sample::Response { rtt: now - a.sent, dropped: false };
            self.concurrency_heard(b, attempt, sample, cx);
        }
        self.recorder.worked(now, now - a.started, a.abandoned);
        self.leave_backend::<P>(a.instance, b, a.connection, now, false);
        let next = self.backends[b]
            .release(now, |q| self.in_flight.live(q).is_some_and(|a| a.stage == Stage::Queued));
        if let Some(next) = next {
            self.start_service(next, cx);
        }
        if a.abandoned {
            return;
        }
        self.log_attempt::<P>(a.request, Some(b), (a.sent, Some(a.started), now), Outcome::Completed);
        self.recorder.attempt_ended(b, a.counted, Outcome::Completed);
        if P::FULL && self.hedges.as_ref().is_some_and(|h| h.is_hedged(a.request)) {
            // The first answer wins; the request's other attempts are cancelled now, before a
            // cross-zone delivery, so that no later answer finishes it a second time.
            self.cancel_hedges(a.request, attempt, cx);
        }
        // Only a topology with a cross-zone latency looks the client up.
        let crossing = if P::FULL && self.tier.charges_crossing() {
            self.tier.crossing_latency(self.in_flight.request(a.request).client, b)
        } else {
            None
        };
        match crossing {
            None => {
                self.feedback::<P>(
                    a.instance,
                    b,
                    Heard::Response { success: true, latency: now - a.sent },
                    cx,
                );
                if P::FULL && self.guarded {
                    self.guard_heard(a.request, true, now);
                }
                self.finish_completed::<P>(a.request, cx);
            }
            Some(extra) => self.deliver_later(a.instance, b, a.request, now - a.sent, extra, cx),
        }
    }

    /// A successful response of `request` from backend `b`, `latency` after its attempt left,
    /// crosses zones: the balancer and the client see it `extra` later; the backend's worker is
    /// free now.
    #[cold]
    fn deliver_later(
        &mut self,
        instance: u32,
        b: usize,
        request: u32,
        latency: Duration,
        extra: Duration,
        cx: &mut Context<'_, Event>,
    ) {
        self.feedback::<Full>(instance, b, Heard::Response { success: true, latency: latency + extra }, cx);
        cx.schedule_in(extra, Event::Delivered { request });
    }

    /// An attempt of instance `instance` on `connection` left backend `b` at `now` (done,
    /// expired, or — `reset` — reset by a crash).
    #[inline(always)]
    fn leave_backend<P: Path>(
        &mut self,
        instance: u32,
        b: usize,
        connection: u32,
        now: SimTime,
        reset: bool,
    ) {
        if !P::FULL {
            self.tier.single_returned(b);
            self.recorder.left(now);
            return;
        }
        if let Some(breakers) = &mut self.breakers {
            breakers.release(b);
        }
        self.tier.returned(instance, b);
        if connection != NO_CONNECTION {
            self.tier.release(instance, connection, b, now, reset);
        }
        self.recorder.left(now);
    }

    fn queue_timeout<P: Path>(&mut self, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        // Lazy removal: its reference stays in the backend's queue and is dropped at the front.
        let Some(a) = self.in_flight.end_if(attempt, |a| a.stage == Stage::Queued) else { return };
        let b = a.backend as usize;
        if P::FULL && self.concurrency.is_some() {
            // The backend answers 503 after the wait: a drop, for the limiters that count them.
            let sample = Sample::Response { rtt: now - a.sent, dropped: true };
            self.concurrency_heard(b, attempt, sample, cx);
        }
        self.backends[b].expire(now);
        self.leave_backend::<P>(a.instance, b, a.connection, now, false);
        if a.abandoned {
            return;
        }
        let heard = Heard::Response { success: false, latency: now - a.sent };
        self.log_attempt::<P>(a.request, Some(b), (a.sent, None, now), Outcome::Rejected);
        self.attempt_failed::<P>(a.instance, b, a.request, a.counted, Outcome::Rejected, heard, cx);
    }

    /// Backend `b` dies: everything it holds fails (or, if its client already left, is just
    /// dropped), and it refuses new attempts until it recovers.
    fn crash(&mut self, b: usize, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let held = self.in_flight.held_by(b);
        self.backends[b].crash(now);
        if let Some(db) = &mut self.database {
            db.crash(b);
        }
        // Pending completions and timeouts find their attempt gone and are ignored.
        for attempt in held {
            if self.concurrency.is_some() {
                self.concurrency_heard(b, attempt, Sample::Ignored, cx);
            }
            let a = self.in_flight.remove(attempt);
            self.leave_backend::<Full>(a.instance, b, a.connection, now, true);
            if !a.abandoned {
                let started = (a.stage != Stage::Queued).then_some(a.started);
                self.log_attempt::<Full>(a.request, Some(b), (a.sent, started, now), Outcome::Failed);
                let failed = Outcome::Failed;
                self.attempt_failed::<Full>(a.instance, b, a.request, a.counted, failed, Heard::Silence, cx);
            }
        }
    }
}

impl Model for WebStack {
    type Event = Event;

    // Always inlined: `simulate_controlled` has two event loops (with and without an event
    // count), and the compiler inlines a large function into one call site only; dispatching
    // through a call measured 2.5% more instructions per event on the M/M/1 bench.
    #[inline(always)]
    fn handle(&mut self, event: Event, cx: &mut Context<'_, Event>) {
        if self.plain { self.dispatch::<Plain>(event, cx) } else { self.dispatch::<Full>(event, cx) }
    }
}

impl WebStack {
    /// [`Model::handle`] on path `P`.
    #[inline(always)]
    fn dispatch<P: Path>(&mut self, event: Event, cx: &mut Context<'_, Event>) {
        match event {
            Event::Arrival { client } => P::arrive(self, client, cx),
            Event::Completion(attempt) => P::complete(self, attempt, cx),
            Event::Send { client, user } => P::send(self, client, user, cx),
            Event::Delivered { request } => {
                if self.guarded {
                    self.guard_heard(request, true, cx.now());
                }
                self.finish(request, Outcome::Completed, cx);
            }
            Event::Retry { request } => P::retry(self, request, cx),
            Event::Hedge { request, timer } => self.hedge_due(request, timer, cx),
            Event::QueryDone { backend, attempt } => self.query_done(backend as usize, attempt, cx),
            Event::ClientTimeout(attempt) => P::client_timeout(self, attempt, cx),
            Event::QueueTimeout(attempt) => P::queue_timeout(self, attempt, cx),
            Event::HealthCheck { backend } => self.health_check(backend as usize, cx),
            Event::Unejection { backend } => self.tier.uneject(backend as usize, cx.now()),
            Event::Action { index } => self.act(index as usize, cx),
            Event::Pod { backend, generation } => self.pod(backend as usize, generation, cx),
            Event::Autoscale { group } => self.autoscale(group as usize, cx),
            Event::WindowEnd => self.end_window(cx),
            Event::EndWarmup => self.end_warmup(cx.now()),
            Event::ConcurrencyStep { backend } => self.concurrency_step(backend as usize, cx),
        }
    }
}
