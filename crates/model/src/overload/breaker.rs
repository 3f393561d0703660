//! The client-side circuit breaker, in the resilience4j / Hystrix style.

use std::time::Duration;

use stacksim_engine::SimTime;

use super::SlidingCounts;

/// A client's circuit breaker, as resilience4j's `CircuitBreaker` with a time-based sliding
/// window (<https://resilience4j.readme.io/docs/circuitbreaker>; Hystrix's
/// `circuitBreaker.errorThresholdPercentage`, `requestVolumeThreshold` and
/// `sleepWindowInMilliseconds` are the same three knobs):
///
/// 1. **Closed**: attempts go out, and their outcomes are counted over the last `window` (in
///    one-second buckets). Once at least `min_requests` are counted and the share of failures
///    (an answer that is not a success: 5xx, 429, reset, refused, timed out) is at least
///    `failure_rate`, it opens.
/// 2. **Open**: every attempt fails at once, without being sent
///    (`CallNotPermittedException`; counted as `short_circuited`), for `open_for`.
/// 3. **Half-open**: the next `half_open` attempts go out as probes, the rest fail at once.
///    When all probes are answered, it opens again if their failure share is at least
///    `failure_rate`, and closes (with an empty window) otherwise.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ClientBreaker {
    /// Failure share that opens it, in (0, 1] (resilience4j `failureRateThreshold`).
    pub failure_rate: f64,
    /// Sliding window of outcomes (resilience4j `slidingWindowSize`, time-based).
    pub window: Duration,
    /// Outcomes in the window before the rate is judged, ≥ 1 (`minimumNumberOfCalls`).
    pub min_requests: u32,
    /// Time spent open (`waitDurationInOpenState`).
    pub open_for: Duration,
    /// Probes let through half-open, ≥ 1 (`permittedNumberOfCallsInHalfOpenState`).
    pub half_open: u32,
}

/// Where a breaker is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts go out.
    Closed,
    /// Attempts fail at once.
    Open,
    /// A few probes go out.
    HalfOpen,
}

/// A breaker while the simulation runs.
#[derive(Clone, Debug)]
pub(crate) struct BreakerRuntime {
    config: ClientBreaker,
    state: BreakerState,
    counts: SlidingCounts,
    /// Open until then.
    until: SimTime,
    /// Half-open: probes sent, answered, and failed.
    probes_sent: u32,
    probes_answered: u32,
    probes_failed: u32,
    /// Time spent open since the start [ns], and when it last opened.
    open_ns: u128,
    opened_at: SimTime,
}

impl BreakerRuntime {
    pub fn new(config: ClientBreaker) -> Self {
        BreakerRuntime {
            config,
            state: BreakerState::Closed,
            counts: SlidingCounts::new(config.window),
            until: SimTime::ZERO,
            probes_sent: 0,
            probes_answered: 0,
            probes_failed: 0,
            open_ns: 0,
            opened_at: SimTime::ZERO,
        }
    }

    /// Its state at `now`.
    pub fn state(&self, now: SimTime) -> BreakerState {
        match self.state {
            BreakerState::Open if now >= self.until => BreakerState::HalfOpen,
            state => state,
        }
    }

    /// Time spent open (not half-open) from the start to `now`.
    pub fn open_time(&self, now: SimTime) -> Duration {
        let open = match self.state {
            BreakerState::Open => u128::from(now.min(self.until).0.saturating_sub(self.opened_at.0)),
            _ => 0,
        };
        Duration::from_nanos((self.open_ns + open).min(u128::from(u64::MAX)) as u64)
    }

    fn open(&mut self, now: SimTime) {
        self.state = BreakerState::Open;
        self.opened_at = now;
        self.until = now.saturating_add(self.config.open_for);
    }

    /// An attempt at `now`: whether it may go out.
    #[inline]
    pub fn permits(&mut self, now: SimTime) -> bool {
        if self.state == BreakerState::Open {
            if now < self.until {
                return false;
            }
            self.open_ns += u128::from(self.until.0 - self.opened_at.0);
            self.state = BreakerState::HalfOpen;
            self.probes_sent = 0;
            self.probes_answered = 0;
            self.probes_failed = 0;
        }
        if self.state == BreakerState::HalfOpen {
            if self.probes_sent >= self.config.half_open {
                return false;
            }
            self.probes_sent += 1;
        }
        true
    }

    /// An attempt it let out was answered at `now`.
    #[inline]
    pub fn record(&mut self, now: SimTime, success: bool) {
        match self.state {
            BreakerState::Closed => {
                self.counts.add(now, 1, u64::from(success));
                let (n, s) = self.counts.totals(now);
                if n >= u64::from(self.config.min_requests)
                    && (n - s) as f64 >= self.config.failure_rate * n as f64
                {
                    self.counts.clear();
                    self.open(now);
                }
            }
            BreakerState::HalfOpen => {
                self.probes_answered += 1;
                self.probes_failed += u32::from(!success);
                if self.probes_answered >= self.config.half_open {
                    let failed = f64::from(self.probes_failed);
                    if failed >= self.config.failure_rate * f64::from(self.probes_answered) {
                        self.open(now);
                    } else {
                        self.state = BreakerState::Closed;
                        self.counts.clear();
                    }
                }
            }
            // An answer to an attempt sent before it opened.
            BreakerState::Open => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn breaker() -> BreakerRuntime {
        BreakerRuntime::new(ClientBreaker {
            failure_rate: 0.5,
            window: Duration::from_secs(10),
            min_requests: 4,
            open_for: Duration::from_secs(30),
            half_open: 2,
        })
    }

    #[test]
    fn opens_at_the_failure_rate_once_the_volume_is_reached() {
        let mut b = breaker();
        for ok in [false, false, false] {
            assert!(b.permits(SimTime(S)));
            b.record(SimTime(S), ok);
        }
        assert_eq!(b.state(SimTime(S)), BreakerState::Closed, "3 < min_requests");
        b.record(SimTime(S), true);
        assert_eq!(b.state(SimTime(S)), BreakerState::Open, "3 of 4 failed");
        assert!(!b.permits(SimTime(20 * S)));
        assert_eq!(b.open_time(SimTime(21 * S)), Duration::from_secs(20));
    }

    #[test]
    fn half_open_lets_probes_through_and_closes_or_reopens_on_them() {
        let mut b = breaker();
        for _ in 0..4 {
            b.record(SimTime(S), false);
        }
        // Half-open at 31 s: two probes, then nothing until they are answered.
        assert!(b.permits(SimTime(31 * S)) && b.permits(SimTime(31 * S)));
        assert!(!b.permits(SimTime(31 * S)));
        b.record(SimTime(32 * S), false);
        b.record(SimTime(32 * S), true);
        assert_eq!(b.state(SimTime(32 * S)), BreakerState::Open, "half the probes failed");
        assert!(b.permits(SimTime(62 * S)) && b.permits(SimTime(62 * S)));
        b.record(SimTime(63 * S), true);
        b.record(SimTime(63 * S), true);
        assert_eq!(b.state(SimTime(63 * S)), BreakerState::Closed);
        assert_eq!(b.open_time(SimTime(100 * S)), Duration::from_secs(60));
    }
}
