//! Time series in fixed windows, and the users a run affected.
//!
//! Memory grows with the number of windows and of users seen, never with the number of
//! requests nor with the population declared.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use stacksim_engine::SimTime;
use stacksim_engine::rng::splitmix64;

/// One window of a run's time series.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Start of the window, from the start of the run.
    pub start: Duration,
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests answered successfully.
    pub completed: u64,
    /// Requests rejected (503: full queue, queue timeout, no backend).
    pub rejected: u64,
    /// Requests the client gave up on.
    pub timed_out: u64,
    /// Requests that failed (reset by a crash, refused by a dead backend).
    pub failed: u64,
    /// Attempts sent to backends (first tries and retries).
    pub attempts: u64,
    /// Median response time of successes in the window \[s\] (NaN without successes).
    pub p50_s: f64,
    /// 99th percentile response time of successes in the window \[s\].
    pub p99_s: f64,
    /// Mean response time of successes in the window \[s\].
    pub mean_s: f64,
    /// Per backend: share of attempts routed to it, utilization and mean queue length.
    pub backends: Vec<BackendWindow>,
    /// Busy database workers over database workers (NaN without a database).
    pub database_utilization: f64,
    /// Users (request keys of a declared population) who sent a request in the window.
    pub users_active: u64,
    /// Of those, users with at least one failed or too-slow request in the window.
    pub users_affected: u64,
    /// Per fleet group: replicas by phase and deploy progress (empty without groups).
    pub fleet: Vec<crate::fleet::FleetWindow>,
    /// What the overload mechanisms did in the window, when any is configured.
    pub overload: Option<OverloadWindow>,
    /// Per request class, when the stack has classes (see [`crate::classes`]); empty
    /// otherwise.
    pub classes: Vec<ClassWindow>,
}

/// One request class in one window: every request of the class that arrived or ended in it.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassWindow {
    /// `client/class`, as the report names it.
    pub label: String,
    /// Requests that arrived.
    pub arrived: u64,
    /// Requests answered successfully.
    pub completed: u64,
    /// Requests ended rejected, timed out or failed.
    pub errors: u64,
    /// p99 response time of the window's successes \[s\] (`NaN` without any).
    pub p99_s: f64,
}

impl ClassWindow {
    /// Errors over the requests that ended (0 when none did).
    pub fn error_ratio(&self) -> f64 {
        let ended = self.completed + self.errors;
        if ended == 0 { 0.0 } else { self.errors as f64 / ended as f64 }
    }
}

/// What the overload mechanisms did in one window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OverloadWindow {
    /// Requests ended by each mechanism in the window.
    pub counts: OverloadCounts,
    /// Clients whose circuit breaker was open or half-open when the window closed.
    pub breakers_open: u32,
}

impl Window {
    /// Requests ended in the window that did not succeed, over those ended.
    pub fn error_ratio(&self) -> f64 {
        let errors = self.rejected + self.timed_out + self.failed;
        let ended = errors + self.completed;
        if ended == 0 { 0.0 } else { errors as f64 / ended as f64 }
    }
}

/// Requests ended by an overload mechanism (each also counted as rejected), and retries a
/// circuit breaker refused.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OverloadCounts {
    /// Ended by a circuit breaker's threshold (503, `overflow_ratio`).
    pub overflowed: u64,
    /// Ended by a rate limit (429, `limited_ratio`).
    pub limited: u64,
    /// Ended by admission control (503, `shed_ratio`).
    pub shed: u64,
    /// Not sent: the client's breaker was open (`short_circuited_ratio`).
    pub short_circuited: u64,
    /// Not sent: adaptive throttling (`throttled_ratio`).
    pub throttled: u64,
    /// Retries not made because of `max_retries`.
    pub retries_overflowed: u64,
    /// Ended by a backend's adaptive concurrency limit (503, `concurrency_limited_ratio`).
    pub concurrency_limited: u64,
}

/// One backend in one window.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BackendWindow {
    /// Attempts routed to it.
    pub routed: u64,
    /// Busy worker-time over worker-time.
    pub utilization: f64,
    /// Time-averaged requests waiting.
    pub queue_mean: f64,
    /// Its adaptive concurrency limit at the window's end; `None` without one.
    pub concurrency_limit: Option<u32>,
}

/// Which users were active, and which affected, per window and over an incident interval.
///
/// Users are kept in a map from the first request they send, so memory follows the users a
/// run sees — at most one per request — not the population declared (`users: 1000000000`
/// costs nothing until they send). Every figure is a count kept as users change state; the map
/// is never iterated, so its order cannot reach a result.
#[derive(Debug)]
pub(crate) struct UserTracker {
    /// Users are the keys `0..population`; other keys are not users and are ignored.
    population: u64,
    users: HashMap<u64, UserState, BuildHasherDefault<KeyHasher>>,
    from: SimTime,
    to: SimTime,
    window_active: u64,
    window_affected: u64,
    incident_active: u64,
    incident_affected: u64,
}

