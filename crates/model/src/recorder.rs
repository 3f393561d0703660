//! The recorder: every count, histogram and time series of a run, kept in one place.
//!
//! Each count is kept twice, over the measured period and in the open time-series window, and
//! [`Tally::add`] is the one place that updates both: the measured count only for requests that
//! arrived after warm-up, the window's for every request.

use std::time::Duration;

use stacksim_engine::SimTime;

use crate::backend::Areas;
use crate::classes::ClassTable;
use crate::metrics::{Latency, TimeIntegral};
use crate::series::{BackendWindow, ClassWindow, OverloadCounts, OverloadWindow, UserTracker, Window};
use crate::summary::{
    BackendSummary, ClassSummary, DatabaseSummary, LatencySummary, OverloadSummary, RunSummary,
};

/// What the run records beyond totals.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Observe {
    /// Width of the time-series windows; `None`: no time series.
    pub window: Option<Duration>,
    /// A successful response slower than this counts its user as affected.
    pub slow: Option<Duration>,
    /// The interval (from the start of the run) over which users affected are counted; `None`:
    /// the measured period.
    pub incident: Option<(Duration, Duration)>,
}

/// How a request or an attempt ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered successfully.
    Completed,
    /// Answered 503 at once: a full queue, a queue timeout, or no available backend.
    Rejected,
    /// The client gave up.
    TimedOut,
    /// Refused or reset by a backend that was down.
    Failed,
    /// Answered 503 at once by a circuit breaker's threshold (Envoy overflow); a rejection.
    Overflow,
    /// Answered 429 at once by a rate limit; a rejection.
    Limited,
    /// Answered 503 at once by the balancer's admission control; a rejection.
    Shed,
    /// Not sent: the client's circuit breaker is open; a rejection.
    ShortCircuited,
    /// Not sent: the client's adaptive throttling rejected it; a rejection.
    Throttled,
    /// Answered 503 at once by a backend shedding its request class's priority
    /// ([`crate::classes::Shed`]); a rejection.
    PriorityShed,
    /// Answered 503 at once by a backend's adaptive concurrency limit; a rejection.
    ConcurrencyLimited,
}

impl Outcome {
    /// Which of the four counted kinds it is: every refusal by an overload control is a
    /// rejection.
    #[inline]
    pub fn kind(self) -> Outcome {
        match self {
            Outcome::Completed | Outcome::Rejected | Outcome::TimedOut | Outcome::Failed => self,
            Outcome::Overflow
            | Outcome::Limited
            | Outcome::Shed
            | Outcome::ShortCircuited
            | Outcome::Throttled
            | Outcome::PriorityShed
            | Outcome::ConcurrencyLimited => Outcome::Rejected,
        }
    }
}

/// Counts of what happened: to requests, stack-wide, or to attempts, per backend.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Outcomes {
    /// Requests that reached the balancer.
    pub arrived: u64,
    /// Attempts sent (stack-wide) or routed to the backend.
    pub attempts: u64,
    /// Retries scheduled.
    pub retries: u64,
    /// Ended successfully.
    pub completed: u64,
    /// Ended [rejected](Outcome::Rejected).
    pub rejected: u64,
    /// Ended [timed out](Outcome::TimedOut).
    pub timed_out: u64,
    /// Ended [failed](Outcome::Failed).
    pub failed: u64,
}

impl Outcomes {
    /// Counts one that ended with `outcome`.
    #[inline]
    fn ended(&mut self, outcome: Outcome) {
        *match outcome.kind() {
            Outcome::Completed => &mut self.completed,
            Outcome::TimedOut => &mut self.timed_out,
            Outcome::Failed => &mut self.failed,
            _ => &mut self.rejected,
        } += 1;
    }
}

/// Counts `outcome` in `counts` if an overload mechanism caused it.
#[inline]
fn overload_ended(counts: &mut OverloadCounts, outcome: Outcome) {
    match outcome {
        Outcome::Overflow => counts.overflowed += 1,
        Outcome::Limited => counts.limited += 1,
        Outcome::Shed => counts.shed += 1,
        Outcome::ShortCircuited => counts.short_circuited += 1,
        Outcome::Throttled => counts.throttled += 1,
        Outcome::ConcurrencyLimited => counts.concurrency_limited += 1,
        _ => {}
    }
}

