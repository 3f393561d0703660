//! What the balancer believes about each backend: active health checks, passive outlier
//! ejection, and the panic threshold. A policy sees a backend as eligible only through these,
//! with their real delays: a backend that crashes keeps receiving requests until checks or
//! ejection notice.

use std::time::Duration;

use stacksim_engine::SimTime;

/// Health checking and outlier ejection for every backend.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct HealthConfig {
    /// Periodic checks; `None`: no active checks (every backend is presumed up).
    pub active: Option<ActiveCheck>,
    /// Ejection after consecutive errors; `None`: no passive ejection.
    pub outlier: Option<OutlierDetection>,
    /// Envoy's `healthy_panic_threshold` as a fraction (default 0.5): when fewer than this
    /// fraction of backends are healthy, the balancer ignores health and uses them all.
    pub panic_threshold: f64,
}

impl HealthConfig {
    /// Envoy's default `healthy_panic_threshold`: 50%.
    pub const DEFAULT_PANIC_THRESHOLD: f64 = 0.5;
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig { active: None, outlier: None, panic_threshold: Self::DEFAULT_PANIC_THRESHOLD }
    }
}

/// What an active check looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckKind {
    /// A TCP connect, HAProxy's default `check`: passes while the process is up, however
    /// overloaded it is.
    Tcp,
    /// An HTTP request (`option httpchk`): it waits its turn like any request, so it fails
    /// when the backend could not answer within the check timeout. Its answer time is
    /// estimated from the backend's queue and mean service time.
    Http,
}

/// Periodic active health checks, with HAProxy's defaults.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ActiveCheck {
    /// Time between checks (HAProxy `inter`, default 2 s).
    pub interval: Duration,
    /// A check slower than this fails (HAProxy `timeout check`, default: the interval).
    pub timeout: Duration,
    /// Consecutive passes that bring a down backend up (HAProxy `rise`, default 2).
    pub rise: u32,
    /// Consecutive failures that take an up backend down (HAProxy `fall`, default 3).
    pub fall: u32,
    /// TCP or HTTP.
    pub kind: CheckKind,
}

impl Default for ActiveCheck {
    fn default() -> Self {
        let interval = Duration::from_secs(2);
        ActiveCheck { interval, timeout: interval, rise: 2, fall: 3, kind: CheckKind::Tcp }
    }
}

/// Passive outlier ejection, as Envoy's `outlier_detection` with `consecutive_5xx`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct OutlierDetection {
    /// Consecutive 5xx responses (or resets, or timeouts) that eject a backend (default 5).
    pub consecutive_5xx: u32,
    /// The first ejection lasts this long; the n-th lasts n times as long (default 30 s).
    pub base_ejection: Duration,
    /// No ejection lasts longer (Envoy `max_ejection_time`, default 300 s).
    pub max_ejection: Duration,
    /// At most this fraction of backends are ejected at once, but always at least one
    /// (Envoy `max_ejection_percent`, default 10%).
    pub max_ejection_fraction: f64,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_5xx: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_fraction: 0.1,
        }
    }
}

#[derive(Clone, Debug, Default)]
struct BackendHealth {
    down: bool,
    passes: u32,
    failures: u32,
    consecutive_errors: u32,
    ejected_until: Option<SimTime>,
    times_ejected: u32,
}

/// The balancer's view of backend health.
#[derive(Clone, Debug)]
pub struct Health {
    config: HealthConfig,
    backends: Vec<BackendHealth>,
    /// Backends ejected now: kept as ejections start and end, rather than counted over the
    /// fleet on every response.
    ejected: usize,
}

impl Health {
    /// Every backend up and not ejected.
    pub fn new(config: HealthConfig, backends: usize) -> Self {
        Health { config, backends: vec![BackendHealth::default(); backends], ejected: 0 }
    }

    /// The configuration.
    pub fn config(&self) -> &HealthConfig {
        &self.config
    }

    /// Records an active check of backend `b`; returns whether its up/down state changed.
    pub fn record_check(&mut self, b: usize, passed: bool) -> bool {
        let Some(check) = self.config.active else { return false };
        let h = &mut self.backends[b];
        if passed {
            h.failures = 0;
            h.passes += 1;
            if h.down && h.passes >= check.rise {
                h.down = false;
                return true;
            }
        } else {
            h.passes = 0;
            h.failures += 1;
            if !h.down && h.failures >= check.fall {
                h.down = true;
                return true;
            }
        }
        false
    }

