//! Open-loop arrival processes: when the next request leaves a client.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, Exp};
use stacksim_engine::span_from_secs;

use crate::ModelError;

/// How a client's requests are spaced in time. Open loop: a client sends whether or not
/// earlier requests have been answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Arrivals {
    /// A Poisson process: exponential gaps with mean `1 / rate_per_s`.
    Poisson {
        /// Mean arrival rate [requests·s⁻¹].
        rate_per_s: f64,
    },
    /// Evenly spaced arrivals, exactly `1 / rate_per_s` apart.
    Deterministic {
        /// Arrival rate [requests·s⁻¹].
        rate_per_s: f64,
    },
}

impl Arrivals {
    /// The mean arrival rate [requests·s⁻¹].
    pub fn rate_per_s(&self) -> f64 {
        match *self {
            Arrivals::Poisson { rate_per_s } | Arrivals::Deterministic { rate_per_s } => rate_per_s,
        }
    }

    /// A sampler of gaps between arrivals, or what is wrong with the rate.
    pub fn sampler(&self) -> Result<GapSampler, ModelError> {
        let rate = self.rate_per_s();
        if !(rate > 0.0 && rate.is_finite()) {
            return Err(ModelError::InvalidRate(rate));
        }
        Ok(match self {
            Arrivals::Poisson { .. } => {
                GapSampler::Exponential(Exp::new(rate).map_err(|_| ModelError::InvalidRate(rate))?)
            }
            Arrivals::Deterministic { .. } => {
                GapSampler::Fixed(span_from_secs(1.0 / rate).map_err(|_| ModelError::InvalidRate(rate))?)
            }
        })
    }
}

/// Draws gaps between consecutive arrivals.
#[derive(Clone, Debug)]
pub enum GapSampler {
    /// Exponential gaps (Poisson arrivals).
    Exponential(Exp<f64>),
    /// Fixed gaps.
    Fixed(Duration),
}

impl GapSampler {
    /// The gap before the next arrival.
    #[inline]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> Duration {
        match self {
            GapSampler::Exponential(exp) => span_from_secs(exp.sample(rng)).unwrap_or(Duration::ZERO),
            GapSampler::Fixed(gap) => *gap,
        }
    }
}
