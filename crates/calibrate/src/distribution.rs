//! Service-time distributions fitted by maximum likelihood, chosen by AIC, checked by the
//! Kolmogorov–Smirnov statistic.
//!
//! The families are those `stacksim_model::ServiceTime` samples: Exponential, LogNormal,
//! Gamma, Pareto and Uniform (Constant when every value is the same). The estimators:
//!
//! | family | maximum-likelihood estimate |
//! |---|---|
//! | Exponential | mean = sample mean |
//! | LogNormal | μ, σ = mean and (1/n) standard deviation of ln x; median = e^μ |
//! | Gamma | shape k solves ln k − ψ(k) = ln x̄ − mean(ln x) (Minka's start, Newton steps); mean = x̄ |
//! | Pareto | scale = min x; shape = n / Σ ln(x / scale) |
//! | Uniform | min x, max x |
//!
//! AIC = 2·(parameters) − 2·ln L; the lowest wins. Values of 0 (a millisecond timer rounding
//! a fast response down) are read as half the smallest positive value, so ln x is finite.

use std::time::Duration;

use serde::Serialize;
use stacksim::spec::ServiceSpec;
use stacksim_model::HumanDuration;
use statrs::distribution::{ContinuousCDF, Exp, Gamma, LogNormal, Pareto, Uniform};
use statrs::function::gamma::{digamma, ln_gamma};

/// One family's fit.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Candidate {
    /// The family: `Exponential`, `LogNormal`, `Gamma`, `Pareto`, `Uniform` or `Constant`.
    pub family: &'static str,
    /// The fitted distribution, as an experiment file writes it.
    #[serde(serialize_with = "as_ron")]
    pub service: ServiceSpec,
    /// Log-likelihood of the sample.
    pub log_likelihood: f64,
    /// Akaike information criterion.
    pub aic: f64,
    /// Kolmogorov–Smirnov statistic: the largest gap between the empirical and fitted CDFs.
    pub ks: f64,
    /// Median of the fitted distribution \[s\].
    pub median_s: f64,
}

fn as_ron<S: serde::Serializer>(service: &ServiceSpec, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&ron::to_string(service).unwrap_or_default())
}

/// The fits of one sample.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DistributionFit {
    /// Values fitted.
    pub n: usize,
    /// Empirical median \[s\].
    pub empirical_median_s: f64,
    /// Every family that could be fitted, best AIC first.
    pub candidates: Vec<Candidate>,
    /// QQ points of the best fit: (fitted quantile, empirical quantile) \[s\] at 1%..99%.
    pub qq: Vec<(f64, f64)>,
    /// CDF points: (x \[s\], empirical CDF, fitted CDF) at 100 empirical quantiles.
    pub cdf: Vec<(f64, f64, f64)>,
}

impl DistributionFit {
    /// The chosen fit (lowest AIC).
    pub fn best(&self) -> &Candidate {
        &self.candidates[0]
    }
}

enum Fitted {
    Constant(f64),
    Exp(Exp),
    LogNormal(LogNormal, f64, f64),
    Gamma(Gamma, f64, f64),
    Pareto(Pareto, f64, f64),
    Uniform(Uniform, f64, f64),
}

impl Fitted {
    fn cdf(&self, x: f64) -> f64 {
        match self {
            Fitted::Constant(c) => f64::from(u8::from(x >= *c)),
            Fitted::Exp(d) => d.cdf(x),
            Fitted::LogNormal(d, ..) => d.cdf(x),
            Fitted::Gamma(d, ..) => d.cdf(x),
            Fitted::Pareto(d, ..) => d.cdf(x),
            Fitted::Uniform(d, ..) => d.cdf(x),
        }
    }

    fn quantile(&self, p: f64) -> f64 {
        match self {
            Fitted::Constant(c) => *c,
            Fitted::Exp(d) => d.inverse_cdf(p),
            Fitted::LogNormal(d, ..) => d.inverse_cdf(p),
            Fitted::Gamma(d, ..) => d.inverse_cdf(p),
            Fitted::Pareto(d, ..) => d.inverse_cdf(p),
            Fitted::Uniform(d, ..) => d.inverse_cdf(p),
        }
    }

