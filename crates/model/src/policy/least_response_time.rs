use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use stacksim_engine::duration_nanos;

use super::catalog::{Entry, Info, Params};
use super::smooth_tree::SmoothTree;
use super::{BackendState, Policy, RequestInfo, SimRng};

/// Least response time, in the style of NGINX Plus `least_time`: the backend with the lowest
/// `average response time × (in flight + 1) / weight`; ties go round robin by weight.
///
/// NGINX Plus documents `least_time` as passing a request "to the server with the least
/// average response time and least number of active connections, taking into account weights
/// of servers. If there are several such servers, they are tried in turn using a weighted
/// round-robin balancing method" (`ngx_http_upstream_module`, directive `least_time`). Its
/// source is closed; this policy combines the two criteria the way Finagle and Envoy do, as
/// latency times (load + 1), scaled by weight like NGINX `least_conn`. The average is the
/// balancer's smoothed response time ([`BackendState::latency`], an EWMA with gain 1/8),
/// which is NGINX's `header` measure in a simulation where the whole response is one event.
/// A backend that has not answered yet counts as 0 and is tried first, as in NGINX.
///
/// Ties are broken by smooth weighted round robin, NGINX's `current_weight` scores, in
/// integers (nanoseconds), so comparisons are exact: every available backend's score grows by
/// its weight at every pick, the least cost wins, then the highest score, then the lowest
/// index, and the pick gives back the total available weight. While every backend ties (none
/// has answered yet) that is exactly [`RoundRobin`](super::RoundRobin): weights 5:1:1 pick
/// `a a b a c a a`.
///
/// Tie rule changed in issue 10: before, only the tied backends' scores grew and the pick gave
/// back the tied backends' total, NGINX `least_conn`'s loop over the tied set. That rule
/// cannot be kept without visiting every tied backend per pick, and every backend ties at the
/// start of a run (none has answered), so a pick over a fleet of n cost O(n). Now the costs
/// and scores live in one kinetic tournament (`SmoothTree`, updated on every in-flight and
/// latency change): a pick is O(log n). Both rules rotate ties in proportion to weight; they
/// pick differently only once some backends have answered and others not, or when latencies
/// × loads tie exactly.
#[derive(Clone, Debug, Default)]
pub struct LeastResponseTime {
    /// Scores as of the last change of the backend set (the tree holds them since).
    current: Vec<i64>,
    tree: SmoothTree<Cost>,
}

/// `latency × (in_flight + 1) / weight`, compared exactly by cross-multiplying.
#[derive(Clone, Copy, Debug, Default)]
struct Cost {
    /// `latency × (in_flight + 1)` in nanoseconds: at most 96 bits, so multiplying by a
    /// weight cannot overflow a `u128`.
    cost: u128,
    weight: u32,
}

impl Cost {
    #[inline]
    fn of(b: &BackendState) -> Self {
        let latency = b.latency.map_or(0, duration_nanos);
        Cost { cost: u128::from(latency) * (u128::from(b.in_flight) + 1), weight: b.weight }
    }
}

impl Ord for Cost {
    #[inline]
    fn cmp(&self, other: &Self) -> Ordering {
        (self.cost * u128::from(other.weight)).cmp(&(other.cost * u128::from(self.weight)))
    }
}

impl PartialOrd for Cost {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Cost {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Cost {}

impl LeastResponseTime {
    /// A least-response-time policy.
    pub fn new() -> Self {
        Self::default()
    }
}

impl Policy for LeastResponseTime {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        for (b, current) in self.current.iter_mut().enumerate().take(self.tree.len()) {
            if let Some(now) = self.tree.current(b) {
                *current = now;
            }
        }
        self.current.resize(backends.len(), 0);
        let current = &self.current;
        self.tree.rebuild(
            backends.iter().enumerate().map(|(b, state)| {
                state.is_available().then_some((Cost::of(state), state.weight, current[b]))
            }),
        );
    }

    fn tracks_load(&self) -> bool {
        true
    }

    fn on_load_changed(&mut self, backend: usize, state: &BackendState) {
        if backend < self.tree.len() {
            self.tree.set_key(backend, Cost::of(state));
        }
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if backends.len() != self.tree.len() {
            // A caller that resized the slice without saying so.
            self.on_backends_changed(backends);
        }
        self.tree.pick()
    }
}

/// `LeastResponseTime` in an experiment file: no parameters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LeastResponseTimeSpec;

impl Params for LeastResponseTimeSpec {
    fn build(&self) -> Box<dyn Policy> {
        Box::new(LeastResponseTime::new())
    }
}

impl Entry for LeastResponseTimeSpec {
    const INFO: &'static Info = &Info {
        name: "LeastResponseTime",
        synopsis: "LeastResponseTime",
        summary: "lowest smoothed response time x (in flight + 1) / weight; ties weighted round robin",
        source: "NGINX Plus least_time (as documented; formula after Finagle/Envoy)",
        params: &[],
        routes_on_keys: false,
        splits_by_weight: false,
    };

    fn examples() -> Vec<Self> {
        vec![LeastResponseTimeSpec]
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::policy::tests::{letters, picks, states};

    #[test]
    fn weighs_latency_by_load_and_weight() {
        let mut backends = states(&[1, 1, 2]);
        let ms = |n| Some(Duration::from_millis(n));
        backends[0].latency = ms(100); // 100 × 1 / 1 = 100
        backends[1].latency = ms(30);
        backends[1].in_flight = 3; // 30 × 4 / 1 = 120
        backends[2].latency = ms(90);
        backends[2].in_flight = 1; // 90 × 2 / 2 = 90
        assert_eq!(letters(&picks(&mut LeastResponseTime::new(), &backends, 1)), "c");
        backends[2].in_flight = 2; // 90 × 3 / 2 = 135
        assert_eq!(letters(&picks(&mut LeastResponseTime::new(), &backends, 1)), "a");
    }

    #[test]
    fn untried_backends_first_and_ties_by_smooth_weighted_round_robin() {
        // No latency yet: all tie at 0, so weights 5:1:1 interleave as NGINX does.
        let got = picks(&mut LeastResponseTime::new(), &states(&[5, 1, 1]), 7);
        assert_eq!(letters(&got), "aabacaa");
    }
}
