//! Engine rule 5: the hot loop allocates nothing per event. Once queues, the request slab and
//! the event heap have grown to their working size, a run makes no further allocations.

use std::time::Duration;

use stacksim_benches::single_worker_backends;
use stacksim_engine::SimTime;
use stacksim_model::policy::RandomChoices;
use stacksim_model::{RunParams, WebStack};

#[global_allocator]
static ALLOCATOR: dhat::Alloc = dhat::Alloc;

fn allocations() -> u64 {
    dhat::HeapStats::get().total_blocks
}

#[test]
fn steady_state_events_allocate_nothing() {
    let _profiler = dhat::Profiler::builder().testing().build();
    // Ten backends at 50% load behind the power of two choices.
    let stack = single_worker_backends(10, 5.0);
    let params = RunParams { seed: 1, duration: Duration::from_secs(200_000), warmup: Duration::ZERO };
    let mut sim = WebStack::simulation(&stack, Box::new(RandomChoices::power_of_two()), params).unwrap();
    sim.run_until(SimTime::from(Duration::from_secs(20_000)));
    let (before, events_before) = (allocations(), sim.events_handled());
    sim.run_until(SimTime::from(Duration::from_secs(40_000)));
    let (allocations, events) = (allocations() - before, sim.events_handled() - events_before);
    assert!(events > 150_000, "{events}");
    // Growth to a new peak of requests in flight may still allocate, a handful of times.
    eprintln!("{allocations} allocations in {events} events");
    assert!(allocations <= 10, "{allocations} allocations in {events} events");
}