    fn family(&self) -> &'static str {
        match self {
            Fitted::Constant(_) => "Constant",
            Fitted::Exp(_) => "Exponential",
            Fitted::LogNormal(..) => "LogNormal",
            Fitted::Gamma(..) => "Gamma",
            Fitted::Pareto(..) => "Pareto",
            Fitted::Uniform(..) => "Uniform",
        }
    }

    fn spec(&self) -> ServiceSpec {
        let d = |s: f64| HumanDuration(Duration::try_from_secs_f64(s).unwrap_or(Duration::ZERO));
        match *self {
            Fitted::Constant(c) => ServiceSpec::Constant(d(c)),
            Fitted::Exp(ref e) => ServiceSpec::Exponential { mean: d(1.0 / e.rate()) },
            Fitted::LogNormal(_, mu, sigma) => ServiceSpec::LogNormal { median: d(mu.exp()), sigma },
            Fitted::Gamma(_, mean, cv) => ServiceSpec::Gamma { mean: d(mean), cv },
            Fitted::Pareto(_, scale, shape) => ServiceSpec::Pareto { scale: d(scale), shape },
            Fitted::Uniform(_, min, max) => ServiceSpec::Uniform { min: d(min), max: d(max) },
        }
    }
}

/// Fits every family to `values` (seconds, ≥ 0); `None` for an empty sample.
pub fn fit_service(values: &[f64]) -> Option<DistributionFit> {
    let mut x: Vec<f64> = values.iter().copied().filter(|v| v.is_finite() && *v >= 0.0).collect();
    if x.is_empty() {
        return None;
    }
    x.sort_unstable_by(f64::total_cmp);
    let smallest_positive = x.iter().copied().find(|v| *v > 0.0).unwrap_or(1e-3);
    for v in &mut x {
        if *v <= 0.0 {
            *v = smallest_positive / 2.0;
        }
    }
    let n = x.len() as f64;
    let empirical_median_s = empirical_quantile(&x, 0.5);
    let mut fits: Vec<(Fitted, f64, usize)> = Vec::new();
    if x[0] == x[x.len() - 1] {
        fits.push((Fitted::Constant(x[0]), 0.0, 1));
    } else {
        let mean = x.iter().sum::<f64>() / n;
        let ln: Vec<f64> = x.iter().map(|v| v.ln()).collect();
        let sum_ln: f64 = ln.iter().sum();
        let mean_ln = sum_ln / n;
        // Exponential.
        if let Ok(d) = Exp::new(1.0 / mean) {
            fits.push((Fitted::Exp(d), -n * mean.ln() - n, 1));
        }
        // LogNormal.
        let sigma = (ln.iter().map(|l| (l - mean_ln).powi(2)).sum::<f64>() / n).sqrt();
        if sigma > 0.0
            && let Ok(d) = LogNormal::new(mean_ln, sigma)
        {
            let ll = -sum_ln - n * (sigma * (2.0 * std::f64::consts::PI).sqrt()).ln() - n / 2.0;
            fits.push((Fitted::LogNormal(d, mean_ln, sigma), ll, 2));
        }
        // Gamma.
        let s = mean.ln() - mean_ln;
        if s > 0.0 {
            let mut k = (3.0 - s + ((s - 3.0).powi(2) + 24.0 * s).sqrt()) / (12.0 * s);
            for _ in 0..20 {
                let f = k.ln() - digamma(k) - s;
                let h = 1e-6 * k;
                let trigamma = (digamma(k + h) - digamma(k - h)) / (2.0 * h);
                let step = f / (1.0 / k - trigamma);
                let next = k - step;
                k = if next > 0.0 { next } else { k / 2.0 };
                if step.abs() < 1e-10 * k {
                    break;
                }
            }
            let theta = mean / k;
            if let Ok(d) = Gamma::new(k, 1.0 / theta) {
                let ll = (k - 1.0) * sum_ln - n * mean / theta - n * k * theta.ln() - n * ln_gamma(k);
                fits.push((Fitted::Gamma(d, mean, 1.0 / k.sqrt()), ll, 2));
            }
        }
        // Pareto.
        let scale = x[0];
        let sum_log_ratio: f64 = sum_ln - n * scale.ln();
        if sum_log_ratio > 0.0 {
            let shape = n / sum_log_ratio;
            if let Ok(d) = Pareto::new(scale, shape) {
                let ll = n * shape.ln() + n * shape * scale.ln() - (shape + 1.0) * sum_ln;
                fits.push((Fitted::Pareto(d, scale, shape), ll, 2));
            }
        }
        // Uniform.
        let (lo, hi) = (x[0], x[x.len() - 1]);
        if let Ok(d) = Uniform::new(lo, hi) {
            fits.push((Fitted::Uniform(d, lo, hi), -n * (hi - lo).ln(), 2));
        }
    }
    let mut candidates: Vec<(Candidate, Fitted)> = fits
        .into_iter()
        .filter(|(_, ll, _)| ll.is_finite())
        .map(|(f, ll, k)| {
            let candidate = Candidate {
                family: f.family(),
                service: f.spec(),
                log_likelihood: ll,
                aic: 2.0 * k as f64 - 2.0 * ll,
                ks: ks_statistic(&x, |v| f.cdf(v)),
                median_s: f.quantile(0.5),
            };
            (candidate, f)
        })
        .collect();
    candidates.sort_by(|a, b| a.0.aic.total_cmp(&b.0.aic));
    let best = &candidates.first()?.1;
    let qq = (1..100)
        .map(|i| {
            let p = f64::from(i) / 100.0;
            (best.quantile(p), empirical_quantile(&x, p))
        })
        .collect();
    let cdf = (0..=100)
        .map(|i| {
            let p = f64::from(i) / 100.0;
            let v = empirical_quantile(&x, p);
            (v, p, best.cdf(v))
        })
        .collect();
    Some(DistributionFit {
        n: x.len(),
        empirical_median_s,
        candidates: candidates.into_iter().map(|(c, _)| c).collect(),
        qq,
        cdf,
    })
}

