//! Every number a report holds, by type: its name, unit, which way is better, and how to show it.
//!
//! Reports keep each metric under its name, the JSON key (`response_time_p99_s`; the names are
//! a public contract and never change). Code reads and writes them through these types, so a
//! misspelt metric is a compile error rather than a panic at run time:
//!
//! - [`Metric`]: whole-stack metrics of a run, and so of a variant (`report.variants[i]`);
//! - [`BackendMetric`]: per-backend metrics (`report.variants[i].backends[b]`);
//! - [`ClassMetric`]: per-request-class metrics (`report.variants[i].classes[c]`);
//! - [`WindowMetric`]: metrics of one time-series window (`report.timeseries`).
//!
//! ```
//! use stacksim::Metric;
//! use stacksim::metric::{Better, Style, Unit};
//! use stacksim::stats::Estimate;
//!
//! let p99 = Metric::ResponseTimeP99;
//! assert_eq!(p99.name(), "response_time_p99_s");
//! assert_eq!((p99.unit(), p99.better()), (Unit::Seconds, Better::Lower));
//! assert_eq!("response_time_p99_s".parse::<Metric>(), Ok(Metric::ResponseTimeP99));
//! let shown = p99.show(Estimate { mean: 0.5203, ci95: 0.0112 }, Style::Terminal);
//! assert_eq!(shown.to_string(), "520.3 ms ±11.2");
//! // Alert rules add a metric each, named after the rule.
//! assert_eq!(Metric::time_to_detect("errors-5xx").name(), "time_to_detect_errors_5xx_s");
//! ```

mod format;

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use format::{Shown, Style, readable_duration};

use crate::stats::Estimate;

/// What a metric counts or measures, and so how it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Unit {
    /// A time \[s\]; shown in s, ms or µs, whichever reads best.
    Seconds,
    /// A fraction of a whole (0 to 1); shown as a percentage.
    Ratio,
    /// A rate \[s⁻¹\].
    PerSecond,
    /// A whole number of requests or users (a mean of them over replications).
    Count,
    /// Any other number: a mean count, attempts per request.
    Number,
}

/// Which way a metric improves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Better {
    /// Smaller is better: response times, error ratios, time to detect.
    Lower,
    /// Larger is better: throughput, completed requests.
    Higher,
    /// Neither: a description of the load (arrivals, utilization, share).
    Neither,
}

