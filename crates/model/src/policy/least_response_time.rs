use serde::{Deserialize, Serialize};
use stacksim_engine::duration_nanos;

use super::catalog::{Entry, Info, Params};
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
/// Ties are broken exactly as NGINX's `least_conn` does: smooth weighted round robin among
/// the tied backends (their `current_weight`s grow by their weights, the highest wins and
/// gives back the tied total). Comparisons are in integers (nanoseconds), so they are exact.
#[derive(Clone, Debug, Default)]
pub struct LeastResponseTime {
    current: Vec<i64>,
}

impl LeastResponseTime {
    /// A least-response-time policy.
    pub fn new() -> Self {
        Self::default()
    }

    /// `latency × (in_flight + 1)` in nanoseconds: the score before weighting. At most
    /// 96 bits, so multiplying by a weight cannot overflow a `u128`.
    #[inline]
    fn cost(b: &BackendState) -> u128 {
        let latency = b.latency.map_or(0, duration_nanos);
        u128::from(latency) * (u128::from(b.in_flight) + 1)
    }
}

impl Policy for LeastResponseTime {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.current.resize(backends.len(), 0);
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        use std::cmp::Ordering;
        self.current.resize(backends.len(), 0);
        // cost_a / w_a against cost_b / w_b, in integers.
        let order = |cost: u128, weight: u32, best: (u128, u32)| {
            (cost * u128::from(best.1)).cmp(&(best.0 * u128::from(weight)))
        };
        let mut best: Option<(usize, u128, u32)> = None;
        let mut many = false;
        for (i, b) in backends.iter().enumerate() {
            if !b.is_available() {
                continue;
            }
            let cost = Self::cost(b);
            match best.map(|(_, c, w)| order(cost, b.weight, (c, w))) {
                None | Some(Ordering::Less) => {
                    best = Some((i, cost, b.weight));
                    many = false;
                }
                Some(Ordering::Equal) => many = true,
                Some(Ordering::Greater) => {}
            }
        }
        let (first, best_cost, best_weight) = best?;
        if !many {
            return Some(first);
        }
        let mut chosen = first;
        let mut total = 0_i64;
        for (i, b) in backends.iter().enumerate().skip(first) {
            if !b.is_available() || order(Self::cost(b), b.weight, (best_cost, best_weight)).is_ne() {
                continue;
            }
            self.current[i] += i64::from(b.weight);
            total += i64::from(b.weight);
            if self.current[i] > self.current[chosen] {
                chosen = i;
            }
        }
        self.current[chosen] -= total;
        Some(chosen)
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
