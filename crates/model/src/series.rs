//! Time series in fixed windows, and the users a run affected.
//!
//! Memory grows with the number of windows and users, never with the number of requests.

use std::time::Duration;

use stacksim_engine::SimTime;

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
}

impl Window {
    /// Requests ended in the window that did not succeed, over those ended.
    pub fn error_ratio(&self) -> f64 {
        let errors = self.rejected + self.timed_out + self.failed;
        let ended = errors + self.completed;
        if ended == 0 { 0.0 } else { errors as f64 / ended as f64 }
    }
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
}

/// Which users were active, and which affected, per window and over an incident interval.
#[derive(Debug)]
pub(crate) struct UserTracker {
    /// Per user: 1 + index of the last window it was active in (0: never).
    last_active: Vec<u32>,
    /// Per user: 1 + index of the last window it was affected in.
    last_affected: Vec<u32>,
    /// Per user: bit 0 active during the incident, bit 1 affected during it.
    incident: Vec<u8>,
    from: SimTime,
    to: SimTime,
    window_active: u64,
    window_affected: u64,
}

impl UserTracker {
    /// Tracks users `0..count`; the incident interval is `[from, to)`.
    pub fn new(count: usize, from: SimTime, to: SimTime) -> Self {
        UserTracker {
            last_active: vec![0; count],
            last_affected: vec![0; count],
            incident: vec![0; count],
            from,
            to,
            window_active: 0,
            window_affected: 0,
        }
    }

    /// User `key` sent a request at `now` in window `window`.
    pub fn active(&mut self, key: u64, now: SimTime, window: u32) {
        let Some(last) = self.last_active.get_mut(key as usize) else { return };
        if *last != window + 1 {
            *last = window + 1;
            self.window_active += 1;
        }
        if self.from <= now && now < self.to {
            self.incident[key as usize] |= 1;
        }
    }

    /// User `key` had a failed or too-slow request end at `now` in window `window`.
    pub fn affected(&mut self, key: u64, now: SimTime, window: u32) {
        let Some(last) = self.last_affected.get_mut(key as usize) else { return };
        if *last != window + 1 {
            *last = window + 1;
            self.window_affected += 1;
        }
        if self.from <= now && now < self.to {
            self.incident[key as usize] |= 2;
        }
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
        let active = self.incident.iter().filter(|&&f| f & 1 != 0).count() as u64;
        let affected = self.incident.iter().filter(|&&f| f & 2 != 0).count() as u64;
        (active, affected)
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
    }
}