/// A whole-stack metric of a run; over a variant's replications each is an
/// [`Estimate`] (`report.variants[i].metric(Metric::ResponseTimeP99)`).
///
/// Each has a fixed name but [`Metric::TimeToDetect`], of which an experiment has one per alert
/// rule. Response and wait times are of successful requests.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Metric {
    /// `response_time_mean_s`: mean response time \[s\].
    ResponseTimeMean,
    /// `response_time_p50_s`: median response time \[s\].
    ResponseTimeP50,
    /// `response_time_p90_s`: 90th percentile of response time \[s\].
    ResponseTimeP90,
    /// `response_time_p99_s`: 99th percentile of response time \[s\].
    ResponseTimeP99,
    /// `response_time_p999_s`: 99.9th percentile of response time \[s\].
    ResponseTimeP999,
    /// `response_time_max_s`: longest response time \[s\].
    ResponseTimeMax,
    /// `wait_time_mean_s`: mean time spent queued at a backend \[s\].
    WaitTimeMean,
    /// `throughput_per_s`: successful responses per second \[s⁻¹\].
    Throughput,
    /// `arrival_rate_per_s`: requests arrived per second \[s⁻¹\].
    ArrivalRate,
    /// `in_system_mean`: mean number of requests in the stack (Little's L).
    InSystemMean,
    /// `arrived`: requests that reached the balancer.
    Arrived,
    /// `completed`: requests answered successfully.
    Completed,
    /// `rejected`: requests answered 503 (full queue, no backend, queue timeout).
    Rejected,
    /// `timed_out`: requests whose client gave up.
    TimedOut,
    /// `failed`: requests that failed at a backend.
    Failed,
    /// `in_flight`: requests still in the stack when the run ended.
    InFlight,
    /// `rejected_ratio`: rejected over arrived.
    RejectedRatio,
    /// `timed_out_ratio`: timed out over arrived.
    TimedOutRatio,
    /// `error_ratio`: rejected, timed out and failed over arrived.
    ErrorRatio,
    /// `attempts_per_request`: attempts sent per request, retries included.
    AttemptsPerRequest,
    /// `wasted_work_ratio`: service time spent on attempts whose client had given up, over all.
    WastedWorkRatio,
    /// `users_active`: users with at least one request (over the incident, if one is named).
    UsersActive,
    /// `users_affected`: users with a failed or too-slow request.
    UsersAffected,
    /// `users_affected_ratio`: users affected over users active.
    UsersAffectedRatio,
    /// `database_utilization`: busy database worker-time over available worker-time.
    DatabaseUtilization,
    /// `database_wait_mean_s`: mean wait for a database connection or worker \[s\].
    DatabaseWaitMean,
    /// `warmup_s`: the warm-up MSER-5 chose, with `warmup: "auto"` \[s\].
    Warmup,
    /// `overflow_ratio`: requests answered 503 by a circuit breaker's threshold over arrived
    /// (reported when an overload mechanism is configured, as are the five below).
    OverflowRatio,
    /// `limited_ratio`: requests answered 429 by a rate limit over arrived.
    LimitedRatio,
    /// `shed_ratio`: requests rejected by the balancer's admission control over arrived.
    ShedRatio,
    /// `short_circuited_ratio`: requests a client's open breaker held back over arrived.
    ShortCircuitedRatio,
    /// `throttled_ratio`: requests a client's adaptive throttling held back over arrived.
    ThrottledRatio,
    /// `breaker_open_ratio`: time client breakers spent open over measured time.
    BreakerOpenRatio,
    /// `concurrency_limited_ratio`: requests answered 503 by a backend's adaptive concurrency
    /// limit over arrived (reported, as the one below, when a backend has such a limit).
    ConcurrencyLimitedRatio,
    /// `concurrency_limit_mean`: the adaptive concurrency limit, averaged over measured time
    /// and over the backends that have one.
    ConcurrencyLimitMean,
    /// `replica_seconds`: pod-seconds of every pod that existed (scheduled, starting, ready
    /// or draining) over the measured period, summed over fleet groups: the cost.
    ReplicaSeconds,
    /// `replica_hours`: `replica_seconds` / 3600.
    ReplicaHours,
    /// `ready_replicas_mean`: time-averaged ready pods of the fleet groups.
    ReadyReplicasMean,
    /// `scale_events`: times an autoscaler changed a group's replica count.
    ScaleEvents,
    /// `time_to_capacity_s`: the longest time from the autoscaler first measuring load above
    /// target until the ready pods reached what it asked for \[s\]; no value if it never had
    /// to catch up.
    TimeToCapacity,
    /// `balancer_instances`: balancer instances (with a balancer topology).
    BalancerInstances,
    /// `cross_zone_ratio`: attempts whose client and backend are in different zones, over
    /// attempts with both zones known (when zones are configured).
    CrossZoneRatio,
    /// `subset_connections_min`: instances holding the least-connected backend in their subset.
    SubsetConnectionsMin,
    /// `subset_connections_mean`: instances per backend, on average.
    SubsetConnectionsMean,
    /// `subset_connections_max`: instances holding the most-connected backend.
    SubsetConnectionsMax,
    /// `connections_open_mean`: time-averaged open connections, all backends together.
    ConnectionsOpenMean,
    /// `reconnects`: connections opened after warm-up (with `KeepAlive` or `Http2`).
    Reconnects,
    /// `priority_shed_ratio`: requests a backend shed by priority (answered 503; part of
    /// `rejected`) over arrived (reported when some variant has request classes or shedding).
    PriorityShedRatio,
    /// `time_to_detect_<alert>_s`: from the incident's start until the alert rule fired \[s\];
    /// no value in a run where it never fired. Holds the rule's name with `-` written `_`.
    TimeToDetect(String),
}

/// Name, unit, direction and description of a metric with a fixed name.
type About = (&'static str, Unit, Better, &'static str);

/// The accessors of a metric kind whose [`About`] table (its `about`) says everything, and
/// whose `ALL` lists every metric: `name` (e.g. `$example`), `from_name`, `unit`, `better`,
/// `description` and `show`.
macro_rules! accessors {
    ($kind:ident, $example:literal) => {
        #[doc = concat!("The name in reports: `", $example, "`.")]
        pub fn name(self) -> &'static str {
            self.about().0
        }

        /// The metric of this kind named `name` in a report, if this version knows it.
        pub fn from_name(name: &str) -> Option<$kind> {
            $kind::ALL.into_iter().find(|m| m.name() == name)
        }

        /// Its unit.
        pub fn unit(self) -> Unit {
            self.about().1
        }

        /// Which way it improves.
        pub fn better(self) -> Better {
            self.about().2
        }

        /// What it is, in a few words.
        pub fn description(self) -> &'static str {
            self.about().3
        }

        /// `estimate` as a table shows it in `style`, in this metric's unit.
        pub fn show(self, estimate: Estimate, style: Style) -> Shown {
            format::show(estimate, self.unit(), style)
        }
    };
}

