//! The CrowdWire realtime layer: WebSocket sessions around the sans-IO world engine.
//!
//! - [`gateway`]: the WebSocket endpoint (authorisation, reader, writer).
//! - [`hub`]: one actor task per live world, the single writer of its state, and the
//!   [`crowdwire_api::live::LiveSessions`] bridge that lets REST calls reach live sessions.
//! - [`outbound`]: each socket's bounded, coalescing queue.
//! - [`presence`], [`bus`], [`media`]: the small traits behind which presence, the replica
//!   bus and the media server sit, each with an in-process implementation.

pub mod bus;
pub mod gateway;
pub mod hub;
pub mod media;
pub mod outbound;
pub mod presence;

pub use hub::{Hub, RealtimeSettings};
