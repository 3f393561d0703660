//! Range checks of the configuration types, in one place.
//!
//! Every parameter with a range is checked here, once: the simulation's constructors call
//! these checks (so a library user gets a [`ModelError`] naming the field), and `stacksim`'s
//! validation maps the same [`Invalid`] values to a file, line and column. The messages say
//! what would be valid, in the words of the experiment file.

use std::fmt;
use std::time::Duration;

use crate::overload::{
    AdmissionControl, CircuitBreakers, ClientBreaker, Concurrency, RateLimit, SlowStart, Throttle, Warmup,
};
use crate::{
    ActiveCheck, Arrivals, ClientConfig, DatabaseConfig, Degradation, HedgePolicy, ModelError,
    OutlierDetection, RetryPolicy, RetryThrottling, ServiceTime, StackConfig, Users,
};

/// One parameter outside its range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Invalid {
    /// The field, relative to the checked value, as an experiment file writes it:
    /// `mean`, `points[1]`, `slope`; empty for the value as a whole.
    pub field: String,
    /// What is wrong and what would be valid.
    pub message: String,
}

impl Invalid {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Invalid { field: field.into(), message: message.into() }
    }

    /// The same problem, one level down: `prefix.field`.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = match (prefix.is_empty(), self.field.is_empty()) {
            (true, _) => self.field,
            (false, true) => prefix.to_owned(),
            (false, false) => format!("{prefix}.{}", self.field),
        };
        self
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

/// Collects problems; the checks below push into one.
#[derive(Debug, Default)]
struct Problems(Vec<Invalid>);

impl Problems {
    fn push(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(Invalid::new(field, message));
    }

    /// `value` must be positive and finite.
    fn positive(&mut self, field: &str, value: f64) {
        if !(value > 0.0 && value.is_finite()) {
            self.push(field, format!("{field} must be a positive, finite number, not {value}"));
        }
    }

    /// `value` must be at least 1; `what` names it in the message.
    fn at_least_one(&mut self, field: &str, value: u64, what: &str) {
        if value == 0 {
            self.push(field, format!("{what} must be at least 1, not 0"));
        }
    }

    /// A span that must be longer than zero; `what` names it in the message.
    fn longer_than_zero(&mut self, field: &str, span: Duration, what: &str) {
        if span.is_zero() {
            self.push(field, format!("{what} must be longer than zero"));
        }
    }

    fn extend(&mut self, prefix: &str, problems: Vec<Invalid>) {
        self.0.extend(problems.into_iter().map(|p| p.within(prefix)));
    }
}

impl ServiceTime {
    /// Every parameter of the distribution outside its range.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        match *self {
            ServiceTime::Exponential { mean } if mean.is_zero() => {
                p.push("mean", "the mean must be longer than zero, like \"100ms\"");
            }
            ServiceTime::Exponential { .. } | ServiceTime::Constant(_) => {}
            ServiceTime::LogNormal { median, sigma } => {
                if median.is_zero() {
                    p.push("median", "the median must be longer than zero, like \"80ms\"");
                }
                if !(sigma >= 0.0 && sigma.is_finite()) {
                    p.push("sigma", format!("sigma must be a finite number ≥ 0, not {sigma}"));
                }
            }
            ServiceTime::Gamma { mean, cv } => {
                if mean.is_zero() {
                    p.push("mean", "the mean must be longer than zero, like \"100ms\"");
                }
                p.positive("cv", cv);
                // The gamma's shape is 1/cv² and its scale mean × cv²: both must be positive,
                // finite numbers to sample from.
                if cv > 0.0 && !(1.0 / (cv * cv)).is_finite() {
                    p.push("cv", format!("cv {cv} is too small to sample (use Constant for no variation)"));
                } else if cv.is_finite()
                    && !(1.0 / (cv * cv) > 0.0 && (mean.as_secs_f64() * cv * cv).is_finite())
                {
                    p.push(
                        "cv",
                        format!("cv {cv:?} is too large to sample (its shape, 1/cv², rounds to zero)"),
                    );
                }
            }
            ServiceTime::Uniform { min, max } => {
                if min > max {
                    let (min, max) = (humantime::format_duration(min), humantime::format_duration(max));
                    p.push("max", format!("max ({max}) must not be shorter than min ({min})"));
                }
            }
            ServiceTime::Pareto { scale, shape } => {
                if scale.is_zero() {
                    p.push("scale", "the scale must be longer than zero, like \"10ms\"");
                }
                p.positive("shape", shape);
            }
        }
        p.0
    }
}