/// Overload counts over the measured period and in the open window.
#[derive(Debug, Default)]
struct OverloadTally {
    measured: OverloadCounts,
    window: OverloadCounts,
}

/// Counts over the measured period and in the open window.
#[derive(Debug, Default)]
struct Tally {
    /// Of requests that arrived after warm-up (and their attempts).
    measured: Outcomes,
    /// Of every request, since the open window began.
    window: Outcomes,
}

impl Tally {
    /// Counts in both; in the measured counts only if `counted`.
    #[inline]
    fn add(&mut self, counted: bool, count: impl Fn(&mut Outcomes)) {
        count(&mut self.window);
        if counted {
            count(&mut self.measured);
        }
    }
}

/// One backend's attempt counts, in one cache line (a large fleet's counts outgrow the caches,
/// and each attempt touches its backend's twice): over the measured period, and the attempts
/// routed in the open window, the one per-backend count a window reports.
#[derive(Debug, Default)]
#[repr(align(64))]
struct BackendTally {
    /// Of requests that arrived after warm-up.
    measured: Outcomes,
    /// Attempts routed to it since the open window began, of every request.
    window_routed: u64,
}

/// The open window of a time series, and those closed.
#[derive(Debug)]
struct Series {
    width: Duration,
    /// Index of the open window.
    index: u32,
    /// Response times of successes in the open window.
    latency: Latency,
    /// Per backend, its busy and queued areas when the open window began.
    marks: Vec<(u128, u128)>,
    /// The database's busy area when the open window began.
    database_mark: u128,
    closed: Vec<Window>,
}

/// One request class's counts over the measured period, and its response times.
#[derive(Debug, Default)]
struct ClassTally {
    arrived: u64,
    completed: u64,
    /// Ended rejected, timed out or failed.
    errors: u64,
    /// Of those, ended [priority-shed](Outcome::PriorityShed).
    shed: u64,
    response: Latency,
    /// Every request of the class (counted or not) in the open window.
    window: ClassWindowTally,
}

/// A class's counts and response times in the open window.
#[derive(Debug, Default)]
struct ClassWindowTally {
    arrived: u64,
    completed: u64,
    errors: u64,
    response: Latency,
}

/// What a run counts and measures.
#[derive(Debug)]
pub(crate) struct Recorder {
    warmup: SimTime,
    requests: Tally,
    /// Per backend, by index: its attempts.
    backends: Vec<BackendTally>,
    /// Attempts at backends (queued or served): Little's L.
    in_system: TimeIntegral,
    /// Worker time after warm-up, and the part spent on abandoned attempts.
    busy_ns: u128,
    wasted_ns: u128,
    response: Latency,
    wait: Latency,
    series: Option<Series>,
    /// Responses slower than this affect their user.
    slow: Option<Duration>,
    users: Option<UserTracker>,
    /// Kept when an overload mechanism is configured.
    overload: Option<OverloadTally>,
    /// Per request class, by number, when the stack has a class table.
    classes: Option<Vec<ClassTally>>,
    /// Per request class, by number: `client/class`, its name in the time series.
    class_labels: Vec<String>,
}

impl Recorder {
    /// A recorder for a run of `duration` with `warmup`, `backends` backends and, if any
    /// client's keys are user numbers, `users` users; per request class when there are
    /// `classes`.
    pub fn new(
        observe: &Observe,
        warmup: Duration,
        duration: Duration,
        backends: usize,
        users: Option<u64>,
        overload: bool,
        classes: Option<&ClassTable>,
    ) -> Self {
        let (from, to) = observe.incident.unwrap_or((warmup, duration));
        Recorder {
            warmup: SimTime::from(warmup),
            requests: Tally::default(),
            backends: (0..backends).map(|_| BackendTally::default()).collect(),
            in_system: TimeIntegral::default(),
            busy_ns: 0,
            wasted_ns: 0,
            response: Latency::default(),
            wait: Latency::default(),
            series: observe.window.filter(|w| !w.is_zero()).map(|width| Series {
                width,
                index: 0,
                latency: Latency::default(),
                marks: vec![(0, 0); backends],
                database_mark: 0,
                closed: Vec::new(),
            }),
            slow: observe.slow,
            users: users.map(|n| UserTracker::new(n, SimTime::from(from), SimTime::from(to))),
            overload: overload.then(OverloadTally::default),
            classes: classes.map(|t| (0..t.len()).map(|_| ClassTally::default()).collect()),
            class_labels: classes
                .map(|t| t.names.iter().map(|(name, client)| format!("{client}/{name}")).collect())
                .unwrap_or_default(),
        }
    }

