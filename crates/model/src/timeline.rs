//! Things that happen to the stack at given times: an operator's change, a fault, a fix.

use std::time::Duration;

use crate::fleet::Amount;

/// One change to the running stack.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Action {
    /// Set a backend's balancer weight (0: no new requests).
    SetWeight {
        /// Backend index.
        backend: usize,
        /// New weight.
        weight: u32,
    },
    /// Switch the balancer to another policy (index into the policies given to the run).
    SetPolicy {
        /// Index of the policy among those passed with the timeline.
        policy: usize,
    },
    /// The backend's process dies: requests in service or queued there fail, and new ones are
    /// refused until it recovers. The balancer notices only through health checks or ejection.
    Fail {
        /// Backend index.
        backend: usize,
    },
    /// The backend's process is back (empty queue, idle workers).
    Recover {
        /// Backend index.
        backend: usize,
    },
    /// Every service started from now on takes `factor` times as long (1.0 restores).
    SlowDown {
        /// Backend index.
        backend: usize,
        /// Service-time multiplier, > 0.
        factor: f64,
    },
    /// The backend leaves the balancer's configuration: no new requests; those in flight finish.
    Remove {
        /// Backend index.
        backend: usize,
    },
    /// The backend (re)joins the balancer's configuration.
    Add {
        /// Backend index.
        backend: usize,
    },
    /// Multiply every client's arrival rate by `factor` (open-loop clients).
    ScaleTraffic {
        /// Rate multiplier, > 0.
        factor: f64,
    },
    /// Set the total arrival rate, shared among open-loop clients in proportion to their
    /// configured rates.
    SetRate {
        /// Total rate [requests·s⁻¹], > 0.
        rate_per_s: f64,
    },
    /// A rolling deploy of service-time version `version` of fleet group `group` (Kubernetes
    /// `RollingUpdate`).
    RollingDeploy {
        /// Index of the fleet group.
        group: usize,
        /// Index into the group's versions.
        version: usize,
        /// Pods above the replica count during the deploy (rounded up).
        max_surge: Amount,
        /// Ready pods below the replica count allowed during the deploy (rounded down).
        max_unavailable: Amount,
    },
    /// A canary pod of version `version` taking `weight_percent` of group `group`'s traffic.
    Canary {
        /// Index of the fleet group.
        group: usize,
        /// Index into the group's versions.
        version: usize,
        /// Percent of the group's requests the canary gets once ready (1..=99).
        weight_percent: u32,
    },
}

/// An action at a time, measured from the start of the run.
#[derive(Clone, Debug, PartialEq)]
pub struct TimedAction {
    /// When.
    pub at: Duration,
    /// What.
    pub action: Action,
}
