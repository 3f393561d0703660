//! How much work an experiment is, estimated from its file before anything is expanded or
//! run: variants, runs, events per run, time on one core and peak memory.
//!
//! Every figure is arithmetic on the spec (no replica, user or sweep value is expanded), so an
//! experiment asking for 4 billion replicas is refused in microseconds instead of allocating.
//! The limits:
//!
//! | limit | kind | value |
//! |---|---|---|
//! | peak memory of the runs at once | error | [`MAX_MEMORY_BYTES`] (16 GiB) |
//! | variants of a sweep | error | [`MAX_VARIANTS`] |
//! | backends in one variant | error | [`MAX_BACKENDS`] |
//! | open-loop arrival rate, with sweeps and the timeline | error | [`MAX_RATE_PER_S`] (one per nanosecond) |
//! | time on one core for the whole experiment | warning | [`SOFT_LIMIT_CORE_SECONDS`] (1 hour) |
//!
//! The estimates are upper bounds of the usual kind: open-loop traffic at its peak rate, every
//! attempt retried as often as allowed, a closed loop as if answers were instant. Declared
//! users cost nothing until they send: the users-affected tables hold the users seen, at most
//! one per request; a closed loop's users are state from the start.

use std::fmt;

use crate::locate::FieldPath;
use crate::problem::{Problem, Severity};
use crate::spec::{ActionSpec, ArrivalsSpec, Experiment, QueueSpec, StackSpec, SweepAxis};

/// The largest estimated peak memory an experiment may need: 16 GiB.
pub const MAX_MEMORY_BYTES: f64 = 16.0 * (1u64 << 30) as f64;

/// The most variants a sweep may have (each is a row of the report).
pub const MAX_VARIANTS: f64 = 1_000_000.0;

/// The most backends one variant may have.
pub const MAX_BACKENDS: f64 = 1_000_000.0;

/// The highest open-loop arrival rate \[requests·s⁻¹\] a run may reach: one per nanosecond.
/// The clock counts nanoseconds, so faster arrivals would pile up at one instant and the clock
/// would stop advancing. The bound covers the file's rates, a `Rate` sweep, and the timeline
/// (`SetRate`, and every `ScaleTraffic` factor above 1 applied together).
pub const MAX_RATE_PER_S: f64 = 1e9;

/// Above this many seconds on one core, `check` warns: 1 hour.
pub const SOFT_LIMIT_CORE_SECONDS: f64 = 3600.0;

/// Events per second one core handles on a full model (BENCHMARKS.md measures 11–14 M on
/// simple stacks; replays with time series and health checks run slower).
pub const EVENTS_PER_CORE_SECOND: f64 = 1.0e7;

/// Memory per backend \[bytes\]: its state, its policy view, its series (measured order).
const BYTES_PER_BACKEND: f64 = 2048.0;
/// Memory per request or closed-loop user in flight \[bytes\].
const BYTES_PER_REQUEST: f64 = 256.0;
/// Memory per user seen, in the users-affected table (a hash map entry) \[bytes\].
const BYTES_PER_USER_SEEN: f64 = 64.0;
/// Memory per backend per time-series window \[bytes\].
const BYTES_PER_WINDOW_BACKEND: f64 = 64.0;
/// Fixed memory per run: histograms, streams, the engine \[bytes\].
const BYTES_PER_RUN: f64 = 4.0 * (1u64 << 20) as f64;
/// Report memory per run \[bytes\].
const BYTES_PER_RECORD: f64 = 4096.0;

/// The estimated size of an experiment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Work {
    /// Variants of the sweep.
    pub variants: f64,
    /// Runs: variants × replications.
    pub runs: f64,
    /// The most backends any variant has.
    pub backends: f64,
    /// Events in the largest run.
    pub events_per_run: f64,
    /// Seconds on one core for every run.
    pub core_seconds: f64,
    /// Peak memory with `jobs` runs at once \[bytes\].
    pub peak_memory_bytes: f64,
    /// The highest open-loop arrival rate a run can reach [requests·s⁻¹], an upper bound
    /// (see [`MAX_RATE_PER_S`]).
    pub peak_rate_per_s: f64,
    /// What drives `peak_rate_per_s`, for the error.
    rate_field: RateField,
}

