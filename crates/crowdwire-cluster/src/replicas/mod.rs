//! The replicas' shared backends: presence and world leases in Redis, the replica bus on
//! RabbitMQ (the realtime layer's `Presence`, `Leases` and `ReplicaBus`).

pub mod amqp;
pub mod redis_store;

pub use amqp::AmqpBus;
pub use redis_store::RedisStore;