impl Arrivals {
    /// Every parameter of the arrival process outside its range.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        match self {
            Arrivals::Poisson { rate_per_s } | Arrivals::Deterministic { rate_per_s } => {
                if !(*rate_per_s > 0.0 && rate_per_s.is_finite()) {
                    p.push(
                        "rate_per_s",
                        format!("rate_per_s (requests per second) must be a positive, finite number, not {rate_per_s}"),
                    );
                }
            }
            Arrivals::Schedule { points, .. } => {
                if points.is_empty() {
                    p.push("points", "a schedule needs points, like [(\"0s\", 100.0), (\"10m\", 300.0)]");
                }
                for (j, (at, rate)) in points.iter().enumerate() {
                    if !(rate.is_finite() && *rate >= 0.0) {
                        p.push(
                            format!("points[{j}]"),
                            format!("a rate must be a finite number ≥ 0, not {rate}"),
                        );
                    }
                    if j > 0 && *at < points[j - 1].0 {
                        p.push(format!("points[{j}]"), "schedule points must be in time order");
                    }
                }
                if !points.is_empty() && points.iter().all(|p| p.1 == 0.0) {
                    p.push("points", "at least one point needs a rate above zero");
                }
            }
            Arrivals::Trace { times, keys } => {
                if times.is_empty() {
                    p.push("", "the trace has no arrivals");
                }
                if times.windows(2).any(|w| w[1] < w[0]) {
                    p.push("", "trace times must be sorted");
                }
                if keys.as_ref().is_some_and(|k| k.len() != times.len()) {
                    p.push("", "a trace needs one key per arrival");
                }
            }
            Arrivals::Closed { users, think } => {
                p.at_least_one("users", u64::from(*users), "users");
                p.longer_than_zero("think", *think, "the think time");
            }
        }
        p.0
    }
}

impl Users {
    /// A population with no users, or a Zipf exponent out of range. Fields are the client's:
    /// `users` and `user_skew`.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if self.count == 0 {
            p.push("users", "users must be at least 1, like users: 10000");
        }
        if !(self.skew >= 0.0 && self.skew.is_finite()) {
            p.push(
                "user_skew",
                format!(
                    "user_skew must be a finite number ≥ 0 (0 = every user alike; around 1 is typical of web traffic), not {}",
                    self.skew
                ),
            );
        }
        p.0
    }
}

impl RetryPolicy {
    /// Every retry parameter outside its range; budget fields are `budget_ratio` and
    /// `budget_min_per_s`, as experiment files write them.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.at_least_one("max_attempts", u64::from(self.max_attempts), "max_attempts (the first try included)");
        if self.max_backoff < self.backoff {
            p.push("max_backoff", "max_backoff must not be shorter than backoff");
        }
        if let Some(budget) = self.budget {
            if !(budget.ratio.is_finite() && budget.ratio >= 0.0) {
                p.push("budget_ratio", format!("budget_ratio must be ≥ 0, like 0.2, not {}", budget.ratio));
            }
            if !(budget.min_per_s.is_finite() && budget.min_per_s >= 0.0) {
                p.push("budget_min_per_s", format!("budget_min_per_s must be ≥ 0, not {}", budget.min_per_s));
            }
        }
        p.0
    }
}

impl HedgePolicy {
    /// `max_attempts` outside 2 to 5 (gRPC: "must be two or greater", capped at 5 by clients).
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if !(2..=HedgePolicy::MAX_ATTEMPTS).contains(&self.max_attempts) {
            p.push(
                "max_attempts",
                format!(
                    "max_attempts (the first attempt included) must be 2 to {} as in gRPC's hedgingPolicy, not {}",
                    HedgePolicy::MAX_ATTEMPTS,
                    self.max_attempts
                ),
            );
        }
        p.0
    }
}

