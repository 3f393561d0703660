//! The end of warm-up, time-series windows and the run's summary.

use std::time::Duration;

use stacksim_engine::{Context, SimTime};

use super::{Event, RunSummary, WebStack};

impl WebStack {
    pub(super) fn end_warmup(&mut self, now: SimTime) {
        self.recorder.end_warmup(now);
        self.tier.end_warmup(now);
        for b in &mut self.backends {
            b.end_warmup(now);
        }
        if let Some(db) = &mut self.database {
            db.end_warmup(now);
        }
        self.breaker_open_at_warmup =
            self.clients.iter().filter_map(|c| c.breaker().map(|b| b.open_time(now))).collect();
        if let Some(fleet) = &mut self.fleet {
            fleet.end_warmup(now);
        }
        if let Some(limits) = &mut self.concurrency {
            limits.restart(now);
        }
    }

    pub(super) fn end_window(&mut self, cx: &mut Context<'_, Event>) {
        let now = cx.now();
        let Some(width) = self.recorder.window() else { return };
        cx.schedule_in(width, Event::WindowEnd);
        let database = self.database.as_mut().map(|db| db.busy_area(now));
        let breakers_open = self
            .clients
            .iter()
            .filter(|c| c.breaker().is_some_and(|b| b.state(now) != crate::overload::BreakerState::Closed))
            .count() as u32;
        let fleet = self.fleet.as_mut().map_or_else(Vec::new, |f| f.close_window(now, width));
        self.recorder.close_window(
            now,
            self.backends.iter_mut().map(|b| b.areas(now)),
            database,
            fleet,
            breakers_open,
        );
        if let Some(limits) = &self.concurrency {
            self.recorder.set_window_limits(limits.limits());
        }
    }

    /// What the run measured, from the end of warm-up to `end`.
    pub fn summary(mut self, end: SimTime, events: u64) -> RunSummary {
        let in_flight = self.in_flight.counted_requests();
        let backends = self.backends.iter_mut().map(|b| (b.name().to_owned(), b.usage(end)));
        let database = self.database.as_mut().map(|db| db.summary(end));
        let measured = end.saturating_since(self.recorder.warmup_end()).as_secs_f64();
        let open: Vec<f64> = self
            .clients
            .iter()
            .filter_map(|c| c.breaker().map(|b| b.open_time(end)))
            .zip(self.breaker_open_at_warmup.iter().copied().chain(std::iter::repeat(Duration::ZERO)))
            .map(|(total, before)| total.saturating_sub(before).as_secs_f64())
            .collect();
        let breaker_open_ratio = if open.is_empty() || measured <= 0.0 {
            0.0
        } else {
            open.iter().sum::<f64>() / open.len() as f64 / measured
        };
        let topology = self.tier.summary(end);
        let classes = self.classes.as_deref().map(|t| (t, self.in_flight.counted_requests_by_class(t.len())));
        let mut summary =
            self.recorder.summary(end, events, backends, database, in_flight, breaker_open_ratio, classes);
        summary.topology = topology;
        if let Some(fleet) = &mut self.fleet {
            summary.fleet = fleet.summary(end);
        }
        if let Some(limits) = &self.concurrency {
            debug_assert!(
                (0..self.backends.len()).all(|b| limits.accounts_for(b, &self.in_flight.held_by(b))),
                "a concurrency limiter lost count of its attempts"
            );
        }
        if let Some(overload) = &mut summary.overload
            && (self.concurrency.is_some() || self.report_concurrency)
        {
            overload.concurrency_limit_mean =
                Some(self.concurrency.as_mut().map_or(f64::NAN, |l| l.mean_limit(end)));
        }
        summary
    }
}
