//! What a log shows, kept in bounded memory while it streams past.
//!
//! Kept per log (whatever its length):
//!
//! - per window (fixed width, from the Unix epoch): requests, errors, an HDR histogram of the
//!   latency of successes (2 significant digits) and, per backend, requests, errors and summed
//!   times — memory grows with the span of the log, not its length;
//! - per backend and per endpoint class: a uniform reservoir sample of service times
//!   ([`RESERVOIR`] values, Vitter's algorithm R with a fixed seed, so the same log gives the
//!   same sample), queue-time sums and the largest `srv_conn` seen;
//! - per user: a request count, for at most [`MAX_USERS`] users (later new users are counted
//!   together, and the report says so);
//! - at most [`MAX_CLASSES`] endpoint classes (the rest are one class, `other`).

use std::collections::{BTreeMap, HashMap};

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::LogRecord;

/// Values kept per reservoir.
pub const RESERVOIR: usize = 20_000;
/// Users counted one by one.
pub const MAX_USERS: usize = 1 << 20;
/// Endpoint classes kept apart.
pub const MAX_CLASSES: usize = 32;
/// The group of requests that name no backend, when others do (HAProxy `<NOSRV>`).
pub const NO_BACKEND: &str = "(none)";

/// A uniform sample of at most `cap` values of a stream (algorithm R).
#[derive(Clone, Debug)]
pub struct Reservoir {
    cap: usize,
    seen: u64,
    state: u64,
    values: Vec<f64>,
}

impl Reservoir {
    /// An empty reservoir keeping at most `cap` values.
    pub fn new(cap: usize) -> Self {
        Reservoir { cap, seen: 0, state: 0x5eed_ca1b, values: Vec::new() }
    }

    /// Offers one value.
    pub fn push(&mut self, x: f64) {
        self.seen += 1;
        if self.values.len() < self.cap {
            self.values.push(x);
            return;
        }
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        let j = z % self.seen;
        if (j as usize) < self.cap {
            self.values[j as usize] = x;
        }
    }

    /// The values kept.
    pub fn values(&self) -> &[f64] {
        &self.values
    }

    /// Values offered.
    pub fn seen(&self) -> u64 {
        self.seen
    }
}

/// One backend in one window.
#[derive(Clone, Debug, Default)]
pub struct BackendWindow {
    /// Requests it answered (or failed).
    pub requests: u64,
    /// Of those, errors (5xx or no status).
    pub errors: u64,
    /// Summed latency of its successes \[s\].
    pub latency_sum_s: f64,
    /// Summed service time of its requests \[s\] (server-side timer, else latency).
    pub busy_s: f64,
    /// Requests that waited in the proxy's queue (HAProxy `Tw` > 0).
    pub queued: u64,
}

/// One window of a log.
#[derive(Clone, Debug)]
pub struct WindowStats {
    /// Requests arrived.
    pub requests: u64,
    /// Of those, errors.
    pub errors: u64,
    /// Latency of successes \[µs\].
    pub latency_us: Histogram<u64>,
    /// Per backend, in [`Observed::backend_names`] order.
    pub backends: Vec<BackendWindow>,
}

/// One backend over the whole log.
#[derive(Clone, Debug)]
pub struct BackendStats {
    /// Requests.
    pub requests: u64,
    /// Errors.
    pub errors: u64,
    /// Service times of successes \[s\].
    pub service: Reservoir,
    /// Requests with a queue timer.
    pub queue_n: u64,
    /// Summed queue time \[s\].
    pub queue_sum_s: f64,
    /// Requests that queued (timer > 0).
    pub queued: u64,
    /// Largest `srv_conn` logged.
    pub max_server_conn: u32,
}

/// What the logs show. Feed it records with [`Observed::add`].
#[derive(Clone, Debug)]
pub struct Observed {
    /// Window width \[s\].
    pub window_s: f64,
    /// Windows by index (`floor(time / window_s)`).
    pub windows: BTreeMap<i64, WindowStats>,
    names: Vec<String>,
    index: HashMap<String, usize>,
    /// Per backend, in [`Observed::backend_names`] order.
    pub backends: Vec<BackendStats>,
    /// Service-time samples per endpoint class.
    pub classes: BTreeMap<String, Reservoir>,
    users: HashMap<String, u64>,
    /// Requests from users beyond [`MAX_USERS`].
    pub users_untracked: u64,
    /// Requests that named a user.
    pub with_user: u64,
    /// Requests.
    pub requests: u64,
    /// Errors.
    pub errors: u64,
    /// Earliest arrival \[Unix s\].
    pub first_s: f64,
    /// Latest arrival \[Unix s\].
    pub last_s: f64,
    /// Records with a total-time field.
    pub with_latency: u64,
    /// Records with a server-side timer.
    pub with_service: u64,
    /// Records with a queue timer.
    pub with_queue: u64,
    /// Latency of every success \[µs\].
    pub latency_us: Histogram<u64>,
}

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 3_600_000_000, 2).expect("valid bounds")
}