impl RetryThrottling {
    /// `max_tokens` not in (0, 1e6], `token_ratio` under 0.001 (gRPC keeps three decimal
    /// places) or not finite.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if !(self.max_tokens > 0.0 && self.max_tokens <= RetryThrottling::MAX_TOKENS) {
            p.push(
                "max_tokens",
                format!(
                    "max_tokens must be greater than 0 and at most {}, like 10 (gRPC's maxTokens), not {}",
                    RetryThrottling::MAX_TOKENS,
                    self.max_tokens
                ),
            );
        }
        if !(self.token_ratio >= 0.001 && self.token_ratio <= RetryThrottling::MAX_TOKENS) {
            p.push(
                "token_ratio",
                format!(
                    "token_ratio must be at least 0.001 (gRPC keeps three decimal places), like 0.1, not {}",
                    self.token_ratio
                ),
            );
        }
        p.0
    }
}

impl ClientConfig {
    /// Every problem with the client's arrivals (under `arrivals`), timeout, retries (under
    /// `retry`), hedging (under `hedge`), retry throttling (under `retry_throttling`) and users.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.extend("arrivals", self.arrivals.problems());
        p.0.extend(timeout(self.timeout));
        if let Some(retry) = &self.retry {
            p.extend("retry", retry.problems());
        }
        if let Some(hedge) = &self.hedge {
            p.extend("hedge", hedge.problems());
            if self.retry.is_some() {
                p.push(
                    "hedge",
                    "a client either retries or hedges, as gRPC's service config allows only one of \
                     retryPolicy and hedgingPolicy: remove retry or hedge",
                );
            }
        }
        if self.hedge_on_per_try_timeout {
            match (&self.retry, self.timeout) {
                (Some(retry), Some(_)) if retry.max_attempts <= HedgePolicy::MAX_ATTEMPTS => {}
                (Some(retry), Some(_)) => p.push(
                    "retry.hedge_on_per_try_timeout",
                    format!(
                        "a request hedged on its per-try timeout keeps at most {} attempts in flight: \
                         max_attempts must be at most {}, not {}",
                        HedgePolicy::MAX_ATTEMPTS,
                        HedgePolicy::MAX_ATTEMPTS,
                        retry.max_attempts
                    ),
                ),
                _ => p.push(
                    "retry.hedge_on_per_try_timeout",
                    "hedging on the per-try timeout needs a timeout (the per-try timeout, like \"200ms\") \
                     and a retry policy",
                ),
            }
        }
        if let Some(throttling) = &self.retry_throttling {
            p.extend("retry_throttling", throttling.problems());
        }
        if let Some(users) = &self.users {
            p.extend("", users.problems());
        }
        if let Some(breaker) = &self.breaker {
            p.extend("breaker", breaker.problems());
        }
        if let Some(throttle) = &self.throttle {
            p.extend("throttle", throttle.problems());
        }
        p.0.extend(classes(&self.classes));
        p.0
    }
}

/// Every problem with a client's request classes, at `classes[i].name`, `.weight` and
/// `.service_scale`: an empty or repeated name, a weight or scale that is not a positive,
/// finite number, more than [`crate::classes::MAX_CLASSES_PER_CLIENT`] classes.
pub fn classes(classes: &[crate::RequestClass]) -> Vec<Invalid> {
    let mut p = Problems::default();
    let max = crate::classes::MAX_CLASSES_PER_CLIENT;
    if classes.len() > max {
        p.push("classes", format!("a client has at most {max} request classes, not {}", classes.len()));
    }
    for (i, class) in classes.iter().enumerate() {
        let at = |field: &str| format!("classes[{i}].{field}");
        if class.name.is_empty() {
            p.push(at("name"), "a class needs a name, like \"search\"");
        } else if classes[..i].iter().any(|c| c.name == class.name) {
            p.push(at("name"), format!("the class name {:?} is used twice in this client", class.name));
        }
        if !(class.weight > 0.0 && class.weight.is_finite()) {
            p.push(
                at("weight"),
                format!("a class's weight must be a positive, finite number, like 0.2, not {}", class.weight),
            );
        }
        if !(class.service_scale > 0.0 && class.service_scale.is_finite()) {
            p.push(
                at("service_scale"),
                format!(
                    "service_scale must be a positive, finite number (1.0 = the backend's own service time), not {}",
                    class.service_scale
                ),
            );
        }
    }
    if classes.iter().all(|c| c.weight.is_finite())
        && !classes.iter().map(|c| c.weight).sum::<f64>().is_finite()
    {
        p.push("classes", "the classes' weights add up to more than a float holds: use smaller weights");
    }
    p.0
}

