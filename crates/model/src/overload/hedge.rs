//! Hedged requests, as gRPC's `hedgingPolicy` (gRFC A6, "Hedging Policy",
//! <https://github.com/grpc/proposal/blob/master/A6-client-retries.md#hedging-policy>).
//!
//! The first attempt of a request goes out at once; while no attempt has succeeded, another
//! goes out every `delay`, up to `max_attempts` in all. The first success wins and the other
//! attempts are cancelled. The rules of A6's "Summary of Retry and Hedging Logic", as this
//! simulator applies them (every failure here — 503, refused, reset, timed out — is one of
//! gRPC's non-fatal codes, `UNAVAILABLE` or `DEADLINE_EXCEEDED`):
//!
//! 1. *OK*: the request succeeds; previous and pending hedges are cancelled.
//! 2. *Non-fatal status*: the next hedge goes out at once, if any is left, and the following
//!    ones resume `delay` after it.
//! 3. With [`RetryThrottling`](crate::retry::RetryThrottling), every failed attempt takes a
//!    token, every success adds `token_ratio`, and "the first outgoing RPC will always be sent,
//!    but subsequent hedged RPCs will only be sent if `token_count` is greater than the
//!    threshold"; a hedge that is not sent cancels those after it.
//! 4. The request fails, with its last attempt's outcome, once every attempt sent has failed
//!    and no hedge is left to send.
//!
//! A request is counted once whatever its attempts do: arrived = completed + rejected + timed
//! out + failed + in flight counts requests, and hedges count as attempts (like retries, in
//! `attempts_per_request`).
//!
//! Service times: a retry does the same work as the try it repeats (the request's size
//! stream), but a hedge races its siblings, and the variability a hedge is sent to beat is the
//! server's — queueing, pauses, interference (Dean and Barroso, "The Tail at Scale", CACM
//! 2013) — so hedge number `n` ≥ 1 draws its service time from a size stream of its own,
//! `hedge_seed`; the first attempt keeps the request's, so runs with and without hedging
//! see the same first tries.
//!
//! Cancelling: an attempt still waiting in a backend's queue leaves it (the HTTP/2
//! `RST_STREAM` reaches the server before a worker takes it); one already on a worker runs to
//! its end, its work wasted (`wasted_work_ratio`), as with a handler that does not poll for
//! cancellation.

use std::time::Duration;

use crate::request::AttemptRef;

/// A client's hedging: `hedge: (max_attempts: 2, delay: "50ms")`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HedgePolicy {
    /// Attempts in all, the first included: 2 to [`HedgePolicy::MAX_ATTEMPTS`] (gRPC
    /// `maxAttempts`, "must be two or greater").
    pub max_attempts: u32,
    /// Between one attempt and the next (gRPC `hedgingDelay`; zero sends them all at once).
    pub delay: Duration,
}

impl HedgePolicy {
    /// gRPC's client-side cap on `maxAttempts` (A6, "Limits on Retries and Hedges").
    pub const MAX_ATTEMPTS: u32 = 5;
}

/// The size seed of attempt `n` (from 0) of a hedged request whose size seed is `seed`: the
/// request's own for the first attempt, an independent one (SplitMix64 of the seed and `n`) for
/// each hedge.
pub(crate) fn hedge_seed(seed: u64, n: u32) -> u64 {
    use rand::{Rng, SeedableRng};
    if n == 0 {
        return seed;
    }
    rand_xoshiro::SplitMix64::seed_from_u64(seed ^ u64::from(n).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .next_u64()
}

/// One hedged request's attempts and its hedge timer.
#[derive(Clone, Copy, Debug, Default)]
struct Hedged {
    /// The request is open and hedged (its slot may since hold another client's request).
    live: bool,
    /// More hedges may be sent (not cancelled by a success or by throttling).
    open: bool,
    /// The hedge timer that is armed; a firing timer with another number is stale.
    timer: u32,
    /// The attempts sent, in order.
    attempts: [Option<AttemptRef>; HedgePolicy::MAX_ATTEMPTS as usize],
}

/// The hedged requests in flight, by request slot: memory grows with what is in flight.
#[derive(Debug, Default)]
pub(crate) struct Hedges {
    by_request: Vec<Hedged>,
    next_timer: u32,
}

impl Hedges {
    /// Request `request` is a new hedged request.
    pub fn open(&mut self, request: u32) {
        let slot = request as usize;
        if self.by_request.len() <= slot {
            self.by_request.resize(slot + 1, Hedged::default());
        }
        self.by_request[slot] = Hedged { live: true, open: true, ..Hedged::default() };
    }

    /// Whether `request` is an open hedged request.
    #[inline]
    pub fn is_hedged(&self, request: u32) -> bool {
        self.by_request.get(request as usize).is_some_and(|h| h.live)
    }

    /// Its attempt number `n` (from 0) is `attempt`.
    pub fn sent(&mut self, request: u32, n: u32, attempt: AttemptRef) {
        if let Some(slot) = self.by_request[request as usize].attempts.get_mut(n as usize) {
            *slot = Some(attempt);
        }
    }

    /// Arms a new hedge timer for `request` (disarming the one before); returns its number.
    pub fn arm(&mut self, request: u32) -> u32 {
        self.next_timer = self.next_timer.wrapping_add(1);
        self.by_request[request as usize].timer = self.next_timer;
        self.next_timer
    }

    /// No more hedges of `request` are sent; its armed timer, if any, becomes stale.
    pub fn stop(&mut self, request: u32) {
        let h = &mut self.by_request[request as usize];
        h.open = false;
        self.next_timer = self.next_timer.wrapping_add(1);
        h.timer = self.next_timer;
    }

    /// Whether more hedges of `request` may be sent.
    pub fn may_send(&self, request: u32) -> bool {
        self.by_request[request as usize].open
    }

    /// Whether hedge timer `timer` of `request` is the one armed.
    pub fn fires(&self, request: u32, timer: u32) -> bool {
        self.by_request.get(request as usize).is_some_and(|h| h.live && h.open && h.timer == timer)
    }

    /// Request `request` ends; returns the attempts it sent (some may have ended).
    pub fn close(&mut self, request: u32) -> [Option<AttemptRef>; HedgePolicy::MAX_ATTEMPTS as usize] {
        let h = &mut self.by_request[request as usize];
        h.live = false;
        h.open = false;
        h.attempts
    }

    /// The attempts `request` sent (some may have ended).
    pub fn attempts(&self, request: u32) -> impl Iterator<Item = AttemptRef> + '_ {
        self.by_request[request as usize].attempts.iter().flatten().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timer_is_stale_once_rearmed_stopped_or_its_request_closed() {
        let mut hedges = Hedges::default();
        hedges.open(3);
        assert!(hedges.is_hedged(3) && !hedges.is_hedged(2) && !hedges.is_hedged(40));
        let first = hedges.arm(3);
        assert!(hedges.fires(3, first));
        let second = hedges.arm(3);
        assert!(!hedges.fires(3, first) && hedges.fires(3, second));
        hedges.stop(3);
        assert!(!hedges.fires(3, second) && !hedges.may_send(3));
        hedges.close(3);
        hedges.open(3);
        let third = hedges.arm(3);
        assert!(!hedges.fires(3, second) && hedges.fires(3, third));
        hedges.close(3);
        assert!(!hedges.fires(3, third) && !hedges.is_hedged(3));
    }
}