/// Where the peak arrival rate comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum RateField {
    Clients,
    Sweep,
    Timeline,
}

impl Work {
    /// Estimates `experiment` (whose stack is `stack`) run `jobs` runs at a time;
    /// `trace_rows[i]` is the number of arrivals in client `i`'s trace, if it replays one.
    pub fn of(experiment: &Experiment, stack: &StackSpec, trace_rows: &[Option<usize>], jobs: usize) -> Work {
        let variants = experiment.sweep.iter().map(axis_len).product::<f64>().max(1.0);
        let runs = variants * f64::from(experiment.replications.max(1));
        let backends = max_backends(experiment, stack);
        let duration = experiment.duration.0.as_secs_f64();
        let rate_scale = rate_scale(experiment, stack);
        let mut requests = 0.0;
        // Closed-loop users (state from the start), and requests from declared populations
        // (each can bring one new user into the users-affected table).
        let mut users = 0.0;
        let (mut declared, mut population_requests): (f64, f64) = (0.0, 0.0);
        let mut attempts_per_request: f64 = 1.0;
        let mut per_attempt: f64 = 2.0;
        for (i, client) in stack.clients.iter().enumerate() {
            let before = requests;
            requests += rate_scale
                * match &client.arrivals {
                    ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s } => {
                        rate_per_s * duration
                    }
                    ArrivalsSpec::Schedule { points, .. } => {
                        points.iter().map(|p| p.1).fold(0.0, f64::max) * duration
                    }
                    ArrivalsSpec::Trace { .. } => trace_rows.get(i).copied().flatten().unwrap_or(0) as f64,
                    ArrivalsSpec::Closed { users: n, think } => {
                        users += f64::from(*n);
                        f64::from(*n) * per(duration, think.0.as_secs_f64())
                    }
                };
            if let Some(n) = client.users {
                declared = declared.max(n as f64);
                population_requests += requests - before;
            }
            if let Some(retry) = &client.retry {
                attempts_per_request = attempts_per_request.max(f64::from(retry.max_attempts));
            }
            if let Some(hedge) = &client.hedge {
                attempts_per_request = attempts_per_request.max(f64::from(hedge.max_attempts));
            }
            if client.timeout.is_some() {
                per_attempt = 3.0;
            }
        }
        if stack.database.is_some() {
            per_attempt += 1.0;
        }
        // Per attempt: its arrival and its completion (or reject); a timer with a timeout; a
        // query with a database.
        let attempts = requests * attempts_per_request;
        let mut events = attempts * per_attempt;
        if let Some(check) = stack.health.as_ref().and_then(|h| h.check.as_ref()) {
            let interval = check.interval.map_or(2.0, |i| i.0.as_secs_f64());
            events += backends * per(duration, interval) * 2.0;
        }
        let windows = experiment.observe.as_ref().map_or(0.0, |o| per(duration, o.window.0.as_secs_f64()));
        events += windows;
        // Requests in flight: bounded by workers and queues, unless a queue is unbounded.
        let bounded: Option<f64> = stack
            .backends
            .iter()
            .map(|b| match b.queue {
                QueueSpec::Bounded(n) => Some(f64::from(b.replicas) * (f64::from(b.workers) + f64::from(n))),
                QueueSpec::Unbounded => None,
            })
            .sum();
        let in_flight = bounded.unwrap_or(attempts).min(attempts) + users;
        // Users seen: no more than declared, nor than the requests that could bring them.
        let users_seen = declared.min(population_requests);
        let per_run = BYTES_PER_RUN
            + backends * BYTES_PER_BACKEND
            + in_flight * BYTES_PER_REQUEST
            + users_seen * BYTES_PER_USER_SEEN
            + windows * backends * BYTES_PER_WINDOW_BACKEND;
        let (peak_rate_per_s, rate_field) = peak_rate(experiment, stack, rate_scale);
        let at_once = runs.min(jobs.max(1) as f64);
        Work {
            variants,
            runs,
            backends,
            events_per_run: events,
            core_seconds: runs * events / EVENTS_PER_CORE_SECOND,
            peak_memory_bytes: per_run * at_once + runs * BYTES_PER_RECORD,
            peak_rate_per_s,
            rate_field,
        }
    }

    /// The limits this work exceeds: errors for what cannot run, a warning for what will take
    /// long. Each names the field that drives it.
    pub fn problems(&self) -> Vec<Problem> {
        let mut problems = Vec::new();
        let root = FieldPath::root();
        if self.variants > MAX_VARIANTS {
            problems.push(Problem {
                path: root.field("sweep"),
                severity: Severity::Error,
                message: format!(
                    "the sweep has {} variants; at most {} can run: use fewer values, or a coarser step",
                    sci(self.variants),
                    sci(MAX_VARIANTS)
                ),
            });
        }
        if self.backends > MAX_BACKENDS {
            problems.push(Problem {
                path: root.field("stack").field("backends"),
                severity: Severity::Error,
                message: format!(
                    "{} backends in one variant; at most {} can be simulated",
                    sci(self.backends),
                    sci(MAX_BACKENDS)
                ),
            });
        }
        if self.peak_rate_per_s > MAX_RATE_PER_S {
            let (path, what) = match self.rate_field {
                RateField::Clients => (root.field("stack").field("clients"), "the clients' rates"),
                RateField::Sweep => (root.field("sweep"), "the Rate sweep"),
                RateField::Timeline => (root.field("timeline"), "SetRate and ScaleTraffic in the timeline"),
            };
            problems.push(Problem {
                path,
                severity: Severity::Error,
                message: format!(
                    "{what} bring arrivals to {} per second; the clock counts nanoseconds, so at most {} per second can be simulated (faster arrivals would all happen at the same instant)",
                    sci(self.peak_rate_per_s),
                    sci(MAX_RATE_PER_S)
                ),
            });
        }
        if problems.is_empty() && self.peak_memory_bytes > MAX_MEMORY_BYTES {
            problems.push(Problem {
                path: root,
                severity: Severity::Error,
                message: format!(
                    "this needs about {} of memory ({}); at most {} is allowed: fewer backends, users, replications or variants, or bounded queues",
                    bytes(self.peak_memory_bytes),
                    self,
                    bytes(MAX_MEMORY_BYTES)
                ),
            });
        } else if problems.is_empty() && self.core_seconds > SOFT_LIMIT_CORE_SECONDS {
            problems.push(Problem {
                path: FieldPath::root().field("duration"),
                severity: Severity::Warning,
                message: format!("a long experiment: {self}"),
            });
        }
        problems
    }
}

