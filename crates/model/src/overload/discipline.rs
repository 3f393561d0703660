//! Queue disciplines of a backend: FIFO, LIFO, adaptive LIFO and Facebook's CoDel, as
//! Ben Maurer describes them in "Fail at Scale" (ACM Queue 13(8), 2015,
//! <https://queue.acm.org/detail.cfm?id=2839461>), section "Controlled Delay" and "Adaptive
//! LIFO".
//!
//! The article's CoDel, verbatim in its logic:
//!
//! ```text
//! onNewRequest(req, queue):
//!   if (queue.lastEmptyTime() < (now - N ms)) { timeout = M ms } else { timeout = N ms }
//!   queue.enqueue(req, timeout)
//! ```
//!
//! "If the queue has not been empty for the last N ms, then the amount of time spent in the
//! queue is limited to M ms. If the queue has been empty in the last N ms, then the time spent
//! in the queue is limited to N ms", with M = 5 ms (`target`) and N = 100 ms (`interval`).
//! A request that outstays its limit is answered 503 as a queue timeout is, and counted as
//! rejected.
//!
//! Adaptive LIFO: "during normal operating conditions, requests are processed in FIFO order,
//! but when a queue is starting to form, the server switches to LIFO mode". The article does
//! not give the switch in code; here it is CoDel's own signal — the queue has not been empty
//! for the last `interval` (100 ms unless given with CoDel) — so that "CoDel sets short
//! timeouts, preventing long queues from building up, and adaptive LIFO places new requests at
//! the front of the queue, maximizing the chance that they will meet the deadline set by
//! CoDel".

use std::time::Duration;

use stacksim_engine::SimTime;

/// The order in which a backend's workers take waiting requests, and how long one may wait.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Discipline {
    /// First come, first served (the default).
    #[default]
    Fifo,
    /// Last come, first served: the newest waiting request goes first.
    Lifo,
    /// FIFO while the queue empties now and then; LIFO once it has not been empty for
    /// [`Discipline::DEFAULT_INTERVAL`].
    AdaptiveLifo,
    /// Facebook's controlled delay: waits limited to `target` once the queue has not been
    /// empty for `interval`, to `interval` otherwise.
    CoDel {
        /// The short limit under standing queue (the article's M: 5 ms).
        target: Duration,
        /// The window of the standing-queue test and the normal limit (N: 100 ms).
        interval: Duration,
        /// Take the newest request first while the queue is standing (CoDel with adaptive
        /// LIFO, as Facebook runs them together).
        adaptive_lifo: bool,
    },
}

impl Discipline {
    /// The article's M, CoDel's target: 5 ms.
    pub const DEFAULT_TARGET: Duration = Duration::from_millis(5);
    /// The article's N, CoDel's interval: 100 ms.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

    /// Whether it needs the time its queue was last empty.
    #[inline]
    pub(crate) fn watches_emptiness(self) -> bool {
        matches!(self, Discipline::AdaptiveLifo | Discipline::CoDel { .. })
    }

    /// Whether the queue is standing at `now`: not empty since `last_empty` for longer than
    /// the interval (strictly, as the article's `lastEmptyTime() < now - N`).
    #[inline]
    fn standing(interval: Duration, now: SimTime, last_empty: SimTime) -> bool {
        last_empty + interval < now
    }

    /// How long a request queued at `now` may wait, by the discipline alone (`None`: as long
    /// as it takes); `last_empty` is when the queue was last empty.
    #[inline]
    pub(crate) fn wait_limit(self, now: SimTime, last_empty: SimTime) -> Option<Duration> {
        match self {
            Discipline::CoDel { target, interval, .. } => {
                Some(if Self::standing(interval, now, last_empty) { target } else { interval })
            }
            _ => None,
        }
    }

    /// Whether a worker freed at `now` takes the newest waiting request rather than the oldest.
    #[inline]
    pub(crate) fn takes_newest(self, now: SimTime, last_empty: SimTime) -> bool {
        match self {
            Discipline::Fifo => false,
            Discipline::Lifo => true,
            Discipline::AdaptiveLifo => Self::standing(Self::DEFAULT_INTERVAL, now, last_empty),
            Discipline::CoDel { interval, adaptive_lifo, .. } => {
                adaptive_lifo && Self::standing(interval, now, last_empty)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at_ms(ms: u64) -> SimTime {
        SimTime::from(Duration::from_millis(ms))
    }

    const FACEBOOK: Discipline = Discipline::CoDel {
        target: Discipline::DEFAULT_TARGET,
        interval: Discipline::DEFAULT_INTERVAL,
        adaptive_lifo: false,
    };

    #[test]
    fn codel_limits_waits_to_the_interval_until_the_queue_stands_for_an_interval_then_to_the_target() {
        // Empty 50 ms ago: "empty in the last N ms" → limited to N = 100 ms.
        assert_eq!(FACEBOOK.wait_limit(at_ms(1050), at_ms(1000)), Some(Duration::from_millis(100)));
        // Empty exactly 100 ms ago: still within the last N ms.
        assert_eq!(FACEBOOK.wait_limit(at_ms(1100), at_ms(1000)), Some(Duration::from_millis(100)));
        // Not empty for the last 100 ms: limited to M = 5 ms.
        assert_eq!(FACEBOOK.wait_limit(at_ms(1101), at_ms(1000)), Some(Duration::from_millis(5)));
        assert_eq!(FACEBOOK.wait_limit(at_ms(9000), at_ms(1000)), Some(Duration::from_millis(5)));
        assert_eq!(Discipline::Fifo.wait_limit(at_ms(9000), at_ms(0)), None);
        assert_eq!(Discipline::AdaptiveLifo.wait_limit(at_ms(9000), at_ms(0)), None);
    }

    #[test]
    fn adaptive_lifo_is_fifo_until_a_queue_forms_then_lifo() {
        let d = Discipline::AdaptiveLifo;
        assert!(!d.takes_newest(at_ms(1050), at_ms(1000)));
        assert!(!d.takes_newest(at_ms(1100), at_ms(1000)));
        assert!(d.takes_newest(at_ms(1101), at_ms(1000)));
        assert!(Discipline::Lifo.takes_newest(at_ms(0), at_ms(0)));
        assert!(!Discipline::Fifo.takes_newest(at_ms(9000), at_ms(0)));
        assert!(!FACEBOOK.takes_newest(at_ms(9000), at_ms(0)), "plain CoDel stays FIFO");
        let both = Discipline::CoDel {
            target: Discipline::DEFAULT_TARGET,
            interval: Discipline::DEFAULT_INTERVAL,
            adaptive_lifo: true,
        };
        assert!(both.takes_newest(at_ms(9000), at_ms(0)) && !both.takes_newest(at_ms(50), at_ms(0)));
    }
}