impl Metric {
    /// Every metric with a fixed name, in the order a report lists them.
    pub const FIXED: [Metric; 48] = [
        Metric::ResponseTimeMean,
        Metric::ResponseTimeP50,
        Metric::ResponseTimeP90,
        Metric::ResponseTimeP99,
        Metric::ResponseTimeP999,
        Metric::ResponseTimeMax,
        Metric::WaitTimeMean,
        Metric::Throughput,
        Metric::ArrivalRate,
        Metric::InSystemMean,
        Metric::Arrived,
        Metric::Completed,
        Metric::Rejected,
        Metric::TimedOut,
        Metric::Failed,
        Metric::InFlight,
        Metric::RejectedRatio,
        Metric::TimedOutRatio,
        Metric::ErrorRatio,
        Metric::AttemptsPerRequest,
        Metric::WastedWorkRatio,
        Metric::UsersActive,
        Metric::UsersAffected,
        Metric::UsersAffectedRatio,
        Metric::DatabaseUtilization,
        Metric::DatabaseWaitMean,
        Metric::Warmup,
        Metric::OverflowRatio,
        Metric::LimitedRatio,
        Metric::ShedRatio,
        Metric::ShortCircuitedRatio,
        Metric::ThrottledRatio,
        Metric::BreakerOpenRatio,
        Metric::ConcurrencyLimitedRatio,
        Metric::ConcurrencyLimitMean,
        Metric::ReplicaSeconds,
        Metric::ReplicaHours,
        Metric::ReadyReplicasMean,
        Metric::ScaleEvents,
        Metric::TimeToCapacity,
        Metric::BalancerInstances,
        Metric::CrossZoneRatio,
        Metric::SubsetConnectionsMin,
        Metric::SubsetConnectionsMean,
        Metric::SubsetConnectionsMax,
        Metric::ConnectionsOpenMean,
        Metric::Reconnects,
        Metric::PriorityShedRatio,
    ];

    /// The time-to-detect metric of the alert rule `alert` (`-` in its name becomes `_`).
    pub fn time_to_detect(alert: &str) -> Metric {
        Metric::TimeToDetect(alert.replace('-', "_"))
    }

