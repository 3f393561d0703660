//! Hedged requests (see `overload::hedge`): their timers, failures and cancellations.

use stacksim_engine::Context;

use super::{AttemptOutcome, Event, Full, WebStack};
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
        if self.clients[client as usize].may_hedge() {
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
