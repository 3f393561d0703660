//! Requests and their attempts, and the one check that tells a live attempt from a stale
//! reference.
//!
//! A *request* is what a user asked for; an *attempt* is one try of it at one backend. Events
//! name an attempt by an [`AttemptRef`]: its slot and a generation. An attempt that ends frees
//! its slot for the next one, so an event still pending for it (a completion after a crash, a
//! timeout after the response) finds another generation there and is ignored. That check is
//! written once, in `AttemptRef::names`, and reached through [`InFlight::live`] and
//! [`InFlight::live_mut`].

use rand::SeedableRng;
use rand_xoshiro::SplitMix64;
use slab::Slab;
use stacksim_engine::SimTime;

/// An attempt and its generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttemptRef {
    key: u32,
    generation: u32,
}

impl AttemptRef {
    /// Its slot: unique among live attempts (reused once it ends), for tables kept beside
    /// the attempts.
    #[inline]
    pub(crate) fn slot(self) -> usize {
        self.key as usize
    }

    /// Whether `attempt`, found in this reference's slot, is the one it names: the
    /// stale-reference check.
    #[inline]
    fn names(self, attempt: &Attempt) -> bool {
        attempt.generation == self.generation
    }
}

/// The connection of an attempt sent without one (a connection per request).
pub(crate) const NO_CONNECTION: u32 = u32::MAX;

/// One request, from reaching the balancer to its final outcome.
#[derive(Debug)]
pub(crate) struct Request {
    /// Index of the client that sent it.
    pub client: u32,
    /// Its user or session key.
    pub key: u64,
    /// Closed-loop user, if any.
    pub user: Option<u32>,
    /// When it reached the balancer.
    pub arrived: SimTime,
    /// Seed of its size stream (see [`sizes`]).
    pub size_seed: u64,
    /// Attempts sent so far.
    pub attempts: u32,
    /// It arrived after warm-up, so it is counted in the statistics.
    pub counted: bool,
    /// The balancer instance it reached (its retries go through the same one).
    pub instance: u32,
    /// Its request class: its number in the stack's class table (0 when there is none).
    pub class: u8,
}

/// Where an attempt is at its backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Waiting for a worker.
    Queued,
    /// On a worker, waiting for one of its backend's database connections.
    WaitingForConnection,
    /// On a worker, its query at the database (queued there or served).
    Querying,
    /// On a worker, doing its own work.
    Serving,
}

/// One try of a request at one backend.
///
/// 64 bytes, aligned to a cache line, so that reaching an attempt in the slab is one cache
/// miss, not two: with a large fleet the slab outgrows the caches, and an unaligned entry
/// straddles two lines three times in four (issue 10).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Attempt {
    generation: u32,
    /// The request's size seed: every attempt of a request does the same work.
    pub size_seed: u64,
    /// Its request is counted in the statistics.
    pub counted: bool,
    /// Its request.
    pub request: u32,
    /// The backend it was sent to.
    pub backend: u32,
    /// When it left the balancer.
    pub sent: SimTime,
    /// Where it is.
    pub stage: Stage,
    /// The client gave up; the backend does not know.
    pub abandoned: bool,
    /// Its request's class (see [`Request::class`]), kept here because an abandoned attempt
    /// outlives its request and is still served; it takes the line's one spare byte.
    pub class: u8,
    /// Its app work \[ns\] (set when a worker takes it); nanoseconds rather than a
    /// `Duration` (16 bytes) so that the balancer instance and connection fit in the line.
    pub work_ns: u64,
    /// The balancer instance that sent it (0 with one instance).
    pub instance: u32,
    /// The connection it rides ([`NO_CONNECTION`] with a connection per request).
    pub connection: u32,
    /// When a worker took it.
    pub started: SimTime,
    /// When it asked for a database connection.
    pub asked_for_connection: SimTime,
}

/// The size stream of a request with seed `seed`: its service time, then whether it queries
/// the database, are drawn from it, so a request does the same work whichever backend serves
/// it.
pub(crate) fn sizes(seed: u64) -> SplitMix64 {
    SplitMix64::seed_from_u64(seed)
}

/// The requests and attempts in flight. Memory grows with what is in flight, not with how many
/// were simulated: slots are reused.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    requests: Slab<Request>,
    attempts: Slab<Attempt>,
    next_generation: u32,
}

impl InFlight {
    /// Registers a new request; returns its key.
    #[inline]
    pub fn open(&mut self, request: Request) -> u32 {
        self.requests.insert(request) as u32
    }

    /// Request `request`, which has not ended.
    #[inline]
    pub fn request(&self, request: u32) -> &Request {
        &self.requests[request as usize]
    }

    /// Counts a new attempt of `request` and returns the request.
    #[inline]
    pub fn next_attempt(&mut self, request: u32) -> &Request {
        let r = &mut self.requests[request as usize];
        r.attempts += 1;
        r
    }

    /// Ends `request` and hands back its record.
    #[inline]
    pub fn close(&mut self, request: u32) -> Request {
        self.requests.remove(request as usize)
    }