/// `value` must lie in `(0, 1]`.
fn fraction_above_zero(p: &mut Problems, field: &str, value: f64, example: &str) {
    if !(value > 0.0 && value <= 1.0) {
        p.push(
            field,
            format!("{field} must be a fraction above 0 and at most 1, like {example}, not {value}"),
        );
    }
}

impl ClientBreaker {
    /// `failure_rate` outside (0, 1], zero spans or counts.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        fraction_above_zero(&mut p, "failure_rate", self.failure_rate, "0.5");
        p.longer_than_zero("window", self.window, "the window");
        p.at_least_one("min_requests", u64::from(self.min_requests), "min_requests");
        p.longer_than_zero("open_for", self.open_for, "open_for");
        p.at_least_one("half_open", u64::from(self.half_open), "half_open (probes)");
        p.0
    }
}

impl Throttle {
    /// `k` below 1, a zero window.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if !(self.k >= 1.0 && self.k.is_finite()) {
            p.push("k", format!("k must be a finite number ≥ 1 (the SRE book suggests 2.0), not {}", self.k));
        }
        p.longer_than_zero("window", self.window, "the window");
        p.0
    }
}

impl AdmissionControl {
    /// A zero window, a threshold outside (0, 1], a non-positive aggression, a ceiling outside
    /// [0, 1].
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.longer_than_zero("window", self.window, "the window");
        fraction_above_zero(&mut p, "success_threshold", self.success_threshold, "0.95");
        p.positive("aggression", self.aggression);
        if !(0.0..=1.0).contains(&self.max_rejection_probability) {
            p.push(
                "max_rejection_probability",
                format!("a probability between 0 and 1, not {}", self.max_rejection_probability),
            );
        }
        p.0
    }
}

impl RateLimit {
    /// A rate that is not positive, a burst of zero.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.positive("tokens_per_s", self.tokens_per_s);
        p.at_least_one("burst", u64::from(self.burst), "burst");
        p.0
    }
}

impl CircuitBreakers {
    /// Thresholds that would refuse every attempt.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.at_least_one("max_connections", u64::from(self.max_connections), "max_connections");
        p.at_least_one("max_requests", u64::from(self.max_requests), "max_requests");
        p.0
    }
}

impl SlowStart {
    /// A zero window, a non-positive aggression, a floor outside 0..=100.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.longer_than_zero("window", self.window, "the window");
        p.positive("aggression", self.aggression);
        if !(0.0..=100.0).contains(&self.min_weight_percent) {
            p.push(
                "min_weight_percent",
                format!("a percentage between 0 and 100, not {}", self.min_weight_percent),
            );
        }
        p.0
    }
}

impl Warmup {
    /// A zero window, a factor below 1.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.longer_than_zero("window", self.window, "the window");
        if !(self.factor >= 1.0 && self.factor.is_finite()) {
            p.push(
                "factor",
                format!("factor must be a finite number ≥ 1 (1 = no warm-up), not {}", self.factor),
            );
        }
        p.0
    }
}

/// `value` must be a percentage between 0 and 100.
fn percentage(p: &mut Problems, field: &str, value: f64) {
    if !(0.0..=100.0).contains(&value) {
        p.push(field, format!("{field} must be a percentage between 0 and 100, not {value}"));
    }
}

