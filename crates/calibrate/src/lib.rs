#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod compare;
pub mod distribution;
pub mod fit;
mod html;
pub mod observed;
pub mod read;
pub mod record;
pub mod replay;
pub mod write;
pub mod zipf;

pub use compare::{Comparison, compare};
pub use fit::{Fit, FitOptions, fit};
pub use observed::Observed;
pub use read::{LineError, ReadError, ReadStats, read_file, read_log};
pub use record::{LogFormat, LogRecord};
pub use write::AccessLogWriter;
