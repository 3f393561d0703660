//! Hedged requests (see `overload::hedge`): their timers, failures and cancellations.

use std::time::Duration;

use stacksim_engine::Context;

use super::{AttemptOutcome, Event, Full, WebStack};
use crate::balancer::Heard;
use crate::overload::Sample;
use crate::recorder::Outcome;
use crate::request::{AttemptRef, NO_CONNECTION, Stage};

impl WebStack {
    /// Sends the next attempt of hedged `request`, first arming the timer of the one after
    /// (or stopping, when this is the last).
    #[inline(never)]
    pub(super) fn hedge(&mut self, request: u32, cx: &mut Context<'_, Event>) {
        let r = self.in_flight.request(request);
        let (client, sent, counted) = (r.client, r.attempts, r.counted);
        let policy = self.clients[client as usize].hedge().expect("a hedged request's client hedges");
        let hedges = self.hedges.as_mut().expect("hedges are kept when a client hedges");
        if sent + 1 < policy.max_attempts {
            let timer = hedges.arm(request);
            cx.schedule_in(policy.delay, Event::Hedge { request, timer });
        } else {
            hedges.stop(request);
        }
        if sent > 0 {
            // Hedge amplification, counted as retries are.
            self.recorder.retried(counted);
        }
        self.send_attempt::<Full>(request, cx);
    }

    /// A hedge timer of `request` fires: the next attempt goes out if the timer is still the
    /// armed one and throttling allows; a throttled hedge cancels those after it.
    #[inline(never)]
    pub(super) fn hedge_due(&mut self, request: u32, timer: u32, cx: &mut Context<'_, Event>) {
        let Some(hedges) = &mut self.hedges else { return };
        if !hedges.fires(request, timer) {
            return;
        }
        let client = self.in_flight.request(request).client;
        if self.clients[client as usize].hedge().is_none() {
            // Hedged on its per-try timeout: the retry scheduled then goes out now.
            self.send_attempt::<Full>(request, cx);
        } else if self.clients[client as usize].may_hedge() {
            self.hedge(request, cx);
        } else {
            hedges.stop(request);
        }
    }

    /// An attempt of hedged `request` failed with `outcome`: the next hedge goes out at once if
    /// one is left (and throttling allows); else the request fails once no attempt is left.
    #[inline(never)]
    pub(super) fn hedge_failed(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        let client = self.in_flight.request(request).client;
        if self.clients[client as usize].hedge().is_none() {
            // Hedged on its per-try timeout (Envoy): a failure is retried as any other, while
            // the attempts before it run on.
            let r = self.in_flight.request(request);
            let (attempts, counted) = (r.attempts, r.counted);
            if let Some(wait) = self.clients[client as usize].retry_after(attempts, cx.now()) {
                self.schedule_hedged_retry(request, counted, wait, cx);
            } else {
                self.end_hedged_if_unanswered(request, outcome, cx);
            }
            return;
        }
        let allowed = self.clients[client as usize].hedge_failed();
        let hedges = self.hedges.as_mut().expect("hedges are kept when a client hedges");
        if !allowed {
            hedges.stop(request);
        }
        if hedges.may_send(request) {
            self.hedge(request, cx);
            return;
        }
        self.end_hedged_if_unanswered(request, outcome, cx);
    }

    /// A hedge of `request` did not leave the client (its breaker is open, or its throttle
    /// rejected it): no more hedges go out, and the request waits for those already sent.
    #[inline(never)]
    pub(super) fn hedge_held(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        self.hedges.as_mut().expect("hedges are kept when a client hedges").stop(request);
        self.end_hedged_if_unanswered(request, outcome, cx);
    }

