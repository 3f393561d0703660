//! Where the overload controls act on an attempt: before it leaves, once it is routed, and when
//! it is answered; adaptive concurrency limits and priority shedding among them.

use std::time::Duration;

use stacksim_engine::{Context, SimTime};

use super::{Event, Full, WebStack};
use crate::balancer::{Heard, Refused};
use crate::classes::Priority;
use crate::client::Held;
use crate::overload::Sample;
use crate::recorder::Outcome;
use crate::request::AttemptRef;

impl WebStack {
    /// Before `request`'s next attempt leaves: the client's breaker or throttle may hold it
    /// back (the request ends, not retried), or the balancer's rate limit or admission control
    /// may answer it (the client may retry). Returns whether it was stopped. Out of line: a
    /// stack without overload controls never calls it.
    #[inline(never)]
    pub(super) fn held_or_refused(&mut self, request: u32, cx: &mut Context<'_, Event>) -> bool {
        let now = cx.now();
        let client = self.in_flight.request(request).client;
        if let Some(held) = self.clients[client as usize].hold(now) {
            let outcome = match held {
                Held::BreakerOpen => Outcome::ShortCircuited,
                Held::Throttled => Outcome::Throttled,
            };
            self.end_retry(request);
            if self.hedges.as_ref().is_some_and(|h| h.is_hedged(request)) {
                self.hedge_held(request, outcome, cx);
            } else {
                self.finish(request, outcome, cx);
            }
            return true;
        }
        let instance = self.in_flight.request(request).instance;
        let (guard, tier) = (&mut self.balancer_guard, &mut self.tier);
        let refused =
            guard.as_mut().and_then(|g| g.refuses(instance, now, |weights| tier.set_weights(weights)));
        if let Some(refused) = refused {
            let counted = self.in_flight.next_attempt(request).counted;
            self.recorder.sent(counted);
            let outcome = match refused {
                Refused::Limited => Outcome::Limited,
                Refused::Shed => Outcome::Shed,
            };
            self.log_attempt::<Full>(request, None, (now, None, now), outcome);
            self.retry_or_finish::<Full>(request, outcome, None, cx);
            return true;
        }
        false
    }

    /// An attempt of `request` routed to backend `b`: its cluster's circuit breakers may
    /// overflow it (503), the backend's rate limit (429) or adaptive concurrency limit (503)
    /// answer it, at once. Returns whether it was stopped; if not, it counts against the
    /// cluster's thresholds and the backend's concurrency limit. Out of line, as
    /// [`WebStack::held_or_refused`].
    #[inline(never)]
    pub(super) fn stopped_at_backend(
        &mut self,
        (instance, b, connection): (u32, usize, u32),
        request: u32,
        counted: bool,
        cx: &mut Context<'_, Event>,
    ) -> bool {
        if let Some(breakers) = &mut self.breakers
            && !breakers.admit(b)
        {
            let now = cx.now();
            // The connection the tier picked was not used: it is free again.
            self.tier.release(instance, connection, b, now, false);
            self.log_attempt::<Full>(request, Some(b), (now, None, now), Outcome::Overflow);
            self.recorder.attempt_ended(b, counted, Outcome::Overflow);
            self.retry_or_finish::<Full>(request, Outcome::Overflow, Some(b), cx);
            return true;
        }
        if !self.backends[b].within_rate(cx.now()) {
            self.refused_at_backend((instance, b, connection), (request, counted), Outcome::Limited, cx);
            return true;
        }
        if let Some(limits) = &mut self.concurrency
            && !limits.admit(b)
        {
            let outcome = Outcome::ConcurrencyLimited;
            self.refused_at_backend((instance, b, connection), (request, counted), outcome, cx);
            return true;
        }
        false
    }

    /// An attempt of `request` that its cluster's circuit breakers admitted was answered at
    /// once at backend `b` with `outcome` (a 429 or 503 before any queue): the breakers and
    /// the connection are free again, and the attempt ended without success.
    fn refused_at_backend(
        &mut self,
        (instance, b, connection): (u32, usize, u32),
        (request, counted): (u32, bool),
        outcome: Outcome,
        cx: &mut Context<'_, Event>,
    ) {
        if let Some(breakers) = &mut self.breakers {
            breakers.release(b);
        }
        let now = cx.now();
        self.tier.release(instance, connection, b, now, false);
        let heard = Heard::Response { success: false, latency: Duration::ZERO };
        self.log_attempt::<Full>(request, Some(b), (now, None, now), outcome);
        self.attempt_failed::<Full>(instance, b, request, counted, outcome, heard, cx);
    }

    /// An attempt of `request` routed to backend `b` (up): the backend sheds it if its queue is
    /// past the backend's mark and its class's priority below it (503 at once). Returns whether
    /// it was shed. Out of line, as [`WebStack::held_or_refused`]: only a stack with shedding
    /// calls it.
    #[inline(never)]
    pub(super) fn shed_by_priority(
        &mut self,
        (instance, b, connection): (u32, usize, u32),
        request: u32,
        counted: bool,
        cx: &mut Context<'_, Event>,
    ) -> bool {
        let class = self.in_flight.request(request).class;
        let priority =
            self.classes.as_ref().map_or(Priority::Normal, |t| t.info[usize::from(class)].priority);
        if !self.backends[b].sheds(priority) {
            return false;
        }
        // Shed behind the sidecar's concurrency limit, which admitted it: a 503 from the
        // backend, a drop for the limiters that count them.
        if let Some(limits) = &mut self.concurrency
            && let Some(at) =
                limits.bounced(b, cx.now(), Sample::Response { rtt: Duration::ZERO, dropped: true })
        {
            cx.schedule_at(at, Event::ConcurrencyStep { backend: b as u32 });
        }
        self.refused_at_backend((instance, b, connection), (request, counted), Outcome::PriorityShed, cx);
        true
    }

    /// An attempt at backend `b` admitted under its concurrency limit ended as `sample` (a
    /// no-op for attempts not admitted under a limit, or already ended there).
    #[inline(never)]
    pub(super) fn concurrency_heard(
        &mut self,
        b: usize,
        attempt: AttemptRef,
        sample: Sample,
        cx: &mut Context<'_, Event>,
    ) {
        let limits = self.concurrency.as_mut().expect("called only with concurrency limits");
        if let Some(at) = limits.ended(b, attempt.slot(), cx.now(), sample) {
            cx.schedule_at(at, Event::ConcurrencyStep { backend: b as u32 });
        }
    }

    /// A step of backend `b`'s concurrency limiter is due.
    #[cold]
    pub(super) fn concurrency_step(&mut self, b: usize, cx: &mut Context<'_, Event>) {
        let limits = self.concurrency.as_mut().expect("scheduled only with concurrency limits");
        if let Some(at) = limits.wake(b, cx.now()) {
            cx.schedule_at(at, Event::ConcurrencyStep { backend: b as u32 });
        }
    }

    /// An attempt of `request` was answered at `now` (or ended without an answer): its
    /// client's breaker and throttle hear of it, and a retry it held against a cluster's
    /// `max_retries` is over. Out of line, as [`WebStack::held_or_refused`].
    #[inline(never)]
    pub(super) fn guard_heard(&mut self, request: u32, success: bool, now: SimTime) {
        let client = self.in_flight.request(request).client;
        self.clients[client as usize].heard(now, success);
        self.end_retry(request);
    }

    /// The retry `request` holds against a cluster's `max_retries` (if any) is over.
    #[inline]
    fn end_retry(&mut self, request: u32) {
        if let Some(breakers) = &mut self.breakers {
            breakers.retry_done(request);
        }
    }
}
