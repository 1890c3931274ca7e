//! CrowdWire's scale-out backends, behind the realtime layer's traits:
//!
//! - [`redis_store::RedisStore`]: presence (the seed's key layout, JSON values, entries that
//!   expire unless refreshed) and world leases with fencing tokens, in Redis.
//! - [`amqp::AmqpBus`]: the replica bus on RabbitMQ, routed by replica id.
//! - [`media_remote::RemoteMedia`] and [`media_node::Node`]: standalone media nodes, the
//!   API's side and the node's, speaking the seed's protocol ([`media_protocol`]).
//!
//! With neither configured, the server runs on the in-process implementations in
//! `crowdwire-realtime`.

pub mod amqp;
pub mod media_node;
pub mod media_protocol;
pub mod media_remote;
pub mod redis_store;

pub use amqp::AmqpBus;
pub use media_remote::RemoteMedia;
pub use redis_store::RedisStore;
