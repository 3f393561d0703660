//! Arrival processes: when a client's requests leave it.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp1};
use stacksim_engine::{MAX_SPAN, SimTime, saturating_span, span_from_secs};

use crate::ModelError;

/// How a client's requests are spaced in time.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// Open loop, a Poisson process: exponential gaps with mean `1 / rate_per_s`.
    Poisson {
        /// Mean arrival rate [requests·s⁻¹].
        rate_per_s: f64,
    },
    /// Open loop, evenly spaced arrivals, exactly `1 / rate_per_s` apart.
    Deterministic {
        /// Arrival rate [requests·s⁻¹].
        rate_per_s: f64,
    },
    /// Open loop, a Poisson process whose rate follows a schedule (daily curves, spikes).
    Schedule {
        /// `(time from the start of the run, rate [requests·s⁻¹])`, sorted by time; the first
        /// rate holds before the first point and the last after the last.
        points: Vec<(Duration, f64)>,
        /// `true`: the rate moves linearly between points; `false`: it steps at each point.
        linear: bool,
    },
    /// Open loop, replayed from a trace: one request at each time (from the start of the run),
    /// with the trace's keys when it has them.
    Trace {
        /// Arrival times, sorted.
        times: Arc<[Duration]>,
        /// The key of each arrival, if the trace has a key column.
        keys: Option<Arc<[u64]>>,
    },
    /// Closed loop: `users` users, each sending a request, waiting for its final answer
    /// (success, error or timeout), thinking for an exponential time with mean `think`, and
    /// sending again. Their request keys are the user numbers `0..users`.
    Closed {
        /// Users in the loop.
        users: u32,
        /// Mean think time between an answer and the next request.
        think: Duration,
    },
}

impl Arrivals {
    /// The mean arrival rate [requests·s⁻¹] at the start (for a closed loop, the rate if
    /// responses were instantaneous: users / think).
    pub fn rate_per_s(&self) -> f64 {
        match self {
            Arrivals::Poisson { rate_per_s } | Arrivals::Deterministic { rate_per_s } => *rate_per_s,
            Arrivals::Schedule { points, .. } => points.first().map_or(0.0, |p| p.1),
            Arrivals::Trace { times, .. } => match (times.first(), times.last()) {
                (Some(first), Some(last)) if last > first => {
                    times.len() as f64 / (*last - *first).as_secs_f64()
                }
                _ => 0.0,
            },
            Arrivals::Closed { users, think } => f64::from(*users) / think.as_secs_f64(),
        }
    }

    /// The rate [requests·s⁻¹] at time `t` from the start, before any timeline scaling.
    pub fn rate_at(&self, t: Duration) -> f64 {
        match self {
            Arrivals::Schedule { points, linear } => schedule_rate(points, *linear, t),
            other => other.rate_per_s(),
        }
    }

    /// Checks the parameters (see [`Arrivals::problems`]).
    pub fn validate(&self) -> Result<(), ModelError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(problem) => Err(ModelError::InvalidArrivals(problem.to_string())),
        }
    }
}

/// The rate of a schedule at `t`.
fn schedule_rate(points: &[(Duration, f64)], linear: bool, t: Duration) -> f64 {
    let after = points.partition_point(|p| p.0 <= t);
    match (after.checked_sub(1).map(|i| points[i]), points.get(after)) {
        (None, Some(first)) => first.1,
        (Some(last), None) => last.1,
        (Some(a), Some(b)) if linear && b.0 > a.0 => {
            let f = (t - a.0).as_secs_f64() / (b.0 - a.0).as_secs_f64();
            a.1 + f * (b.1 - a.1)
        }
        (Some(a), Some(_)) => a.1,
        (None, None) => 0.0,
    }
}

/// The time at which the integral of the schedule's rate (times `scale`) from `from` reaches
/// `area` (one unit-exponential draw): inversion of the cumulative rate, one draw per arrival.
fn schedule_next(
    points: &[(Duration, f64)],
    linear: bool,
    scale: f64,
    from: Duration,
    mut area: f64,
) -> Option<Duration> {
    let mut t = from.as_secs_f64();
    let secs = |d: Duration| d.as_secs_f64();
    // Segment ends after `t`.
    let mut i = points.partition_point(|p| secs(p.0) <= t);
    loop {
        // `t` is a point of the schedule or `from`, so within the clock.
        let rate_here = scale * schedule_rate(points, linear, saturating_span(t).unwrap_or(MAX_SPAN));
        let Some(&(end, end_rate)) = points.get(i) else {
            // Constant tail. A rate so low that the next arrival is past the clock's range
            // saturates (it never comes); a NaN (from infinite rates) ends the arrivals.
            return if rate_here > 0.0 { saturating_span(t + area / rate_here).ok() } else { None };
        };
        let (end, end_rate) = (secs(end), scale * end_rate);
        let span = end - t;
        let (r0, r1) = if linear { (rate_here, end_rate) } else { (rate_here, rate_here) };
        let segment_area = (r0 + r1) / 2.0 * span;
        if segment_area >= area {
            // Solve r0 x + (r1 - r0) x² / (2 span) = area for x in [0, span].
            let slope = if span > 0.0 { (r1 - r0) / span } else { 0.0 };
            let x = if slope.abs() < 1e-12 {
                area / r0
            } else {
                (-r0 + (r0 * r0 + 2.0 * slope * area).max(0.0).sqrt()) / slope
            };
            return saturating_span(t + x.clamp(0.0, span)).ok();
        }
        area -= segment_area;
        t = end;
        i += 1;
    }
}

/// A client's arrival process while a run goes: when its next request leaves.
#[derive(Clone, Debug)]
pub(crate) struct ArrivalClock {
    arrivals: Arrivals,
    /// Timeline scaling of the rate.
    pub scale: f64,
    /// Next trace index.
    next: usize,
}

