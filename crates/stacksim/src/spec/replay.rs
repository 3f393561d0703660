//! The parts of the experiment format for replaying incidents: wall-clock times, the timeline,
//! clients that time out and retry, backends that fail, health checks, the database, alerts.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{HumanDuration, PolicySpec, ServiceSpec};

/// A wall-clock instant written in RFC 3339, like `"2024-03-08T13:00:00Z"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Timestamp(pub SystemTime);

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", humantime::format_rfc3339_seconds(self.0))
    }
}

/// Text that is not a time or a span, or a clock time that cannot be placed in the run; each
/// message says what would be valid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TimeError {
    /// Not a span like `"250ms"`, or one longer than the clock can count.
    #[error(transparent)]
    Duration(#[from] stacksim_model::DurationError),
    /// Not an RFC 3339 timestamp.
    #[error("invalid time {text:?} ({reason}): write RFC 3339 UTC, like \"2024-03-08T13:00:00Z\"")]
    Timestamp {
        /// The text given.
        text: String,
        /// What the parser said.
        reason: String,
    },
    /// Looks like a time of day but is not one.
    #[error("invalid time of day {text:?}: write HH:MM or HH:MM:SS, like \"14:00\"")]
    TimeOfDay {
        /// The text given.
        text: String,
    },
    /// Neither an offset, a time of day nor a timestamp.
    #[error(
        "invalid time {text:?}: write an offset (\"90m\"), a time of day (\"14:00\") or a timestamp (\"2024-03-08T14:00:00Z\")"
    )]
    At {
        /// The text given.
        text: String,
    },
    /// A clock time in an experiment without a `start`.
    #[error("{at} is a clock time: give the experiment a `start`, like start: \"2024-03-08T13:00:00Z\"")]
    NeedsStart {
        /// The time, as written back.
        at: String,
    },
    /// A time before the experiment's start.
    #[error("{at} is before the experiment's start ({start})")]
    BeforeStart {
        /// The time, as written back.
        at: String,
        /// The experiment's start.
        start: Timestamp,
    },
}

impl std::str::FromStr for Timestamp {
    type Err = TimeError;
    fn from_str(text: &str) -> Result<Self, TimeError> {
        humantime::parse_rfc3339_weak(text)
            .map(Timestamp)
            .map_err(|e| TimeError::Timestamp { text: text.to_owned(), reason: e.to_string() })
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// When something happens: an offset from the start of the run (`"90m"`, `"+1h"`), a time of
/// day on the start's date (`"14:00"`, `"14:30:15"`), or a full timestamp
/// (`"2024-03-08T14:00:00Z"`). The last two need the experiment's `start`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum At {
    /// From the start of the run.
    Offset(Duration),
    /// Seconds after midnight, on the start's date (UTC).
    TimeOfDay(u32),
    /// A wall-clock instant.
    Instant(Timestamp),
}

impl At {
    /// The offset from the start of the run, given the experiment's `start`.
    pub fn offset(&self, start: Option<Timestamp>) -> Result<Duration, TimeError> {
        let since = |t: SystemTime, start: Timestamp| {
            t.duration_since(start.0).map_err(|_| TimeError::BeforeStart { at: self.to_string(), start })
        };
        match (*self, start) {
            (At::Offset(d), _) => Ok(d),
            (_, None) => Err(TimeError::NeedsStart { at: self.to_string() }),
            (At::Instant(t), Some(start)) => since(t.0, start),
            (At::TimeOfDay(secs), Some(start)) => {
                // A start before 1970 counts from the epoch's midnight.
                let epoch = start.0.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
                let midnight = epoch.as_secs() - epoch.as_secs() % 86_400;
                since(SystemTime::UNIX_EPOCH + Duration::from_secs(midnight + u64::from(secs)), start)
            }
        }
    }
}

impl fmt::Display for At {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            At::Offset(d) => write!(f, "+{}", crate::metric::readable_duration(*d)),
            At::TimeOfDay(s) => write!(f, "{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60),
            At::Instant(t) => write!(f, "{t}"),
        }
    }
}

impl std::str::FromStr for At {
    type Err = TimeError;
    fn from_str(text: &str) -> Result<Self, TimeError> {
        let text = text.trim();
        if text.contains('T') && text.contains('-') {
            return text.parse().map(At::Instant);
        }
        if let Some((h, rest)) = text.split_once(':') {
            let parts: Vec<&str> = std::iter::once(h).chain(rest.split(':')).collect();
            let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
            return match numbers.as_deref() {
                Some([h, m]) if *h < 24 && *m < 60 => Ok(At::TimeOfDay(h * 3600 + m * 60)),
                Some([h, m, s]) if *h < 24 && *m < 60 && *s < 60 => Ok(At::TimeOfDay(h * 3600 + m * 60 + s)),
                _ => Err(TimeError::TimeOfDay { text: text.to_owned() }),
            };
        }
        let span = humantime::parse_duration(text.trim_start_matches('+'))
            .map_err(|_| TimeError::At { text: text.to_owned() })?;
        Ok(stacksim_model::within_clock(text, span).map(At::Offset)?)
    }
}

