//! A backend group's adaptive concurrency limit in the experiment file (issue 12):
//! `concurrency: Gradient(...) | Vegas(...) | Aimd(...)`, mirroring
//! [`stacksim_model::overload::Concurrency`], with the production defaults written next to
//! the fields.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use stacksim_model::HumanDuration;
use stacksim_model::overload::{Aimd, Concurrency, Gradient, Vegas};

/// An adaptive concurrency limit; an omitted field takes the production default.
///
/// ```
/// use ron::extensions::Extensions;
/// use stacksim::model::overload::Concurrency;
/// use stacksim::spec::ConcurrencySpec;
///
/// // Experiment files are read with ron's `implicit_some`: optional fields are written plainly.
/// let ron = ron::Options::default().with_default_extension(Extensions::IMPLICIT_SOME);
/// let spec: ConcurrencySpec =
///     ron.from_str(r#"Gradient(concurrency_update_interval: "100ms", min_rtt_calc_interval: "60s")"#)?;
/// let Concurrency::Gradient(envoy) = spec.model() else { unreachable!() };
/// assert_eq!((envoy.min_concurrency, envoy.request_count, envoy.buffer_percent), (3, 50, 25.0));
/// # Ok::<(), ron::error::SpannedError>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum ConcurrencySpec {
    /// Envoy's adaptive concurrency filter, gradient controller:
    /// `Gradient(concurrency_update_interval: "100ms", min_rtt_calc_interval: "60s")`.
    Gradient {
        /// Time between limit updates, > 0. Required (as in Envoy).
        concurrency_update_interval: HumanDuration,
        /// Time between minRTT measurements, before jitter, ≥ 1ms. Required unless
        /// `fixed_min_rtt` is set.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_rtt_calc_interval: Option<HumanDuration>,
        /// A fixed minRTT, which turns measurement off. Default: measured.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        fixed_min_rtt: Option<HumanDuration>,
        /// Percentile summarising the latencies, 0..=100. Default 50.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sample_aggregate_percentile: Option<f64>,
        /// Ceiling of the limit, ≥ 1. Default 1000.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency_limit: Option<u32>,
        /// Floor of the limit, ≥ 1; set, minRTT measurements no longer pin the limit. Default:
        /// `min_concurrency`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_concurrency_limit: Option<u32>,
        /// Samples per minRTT measurement, ≥ 1. Default 50.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request_count: Option<u32>,
        /// Longest delay added to the minRTT interval, in percent of it, 0..=100. Default 15.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        jitter_percent: Option<f64>,
        /// The limit while minRTT is measured, ≥ 1. Default 3.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_concurrency: Option<u32>,
        /// Tolerance over minRTT, in percent of it, 0..=100. Default 25.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        buffer_percent: Option<f64>,
    },
    /// Netflix concurrency-limits' `VegasLimit`: `Vegas()`, or `Vegas(initial_limit: 50)`.
    Vegas {
        /// The limit at the start, ≥ 1. Default 20.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_limit: Option<u32>,
        /// Ceiling of the limit, ≥ 1. Default 1000.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_concurrency: Option<u32>,
        /// Weight of the new value in each change, in (0, 1]. Default 1.0.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        smoothing: Option<f64>,
        /// Samples between no-load RTT probes, in multiples of the limit, ≥ 1. Default 30.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        probe_multiplier: Option<u32>,
        /// A fixed alpha. Default: 3·log₁₀(limit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        alpha: Option<u32>,
        /// A fixed beta. Default: 6·log₁₀(limit).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        beta: Option<u32>,
    },
    /// Netflix concurrency-limits' `AIMDLimit`: `Aimd()`, or `Aimd(min_limit: 5)`.
    Aimd {
        /// The limit at the start, ≥ 1. Default 20.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        initial_limit: Option<u32>,
        /// Floor of the limit, ≥ 1. Default 20.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        min_limit: Option<u32>,
        /// Ceiling of the limit, ≥ 1. Default 200.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_limit: Option<u32>,
        /// Multiplier on a drop, in [0.5, 1). Default 0.9.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        backoff_ratio: Option<f64>,
        /// A sample slower than this counts as a drop, > 0. Default "5s".
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<HumanDuration>,
    },
}

