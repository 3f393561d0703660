//! A run under [`RunControl`]: stopped after a number of events, or watched as it goes, it
//! handles the same events as a run left alone.

use std::time::Duration;

use stacksim_model::policy::RoundRobin;
use stacksim_model::stack::{PROGRESS_EVERY, RunControl, RunEnd, simulate_controlled};
use stacksim_model::*;

use super::{assert_conserved, backends, client, ms, s};

fn stack() -> StackConfig {
    StackConfig {
        clients: vec![client(4000.0)],
        backends: backends(4, 128, ms(100)),
        observe: Observe { window: Some(s(10)), ..Observe::default() },
        ..StackConfig::default()
    }
}

const PARAMS: RunParams =
    RunParams { seed: 3, duration: Duration::from_secs(300), warmup: Duration::from_secs(30) };

/// Whether two runs measured the same, NaN for NaN (a summary has NaN where nothing was seen).
fn same(a: &RunSummary, b: &RunSummary) -> bool {
    format!("{a:?}") == format!("{b:?}")
}

fn controlled(control: RunControl<'_>) -> (RunSummary, RunEnd) {
    simulate_controlled(&stack(), Box::new(RoundRobin::new()), Vec::new(), PARAMS, control).unwrap()
}

#[test]
fn watching_a_run_changes_nothing_and_reports_every_million_events() {
    let alone = simulate(&stack(), Box::new(RoundRobin::new()), PARAMS).unwrap();
    assert!(alone.events > 2 * PROGRESS_EVERY, "{} events", alone.events);
    let mut reports = Vec::new();
    let mut watch = |reached: Duration, events: u64| reports.push((reached, events));
    let (watched, end) = controlled(RunControl { progress: Some(&mut watch), ..RunControl::default() });
    assert_eq!(end, RunEnd::Complete);
    assert!(same(&watched, &alone), "watching changed the run");
    let expected: Vec<u64> = (1..=alone.events / PROGRESS_EVERY).map(|k| k * PROGRESS_EVERY).collect();
    assert_eq!(reports.iter().map(|r| r.1).collect::<Vec<_>>(), expected);
    assert!(reports.windows(2).all(|w| w[0].0 <= w[1].0) && reports.last().unwrap().0 < PARAMS.duration);
}

#[test]
fn an_event_limit_truncates_the_run_where_it_stops_and_only_when_it_bites() {
    let alone = simulate(&stack(), Box::new(RoundRobin::new()), PARAMS).unwrap();
    // Exactly enough events: the run ends as it would have.
    let (enough, end) = controlled(RunControl { max_events: Some(alone.events), ..RunControl::default() });
    assert_eq!(end, RunEnd::Complete);
    assert!(same(&enough, &alone), "a limit that does not bite changed the run");
    // One fewer, watched too: stopped just before the end, counting what it saw.
    let mut reports = 0;
    let mut watch = |_: Duration, _: u64| reports += 1;
    let limit = Some(alone.events - 1);
    let (cut, end) = controlled(RunControl { max_events: limit, progress: Some(&mut watch) });
    let RunEnd::Truncated { reached } = end else { panic!("{end:?}") };
    assert!(reached <= PARAMS.duration && reached > s(299), "{reached:?}");
    assert_eq!(cut.events, alone.events - 1);
    assert_eq!(reports, (alone.events - 1) / PROGRESS_EVERY);
    assert_conserved(&cut);
    // A run stopped early measured less, and only up to where it got.
    let (early, end) = controlled(RunControl { max_events: Some(1_000_000), ..RunControl::default() });
    let RunEnd::Truncated { reached } = end else { panic!("{end:?}") };
    assert_eq!(early.measured, reached - PARAMS.warmup);
    assert!(early.arrived < alone.arrived / 2, "{} of {}", early.arrived, alone.arrived);
    assert!(early.windows.len() < alone.windows.len());
    assert_conserved(&early);
}

#[test]
fn a_run_stopped_in_its_warm_up_measured_nothing_and_does_not_panic() {
    let (run, end) = controlled(RunControl { max_events: Some(10), ..RunControl::default() });
    assert!(matches!(end, RunEnd::Truncated { reached } if reached < PARAMS.warmup), "{end:?}");
    assert_eq!((run.events, run.measured, run.arrived), (10, Duration::ZERO, 0));
    assert!(run.response_time.mean_s.is_nan());
}