impl Serialize for At {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for At {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// One entry of the timeline: an action at a time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimelineEntry {
    /// When.
    pub at: At,
    /// What.
    pub action: ActionSpec,
    /// Why, shown on plots (like "misconfiguration", "fix").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// What a timeline entry does. Backends are named as the report names them (`app-0`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ActionSpec {
    /// Set a backend's balancer weight.
    SetWeight {
        /// Backend name.
        backend: String,
        /// New weight.
        weight: u32,
    },
    /// Switch the balancer to another policy.
    SetPolicy(PolicySpec),
    /// The backend's process dies (requests it holds fail; new ones are refused).
    Fail(String),
    /// The backend's process is back.
    Recover(String),
    /// The backend dies and comes back after `restart_after`.
    Crash {
        /// Backend name.
        backend: String,
        /// Time until it is back.
        restart_after: HumanDuration,
    },
    /// Services on the backend take `factor` times as long from now on.
    SlowDown {
        /// Backend name.
        backend: String,
        /// Service-time multiplier (> 0; 1.0 restores).
        factor: f64,
    },
    /// The backend leaves the balancer's configuration.
    Remove(String),
    /// The backend joins (or rejoins) the balancer's configuration.
    Add(String),
    /// The backend gets weight 0: no new requests, those in flight finish.
    Drain(String),
    /// Every open-loop client's rate is multiplied by `factor`.
    ScaleTraffic(f64),
    /// The total open-loop rate becomes `rate_per_s`.
    SetRate(f64),
    /// A rolling deploy of the backend group `backend` (Kubernetes `RollingUpdate`): new pods
    /// replace old ones, at most `max_surge` above the replica count and at most
    /// `max_unavailable` ready pods below it; with `service`, the new version serves with that
    /// service time (a slower or faster release).
    RollingDeploy {
        /// Backend group name (`app`).
        backend: String,
        /// Pods above the replicas during the deploy: a count or `"25%"` (rounded up).
        /// Default: "25%".
        #[serde(default = "super::AmountSpec::quarter")]
        max_surge: super::AmountSpec,
        /// Ready pods below the replicas during the deploy (rounded down). Default: "25%".
        #[serde(default = "super::AmountSpec::quarter")]
        max_unavailable: super::AmountSpec,
        /// The new version's service time. Default: the group's own.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service: Option<ServiceSpec>,
    },
    /// One canary pod of a new version in the backend group `backend` which, once ready,
    /// takes `weight_percent` of the group's requests (balancer weights).
    Canary {
        /// Backend group name.
        backend: String,
        /// Percent of the group's traffic, 1 to 99.
        weight_percent: u32,
        /// The canary's service time.
        service: ServiceSpec,
    },
    /// Every backend in the zone fails at once (as `Fail` on each).
    FailZone(String),
    /// Every backend in the zone is back (as `Recover` on each).
    RecoverZone(String),
}

/// A client's patience and retries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetrySpec {
    /// Attempts in all, the first included (≥ 1).
    pub max_attempts: u32,
    /// Backoff before the first retry; doubles per retry, with full jitter. Default: 25ms.
    #[serde(default = "default_backoff")]
    pub backoff: HumanDuration,
    /// Longest backoff. Default: 1s.
    #[serde(default = "default_max_backoff")]
    pub max_backoff: HumanDuration,
    /// Retry budget: retries may add at most this fraction of requests (Envoy, Finagle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_ratio: Option<f64>,
    /// With a budget: retries allowed per second regardless. Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_min_per_s: Option<f64>,
    /// Envoy's `hedge_on_per_try_timeout`: an attempt that reaches the client's `timeout` runs
    /// on beside its retry, and the first answer wins. Default: false (it is given up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hedge_on_per_try_timeout: Option<bool>,
}

fn default_backoff() -> HumanDuration {
    HumanDuration(Duration::from_millis(25))
}

fn default_max_backoff() -> HumanDuration {
    HumanDuration(Duration::from_secs(1))
}

/// Slow-down of an overwhelmed backend (see `stacksim_model::Degradation`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DegradationSpec {
    /// Requests at the backend (queued or served) beyond which service slows.
    pub knee: u32,
    /// Extra service time per request beyond the knee, as a fraction of normal.
    pub slope: f64,
}

