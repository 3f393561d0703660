//! The built-ins that keep an index of their own (issue 10: O(log n) picks) pick exactly as
//! the scans they replaced, on random scenarios of picks, responses and backend changes. The
//! reference models below are the scanning implementations as they were before issue 10
//! (`pick` and `on_backends_changed` copied from them), so "the same picks" means the same
//! picks as the released policies, state carried between scenarios included.

use proptest::prelude::*;
use stacksim_model::policy::*;
use stacksim_testkit::Scenario;
use stacksim_testkit::strategy::{equal_weight_backends, scenario, step};

use super::config;

/// NGINX's smooth weighted round robin, one pass over every backend per pick.
#[derive(Default)]
struct ScanRoundRobin {
    current: Vec<i64>,
}

impl Policy for ScanRoundRobin {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.current.resize(backends.len(), 0);
    }

    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        self.current.resize(backends.len(), 0);
        let mut total = 0_i64;
        let mut best: Option<usize> = None;
        for (i, backend) in backends.iter().enumerate() {
            if !backend.is_available() {
                continue;
            }
            let weight = i64::from(backend.weight);
            self.current[i] += weight;
            total += weight;
            if best.is_none_or(|b| self.current[i] > self.current[b]) {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.current[chosen] -= total;
        Some(chosen)
    }
}

/// HAProxy's `recalc_server_map`, one pass over the servers per slot.
#[derive(Default)]
struct ScanStaticRoundRobin {
    servers: Vec<(usize, i64)>,
    scores: Vec<i64>,
    total: i64,
    position: i64,
}

impl ScanStaticRoundRobin {
    fn next_slot(&mut self) -> usize {
        if self.position == 0 {
            self.scores.fill(0);
        }
        let total = self.total;
        let (mut best, mut max) = (0, i64::MIN);
        for (s, &(_, weight)) in self.servers.iter().enumerate() {
            self.scores[s] += weight;
            let v = (self.scores[s] + total).div_euclid(total);
            if v > max {
                max = v;
                best = s;
            }
        }
        self.scores[best] -= total;
        self.position += 1;
        if self.position == total {
            self.position = 0;
        }
        best
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

impl Policy for ScanStaticRoundRobin {
    fn on_backends_changed(&mut self, backends: &[BackendState]) {
        self.servers.clear();
        self.servers.extend(
            backends
                .iter()
                .enumerate()
                .filter(|(_, b)| b.is_available())
                .map(|(i, b)| (i, i64::from(b.weight))),
        );
        let divisor = self.servers.iter().fold(0, |g, &(_, w)| gcd(g, w as u64)).max(1) as i64;
        for (_, w) in &mut self.servers {
            *w /= divisor;
        }
        self.total = self.servers.iter().map(|&(_, w)| w).sum();
        self.scores.clear();
        self.scores.resize(self.servers.len(), 0);
        let keep = if self.position < self.total
            && (self.position as u64).saturating_mul(self.servers.len() as u64) <= 1 << 24
        {
            self.position
        } else {
            0
        };
        self.position = 0;
        for _ in 0..keep {
            self.next_slot();
        }
    }

    fn pick(&mut self, _: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        if self.servers.is_empty() {
            return None;
        }
        let slot = self.next_slot();
        Some(self.servers[slot].0)
    }
}

/// Least in flight per weight (NGINX's exact integer comparison), scanning from just after
/// the previous pick so that ties rotate.
#[derive(Default)]
struct ScanLeastConnections {
    next: usize,
}

impl Policy for ScanLeastConnections {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let n = backends.len();
        let mut best: Option<usize> = None;
        for offset in 0..n {
            let i = (self.next + offset) % n;
            let candidate = &backends[i];
            if !candidate.is_available() {
                continue;
            }
            let better = best.is_none_or(|b| {
                let incumbent = &backends[b];
                u64::from(candidate.in_flight) * u64::from(incumbent.weight)
                    < u64::from(incumbent.in_flight) * u64::from(candidate.weight)
            });
            if better {
                best = Some(i);
            }
        }
        let chosen = best?;
        self.next = (chosen + 1) % n;
        Some(chosen)
    }
}

/// Fewest in flight whatever the weight, scanning from just after the previous pick and
/// stopping at the first idle backend.
#[derive(Default)]
struct ScanJoinShortestQueue {
    next: usize,
}

impl Policy for ScanJoinShortestQueue {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let n = backends.len();
        let start = if self.next < n { self.next } else { 0 };
        let mut best: Option<(usize, u32)> = None;
        for i in (start..n).chain(0..start) {
            let b = &backends[i];
            if b.is_available() && best.is_none_or(|(_, least)| b.in_flight < least) {
                best = Some((i, b.in_flight));
                if b.in_flight == 0 {
                    break;
                }
            }
        }
        let (chosen, _) = best?;
        self.next = chosen + 1;
        Some(chosen)
    }
}

/// HAProxy `first`: the lowest index below the limit, else the first least loaded.
struct ScanFirst(u32);

impl Policy for ScanFirst {
    fn pick(&mut self, backends: &[BackendState], _: &RequestInfo, _: &mut SimRng) -> Option<usize> {
        let mut least: Option<(usize, u32)> = None;
        for (i, b) in backends.iter().enumerate().filter(|(_, b)| b.is_available()) {
            if b.in_flight < self.0 {
                return Some(i);
            }
            if least.is_none_or(|(_, n)| b.in_flight < n) {
                least = Some((i, b.in_flight));
            }
        }
        least.map(|(i, _)| i)
    }
}

