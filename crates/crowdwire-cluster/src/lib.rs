//! CrowdWire's scale-out backends, behind the realtime layer's traits:
//!
//! - [`redis_store::RedisStore`]: presence (the seed's key layout, JSON values, entries that
//!   expire unless refreshed) and world leases with fencing tokens, in Redis.
//! - [`amqp::AmqpBus`]: the replica bus on RabbitMQ, routed by replica id.
//!
//! With neither configured, the server runs on the in-process implementations in
//! `crowdwire-realtime`.

pub mod amqp;
pub mod redis_store;

pub use amqp::AmqpBus;
pub use redis_store::RedisStore;