    fn about(&self) -> About {
        use Better::{Higher, Lower, Neither};
        use Unit::{Count, Number, PerSecond, Ratio, Seconds};
        match self {
            Metric::ResponseTimeMean => ("response_time_mean_s", Seconds, Lower, "mean response time"),
            Metric::ResponseTimeP50 => ("response_time_p50_s", Seconds, Lower, "median response time"),
            Metric::ResponseTimeP90 => ("response_time_p90_s", Seconds, Lower, "p90 response time"),
            Metric::ResponseTimeP99 => ("response_time_p99_s", Seconds, Lower, "p99 response time"),
            Metric::ResponseTimeP999 => ("response_time_p999_s", Seconds, Lower, "p99.9 response time"),
            Metric::ResponseTimeMax => ("response_time_max_s", Seconds, Lower, "longest response time"),
            Metric::WaitTimeMean => ("wait_time_mean_s", Seconds, Lower, "mean time queued at a backend"),
            Metric::Throughput => ("throughput_per_s", PerSecond, Higher, "successful responses per second"),
            Metric::ArrivalRate => ("arrival_rate_per_s", PerSecond, Neither, "requests arrived per second"),
            Metric::InSystemMean => ("in_system_mean", Number, Lower, "mean requests in the stack"),
            Metric::Arrived => ("arrived", Count, Neither, "requests arrived"),
            Metric::Completed => ("completed", Count, Higher, "requests answered successfully"),
            Metric::Rejected => ("rejected", Count, Lower, "requests rejected (503)"),
            Metric::TimedOut => ("timed_out", Count, Lower, "requests whose client gave up"),
            Metric::Failed => ("failed", Count, Lower, "requests failed at a backend"),
            Metric::InFlight => ("in_flight", Count, Neither, "requests in the stack at the end"),
            Metric::RejectedRatio => ("rejected_ratio", Ratio, Lower, "rejected over arrived"),
            Metric::TimedOutRatio => ("timed_out_ratio", Ratio, Lower, "timed out over arrived"),
            Metric::ErrorRatio => {
                ("error_ratio", Ratio, Lower, "rejected, timed out and failed over arrived")
            }
            Metric::AttemptsPerRequest => {
                ("attempts_per_request", Number, Lower, "attempts per request, retries included")
            }
            Metric::WastedWorkRatio => {
                ("wasted_work_ratio", Ratio, Lower, "service time spent for clients that gave up")
            }
            Metric::UsersActive => ("users_active", Count, Neither, "users with a request"),
            Metric::UsersAffected => {
                ("users_affected", Count, Lower, "users with a failed or too-slow request")
            }
            Metric::UsersAffectedRatio => {
                ("users_affected_ratio", Ratio, Lower, "users affected over users active")
            }
            Metric::DatabaseUtilization => {
                ("database_utilization", Ratio, Neither, "busy database worker-time over available")
            }
            Metric::DatabaseWaitMean => {
                ("database_wait_mean_s", Seconds, Lower, "mean wait for the database")
            }
            Metric::Warmup => ("warmup_s", Seconds, Neither, "warm-up chosen by MSER-5"),
            Metric::OverflowRatio => {
                ("overflow_ratio", Ratio, Lower, "answered 503 by a circuit breaker over arrived")
            }
            Metric::LimitedRatio => {
                ("limited_ratio", Ratio, Lower, "answered 429 by a rate limit over arrived")
            }
            Metric::ShedRatio => ("shed_ratio", Ratio, Lower, "rejected by admission control over arrived"),
            Metric::ShortCircuitedRatio => {
                ("short_circuited_ratio", Ratio, Lower, "held back by an open client breaker over arrived")
            }
            Metric::ThrottledRatio => {
                ("throttled_ratio", Ratio, Lower, "held back by client throttling over arrived")
            }
            Metric::BreakerOpenRatio => {
                ("breaker_open_ratio", Ratio, Lower, "time client breakers spent open")
            }
            Metric::ConcurrencyLimitedRatio => (
                "concurrency_limited_ratio",
                Ratio,
                Lower,
                "answered 503 by an adaptive concurrency limit over arrived",
            ),
            Metric::ConcurrencyLimitMean => {
                ("concurrency_limit_mean", Number, Neither, "mean adaptive concurrency limit")
            }
            Metric::ReplicaSeconds => {
                ("replica_seconds", Number, Lower, "pod-seconds of the fleet groups (cost)")
            }
            Metric::ReplicaHours => ("replica_hours", Number, Lower, "pod-hours of the fleet groups (cost)"),
            Metric::ReadyReplicasMean => {
                ("ready_replicas_mean", Number, Neither, "mean ready pods of the fleet groups")
            }
            Metric::ScaleEvents => {
                ("scale_events", Count, Neither, "autoscaler changes of the replica count")
            }
            Metric::TimeToCapacity => {
                ("time_to_capacity_s", Seconds, Lower, "from load above target to enough ready pods")
            }
            Metric::BalancerInstances => ("balancer_instances", Number, Neither, "balancer instances"),
            Metric::CrossZoneRatio => {
                ("cross_zone_ratio", Ratio, Lower, "attempts crossing zones over attempts with zones")
            }
            Metric::SubsetConnectionsMin => (
                "subset_connections_min",
                Number,
                Neither,
                "instances connected to the least-connected backend",
            ),
            Metric::SubsetConnectionsMean => {
                ("subset_connections_mean", Number, Neither, "instances connected to a backend, on average")
            }
            Metric::SubsetConnectionsMax => (
                "subset_connections_max",
                Number,
                Neither,
                "instances connected to the most-connected backend",
            ),
            Metric::ConnectionsOpenMean => {
                ("connections_open_mean", Number, Neither, "time-averaged open connections")
            }
            Metric::Reconnects => ("reconnects", Number, Neither, "connections opened after warm-up"),
            Metric::PriorityShedRatio => {
                ("priority_shed_ratio", Ratio, Lower, "shed by a backend's priority shedding over arrived")
            }
            Metric::TimeToDetect(_) => {
                ("time_to_detect", Seconds, Lower, "from the incident's start until the alert fired")
            }
        }
    }