/// One user seen.
#[derive(Clone, Copy, Debug, Default)]
struct UserState {
    /// 1 + index of the last window it was active in (0: never).
    last_active: u32,
    /// 1 + index of the last window it was affected in.
    last_affected: u32,
    /// Bit 0: active during the incident; bit 1: affected during it.
    incident: u8,
}

/// Hashes a user key with SplitMix64: user numbers are small consecutive integers, which a
/// map needs mixed. Fixed, so that a run costs the same every time.
#[derive(Clone, Copy, Debug, Default)]
struct KeyHasher(u64);

impl Hasher for KeyHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = splitmix64(self.0 ^ u64::from(b));
        }
    }

    fn write_u64(&mut self, key: u64) {
        self.0 = splitmix64(self.0 ^ key);
    }
}

impl UserTracker {
    /// Tracks users `0..population`; the incident interval is `[from, to)`.
    pub fn new(population: u64, from: SimTime, to: SimTime) -> Self {
        UserTracker {
            population,
            users: HashMap::default(),
            from,
            to,
            window_active: 0,
            window_affected: 0,
            incident_active: 0,
            incident_affected: 0,
        }
    }

    /// User `key`'s state, if it is a user.
    #[inline]
    fn user(&mut self, key: u64) -> Option<&mut UserState> {
        (key < self.population).then(|| self.users.entry(key).or_default())
    }

    /// User `key` sent a request at `now` in window `window`.
    pub fn active(&mut self, key: u64, now: SimTime, window: u32) {
        let during = self.from <= now && now < self.to;
        let Some(user) = self.user(key) else { return };
        let first_in_window = user.last_active != window + 1;
        user.last_active = window + 1;
        let first_in_incident = during && user.incident & 1 == 0;
        if during {
            user.incident |= 1;
        }
        self.window_active += u64::from(first_in_window);
        self.incident_active += u64::from(first_in_incident);
    }

    /// User `key` had a failed or too-slow request end at `now` in window `window`.
    pub fn affected(&mut self, key: u64, now: SimTime, window: u32) {
        let during = self.from <= now && now < self.to;
        let Some(user) = self.user(key) else { return };
        let first_in_window = user.last_affected != window + 1;
        user.last_affected = window + 1;
        let first_in_incident = during && user.incident & 2 == 0;
        if during {
            user.incident |= 2;
        }
        self.window_affected += u64::from(first_in_window);
        self.incident_affected += u64::from(first_in_incident);
    }

    /// (active, affected) in the window just closed; resets the window counts.
    pub fn close_window(&mut self) -> (u64, u64) {
        let counts = (self.window_active, self.window_affected);
        self.window_active = 0;
        self.window_affected = 0;
        counts
    }

    /// (active, affected) over the incident interval.
    pub fn incident(&self) -> (u64, u64) {
        (self.incident_active, self.incident_affected)
    }

    /// Users seen so far.
    #[cfg(test)]
    fn seen(&self) -> usize {
        self.users.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn users_are_counted_once_per_window_and_once_per_incident() {
        let t = |s: u64| SimTime::from(Duration::from_secs(s));
        let mut users = UserTracker::new(10, t(100), t(200));
        users.active(3, t(50), 0);
        users.active(3, t(55), 0);
        users.affected(3, t(56), 0);
        users.active(4, t(58), 0);
        assert_eq!(users.close_window(), (2, 1));
        users.active(3, t(150), 1);
        users.affected(3, t(151), 1);
        users.active(5, t(160), 1);
        users.active(99, t(160), 1); // outside the population: ignored
        assert_eq!(users.close_window(), (2, 1));
        assert_eq!(users.incident(), (2, 1), "users 3 and 5 active in [100, 200); 3 affected");
        assert_eq!(users.seen(), 3, "users 3, 4 and 5; not 99");
    }

    #[test]
    fn a_billion_declared_users_cost_only_those_seen() {
        let t = |s: u64| SimTime::from(Duration::from_secs(s));
        let mut users = UserTracker::new(1_000_000_000, t(0), t(100));
        for key in [999_999_999, 7, 7, 500_000_000] {
            users.active(key, t(1), 0);
        }
        users.affected(7, t(2), 0);
        users.affected(7, t(3), 0);
        assert_eq!(users.close_window(), (3, 1));
        assert_eq!(users.incident(), (3, 1));
        assert_eq!(users.seen(), 3);
        assert!(users.users.capacity() < 64, "{}", users.users.capacity());
    }
}
