//! Request keys: which user (or session) each request belongs to.
//!
//! Every request carries a 64-bit key ([`RequestInfo::key`](crate::RequestInfo::key)) that
//! hash-based policies route on. A client draws its keys from its own random stream,
//! `keys/<client>`, so declaring users changes neither arrival times nor request sizes
//! (common random numbers):
//!
//! - with [`Users`], the key is the user's number, `0..count`; user `k` sends a share of the
//!   requests proportional to `1 / (k + 1)^skew` (Zipf), so user 0 is the busiest. Two clients
//!   that declare users share the numbers: user 3 of one is user 3 of the other, as when a web
//!   and a mobile client serve one population;
//! - without, every request gets a fresh 64-bit key (one draw from the stream): keys are then
//!   unique in practice (two of a billion requests share a key with probability ~3·10⁻²),
//!   as when every request opens a new session.

use rand::{Rng, RngExt};
use rand_distr::{Distribution, Zipf};

use crate::ModelError;

/// A client's user population.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Users {
    /// How many distinct users; their keys are `0..count`. At least 1.
    pub count: u64,
    /// Zipf exponent of their popularity, ≥ 0: user `k` sends in proportion to
    /// `1 / (k + 1)^skew`. `0` means every user sends equally often.
    pub skew: f64,
}

impl Users {
    /// A sampler of this population's keys, or what is wrong with it.
    pub fn sampler(&self) -> Result<KeySampler, ModelError> {
        if let Some(problem) = self.problems().into_iter().next() {
            return Err(ModelError::InvalidUsers(problem.message));
        }
        if self.skew == 0.0 {
            return Ok(KeySampler::Uniform(self.count));
        }
        Zipf::new(self.count as f64, self.skew)
            .map(|zipf| KeySampler::Zipf { zipf, count: self.count })
            .map_err(|e| ModelError::InvalidUsers(e.to_string()))
    }
}

/// Draws request keys for one client.
#[derive(Clone, Debug)]
pub enum KeySampler {
    /// A fresh 64-bit key per request (no user population declared).
    Unique,
    /// Users `0..n`, all equally active.
    Uniform(u64),
    /// Users `0..count` with Zipf popularity.
    Zipf {
        /// Ranks `1..=count`; the key is the rank minus one.
        zipf: Zipf<f64>,
        /// Number of users.
        count: u64,
    },
}

impl KeySampler {
    /// The sampler for a client with `users`, or unique keys without.
    pub fn new(users: Option<&Users>) -> Result<KeySampler, ModelError> {
        users.map_or(Ok(KeySampler::Unique), Users::sampler)
    }

    /// The key of the next request.
    // Always inlined into `Client::new_request` (every request; BENCHMARKS.md, "The
    // unconfigured path"); the Zipf draw stays out of line.
    #[inline(always)]
    pub fn sample<R: Rng + ?Sized>(&self, rng: &mut R) -> u64 {
        match self {
            KeySampler::Unique => rng.next_u64(),
            KeySampler::Uniform(n) => rng.random_range(0..*n),
            KeySampler::Zipf { zipf, count } => zipf_key(zipf, *count, rng),
        }
    }
}

/// A Zipf-popular user's key: out of line, so that [`KeySampler::sample`] stays small where it
/// is inlined (every request draws a key).
#[inline(never)]
fn zipf_key<R: Rng + ?Sized>(zipf: &Zipf<f64>, count: u64, rng: &mut R) -> u64 {
    // Ranks come back as whole floats in 1..=count; clamp against rounding at the top of very
    // large populations.
    (zipf.sample(rng) as u64).clamp(1, count) - 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use stacksim_engine::rng::stream;

    #[test]
    fn zipf_keys_stay_in_range_and_favour_low_numbers() {
        let sampler = Users { count: 1000, skew: 1.1 }.sampler().unwrap();
        let mut rng = stream(1, "keys/test");
        let mut counts = vec![0_u32; 1000];
        for _ in 0..100_000 {
            counts[sampler.sample(&mut rng) as usize] += 1;
        }
        // P(k) ∝ (k+1)^-1.1: user 0 sends 2^1.1 ≈ 2.14 times as much as user 1.
        let ratio = f64::from(counts[0]) / f64::from(counts[1]);
        assert!((ratio - 2.0_f64.powf(1.1)).abs() < 0.15, "{ratio}");
        assert!(counts[0] > counts[999] * 100);
    }

    #[test]
    fn uniform_users_cover_the_population() {
        let sampler = KeySampler::new(Some(&Users { count: 10, skew: 0.0 })).unwrap();
        let mut rng = stream(1, "keys/test");
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[sampler.sample(&mut rng) as usize] = true;
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn invalid_populations_are_errors() {
        for users in [
            Users { count: 0, skew: 0.0 },
            Users { count: 5, skew: -1.0 },
            Users { count: 5, skew: f64::NAN },
        ] {
            assert!(matches!(users.sampler(), Err(ModelError::InvalidUsers(_))));
        }
    }

    #[test]
    fn without_users_keys_are_fresh_draws() {
        let mut a = stream(3, "keys/users");
        let mut b = stream(3, "keys/users");
        let keys: Vec<u64> = (0..3).map(|_| KeySampler::Unique.sample(&mut a)).collect();
        assert_eq!(keys, [b.next_u64(), b.next_u64(), b.next_u64()]);
        assert_ne!(keys[0], keys[1]);
    }
}