impl Observed {
    /// Nothing observed yet, in windows of `window_s` seconds (> 0).
    pub fn new(window_s: f64) -> Self {
        Observed {
            window_s,
            windows: BTreeMap::new(),
            names: Vec::new(),
            index: HashMap::new(),
            backends: Vec::new(),
            classes: BTreeMap::new(),
            users: HashMap::new(),
            users_untracked: 0,
            with_user: 0,
            requests: 0,
            errors: 0,
            first_s: f64::INFINITY,
            last_s: f64::NEG_INFINITY,
            with_latency: 0,
            with_service: 0,
            with_queue: 0,
            latency_us: histogram(),
        }
    }

    /// Backend names, in order of first appearance.
    pub fn backend_names(&self) -> &[String] {
        &self.names
    }

    /// The window index of time `t` \[Unix s\].
    pub fn window_of(&self, t: f64) -> i64 {
        (t / self.window_s).floor() as i64
    }

    /// Request counts per user, largest first.
    pub fn user_counts(&self) -> Vec<u64> {
        let mut counts: Vec<u64> = self.users.values().copied().collect();
        counts.sort_unstable_by(|a, b| b.cmp(a));
        counts
    }

    /// Distinct users seen (up to [`MAX_USERS`]).
    pub fn users(&self) -> usize {
        self.users.len()
    }

    fn backend_index(&mut self, name: &str) -> usize {
        if let Some(&i) = self.index.get(name) {
            return i;
        }
        let i = self.names.len();
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), i);
        self.backends.push(BackendStats {
            requests: 0,
            errors: 0,
            service: Reservoir::new(RESERVOIR),
            queue_n: 0,
            queue_sum_s: 0.0,
            queued: 0,
            max_server_conn: 0,
        });
        i
    }

    /// Adds one record.
    pub fn add(&mut self, r: &LogRecord) {
        let error = r.is_error();
        self.requests += 1;
        self.errors += u64::from(error);
        self.first_s = self.first_s.min(r.time_s);
        self.last_s = self.last_s.max(r.time_s);
        self.with_latency += u64::from(r.latency_s.is_some());
        self.with_service += u64::from(r.service_s.is_some());
        self.with_queue += u64::from(r.queue_s.is_some());
        let latency = r.latency_s.or(r.service_s);
        if let Some(user) = &r.client {
            self.with_user += 1;
            if let Some(n) = self.users.get_mut(user.as_str()) {
                *n += 1;
            } else if self.users.len() < MAX_USERS {
                self.users.insert(user.clone(), 1);
            } else {
                self.users_untracked += 1;
            }
        }
        let b = self.backend_index(r.backend.as_deref().unwrap_or(NO_BACKEND));
        let service = r.service_s.or(r.latency_s);
        let stats = &mut self.backends[b];
        stats.requests += 1;
        stats.errors += u64::from(error);
        if let Some(q) = r.queue_s {
            stats.queue_n += 1;
            stats.queue_sum_s += q;
            stats.queued += u64::from(q > 0.0);
        }
        stats.max_server_conn = stats.max_server_conn.max(r.server_conn.unwrap_or(0));
        if !error && let Some(s) = service {
            stats.service.push(s);
            if let Some(path) = &r.path {
                let class = endpoint_class(path);
                let full = self.classes.len() >= MAX_CLASSES && !self.classes.contains_key(&class);
                self.classes
                    .entry(if full { "other".to_owned() } else { class })
                    .or_insert_with(|| Reservoir::new(RESERVOIR))
                    .push(s);
            }
        }
        if !error && let Some(l) = latency {
            let us = (l * 1e6).round().clamp(1.0, 3.6e9) as u64;
            let _ = self.latency_us.record(us);
        }
        let w = self.window_of(r.time_s);
        let backends = self.names.len();
        let window = self.windows.entry(w).or_insert_with(|| WindowStats {
            requests: 0,
            errors: 0,
            latency_us: histogram(),
            backends: Vec::new(),
        });
        window.requests += 1;
        window.errors += u64::from(error);
        if !error && let Some(l) = latency {
            let us = (l * 1e6).round().clamp(1.0, 3.6e9) as u64;
            let _ = window.latency_us.record(us);
        }
        if window.backends.len() < backends {
            window.backends.resize(backends, BackendWindow::default());
        }
        let bw = &mut window.backends[b];
        bw.requests += 1;
        bw.errors += u64::from(error);
        if !error {
            bw.latency_sum_s += latency.unwrap_or(0.0);
        }
        bw.busy_s += service.unwrap_or(0.0);
        bw.queued += u64::from(r.queue_s.is_some_and(|q| q > 0.0));
    }

    /// The summary `compare` works on.
    pub fn summary(&self) -> LogSummary {
        let windows = self
            .windows
            .iter()
            .map(|(&w, s)| {
                let mut shares = Vec::new();
                let routed: u64 = self
                    .names
                    .iter()
                    .zip(&s.backends)
                    .filter(|(n, _)| *n != NO_BACKEND)
                    .map(|(_, b)| b.requests)
                    .sum();
                for (name, b) in self.names.iter().zip(&s.backends) {
                    if name != NO_BACKEND {
                        shares.push((name.clone(), ratio(b.requests, routed)));
                    }
                }
                WindowSummary {
                    start_s: w as f64 * self.window_s,
                    requests: s.requests,
                    error_ratio: ratio(s.errors, s.requests),
                    p50_s: quantile(&s.latency_us, 0.5),
                    p90_s: quantile(&s.latency_us, 0.9),
                    p99_s: quantile(&s.latency_us, 0.99),
                    shares,
                }
            })
            .collect();
        let routed: u64 = self
            .names
            .iter()
            .zip(&self.backends)
            .filter(|(n, _)| *n != NO_BACKEND)
            .map(|(_, b)| b.requests)
            .sum();
        LogSummary {
            window_s: self.window_s,
            requests: self.requests,
            error_ratio: ratio(self.errors, self.requests),
            p50_s: quantile(&self.latency_us, 0.5),
            p90_s: quantile(&self.latency_us, 0.9),
            p99_s: quantile(&self.latency_us, 0.99),
            shares: self
                .names
                .iter()
                .zip(&self.backends)
                .filter(|(n, _)| *n != NO_BACKEND)
                .map(|(n, b)| (n.clone(), ratio(b.requests, routed)))
                .collect(),
            windows,
        }
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

/// A quantile of a histogram of µs, in seconds (NaN when empty).
pub(crate) fn quantile(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() { f64::NAN } else { h.value_at_quantile(q) as f64 / 1e6 }
}

/// The endpoint class of a path: its first two segments, numbers and long hex ids replaced
/// by `{id}` (`/api/users/42/orders` → `/api/users`, `/item/123` → `/item/{id}`).
pub fn endpoint_class(path: &str) -> String {
    let mut class = String::new();
    for segment in path.split('/').filter(|s| !s.is_empty()).take(2) {
        class.push('/');
        let id = segment.chars().all(|c| c.is_ascii_digit())
            || (segment.len() >= 16 && segment.chars().all(|c| c.is_ascii_hexdigit() || c == '-'));
        if id {
            class.push_str("{id}");
        } else if let Some((_, ext)) = segment.rsplit_once('.') {
            // Static files: their extension is the class (`/images/a.jpg` → `/images/*.jpg`).
            class.push_str("*.");
            class.push_str(ext);
        } else {
            class.push_str(segment);
        }
    }
    if class.is_empty() { "/".to_owned() } else { class }
}

/// Latency, errors and shares of a log (or of a simulated run's log), overall and per window.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogSummary {
    /// Window width \[s\].
    pub window_s: f64,
    /// Requests.
    pub requests: u64,
    /// Errors over requests.
    pub error_ratio: f64,
    /// Median latency of successes \[s\].
    pub p50_s: f64,
    /// 90th percentile \[s\].
    pub p90_s: f64,
    /// 99th percentile \[s\].
    pub p99_s: f64,
    /// Share of requests per backend.
    pub shares: Vec<(String, f64)>,
    /// Per window.
    pub windows: Vec<WindowSummary>,
}