    /// Counted requests not yet ended.
    pub fn counted_requests(&self) -> u64 {
        self.requests.iter().filter(|(_, r)| r.counted).count() as u64
    }

    /// Counted requests not yet ended, per class of `classes`.
    pub fn counted_requests_by_class(&self, classes: usize) -> Vec<u64> {
        let mut counts = vec![0; classes];
        for (_, r) in self.requests.iter().filter(|(_, r)| r.counted) {
            counts[usize::from(r.class)] += 1;
        }
        counts
    }

    /// Sends an attempt of `request` to backend `backend` at `now`, from balancer instance
    /// `instance` over connection `connection`.
    // Always inlined into `WebStack::send_attempt` (every attempt): left to LLVM, it became a
    // call once the stack grew (BENCHMARKS.md, "The unconfigured path").
    #[inline(always)]
    pub fn send(
        &mut self,
        request: u32,
        backend: usize,
        now: SimTime,
        instance: u32,
        connection: u32,
    ) -> AttemptRef {
        let r = &self.requests[request as usize];
        let generation = self.next_generation;
        self.next_generation = self.next_generation.wrapping_add(1);
        let key = self.attempts.insert(Attempt {
            generation,
            size_seed: r.size_seed,
            counted: r.counted,
            request,
            backend: backend as u32,
            sent: now,
            stage: Stage::Queued,
            abandoned: false,
            class: r.class,
            work_ns: 0,
            instance,
            connection,
            started: now,
            asked_for_connection: now,
        }) as u32;
        AttemptRef { key, generation }
    }

    /// The attempt `attempt` names, unless it has ended since.
    #[inline]
    pub fn live(&self, attempt: AttemptRef) -> Option<&Attempt> {
        self.attempts.get(attempt.key as usize).filter(|a| attempt.names(a))
    }

    /// [`InFlight::live`], mutably.
    #[inline]
    pub fn live_mut(&mut self, attempt: AttemptRef) -> Option<&mut Attempt> {
        self.attempts.get_mut(attempt.key as usize).filter(|a| attempt.names(a))
    }

    /// Ends `attempt`, which must be live, and hands back its record.
    pub fn remove(&mut self, attempt: AttemptRef) -> Attempt {
        debug_assert!(self.live(attempt).is_some(), "only a live attempt ends");
        self.attempts.remove(attempt.key as usize)
    }

    /// Ends `attempt` if it is live and `ends` holds for it, and hands back its record.
    #[inline]
    pub fn end_if(&mut self, attempt: AttemptRef, ends: impl FnOnce(&Attempt) -> bool) -> Option<Attempt> {
        self.live(attempt).is_some_and(ends).then(|| self.attempts.remove(attempt.key as usize))
    }

    /// The attempts at backend `b`, in slot order.
    pub fn held_by(&self, b: usize) -> Vec<AttemptRef> {
        self.attempts
            .iter()
            .filter(|(_, a)| a.backend as usize == b)
            .map(|(key, a)| AttemptRef { key: key as u32, generation: a.generation })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_attempt_fills_one_cache_line() {
        assert_eq!((std::mem::size_of::<Attempt>(), std::mem::align_of::<Attempt>()), (64, 64));
        // The slab's entries keep the size: its vacant/occupied tag fits in a niche.
        let mut flight = InFlight::default();
        let r = flight.open(request());
        let (a, b) = (
            flight.send(r, 0, SimTime::ZERO, 0, NO_CONNECTION),
            flight.send(r, 0, SimTime::ZERO, 0, NO_CONNECTION),
        );
        let at = |x| flight.live(x).map(|a| a as *const Attempt as usize).unwrap();
        assert_eq!(at(b) - at(a), 64);
        assert_eq!(at(a) % 64, 0);
    }

    fn request() -> Request {
        Request {
            client: 0,
            key: 7,
            user: None,
            arrived: SimTime::ZERO,
            size_seed: 1,
            attempts: 0,
            counted: true,
            instance: 0,
            class: 0,
        }
    }

    #[test]
    fn a_request_record_stays_within_48_bytes() {
        // The class number fits in the padding after the other fields (size 48 before it).
        assert!(std::mem::size_of::<Request>() <= 48, "{}", std::mem::size_of::<Request>());
    }

    #[test]
    fn a_reference_to_an_ended_attempt_is_stale_even_when_its_slot_is_reused() {
        let mut flight = InFlight::default();
        let r = flight.open(request());
        let first = flight.send(r, 0, SimTime::ZERO, 0, NO_CONNECTION);
        assert!(flight.live(first).is_some());
        flight.remove(first);
        let second = flight.send(r, 1, SimTime::ZERO, 0, NO_CONNECTION);
        assert_eq!(first.key, second.key, "the slot is reused");
        assert!(flight.live(first).is_none() && flight.live_mut(first).is_none());
        assert_eq!(flight.live(second).map(|a| a.backend), Some(1));
        assert_eq!(flight.held_by(1), [second]);
    }
}