impl ArrivalClock {
    pub fn new(arrivals: &Arrivals) -> Result<Self, ModelError> {
        arrivals.validate()?;
        Ok(ArrivalClock { arrivals: arrivals.clone(), scale: 1.0, next: 0 })
    }

    /// Whether this is a closed loop.
    pub fn closed(&self) -> Option<(u32, Duration)> {
        match self.arrivals {
            Arrivals::Closed { users, think } => Some((users, think)),
            _ => None,
        }
    }

    /// The open-loop rate now (before scaling), for sharing a total rate among clients.
    pub fn base_rate(&self, now: SimTime) -> f64 {
        self.arrivals.rate_at(now - SimTime::ZERO)
    }

    /// The time of the next arrival after one at `now`, and its trace key; `None` when the
    /// process has no more arrivals (end of a trace, a zero rate forever, a closed loop).
    #[inline]
    pub fn next<R: Rng + ?Sized>(&mut self, now: SimTime, rng: &mut R) -> Option<(SimTime, Option<u64>)> {
        match &self.arrivals {
            // The M of M/M/c inline, where it is called for every arrival; the other processes
            // behind a call (issue 10).
            Arrivals::Poisson { rate_per_s } => poisson_next(now, *rate_per_s * self.scale, rng),
            _ => self.next_other(now, rng),
        }
    }

    /// [`ArrivalClock::next`] of a process other than Poisson.
    #[inline(never)]
    fn next_other<R: Rng + ?Sized>(&mut self, now: SimTime, rng: &mut R) -> Option<(SimTime, Option<u64>)> {
        let scale = self.scale;
        match &self.arrivals {
            Arrivals::Poisson { rate_per_s } => poisson_next(now, rate_per_s * scale, rng),
            Arrivals::Deterministic { rate_per_s } => {
                Some((now + span_from_secs(1.0 / (rate_per_s * scale)).ok()?, None))
            }
            Arrivals::Schedule { points, linear } => {
                let draw: f64 = Exp1.sample(rng);
                let at = schedule_next(points, *linear, scale, now - SimTime::ZERO, draw)?;
                Some((SimTime::from(at).max(now), None))
            }
            Arrivals::Trace { times, keys } => {
                let i = self.next;
                self.next += 1;
                let at = *times.get(i)?;
                Some((SimTime::from(at).max(now), keys.as_ref().map(|k| k[i])))
            }
            Arrivals::Closed { .. } => None,
        }
    }
}

/// The next arrival of a Poisson process of `rate` per second after one at `now`. (Always
/// inlined: left to LLVM, it stayed a call, shared with [`ArrivalClock::next_other`].)
#[inline(always)]
fn poisson_next<R: Rng + ?Sized>(now: SimTime, rate: f64, rng: &mut R) -> Option<(SimTime, Option<u64>)> {
    let draw: f64 = Exp1.sample(rng);
    Some((now + span_from_secs(draw / rate).ok()?, None))
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacksim_engine::rng::stream;

    fn count(arrivals: Arrivals, until_s: u64) -> usize {
        let mut clock = ArrivalClock::new(&arrivals).unwrap();
        let mut rng = stream(1, "arrivals/test");
        let mut now = SimTime::ZERO;
        let end = SimTime::from(Duration::from_secs(until_s));
        let mut n = 0;
        while let Some((at, _)) = clock.next(now, &mut rng) {
            if at > end {
                break;
            }
            now = at;
            n += 1;
        }
        n
    }

    #[test]
    fn a_step_schedule_has_the_expected_count() {
        let s = |x| Duration::from_secs(x);
        // 10/s for 1000 s, then 50/s for 1000 s: 60 000 expected, sd ~245.
        let n =
            count(Arrivals::Schedule { points: vec![(s(0), 10.0), (s(1000), 50.0)], linear: false }, 2000);
        assert!((n as f64 - 60_000.0).abs() < 1000.0, "{n}");
    }

    #[test]
    fn a_linear_ramp_integrates_to_its_area() {
        let s = |x| Duration::from_secs(x);
        // 0 to 100/s over 1000 s: 50 000 expected.
        let n = count(Arrivals::Schedule { points: vec![(s(0), 0.0), (s(1000), 100.0)], linear: true }, 1000);
        assert!((n as f64 - 50_000.0).abs() < 1000.0, "{n}");
        assert_eq!(schedule_rate(&[(s(0), 0.0), (s(10), 100.0)], true, s(5)), 50.0);
        assert_eq!(schedule_rate(&[(s(0), 0.0), (s(10), 100.0)], false, s(5)), 0.0);
    }

    #[test]
    fn a_trace_replays_its_times_and_keys() {
        let times: Arc<[Duration]> = [1, 2, 4].map(Duration::from_secs).into();
        let keys: Arc<[u64]> = [7, 8, 9].into();
        let mut clock = ArrivalClock::new(&Arrivals::Trace { times, keys: Some(keys) }).unwrap();
        let mut rng = stream(1, "x");
        let got: Vec<_> = std::iter::from_fn(|| clock.next(SimTime::ZERO, &mut rng)).collect();
        assert_eq!(got[2], (SimTime::from(Duration::from_secs(4)), Some(9)));
        assert_eq!(got.len(), 3);
    }

    #[test]
    fn invalid_processes_are_errors() {
        assert!(Arrivals::Poisson { rate_per_s: 0.0 }.validate().is_err());
        assert!(Arrivals::Schedule { points: vec![], linear: false }.validate().is_err());
        assert!(Arrivals::Closed { users: 0, think: Duration::from_secs(1) }.validate().is_err());
    }
}
