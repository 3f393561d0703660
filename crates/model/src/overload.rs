//! Overload control on the client side and at the backends (issue 12): mechanisms that keep
//! a stack from amplifying its own overload.
//!
//! - [`hedge`]: gRPC hedged requests, with gRPC's retry throttling
//!   ([`crate::retry::RetryThrottling`]) limiting them as it limits retries;
//! - [`discipline`]: the order a backend serves its queue in, and Facebook's CoDel.

pub mod discipline;
pub mod hedge;