impl Concurrency {
    /// Zero spans and counts, percentages outside 0..=100, a gradient controller with neither a
    /// minRTT interval nor a fixed minRTT, Vegas smoothing outside (0, 1], an AIMD backoff
    /// outside [0.5, 1) (Netflix's own precondition).
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        match self {
            Concurrency::Gradient(g) => {
                p.longer_than_zero(
                    "concurrency_update_interval",
                    g.concurrency_update_interval,
                    "the update interval (like \"100ms\", Envoy's concurrency_update_interval)",
                );
                percentage(&mut p, "sample_aggregate_percentile", g.sample_aggregate_percentile);
                let limit = u64::from(g.max_concurrency_limit);
                p.at_least_one("max_concurrency_limit", limit, "max_concurrency_limit");
                if let Some(floor) = g.min_concurrency_limit {
                    p.at_least_one("min_concurrency_limit", u64::from(floor), "min_concurrency_limit");
                }
                match g.fixed_min_rtt {
                    Some(fixed) => p.longer_than_zero("fixed_min_rtt", fixed, "a fixed minRTT"),
                    None if g.min_rtt_calc_interval < Duration::from_millis(1) => p.push(
                        "min_rtt_calc_interval",
                        "min_rtt_calc_interval must be at least 1ms (like \"60s\"), or set fixed_min_rtt",
                    ),
                    None => {}
                }
                p.at_least_one("request_count", u64::from(g.request_count), "request_count");
                percentage(&mut p, "jitter_percent", g.jitter_percent);
                p.at_least_one("min_concurrency", u64::from(g.min_concurrency), "min_concurrency");
                percentage(&mut p, "buffer_percent", g.buffer_percent);
            }
            Concurrency::Vegas(v) => {
                p.at_least_one("initial_limit", u64::from(v.initial_limit), "initial_limit");
                p.at_least_one("max_concurrency", u64::from(v.max_concurrency), "max_concurrency");
                fraction_above_zero(&mut p, "smoothing", v.smoothing, "1.0");
                p.at_least_one("probe_multiplier", u64::from(v.probe_multiplier), "probe_multiplier");
                if v.initial_limit > v.max_concurrency {
                    p.push(
                        "initial_limit",
                        format!(
                            "initial_limit must be at most max_concurrency ({}), not {}",
                            v.max_concurrency, v.initial_limit
                        ),
                    );
                }
            }
            Concurrency::Aimd(a) => {
                p.at_least_one("initial_limit", u64::from(a.initial_limit), "initial_limit");
                p.at_least_one("min_limit", u64::from(a.min_limit), "min_limit");
                p.at_least_one("max_limit", u64::from(a.max_limit), "max_limit");
                if a.min_limit > a.max_limit {
                    p.push(
                        "min_limit",
                        format!("min_limit must be at most max_limit ({}), not {}", a.max_limit, a.min_limit),
                    );
                } else if !(a.min_limit..=a.max_limit).contains(&a.initial_limit) {
                    p.push(
                        "initial_limit",
                        format!(
                            "initial_limit must lie between min_limit ({}) and max_limit ({}), not {}",
                            a.min_limit, a.max_limit, a.initial_limit
                        ),
                    );
                }
                if !(0.5..1.0).contains(&a.backoff_ratio) {
                    p.push(
                        "backoff_ratio",
                        format!(
                            "backoff_ratio must be at least 0.5 and below 1, like 0.9, not {}",
                            a.backoff_ratio
                        ),
                    );
                }
                p.longer_than_zero("timeout", a.timeout, "the timeout");
            }
        }
        p.0
    }
}

/// A client timeout of zero would time out every attempt at once.
pub fn timeout(timeout: Option<Duration>) -> Vec<Invalid> {
    let mut p = Problems::default();
    if let Some(timeout) = timeout {
        p.longer_than_zero("timeout", timeout, "the timeout");
    }
    p.0
}

/// A backend with no workers could never serve anything.
pub fn workers(workers: u32) -> Vec<Invalid> {
    let mut p = Problems::default();
    p.at_least_one("workers", u64::from(workers), "workers");
    p.0
}

/// A queue timeout of zero would answer every queued request with 503 at once.
pub fn queue_timeout(timeout: Option<Duration>) -> Vec<Invalid> {
    let mut p = Problems::default();
    if let Some(timeout) = timeout {
        p.longer_than_zero("queue_timeout", timeout, "the queue timeout");
    }
    p.0
}

impl Degradation {
    /// A negative or non-finite slope.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if !(self.slope.is_finite() && self.slope >= 0.0) {
            p.push("slope", format!("slope must be ≥ 0, not {}", self.slope));
        }
        p.0
    }
}

impl crate::BackendConfig {
    /// Every problem with the backend: `workers`, `service`, `queue_timeout`, `degradation`,
    /// `discipline`.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.0.extend(workers(self.workers));
        p.extend("service", self.service.problems());
        p.0.extend(queue_timeout(self.queue_timeout));
        if let Some(degradation) = &self.degradation {
            p.extend("degradation", degradation.problems());
        }
        if let Some(limits) = &self.circuit_breakers {
            p.extend("circuit_breakers", limits.problems());
        }
        if let Some(limit) = &self.rate_limit {
            p.extend("rate_limit", limit.problems());
        }
        if let Some(slow_start) = &self.slow_start {
            p.extend("slow_start", slow_start.problems());
        }
        if let Some(warmup) = &self.warmup {
            p.extend("warmup", warmup.problems());
        }
        if let Some(concurrency) = &self.concurrency {
            p.extend("concurrency", concurrency.problems());
        }
        p.extend("discipline", self.discipline.problems());
        p.0
    }
}

