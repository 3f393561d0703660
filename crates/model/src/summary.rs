//! What a run measured: the summary types a run returns.

use std::time::Duration;

use crate::fleet::FleetSummary;
use crate::metrics::Latency;
use crate::series::Window;
use crate::topology::TopologySummary;

/// Response-time statistics of successful requests, in seconds (NaN when there were none).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LatencySummary {
    /// Mean (exact).
    pub mean_s: f64,
    /// Median.
    pub p50_s: f64,
    /// 90th percentile.
    pub p90_s: f64,
    /// 99th percentile.
    pub p99_s: f64,
    /// 99.9th percentile.
    pub p999_s: f64,
    /// Largest.
    pub max_s: f64,
}

impl LatencySummary {
    pub(crate) fn of(latency: &Latency) -> Self {
        LatencySummary {
            mean_s: latency.mean_s(),
            p50_s: latency.quantile_s(0.5),
            p90_s: latency.quantile_s(0.9),
            p99_s: latency.quantile_s(0.99),
            p999_s: latency.quantile_s(0.999),
            max_s: latency.max_s(),
        }
    }
}

/// What one backend saw during the measured period. Counts are of attempts.
#[derive(Clone, Debug, PartialEq)]
pub struct BackendSummary {
    /// Backend name.
    pub name: String,
    /// Attempts the balancer sent here.
    pub routed: u64,
    /// Attempts answered successfully.
    pub completed: u64,
    /// Attempts turned away: full queue, queue timeout, or priority shedding.
    pub rejected: u64,
    /// Attempts refused or reset because the backend was down.
    pub failed: u64,
    /// Busy worker-time over available worker-time (0..=1).
    pub utilization: f64,
    /// Time-averaged number of requests waiting.
    pub queue_length_mean: f64,
    /// Fraction of all routed attempts sent here.
    pub share: f64,
    /// `rejected / routed`.
    pub rejected_ratio: f64,
}

/// What the database did during the measured period.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct DatabaseSummary {
    /// Busy database workers over database workers.
    pub utilization: f64,
    /// Queries served (warm-up included).
    pub queries: u64,
    /// Mean time a counted request's query waited for a connection and a database worker \[s\]
    /// (NaN without queries).
    pub wait_mean_s: f64,
}

/// What one run measured. Counts cover requests that arrived after warm-up; time averages
/// cover the time after warm-up.
///
/// Conservation: `arrived = completed + rejected + timed_out + failed + in_flight`.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSummary {
    /// Simulated time measured (duration minus warm-up).
    pub measured: Duration,
    /// Events the engine handled, warm-up included.
    pub events: u64,
    /// Requests that reached the balancer.
    pub arrived: u64,
    /// Requests answered successfully.
    pub completed: u64,
    /// Requests whose last attempt was answered 503 at once: a full queue, a queue timeout,
    /// or no available backend.
    pub rejected: u64,
    /// Requests whose last attempt the client gave up on.
    pub timed_out: u64,
    /// Requests whose last attempt failed: refused or reset by a backend that was down.
    pub failed: u64,
    /// Requests still unanswered when the run ended.
    pub in_flight: u64,
    /// Attempts sent for the counted requests (first tries and retries).
    pub attempts: u64,
    /// Retries scheduled for the counted requests.
    pub retries: u64,
    /// Response time of successful requests (from reaching the balancer to the response).
    pub response_time: LatencySummary,
    /// Mean time successful requests waited in a queue \[s\].
    pub wait_time_mean_s: f64,
    /// Successful responses per second of measured time.
    pub throughput_per_s: f64,
    /// Arrivals per second of measured time.
    pub arrival_rate_per_s: f64,
    /// Time-averaged attempts in the stack (queued or in service): Little's L.
    pub in_system_mean: f64,
    /// Worker time spent on attempts whose client had already given up, over all worker time.
    pub wasted_work_ratio: f64,
    /// Users (of declared populations) active during the incident interval.
    pub users_active: u64,
    /// Of those, users with at least one failed or too-slow request in the interval.
    pub users_affected: u64,
    /// Per backend, in balancer order.
    pub backends: Vec<BackendSummary>,
    /// The database, if there is one.
    pub database: Option<DatabaseSummary>,
    /// The time series, if windows were asked for.
    pub windows: Vec<Window>,
    /// Per fleet group (autoscaling, lifecycle, deploys): cost and scaling; empty without.
    pub fleet: Vec<FleetSummary>,
    /// What the overload mechanisms did, when any is configured.
    pub overload: Option<OverloadSummary>,
    /// The balancer tier (instances, subsets, connections, zones), unless it is one balancer
    /// over every backend picking per request with no zones.
    pub topology: Option<TopologySummary>,
    /// Per request class, client by client, when some client declares classes or some
    /// backend sheds by priority (a client without classes then has one, `default`); empty
    /// otherwise.
    pub classes: Vec<ClassSummary>,
}

/// What one request class saw during the measured period. Counts are of requests, by their
/// final outcome: `arrived = completed + errors + in_flight`.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassSummary {
    /// The class's name (`default` for a client that declares none).
    pub name: String,
    /// Its client's name.
    pub client: String,
    /// Its priority.
    pub priority: crate::classes::Priority,
    /// Its service-time multiplier.
    pub service_scale: f64,
    /// Requests of the class that reached the balancer.
    pub arrived: u64,
    /// Of those, answered successfully.
    pub completed: u64,
    /// Of those, ended rejected, timed out or failed.
    pub errors: u64,
    /// Of the errors, requests a backend shed by priority (answered 503).
    pub shed: u64,
    /// Of those arrived, still unanswered when the run ended.
    pub in_flight: u64,
    /// Response time of its successful requests.
    pub response_time: LatencySummary,
}

impl ClassSummary {
    /// Requests that did not succeed, over arrivals (0 without arrivals).
    pub fn error_ratio(&self) -> f64 {
        if self.arrived == 0 { 0.0 } else { self.errors as f64 / self.arrived as f64 }
    }

    /// Requests shed by priority, over arrivals (0 without arrivals).
    pub fn shed_ratio(&self) -> f64 {
        if self.arrived == 0 { 0.0 } else { self.shed as f64 / self.arrived as f64 }
    }
}

/// What the overload mechanisms did during the measured period. Each request they ended is
/// also counted in `rejected`, so conservation is unchanged.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct OverloadSummary {
    /// Requests ended by each mechanism, and retries refused by `max_retries`.
    pub counts: crate::series::OverloadCounts,
    /// Time the client breakers spent open over measured time, averaged over the clients
    /// that have one (0 without breakers).
    pub breaker_open_ratio: f64,
    /// The adaptive concurrency limit averaged over measured time and over the backends that
    /// have one; `None` when none has.
    pub concurrency_limit_mean: Option<f64>,
}

impl RunSummary {
    /// Requests that did not succeed, over arrivals.
    pub fn error_ratio(&self) -> f64 {
        let errors = self.rejected + self.timed_out + self.failed;
        if self.arrived == 0 { 0.0 } else { errors as f64 / self.arrived as f64 }
    }

    /// Requests a backend shed by priority (a part of `rejected`), over arrivals: 0 without
    /// request classes or shedding.
    pub fn priority_shed_ratio(&self) -> f64 {
        let shed: u64 = self.classes.iter().map(|c| c.shed).sum();
        if self.arrived == 0 { 0.0 } else { shed as f64 / self.arrived as f64 }
    }

    /// Attempts per request (1 without retries): retry amplification.
    pub fn attempts_per_request(&self) -> f64 {
        if self.arrived == 0 { f64::NAN } else { self.attempts as f64 / self.arrived as f64 }
    }
}