    /// When the warm-up ends.
    pub fn warmup_end(&self) -> SimTime {
        self.warmup
    }

    /// The width of the time-series windows, if there is a time series.
    pub fn window(&self) -> Option<Duration> {
        self.series.as_ref().map(|s| s.width)
    }

    fn window_index(&self) -> u32 {
        self.series.as_ref().map_or(0, |s| s.index)
    }

    /// A request of class `class` arrived at `now`, from `user` if its client tracks users.
    /// Returns whether it is counted in the statistics (it arrived after warm-up).
    pub fn arrived(&mut self, now: SimTime, user: Option<u64>, class: u8) -> bool {
        let counted = now >= self.warmup;
        self.requests.add(counted, |o| o.arrived += 1);
        if let Some(classes) = &mut self.classes {
            let tally = &mut classes[usize::from(class)];
            tally.window.arrived += 1;
            tally.arrived += u64::from(counted);
        }
        let window = self.window_index();
        if let (Some(users), Some(user)) = (&mut self.users, user) {
            users.active(user, now, window);
        }
        counted
    }

    /// An attempt left the client.
    #[inline]
    pub fn sent(&mut self, counted: bool) {
        self.requests.add(counted, |o| o.attempts += 1);
    }

    /// The balancer sent an attempt to backend `b`.
    #[inline]
    pub fn routed(&mut self, b: usize, counted: bool) {
        let tally = &mut self.backends[b];
        tally.window_routed += 1;
        if counted {
            tally.measured.attempts += 1;
        }
    }

    /// A retry was scheduled.
    pub fn retried(&mut self, counted: bool) {
        self.requests.add(counted, |o| o.retries += 1);
    }

    /// An attempt at backend `b` ended with `outcome`.
    #[inline]
    pub fn attempt_ended(&mut self, b: usize, counted: bool, outcome: Outcome) {
        if counted {
            self.backends[b].measured.ended(outcome);
        }
    }

    /// A request of class `class` that arrived at `arrived` ended at `now` with `outcome`;
    /// `user` if its client tracks users.
    // Always inlined, so that `WebStack::finish_completed` compiles it with the outcome known
    // (BENCHMARKS.md, "The unconfigured path").
    #[inline(always)]
    pub fn request_ended(
        &mut self,
        now: SimTime,
        (counted, class): (bool, u8),
        outcome: Outcome,
        arrived: SimTime,
        user: Option<u64>,
    ) {
        self.requests.add(counted, |o| o.ended(outcome));
        if let Some(classes) = &mut self.classes {
            Self::class_ended(&mut classes[usize::from(class)], counted, outcome, now - arrived);
        }
        if let Some(overload) = &mut self.overload {
            overload_ended(&mut overload.window, outcome);
            if counted {
                overload_ended(&mut overload.measured, outcome);
            }
        }
        if outcome == Outcome::Completed {
            if let Some(series) = &mut self.series {
                series.latency.record_since(arrived, now);
            }
            if counted {
                self.response.record_since(arrived, now);
            }
        }
        let too_slow = self.slow.is_some_and(|slow| now - arrived > slow);
        let window = self.window_index();
        if let (Some(users), Some(user)) = (&mut self.users, user)
            && (outcome != Outcome::Completed || too_slow)
        {
            users.affected(user, now, window);
        }
    }

    /// A request of the class `tally` counts ended with `outcome` after `latency`: in the
    /// open window, and in the measured counts if `counted`.
    #[inline(never)]
    fn class_ended(tally: &mut ClassTally, counted: bool, outcome: Outcome, latency: Duration) {
        if outcome == Outcome::Completed {
            tally.window.completed += 1;
            tally.window.response.record(latency);
        } else {
            tally.window.errors += 1;
        }
        if !counted {
            return;
        }
        if outcome == Outcome::Completed {
            tally.completed += 1;
            tally.response.record(latency);
        } else {
            tally.errors += 1;
            tally.shed += u64::from(outcome == Outcome::PriorityShed);
        }
    }

