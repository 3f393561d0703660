//! Queue disciplines: LIFO, adaptive LIFO and Facebook's CoDel ("Fail at Scale", 2015).

use stacksim_model::overload::discipline::Discipline;
use stacksim_model::*;

use super::{assert_conserved, client, ms, run, s};

/// One backend, one worker, 10 ms of constant service, under `rate` per second, with an
/// unbounded queue served by `discipline`.
fn overloaded(rate: f64, discipline: Discipline) -> StackConfig {
    let mut backend = BackendConfig::new("app", 1, QueueLimit::Unbounded, ServiceTime::Constant(ms(10)));
    backend.discipline = discipline;
    StackConfig { clients: vec![client(rate)], backends: vec![backend], ..StackConfig::default() }
}

const CODEL: Discipline = Discipline::CoDel {
    target: Discipline::DEFAULT_TARGET,
    interval: Discipline::DEFAULT_INTERVAL,
    adaptive_lifo: false,
};

#[test]
fn codel_keeps_an_overloaded_queue_short_and_sheds_the_excess() {
    // 150/s into a server of 100/s. FIFO: the queue grows without bound. CoDel: a request
    // waits at most 100 ms, and 5 ms once the queue stands, so the server keeps serving its
    // 100/s at a low latency and answers the excess third 503.
    let fifo = run(&overloaded(150.0, Discipline::Fifo), s(120));
    let codel = run(&overloaded(150.0, CODEL), s(120));
    assert_conserved(&codel);
    assert!(fifo.response_time.p50_s > 10.0, "FIFO's queue grows: {}", fifo.response_time.p50_s);
    // Service 10 ms + at most 100 ms of waiting (3 significant digits of the histogram).
    assert!(codel.response_time.max_s <= 0.1101, "{}", codel.response_time.max_s);
    // A plain 100 ms queue timeout also sheds the excess, but keeps a standing queue: every
    // request served has waited about 100 ms. CoDel's 5 ms limit under a standing queue
    // drains it, and most requests are served after a short wait.
    let mut timeout = overloaded(150.0, Discipline::Fifo);
    timeout.backends[0].queue_timeout = Some(ms(100));
    let timeout = run(&timeout, s(120));
    eprintln!("CoDel {:?}\ntimeout {:?}", codel.response_time, timeout.response_time);
    assert!(timeout.response_time.p50_s > 0.09, "{}", timeout.response_time.p50_s);
    assert!(
        codel.response_time.p50_s < 0.5 * timeout.response_time.p50_s,
        "{} vs {}",
        codel.response_time.p50_s,
        timeout.response_time.p50_s
    );
    let shed = codel.rejected as f64 / codel.arrived as f64;
    assert!((shed - 1.0 / 3.0).abs() < 0.03, "{shed}");
    assert!((codel.throughput_per_s - 100.0).abs() < 3.0, "{}", codel.throughput_per_s);
    assert_eq!(fifo.rejected, 0);
}

#[test]
fn codel_changes_nothing_while_the_queue_empties_every_interval() {
    // At 30% load the queue empties far more often than every 100 ms, and no wait comes near
    // 100 ms: CoDel answers exactly as FIFO.
    let fifo = run(&overloaded(30.0, Discipline::Fifo), s(300));
    let mut codel = run(&overloaded(30.0, CODEL), s(300));
    assert!(codel.events > fifo.events, "CoDel's wait limits are timers");
    codel.events = fifo.events;
    assert_eq!(format!("{fifo:?}"), format!("{codel:?}"));
}

#[test]
fn lifo_serves_most_requests_fast_in_overload_and_a_few_very_late() {
    // A burst at twice capacity for 20 s, then calm: FIFO makes everyone in the burst wait
    // behind the backlog; LIFO serves the newest first, so the median stays near the service
    // time and the backlog's oldest requests wait longest.
    let stack = |discipline| {
        let mut stack = overloaded(50.0, discipline);
        stack.clients[0].arrivals =
            Arrivals::Schedule { points: vec![(s(0), 200.0), (s(20), 20.0)], linear: false };
        stack
    };
    let fifo = run(&stack(Discipline::Fifo), s(200));
    let lifo = run(&stack(Discipline::Lifo), s(200));
    let adaptive = run(&stack(Discipline::AdaptiveLifo), s(200));
    for r in [&fifo, &lifo, &adaptive] {
        assert_conserved(r);
        assert_eq!(r.completed, fifo.completed, "every discipline serves the same work");
    }
    assert!(fifo.response_time.p50_s > 1.0, "{}", fifo.response_time.p50_s);
    assert!(lifo.response_time.p50_s < 0.1, "{}", lifo.response_time.p50_s);
    assert!(adaptive.response_time.p50_s < 0.1, "{}", adaptive.response_time.p50_s);
    assert!(lifo.response_time.max_s > fifo.response_time.max_s, "LIFO's oldest wait longest");
}
