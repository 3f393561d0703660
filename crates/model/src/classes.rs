//! Request classes: the mix of endpoints a client sends, and a backend's shedding of the less
//! important ones when its queue passes a mark.
//!
//! A client may declare [`RequestClass`]es (`search`, `checkout`, ...): each request it sends
//! belongs to one, drawn with probability proportional to the class's `weight` from the
//! client's own stream `classes/<client>`. A class multiplies the service time of every attempt
//! of its requests (retries and hedges included) by its `service_scale`, and carries a
//! [`Priority`]. A backend with [`Shed`] refuses, at once and with a 503, an attempt whose
//! priority is below `priority_below` while more than `queue_above` attempts wait in its
//! queue; such a request ends *priority-shed*, a kind of rejection, so conservation
//! (`arrived = completed + rejected + timed_out + failed + in_flight`) is unchanged.
//!
//! ## Production source
//!
//! The four priorities and the shedding rule follow Google's *criticality*, described in the
//! SRE book, chapter 21 "Handling Overload", section "Criticality"
//! (<https://sre.google/sre-book/handling-overload/>): every RPC carries one of four values,
//! and "when a task is overloaded, it will reject requests of lower criticalities" first. The
//! book's four values, from most to least important, map one to one, in order:
//!
//! | [`Priority`] | SRE book criticality | the book's use |
//! |---|---|---|
//! | `Critical` | `CRITICAL_PLUS` | the most critical requests, whose failure users see at once |
//! | `High` | `CRITICAL` | the default of requests sent from production jobs |
//! | `Normal` | `SHEDDABLE_PLUS` | partial unavailability is expected; the default of batch jobs |
//! | `Low` | `SHEDDABLE` | frequent partial and occasional full unavailability are expected |
//!
//! stacksim's default is `Normal` (a class that says nothing is sheddable by a backend that
//! sheds below `High`); give user-facing classes `High` to match the book's production default.
//! The book's tasks judge their own overload from their utilization; the signal here is
//! simpler, a fixed mark on the backend's queue length, which a reader can set from the queue a
//! backend holds at its SLO.
//!
//! Nothing here runs in a stack without classes or shedding: the dispatcher keeps no class
//! table, draws nothing from `classes/<client>`, and checks one flag where a backend would shed,
//! so every number of such a run is what it was before classes existed.

use rand::RngExt;
use serde::{Deserialize, Serialize};
use stacksim_engine::SimRng;

/// How important a request is, least to most: the order decides what a backend [sheds](Shed)
/// first. Default: `Normal`. The four values are the SRE book's criticalities (see the
/// [module docs](self)): `Low` = `SHEDDABLE`, `Normal` = `SHEDDABLE_PLUS`, `High` = `CRITICAL`,
/// `Critical` = `CRITICAL_PLUS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Priority {
    /// Sheddable at any time (`SHEDDABLE`).
    Low,
    /// Partial unavailability is acceptable (`SHEDDABLE_PLUS`); the default.
    #[default]
    Normal,
    /// Production traffic users wait for (`CRITICAL`).
    High,
    /// The most critical requests (`CRITICAL_PLUS`).
    Critical,
}

impl std::fmt::Display for Priority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Priority::Low => "Low",
            Priority::Normal => "Normal",
            Priority::High => "High",
            Priority::Critical => "Critical",
        })
    }
}

/// One kind of request a client sends: an endpoint, with its share of the client's requests,
/// its cost and its priority.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestClass {
    /// Name, unique within its client (`search`); names it in reports.
    pub name: String,
    /// Relative weight, > 0: the class's share of its client's requests is its weight over the
    /// sum of the client's weights.
    pub weight: f64,
    /// Multiplies the service time of each attempt of its requests at a backend (its own work,
    /// not a database query), > 0. 1.0: the backend's service time as configured.
    pub service_scale: f64,
    /// What a shedding backend refuses first.
    pub priority: Priority,
}

impl RequestClass {
    /// A class called `name` with weight `weight`, the backends' own service time and
    /// priority `Normal`.
    pub fn new(name: impl Into<String>, weight: f64) -> Self {
        RequestClass { name: name.into(), weight, service_scale: 1.0, priority: Priority::Normal }
    }
}

/// A backend's priority shedding: while more than `queue_above` attempts wait in its queue, an
/// attempt whose class priority is below `priority_below` is refused at once with a 503
/// (priority-shed; see the [module docs](self) for the source).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shed {
    /// Attempts waiting (not counting those being served) above which shedding starts.
    pub queue_above: u32,
    /// Priorities strictly below this are shed (`High`: `Low` and `Normal` are).
    pub priority_below: Priority,
}

impl Shed {
    /// Whether an attempt of `priority` arriving while `waiting` attempts wait is shed.
    #[inline]
    pub fn sheds(&self, waiting: u32, priority: Priority) -> bool {
        waiting > self.queue_above && priority < self.priority_below
    }
}

