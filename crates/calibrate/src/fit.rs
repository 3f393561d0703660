//! `stacksim fit`: from access logs to a stack, an experiment that replays the period, and a
//! calibration report.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use stacksim::Experiment;
use stacksim::spec::{
    ArrivalsSpec, At, BackendSpec, ClientSpec, ObserveSpec, PolicySpec, QueueSpec, StackRef, StackSpec,
    Timestamp,
};
use stacksim_model::HumanDuration;

use crate::distribution::{DistributionFit, fit_service};
use crate::observed::{NO_BACKEND, Observed, Reservoir, quantile};
use crate::read::{ReadError, ReadStats, read_file};
use crate::record::LogFormat;
use crate::zipf::zipf_skew;

/// How to fit.
#[derive(Clone, Debug, PartialEq)]
pub struct FitOptions {
    /// The logs' format; `None` detects it per file.
    pub format: Option<LogFormat>,
    /// Window of the rate schedule and of the per-window tables \[s\]. Default: 60.
    pub window_s: f64,
    /// The balancer weights configured per backend, to audit the observed shares against.
    /// Backends not named have weight 1. Default: none (every backend weight 1).
    pub weights: BTreeMap<String, u32>,
    /// Replications of the replay experiment. Default: 5.
    pub replications: u32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions { format: None, window_s: 60.0, weights: BTreeMap::new(), replications: 5 }
    }
}

/// Why logs could not be fitted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FitError {
    /// A log could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// No log was given.
    #[error("no log to fit")]
    NoLogs,
    /// The window is not a positive number of seconds.
    #[error("the window must be a positive number of seconds, not {0}")]
    Window(f64),
}

/// One window of the arrival schedule.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RatePoint {
    /// Start, from the start of the period \[s\].
    pub offset_s: f64,
    /// Requests that arrived in it.
    pub requests: u64,
    /// Their rate over the part of the window the log covers \[requests·s⁻¹\].
    pub rate_per_s: f64,
}

/// The users seen and their Zipf skew.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UsersFit {
    /// Distinct users.
    pub distinct: u64,
    /// Requests of users beyond the tracking limit (counted, not told apart).
    pub untracked_requests: u64,
    /// Maximum-likelihood Zipf exponent (see [`crate::zipf`]).
    pub skew: Option<f64>,
    /// Requests per user, on average.
    pub requests_per_user: f64,
}

/// How service time was told apart from queueing for one backend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct QueueFit {
    /// `haproxy_tw`, `upstream_time` or `low_concurrency`.
    pub method: &'static str,
    /// `exact`, `good` or `weak`.
    pub trust: &'static str,
    /// What was done and why it is that trustworthy.
    pub note: String,
    /// Mean time queued, where timed \[s\].
    pub wait_mean_s: Option<f64>,
    /// Share of requests that queued, where timed.
    pub queued_ratio: Option<f64>,
}

/// One backend in one window.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackendWindowFit {
    /// Start, from the start of the period \[s\].
    pub offset_s: f64,
    /// Requests.
    pub requests: u64,
    /// Share of the window's routed requests.
    pub share: f64,
    /// Errors over requests.
    pub error_ratio: f64,
    /// Mean latency of successes \[s\] (NaN without).
    pub latency_mean_s: f64,
}

/// One backend.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BackendFit {
    /// Its name in the log.
    pub name: String,
    /// Requests it answered.
    pub requests: u64,
    /// Share of routed requests.
    pub share: f64,
    /// Configured weight (from the options; 1 when not given).
    pub weight: u32,
    /// Share its weight entitles it to.
    pub expected_share: f64,
    /// Why its share is flagged, if it is.
    pub flag: Option<String>,
    /// Errors over requests.
    pub error_ratio: f64,
    /// Service time: which timer, and the fit.
    pub service_source: &'static str,
    /// The fits (`None` without a timed success).
    pub service: Option<DistributionFit>,
    /// Queueing.
    pub queue: QueueFit,
    /// Workers of the replay's backend.
    pub workers: u32,
    /// How `workers` was estimated.
    pub workers_basis: String,
    /// Per window.
    pub windows: Vec<BackendWindowFit>,
}

/// One endpoint class's service time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ClassFit {
    /// The class (see [`crate::observed::endpoint_class`]).
    pub class: String,
    /// The fits.
    pub service: DistributionFit,
}

