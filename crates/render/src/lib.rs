#![doc = include_str!("../README.md")]
#![warn(missing_docs)]

pub mod html;
pub mod plot;
pub mod xy;
