//! The Kubernetes Horizontal Pod Autoscaler's decision, as a pure function of what it reads.
//!
//! Two steps, as the controller takes them each sync period:
//!
//! 1. [`recommend`]: the replica calculator (`pkg/controller/podautoscaler/replica_calculator.go`,
//!    `GetResourceReplicas` / `GetMetricReplicas`): `desired = ceil(ready × usage / target)`,
//!    no change while `|1 − usage/target| ≤ tolerance`; when the ratio says "scale up" and some
//!    pods are not yet ready, those count as using 0 and the ratio is recomputed over all pods,
//!    and if it then changes direction or falls within tolerance nothing changes; when it says
//!    "scale down", pods not yet ready are ignored.
//! 2. [`Behavior::normalize`]: `normalizeDesiredReplicasWithBehaviors` in
//!    `pkg/controller/podautoscaler/horizontal.go`: the scale-down stabilization window (the
//!    highest recommendation over the window), the scaling policies (per `period`, scale-up by
//!    the larger of `percent` and `pods`, scale-down by at most `percent`, both measured from
//!    the replicas at the start of the period), then `min`/`max`.
//!
//! Documentation: <https://kubernetes.io/docs/tasks/run-application/horizontal-pod-autoscale/>
//! ("Algorithm details", "Configurable scaling behavior"). Utilization is read as a whole
//! percentage and other metrics in thousandths, as the controller does (resource metrics as
//! `int64(total × 100 / requests)`, custom metrics as milli-quantities), so that the documented
//! examples come out exactly.

use std::collections::VecDeque;
use std::time::Duration;

use stacksim_engine::SimTime;

/// What the autoscaler reads at one sync, in the metric's integer unit (percent of a pod's
/// workers for utilization, thousandths for the others).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Ready pods (pods with a metric).
    pub ready: u32,
    /// Pods scheduled or starting but not ready yet (not draining).
    pub unready: u32,
    /// The metric summed over the ready pods.
    pub total: u64,
}

/// The replica calculator: the replicas the metric asks for, from `current` replicas, given
/// `reading` against `target` (same unit) within `tolerance` (0.1 = 10%).
///
/// ```
/// use stacksim_model::fleet::hpa::{Reading, recommend};
/// // Kubernetes' example: 50 replicas at 90% against a 75% target → 60.
/// assert_eq!(recommend(50, Reading { ready: 50, unready: 0, total: 50 * 90 }, 75, 0.1), 60);
/// ```
pub fn recommend(current: u32, reading: Reading, target: u64, tolerance: f64) -> u32 {
    let Reading { ready, unready, total } = reading;
    if ready == 0 || target == 0 {
        // "did not receive metrics for any ready pods": the controller keeps the scale.
        return current;
    }
    // `GetResourceUtilizationRatio`: an integer average, then a float ratio.
    let usage = (total / u64::from(ready)) as f64 / target as f64;
    let scale_up_with_unready = unready > 0 && usage > 1.0;
    if !scale_up_with_unready {
        if (1.0 - usage).abs() <= tolerance {
            return current;
        }
        return ceil_u32(usage * f64::from(ready));
    }
    // Unready pods count as using nothing, which damps the scale-up.
    let all = ready + unready;
    let new_usage = (total / u64::from(all)) as f64 / target as f64;
    if (1.0 - new_usage).abs() <= tolerance || new_usage < 1.0 {
        return current;
    }
    let replicas = ceil_u32(new_usage * f64::from(all));
    // A scale-up that would shrink the fleet is no scale-up.
    if replicas < current { current } else { replicas }
}

fn ceil_u32(x: f64) -> u32 {
    // Saturates: a ratio beyond u32 replicas is clamped by `max` later.
    x.ceil().clamp(0.0, f64::from(u32::MAX)) as u32
}

/// Scale-up policies: per `period`, add at most the larger of `percent` % and `pods` pods
/// (`selectPolicy: Max`, the default). Kubernetes' default is 100% or 4 pods per 15 s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleUp {
    /// Percent of the replicas at the period's start that may be added, ≥ 1.
    pub percent: u32,
    /// Pods that may be added, ≥ 1.
    pub pods: u32,
    /// The period the limits apply to, > 0 (at most 30 minutes, as Kubernetes allows).
    pub period: Duration,
}

/// Scale-down policy: per `period`, remove at most `percent` % of the replicas at the
/// period's start. Kubernetes' default is 100% per 15 s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaleDown {
    /// Percent that may be removed, 1..=100.
    pub percent: u32,
    /// The period, > 0 (at most 30 minutes).
    pub period: Duration,
}

/// `behavior` of an HPA: the stabilization window and scaling policies, with `min`/`max`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Behavior {
    /// Fewest replicas, ≥ 1.
    pub min: u32,
    /// Most replicas, ≥ `min`.
    pub max: u32,
    /// Scale-down uses the highest recommendation over this window (default 5 minutes).
    pub scale_down_window: Duration,
    /// Scale-up limits.
    pub scale_up: ScaleUp,
    /// Scale-down limit.
    pub scale_down: ScaleDown,
}