/// Everything `fit` found: what `fit.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Fit {
    /// What was read from each log.
    pub logs: Vec<ReadStats>,
    /// Window width \[s\].
    pub window_s: f64,
    /// Start of the period (the first arrival's window), RFC 3339.
    pub start: String,
    /// Start of the period \[Unix s\].
    pub start_s: f64,
    /// Length of the period, whole windows \[s\].
    pub duration_s: f64,
    /// Requests.
    pub requests: u64,
    /// Errors over requests.
    pub error_ratio: f64,
    /// Median latency of successes \[s\].
    pub latency_p50_s: f64,
    /// 99th percentile \[s\].
    pub latency_p99_s: f64,
    /// The arrival schedule, one point a window.
    pub arrivals: Vec<RatePoint>,
    /// Users, when the log names them and they repeat.
    pub users: Option<UsersFit>,
    /// Per backend, in order of first appearance.
    pub backends: Vec<BackendFit>,
    /// Requests that named no backend (HAProxy `<NOSRV>`).
    pub unrouted: u64,
    /// Per endpoint class (when the log has paths).
    pub classes: Vec<ClassFit>,
    /// Backends whose share is far from their weight's.
    pub flags: Vec<String>,
    /// What the fit could not see, and what it assumed.
    pub notes: Vec<String>,
    /// Replications of the replay experiment.
    pub replications: u32,
}

/// Reads `logs` (streaming; twice when only total times are logged, see [`QueueFit`]) and
/// fits them.
pub fn fit(logs: &[PathBuf], options: &FitOptions) -> Result<Fit, FitError> {
    if logs.is_empty() {
        return Err(FitError::NoLogs);
    }
    if !(options.window_s.is_finite() && options.window_s > 0.0) {
        return Err(FitError::Window(options.window_s));
    }
    let mut observed = Observed::new(options.window_s);
    let mut stats = Vec::new();
    for log in logs {
        stats.push(read_file(log, options.format, |r| observed.add(&r))?);
    }
    let quiet = if observed.with_service == 0 && observed.with_latency > 0 {
        Some(quiet_samples(logs, &stats, &observed)?)
    } else {
        None
    };
    Ok(fit_observed(&observed, stats, quiet, options))
}

