//! Integration tests of stacksim-calibrate: one binary, a module per behaviour.

mod formats;
mod malformed;
mod real_logs;
mod round_trip;