    /// A retry was not made: its cluster had `max_retries` outstanding.
    pub fn retry_overflowed(&mut self, counted: bool) {
        if let Some(overload) = &mut self.overload {
            overload.window.retries_overflowed += 1;
            if counted {
                overload.measured.retries_overflowed += 1;
            }
        }
    }

    /// A counted request's attempt, sent at `sent`, waited for a worker until `now`.
    #[inline]
    pub fn waited(&mut self, sent: SimTime, now: SimTime) {
        self.wait.record_since(sent, now);
    }

    /// A worker spent `busy` on an attempt that ended at `now`; `wasted` if its client had
    /// given up on it.
    #[inline]
    pub fn worked(&mut self, now: SimTime, busy: Duration, wasted: bool) {
        if now >= self.warmup {
            let busy = busy.as_nanos();
            self.busy_ns += busy;
            if wasted {
                self.wasted_ns += busy;
            }
        }
    }

    /// An attempt reached a backend at `now`.
    #[inline]
    pub fn entered(&mut self, now: SimTime) {
        self.in_system.increment(now);
    }

    /// An attempt left its backend at `now`.
    #[inline]
    pub fn left(&mut self, now: SimTime) {
        self.in_system.decrement(now);
    }

    /// Sets each backend's concurrency limit (`None` for none) in the window just closed.
    pub fn set_window_limits(&mut self, limits: impl Iterator<Item = Option<u32>>) {
        let Some(window) = self.series.as_mut().and_then(|s| s.closed.last_mut()) else { return };
        for (b, limit) in window.backends.iter_mut().zip(limits) {
            b.concurrency_limit = limit;
        }
    }

    /// Time averages start at `now`.
    pub fn end_warmup(&mut self, now: SimTime) {
        self.in_system.restart(now);
    }

    /// Closes the window ending at `now`, given each backend's [`Areas`] and the database's
    /// busy area and workers, read at `now`.
    pub fn close_window(
        &mut self,
        now: SimTime,
        backends: impl Iterator<Item = Areas>,
        database: Option<(u128, u32)>,
        fleet: Vec<crate::fleet::FleetWindow>,
        breakers_open: u32,
    ) {
        let Some(series) = &mut self.series else { return };
        let span = series.width.as_nanos() as f64;
        let backends = backends
            .zip(&mut series.marks)
            .zip(&mut self.backends)
            .map(|((areas, mark), tally)| {
                let window = BackendWindow {
                    routed: tally.window_routed,
                    utilization: (areas.busy - mark.0) as f64 / span / f64::from(areas.workers),
                    queue_mean: (areas.queued - mark.1) as f64 / span,
                    concurrency_limit: None,
                };
                tally.window_routed = 0;
                *mark = (areas.busy, areas.queued);
                window
            })
            .collect();
        let database_utilization = database.map_or(f64::NAN, |(area, workers)| {
            let u = (area - series.database_mark) as f64 / span / f64::from(workers);
            series.database_mark = area;
            u
        });
        let (users_active, users_affected) = self.users.as_mut().map_or((0, 0), UserTracker::close_window);
        let counts = std::mem::take(&mut self.requests.window);
        series.closed.push(Window {
            start: (now - SimTime::ZERO).saturating_sub(series.width),
            arrived: counts.arrived,
            completed: counts.completed,
            rejected: counts.rejected,
            timed_out: counts.timed_out,
            failed: counts.failed,
            attempts: counts.attempts,
            p50_s: series.latency.quantile_s(0.5),
            p99_s: series.latency.quantile_s(0.99),
            mean_s: series.latency.mean_s(),
            backends,
            database_utilization,
            users_active,
            users_affected,
            overload: self
                .overload
                .as_mut()
                .map(|o| OverloadWindow { counts: std::mem::take(&mut o.window), breakers_open }),
            fleet,
            classes: self.classes.as_mut().map_or_else(Vec::new, |classes| {
                classes
                    .iter_mut()
                    .zip(&self.class_labels)
                    .map(|(tally, label)| {
                        let w = std::mem::take(&mut tally.window);
                        ClassWindow {
                            label: label.clone(),
                            arrived: w.arrived,
                            completed: w.completed,
                            errors: w.errors,
                            p99_s: w.response.quantile_s(0.99),
                        }
                    })
                    .collect()
            }),
        });
        series.latency.reset();
        series.index += 1;
    }