/// Service samples taken only in each backend's quiet windows (busy time in its lowest
/// quarter): a second pass over the logs.
fn quiet_samples(
    logs: &[PathBuf],
    stats: &[ReadStats],
    observed: &Observed,
) -> Result<Vec<Reservoir>, FitError> {
    let quiet: Vec<HashSet<i64>> = (0..observed.backend_names().len())
        .map(|b| {
            let mut busy: Vec<(i64, f64)> = observed
                .windows
                .iter()
                .filter_map(|(&w, s)| s.backends.get(b).filter(|x| x.requests > 0).map(|x| (w, x.busy_s)))
                .collect();
            busy.sort_by(|a, b| a.1.total_cmp(&b.1));
            let cut = busy.len().div_ceil(4);
            busy[..cut].iter().map(|(w, _)| *w).collect()
        })
        .collect();
    let names = observed.backend_names();
    let mut samples: Vec<Reservoir> =
        names.iter().map(|_| Reservoir::new(crate::observed::RESERVOIR)).collect();
    for (log, s) in logs.iter().zip(stats) {
        read_file(log, Some(s.format), |r| {
            if r.is_error() {
                return;
            }
            let name = r.backend.as_deref().unwrap_or(NO_BACKEND);
            let Some(b) = names.iter().position(|n| n == name) else { return };
            if quiet[b].contains(&observed.window_of(r.time_s))
                && let Some(l) = r.latency_s
            {
                samples[b].push(l);
            }
        })?;
    }
    Ok(samples)
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// Fits what was observed. `quiet`: per backend, samples from quiet windows (when the logs
/// have no server-side timer).
pub fn fit_observed(
    observed: &Observed,
    logs: Vec<ReadStats>,
    quiet: Option<Vec<Reservoir>>,
    options: &FitOptions,
) -> Fit {
    let w = observed.window_s;
    let (first_w, last_w) = match (observed.windows.keys().next(), observed.windows.keys().next_back()) {
        (Some(&a), Some(&b)) => (a, b),
        _ => (0, 0),
    };
    let start_s = first_w as f64 * w;
    let duration_s = (last_w - first_w + 1) as f64 * w;
    let mut notes = Vec::new();
    // Arrivals: every window from the first to the last, empty ones at rate 0.
    let arrivals: Vec<RatePoint> = (first_w..=last_w)
        .map(|i| {
            let requests = observed.windows.get(&i).map_or(0, |s| s.requests);
            let (from, to) = (i as f64 * w, (i + 1) as f64 * w);
            // The log may start or end inside a window: the rate is over the part covered.
            let covered =
                (to.min(observed.last_s.max(from + 1.0)) - from.max(observed.first_s)).clamp(1.0, w);
            let covered = if i == first_w || i == last_w { covered } else { w };
            RatePoint { offset_s: (i - first_w) as f64 * w, requests, rate_per_s: requests as f64 / covered }
        })
        .collect();
    // Users.
    let distinct = observed.users() as u64;
    let users = (observed.with_user > 0).then(|| UsersFit {
        distinct,
        untracked_requests: observed.users_untracked,
        skew: zipf_skew(&observed.user_counts(), observed.users()),
        requests_per_user: ratio(observed.with_user, distinct.max(1)),
    });
    if observed.users_untracked > 0 {
        notes.push(format!(
            "more than {} distinct users: {} requests of later users were counted but not told apart",
            crate::observed::MAX_USERS,
            observed.users_untracked
        ));
    }
    // Backends.
    let names = observed.backend_names();
    let all_unrouted = names.iter().all(|n| n == NO_BACKEND);
    let routed_names: Vec<(usize, &String)> =
        names.iter().enumerate().filter(|(_, n)| all_unrouted || *n != NO_BACKEND).collect();
    let routed: u64 = routed_names.iter().map(|(b, _)| observed.backends[*b].requests).sum();
    let weight_of = |name: &str| options.weights.get(name).copied().unwrap_or(1);
    let total_weight: u64 = routed_names.iter().map(|(_, n)| u64::from(weight_of(n))).sum();
    if all_unrouted {
        notes.push("the log names no backend: all requests are fitted as one backend, `app`".to_owned());
    }
    if options.weights.is_empty() && routed_names.len() > 1 {
        notes.push("no weights given (--weights): shares are audited against equal weights".to_owned());
    }
    let server_timer = observed.with_service > 0;
    let queue_timer = observed.with_queue > 0;
    let mut flags = Vec::new();
    let mut backends = Vec::new();
    for &(b, name) in &routed_names {
        let s = &observed.backends[b];
        let name = if all_unrouted { "app".to_owned() } else { name.clone() };
        let share = ratio(s.requests, routed);
        let weight = weight_of(&name);
        let expected_share = if total_weight == 0 { 0.0 } else { f64::from(weight) / total_weight as f64 };
        // Far from its weight: half as much again as its weight's share (overloaded, the
        // incident's misconfiguration), or under a third of it (starved); and 5 points off,
        // so that small backends' noise is not flagged.
        let far = (share - expected_share).abs() > 0.05
            && (share > 1.5 * expected_share || share < expected_share / 3.0);
        let flag = far.then(|| {
            format!(
                "{name} received {:.1}% of requests at weight {weight} of {total_weight} (its weight's share: {:.1}%)",
                share * 100.0,
                expected_share * 100.0
            )
        });
        if let Some(f) = &flag {
            flags.push(f.clone());
        }
        // Busy servers per window (Little's law on the service timer).
        let busy: Vec<(f64, f64)> = observed
            .windows
            .values()
            .filter_map(|win| win.backends.get(b).map(|x| (x.busy_s / w, ratio(x.queued, x.requests))))
            .collect();
        let peak_busy = busy.iter().map(|x| x.0).fold(0.0, f64::max);
        let mut busy_while_queued: Vec<f64> = busy.iter().filter(|x| x.1 > 0.5).map(|x| x.0).collect();
        busy_while_queued.sort_by(f64::total_cmp);
        let (workers, workers_basis) = if !busy_while_queued.is_empty() {
            let median = busy_while_queued[busy_while_queued.len() / 2];
            (
                (median.round() as u32).max(1),
                format!(
                    "busy servers (Σ Tr / window) in the {} windows where most requests queued (Tw > 0): all workers were busy then",
                    busy_while_queued.len()
                ),
            )
        } else if s.queued > 0 && s.max_server_conn > 0 {
            (s.max_server_conn, "the largest srv_conn logged, where requests queued".to_owned())
        } else {
            (
                ((2.0 * peak_busy).ceil() as u32 + 2).max(1),
                format!(
                    "no queueing seen: twice the peak busy servers ({peak_busy:.1}) plus 2, so the replay queues no more than the log did"
                ),
            )
        };
        let (service_source, samples) = match (&quiet, server_timer) {
            (_, true) => (
                "server-side timer (HAProxy Tr, NGINX $upstream_response_time, Envoy upstream service time)",
                s.service.values(),
            ),
            (Some(q), false) => ("total time, in quiet windows (lowest quarter of busy time)", q[b].values()),
            (None, false) => ("total time", s.service.values()),
        };
        let service = fit_service(samples);
        let queue = if queue_timer {
            QueueFit {
                method: "haproxy_tw",
                trust: "exact",
                note: "HAProxy times its own queue (Tw) apart from the server's response (Tr)".to_owned(),
                wait_mean_s: (s.queue_n > 0).then(|| s.queue_sum_s / s.queue_n as f64),
                queued_ratio: Some(ratio(s.queued, s.queue_n)),
            }
        } else if server_timer {
            QueueFit {
                method: "upstream_time",
                trust: "good",
                note: "the upstream time excludes the proxy's own time but includes any queue inside the backend: a service time while the backend is not saturated".to_owned(),
                wait_mean_s: None,
                queued_ratio: None,
            }
        } else {
            let mean_busy = busy.iter().map(|x| x.0).sum::<f64>() / busy.len().max(1) as f64;
            let mut sorted: Vec<f64> = busy.iter().map(|x| x.0).collect();
            sorted.sort_by(f64::total_cmp);
            let quiet_busy = sorted.get(sorted.len().div_ceil(4).saturating_sub(1)).copied().unwrap_or(0.0);
            let weak = quiet_busy > 0.5 * mean_busy;
            QueueFit {
                method: "low_concurrency",
                trust: if weak { "weak" } else { "fair" },
                note: format!(
                    "only total times are logged: service time is taken from the quietest quarter of windows (busy servers ≤ {quiet_busy:.2}, against {mean_busy:.2} on average){}",
                    if weak {
                        "; load barely varies, so those windows may queue as much as the rest"
                    } else {
                        ""
                    }
                ),
                wait_mean_s: None,
                queued_ratio: None,
            }
        };
        let windows = observed
            .windows
            .iter()
            .map(|(&i, win)| {
                let x = win.backends.get(b).cloned().unwrap_or_default();
                let routed_here: u64 =
                    routed_names.iter().map(|(o, _)| win.backends.get(*o).map_or(0, |y| y.requests)).sum();
                let ok = x.requests - x.errors;
                BackendWindowFit {
                    offset_s: (i - first_w) as f64 * w,
                    requests: x.requests,
                    share: ratio(x.requests, routed_here),
                    error_ratio: ratio(x.errors, x.requests),
                    latency_mean_s: if ok == 0 { f64::NAN } else { x.latency_sum_s / ok as f64 },
                }
            })
            .collect();
        backends.push(BackendFit {
            name,
            requests: s.requests,
            share,
            weight,
            expected_share,
            flag,
            error_ratio: ratio(s.errors, s.requests),
            service_source,
            service,
            queue,
            workers,
            workers_basis,
            windows,
        });
    }
    let classes = observed
        .classes
        .iter()
        .filter_map(|(class, r)| {
            fit_service(r.values()).map(|service| ClassFit { class: class.clone(), service })
        })
        .collect::<Vec<_>>();
    if classes.len() > 1 {
        notes.push(
            "per-class service times are reported; the replay's backends use each backend's own fit (its mix of classes)"
                .to_owned(),
        );
    }
    if observed.with_latency == 0 && observed.with_service == 0 {
        notes.push("the log has no request times: only arrivals, users and shares are fitted; backends get a placeholder 100ms exponential service time".to_owned());
    }
    if logs.iter().any(|l| l.format == LogFormat::Combined) {
        notes.push("combined format: %t is read as the arrival (Apache); NGINX's $time_local is the end of the request, later by its request time".to_owned());
    }
    if observed.errors > 0 {
        notes.push("errors (5xx) are reported per backend and window but not replayed: the replay's backends do not fail".to_owned());
    }
    let unrouted = if all_unrouted {
        0
    } else {
        names.iter().position(|n| n == NO_BACKEND).map_or(0, |b| observed.backends[b].requests)
    };
    Fit {
        logs,
        window_s: w,
        start: humantime::format_rfc3339_seconds(system_time(start_s)).to_string(),
        start_s,
        duration_s,
        requests: observed.requests,
        error_ratio: ratio(observed.errors, observed.requests),
        latency_p50_s: quantile(&observed.latency_us, 0.5),
        latency_p99_s: quantile(&observed.latency_us, 0.99),
        arrivals,
        users,
        backends,
        unrouted,
        classes,
        flags,
        notes,
        replications: options.replications,
    }
}

fn system_time(unix_s: f64) -> SystemTime {
    if unix_s >= 0.0 {
        SystemTime::UNIX_EPOCH + Duration::try_from_secs_f64(unix_s).unwrap_or_default()
    } else {
        SystemTime::UNIX_EPOCH
    }
}

fn span(s: f64) -> HumanDuration {
    HumanDuration(Duration::try_from_secs_f64(s.max(0.0)).unwrap_or_default())
}

impl Fit {
    /// The fitted stack: one open-loop client on the rate schedule (with the users and skew
    /// seen), weighted round robin with weights in proportion to the observed shares (so the
    /// replay routes as the log did), one backend per server seen with its fitted service
    /// time and estimated workers, unbounded queues.
    pub fn stack(&self) -> StackSpec {
        let points = self
            .arrivals
            .iter()
            .map(|p| {
                (
                    At::Offset(Duration::try_from_secs_f64(p.offset_s).unwrap_or_default()),
                    round3(p.rate_per_s),
                )
            })
            .collect();
        let mut client = ClientSpec::new("observed", ArrivalsSpec::Schedule { points, linear: false });
        if let Some(users) = &self.users {
            // Users who repeat: a population to route by; otherwise every request is new.
            if users.requests_per_user >= 2.0 && users.distinct >= 2 {
                client.users = Some(users.distinct);
                client.user_skew = users.skew.map(round3);
            }
        }
        let backends = self
            .backends
            .iter()
            .map(|b| {
                let service = b
                    .service
                    .as_ref()
                    .map_or(stacksim::spec::ServiceSpec::Exponential { mean: span(0.1) }, |f| {
                        f.best().service.clone()
                    });
                let mut spec = BackendSpec::new(b.name.clone(), b.workers, QueueSpec::Unbounded, service);
                spec.weight = Some(((b.share * 1000.0).round() as u32).max(1));
                spec
            })
            .collect();
        StackSpec::new(vec![client], PolicySpec::RoundRobin, backends)
    }

    /// The replay experiment, with its stack in the file `stack_file` (relative to the
    /// experiment); `None` writes the stack inline.
    pub fn experiment(&self, name: &str, stack_file: Option<&str>) -> Experiment {
        let stack = match stack_file {
            Some(file) => StackRef::File(file.to_owned()),
            None => StackRef::Inline(self.stack()),
        };
        let mut experiment = Experiment::new(
            name,
            self.stack(),
            Duration::try_from_secs_f64(self.duration_s).unwrap_or_default(),
        );
        experiment.stack = stack;
        experiment.replications = self.replications;
        experiment.start = Some(Timestamp(system_time(self.start_s)));
        experiment.observe = Some(ObserveSpec { window: span(self.window_s), slow: None, incident: None });
        experiment
    }

    /// `stack.ron`: the stack file.
    pub fn stack_ron(&self) -> String {
        format!(
            "// Fitted by `stacksim fit` from {} ({} requests): see fit.html for how.\n{}\n",
            self.log_names(),
            self.requests,
            pretty(&self.stack())
        )
    }

    /// `replay.ron`: the experiment that replays the period, its stack in `stack.ron`.
    pub fn experiment_ron(&self) -> String {
        format!(
            "// Replays {} from {} for {}s: compare with `stacksim compare LOG DIR` after\n// `stacksim run replay.ron --out DIR --access-log sim.log`.\n{}\n",
            self.log_names(),
            self.start,
            self.duration_s,
            pretty(&self.experiment("replay", Some("stack.ron")))
        )
    }

    fn log_names(&self) -> String {
        self.logs.iter().map(|l| l.file.as_str()).collect::<Vec<_>>().join(", ")
    }

    /// `fit.json`.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// Writes `stack.ron`, `replay.ron`, `fit.json` and `fit.html` into `dir` (created if
    /// needed).
    pub fn write(&self, dir: &Path) -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(dir.join("stack.ron"), self.stack_ron())?;
        std::fs::write(dir.join("replay.ron"), self.experiment_ron())?;
        std::fs::write(dir.join("fit.json"), self.to_json())?;
        std::fs::write(dir.join("fit.html"), self.to_html())?;
        Ok(())
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn pretty<T: Serialize>(value: &T) -> String {
    let config = ron::ser::PrettyConfig::new().struct_names(true);
    ron::ser::to_string_pretty(value, config).unwrap_or_default()
}