/// What the controller remembers between syncs: recommendations (for the stabilization
/// window) and scale events (for the policies' periods). Bounded by the window and periods.
#[derive(Clone, Debug, Default)]
pub struct History {
    recommendations: VecDeque<(SimTime, u32)>,
    /// Scale events: time and change (positive up, negative down).
    events: VecDeque<(SimTime, i64)>,
}

impl History {
    /// A history whose stabilization window starts with `replicas` recommended at `now`
    /// (`maybeInitScaleDownStabilizationWindow`): no scale-down in the first window.
    pub fn starting_at(now: SimTime, replicas: u32) -> Self {
        History { recommendations: VecDeque::from([(now, replicas)]), events: VecDeque::new() }
    }

    /// Replicas added (`up`) or removed within `period` before `now`.
    fn changed_within(&self, now: SimTime, period: Duration, up: bool) -> i64 {
        self.events
            .iter()
            .filter(|(at, change)| now - *at < period && (*change > 0) == up)
            .map(|(_, change)| change.abs())
            .sum()
    }
}

impl Behavior {
    /// The replicas to set at `now`, from `current` and the calculator's `desired`; records
    /// the recommendation and any change in `history`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use stacksim_engine::SimTime;
    /// use stacksim_model::fleet::hpa::*;
    /// let s = Duration::from_secs;
    /// let behavior = Behavior {
    ///     min: 1, max: 100, scale_down_window: s(300),
    ///     scale_up: ScaleUp { percent: 100, pods: 4, period: s(15) },
    ///     scale_down: ScaleDown { percent: 100, period: s(15) },
    /// };
    /// let mut history = History::starting_at(SimTime::ZERO, 10);
    /// // 10 replicas asked to become 50: at most max(100%, 4 pods) more per 15 s → 20.
    /// assert_eq!(behavior.normalize(&mut history, SimTime::from(s(15)), 10, 50), 20);
    /// ```
    pub fn normalize(&self, history: &mut History, now: SimTime, current: u32, desired: u32) -> u32 {
        // Forget what no window or period looks at any more.
        let keep = self.scale_down_window.max(self.scale_up.period).max(self.scale_down.period);
        while history.recommendations.front().is_some_and(|(at, _)| now - *at >= self.scale_down_window) {
            history.recommendations.pop_front();
        }
        while history.events.front().is_some_and(|(at, _)| now - *at >= keep) {
            history.events.pop_front();
        }
        // `stabilizeRecommendationWithBehaviors`: no scale-up window (0 s), so the up
        // recommendation is `desired`; down: the highest over the window.
        let down = history.recommendations.iter().map(|r| r.1).fold(desired, u32::max);
        let up = desired;
        let stabilized = current.max(up).min(down);
        history.recommendations.push_back((now, desired));
        // `convertDesiredReplicasWithBehaviorRate`.
        let current_i = i64::from(current);
        let next = if stabilized > current {
            let period = self.scale_up.period;
            let start = current_i - history.changed_within(now, period, true)
                + history.changed_within(now, period, false);
            let by_pods = start + i64::from(self.scale_up.pods);
            let by_percent = (start as f64 * (1.0 + f64::from(self.scale_up.percent) / 100.0)).ceil() as i64;
            let limit = by_pods.max(by_percent).max(current_i);
            i64::from(stabilized).min(limit).min(i64::from(self.max))
        } else if stabilized < current {
            let period = self.scale_down.period;
            let start = current_i + history.changed_within(now, period, false)
                - history.changed_within(now, period, true);
            // Truncation, as `int32(float64(start) * (1 - percent/100))`.
            let limit = ((start as f64) * (1.0 - f64::from(self.scale_down.percent) / 100.0)) as i64;
            let limit = limit.min(current_i);
            i64::from(stabilized).max(limit).max(i64::from(self.min))
        } else {
            i64::from(stabilized)
        };
        let next = next.clamp(i64::from(self.min), i64::from(self.max)) as u32;
        if next != current {
            history.events.push_back((now, i64::from(next) - current_i));
        }
        next
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    fn at(secs: u64) -> SimTime {
        SimTime::from(s(secs))
    }

    fn defaults(min: u32, max: u32) -> Behavior {
        Behavior {
            min,
            max,
            scale_down_window: s(300),
            scale_up: ScaleUp { percent: 100, pods: 4, period: s(15) },
            scale_down: ScaleDown { percent: 100, period: s(15) },
        }
    }

    fn pods(ready: u32, percent_each: u64) -> Reading {
        Reading { ready, unready: 0, total: u64::from(ready) * percent_each }
    }

    #[test]
    fn fifty_replicas_at_ninety_percent_against_seventy_five_become_sixty() {
        assert_eq!(recommend(50, pods(50, 90), 75, 0.1), 60);
        // And the documented doubling: usage twice the target doubles the replicas.
        assert_eq!(recommend(4, pods(4, 100), 50, 0.1), 8);
    }

    #[test]
    fn within_tolerance_nothing_changes() {
        // 80/75 = 1.067 and 70/75 = 0.933: within 10%.
        assert_eq!(recommend(10, pods(10, 80), 75, 0.1), 10);
        assert_eq!(recommend(10, pods(10, 70), 75, 0.1), 10);
        // 85/75 = 1.133: beyond it.
        assert_eq!(recommend(10, pods(10, 85), 75, 0.1), 12);
        // 60/75 = 0.8: scale down to ceil(0.8 × 10) = 8.
        assert_eq!(recommend(10, pods(10, 60), 75, 0.1), 8);
    }

    #[test]
    fn unready_pods_count_as_zero_when_scaling_up_and_are_ignored_when_scaling_down() {
        // 4 ready at 150% of a 50% target would ask for 12; two starting pods at 0% make the
        // average 100% over 6 pods: ceil(6 × 2) = 12 still, but 4 at 90% with 4 unready:
        // 90/50 = 1.8 → over 8 pods 45/50 = 0.9, a reversal: no change.
        assert_eq!(recommend(8, Reading { ready: 4, unready: 4, total: 4 * 90 }, 50, 0.1), 8);
        assert_eq!(recommend(6, Reading { ready: 4, unready: 2, total: 4 * 150 }, 50, 0.1), 12);
        // 4 ready at 60% of 50 with 2 unready: 1.2 → over 6 pods 40/50 = 0.8 → no change.
        assert_eq!(recommend(6, Reading { ready: 4, unready: 2, total: 4 * 60 }, 50, 0.1), 6);
        // Scale-down: 4 ready at 20% of 50 → ceil(0.4 × 4) = 2, the unready ignored.
        assert_eq!(recommend(6, Reading { ready: 4, unready: 2, total: 4 * 20 }, 50, 0.1), 2);
        // Without metrics the scale is kept.
        assert_eq!(recommend(6, Reading { ready: 0, unready: 6, total: 0 }, 50, 0.1), 6);
    }

    #[test]
    fn scale_down_is_held_for_the_stabilization_window() {
        let b = defaults(1, 100);
        let mut h = History::starting_at(at(0), 10);
        // Load drops at once: the calculator asks for 3 every sync, but 10 was recommended at
        // 0 s, and stays the highest in the window until 300 s.
        for t in (15..300).step_by(15) {
            assert_eq!(b.normalize(&mut h, at(t), 10, 3), 10, "at {t} s");
        }
        assert_eq!(b.normalize(&mut h, at(300), 10, 3), 3);
    }

    #[test]
    fn a_peak_in_the_window_holds_the_fleet_at_the_peak() {
        let b = defaults(1, 100);
        let mut h = History::starting_at(at(0), 4);
        assert_eq!(b.normalize(&mut h, at(15), 4, 8), 8);
        assert_eq!(b.normalize(&mut h, at(30), 8, 5), 8);
        assert_eq!(b.normalize(&mut h, at(314), 8, 5), 8, "8 recommended at 15 s, within 300 s");
        assert_eq!(b.normalize(&mut h, at(330), 8, 5), 5);
    }

    #[test]
    fn scale_up_is_capped_at_the_larger_of_100_percent_and_4_pods_per_period() {
        let b = defaults(1, 100);
        let mut h = History::starting_at(at(0), 2);
        // From 2: 4 pods beats 100% (2): 6.
        assert_eq!(b.normalize(&mut h, at(15), 2, 50), 6);
        // A second sync within the same 15 s period adds nothing more.
        assert_eq!(b.normalize(&mut h, at(20), 6, 50), 6);
        // The next period starts from 6: 100% (12) beats 4 pods (10).
        assert_eq!(b.normalize(&mut h, at(30), 6, 50), 12);
        assert_eq!(b.normalize(&mut h, at(45), 12, 50), 24);
        assert_eq!(b.normalize(&mut h, at(60), 24, 50), 48);
        assert_eq!(b.normalize(&mut h, at(75), 48, 50), 50);
    }

    #[test]
    fn min_and_max_bound_the_result_and_the_percent_policy_bounds_scale_down() {
        let b = defaults(4, 10);
        let mut h = History::starting_at(at(0), 8);
        assert_eq!(b.normalize(&mut h, at(15), 8, 40), 10);
        let mut h = History::starting_at(at(0), 8);
        assert_eq!(b.normalize(&mut h, at(400), 8, 1), 4);
        let half = Behavior { scale_down: ScaleDown { percent: 50, period: s(60) }, ..defaults(1, 100) };
        let mut h = History::starting_at(at(0), 20);
        assert_eq!(half.normalize(&mut h, at(300), 20, 2), 10);
        assert_eq!(half.normalize(&mut h, at(315), 10, 2), 10, "the period started at 20: 50% of 20 is gone");
        assert_eq!(half.normalize(&mut h, at(360), 10, 2), 5);
    }
}
