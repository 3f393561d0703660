//! The database tier behind the backends.

use stacksim_model::*;

use super::{assert_conserved, backends, client, ms, run, s};

fn with_database(fraction: f64, db_workers: u32, pool: u32) -> StackConfig {
    StackConfig {
        clients: vec![client(40.0)],
        backends: backends(4, 8, ms(50)),
        database: Some(DatabaseConfig {
            workers: db_workers,
            service: ServiceTime::Exponential { mean: ms(20) },
            pool,
            fraction,
        }),
        ..StackConfig::default()
    }
}

#[test]
fn database_utilization_is_its_offered_load() {
    let r = run(&with_database(0.5, 4, 4), s(2000));
    assert_conserved(&r);
    // 40/s × 0.5 × 20 ms over 4 workers = 0.1.
    let db = r.database.unwrap();
    assert!((db.utilization - 0.1).abs() < 0.01, "{}", db.utilization);
    // App workers are held during the query: 40/s × (50 ms + 0.5 × ~20 ms) over 32 workers.
    let app: f64 = r.backends.iter().map(|b| b.utilization).sum::<f64>() / 4.0;
    assert!((app - 40.0 * 0.060 / 32.0).abs() < 0.01, "{app}");
}

#[test]
fn a_small_pool_makes_requests_wait_for_connections() {
    let busy = |pool| {
        let mut stack = with_database(1.0, 16, pool);
        stack.clients[0] = client(120.0);
        stack
    };
    // One connection per backend at 30 queries/s of 20 ms: busy 60% of the time.
    let roomy = run(&busy(16), s(1000));
    let tight = run(&busy(1), s(1000));
    assert_conserved(&tight);
    let wait = |r: &RunSummary| r.database.unwrap().wait_mean_s;
    assert!(wait(&tight) > wait(&roomy) + 0.005, "{} vs {}", wait(&tight), wait(&roomy));
    assert!(
        tight.response_time.mean_s > roomy.response_time.mean_s + 0.01,
        "{} vs {}",
        tight.response_time.mean_s,
        roomy.response_time.mean_s
    );
}

#[test]
fn a_crash_while_querying_keeps_the_books_straight() {
    let mut stack = with_database(1.0, 2, 2);
    stack.timeline = vec![
        TimedAction { at: s(100), action: Action::Fail { backend: 0 } },
        TimedAction { at: s(200), action: Action::Recover { backend: 0 } },
    ];
    let r = run(&stack, s(400));
    assert_conserved(&r);
    assert!(r.failed > 0);
}
