#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

mod queue;
pub mod rng;
mod simulation;
mod time;

pub use queue::{EventId, EventQueue};
pub use rng::SimRng;
pub use simulation::{Context, Model, Simulation, Stop};
pub use time::{MAX_SPAN, SimTime, SpanError, duration_nanos, saturating_span, scale_span, span_from_secs};
