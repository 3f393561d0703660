//! A backend's queue discipline in experiment files (issue 12): `discipline: Fifo | Lifo |
//! AdaptiveLifo | CoDel(target: "5ms", interval: "100ms")`, see
//! `stacksim_model::overload::discipline`.

use std::fmt;

use serde::{Deserialize, Serialize};
use stacksim_model::HumanDuration;
use stacksim_model::overload::discipline::Discipline;

/// The order a backend's workers take waiting requests in, and CoDel's limits on waiting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub enum DisciplineSpec {
    /// First come, first served (the default).
    #[default]
    Fifo,
    /// Newest first.
    Lifo,
    /// FIFO until the queue has not been empty for 100 ms, then newest first ("Fail at
    /// Scale", ACM Queue 2015).
    AdaptiveLifo,
    /// Facebook's controlled delay: waits limited to `target` once the queue has not been
    /// empty for `interval`, else to `interval`.
    CoDel {
        /// Default: `"5ms"`.
        #[serde(default = "default_target")]
        target: HumanDuration,
        /// Default: `"100ms"`.
        #[serde(default = "default_interval")]
        interval: HumanDuration,
        /// Newest first while the queue stands, as Facebook pairs CoDel with adaptive LIFO.
        /// Default: false.
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        adaptive_lifo: bool,
    },
}

fn default_target() -> HumanDuration {
    HumanDuration(Discipline::DEFAULT_TARGET)
}

fn default_interval() -> HumanDuration {
    HumanDuration(Discipline::DEFAULT_INTERVAL)
}

impl DisciplineSpec {
    /// The model's discipline.
    pub fn to_model(self) -> Discipline {
        match self {
            DisciplineSpec::Fifo => Discipline::Fifo,
            DisciplineSpec::Lifo => Discipline::Lifo,
            DisciplineSpec::AdaptiveLifo => Discipline::AdaptiveLifo,
            DisciplineSpec::CoDel { target, interval, adaptive_lifo } => {
                Discipline::CoDel { target: target.0, interval: interval.0, adaptive_lifo }
            }
        }
    }
}

impl fmt::Display for DisciplineSpec {
    /// As a sweep labels it: `Fifo`, `CoDel(5ms/100ms)`, `CoDel(5ms/100ms)+AdaptiveLifo`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DisciplineSpec::Fifo => f.write_str("Fifo"),
            DisciplineSpec::Lifo => f.write_str("Lifo"),
            DisciplineSpec::AdaptiveLifo => f.write_str("AdaptiveLifo"),
            DisciplineSpec::CoDel { target, interval, adaptive_lifo } => {
                write!(f, "CoDel({target}/{interval})")?;
                if *adaptive_lifo {
                    f.write_str("+AdaptiveLifo")?;
                }
                Ok(())
            }
        }
    }
}
