//! A bare M/M/1 event loop: the ceiling the engine is measured against.
//!
//! Everything stacksim's engine and model do that a hand-written loop need not do is left
//! out: no trait dispatch, no policy, no per-request records, no metrics, no cancellation
//! bookkeeping. What is kept is what any correct simulator of this queue must do: a
//! `std::collections::BinaryHeap` of events ordered by (time, sequence number) with integer
//! nanosecond time, a typed event enum, and exponential draws from xoshiro256++
//! ([`SimRng`]) through `rand_distr`.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use rand_distr::{Distribution, Exp, Uniform};
use stacksim_engine::{SimRng, rng};

use crate::{MM1_RATE_PER_S, horizon};

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Arrival,
    Departure,
}

/// Nanoseconds in an exponential draw, rounded as stacksim's `span_from_secs` rounds.
#[inline]
fn exp_nanos(exp: &Exp<f64>, rng: &mut SimRng) -> u64 {
    (exp.sample(rng) * 1e9).round() as u64
}

/// Simulates an M/M/1 queue (arrival rate [`MM1_RATE_PER_S`], service mean 1 s) for the
/// time that offers `requests` arrivals on average, and returns the events handled.
///
/// The arrival stream is stacksim's (`arrivals/users` under `seed`), so the arrival times
/// are the ones stacksim's M/M/1 scenario sees.
pub fn mm1(seed: u64, requests: u64) -> u64 {
    let end = u64::try_from(horizon(requests, MM1_RATE_PER_S).as_nanos()).unwrap_or(u64::MAX);
    let interarrival = Exp::new(MM1_RATE_PER_S).expect("a positive rate");
    let service = Exp::new(1.0).expect("a positive rate");
    let mut arrivals = rng::stream(seed, "arrivals/users");
    let mut services = rng::stream(seed, "services");

    let mut heap = BinaryHeap::new();
    let mut seq = 0_u64;
    let mut schedule = |heap: &mut BinaryHeap<Reverse<(u64, u64, Event)>>, time, event| {
        heap.push(Reverse((time, seq, event)));
        seq += 1;
    };
    schedule(&mut heap, exp_nanos(&interarrival, &mut arrivals), Event::Arrival);

    let mut in_system = 0_u64;
    let mut handled = 0_u64;
    while let Some(Reverse((now, _, event))) = heap.pop() {
        if now > end {
            break;
        }
        handled += 1;
        match event {
            Event::Arrival => {
                let next = now + exp_nanos(&interarrival, &mut arrivals);
                schedule(&mut heap, next, Event::Arrival);
                in_system += 1;
                if in_system == 1 {
                    let done = now + exp_nanos(&service, &mut services);
                    schedule(&mut heap, done, Event::Departure);
                }
            }
            Event::Departure => {
                in_system -= 1;
                if in_system > 0 {
                    let done = now + exp_nanos(&service, &mut services);
                    schedule(&mut heap, done, Event::Departure);
                }
            }
        }
    }
    handled
}

/// Which backend the bare fleet loop sends each arrival to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FleetPick {
    /// The next backend in turn: no draw, no read of any backend's state.
    Rotation,
    /// The shorter queue of two drawn at random (ties to the first): two backends' counts read.
    TwoChoices,
}

/// A departure names its backend; an arrival needs no payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum FleetEvent {
    Arrival,
    Departure(u32),
}

/// A bare loop of `n` single-worker exponential backends (mean 1 s) at
/// [`FLEET_LOAD`](crate::FLEET_LOAD), offered `requests` arrivals on average: the floor any
/// simulator of the scaling bench's fleet pays, and how that floor itself moves with `n`.
///
/// Each backend is one `u32`, the requests in it; the heap holds one arrival and a departure
/// per busy backend, as stacksim's does. Nothing is recorded: no response times, no
/// per-request state, no metrics. Returns the events handled.
pub fn fleet(n: usize, pick: FleetPick, seed: u64, requests: u64) -> u64 {
    let rate = crate::FLEET_LOAD * n as f64;
    let end = u64::try_from(horizon(requests, rate).as_nanos()).unwrap_or(u64::MAX);
    let interarrival = Exp::new(rate).expect("a positive rate");
    let service = Exp::new(1.0).expect("a positive rate");
    let mut arrivals = rng::stream(seed, "arrivals/users");
    let mut services = rng::stream(seed, "services");
    let mut picks = rng::stream(seed, "picks");
    let backend = Uniform::new(0, n).expect("at least one backend");
    let mut in_backend = vec![0_u32; n];
    let mut turn = 0_usize;

    let mut heap = BinaryHeap::new();
    let mut seq = 0_u64;
    let mut schedule = |heap: &mut BinaryHeap<Reverse<(u64, u64, FleetEvent)>>, time, event| {
        heap.push(Reverse((time, seq, event)));
        seq += 1;
    };
    schedule(&mut heap, exp_nanos(&interarrival, &mut arrivals), FleetEvent::Arrival);

    let mut handled = 0_u64;
    while let Some(Reverse((now, _, event))) = heap.pop() {
        if now > end {
            break;
        }
        handled += 1;
        match event {
            FleetEvent::Arrival => {
                let next = now + exp_nanos(&interarrival, &mut arrivals);
                schedule(&mut heap, next, FleetEvent::Arrival);
                let b = match pick {
                    FleetPick::Rotation => {
                        turn = if turn + 1 == n { 0 } else { turn + 1 };
                        turn
                    }
                    FleetPick::TwoChoices => {
                        let (x, y) = (backend.sample(&mut picks), backend.sample(&mut picks));
                        if in_backend[y] < in_backend[x] { y } else { x }
                    }
                };
                in_backend[b] += 1;
                if in_backend[b] == 1 {
                    let done = now + exp_nanos(&service, &mut services);
                    schedule(&mut heap, done, FleetEvent::Departure(b as u32));
                }
            }
            FleetEvent::Departure(b) => {
                let b = b as usize;
                in_backend[b] -= 1;
                if in_backend[b] > 0 {
                    let done = now + exp_nanos(&service, &mut services);
                    schedule(&mut heap, done, FleetEvent::Departure(b as u32));
                }
            }
        }
    }
    handled
}