impl fmt::Display for Work {
    /// "≈ 3.6e12 events per run, about 19 days on one core, peak memory about 120 MiB".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "≈ {} events per run, {} on one core, peak memory about {}",
            sci(self.events_per_run),
            span(self.core_seconds),
            bytes(self.peak_memory_bytes)
        )
    }
}

/// How many spans of `span` seconds fit in `total`; none for a zero span (validation reports
/// that one).
fn per(total: f64, span: f64) -> f64 {
    if span > 0.0 { total / span } else { 0.0 }
}

/// Values of one sweep axis, counted without expanding it.
fn axis_len(axis: &SweepAxis) -> f64 {
    match axis {
        SweepAxis::Policy(v) => v.len() as f64,
        SweepAxis::Rate { values: Some(v), .. } => v.len() as f64,
        SweepAxis::Rate { from: Some(from), to: Some(to), step: Some(step), .. } if *step > 0.0 => {
            ((to - from) / step + 1e-9).floor().max(0.0) + 1.0
        }
        SweepAxis::Rate { .. } => 1.0,
        SweepAxis::Replicas { values, .. } | SweepAxis::Workers { values, .. } => values.len() as f64,
        SweepAxis::Queue { values, .. } => values.len() as f64,
        SweepAxis::Weights { values, .. } => values.len() as f64,
        SweepAxis::Protection(values) => values.len() as f64,
        SweepAxis::ServiceScale { values, .. } | SweepAxis::Target { values, .. } => values.len() as f64,
        SweepAxis::MinReplicas { values, .. } => values.len() as f64,
        SweepAxis::Provision { values, .. } => values.len() as f64,
        SweepAxis::Discipline { values, .. } => values.len() as f64,
        SweepAxis::RetryThrottling { values } => values.len() as f64,
        SweepAxis::Instances(values) => values.len() as f64,
        SweepAxis::Connections(values) => values.len() as f64,
        SweepAxis::ZoneAware(values) => values.len() as f64,
    }
    .max(1.0)
}

