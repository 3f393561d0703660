//! The attempt log: what `stacksim run --access-log` receives, one record per ended attempt.

use stacksim_engine::SimTime;

use super::{Path, WebStack};
use crate::recorder::Outcome;

/// How an attempt ended, as an access log line records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// Answered successfully (HTTP 200).
    Completed,
    /// Answered 503 at once (full queue, queue timeout, no available backend).
    Rejected,
    /// The client gave up on it (logged as 504 by a proxy that times out the same way).
    TimedOut,
    /// Refused or reset by a backend that was down (502).
    Failed,
    /// Cancelled by its client after another attempt of the request won (a hedge); logged as
    /// NGINX logs a request its client closed (499).
    Cancelled,
}

impl AttemptOutcome {
    /// The HTTP status an access log gives it.
    pub fn status(self) -> u16 {
        match self {
            AttemptOutcome::Completed => 200,
            AttemptOutcome::Rejected => 503,
            AttemptOutcome::TimedOut => 504,
            AttemptOutcome::Failed => 502,
            AttemptOutcome::Cancelled => 499,
        }
    }
}

impl From<Outcome> for AttemptOutcome {
    fn from(outcome: Outcome) -> Self {
        // An overload control's answer is a rejection: a circuit breaker's overflow, admission
        // control and the backends' limits are 503s; a rate limit's 429 is logged as a
        // rejection too (the access log has no 429 yet); a client's breaker or throttle sends
        // no attempt.
        match outcome.kind() {
            Outcome::Completed => AttemptOutcome::Completed,
            Outcome::TimedOut => AttemptOutcome::TimedOut,
            Outcome::Failed => AttemptOutcome::Failed,
            _ => AttemptOutcome::Rejected,
        }
    }
}

/// One attempt as it ended: what an access log line says about it. Times are from the start
/// of the run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRecord {
    /// Index of the client that sent the request.
    pub client: u32,
    /// The request's user or session key.
    pub key: u64,
    /// Which try of its request this was (1 for the first).
    pub attempt: u32,
    /// The backend it was sent to; `None` when no backend was available (503 at the balancer).
    pub backend: Option<u32>,
    /// When it left the balancer.
    pub sent: SimTime,
    /// When a worker took it; `None` if none did.
    pub started: Option<SimTime>,
    /// When it ended (for the client: a timeout ends it even if its backend still works on it).
    pub ended: SimTime,
    /// How it ended.
    pub outcome: AttemptOutcome,
    /// It was sent after the warm-up (its request is counted in the statistics).
    pub counted: bool,
}

/// Receives every attempt as it ends (`stacksim run --access-log`). A stack without one pays
/// one `Option` check per ended attempt.
pub trait AttemptLog: Send {
    /// One attempt ended.
    fn record(&mut self, attempt: &AttemptRecord);
}

impl std::fmt::Debug for dyn AttemptLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AttemptLog")
    }
}

impl WebStack {
    /// Sends every attempt that ends from now on to `log` (replacing any log set before).
    pub fn set_attempt_log(&mut self, log: Box<dyn AttemptLog>) {
        self.attempt_log = Some(log);
        self.set_plain();
    }

    /// Takes back the attempt log, if one was set.
    pub fn take_attempt_log(&mut self) -> Option<Box<dyn AttemptLog>> {
        let log = self.attempt_log.take();
        self.set_plain();
        log
    }

    /// Writes an ended attempt of `request` to the attempt log, if there is one.
    #[inline]
    pub(super) fn log_attempt<P: Path>(
        &mut self,
        request: u32,
        backend: Option<usize>,
        times: (SimTime, Option<SimTime>, SimTime),
        outcome: Outcome,
    ) {
        if P::FULL && self.attempt_log.is_some() {
            let attempt = self.in_flight.request(request).attempts;
            self.log_attempt_numbered((request, attempt), backend, times, outcome.into());
        }
    }

    /// Writes attempt `attempt` (1 for the first) of `request` to the attempt log, if there
    /// is one.
    pub(super) fn log_attempt_numbered(
        &mut self,
        (request, attempt): (u32, u32),
        backend: Option<usize>,
        (sent, started, ended): (SimTime, Option<SimTime>, SimTime),
        outcome: AttemptOutcome,
    ) {
        if let Some(log) = self.attempt_log.as_mut() {
            let r = self.in_flight.request(request);
            log.record(&AttemptRecord {
                client: r.client,
                key: r.key,
                attempt,
                backend: backend.map(|b| b as u32),
                sent,
                started,
                ended,
                outcome,
                counted: r.counted,
            });
        }
    }
}