/// The most classes one client may declare (each keeps a latency histogram of about 300 KiB
/// per run).
pub const MAX_CLASSES_PER_CLIENT: usize = 64;

/// The most classes a stack may have, counting one [`DEFAULT_CLASS`] for each client that
/// declares none: an attempt carries its class in one byte, the one its cache line has spare.
pub const MAX_CLASSES: usize = 256;

/// The name of the one class of a client that declares none, in a stack where some client
/// declares classes or some backend sheds: all its requests, priority `Normal`, scale 1.
pub const DEFAULT_CLASS: &str = "default";

/// What the dispatcher needs of a class while requests run.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ClassInfo {
    /// Its priority.
    pub priority: Priority,
    /// Its service-time multiplier.
    pub service_scale: f64,
}

/// Every class of a stack, numbered client by client (a client without classes has one,
/// [`DEFAULT_CLASS`]): the number is what a request carries.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct ClassTable {
    /// By class number.
    pub info: Box<[ClassInfo]>,
    /// By class number: its name and its client's name.
    pub names: Vec<(String, String)>,
    /// Per client: the number of its first class.
    pub first: Vec<u8>,
}

impl ClassTable {
    /// The classes of `clients`, numbered in order; `None` when `keep` is false (no client
    /// declares classes and no backend sheds: nothing is kept).
    pub fn new(clients: &[crate::ClientConfig], keep: bool) -> Option<ClassTable> {
        if !keep {
            return None;
        }
        let mut table = ClassTable { info: Box::default(), names: Vec::new(), first: Vec::new() };
        let mut info = Vec::new();
        for client in clients {
            // At most `MAX_CLASSES` in all (`StackConfig::check`).
            table.first.push(info.len() as u8);
            if client.classes.is_empty() {
                info.push(ClassInfo { priority: Priority::Normal, service_scale: 1.0 });
                table.names.push((DEFAULT_CLASS.to_owned(), client.name.clone()));
            }
            for class in &client.classes {
                info.push(ClassInfo { priority: class.priority, service_scale: class.service_scale });
                table.names.push((class.name.clone(), client.name.clone()));
            }
        }
        table.info = info.into_boxed_slice();
        Some(table)
    }

    /// How many classes there are.
    pub fn len(&self) -> usize {
        self.info.len()
    }
}

/// A client's draw of each request's class from its stream `classes/<client>`: one uniform
/// draw per request, against the cumulative weights.
#[derive(Debug)]
pub(crate) struct ClassSampler {
    rng: SimRng,
    /// Cumulative weights over their sum; the last is 1.
    cumulative: Box<[f64]>,
}

impl ClassSampler {
    /// A sampler over `classes` (two or more, weights positive and finite) drawing from `rng`.
    pub fn new(classes: &[RequestClass], rng: SimRng) -> ClassSampler {
        let total: f64 = classes.iter().map(|c| c.weight).sum();
        let mut sum = 0.0;
        let mut cumulative: Vec<f64> = classes
            .iter()
            .map(|c| {
                sum += c.weight;
                sum / total
            })
            .collect();
        if let Some(last) = cumulative.last_mut() {
            *last = 1.0;
        }
        ClassSampler { rng, cumulative: cumulative.into_boxed_slice() }
    }

    /// The index (within its client) of the next request's class.
    #[inline]
    pub fn draw(&mut self) -> u8 {
        let u: f64 = self.rng.random();
        self.cumulative.iter().position(|&c| u < c).unwrap_or(self.cumulative.len() - 1) as u8
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priorities_are_ordered_as_the_sre_books_criticalities() {
        assert!(Priority::Low < Priority::Normal);
        assert!(Priority::Normal < Priority::High);
        assert!(Priority::High < Priority::Critical);
        assert_eq!(Priority::default(), Priority::Normal);
    }

    #[test]
    fn shedding_starts_above_the_mark_and_spares_the_priority_named_and_above() {
        let shed = Shed { queue_above: 3, priority_below: Priority::High };
        assert!(!shed.sheds(3, Priority::Low), "at the mark, nothing is shed");
        assert!(shed.sheds(4, Priority::Low) && shed.sheds(4, Priority::Normal));
        assert!(!shed.sheds(4, Priority::High) && !shed.sheds(1000, Priority::Critical));
    }

    #[test]
    fn draws_follow_the_weights() {
        let classes = [RequestClass::new("a", 3.0), RequestClass::new("b", 1.0)];
        let mut sampler = ClassSampler::new(&classes, stacksim_engine::rng::stream(1, "classes/t"));
        let n = 40_000;
        let b = (0..n).filter(|_| sampler.draw() == 1).count() as f64 / n as f64;
        // Binomial: p = 0.25, sd = sqrt(p(1-p)/n) ≈ 0.0022.
        assert!((b - 0.25).abs() < 4.0 * 0.0022, "{b}");
    }
}