    /// Envoy's `hedge_on_per_try_timeout`
    /// (<https://www.envoyproxy.io/docs/envoy/latest/api-v3/config/route/v3/route_components.proto#config-route-v3-hedgepolicy>):
    /// `attempt` of `request` reached its client's per-try timeout. If the client hedges on
    /// it and may retry, the attempt runs on beside a retry and the first answer wins (returns
    /// true). If it may not, the request times out now with every attempt it has out (returns
    /// true; Envoy would wait for the route's global timeout, which stacksim does not model).
    /// A client that does not hedge on its timeout gives the attempt up as usual (false).
    #[inline(never)]
    pub(super) fn hedge_on_timeout(
        &mut self,
        request: u32,
        attempt: AttemptRef,
        cx: &mut Context<'_, Event>,
    ) -> bool {
        let r = self.in_flight.request(request);
        let (client, attempts, counted) = (r.client as usize, r.attempts, r.counted);
        if !self.clients[client].hedges_on_per_try_timeout() {
            return false;
        }
        let now = cx.now();
        let b = self.in_flight.live(attempt).expect("a timed-out attempt is live").backend as usize;
        let mut wait = self.clients[client].retry_after(attempts, now);
        if wait.is_some()
            && let Some(breakers) = &mut self.breakers
            && !breakers.admit_retry(request, b)
        {
            self.recorder.retry_overflowed(counted);
            wait = None;
        }
        if let Some(wait) = wait {
            let hedges = self.hedges.as_mut().expect("hedges are kept when a client hedges");
            if !hedges.is_hedged(request) {
                hedges.open(request);
            }
            hedges.sent(request, attempts - 1, attempt);
            self.schedule_hedged_retry(request, counted, wait, cx);
            return true;
        }
        // No retry left: the client gives the whole request up.
        if self.hedges.as_ref().is_some_and(|h| h.is_hedged(request)) {
            self.cancel_hedges(request, attempt, cx);
        }
        let (instance, b, _, _) = self.give_up::<Full>(attempt, cx);
        self.recorder.attempt_ended(b, counted, Outcome::TimedOut);
        self.feedback::<Full>(instance, b, Heard::Silence, cx);
        if self.guarded {
            self.guard_heard(request, false, now);
        }
        self.finish(request, Outcome::TimedOut, cx);
        true
    }

    /// A retry of `request`, hedged on its per-try timeout, goes out after `wait` (on a hedge
    /// timer, so that it is dropped if the request is answered first).
    fn schedule_hedged_retry(
        &mut self,
        request: u32,
        counted: bool,
        wait: Duration,
        cx: &mut Context<'_, Event>,
    ) {
        let hedges = self.hedges.as_mut().expect("hedges are kept when a client hedges");
        let timer = hedges.arm(request);
        self.recorder.retried(counted);
        cx.schedule_in(wait, Event::Hedge { request, timer });
    }

    /// Hedged `request` sends no more attempts: it ends with `outcome` unless one it sent is
    /// still outstanding (whose answer then ends it).
    fn end_hedged_if_unanswered(&mut self, request: u32, outcome: Outcome, cx: &mut Context<'_, Event>) {
        let hedges = self.hedges.as_mut().expect("hedges are kept when a client hedges");
        let in_flight = &self.in_flight;
        let outstanding = hedges.attempts(request).any(|a| in_flight.live(a).is_some_and(|a| !a.abandoned));
        if !outstanding {
            hedges.close(request);
            self.finish(request, outcome, cx);
        }
    }

    /// Hedged `request` succeeded with `winner`: its other attempts are cancelled. One still
    /// queued leaves its backend's queue; one on a worker runs on, its work wasted.
    #[inline(never)]
    pub(super) fn cancel_hedges(&mut self, request: u32, winner: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let hedges = self.hedges.as_mut().expect("hedges are kept when a client hedges");
        let sent = hedges.close(request);
        for (n, attempt) in sent.into_iter().enumerate().filter_map(|(n, a)| Some((n, a?))) {
            if attempt == winner {
                continue;
            }
            let Some(a) = self.in_flight.live_mut(attempt).filter(|a| !a.abandoned) else { continue };
            let (b, sent, started) =
                (a.backend as usize, a.sent, (a.stage != Stage::Queued).then_some(a.started));
            let times = (sent, started, now);
            self.log_attempt_numbered((request, n as u32 + 1), Some(b), times, AttemptOutcome::Cancelled);
            if self.concurrency.is_some() {
                self.concurrency_heard(b, attempt, Sample::Ignored, cx);
            }
            let Some(a) = self.in_flight.live_mut(attempt) else { continue };
            if a.stage == Stage::Queued {
                let a = self.in_flight.remove(attempt);
                self.backends[b].expire(now);
                self.leave_backend::<Full>(a.instance, b, a.connection, now, false);
            } else {
                // Cancelled as a client that gives up cancels (an HTTP/1.1 connection closes,
                // an HTTP/2 stream resets); the worker runs on.
                a.abandoned = true;
                if a.connection != NO_CONNECTION && !self.tier.abandon(a.instance, a.connection, now) {
                    a.connection = NO_CONNECTION;
                }
            }
        }
    }
}