/// Health checks and ejection, with HAProxy's and Envoy's defaults.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HealthSpec {
    /// Active checks. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<CheckSpec>,
    /// Passive outlier ejection. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<OutlierSpec>,
    /// Envoy's panic threshold in percent. Default: 50.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub panic_threshold_percent: Option<f64>,
}

/// Active health checks.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckSpec {
    /// `Tcp` (connect only, HAProxy's default) or `Http` (a request that must be answered).
    #[serde(default)]
    pub kind: CheckKindSpec,
    /// Time between checks. Default: 2s (HAProxy `inter`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    /// Check timeout. Default: the interval (HAProxy `timeout check`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Passes to bring a backend up. Default: 2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rise: Option<u32>,
    /// Failures to take it down. Default: 3.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fall: Option<u32>,
}

/// What an active check looks at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum CheckKindSpec {
    /// A TCP connect: passes while the process is up, however overloaded.
    #[default]
    Tcp,
    /// An HTTP request: fails when the backend cannot answer within the timeout.
    Http,
}

/// Passive outlier ejection (Envoy `outlier_detection`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutlierSpec {
    /// Consecutive errors that eject. Default: 5.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_5xx: Option<u32>,
    /// First ejection time; the n-th is n times as long. Default: 30s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub base_ejection: Option<HumanDuration>,
    /// Longest ejection. Default: 300s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection: Option<HumanDuration>,
    /// Most backends ejected at once, in percent (at least one). Default: 10.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejection_percent: Option<f64>,
}

/// The database behind the backends.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSpec {
    /// Queries served at once.
    pub workers: u32,
    /// Time per query.
    pub service: ServiceSpec,
    /// Connections per backend.
    pub pool: u32,
    /// Fraction of requests that query it (0..=1).
    pub fraction: f64,
}

/// What to record beyond totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ObserveSpec {
    /// Time-series window. Default: 1m.
    #[serde(default = "default_window")]
    pub window: HumanDuration,
    /// A success slower than this counts its user as affected. Default: none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slow: Option<HumanDuration>,
    /// The incident interval over which users affected are counted. Default: the measured run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<(At, At)>,
}

fn default_window() -> HumanDuration {
    HumanDuration(Duration::from_secs(60))
}

/// An alert rule evaluated on the time series, like the team's monitoring. Written
/// `Alert(name: "5xx", metric: ErrorRatio, above: 0.05, for: "5m")`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename = "Alert")]
pub struct AlertSpec {
    /// Name, used in the report (`time_to_detect_<name>_s`).
    pub name: String,
    /// What it watches.
    pub metric: AlertMetric,
    /// It fires when the metric stays above this...
    pub above: f64,
    /// ...for this long (whole windows). Default: one window.
    #[serde(default, rename = "for", skip_serializing_if = "Option::is_none")]
    pub for_: Option<HumanDuration>,
}

/// Time-series metrics an alert can watch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AlertMetric {
    /// Non-successes over requests ended in the window.
    ErrorRatio,
    /// 99th percentile response time of successes in the window \[s\].
    P99,
    /// The busiest backend's share over its fair share (1.0 = balanced).
    ShareImbalance,
    /// The busiest backend's utilization.
    MaxUtilization,
    /// Users affected over users active in the window.
    UsersAffectedRatio,
}

/// A short description of an action, for plots and tables: `SetWeight(app-0, 10)`.
pub fn action_label(action: &ActionSpec) -> String {
    match action {
        ActionSpec::SetWeight { backend, weight } => format!("{backend} weight {weight}"),
        ActionSpec::SetPolicy(p) => format!("policy {p}"),
        ActionSpec::Fail(b) => format!("{b} fails"),
        ActionSpec::Recover(b) => format!("{b} recovers"),
        ActionSpec::Crash { backend, restart_after } => format!("{backend} crashes for {restart_after}"),
        ActionSpec::SlowDown { backend, factor } => format!("{backend} {factor}x slower"),
        ActionSpec::Remove(b) => format!("{b} removed"),
        ActionSpec::Add(b) => format!("{b} added"),
        ActionSpec::Drain(b) => format!("{b} drained"),
        ActionSpec::ScaleTraffic(f) => format!("traffic x{f}"),
        ActionSpec::SetRate(r) => format!("rate {r}/s"),
        ActionSpec::RollingDeploy { backend, .. } => format!("{backend} deploy"),
        ActionSpec::Canary { backend, weight_percent, .. } => format!("{backend} canary {weight_percent}%"),
        ActionSpec::FailZone(z) => format!("zone {z} fails"),
        ActionSpec::RecoverZone(z) => format!("zone {z} recovers"),
    }
}
