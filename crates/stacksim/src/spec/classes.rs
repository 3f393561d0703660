//! Request classes and priority shedding in experiment files (issue 12): a client's
//! `classes: [(name: "search", weight: 0.2, service_scale: 5.0, priority: High)]` and a
//! backend group's `shed: (queue_above: 50, priority_below: High)`, see
//! [`stacksim_model::classes`] (the priorities are the SRE book's criticalities).

use std::fmt;

use serde::{Deserialize, Serialize};
use stacksim_model::classes::{Priority, RequestClass, Shed};

/// A request's priority, least to most important: `Low`, `Normal` (the default), `High`,
/// `Critical` — the SRE book's `SHEDDABLE`, `SHEDDABLE_PLUS`, `CRITICAL`, `CRITICAL_PLUS`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum PrioritySpec {
    /// Sheddable at any time.
    Low,
    /// The default.
    #[default]
    Normal,
    /// Production traffic users wait for.
    High,
    /// The most critical requests.
    Critical,
}

impl PrioritySpec {
    /// The model's priority.
    pub fn to_model(self) -> Priority {
        match self {
            PrioritySpec::Low => Priority::Low,
            PrioritySpec::Normal => Priority::Normal,
            PrioritySpec::High => Priority::High,
            PrioritySpec::Critical => Priority::Critical,
        }
    }
}

impl fmt::Display for PrioritySpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.to_model(), f)
    }
}

/// `(name: "search", weight: 0.2, service_scale: 5.0, priority: High)`: one kind of request a
/// client sends, drawn for each request by weight.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClassSpec {
    /// Name, unique within the client; names the class in reports.
    pub name: String,
    /// Relative weight, > 0: the class's share of the client's requests is its weight over the
    /// sum of the client's weights.
    pub weight: f64,
    /// Multiplies the backends' service time for the attempts of its requests (retries and
    /// hedges included), > 0. Default: 1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_scale: Option<f64>,
    /// What a shedding backend refuses first. Default: `Normal`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<PrioritySpec>,
}

impl ClassSpec {
    /// The model's class, defaults filled.
    pub fn model(&self) -> RequestClass {
        RequestClass {
            name: self.name.clone(),
            weight: self.weight,
            service_scale: self.service_scale.unwrap_or(1.0),
            priority: self.priority.unwrap_or_default().to_model(),
        }
    }
}

/// `shed: (queue_above: 50, priority_below: High)`: while more than `queue_above` requests wait
/// in a backend's queue, it answers those of a priority below `priority_below` 503 at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShedSpec {
    /// Requests waiting (not being served) above which shedding starts.
    pub queue_above: u32,
    /// Priorities strictly below this are shed (`High`: `Low` and `Normal` are).
    pub priority_below: PrioritySpec,
}

impl ShedSpec {
    /// The model's shedding.
    pub fn model(&self) -> Shed {
        Shed { queue_above: self.queue_above, priority_below: self.priority_below.to_model() }
    }
}

impl fmt::Display for ShedSpec {
    /// As a sweep labels it: `50/High` (shed below High past 50 queued).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.queue_above, self.priority_below)
    }
}
