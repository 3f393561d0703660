//! How requests ride connections from an instance to backends: per request, an HTTP/1.1
//! keep-alive pool, or HTTP/2 multiplexing; each instance's pool, opening and closing
//! connections, and the time-weighted count of open connections per backend.

use std::time::Duration;

use rand::RngExt;
use stacksim_engine::{SimRng, SimTime};

/// How requests travel from an instance to backends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Connections {
    /// A new connection per request: the policy picks per request.
    #[default]
    PerRequest,
    /// HTTP/1.1 keep-alive: one request at a time per connection, a pool of idle connections.
    KeepAlive {
        /// Idle connections kept per instance (Go's `MaxIdleConnsPerHost`), ≥ 1.
        per_instance: u32,
        /// A connection closes after this many requests (NGINX `keepalive_requests`).
        max_requests: Option<u32>,
        /// A connection closes at this age, ±10%.
        max_age: Option<Duration>,
    },
    /// HTTP/2 (gRPC): requests multiplexed over `per_instance` connections, used in turn.
    Http2 {
        /// Connections per instance, ≥ 1.
        per_instance: u32,
        /// A connection closes at this age, ±10% (gRPC `MAX_CONNECTION_AGE`).
        max_age: Option<Duration>,
    },
}

/// One open connection.
#[derive(Clone, Copy, Debug)]
pub(super) struct Connection {
    pub(super) backend: u32,
    pub(super) served: u32,
    pub(super) expires: SimTime,
}

/// An instance's connections.
#[derive(Debug, Default)]
pub(super) struct Pool {
    /// Slots; `None` when closed (its index is then in `free`).
    pub(super) connections: Vec<Option<Connection>>,
    free: Vec<u32>,
    /// `KeepAlive`: idle connections, most recent last.
    pub(super) idle: Vec<u32>,
    /// `Http2`: the connection in each slot, or [`NO_CONNECTION`](crate::request::NO_CONNECTION).
    pub(super) slots: Vec<u32>,
    /// `Http2`: the slot the next request uses.
    pub(super) next: usize,
}

/// Time-weighted open connections per backend.
#[derive(Debug, Default)]
pub(super) struct ConnectionStats {
    pub(super) open: Vec<u32>,
    pub(super) area: Vec<f64>,
    pub(super) last: Vec<SimTime>,
    pub(super) start: SimTime,
    pub(super) measuring: bool,
    pub(super) opened: u64,
}

impl ConnectionStats {
    fn change(&mut self, b: usize, now: SimTime, up: bool) {
        if self.measuring {
            self.area[b] += f64::from(self.open[b]) * (now - self.last[b]).as_secs_f64();
        }
        self.last[b] = now;
        if up {
            self.open[b] += 1;
            if self.measuring {
                self.opened += 1;
            }
        } else {
            self.open[b] = self.open[b].saturating_sub(1);
        }
    }
}

/// Opens a connection in `pool` to backend `b` at `now`, aged out at `max_age` ±10% (the
/// jitter drawn from `draws`, the instance's own stream).
pub(super) fn open(
    pool: &mut Pool,
    draws: &mut SimRng,
    stats: Option<&mut ConnectionStats>,
    b: usize,
    now: SimTime,
    max_age: Option<Duration>,
) -> u32 {
    let expires = match max_age {
        // gRPC A9: "a random jitter of +/-10% will be added to MAX_CONNECTION_AGE".
        Some(age) => now + age.mul_f64(draws.random_range(0.9..1.1)),
        None => SimTime::MAX,
    };
    let conn = Connection { backend: b as u32, served: 0, expires };
    if let Some(stats) = stats {
        stats.change(b, now, true);
    }
    match pool.free.pop() {
        Some(c) => {
            pool.connections[c as usize] = Some(conn);
            c
        }
        None => {
            pool.connections.push(Some(conn));
            (pool.connections.len() - 1) as u32
        }
    }
}

/// Closes connection `c` of `pool` at `now`.
pub(super) fn close(pool: &mut Pool, stats: Option<&mut ConnectionStats>, c: u32, now: SimTime) {
    if let Some(conn) = pool.connections[c as usize].take() {
        pool.free.push(c);
        pool.idle.retain(|&x| x != c);
        if let Some(stats) = stats {
            stats.change(conn.backend as usize, now, false);
        }
    }
}