fn same_picks(indexed: &mut dyn Policy, reference: &mut dyn Policy, cases: u32) {
    // Proptest's runner takes an `Fn`: the two policies carried across cases go in cells.
    let (indexed, reference) = (std::cell::RefCell::new(indexed), std::cell::RefCell::new(reference));
    let mut runner = proptest::test_runner::TestRunner::new(config(cases));
    runner
        .run(&scenario(), |scenario| {
            let ours =
                scenario.play(*indexed.borrow_mut()).map_err(|v| TestCaseError::fail(v.to_string()))?;
            let theirs =
                scenario.play(*reference.borrow_mut()).map_err(|v| TestCaseError::fail(v.to_string()))?;
            prop_assert_eq!(ours, theirs);
            Ok(())
        })
        .unwrap();
}

/// Each case plays on fresh policies, so the factories run per case.
fn same_picks_fresh(indexed: impl Fn() -> Box<dyn Policy>, reference: impl Fn() -> Box<dyn Policy>) {
    let mut runner = proptest::test_runner::TestRunner::new(config(256));
    runner
        .run(&scenario(), |scenario| {
            let ours = scenario.play(&mut indexed()).map_err(|v| TestCaseError::fail(v.to_string()))?;
            let theirs = scenario.play(&mut reference()).map_err(|v| TestCaseError::fail(v.to_string()))?;
            prop_assert_eq!(ours, theirs);
            Ok(())
        })
        .unwrap();
}

#[test]
fn round_robin_picks_as_nginxs_scan() {
    same_picks_fresh(|| Box::new(RoundRobin::new()), || Box::<ScanRoundRobin>::default());
}

/// Equal weights (1 or 2, so that changes can break the tie and restore it): where round robin
/// is a rotation in index order, leaves it when a change breaks the tie mid-round (its scores
/// worked out from the rotation), and comes back to it; and where HAProxy's map is the servers
/// in order.
#[test]
fn round_robins_with_equal_weights_pick_as_the_scans() {
    same_picks_equal_weights(|| Box::new(RoundRobin::new()), || Box::<ScanRoundRobin>::default());
    same_picks_equal_weights(|| Box::new(StaticRoundRobin::new()), || Box::<ScanStaticRoundRobin>::default());
}

/// [`same_picks_fresh`] on fleets of equal weights whose changes set weights of 1 or 2.
fn same_picks_equal_weights(indexed: impl Fn() -> Box<dyn Policy>, reference: impl Fn() -> Box<dyn Policy>) {
    let equal = (equal_weight_backends(12), proptest::collection::vec(step(), 1..=96), any::<u64>())
        .prop_map(|(backends, steps, seed)| {
            let steps = steps
                .into_iter()
                .map(|step| match step {
                    stacksim_testkit::Step::SetWeight { nth, weight } => {
                        stacksim_testkit::Step::SetWeight { nth, weight: 1 + weight % 2 }
                    }
                    other => other,
                })
                .collect();
            Scenario { backends, steps, seed }
        });
    let mut runner = proptest::test_runner::TestRunner::new(config(512));
    runner
        .run(&equal, |scenario| {
            let ours = scenario.play(&mut indexed()).map_err(|v| TestCaseError::fail(v.to_string()))?;
            let theirs = scenario.play(&mut reference()).map_err(|v| TestCaseError::fail(v.to_string()))?;
            prop_assert_eq!(ours, theirs);
            Ok(())
        })
        .unwrap();
}

#[test]
fn static_round_robin_picks_as_haproxys_map() {
    same_picks_fresh(|| Box::new(StaticRoundRobin::new()), || Box::<ScanStaticRoundRobin>::default());
}

#[test]
fn least_connections_picks_as_its_rotating_scan() {
    same_picks_fresh(|| Box::new(LeastConnections::new()), || Box::<ScanLeastConnections>::default());
}

#[test]
fn join_shortest_queue_picks_as_its_rotating_scan() {
    same_picks_fresh(|| Box::new(JoinShortestQueue::new()), || Box::<ScanJoinShortestQueue>::default());
}

#[test]
fn first_picks_as_haproxys_scan() {
    for limit in [1, 3] {
        same_picks_fresh(move || Box::new(First::new(limit)), move || Box::new(ScanFirst(limit)));
    }
}

#[test]
fn a_policy_played_many_times_keeps_its_state_as_the_scan_does() {
    // One policy across many scenarios: scores, positions and rotations carried over between
    // them, with fleets that grow and shrink from one scenario to the next.
    same_picks(&mut RoundRobin::new(), &mut ScanRoundRobin::default(), 64);
    same_picks(&mut StaticRoundRobin::new(), &mut ScanStaticRoundRobin::default(), 64);
    same_picks(&mut LeastConnections::new(), &mut ScanLeastConnections::default(), 64);
    same_picks(&mut JoinShortestQueue::new(), &mut ScanJoinShortestQueue::default(), 64);
    same_picks(&mut First::new(2), &mut ScanFirst(2), 64);
}