    /// What the run measured from the end of warm-up to `end`, given each backend's name and
    /// usage (utilization, mean queue length), the database's summary, the counted requests
    /// still in flight, and with request classes their table and their counted requests in
    /// flight.
    #[allow(clippy::too_many_arguments)]
    pub fn summary(
        self,
        end: SimTime,
        events: u64,
        backends: impl Iterator<Item = (String, (f64, f64))>,
        database: Option<DatabaseSummary>,
        in_flight: u64,
        breaker_open_ratio: f64,
        classes: Option<(&ClassTable, Vec<u64>)>,
    ) -> RunSummary {
        let measured = end - self.warmup;
        let secs = measured.as_secs_f64();
        let routed: u64 = self.backends.iter().map(|b| b.measured.attempts).sum();
        let ratio = |part: u64, whole: u64| if whole == 0 { 0.0 } else { part as f64 / whole as f64 };
        let backends = backends
            .zip(&self.backends)
            .map(|((name, (utilization, queue_length_mean)), tally)| {
                let b = tally.measured;
                BackendSummary {
                    name,
                    routed: b.attempts,
                    completed: b.completed,
                    rejected: b.rejected,
                    failed: b.failed,
                    utilization,
                    queue_length_mean,
                    share: ratio(b.attempts, routed),
                    rejected_ratio: ratio(b.rejected, b.attempts),
                }
            })
            .collect();
        let (users_active, users_affected) = self.users.as_ref().map_or((0, 0), UserTracker::incident);
        let r = self.requests.measured;
        RunSummary {
            measured,
            events,
            arrived: r.arrived,
            completed: r.completed,
            rejected: r.rejected,
            timed_out: r.timed_out,
            failed: r.failed,
            in_flight,
            attempts: r.attempts,
            retries: r.retries,
            response_time: LatencySummary::of(&self.response),
            wait_time_mean_s: self.wait.mean_s(),
            throughput_per_s: r.completed as f64 / secs,
            arrival_rate_per_s: r.arrived as f64 / secs,
            in_system_mean: self.in_system.mean(end),
            wasted_work_ratio: if self.busy_ns == 0 {
                0.0
            } else {
                self.wasted_ns as f64 / self.busy_ns as f64
            },
            users_active,
            users_affected,
            backends,
            database,
            windows: self.series.map_or_else(Vec::new, |s| s.closed),
            overload: self.overload.map(|o| OverloadSummary {
                counts: o.measured,
                breaker_open_ratio,
                concurrency_limit_mean: None,
            }),
            fleet: Vec::new(),
            topology: None,
            classes: match (self.classes, classes) {
                (Some(tallies), Some((table, in_flight))) => tallies
                    .into_iter()
                    .zip(&table.names)
                    .zip(table.info.iter().zip(in_flight))
                    .map(|((t, (name, client)), (info, in_flight))| ClassSummary {
                        name: name.clone(),
                        client: client.clone(),
                        priority: info.priority,
                        service_scale: info.service_scale,
                        arrived: t.arrived,
                        completed: t.completed,
                        errors: t.errors,
                        shed: t.shed,
                        in_flight,
                        response_time: LatencySummary::of(&t.response),
                    })
                    .collect(),
                _ => Vec::new(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backends_counts_fill_one_cache_line() {
        assert_eq!(std::mem::size_of::<BackendTally>(), 64);
    }

    #[test]
    fn a_count_goes_to_the_window_always_and_to_the_measured_period_if_counted() {
        let mut tally = Tally::default();
        tally.add(false, |o| o.ended(Outcome::Rejected));
        tally.add(true, |o| o.ended(Outcome::Rejected));
        tally.add(true, |o| o.ended(Outcome::TimedOut));
        assert_eq!(tally.window, Outcomes { rejected: 2, timed_out: 1, ..Outcomes::default() });
        assert_eq!(tally.measured, Outcomes { rejected: 1, timed_out: 1, ..Outcomes::default() });
    }
}
