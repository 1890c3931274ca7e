//! Messages between replicas about live worlds.
//!
//! REST calls that affect live sessions (a ban, a role change, a map edit) may land on any
//! replica, while a world's actor runs on one. They are published on the bus; every replica's
//! hub receives them and the one hosting the world applies them. [`LocalBus`] is the
//! in-process implementation (a broadcast channel): with one process, the message comes
//! straight back. The RabbitMQ implementation (scale-out) will use a fanout exchange.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

/// A control message about a live world.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Control {
    /// End a user's session in one world, or in all (`world: None`).
    Evict {
        /// World, or every world.
        world: Option<i64>,
        /// User wire id.
        user: String,
        /// Shown to the user.
        reason: String,
    },
    /// End every session of a world.
    CloseWorld {
        /// World.
        world: i64,
        /// Shown to the users.
        reason: String,
    },
    /// A user's role changed.
    RoleChanged {
        /// World.
        world: i64,
        /// User wire id.
        user: String,
        /// New role id.
        role_id: i64,
    },
    /// A role's flags changed.
    RoleUpdated {
        /// World.
        world: i64,
        /// Role id.
        role_id: i64,
    },
    /// A world's settings or map changed.
    WorldUpdated {
        /// World.
        world: i64,
    },
}

/// The replica bus.
#[async_trait]
pub trait ReplicaBus: Send + Sync + 'static {
    /// Sends to every replica (this one included).
    async fn publish(&self, message: Control);
    /// Receives what any replica published.
    fn subscribe(&self) -> broadcast::Receiver<Control>;
    /// Backend name for `/health`.
    fn backend(&self) -> &'static str;
}

/// In-process bus.
pub struct LocalBus {
    tx: broadcast::Sender<Control>,
}

impl Default for LocalBus {
    fn default() -> LocalBus {
        LocalBus {
            tx: broadcast::channel(1024).0,
        }
    }
}

#[async_trait]
impl ReplicaBus for LocalBus {
    async fn publish(&self, message: Control) {
        let _ = self.tx.send(message);
    }

    fn subscribe(&self) -> broadcast::Receiver<Control> {
        self.tx.subscribe()
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
