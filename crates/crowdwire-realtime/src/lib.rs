//! The CrowdWire realtime layer: WebSocket sessions around the sans-IO world engine.
//!
//! - [`gateway`]: the WebSocket endpoint (authorisation, reader, writer).
//! - [`hub`]: one actor task per live world, the single writer of its state, and the
//!   [`crowdwire_access::live::LiveSessions`] bridge that lets REST calls reach live sessions.
//! - [`outbound`]: each socket's bounded, coalescing queue.
//! - [`presence`], [`bus`], [`lease`], [`media`]: the small traits behind which presence, the
//!   replica bus, world ownership and the media server sit, each with an in-process
//!   implementation (the Redis and RabbitMQ ones are in `crowdwire-cluster`).
//! - [`wire`]: the versioned schema of what replicas send each other.

pub mod bus;
pub mod gateway;
pub mod hub;
pub mod lease;
pub mod media;
pub mod outbound;
pub mod presence;
pub mod wire;

pub use hub::{Backends, Hub, RealtimeSettings};
