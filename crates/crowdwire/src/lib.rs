//! The CrowdWire server as a library: configuration and wiring, used by the `crowdwire`
//! binary and by the integration tests.

pub mod config;
pub mod listener;
pub mod media_command;
pub mod server;
