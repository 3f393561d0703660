//! Service-time distributions: how long a worker spends on one request.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp, Gamma, LogNormal, Pareto, Uniform};
use stacksim_engine::span_from_secs;

use crate::ModelError;

/// How long a worker spends on one request. Every variant is sampled with `rand_distr`.
#[derive(Clone, Debug, PartialEq)]
pub enum ServiceTime {
    /// Exponential with the given mean (memoryless: the M in M/M/c).
    Exponential {
        /// Mean service time.
        mean: Duration,
    },
    /// Always exactly this long (the D in M/D/1).
    Constant(Duration),
    /// Log-normal: `ln T` is normal with mean `ln median` and standard deviation `sigma`.
    LogNormal {
        /// Median service time.
        median: Duration,
        /// Standard deviation of `ln T` (dimensionless, ≥ 0).
        sigma: f64,
    },
    /// Gamma with the given mean and coefficient of variation (`cv` = 1 is exponential).
    Gamma {
        /// Mean service time.
        mean: Duration,
        /// Coefficient of variation: standard deviation over mean (> 0).
        cv: f64,
    },
    /// Uniform between `min` and `max`.
    Uniform {
        /// Shortest service time.
        min: Duration,
        /// Longest service time (≥ `min`).
        max: Duration,
    },
    /// Pareto (heavy-tailed): `P(T > t) = (scale / t)^shape` for `t ≥ scale`.
    Pareto {
        /// Minimum service time.
        scale: Duration,
        /// Tail index (> 0; the mean is finite only above 1).
        shape: f64,
    },
}

impl ServiceTime {
    /// The mean service time in seconds; infinite for Pareto with `shape` ≤ 1.
    pub fn mean_secs(&self) -> f64 {
        match *self {
            ServiceTime::Exponential { mean } | ServiceTime::Gamma { mean, .. } => mean.as_secs_f64(),
            ServiceTime::Constant(d) => d.as_secs_f64(),
            ServiceTime::LogNormal { median, sigma } => median.as_secs_f64() * (sigma * sigma / 2.0).exp(),
            ServiceTime::Uniform { min, max } => (min.as_secs_f64() + max.as_secs_f64()) / 2.0,
            ServiceTime::Pareto { scale, shape } if shape > 1.0 => {
                scale.as_secs_f64() * shape / (shape - 1.0)
            }
            ServiceTime::Pareto { .. } => f64::INFINITY,
        }
    }

    /// A sampler for this distribution, or what is wrong with its parameters.
    pub fn sampler(&self) -> Result<ServiceSampler, ModelError> {
        let bad = |why: &str| ModelError::InvalidServiceTime(format!("{self:?}: {why}"));
        if let Some(problem) = self.problems().into_iter().next() {
            return Err(bad(&problem.to_string()));
        }
        let secs = Duration::as_secs_f64;
        let inner = match *self {
            ServiceTime::Constant(d) => Inner::Constant(d),
            ServiceTime::Exponential { mean } => {
                Inner::Exponential(Exp::new(1.0 / secs(&mean)).map_err(|e| bad(&e.to_string()))?)
            }
            ServiceTime::LogNormal { median, sigma } => {
                let ln = LogNormal::new(secs(&median).ln(), sigma).map_err(|e| bad(&e.to_string()))?;
                Inner::LogNormal(ln)
            }
            ServiceTime::Gamma { mean, cv } => {
                let shape = 1.0 / (cv * cv);
                let scale = secs(&mean) * cv * cv;
                Inner::Gamma(Gamma::new(shape, scale).map_err(|e| bad(&e.to_string()))?)
            }
            ServiceTime::Uniform { min, max } => {
                let u = Uniform::new_inclusive(secs(&min), secs(&max)).map_err(|e| bad(&e.to_string()))?;
                Inner::Uniform(u)
            }
            ServiceTime::Pareto { scale, shape } => {
                Inner::Pareto(Pareto::new(secs(&scale), shape).map_err(|e| bad(&e.to_string()))?)
            }
        };
        Ok(ServiceSampler { inner })
    }
}

/// Draws service times from a validated [`ServiceTime`].
#[derive(Clone, Debug)]
pub struct ServiceSampler {
    inner: Inner,
}

#[derive(Clone, Debug)]
enum Inner {
    Constant(Duration),
    Exponential(Exp<f64>),
    LogNormal(LogNormal<f64>),
    Gamma(Gamma<f64>),
    Uniform(Uniform<f64>),
    Pareto(Pareto<f64>),
}

impl ServiceSampler {
    /// One service time.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match &self.inner {
            // The M of M/M/c inline, where the request's size stream stays in registers; the
            // others behind a call (issue 10).
            Inner::Exponential(d) => span(d.sample(rng)),
            _ => self.sample_other(rng),
        }
    }

    /// [`ServiceSampler::sample`] of a distribution other than the exponential.
    #[inline(never)]
    fn sample_other<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        span(match &self.inner {
            Inner::Constant(d) => return *d,
            Inner::Exponential(d) => d.sample(rng),
            Inner::LogNormal(d) => d.sample(rng),
            Inner::Gamma(d) => d.sample(rng),
            Inner::Uniform(d) => d.sample(rng),
            Inner::Pareto(d) => d.sample(rng),
        })
    }
}

/// A sampled service time of `secs` seconds. The parameters were validated, so a NaN or
/// negative sample cannot occur; if a distribution ever produced one, a zero-length service is
/// the safe reading.
#[inline]
fn span(secs: f64) -> Duration {
    span_from_secs(secs).unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacksim_engine::rng::stream;

    fn sample_mean(service: ServiceTime) -> f64 {
        let sampler = service.sampler().unwrap();
        let mut rng = stream(3, "test");
        let n = 200_000;
        (0..n).map(|_| sampler.sample(&mut rng).as_secs_f64()).sum::<f64>() / n as f64
    }

    #[test]
    fn sample_means_match_the_stated_means() {
        let ms = Duration::from_millis;
        for service in [
            ServiceTime::Exponential { mean: ms(100) },
            ServiceTime::Constant(ms(100)),
            ServiceTime::LogNormal { median: ms(80), sigma: 0.5 },
            ServiceTime::Gamma { mean: ms(100), cv: 2.0 },
            ServiceTime::Uniform { min: ms(50), max: ms(150) },
            ServiceTime::Pareto { scale: ms(50), shape: 3.0 },
        ] {
            let expected = service.mean_secs();
            let got = sample_mean(service.clone());
            assert!((got - expected).abs() < 0.03 * expected, "{service:?}: {got} vs {expected}");
        }
    }

    #[test]
    fn invalid_parameters_are_errors_not_panics() {
        let ms = Duration::from_millis;
        for service in [
            ServiceTime::LogNormal { median: ms(0), sigma: 0.5 },
            ServiceTime::LogNormal { median: ms(1), sigma: f64::NAN },
            ServiceTime::Gamma { mean: ms(1), cv: 0.0 },
            ServiceTime::Uniform { min: ms(2), max: ms(1) },
            ServiceTime::Pareto { scale: ms(1), shape: -1.0 },
        ] {
            assert!(service.sampler().is_err(), "{service:?}");
        }
    }
}