    /// Records a response from backend `b` (an error: 5xx, reset or timeout); returns the
    /// end of a new ejection, if this response caused one.
    // Always inlined into `Balancer::feedback`, on every response (see there).
    #[inline(always)]
    pub fn record_response(&mut self, b: usize, now: SimTime, error: bool) -> Option<SimTime> {
        let outlier = self.config.outlier?;
        let ejected = self.ejected;
        let h = &mut self.backends[b];
        if !error {
            h.consecutive_errors = 0;
            return None;
        }
        h.consecutive_errors += 1;
        if h.ejected_until.is_some() || h.consecutive_errors < outlier.consecutive_5xx {
            return None;
        }
        let allowed = ((outlier.max_ejection_fraction * self.backends.len() as f64).floor() as usize).max(1);
        if ejected >= allowed {
            return None;
        }
        let h = &mut self.backends[b];
        h.times_ejected += 1;
        h.consecutive_errors = 0;
        let span = outlier.base_ejection.saturating_mul(h.times_ejected).min(outlier.max_ejection);
        let until = now + span;
        h.ejected_until = Some(until);
        self.ejected += 1;
        Some(until)
    }

    /// Ends backend `b`'s ejection if it is due at `now`; returns whether it ended.
    pub fn uneject(&mut self, b: usize, now: SimTime) -> bool {
        let h = &mut self.backends[b];
        match h.ejected_until {
            Some(until) if until <= now => {
                h.ejected_until = None;
                self.ejected -= 1;
                true
            }
            _ => false,
        }
    }

    /// Whether backend `b` passes checks and is not ejected.
    pub fn is_healthy(&self, b: usize) -> bool {
        let h = &self.backends[b];
        !h.down && h.ejected_until.is_none()
    }

    /// Which backends a policy may use: the healthy ones among `present`, or — when fewer
    /// than the panic threshold of the present ones are healthy — all present ones.
    pub fn eligibility(&self, present: &[bool], out: &mut [bool]) {
        let total = present.iter().filter(|&&p| p).count();
        let healthy = (0..present.len()).filter(|&b| present[b] && self.is_healthy(b)).count();
        let panic = total > 0 && (healthy as f64) < self.config.panic_threshold * total as f64;
        for b in 0..present.len() {
            out[b] = present[b] && (panic || self.is_healthy(b));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(active: Option<ActiveCheck>, outlier: Option<OutlierDetection>, n: usize) -> Health {
        Health::new(HealthConfig { active, outlier, panic_threshold: 0.5 }, n)
    }

    #[test]
    fn a_backend_goes_down_after_fall_failures_and_up_after_rise_passes() {
        let mut h = with(Some(ActiveCheck::default()), None, 1);
        assert!(!h.record_check(0, false) && !h.record_check(0, false));
        assert!(h.is_healthy(0));
        assert!(h.record_check(0, false), "third failure: down");
        assert!(!h.is_healthy(0));
        assert!(!h.record_check(0, true));
        assert!(!h.record_check(0, false), "a failure resets the rise count");
        assert!(!h.record_check(0, true) && h.record_check(0, true), "two passes in a row: up");
        assert!(h.is_healthy(0));
    }

    #[test]
    fn consecutive_errors_eject_for_growing_times_within_the_limit() {
        let mut h = with(None, Some(OutlierDetection::default()), 20);
        let t = |s: u64| SimTime::from(Duration::from_secs(s));
        for _ in 0..4 {
            assert_eq!(h.record_response(0, t(0), true), None);
        }
        assert_eq!(h.record_response(0, t(0), true), Some(t(30)));
        assert!(!h.is_healthy(0));
        assert!(!h.uneject(0, t(29)) && h.uneject(0, t(30)));
        for _ in 0..5 {
            h.record_response(0, t(40), true);
        }
        assert!(h.uneject(0, t(100)) && h.is_healthy(0), "second ejection lasts 60 s");
        // 10% of 20 backends: two may be ejected at once, not three.
        for b in 1..=3 {
            for _ in 0..5 {
                h.record_response(b, t(200), true);
            }
        }
        assert_eq!((1..=3).filter(|&b| !h.is_healthy(b)).count(), 2);
        // A success resets the count.
        let mut h = with(None, Some(OutlierDetection::default()), 2);
        for error in [true, true, true, true, false, true] {
            assert_eq!(h.record_response(0, t(0), error), None);
        }
    }

    #[test]
    fn below_the_panic_threshold_every_present_backend_is_eligible() {
        let mut h = with(Some(ActiveCheck { fall: 1, ..ActiveCheck::default() }), None, 4);
        let present = [true, true, true, false];
        let mut out = [false; 4];
        h.record_check(0, false);
        h.eligibility(&present, &mut out);
        assert_eq!(out, [false, true, true, false]);
        h.record_check(1, false);
        h.eligibility(&present, &mut out);
        assert_eq!(out, [true, true, true, false], "1 of 3 healthy is below 50%: panic");
    }
}
