//! Choosing the warm-up automatically: MSER-5 (White 1997; Franklin and White 2008).
//!
//! A run starts empty, which biases early observations. MSER-5 cuts the prefix that minimises
//! the standard error of the mean of what remains: with `Y` the batch means of 5 consecutive
//! observations and `n` batches, it picks `d` in `0..=n/2` minimising
//! `Σ_{i>d} (Y_i − Ȳ_d)² / (n − d)²`. Here the observations are the mean response times of
//! fixed time windows, so the cut is a time.

use std::time::Duration;

pub use crate::spec::Warmup;

/// The MSER-5 truncation point of `series` (one observation per window, NaN where a window
/// has none), as a number of observations to cut.
pub fn mser5(series: &[f64]) -> usize {
    // Batch means of 5, skipping empty windows within a batch.
    let batches: Vec<f64> = series
        .chunks_exact(5)
        .map(|chunk| {
            let values: Vec<f64> = chunk.iter().copied().filter(|x| x.is_finite()).collect();
            if values.is_empty() { f64::NAN } else { values.iter().sum::<f64>() / values.len() as f64 }
        })
        .collect();
    let n = batches.len();
    let mut best = (f64::INFINITY, 0);
    for d in 0..=n / 2 {
        let rest: Vec<f64> = batches[d..].iter().copied().filter(|x| x.is_finite()).collect();
        if rest.len() < 2 {
            break;
        }
        let mean = rest.iter().sum::<f64>() / rest.len() as f64;
        let statistic = rest.iter().map(|y| (y - mean).powi(2)).sum::<f64>() / (rest.len() as f64).powi(2);
        if statistic < best.0 {
            best = (statistic, d);
        }
    }
    best.1 * 5
}

/// The window width for the pilot run of an automatic warm-up: 1/1000 of the run, at least a
/// second.
pub fn pilot_window(duration: Duration) -> Duration {
    (duration / 1000).max(Duration::from_secs(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mser5_cuts_a_transient_and_nothing_from_a_stationary_series() {
        // A decaying start-up transient on a noisy level: the cut lands where it fades into the
        // noise. (The noise is a fixed pattern whose batch means vary, so the test is exact.)
        let noise = |i: usize| [1.0, -2.0, 0.5, 1.5, -1.0, 0.0, 2.0, -1.5][i * 7 % 8];
        let transient: Vec<f64> =
            (0..500).map(|i| 10.0 + 50.0 * (-(i as f64) / 20.0).exp() + noise(i / 5)).collect();
        let cut = mser5(&transient);
        assert!((50..=150).contains(&cut), "{cut}");
        // Alternating noise with no trend: nothing to cut.
        let flat: Vec<f64> = (0..500).map(|i| if i % 2 == 0 { 9.0 } else { 11.0 }).collect();
        assert_eq!(mser5(&flat), 0);
        assert_eq!(mser5(&[]), 0);
    }
}