impl crate::overload::discipline::Discipline {
    /// CoDel's `target` and `interval` must be longer than zero, the target shorter than the
    /// interval.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if let crate::overload::discipline::Discipline::CoDel { target, interval, .. } = *self {
            p.longer_than_zero("target", target, "CoDel's target (like \"5ms\")");
            p.longer_than_zero("interval", interval, "CoDel's interval (like \"100ms\")");
            if !target.is_zero() && target >= interval {
                p.push(
                    "target",
                    "CoDel's target must be shorter than its interval (Facebook's: 5ms and 100ms)",
                );
            }
        }
        p.0
    }
}

impl DatabaseConfig {
    /// Every problem with the database tier: `workers`, `pool`, `fraction`, `service`.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.at_least_one("workers", u64::from(self.workers), "workers");
        p.at_least_one("pool", u64::from(self.pool), "pool (connections per backend)");
        if !(0.0..=1.0).contains(&self.fraction) {
            p.push("fraction", format!("fraction must be between 0 and 1, not {}", self.fraction));
        }
        p.extend("service", self.service.problems());
        p.0
    }
}

impl ActiveCheck {
    /// Zero intervals or timeouts, or `rise`/`fall` of zero.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.longer_than_zero("interval", self.interval, "the check interval");
        p.longer_than_zero("timeout", self.timeout, "the check timeout");
        p.at_least_one("rise", u64::from(self.rise), "rise");
        p.at_least_one("fall", u64::from(self.fall), "fall");
        p.0
    }
}

impl OutlierDetection {
    /// `consecutive_5xx` of zero or an ejection fraction outside 0..=1.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        p.at_least_one("consecutive_5xx", u64::from(self.consecutive_5xx), "consecutive_5xx");
        if !(0.0..=1.0).contains(&self.max_ejection_fraction) {
            p.push(
                "max_ejection_fraction",
                format!("a fraction between 0 and 1, not {}", self.max_ejection_fraction),
            );
        }
        p.0
    }
}

/// Longest scaling-policy period and stabilization window Kubernetes accepts (30 minutes and
/// one hour: `periodSeconds` ≤ 1800, `stabilizationWindowSeconds` ≤ 3600).
const MAX_PERIOD: Duration = Duration::from_secs(1800);
const MAX_WINDOW: Duration = Duration::from_secs(3600);

impl crate::fleet::Hpa {
    /// Every autoscaler parameter outside its range, by its field in an experiment file
    /// (`target`, `min`, `scale_up.period`, ...).
    pub fn problems(&self) -> Vec<Invalid> {
        use crate::fleet::HpaMetric;
        let mut p = Problems::default();
        match self.metric {
            HpaMetric::Utilization => {
                if !(self.target > 0.0 && self.target <= 1.0) {
                    p.push("target", format!("a Utilization target is a fraction of the workers, above 0 and at most 1, like 0.75, not {}", self.target));
                }
            }
            _ => {
                if !(self.target > 0.0 && self.target.is_finite() && self.target <= 1e9) {
                    p.push(
                        "target",
                        format!(
                            "the target must be a positive per-pod value, like 20.0, not {}",
                            self.target
                        ),
                    );
                }
            }
        }
        if !(self.tolerance >= 0.0 && self.tolerance < 1.0) {
            p.push(
                "tolerance",
                format!(
                    "the tolerance is a fraction at least 0 and below 1, like 0.1, not {}",
                    self.tolerance
                ),
            );
        }
        let b = &self.behavior;
        p.at_least_one("min", u64::from(b.min), "min (replicas)");
        if b.max < b.min {
            p.push("max", format!("max ({}) must not be below min ({})", b.max, b.min));
        }
        if b.max > crate::fleet::MAX_REPLICAS {
            p.push(
                "max",
                format!("max must be at most {} replicas, not {}", crate::fleet::MAX_REPLICAS, b.max),
            );
        }
        p.longer_than_zero("sync", self.sync, "the sync period");
        if b.scale_down_window > MAX_WINDOW {
            p.push("scale_down_window", "the stabilization window must be at most 1h, as Kubernetes allows");
        }
        p.at_least_one("scale_up.percent", u64::from(b.scale_up.percent), "scale_up.percent");
        p.at_least_one("scale_up.pods", u64::from(b.scale_up.pods), "scale_up.pods");
        if !(1..=100).contains(&b.scale_down.percent) {
            p.push(
                "scale_down.percent",
                format!("scale_down.percent must be between 1 and 100, not {}", b.scale_down.percent),
            );
        }
        for (field, period) in
            [("scale_up.period", b.scale_up.period), ("scale_down.period", b.scale_down.period)]
        {
            p.longer_than_zero(field, period, "the period");
            if period > MAX_PERIOD {
                p.push(field, "a period must be at most 30m, as Kubernetes allows");
            }
        }
        p.0
    }
}