/// One window of a [`LogSummary`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct WindowSummary {
    /// Start \[Unix s\].
    pub start_s: f64,
    /// Requests.
    pub requests: u64,
    /// Errors over requests.
    pub error_ratio: f64,
    /// Median latency of successes \[s\] (NaN without successes).
    pub p50_s: f64,
    /// 90th percentile \[s\].
    pub p90_s: f64,
    /// 99th percentile \[s\].
    pub p99_s: f64,
    /// Share of requests per backend.
    pub shares: Vec<(String, f64)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_classes_group_ids_and_static_files() {
        assert_eq!(endpoint_class("/api/users/42/orders"), "/api/users");
        assert_eq!(endpoint_class("/item/123"), "/item/{id}");
        assert_eq!(endpoint_class("/images/photos/455.jpg"), "/images/photos");
        assert_eq!(endpoint_class("/favicon.ico"), "/*.ico");
        assert_eq!(endpoint_class("/"), "/");
    }

    #[test]
    fn a_reservoir_keeps_a_uniform_sample_of_bounded_size() {
        let mut r = Reservoir::new(1000);
        for i in 0..100_000 {
            r.push(f64::from(i));
        }
        assert_eq!(r.values().len(), 1000);
        assert_eq!(r.seen(), 100_000);
        let mean = r.values().iter().sum::<f64>() / 1000.0;
        // Uniform on 0..100000: mean 50000, sd of the mean 28867/sqrt(1000) = 913.
        assert!((mean - 50_000.0).abs() < 4.0 * 913.0, "{mean}");
    }
}