/// The most backends any variant has: replicas as written, or as the largest value a
/// `Replicas` or `Weights` axis gives a group.
fn max_backends(experiment: &Experiment, stack: &StackSpec) -> f64 {
    stack
        .backends
        .iter()
        .map(|b| {
            // A fleet group has slots for twice its largest fleet (see `build::fleet_shapes`).
            let mut replicas = match &b.autoscale {
                Some(crate::spec::AutoscaleSpec::Hpa { max, .. }) => 2.0 * f64::from(b.replicas.max(*max)),
                None if crate::build::is_dynamic(b) => 2.0 * f64::from(b.replicas),
                None => f64::from(b.replicas),
            };
            for axis in &experiment.sweep {
                let applies = |backend: &Option<String>| backend.as_ref().is_none_or(|n| *n == b.name);
                match axis {
                    SweepAxis::Replicas { backend, values } if applies(backend) => {
                        replicas = values.iter().copied().max().map_or(replicas, f64::from);
                    }
                    SweepAxis::Weights { backend, values } if applies(backend) => {
                        replicas = values.iter().map(Vec::len).max().map_or(replicas, |n| n as f64);
                    }
                    _ => {}
                }
            }
            replicas
        })
        .sum()
}

/// The highest total open-loop rate a run can reach, an upper bound, and what drives it: the
/// clients' peak rates raised by a `Rate` sweep (`rate_scale`), or a `SetRate`, times every
/// `ScaleTraffic` factor above 1 (they compound).
fn peak_rate(experiment: &Experiment, stack: &StackSpec, rate_scale: f64) -> (f64, RateField) {
    let clients: f64 = stack
        .clients
        .iter()
        .map(|c| match &c.arrivals {
            ArrivalsSpec::Poisson { rate_per_s } | ArrivalsSpec::Deterministic { rate_per_s } => *rate_per_s,
            ArrivalsSpec::Schedule { points, .. } => points.iter().map(|p| p.1).fold(0.0, f64::max),
            ArrivalsSpec::Trace { .. } | ArrivalsSpec::Closed { .. } => 0.0,
        })
        .sum();
    let swept = clients * rate_scale;
    let (mut set, mut scale) = (0.0_f64, 1.0_f64);
    for entry in &experiment.timeline {
        match entry.action {
            ActionSpec::SetRate(rate) => set = set.max(rate),
            ActionSpec::ScaleTraffic(factor) if factor > 1.0 => scale *= factor,
            _ => {}
        }
    }
    let peak = swept.max(set) * scale;
    let field = if clients > MAX_RATE_PER_S {
        RateField::Clients
    } else if swept > MAX_RATE_PER_S {
        RateField::Sweep
    } else {
        RateField::Timeline
    };
    (peak, field)
}

