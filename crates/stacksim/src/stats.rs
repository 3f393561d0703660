//! Means and confidence intervals over replications.

use serde::{Deserialize, Serialize};
use statrs::distribution::{ContinuousCDF, StudentsT};

/// A metric's mean over replications and the half-width of its 95% confidence interval
/// (Student t with n − 1 degrees of freedom). `ci95` is NaN (null in JSON) with a single
/// replication; both are NaN when any replication had no value.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Estimate {
    /// Mean over replications.
    #[serde(with = "nan_as_null")]
    pub mean: f64,
    /// Half-width of the 95% confidence interval around the mean.
    #[serde(with = "nan_as_null")]
    pub ci95: f64,
}

impl Estimate {
    /// No value: mean and interval NaN (`null` in JSON).
    pub const NONE: Estimate = Estimate { mean: f64::NAN, ci95: f64::NAN };

    /// The estimate from one value per replication.
    pub fn of(samples: &[f64]) -> Estimate {
        let n = samples.len();
        if n == 0 {
            return Estimate { mean: f64::NAN, ci95: f64::NAN };
        }
        let mean = samples.iter().sum::<f64>() / n as f64;
        if n == 1 {
            return Estimate { mean, ci95: f64::NAN };
        }
        let variance = samples.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        Estimate { mean, ci95: t_975(n - 1) * (variance / n as f64).sqrt() }
    }

    /// Whether `value` lies within the interval widened by `slack`.
    pub fn covers(&self, value: f64, slack: f64) -> bool {
        (self.mean - value).abs() <= self.ci95 + slack
    }
}

/// The 97.5% quantile of Student's t with `df` degrees of freedom.
pub fn t_975(df: usize) -> f64 {
    StudentsT::new(0.0, 1.0, df as f64).map_or(f64::NAN, |t| t.inverse_cdf(0.975))
}

/// Serializes NaN and infinities as `null` and reads `null` back as NaN, so that a metric with
/// no value (no successful request) round-trips through JSON.
pub mod nan_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes a non-finite value as `null`.
    pub fn serialize<S: Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
        if value.is_finite() { serializer.serialize_f64(*value) } else { serializer.serialize_none() }
    }

    /// Reads `null` as NaN.
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
        Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn student_t_quantiles_match_tables() {
        assert!((t_975(1) - 12.706).abs() < 1e-3);
        assert!((t_975(4) - 2.776).abs() < 1e-3);
        assert!((t_975(29) - 2.045).abs() < 1e-3);
    }

    #[test]
    fn estimate_of_known_samples() {
        let e = Estimate::of(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(e.mean, 3.0);
        // s = sqrt(2.5), t(4) = 2.7764
        assert!((e.ci95 - 2.7764 * (2.5_f64 / 5.0).sqrt()).abs() < 1e-3);
        assert!(Estimate::of(&[7.0]).ci95.is_nan());
        assert!(e.covers(4.0, 0.0) && !e.covers(5.0, 0.0));
    }
}