impl crate::fleet::FleetConfig {
    /// The autoscaler's problems (under `autoscale`) and the versions' service times.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if let Some(hpa) = &self.autoscale {
            p.extend("autoscale", hpa.problems());
        }
        for (i, version) in self.versions.iter().enumerate() {
            p.extend(&format!("versions[{i}]"), version.problems());
        }
        if self.versions.is_empty() {
            p.push("versions", "a group needs its own service time as version 0");
        }
        p.0
    }
}

impl crate::Topology {
    /// Every parameter of the balancer tier outside its range, named as the experiment file's
    /// `balancer` names them.
    pub fn problems(&self) -> Vec<Invalid> {
        use crate::{Connections, Subset};
        let mut p = Problems::default();
        p.at_least_one("instances", u64::from(self.instances), "instances");
        if self.instances > crate::topology::MAX_INSTANCES {
            p.push(
                "instances",
                format!("at most {} instances, not {}", crate::topology::MAX_INSTANCES, self.instances),
            );
        }
        if let Subset::Random { size } | Subset::Deterministic { size } = self.subset {
            p.at_least_one("subset.size", u64::from(size), "the subset size");
        }
        match self.connections {
            Connections::PerRequest => {}
            Connections::KeepAlive { per_instance, max_requests, max_age } => {
                p.at_least_one("connections.per_instance", u64::from(per_instance), "per_instance");
                if let Some(m) = max_requests {
                    p.at_least_one("connections.max_requests", u64::from(m), "max_requests");
                }
                if let Some(age) = max_age {
                    p.longer_than_zero("connections.max_age", age, "max_age");
                }
            }
            Connections::Http2 { per_instance, max_age } => {
                p.at_least_one("connections.per_instance", u64::from(per_instance), "per_instance");
                if let Some(age) = max_age {
                    p.longer_than_zero("connections.max_age", age, "max_age");
                }
            }
        }
        if let Some(latency) = self.cross_zone_latency {
            p.longer_than_zero("cross_zone_latency", latency, "cross_zone_latency");
        }
        if !(self.overprovisioning >= 1.0 && self.overprovisioning <= 100.0) {
            p.push(
                "overprovisioning",
                format!("a factor from 1.0 to 100 (Envoy's default is 1.4), not {}", self.overprovisioning),
            );
        }
        p.0
    }
}

impl StackConfig {
    /// Every problem with the stack, each with the path of its field, like
    /// `backends[2].service.mean`.
    pub fn problems(&self) -> Vec<Invalid> {
        let mut p = Problems::default();
        if self.clients.is_empty() {
            p.push("clients", "the stack has no clients");
        }
        for (i, client) in self.clients.iter().enumerate() {
            p.extend(&format!("clients[{i}]"), client.problems());
        }
        if self.backends.is_empty() {
            p.push("backends", "the stack has no backends");
        }
        for (i, backend) in self.backends.iter().enumerate() {
            p.extend(&format!("backends[{i}]"), backend.problems());
        }
        if let Some(database) = &self.database {
            p.extend("database", database.problems());
        }
        for (i, fleet) in self.fleets.iter().enumerate() {
            p.extend(&format!("fleets[{i}]"), fleet.problems());
            if fleet.first + fleet.slots > self.backends.len() || fleet.replicas as usize > fleet.slots {
                p.push(
                    format!("fleets[{i}]"),
                    "the group's slots must be backends of the stack, replicas among them",
                );
            }
        }
        if let Some(active) = &self.health.active {
            p.extend("health.active", active.problems());
        }
        if let Some(outlier) = &self.health.outlier {
            p.extend("health.outlier", outlier.problems());
        }
        if !(0.0..=1.0).contains(&self.health.panic_threshold) {
            p.push(
                "health.panic_threshold",
                format!("a fraction between 0 and 1, not {}", self.health.panic_threshold),
            );
        }
        if let Some(admission) = &self.admission_control {
            p.extend("balancer.admission_control", admission.problems());
        }
        if let Some(limit) = &self.rate_limit {
            p.extend("balancer.rate_limit", limit.problems());
        }
        p.extend("balancer", self.topology.problems());
        // Attempts carry their class in one byte.
        let classes: usize = self.clients.iter().map(|c| c.classes.len().max(1)).sum();
        let max = crate::classes::MAX_CLASSES;
        if self.has_classes() && classes > max {
            p.push(
                "clients",
                format!(
                    "a stack has at most {max} request classes, counting one for each client without classes; this one has {classes}"
                ),
            );
        }
        for (i, backend) in self.backends.iter().enumerate() {
            if backend.priority > crate::topology::MAX_PRIORITY {
                p.push(
                    format!("backends[{i}].priority"),
                    format!(
                        "a priority level from 0 to {}, not {}",
                        crate::topology::MAX_PRIORITY,
                        backend.priority
                    ),
                );
            }
        }
        p.0
    }

