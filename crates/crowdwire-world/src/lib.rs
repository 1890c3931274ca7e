//! The CrowdWire world engine.
//!
//! Everything that happens inside one world — presence, positions, proximity groups, the
//! interest grid that decides who hears about whose moves, conferences, chat, shared-file
//! lists and moderation — is decided here, by a pure state machine: [`engine::WorldEngine`]
//! takes inputs (with the time) and returns outputs (frames to send, media commands, records
//! to persist). It owns no sockets, tasks or clocks, so its tests are deterministic and run
//! faster than real time. The realtime crate moves bytes in and out around it.

pub mod engine;
pub mod interest;
pub mod map;
pub mod protocol;
pub mod proximity;
pub mod roles;