/// How much a `Rate` axis raises the file's open-loop rate at most.
fn rate_scale(experiment: &Experiment, stack: &StackSpec) -> f64 {
    let base: f64 = stack.clients.iter().map(|c| crate::build::open_loop_rate(&c.arrivals)).sum();
    experiment
        .sweep
        .iter()
        .filter_map(|axis| match axis {
            SweepAxis::Rate { .. } => axis.rate_bound(),
            _ => None,
        })
        .fold(1.0, |scale, top| if base > 0.0 { scale.max(top / base) } else { scale })
}

impl SweepAxis {
    /// The highest rate of a `Rate` axis, without expanding a range.
    fn rate_bound(&self) -> Option<f64> {
        match self {
            SweepAxis::Rate { values: Some(v), .. } => v.iter().copied().reduce(f64::max),
            SweepAxis::Rate { to: Some(to), .. } => Some(*to),
            _ => None,
        }
    }
}

/// `x` with three significant digits, in scientific notation from 10⁶.
fn sci(x: f64) -> String {
    if x < 1e6 { format!("{x:.0}") } else { format!("{x:.1e}") }
}

fn bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = b;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.0} {}", UNITS[unit])
}

fn span(seconds: f64) -> String {
    match seconds {
        s if s < 1.0 => "under a second".to_owned(),
        s if s < 120.0 => format!("about {s:.0} s"),
        s if s < 7200.0 => format!("about {:.0} min", s / 60.0),
        s if s < 172_800.0 => format!("about {:.0} hours", s / 3600.0),
        s if s < 3.0e9 => format!("about {:.0} days", s / 86_400.0),
        _ => "longer than a century".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn work(text: &str) -> Work {
        let experiment = crate::Experiment::parse(text, "t.ron").unwrap();
        let stack = experiment.stack.inline().unwrap().clone();
        Work::of(&experiment, &stack, &[None], 2)
    }

    const BASE: &str = r#"Experiment(name: "t", seed: 1, duration: "1h", replications: 5,
        stack: (clients: [(name: "u", arrivals: Poisson(rate_per_s: 100.0))], balancer: (policy: RoundRobin),
                backends: [(name: "app", replicas: REPLICAS, workers: 4, queue: Bounded(10), service: Constant("10ms"))]),
        SWEEP)"#;

    fn with(replicas: &str, sweep: &str) -> Work {
        work(&BASE.replace("REPLICAS", replicas).replace("SWEEP", sweep))
    }

    #[test]
    fn an_ordinary_experiment_is_small_and_has_no_problems() {
        let w = with("4", "");
        assert_eq!((w.variants, w.runs, w.backends), (1.0, 5.0, 4.0));
        assert_eq!(w.events_per_run, 100.0 * 3600.0 * 2.0);
        assert!(w.peak_memory_bytes < 64.0 * 1024.0 * 1024.0, "{w}");
        assert!(w.problems().is_empty(), "{:?}", w.problems());
    }

    #[test]
    fn four_billion_replicas_are_refused_without_expanding_them() {
        let problems = with("4294967295", "").problems();
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].path.to_string(), "stack.backends");
        assert_eq!(problems[0].severity, Severity::Error);
    }

    #[test]
    fn a_sweep_of_two_ten_thousand_step_axes_is_refused() {
        let sweep = "sweep: [Rate(from: 1.0, to: 10000.0, step: 1.0), ServiceScale(values: [1.0]), Replicas(values: [1, 2])],";
        let w = with("1", sweep);
        assert_eq!(w.variants, 20_000.0);
        let sweep = "sweep: [Rate(from: 1.0, to: 10000.0, step: 1.0), Workers(values: [RANGE])],";
        let range = (1..=200).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
        let w = with("1", &sweep.replace("RANGE", &range));
        assert_eq!(w.variants, 2_000_000.0);
        assert_eq!(w.problems()[0].path.to_string(), "sweep");
    }

    #[test]
    fn a_long_experiment_is_a_warning_naming_the_time() {
        let w = work(&BASE.replace("REPLICAS", "4").replace("SWEEP", "").replace("\"1h\"", "\"100000h\""));
        let problems = w.problems();
        assert_eq!(problems[0].severity, Severity::Warning, "{problems:?}");
        assert!(problems[0].message.contains("on one core"), "{}", problems[0].message);
    }

    #[test]
    fn a_billion_closed_loop_users_do_not_fit() {
        let text = BASE
            .replace("REPLICAS", "1")
            .replace("SWEEP", "")
            .replace("Poisson(rate_per_s: 100.0)", "Closed(users: 4294967295, think: \"1s\")");
        let problems = work(&text).problems();
        assert!(problems[0].message.contains("of memory"), "{problems:?}");
    }

    #[test]
    fn declared_users_cost_only_the_users_their_requests_can_bring() {
        let with_users = |rate: &str, users: &str, duration: &str| {
            work(
                &BASE
                    .replace("REPLICAS", "1")
                    .replace("SWEEP", "")
                    .replace(
                        "Poisson(rate_per_s: 100.0))",
                        &format!("Poisson(rate_per_s: {rate}), users: {users})"),
                    )
                    .replace("\"1h\"", duration),
            )
        };
        let plain = with("1", "");
        // 100/s for an hour: at most 360 000 users seen, whatever the population.
        let billion = with_users("100.0", "1000000000", "\"1h\"");
        assert!(billion.problems().is_empty(), "{:?}", billion.problems());
        let seen = billion.peak_memory_bytes - plain.peak_memory_bytes;
        assert_eq!(seen, 360_000.0 * BYTES_PER_USER_SEEN * 2.0, "two runs at once");
        // A small population costs no more than itself.
        let small = with_users("100.0", "500", "\"1h\"");
        assert_eq!(small.peak_memory_bytes - plain.peak_memory_bytes, 500.0 * BYTES_PER_USER_SEEN * 2.0);
        // A billion users actually seen do not fit.
        let problems = with_users("1000000.0", "1000000000", "\"4h\"").problems();
        assert!(problems[0].message.contains("of memory"), "{problems:?}");
    }

    #[test]
    fn arrivals_faster_than_the_clock_can_count_are_an_error_naming_what_drives_them() {
        let fast = |arrivals: &str, extra: &str| {
            work(
                &BASE
                    .replace("REPLICAS", "1")
                    .replace("SWEEP", extra)
                    .replace("Poisson(rate_per_s: 100.0)", arrivals),
            )
            .problems()
        };
        let at = |problems: &[Problem]| {
            assert_eq!(problems.len(), 1, "{problems:?}");
            assert_eq!(problems[0].severity, Severity::Error);
            assert!(problems[0].message.contains("at most 1.0e9 per second"), "{}", problems[0].message);
            problems[0].path.to_string()
        };
        assert_eq!(at(&fast("Poisson(rate_per_s: 1e308)", "")), "stack.clients");
        assert_eq!(at(&fast("Deterministic(rate_per_s: 2e9)", "")), "stack.clients");
        assert_eq!(at(&fast("Poisson(rate_per_s: 100.0)", "sweep: [Rate(values: [10.0, 1e308])],")), "sweep");
        let timeline =
            "timeline: [(at: \"1m\", action: ScaleTraffic(1e5)), (at: \"2m\", action: ScaleTraffic(1e5))],";
        assert_eq!(at(&fast("Poisson(rate_per_s: 100.0)", timeline)), "timeline");
        let timeline = "timeline: [(at: \"1m\", action: SetRate(1e12))],";
        assert_eq!(at(&fast("Poisson(rate_per_s: 100.0)", timeline)), "timeline");
        // One per nanosecond is the limit, not past it; slowing down never counts.
        assert!(fast("Deterministic(rate_per_s: 1e9)", "").iter().all(|p| p.severity != Severity::Error));
        let timeline =
            "timeline: [(at: \"1m\", action: ScaleTraffic(1e-9)), (at: \"2m\", action: ScaleTraffic(1e6))],";
        assert!(fast("Poisson(rate_per_s: 100.0)", timeline).iter().all(|p| p.severity != Severity::Error));
    }
}
