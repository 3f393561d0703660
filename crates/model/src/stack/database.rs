//! The database tier behind the backends: connections and queries.

use std::time::Duration;

use stacksim_engine::Context;

use super::{Event, WebStack};
use crate::request::{AttemptRef, Stage};

impl WebStack {
    /// `attempt` holds one of `b`'s connections: the database serves its query or queues it.
    pub(super) fn query(&mut self, b: usize, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let Some(a) = self.in_flight.live_mut(attempt) else { return };
        a.stage = Stage::Querying;
        if self.database.as_mut().expect("queries only happen with a database").submit(b, attempt) {
            self.serve_query(b, attempt, cx);
        }
    }

    /// The database starts serving `attempt`'s query.
    fn serve_query(&mut self, b: usize, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let a = self.in_flight.live(attempt).expect("a live attempt queries");
        let waited = a.counted.then(|| now - a.asked_for_connection);
        let db = self.database.as_mut().expect("queries only happen with a database");
        let work = db.serve(b, now, a.size_seed, waited);
        cx.schedule_in(work, Event::QueryDone { backend: b as u32, attempt });
    }

    pub(super) fn query_done(&mut self, b: usize, attempt: AttemptRef, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let db = self.database.as_mut().expect("queries only happen with a database");
        // The worker takes the next live query in the database's queue.
        if let Some((next_b, next)) = db.finish(now, |q| self.in_flight.live(q).is_some()) {
            self.serve_query(next_b, next, cx);
        }
        // The connection goes back to the backend's pool, or to its next waiter.
        let db = self.database.as_mut().expect("queries only happen with a database");
        if let Some(waiter) = db.release(b, |q| self.in_flight.live(q).is_some()) {
            self.query(b, waiter, cx);
        }
        // The attempt goes on with its own work.
        if let Some(a) = self.in_flight.live_mut(attempt) {
            a.stage = Stage::Serving;
            cx.schedule_in(Duration::from_nanos(a.work_ns), Event::Completion(attempt));
        }
    }
}