    /// The stack as it is, or the first of its problems.
    pub fn check(&self) -> Result<(), ModelError> {
        match self.problems().into_iter().next() {
            None => Ok(()),
            Some(problem) => Err(ModelError::Invalid(problem)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{BackendConfig, QueueLimit};

    #[test]
    fn a_zero_mean_exponential_is_invalid_everywhere() {
        let zero = ServiceTime::Exponential { mean: Duration::ZERO };
        assert_eq!(zero.problems()[0].field, "mean");
        let mut stack = StackConfig {
            clients: vec![ClientConfig::new("c", Arrivals::Poisson { rate_per_s: 1.0 })],
            backends: vec![BackendConfig::new("b", 1, QueueLimit::Unbounded, zero)],
            ..StackConfig::default()
        };
        let error = stack.check().unwrap_err().to_string();
        assert!(error.contains("backends[0].service.mean"), "{error}");
        stack.backends[0].service = ServiceTime::Exponential { mean: Duration::from_millis(1) };
        assert_eq!(stack.check(), Ok(()));
    }

    #[test]
    fn adaptive_concurrency_defaults_pass_and_broken_fields_are_named() {
        use crate::overload::{Aimd, Gradient, Vegas};
        let envoy = Gradient::new(Duration::from_millis(100), Duration::from_secs(60));
        for ok in [
            Concurrency::Gradient(envoy),
            Concurrency::Vegas(Vegas::default()),
            Concurrency::Aimd(Aimd::default()),
        ] {
            assert_eq!(ok.problems(), [], "{ok:?}");
        }
        let fields = |c: Concurrency| c.problems().into_iter().map(|p| p.field).collect::<Vec<_>>();
        let no_min_rtt = Gradient { min_rtt_calc_interval: Duration::ZERO, buffer_percent: 125.0, ..envoy };
        assert_eq!(fields(Concurrency::Gradient(no_min_rtt)), ["min_rtt_calc_interval", "buffer_percent"]);
        let fixed = Gradient { fixed_min_rtt: Some(Duration::from_millis(5)), ..no_min_rtt };
        assert_eq!(fields(Concurrency::Gradient(fixed)), ["buffer_percent"]);
        let vegas = Vegas { initial_limit: 0, smoothing: 0.0, ..Vegas::default() };
        assert_eq!(fields(Concurrency::Vegas(vegas)), ["initial_limit", "smoothing"]);
        let aimd = Aimd { backoff_ratio: 1.0, timeout: Duration::ZERO, ..Aimd::default() };
        assert_eq!(fields(Concurrency::Aimd(aimd)), ["backoff_ratio", "timeout"]);
    }

    #[test]
    fn schedule_points_are_named_by_index() {
        let schedule = Arrivals::Schedule {
            points: vec![(Duration::from_secs(60), 1.0), (Duration::from_secs(30), -1.0)],
            linear: false,
        };
        let fields: Vec<String> = schedule.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["points[1]", "points[1]"]);
    }

    #[test]
    fn nested_fields_are_joined_with_dots() {
        let database = DatabaseConfig {
            workers: 0,
            service: ServiceTime::Gamma { mean: Duration::from_millis(5), cv: 0.0 },
            pool: 1,
            fraction: 0.5,
        };
        let fields: Vec<String> = database.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["workers", "service.cv"]);
    }
}