    /// The name in reports, JSON and CSV: `response_time_p99_s`, `time_to_detect_errors_5xx_s`.
    pub fn name(&self) -> Cow<'static, str> {
        match self {
            Metric::TimeToDetect(alert) => Cow::Owned(format!("time_to_detect_{alert}_s")),
            fixed => Cow::Borrowed(fixed.about().0),
        }
    }

    /// The metric named `name` in a report, if this version knows it.
    pub fn from_name(name: &str) -> Option<Metric> {
        if let Some(alert) = name.strip_prefix("time_to_detect_").and_then(|n| n.strip_suffix("_s")) {
            return Some(Metric::TimeToDetect(alert.to_owned()));
        }
        Metric::FIXED.into_iter().find(|m| m.about().0 == name)
    }

    /// The alert rule's name, for [`Metric::TimeToDetect`].
    pub fn alert(&self) -> Option<&str> {
        match self {
            Metric::TimeToDetect(alert) => Some(alert),
            _ => None,
        }
    }

    /// Its unit.
    pub fn unit(&self) -> Unit {
        self.about().1
    }

    /// Which way it improves.
    pub fn better(&self) -> Better {
        self.about().2
    }

    /// What it is, in a few words (`p99 response time`).
    pub fn description(&self) -> &'static str {
        self.about().3
    }

    /// `estimate` as a table shows it in `style`, in this metric's unit.
    pub fn show(&self, estimate: Estimate, style: Style) -> Shown {
        format::show(estimate, self.unit(), style)
    }

    /// A difference between two variants (`vs_baseline`) as a table shows it in `style`: as
    /// [`Metric::show`], with an explicit `+` on an increase (a decrease has its `-`).
    ///
    /// ```
    /// use stacksim::Metric;
    /// use stacksim::metric::Style;
    /// use stacksim::stats::Estimate;
    ///
    /// let p99 = Metric::ResponseTimeP99;
    /// let up = p99.show_difference(Estimate { mean: 0.03623, ci95: 0.00389 }, Style::Html);
    /// assert_eq!(up.to_string(), "+36.23 ms ±3.89");
    /// let down = p99.show_difference(Estimate { mean: -0.01672, ci95: 0.00144 }, Style::Terminal);
    /// assert_eq!(down.to_string(), "-16.72 ms ±1.44");
    /// ```
    pub fn show_difference(&self, difference: Estimate, style: Style) -> Shown {
        let mut shown = self.show(difference, style);
        if difference.mean > 0.0 {
            shown.value.insert(0, '+');
        }
        shown
    }
}

/// A per-backend metric of a run; over a variant's replications each is an [`Estimate`]
/// (`report.variants[i].backends[b].metric(BackendMetric::Utilization)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BackendMetric {
    /// `utilization`: busy worker-time over available worker-time.
    Utilization,
    /// `share`: the fraction of the balancer's requests routed to it.
    Share,
    /// `rejected_ratio`: requests it rejected over requests routed to it.
    RejectedRatio,
    /// `queue_length_mean`: mean number of requests waiting in its queue.
    QueueLengthMean,
    /// `routed`: requests routed to it.
    Routed,
    /// `completed`: requests it answered successfully.
    Completed,
    /// `rejected`: requests it rejected.
    Rejected,
    /// `subset_connections`: balancer instances whose subset holds it (with a subset).
    SubsetConnections,
    /// `connections_mean`: time-averaged connections open to it (with `KeepAlive`/`Http2`).
    ConnectionsMean,
}

impl BackendMetric {
    /// Every backend metric, in the order a report lists them.
    pub const ALL: [BackendMetric; 9] = [
        BackendMetric::Utilization,
        BackendMetric::Share,
        BackendMetric::RejectedRatio,
        BackendMetric::QueueLengthMean,
        BackendMetric::Routed,
        BackendMetric::Completed,
        BackendMetric::Rejected,
        BackendMetric::SubsetConnections,
        BackendMetric::ConnectionsMean,
    ];

    fn about(self) -> About {
        use Better::{Higher, Lower, Neither};
        use Unit::{Count, Number, Ratio};
        match self {
            BackendMetric::Utilization => {
                ("utilization", Ratio, Neither, "busy worker-time over available worker-time")
            }
            BackendMetric::Share => ("share", Ratio, Neither, "fraction of the requests routed to it"),
            BackendMetric::RejectedRatio => ("rejected_ratio", Ratio, Lower, "rejected over routed"),
            BackendMetric::QueueLengthMean => ("queue_length_mean", Number, Lower, "mean queue length"),
            BackendMetric::Routed => ("routed", Count, Neither, "requests routed to it"),
            BackendMetric::Completed => ("completed", Count, Higher, "requests it answered successfully"),
            BackendMetric::Rejected => ("rejected", Count, Lower, "requests it rejected"),
            BackendMetric::SubsetConnections => {
                ("subset_connections", Number, Neither, "balancer instances whose subset holds it")
            }
            BackendMetric::ConnectionsMean => {
                ("connections_mean", Number, Neither, "time-averaged connections open to it")
            }
        }
    }

    accessors!(BackendMetric, "utilization");
}

/// A per-request-class metric of a run; over a variant's replications each is an [`Estimate`]
/// (`report.variants[i].classes[c].metric(ClassMetric::ResponseTimeP99)`). Counts are of the
/// class's requests; response times of its successful ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClassMetric {
    /// `share`: the class's arrivals over its client's.
    Share,
    /// `arrived`: requests of the class that arrived.
    Arrived,
    /// `completed`: requests of the class answered successfully.
    Completed,
    /// `error_ratio`: its requests rejected, timed out or failed over its arrivals.
    ErrorRatio,
    /// `shed_ratio`: its requests a backend shed by priority over its arrivals.
    ShedRatio,
    /// `shed`: its requests a backend shed by priority.
    Shed,
    /// `response_time_mean_s`: mean response time \[s\].
    ResponseTimeMean,
    /// `response_time_p50_s`: median response time \[s\].
    ResponseTimeP50,
    /// `response_time_p90_s`: 90th percentile of response time \[s\].
    ResponseTimeP90,
    /// `response_time_p99_s`: 99th percentile of response time \[s\].
    ResponseTimeP99,
}

