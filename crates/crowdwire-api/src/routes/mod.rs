//! One module per resource, each exporting its `router()`.

pub mod auth;
pub mod events;
pub mod members;
pub mod ops;
pub mod roles;
pub mod statistics;
pub mod tags;
pub mod users;
pub mod world_reports;
pub mod worlds;
