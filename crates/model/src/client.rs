//! Clients: when requests are sent, the keys they carry, how long the client waits for an
//! attempt, and whether it retries.
//!
//! Each client draws from streams of its own, named after it: `arrivals/<name>` (gaps between
//! arrivals, and think times of a closed loop), `sizes/<name>` (one seed per request),
//! `keys/<name>` (one key per request, drawn even when a trace or a closed loop supplies the
//! key, so that the other streams do not shift), `retries/<name>` (backoff jitter) and, for a
//! client with two or more request classes, `classes/<name>` (each request's class).

use std::time::Duration;

use rand::{Rng, RngExt};
use stacksim_engine::{SimRng, SimTime, rng};

use crate::ModelError;
use crate::arrivals::{ArrivalClock, Arrivals};
use crate::classes::{ClassSampler, RequestClass};
use crate::keys::{KeySampler, Users};
use crate::overload::hedge::HedgePolicy;
use crate::overload::{BreakerRuntime, ClientBreaker, Throttle, ThrottleState};
use crate::retry::{BudgetBucket, RetryPolicy, RetryThrottle, RetryThrottling};

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
    /// Hedged requests (gRPC `hedgingPolicy`); exclusive with `retry`, as in gRPC. `None`:
    /// one attempt at a time.
    pub hedge: Option<HedgePolicy>,
    /// Envoy's `hedge_on_per_try_timeout`: when an attempt's `timeout` passes and `retry`
    /// allows another attempt, the attempt is not given up but runs on beside the retry, and
    /// the first answer wins (the rest are cancelled). When no retry is left, the timeout ends
    /// the request and its attempts (Envoy would wait for its route's global timeout, which
    /// stacksim does not model). Needs `timeout` and `retry` with at most 5 attempts.
    pub hedge_on_per_try_timeout: bool,
    /// gRPC `retryThrottling`: retries and hedges stop while failures outweigh successes.
    /// `None`: not throttled.
    pub retry_throttling: Option<RetryThrottling>,
    /// Client-side circuit breaker. `None`: none.
    pub breaker: Option<ClientBreaker>,
    /// SRE-book adaptive throttling. `None`: none.
    pub throttle: Option<Throttle>,
    /// The zone its requests come from (zone-aware routing, cross-zone traffic).
    pub zone: Option<String>,
    /// The kinds of request it sends, each request drawn by weight (see [`crate::classes`]).
    /// Empty: one kind, priority `Normal`, at the backends' own service time.
    pub classes: Vec<RequestClass>,
}

impl ClientConfig {
    /// A client called `name` sending `arrivals`, each request with a fresh key, no timeout,
    /// no retries.
    pub fn new(name: impl Into<String>, arrivals: Arrivals) -> Self {
        ClientConfig {
            name: name.into(),
            arrivals,
            users: None,
            timeout: None,
            retry: None,
            hedge: None,
            hedge_on_per_try_timeout: false,
            retry_throttling: None,
            breaker: None,
            throttle: None,
            zone: None,
            classes: Vec::new(),
        }
    }

    /// Users whose requests are tracked as users (a declared population or a closed loop):
    /// `None` when its keys are not user numbers.
    pub(crate) fn user_count(&self) -> Option<u64> {
        match (&self.arrivals, &self.users) {
            (Arrivals::Closed { users, .. }, _) => Some(u64::from(*users)),
            (_, Some(users)) => Some(users.count),
            _ => None,
        }
    }
}

/// A client while the simulation runs.
#[derive(Debug)]
pub(crate) struct Client {
    clock: ArrivalClock,
    arrivals: SimRng,
    sizes: SimRng,
    key_sampler: KeySampler,
    keys: SimRng,
    retries: SimRng,
    timeout: Option<Duration>,
    retry: Option<RetryPolicy>,
    budget: Option<BudgetBucket>,
    hedge: Option<HedgePolicy>,
    retry_throttle: Option<RetryThrottle>,
    hedge_on_per_try_timeout: bool,
    /// The trace key of the arrival already scheduled.
    pending_key: Option<u64>,
    /// Whether its keys are user numbers (a declared population or a closed loop).
    tracks_users: bool,
    /// Its circuit breaker and throttle, with the stream of the throttle's draws
    /// (`throttle/<name>`); `None` when it has neither.
    guard: Option<Box<Guard>>,
    /// The number of its first request class in the stack's class table (0 without one).
    first_class: u8,
    /// The draw of each request's class, with two or more classes; `None` otherwise.
    classes: Option<Box<ClassSampler>>,
}

