//! CrowdWire's scale-out backends, behind the realtime layer's traits, in two parts:
//!
//! - [`replicas`]: what replicas share. [`replicas::RedisStore`]: presence (the seed's key
//!   layout, JSON values, entries that expire unless refreshed) and world leases with fencing
//!   tokens, in Redis. [`replicas::AmqpBus`]: the replica bus on RabbitMQ, routed by replica id.
//! - [`media`]: standalone media nodes: [`media::RemoteMedia`] (the replicas' side) and
//!   [`media::node_side::Node`] (the node's), speaking the seed's protocol
//!   ([`media::protocol`]).
//!
//! With neither configured, the server runs on the in-process implementations in
//! `crowdwire-realtime`.

pub mod media;
pub mod replicas;

pub use media::RemoteMedia;
pub use replicas::{AmqpBus, RedisStore};
