//! A client's checks: its arrivals (resolving a schedule's clock times), timeout, request
//! classes, retries, hedging, retry throttling, breaker and throttle.

use crate::locate::FieldPath;
use crate::spec::{ArrivalsSpec, Experiment};

use super::Checker;

impl Checker<'_> {
    /// The `client`-th client's arrivals; resolves a schedule's clock times.
    pub(super) fn arrivals(
        &mut self,
        client: usize,
        path: FieldPath,
        arrivals: &ArrivalsSpec,
        experiment: &Experiment,
    ) {
        let mut offsets = Vec::new();
        if let ArrivalsSpec::Schedule { points, .. } = arrivals {
            for (j, (at, _)) in points.iter().enumerate() {
                match at.offset(experiment.start) {
                    Ok(t) => offsets.push(t),
                    Err(why) => self.error(path.field("points").index(j), why.to_string()),
                }
            }
            if offsets.len() < points.len() {
                return;
            }
        }
        self.resolved.schedules[client] = offsets;
        match arrivals {
            ArrivalsSpec::Trace { file, .. } => {
                // Where reading it failed, that error is reported where it was read.
                let Some(trace) = self.resolved.traces[client].clone() else { return };
                for problem in crate::build::arrivals(client, arrivals, &self.resolved).problems() {
                    let message = if trace.times.is_empty() {
                        format!("the trace {file:?} has no arrivals")
                    } else {
                        problem.message
                    };
                    self.error(path.field("file"), message);
                }
            }
            _ => self.model(&path, crate::build::arrivals(client, arrivals, &self.resolved).problems()),
        }
    }

    pub(super) fn client_behaviour(&mut self, path: &FieldPath, client: &crate::spec::ClientSpec) {
        self.model(path, stacksim_model::check::timeout(client.timeout.map(|t| t.0)));
        let classes: Vec<_> = client.classes.iter().map(crate::spec::ClassSpec::model).collect();
        self.model(path, stacksim_model::check::classes(&classes));
        self.client_hedging(path, client);
        if let Some(retry) = &client.retry {
            let retry_path = path.field("retry");
            self.model(&retry_path, crate::build::retry(retry).problems());
            if retry.budget_ratio.is_none() && retry.budget_min_per_s.is_some() {
                self.warning(
                    retry_path.field("budget_min_per_s"),
                    "budget_min_per_s has no effect without a budget: give budget_ratio as well, like 0.2",
                );
            }
        }
        if let Some(breaker) = &client.breaker {
            self.model(&path.field("breaker"), breaker.model().problems());
        }
        if let Some(throttle) = &client.throttle {
            self.model(&path.field("throttle"), throttle.model().problems());
        }
    }

    /// Hedging and retry throttling (issue 12): ranges, hedging with retries, and throttling
    /// that has nothing to throttle.
    fn client_hedging(&mut self, path: &FieldPath, client: &crate::spec::ClientSpec) {
        if let Some(hedge) = client.hedge {
            let hedge_path = path.field("hedge");
            self.model(&hedge_path, crate::build::hedge(hedge).problems());
            if client.retry.is_some() {
                self.error(
                    hedge_path,
                    "a client either retries or hedges, as gRPC's service config allows only one of \
                     retryPolicy and hedgingPolicy: remove retry or hedge",
                );
            }
        }
        if let Some(retry) = client.retry.filter(|r| r.hedge_on_per_try_timeout == Some(true)) {
            let at = path.field("retry").field("hedge_on_per_try_timeout");
            let most = stacksim_model::HedgePolicy::MAX_ATTEMPTS;
            if client.timeout.is_none() {
                self.error(
                    at,
                    "hedging on the per-try timeout needs the client's timeout (the per-try timeout, \
                     like timeout: \"200ms\")",
                );
            } else if retry.max_attempts > most {
                self.error(
                    at,
                    format!(
                        "a request hedged on its per-try timeout keeps at most {most} attempts in flight: \
                         max_attempts must be at most {most}, not {}",
                        retry.max_attempts
                    ),
                );
            }
        }
        if let Some(throttling) = client.retry_throttling {
            let throttling_path = path.field("retry_throttling");
            self.model(&throttling_path, crate::build::retry_throttling(throttling).problems());
            if client.retry.is_none() && client.hedge.is_none() {
                self.warning(
                    throttling_path,
                    "retry_throttling has no effect on a client that neither retries nor hedges: \
                     give retry or hedge as well",
                );
            }
        }
    }
}