impl ConcurrencySpec {
    /// The model's limiter, defaults filled. A gradient controller with neither
    /// `min_rtt_calc_interval` nor `fixed_min_rtt` gets a zero interval, which its checks
    /// report.
    pub fn model(&self) -> Concurrency {
        let span = |d: Option<HumanDuration>, default: Duration| d.map_or(default, |d| d.0);
        match *self {
            ConcurrencySpec::Gradient {
                concurrency_update_interval,
                min_rtt_calc_interval,
                fixed_min_rtt,
                sample_aggregate_percentile,
                max_concurrency_limit,
                min_concurrency_limit,
                request_count,
                jitter_percent,
                min_concurrency,
                buffer_percent,
            } => {
                let d =
                    Gradient::new(concurrency_update_interval.0, span(min_rtt_calc_interval, Duration::ZERO));
                Concurrency::Gradient(Gradient {
                    fixed_min_rtt: fixed_min_rtt.map(|d| d.0),
                    sample_aggregate_percentile: sample_aggregate_percentile
                        .unwrap_or(d.sample_aggregate_percentile),
                    max_concurrency_limit: max_concurrency_limit.unwrap_or(d.max_concurrency_limit),
                    min_concurrency_limit,
                    request_count: request_count.unwrap_or(d.request_count),
                    jitter_percent: jitter_percent.unwrap_or(d.jitter_percent),
                    min_concurrency: min_concurrency.unwrap_or(d.min_concurrency),
                    buffer_percent: buffer_percent.unwrap_or(d.buffer_percent),
                    ..d
                })
            }
            ConcurrencySpec::Vegas {
                initial_limit,
                max_concurrency,
                smoothing,
                probe_multiplier,
                alpha,
                beta,
            } => {
                let d = Vegas::default();
                Concurrency::Vegas(Vegas {
                    initial_limit: initial_limit.unwrap_or(d.initial_limit),
                    max_concurrency: max_concurrency.unwrap_or(d.max_concurrency),
                    smoothing: smoothing.unwrap_or(d.smoothing),
                    probe_multiplier: probe_multiplier.unwrap_or(d.probe_multiplier),
                    alpha,
                    beta,
                })
            }
            ConcurrencySpec::Aimd { initial_limit, min_limit, max_limit, backoff_ratio, timeout } => {
                let d = Aimd::default();
                Concurrency::Aimd(Aimd {
                    initial_limit: initial_limit.unwrap_or(d.initial_limit),
                    min_limit: min_limit.unwrap_or(d.min_limit),
                    max_limit: max_limit.unwrap_or(d.max_limit),
                    backoff_ratio: backoff_ratio.unwrap_or(d.backoff_ratio),
                    timeout: span(timeout, d.timeout),
                })
            }
        }
    }

    /// Every problem with the limiter, with fields as the file writes them.
    pub fn problems(&self) -> Vec<stacksim_model::Invalid> {
        self.model().problems()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<ConcurrencySpec, ron::error::SpannedError> {
        ron::Options::default()
            .with_default_extension(ron::extensions::Extensions::IMPLICIT_SOME)
            .from_str(text)
    }

    #[test]
    fn omitted_fields_take_the_production_defaults() {
        let envoy = read(r#"Gradient(concurrency_update_interval: "100ms", min_rtt_calc_interval: "60s")"#);
        assert_eq!(
            envoy.unwrap().model(),
            Concurrency::Gradient(Gradient::new(Duration::from_millis(100), Duration::from_secs(60)))
        );
        assert_eq!(read("Vegas()").unwrap().model(), Concurrency::Vegas(Vegas::default()));
        assert_eq!(read("Aimd()").unwrap().model(), Concurrency::Aimd(Aimd::default()));
    }

    #[test]
    fn written_fields_replace_the_defaults() {
        let aimd = read(r#"Aimd(min_limit: 5, timeout: "1s")"#).unwrap().model();
        let expected = Aimd { min_limit: 5, timeout: Duration::from_secs(1), ..Aimd::default() };
        assert_eq!(aimd, Concurrency::Aimd(expected));
        let fixed = read(
            r#"Gradient(concurrency_update_interval: "50ms", fixed_min_rtt: "8ms", jitter_percent: 0.0)"#,
        );
        let Concurrency::Gradient(g) = fixed.unwrap().model() else { panic!("not a gradient") };
        assert_eq!((g.fixed_min_rtt, g.jitter_percent), (Some(Duration::from_millis(8)), 0.0));
        assert_eq!(g.min_rtt_calc_interval, Duration::ZERO, "not needed with a fixed minRTT");
        assert_eq!(Concurrency::Gradient(g).problems(), []);
    }

    #[test]
    fn unknown_fields_and_missing_intervals_are_reported() {
        let typo = read("Vegas(smothing: 0.5)").unwrap_err().to_string();
        assert!(typo.contains("smothing"), "{typo}");
        assert!(read("Gradient()").is_err(), "concurrency_update_interval is required");
        let no_min_rtt = read(r#"Gradient(concurrency_update_interval: "100ms")"#).unwrap();
        let fields: Vec<String> = no_min_rtt.problems().into_iter().map(|p| p.field).collect();
        assert_eq!(fields, ["min_rtt_calc_interval"]);
    }

    #[test]
    fn a_spec_reads_back_what_it_writes() {
        let spec = read(
            r#"Gradient(concurrency_update_interval: "100ms", min_rtt_calc_interval: "60s", min_concurrency: 5)"#,
        );
        let spec = spec.unwrap();
        let text = ron::to_string(&spec).unwrap();
        assert!(!text.contains("buffer_percent"), "omitted fields stay omitted: {text}");
        assert_eq!(read(&text).unwrap(), spec, "{text}");
    }
}
