//! Standalone media nodes: the replicas' side ([`api_side::RemoteMedia`], the realtime layer's
//! `MediaBackend`), the node's side ([`node_side::Node`], run by `crowdwire media`), and the
//! seed's protocol between them on RabbitMQ ([`protocol`]).

pub mod api_side;
pub mod node_side;
pub mod protocol;

pub use api_side::RemoteMedia;