/// A client's own overload protection: what it does before an attempt leaves.
#[derive(Debug)]
pub(crate) struct Guard {
    pub breaker: Option<BreakerRuntime>,
    pub throttle: Option<(ThrottleState, SimRng)>,
}

/// Why a client did not send an attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Held {
    /// Its circuit breaker is open.
    BreakerOpen,
    /// Adaptive throttling rejected it.
    Throttled,
}

impl Client {
    /// The client `config` describes, its streams derived from `seed`; its classes are numbered
    /// from `first_class` in the stack's class table.
    pub fn new(config: &ClientConfig, seed: u64, first_class: u8) -> Result<Self, ModelError> {
        let stream = |kind: &str| rng::stream(seed, &format!("{kind}/{}", config.name));
        Ok(Client {
            clock: ArrivalClock::new(&config.arrivals)?,
            arrivals: stream("arrivals"),
            sizes: stream("sizes"),
            key_sampler: KeySampler::new(config.users.as_ref())?,
            keys: stream("keys"),
            retries: stream("retries"),
            timeout: config.timeout,
            retry: config.retry,
            budget: config.retry.and_then(|r| r.budget).map(BudgetBucket::new),
            hedge: config.hedge,
            retry_throttle: config.retry_throttling.map(RetryThrottle::new),
            hedge_on_per_try_timeout: config.hedge_on_per_try_timeout,
            pending_key: None,
            tracks_users: config.user_count().is_some(),
            guard: (config.breaker.is_some() || config.throttle.is_some()).then(|| {
                Box::new(Guard {
                    breaker: config.breaker.map(BreakerRuntime::new),
                    throttle: config.throttle.map(|t| (ThrottleState::new(t), stream("throttle"))),
                })
            }),
            first_class,
            classes: (config.classes.len() > 1)
                .then(|| Box::new(ClassSampler::new(&config.classes, stream("classes")))),
        })
    }

    /// The users of a closed loop; `None` for an open loop.
    pub fn closed_loop_users(&self) -> Option<u32> {
        self.clock.closed().map(|(users, _)| users)
    }

    /// Draws the time of the next open-loop arrival after `now`; `None` when there is none.
    #[inline]
    pub fn next_arrival(&mut self, now: SimTime) -> Option<SimTime> {
        let (at, key) = self.clock.next(now, &mut self.arrivals)?;
        self.pending_key = key;
        Some(at)
    }

    /// The arrival scheduled for `now` happens: its trace key, and the time of the next one.
    #[inline]
    pub fn arrive(&mut self, now: SimTime) -> (Option<u64>, Option<SimTime>) {
        let key = self.pending_key.take();
        (key, self.next_arrival(now))
    }

    /// A closed-loop user's think time before its next request; `None` for an open loop.
    #[inline]
    pub fn think_time(&mut self) -> Option<Duration> {
        let (_, think) = self.clock.closed()?;
        Some(exponential(think, &mut self.arrivals))
    }

    /// A new request at `now`: its key (the closed-loop `user`, else the trace's `key`, else a
    /// drawn one), its size seed and its class (its number in the stack's class table).
    // Always inlined into `WebStack::new_request` (every request): left to LLVM, it became a
    // call once the stack grew (BENCHMARKS.md, "The unconfigured path").
    #[inline(always)]
    pub fn new_request(&mut self, now: SimTime, key: Option<u64>, user: Option<u32>) -> (u64, u64, u8) {
        let size_seed = self.sizes.next_u64();
        let drawn = self.key_sampler.sample(&mut self.keys);
        let key = user.map(u64::from).or(key).unwrap_or(drawn);
        if let Some(budget) = &mut self.budget {
            budget.deposit(now);
        }
        let class = match &mut self.classes {
            None => self.first_class,
            Some(sampler) => self.first_class + sampler.draw(),
        };
        (key, size_seed, class)
    }