impl ClassMetric {
    /// Every class metric, in the order a report lists them.
    pub const ALL: [ClassMetric; 10] = [
        ClassMetric::Share,
        ClassMetric::Arrived,
        ClassMetric::Completed,
        ClassMetric::ErrorRatio,
        ClassMetric::ShedRatio,
        ClassMetric::Shed,
        ClassMetric::ResponseTimeMean,
        ClassMetric::ResponseTimeP50,
        ClassMetric::ResponseTimeP90,
        ClassMetric::ResponseTimeP99,
    ];

    fn about(self) -> About {
        use Better::{Higher, Lower, Neither};
        use Unit::{Count, Ratio, Seconds};
        match self {
            ClassMetric::Share => ("share", Ratio, Neither, "its arrivals over its client's"),
            ClassMetric::Arrived => ("arrived", Count, Neither, "its requests arrived"),
            ClassMetric::Completed => ("completed", Count, Higher, "its requests answered successfully"),
            ClassMetric::ErrorRatio => {
                ("error_ratio", Ratio, Lower, "its rejected, timed out and failed over its arrived")
            }
            ClassMetric::ShedRatio => {
                ("shed_ratio", Ratio, Lower, "its requests shed by priority over arrived")
            }
            ClassMetric::Shed => ("shed", Count, Lower, "its requests shed by priority"),
            ClassMetric::ResponseTimeMean => ("response_time_mean_s", Seconds, Lower, "mean response time"),
            ClassMetric::ResponseTimeP50 => ("response_time_p50_s", Seconds, Lower, "median response time"),
            ClassMetric::ResponseTimeP90 => ("response_time_p90_s", Seconds, Lower, "p90 response time"),
            ClassMetric::ResponseTimeP99 => ("response_time_p99_s", Seconds, Lower, "p99 response time"),
        }
    }

    accessors!(ClassMetric, "response_time_p99_s");
}

/// A metric of one time-series window (with `observe`), each a mean over replications in
/// `report.timeseries`. Ratios are over the requests that ended in the window.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WindowMetric {
    /// `start_s`: the window's start, from the start of the run \[s\].
    Start,
    /// `arrived`: requests arrived in the window.
    Arrived,
    /// `completed`: requests answered successfully in the window.
    Completed,
    /// `rejected`: requests rejected in the window.
    Rejected,
    /// `timed_out`: requests timed out in the window.
    TimedOut,
    /// `failed`: requests failed in the window.
    Failed,
    /// `attempts`: attempts sent in the window, retries included.
    Attempts,
    /// `error_ratio`: rejected, timed out and failed over the requests that ended.
    ErrorRatio,
    /// `response_time_p50_s`: median response time of the window's successes \[s\].
    ResponseTimeP50,
    /// `response_time_p99_s`: p99 response time of the window's successes \[s\].
    ResponseTimeP99,
    /// `database_utilization`: busy database worker-time over available.
    DatabaseUtilization,
    /// `users_active`: users with a request in the window.
    UsersActive,
    /// `users_affected`: users with a failed or too-slow request in the window.
    UsersAffected,
    /// `users_affected_ratio`: users affected over users active.
    UsersAffectedRatio,
    /// `overflowed`: requests answered 503 by a circuit breaker in the window (reported,
    /// like the four below, when an overload mechanism is configured).
    Overflowed,
    /// `limited`: requests answered 429 by a rate limit in the window.
    Limited,
    /// `shed`: requests rejected by admission control in the window.
    Shed,
    /// `held_back`: requests a client's breaker or throttle held back in the window.
    HeldBack,
    /// `breakers_open`: clients whose breaker was open or half-open at the window's end.
    BreakersOpen,
    /// `<backend>.share`: the backend's share of the requests routed in the window.
    Share(String),
    /// `<backend>.utilization`: the backend's busy worker-time over available.
    Utilization(String),
    /// `<backend>.queue_mean`: the backend's mean queue length.
    QueueMean(String),
    /// `<backend>.concurrency_limit`: the backend's adaptive concurrency limit at the window's
    /// end (reported for backends that have one).
    ConcurrencyLimit(String),
    /// `<client>/<class>.class_arrived`: requests of a request class that arrived in the window
    /// (reported, like the two below, when the stack has request classes).
    ClassArrived(String),
    /// `<client>/<class>.class_error_ratio`: the class's errors over its requests that ended.
    ClassErrorRatio(String),
    /// `<client>/<class>.class_p99_s`: p99 response time of the class's successes \[s\].
    ClassP99(String),
    /// `<group>.ready_replicas`: a fleet group's time-averaged ready (routable) pods.
    ReadyReplicas(String),
    /// `<group>.starting_replicas`: its pods scheduled or started but not ready.
    StartingReplicas(String),
    /// `<group>.draining_replicas`: its pods draining.
    DrainingReplicas(String),
    /// `<group>.deploy_progress`: at the window's end, its ready pods of the newest version
    /// over the replicas asked for (1 without a deploy).
    DeployProgress(String),
}

