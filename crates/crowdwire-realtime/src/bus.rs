//! The replica bus, and the control messages REST calls send to live worlds.
//!
//! REST calls that affect live sessions (a ban, a role change, a map edit) may land on any
//! replica, while a world's actor runs on one: they are sent to the world's owner. Sockets
//! held by one replica for a world owned by another exchange their frames the same way (see
//! [`crate::wire`]). [`LocalBus`] is the in-process implementation; the RabbitMQ one is in
//! the `crowdwire-cluster` crate.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::wire::{Body, Envelope};

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
        /// The map changed (the world parses it again); absent from older replicas: true.
        #[serde(default = "changed")]
        map_changed: bool,
    },
}

fn changed() -> bool {
    true
}

impl Control {
    /// The world it concerns; `None` for every world (an account-wide eviction).
    pub fn world(&self) -> Option<i64> {
        match self {
            Control::Evict { world, .. } => *world,
            Control::CloseWorld { world, .. }
            | Control::RoleChanged { world, .. }
            | Control::RoleUpdated { world, .. }
            | Control::WorldUpdated { world, .. } => Some(*world),
        }
    }
}

/// The replica bus: envelopes to one replica (by id) or to all.
///
/// Sending never waits: a message is queued for the broker and dropped (and counted) past a
/// bound, or when the broker is away. Whatever depends on a message arriving has its own
/// recovery (sessions whose owner cannot be reached are told to reconnect).
pub trait ReplicaBus: Send + Sync + 'static {
    /// This replica's id.
    fn replica(&self) -> &str;
    /// Sends to one replica (this one included).
    fn send(&self, to: &str, body: Body);
    /// Sends to every replica (this one included).
    fn broadcast(&self, body: Body);
    /// What arrives for this replica. Called once, by the hub.
    fn subscribe(&self) -> mpsc::UnboundedReceiver<Envelope>;
    /// The broker is reachable (always, in process).
    fn healthy(&self) -> bool;
    /// Backend name for `/health`.
    fn backend(&self) -> &'static str;
}

/// In-process bus: one replica, which every message reaches.
pub struct LocalBus {
    tx: mpsc::UnboundedSender<Envelope>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Envelope>>>,
}

impl Default for LocalBus {
    fn default() -> LocalBus {
        let (tx, rx) = mpsc::unbounded_channel();
        LocalBus {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

/// Hands out a bus's inbox the first time; later callers get a receiver that never yields.
pub fn take_inbox(inbox: &Mutex<Option<mpsc::UnboundedReceiver<Envelope>>>) -> mpsc::UnboundedReceiver<Envelope> {
    inbox
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .unwrap_or_else(|| mpsc::unbounded_channel().1)
}

/// The replica id of a single-process server.
pub const LOCAL_REPLICA: &str = "local";

impl ReplicaBus for LocalBus {
    fn replica(&self) -> &str {
        LOCAL_REPLICA
    }

    fn send(&self, _to: &str, body: Body) {
        let _ = self.tx.send(Envelope::new(LOCAL_REPLICA, body));
    }

    fn broadcast(&self, body: Body) {
        let _ = self.tx.send(Envelope::new(LOCAL_REPLICA, body));
    }

    fn subscribe(&self) -> mpsc::UnboundedReceiver<Envelope> {
        take_inbox(&self.rx)
    }

    fn healthy(&self) -> bool {
        true
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
