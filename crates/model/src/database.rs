//! The database tier: workers shared by every backend, each backend reaching them through a
//! connection pool of its own.
//!
//! A query first [acquires](Database::acquire) one of its backend's connections (or waits for
//! one), then is [submitted](Database::submit) to the database's workers (or waits in the
//! database's queue). When it finishes, the worker takes the next query and the connection goes
//! to the backend's next waiter. Like a backend's queue, the database's queues hold references,
//! and the caller says which are still live.

use std::collections::VecDeque;
use std::time::Duration;

use rand::{Rng, SeedableRng};
use rand_xoshiro::SplitMix64;
use stacksim_engine::SimTime;

use crate::ModelError;
use crate::metrics::{Latency, TimeIntegral};
use crate::request::AttemptRef;
use crate::service::{ServiceSampler, ServiceTime};
use crate::summary::DatabaseSummary;

/// A database every backend calls for a fraction of its requests, through a connection pool
/// of its own. A request holds its app worker while it waits for a connection and while the
/// database serves it.
#[derive(Clone, Debug, PartialEq)]
pub struct DatabaseConfig {
    /// Queries served at once.
    pub workers: u32,
    /// Time the database spends on one query.
    pub service: ServiceTime,
    /// Connections per backend.
    pub pool: u32,
    /// Fraction of requests that query the database (0..=1).
    pub fraction: f64,
}

/// One backend's connections to the database.
#[derive(Debug, Default)]
struct Pool {
    /// Connections in use (waiting in the database's queue or being served).
    connections: u32,
    /// Queries of this backend the database is serving.
    querying: u32,
    /// Attempts waiting for a connection.
    waiting: VecDeque<AttemptRef>,
}

/// The database while the simulation runs.
#[derive(Debug)]
pub(crate) struct Database {
    workers: u32,
    pool: u32,
    fraction: f64,
    service: ServiceSampler,
    /// Per backend, by index.
    pools: Vec<Pool>,
    /// Queries waiting for a worker, with their backend.
    queue: VecDeque<(u32, AttemptRef)>,
    busy: TimeIntegral,
    wait: Latency,
    queries: u64,
}

impl Database {
    /// An idle database as `config` describes it, behind `backends` backends; `config` has
    /// passed [`StackConfig::check`](crate::StackConfig::check).
    pub fn new(config: &DatabaseConfig, backends: usize) -> Result<Self, ModelError> {
        Ok(Database {
            workers: config.workers,
            pool: config.pool,
            fraction: config.fraction,
            service: config.service.sampler()?,
            pools: (0..backends).map(|_| Pool::default()).collect(),
            queue: VecDeque::new(),
            busy: TimeIntegral::default(),
            wait: Latency::default(),
            queries: 0,
        })
    }

    /// Whether a request queries the database: a uniform draw from the request's own size
    /// stream, so the same requests query it whichever backend serves them.
    #[inline]
    pub fn is_queried_by(&self, sizes: &mut SplitMix64) -> bool {
        ((sizes.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < self.fraction
    }

    /// `attempt` at backend `b` asks for a connection: `true` if it got one, `false` if it
    /// waits for one.
    pub fn acquire(&mut self, b: usize, attempt: AttemptRef) -> bool {
        let pool = &mut self.pools[b];
        if pool.connections < self.pool {
            pool.connections += 1;
            true
        } else {
            pool.waiting.push_back(attempt);
            false
        }
    }

    /// `attempt`, holding a connection of backend `b`, sends its query: `true` if a worker is
    /// free to [serve](Database::serve) it now, `false` if it waits in the database's queue.
    pub fn submit(&mut self, b: usize, attempt: AttemptRef) -> bool {
        if self.busy.level() < u64::from(self.workers) {
            true
        } else {
            self.queue.push_back((b as u32, attempt));
            false
        }
    }

    /// A worker starts at `now` on a query of backend `b` from a request with size seed `seed`
    /// that has `waited` (if counted); returns the query's time.
    pub fn serve(&mut self, b: usize, now: SimTime, seed: u64, waited: Option<Duration>) -> Duration {
        self.busy.increment(now);
        self.queries += 1;
        if let Some(waited) = waited {
            self.wait.record(waited);
        }
        // The query's time comes from the request's own size seed, so it is the same whichever
        // backend sends it.
        let work = self.service.sample(&mut SplitMix64::seed_from_u64(seed ^ 0xDA7A_BA5E));
        self.pools[b].querying += 1;
        work
    }

    /// A worker finishes a query at `now`. Returns the next query it takes, with its backend:
    /// the first in the queue for which `live` holds.
    pub fn finish(
        &mut self,
        now: SimTime,
        mut live: impl FnMut(AttemptRef) -> bool,
    ) -> Option<(usize, AttemptRef)> {
        self.busy.decrement(now);
        while let Some((b, next)) = self.queue.pop_front() {
            if live(next) {
                return Some((b as usize, next));
            }
        }
        None
    }

    /// A query of backend `b` is done and its connection comes back. Returns the backend's next
    /// waiter for which `live` holds, which now holds the connection.
    pub fn release(&mut self, b: usize, mut live: impl FnMut(AttemptRef) -> bool) -> Option<AttemptRef> {
        let pool = &mut self.pools[b];
        pool.querying = pool.querying.saturating_sub(1);
        pool.connections = pool.connections.saturating_sub(1);
        while let Some(waiter) = pool.waiting.pop_front() {
            if live(waiter) {
                pool.connections += 1;
                return Some(waiter);
            }
        }
        None
    }

    /// Backend `b` crashed: queries waiting for a connection or a worker die with it; those
    /// being served finish here and hand their connection back ([`Database::release`]).
    pub fn crash(&mut self, b: usize) {
        let pool = &mut self.pools[b];
        pool.waiting.clear();
        pool.connections = pool.querying;
        self.queue.retain(|&(qb, _)| qb as usize != b);
    }

    /// Statistics start at `now` (end of warm-up).
    pub fn end_warmup(&mut self, now: SimTime) {
        self.busy.restart(now);
    }

    /// Its busy-worker integral since the start of the run, read at `now`, and its workers.
    pub fn busy_area(&mut self, now: SimTime) -> (u128, u32) {
        (self.busy.lifetime_area(now), self.workers)
    }

    /// What it did from the end of warm-up to `end`.
    pub fn summary(&mut self, end: SimTime) -> DatabaseSummary {
        DatabaseSummary {
            utilization: self.busy.mean(end) / f64::from(self.workers),
            queries: self.queries,
            wait_mean_s: self.wait.mean_s(),
        }
    }
}
