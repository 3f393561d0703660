//! Playing a script of picks, responses and backend changes against a policy, as a balancer
//! would, checking the [policy contract](stacksim_model::policy) at every pick.

use std::time::Duration;

use rand::SeedableRng;
use stacksim_engine::{SimRng, SimTime};
use stacksim_model::{BackendState, Feedback, Policy, RequestInfo};

/// One thing that happens to the balancer.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// `gap` after the previous step, a request with `key` arrives and the policy picks. A
    /// picked backend gets the request: its in-flight count grows by one.
    Pick {
        /// The request's key.
        key: u64,
        /// Time since the previous step.
        gap: Duration,
    },
    /// `after` the previous step, one of the requests the scenario sent (the `nth`, modulo how
    /// many are out) is answered: its backend's in-flight count drops, its smoothed latency
    /// moves (EWMA with gain 1/8, as in the simulator), and the policy hears of it.
    Respond {
        /// Which outstanding request.
        nth: usize,
        /// Time since the previous step.
        after: Duration,
    },
    /// Backend `nth` (modulo their number) fails or passes its health checks; the policy is
    /// told of the change.
    ToggleEligible {
        /// Which backend.
        nth: usize,
    },
    /// Backend `nth` gets a new weight (possibly zero); the policy is told of the change.
    SetWeight {
        /// Which backend.
        nth: usize,
        /// Its new weight.
        weight: u32,
    },
}

/// Backends, a script of steps, and the seed of the policy's random stream.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// The backends before the first step.
    pub backends: Vec<BackendState>,
    /// What happens, in order.
    pub steps: Vec<Step>,
    /// Seeds the RNG handed to the policy.
    pub seed: u64,
}

/// A pick that breaks the policy contract.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum Violation {
    /// The pick names no backend.
    #[error("step {step}: picked backend {pick}, but there are only {backends}")]
    OutOfRange {
        /// Index of the step in the scenario.
        step: usize,
        /// What the policy returned.
        pick: usize,
        /// How many backends there were.
        backends: usize,
    },
    /// The pick names a backend that is ineligible or has weight zero.
    #[error("step {step}: picked backend {pick}, which is not available: {state:?}")]
    Unavailable {
        /// Index of the step in the scenario.
        step: usize,
        /// What the policy returned.
        pick: usize,
        /// That backend's state.
        state: BackendState,
    },
    /// The policy returned no backend although one was available.
    #[error("step {step}: picked none, but {available} backends were available")]
    NoPickWhileAvailable {
        /// Index of the step in the scenario.
        step: usize,
        /// How many were available.
        available: usize,
    },
}

impl Scenario {
    /// Plays the scenario against `policy` and returns its picks, or the first pick that breaks
    /// the contract. The policy is told of the backends before the first step, and, as a
    /// balancer tells it, of each in-flight and latency change if it
    /// [tracks load](Policy::tracks_load).
    pub fn play<P: Policy + ?Sized>(&self, policy: &mut P) -> Result<Vec<Option<usize>>, Violation> {
        let mut backends = self.backends.clone();
        let mut rng = SimRng::seed_from_u64(self.seed);
        let mut now = SimTime::ZERO;
        let mut outstanding: Vec<(usize, SimTime)> = Vec::new();
        let mut picks = Vec::new();
        policy.on_backends_changed(&backends);
        for (step, action) in self.steps.iter().enumerate() {
            match action {
                Step::Pick { key, gap } => {
                    now += *gap;
                    let request = RequestInfo { key: *key, arrived: now };
                    let pick = policy.pick(&backends, &request, &mut rng);
                    check_pick(step, pick, &backends)?;
                    if let Some(b) = pick {
                        backends[b].in_flight = backends[b].in_flight.saturating_add(1);
                        if policy.tracks_load() {
                            policy.on_load_changed(b, &backends[b]);
                        }
                        outstanding.push((b, now));
                    }
                    picks.push(pick);
                }
                Step::Respond { nth, after } => {
                    if outstanding.is_empty() {
                        continue;
                    }
                    now += *after;
                    let (b, sent) = outstanding.swap_remove(nth % outstanding.len());
                    let latency = now - sent;
                    let state = &mut backends[b];
                    state.in_flight = state.in_flight.saturating_sub(1);
                    state.latency = Some(match state.latency {
                        None => latency,
                        Some(smoothed) => (smoothed * 7 + latency) / 8,
                    });
                    if policy.tracks_load() {
                        policy.on_load_changed(b, state);
                    }
                    policy.on_response(&Feedback { backend: b, at: now, latency, success: true });
                }
                Step::ToggleEligible { nth } => {
                    if backends.is_empty() {
                        continue;
                    }
                    let b = nth % backends.len();
                    backends[b].eligible = !backends[b].eligible;
                    policy.on_backends_changed(&backends);
                }
                Step::SetWeight { nth, weight } => {
                    if backends.is_empty() {
                        continue;
                    }
                    let b = nth % backends.len();
                    backends[b].weight = *weight;
                    policy.on_backends_changed(&backends);
                }
            }
        }
        Ok(picks)
    }
}

/// Checks one pick against the contract: in range and available, or none only when nothing
/// is available.
pub fn check_pick(step: usize, pick: Option<usize>, backends: &[BackendState]) -> Result<(), Violation> {
    match pick {
        Some(b) if b >= backends.len() => {
            Err(Violation::OutOfRange { step, pick: b, backends: backends.len() })
        }
        Some(b) if !backends[b].is_available() => {
            Err(Violation::Unavailable { step, pick: b, state: backends[b].clone() })
        }
        None => match backends.iter().filter(|b| b.is_available()).count() {
            0 => Ok(()),
            available => Err(Violation::NoPickWhileAvailable { step, available }),
        },
        Some(_) => Ok(()),
    }
}