/// The `p` quantile of sorted values (linear interpolation).
pub fn empirical_quantile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let h = p * (sorted.len() - 1) as f64;
    let i = h.floor() as usize;
    let j = (i + 1).min(sorted.len() - 1);
    sorted[i] + (h - i as f64) * (sorted[j] - sorted[i])
}

/// sup |F_n(x) − F(x)| over a sorted sample.
pub fn ks_statistic(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    sorted
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let f = cdf(v);
            (f - i as f64 / n).abs().max(((i + 1) as f64 / n - f).abs())
        })
        .fold(0.0, f64::max)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_sample::*;

    /// Deterministic samples without a dependency: inverse-CDF of a SplitMix64 stream.
    mod rand_sample {
        pub fn uniforms(n: usize) -> impl Iterator<Item = f64> {
            let mut state = 7u64;
            (0..n).map(move |_| {
                state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
                let mut z = state;
                z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
                z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
                z ^= z >> 31;
                ((z >> 11) as f64 + 0.5) / (1u64 << 53) as f64
            })
        }
    }

    fn sample(d: &impl ContinuousCDF<f64, f64>, n: usize) -> Vec<f64> {
        uniforms(n).map(|u| d.inverse_cdf(u)).collect()
    }

    #[test]
    fn lognormal_data_choose_lognormal_with_its_parameters() {
        let x = sample(&LogNormal::new((0.05f64).ln(), 0.6).unwrap(), 20_000);
        let fit = fit_service(&x).unwrap();
        let best = fit.best();
        assert_eq!(best.family, "LogNormal", "{:?}", fit.candidates);
        let ServiceSpec::LogNormal { median, sigma } = &best.service else { unreachable!() };
        assert!((median.0.as_secs_f64() / 0.05 - 1.0).abs() < 0.02, "{median:?}");
        assert!((sigma - 0.6).abs() < 0.02, "{sigma}");
        assert!(best.ks < 0.02, "{}", best.ks);
    }

    #[test]
    fn gamma_data_choose_gamma_with_its_mean_and_cv() {
        let x = sample(&Gamma::new(4.0, 4.0 / 0.08).unwrap(), 20_000); // mean 80 ms, cv 0.5
        let fit = fit_service(&x).unwrap();
        let best = fit.best();
        assert_eq!(best.family, "Gamma", "{:?}", fit.candidates);
        let ServiceSpec::Gamma { mean, cv } = &best.service else { unreachable!() };
        assert!((mean.0.as_secs_f64() / 0.08 - 1.0).abs() < 0.02, "{mean:?}");
        assert!((cv - 0.5).abs() < 0.02, "{cv}");
    }

    #[test]
    fn exponential_data_choose_exponential_or_its_gamma_twin() {
        let x = sample(&Exp::new(10.0).unwrap(), 20_000);
        let fit = fit_service(&x).unwrap();
        // Gamma with k = 1 is the exponential; AIC charges it one parameter more.
        assert_eq!(fit.best().family, "Exponential", "{:?}", fit.candidates);
        assert!((fit.best().median_s / (0.1 * 2f64.ln()) - 1.0).abs() < 0.03);
    }

    #[test]
    fn constant_and_tiny_samples_do_not_panic() {
        assert_eq!(fit_service(&[0.1; 10]).unwrap().best().family, "Constant");
        assert!(fit_service(&[]).is_none());
        assert!(fit_service(&[f64::NAN]).is_none());
        let zeros = fit_service(&[0.0, 0.0, 0.001, 0.002]).unwrap();
        assert!(zeros.best().aic.is_finite());
    }
}