impl WindowMetric {
    /// Every window metric that is not per backend, in the order a report lists them.
    pub const FIXED: [WindowMetric; 19] = [
        WindowMetric::Start,
        WindowMetric::Arrived,
        WindowMetric::Completed,
        WindowMetric::Rejected,
        WindowMetric::TimedOut,
        WindowMetric::Failed,
        WindowMetric::Attempts,
        WindowMetric::ErrorRatio,
        WindowMetric::ResponseTimeP50,
        WindowMetric::ResponseTimeP99,
        WindowMetric::DatabaseUtilization,
        WindowMetric::UsersActive,
        WindowMetric::UsersAffected,
        WindowMetric::UsersAffectedRatio,
        WindowMetric::Overflowed,
        WindowMetric::Limited,
        WindowMetric::Shed,
        WindowMetric::HeldBack,
        WindowMetric::BreakersOpen,
    ];

    /// The name in reports and `timeseries.csv`: `error_ratio`, `app-0.share`.
    pub fn name(&self) -> Cow<'static, str> {
        Cow::Borrowed(match self {
            WindowMetric::Start => "start_s",
            WindowMetric::Arrived => "arrived",
            WindowMetric::Completed => "completed",
            WindowMetric::Rejected => "rejected",
            WindowMetric::TimedOut => "timed_out",
            WindowMetric::Failed => "failed",
            WindowMetric::Attempts => "attempts",
            WindowMetric::ErrorRatio => "error_ratio",
            WindowMetric::ResponseTimeP50 => "response_time_p50_s",
            WindowMetric::ResponseTimeP99 => "response_time_p99_s",
            WindowMetric::DatabaseUtilization => "database_utilization",
            WindowMetric::UsersActive => "users_active",
            WindowMetric::UsersAffected => "users_affected",
            WindowMetric::UsersAffectedRatio => "users_affected_ratio",
            WindowMetric::Overflowed => "overflowed",
            WindowMetric::Limited => "limited",
            WindowMetric::Shed => "shed",
            WindowMetric::HeldBack => "held_back",
            WindowMetric::BreakersOpen => "breakers_open",
            WindowMetric::Share(backend) => return Cow::Owned(format!("{backend}.share")),
            WindowMetric::Utilization(backend) => return Cow::Owned(format!("{backend}.utilization")),
            WindowMetric::QueueMean(backend) => return Cow::Owned(format!("{backend}.queue_mean")),
            WindowMetric::ConcurrencyLimit(backend) => {
                return Cow::Owned(format!("{backend}.concurrency_limit"));
            }
            WindowMetric::ClassArrived(class) => return Cow::Owned(format!("{class}.class_arrived")),
            WindowMetric::ClassErrorRatio(class) => return Cow::Owned(format!("{class}.class_error_ratio")),
            WindowMetric::ClassP99(class) => return Cow::Owned(format!("{class}.class_p99_s")),
            WindowMetric::ReadyReplicas(group) => return Cow::Owned(format!("{group}.ready_replicas")),
            WindowMetric::StartingReplicas(group) => return Cow::Owned(format!("{group}.starting_replicas")),
            WindowMetric::DrainingReplicas(group) => return Cow::Owned(format!("{group}.draining_replicas")),
            WindowMetric::DeployProgress(group) => return Cow::Owned(format!("{group}.deploy_progress")),
        })
    }

    /// The window metric named `name` in a report, if this version knows it.
    pub fn from_name(name: &str) -> Option<WindowMetric> {
        if let Some((backend, metric)) = name.rsplit_once('.') {
            let backend = backend.to_owned();
            return match metric {
                "share" => Some(WindowMetric::Share(backend)),
                "utilization" => Some(WindowMetric::Utilization(backend)),
                "queue_mean" => Some(WindowMetric::QueueMean(backend)),
                "concurrency_limit" => Some(WindowMetric::ConcurrencyLimit(backend)),
                "class_arrived" => Some(WindowMetric::ClassArrived(backend)),
                "class_error_ratio" => Some(WindowMetric::ClassErrorRatio(backend)),
                "class_p99_s" => Some(WindowMetric::ClassP99(backend)),
                "ready_replicas" => Some(WindowMetric::ReadyReplicas(backend)),
                "starting_replicas" => Some(WindowMetric::StartingReplicas(backend)),
                "draining_replicas" => Some(WindowMetric::DrainingReplicas(backend)),
                "deploy_progress" => Some(WindowMetric::DeployProgress(backend)),
                _ => None,
            };
        }
        WindowMetric::FIXED.into_iter().find(|m| m.name() == name)
    }

    /// The fleet group of a per-group metric.
    pub fn group(&self) -> Option<&str> {
        match self {
            WindowMetric::ReadyReplicas(g)
            | WindowMetric::StartingReplicas(g)
            | WindowMetric::DrainingReplicas(g)
            | WindowMetric::DeployProgress(g) => Some(g),
            _ => None,
        }
    }

    /// The backend of a per-backend metric.
    pub fn backend(&self) -> Option<&str> {
        match self {
            WindowMetric::Share(b)
            | WindowMetric::Utilization(b)
            | WindowMetric::QueueMean(b)
            | WindowMetric::ConcurrencyLimit(b) => Some(b),
            _ => None,
        }
    }
}