    /// Whether its keys are user numbers, tracked for users affected.
    #[inline]
    pub fn tracks_users(&self) -> bool {
        self.tracks_users
    }

    /// How long it waits for an attempt.
    #[inline]
    pub fn timeout(&self) -> Option<Duration> {
        self.timeout
    }

    /// After `attempts` attempts of a request ended without success at `now`: the backoff
    /// before the next one, or `None` when the client gives up (no retries left, or no budget).
    pub fn retry_after(&mut self, attempts: u32, now: SimTime) -> Option<Duration> {
        let retry = self.retry?;
        let throttled = self.retry_throttle.as_mut().is_some_and(|t| !t.record_failure());
        let allowed = attempts < retry.max_attempts
            && !throttled
            && self.budget.as_mut().is_none_or(|b| b.try_withdraw(now));
        allowed.then(|| retry.backoff_before(attempts + 1, &mut self.retries))
    }

    /// Whether it hedges on its per-try timeout (Envoy's `hedge_on_per_try_timeout`).
    pub fn hedges_on_per_try_timeout(&self) -> bool {
        self.hedge_on_per_try_timeout
    }

    /// How it hedges, if it does.
    #[inline]
    pub fn hedge(&self) -> Option<HedgePolicy> {
        self.hedge
    }

    /// A hedged attempt failed: its retry throttling takes a token. Returns whether further
    /// hedges may go out.
    pub fn hedge_failed(&mut self) -> bool {
        self.retry_throttle.as_mut().is_none_or(RetryThrottle::record_failure)
    }

    /// Whether its retry throttling lets a hedge go out now.
    pub fn may_hedge(&self) -> bool {
        self.retry_throttle.as_ref().is_none_or(RetryThrottle::allows)
    }

    /// Whether it throttles retries (and hedges).
    pub fn throttles_retries(&self) -> bool {
        self.retry_throttle.is_some()
    }

    /// One of its requests succeeded: its retry throttling gains `token_ratio`.
    #[inline]
    pub fn succeeded(&mut self) {
        if let Some(throttle) = &mut self.retry_throttle {
            throttle.record_success();
        }
    }

    /// Whether an attempt may leave at `now`: the throttle counts it and may reject it, and
    /// an open breaker holds it back.
    #[inline]
    pub fn hold(&mut self, now: SimTime) -> Option<Held> {
        let guard = self.guard.as_mut()?;
        if let Some((throttle, rng)) = &mut guard.throttle {
            let draw: f64 = rng.random();
            if throttle.rejects(now, draw) {
                return Some(Held::Throttled);
            }
        }
        if let Some(breaker) = &mut guard.breaker
            && !breaker.permits(now)
        {
            return Some(Held::BreakerOpen);
        }
        None
    }

    /// An attempt it sent was answered at `now`, successfully or not.
    #[inline]
    pub fn heard(&mut self, now: SimTime, success: bool) {
        let Some(guard) = self.guard.as_mut() else { return };
        if let Some(breaker) = &mut guard.breaker {
            breaker.record(now, success);
        }
        if success && let Some((throttle, _)) = &mut guard.throttle {
            throttle.accepted(now);
        }
    }

    /// Its breaker, if it has one.
    pub fn breaker(&self) -> Option<&BreakerRuntime> {
        self.guard.as_ref()?.breaker.as_ref()
    }

    /// Multiplies its arrival rate by `factor`.
    pub fn scale_rate(&mut self, factor: f64) {
        self.clock.scale *= factor;
    }

    /// Sets the multiplier of its arrival rate.
    pub fn set_rate_scale(&mut self, scale: f64) {
        self.clock.scale = scale;
    }

    /// Its configured open-loop rate at `now`, before scaling.
    pub fn base_rate(&self, now: SimTime) -> f64 {
        self.clock.base_rate(now)
    }
}

/// An exponential span with mean `mean`.
fn exponential<R: Rng + ?Sized>(mean: Duration, rng: &mut R) -> Duration {
    let draw: f64 = rand_distr::Distribution::sample(&rand_distr::Exp1, rng);
    // An exponential draw is finite and not negative; the product saturates at the clock's limit.
    stacksim_engine::scale_span(mean, draw).unwrap_or(mean)
}
