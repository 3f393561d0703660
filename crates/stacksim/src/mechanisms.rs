//! The overload-control mechanisms an experiment file can configure, each with the production
//! implementation it follows: what `stacksim mechanisms` lists, as `stacksim policies` lists
//! the balancing policies.

/// One mechanism, as `stacksim mechanisms` shows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MechanismInfo {
    /// Where it goes in the stack: `clients[].hedge`, `balancer.admission_control`.
    pub field: &'static str,
    /// How the file writes it, with its defaults where it has them.
    pub synopsis: &'static str,
    /// What it does, in one line.
    pub summary: &'static str,
    /// The production implementation (or publication) it follows.
    pub source: &'static str,
}

/// Every mechanism, clients first, then the balancer, then the backends. A test puts each
/// synopsis at its field in a small stack and checks that the file is valid.
pub const MECHANISMS: &[MechanismInfo] = &[
    MechanismInfo {
        field: "clients[].retry",
        synopsis: "(max_attempts: 3, backoff: \"25ms\", max_backoff: \"1s\", budget_ratio: 0.2, budget_min_per_s: 10.0)",
        summary: "retry a failed attempt after exponential backoff with full jitter, within a retry budget",
        source: "Envoy retry policy and retry budgets, Finagle RetryBudget",
    },
    MechanismInfo {
        field: "clients[].retry",
        synopsis: "(max_attempts: 3, hedge_on_per_try_timeout: true)",
        summary: "an attempt past the client's timeout runs on beside its retry; the first answer wins",
        source: "Envoy route hedge_policy.hedge_on_per_try_timeout",
    },
    MechanismInfo {
        field: "clients[].hedge",
        synopsis: "(max_attempts: 2, delay: \"50ms\")",
        summary: "send another attempt each delay until one answers; the first answer wins, the rest are cancelled",
        source: "gRPC hedgingPolicy (gRFC A6)",
    },
    MechanismInfo {
        field: "clients[].retry_throttling",
        synopsis: "(max_tokens: 10.0, token_ratio: 0.1)",
        summary: "failures take a token, successes give token_ratio; no retry or hedge below half the tokens",
        source: "gRPC retryThrottling (gRFC A6)",
    },
    MechanismInfo {
        field: "clients[].breaker",
        synopsis: "(failure_rate: 0.5, window: \"10s\", min_requests: 20, open_for: \"30s\", half_open: 5)",
        summary: "closed -> open past failure_rate over a sliding window; open holds requests back; half-open probes",
        source: "resilience4j CircuitBreaker (Hystrix style)",
    },
    MechanismInfo {
        field: "clients[].throttle",
        synopsis: "(k: 2.0, window: \"2m\")",
        summary: "reject locally with probability max(0, (requests - k * accepts) / (requests + 1))",
        source: "Google SRE book, ch. 21 \"Client-side throttling\"",
    },
    MechanismInfo {
        field: "clients[].classes",
        synopsis: "[(name: \"search\", weight: 0.2, service_scale: 5.0, priority: Low)]",
        summary: "a mix of endpoints, each with its share, its work and its priority; metrics per class",
        source: "Google SRE book, ch. 21 \"Criticality\" (SHEDDABLE .. CRITICAL_PLUS)",
    },
    MechanismInfo {
        field: "balancer.admission_control",
        synopsis: "(window: \"30s\", success_threshold: 0.95, aggression: 1.0, max_rejection_probability: 0.8)",
        summary: "503 with probability ((n - s / threshold) / (n + 1))^(1 / aggression) over the window",
        source: "Envoy admission_control filter",
    },
    MechanismInfo {
        field: "balancer.rate_limit",
        synopsis: "(tokens_per_s: 500.0, burst: 100)",
        summary: "a token bucket per balancer instance; an empty bucket answers 429",
        source: "Envoy local rate limit",
    },
    MechanismInfo {
        field: "backends[].circuit_breakers",
        synopsis: "(max_connections: 1024, max_pending_requests: 1024, max_requests: 1024, max_retries: 3)",
        summary: "per backend group: past a threshold the attempt is a 503 at once (overflow_ratio)",
        source: "Envoy cluster circuit_breakers thresholds",
    },
    MechanismInfo {
        field: "backends[].rate_limit",
        synopsis: "(tokens_per_s: 85.0, burst: 50)",
        summary: "a token bucket in front of each replica; an empty bucket answers 429",
        source: "Envoy local rate limit",
    },
    MechanismInfo {
        field: "backends[].slow_start",
        synopsis: "(window: \"60s\", aggression: 1.0, min_weight_percent: 10.0)",
        summary: "after it joins, weight x max(min%, (t / window)^(1 / aggression))",
        source: "Envoy slow_start_config; HAProxy slowstart (aggression 1)",
    },
    MechanismInfo {
        field: "backends[].warmup",
        synopsis: "(window: \"30s\", factor: 3.0)",
        summary: "a (re)started process serves clamp(window / t, 1, factor) times slower",
        source: "cold start (JIT, caches), as Finagle and Envoy motivate slow start",
    },
    MechanismInfo {
        field: "backends[].concurrency",
        synopsis: "Gradient(concurrency_update_interval: \"100ms\", min_rtt_calc_interval: \"60s\")",
        summary: "limit x clamp((1 + buffer) minRTT / sampleRTT, 0.5, 2) + headroom; over the limit, 503",
        source: "Envoy adaptive_concurrency filter, gradient controller",
    },
    MechanismInfo {
        field: "backends[].concurrency",
        synopsis: "Vegas(initial_limit: 20, max_concurrency: 1000)",
        summary: "grow or shrink the limit on the queue estimate limit x (1 - rttNoLoad / rtt)",
        source: "Netflix concurrency-limits VegasLimit",
    },
    MechanismInfo {
        field: "backends[].concurrency",
        synopsis: "Aimd(initial_limit: 20, min_limit: 20, max_limit: 200, backoff_ratio: 0.9)",
        summary: "+1 while at least half the limit is in flight, x backoff_ratio on a drop",
        source: "Netflix concurrency-limits AIMDLimit",
    },
    MechanismInfo {
        field: "backends[].shed",
        synopsis: "(queue_above: 50, priority_below: High)",
        summary: "past queue_above waiting, attempts of classes below the priority are a 503 at once",
        source: "Google SRE book, ch. 21: criticality-based load shedding",
    },
    MechanismInfo {
        field: "backends[].discipline",
        synopsis: "CoDel(target: \"5ms\", interval: \"100ms\", adaptive_lifo: false)",
        summary: "waits limited to target unless the queue was empty within interval; the rest 503",
        source: "Facebook CoDel (\"Fail at Scale\", ACM Queue 2015)",
    },
    MechanismInfo {
        field: "backends[].discipline",
        synopsis: "AdaptiveLifo",
        summary: "newest first while the queue has not been empty for 100 ms, else oldest first",
        source: "Facebook adaptive LIFO (\"Fail at Scale\")",
    },
];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Experiment, PolicyRegistry};

    /// A small stack with `synopsis` written at `field`.
    fn file_with(field: &str, synopsis: &str) -> String {
        let (client, balancer, backend) = match field.split_once('.') {
            Some(("clients[]", name)) => (format!(", {name}: {synopsis}"), String::new(), String::new()),
            Some(("balancer", name)) => (String::new(), format!(", {name}: {synopsis}"), String::new()),
            Some(("backends[]", name)) => (String::new(), String::new(), format!(", {name}: {synopsis}")),
            _ => panic!("no place for {field}"),
        };
        format!(
            r#"Experiment(
    name: "mechanism",
    seed: 1,
    duration: "1m",
    stack: (
        clients: [(name: "web", arrivals: Poisson(rate_per_s: 10.0), timeout: "1s"{client})],
        balancer: (policy: RoundRobin{balancer}),
        backends: [(name: "app", replicas: 2, workers: 2, queue: Bounded(10),
                    service: Exponential(mean: "50ms"){backend})],
    ),
)"#
        )
    }

    #[test]
    fn every_listed_synopsis_is_valid_where_it_is_listed() {
        for m in MECHANISMS {
            let text = file_with(m.field, m.synopsis);
            let loaded = Experiment::load_str(&text, "mechanism.ron", &PolicyRegistry::new());
            assert!(loaded.is_ok(), "{}: {}: {:?}", m.field, m.synopsis, loaded.err());
        }
    }

    #[test]
    fn a_wrong_synopsis_is_caught() {
        // The check above can fail: a field the file format does not have is refused.
        let text = file_with("backends[].concurrency", "Gradient(update: \"1s\")");
        let error = Experiment::load_str(&text, "mechanism.ron", &PolicyRegistry::new()).unwrap_err();
        assert!(error.to_string().contains("update"), "{error}");
    }
}