/// A name that is no metric this version knows.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric {0:?}")]
pub struct UnknownMetric(pub String);

macro_rules! by_name {
    ($type:ty) => {
        impl fmt::Display for $type {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.name())
            }
        }

        impl FromStr for $type {
            type Err = UnknownMetric;
            fn from_str(name: &str) -> Result<Self, UnknownMetric> {
                <$type>::from_name(name).ok_or_else(|| UnknownMetric(name.to_owned()))
            }
        }

        /// Written as its name.
        impl Serialize for $type {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.name())
            }
        }

        /// Read from its name.
        impl<'de> Deserialize<'de> for $type {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let name = Cow::<str>::deserialize(deserializer)?;
                name.parse().map_err(serde::de::Error::custom)
            }
        }
    };
}

by_name!(Metric);
by_name!(BackendMetric);
by_name!(ClassMetric);
by_name!(WindowMetric);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_reads_back_as_its_metric() {
        for m in Metric::FIXED {
            assert_eq!(Metric::from_name(&m.name()), Some(m.clone()), "{m}");
        }
        let alert = Metric::time_to_detect("errors-5xx");
        assert_eq!(alert.name(), "time_to_detect_errors_5xx_s");
        assert_eq!(Metric::from_name("time_to_detect_errors_5xx_s"), Some(alert));
        for m in BackendMetric::ALL {
            assert_eq!(BackendMetric::from_name(m.name()), Some(m));
        }
        for m in ClassMetric::ALL {
            assert_eq!(ClassMetric::from_name(m.name()), Some(m));
        }
        let per_group = [
            WindowMetric::ReadyReplicas("app".into()),
            WindowMetric::StartingReplicas("app".into()),
            WindowMetric::DrainingReplicas("app".into()),
            WindowMetric::DeployProgress("app".into()),
        ];
        for m in
            WindowMetric::FIXED.into_iter().chain([WindowMetric::Share("app.eu-0".into())]).chain(per_group)
        {
            assert_eq!(WindowMetric::from_name(&m.name()), Some(m.clone()), "{m}");
        }
        assert_eq!("response_time_p98_s".parse::<Metric>(), Err(UnknownMetric("response_time_p98_s".into())));
        assert_eq!(WindowMetric::from_name("app-0.busy"), None);
    }

    #[test]
    fn names_are_snake_case_with_the_unit_as_suffix() {
        for m in Metric::FIXED {
            let name = m.name();
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{name}");
            match m.unit() {
                Unit::Seconds => assert!(name.ends_with("_s"), "{name}"),
                Unit::PerSecond => assert!(name.ends_with("_per_s"), "{name}"),
                Unit::Ratio => assert!(name.ends_with("_ratio") || name.ends_with("utilization"), "{name}"),
                Unit::Count | Unit::Number => assert!(!name.ends_with("_s"), "{name}"),
            }
        }
    }

    #[test]
    fn serializes_as_its_name() {
        let json = serde_json::to_string(&(Metric::ErrorRatio, BackendMetric::Share)).unwrap();
        assert_eq!(json, r#"["error_ratio","share"]"#);
        let back: (Metric, BackendMetric) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, (Metric::ErrorRatio, BackendMetric::Share));
        assert!(serde_json::from_str::<Metric>(r#""p99""#).is_err());
    }
}
