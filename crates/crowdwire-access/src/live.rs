//! What the REST API needs from the realtime layer: who is online, and a way to act on live
//! sessions when a REST call changes something they depend on (a ban, a role change).
//!
//! The realtime layer implements [`LiveSessions`]; until it is wired in, [`NoLiveSessions`]
//! reports nobody online and ignores notifications.

use std::collections::HashMap;

use async_trait::async_trait;
use crowdwire_auth::Principal;
use crowdwire_store::roles::Role;

/// Why a live session is being closed by the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Eviction {
    /// Banned from the world.
    BannedFromWorld,
    /// Account banned platform-wide.
    AccountBanned,
    /// The world was banned or deleted.
    WorldClosed,
    /// The account's tokens were revoked (a password change or "sign out everywhere").
    SignedOut,
}

/// The realtime layer, as seen from REST handlers.
#[async_trait]
pub trait LiveSessions: Send + Sync + 'static {
    /// Users connected to a world right now.
    async fn online_count(&self, world_id: i64) -> u64;

    /// Online counts of several worlds.
    async fn online_counts(&self, world_ids: &[i64]) -> HashMap<i64, u64> {
        let mut out = HashMap::with_capacity(world_ids.len());
        for &w in world_ids {
            out.insert(w, self.online_count(w).await);
        }
        out
    }

    /// Users connected to any world.
    async fn online_total(&self) -> u64;

    /// True when `who` has a live session in `world_id`.
    async fn is_online(&self, world_id: i64, who: Principal) -> bool;

    /// Closes `who`'s sessions in `world_id` (or in every world when `None`).
    async fn evict(&self, world_id: Option<i64>, who: Principal, why: Eviction);

    /// Closes every session in a world.
    async fn close_world(&self, world_id: i64, why: Eviction);

    /// `who`'s role in `world_id` changed; live sessions must use `role` from now on.
    async fn role_changed(&self, world_id: i64, who: Principal, role: &Role);

    /// A role's permissions changed; every holder's live session must use the new flags.
    async fn role_updated(&self, role: &Role);

    /// The world's settings changed, and its map when `map_changed`.
    async fn world_updated(&self, world_id: i64, map_changed: bool);

    /// Name of the presence backend, for `/health`.
    fn backend(&self) -> &'static str;

    /// How this replica's cluster parts are doing (`None` for a single process).
    fn cluster(&self) -> Option<ClusterStatus> {
        None
    }
}

/// A replica's view of the cluster, as `/health` reports it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ClusterStatus {
    /// This replica's id.
    pub replica: String,
    /// Redis (presence, leases) answers.
    pub presence_ok: bool,
    /// RabbitMQ (the replica bus) answers.
    pub bus_ok: bool,
    /// Worlds whose engine runs on this replica.
    pub worlds_owned: usize,
    /// Sockets on this replica whose world runs on another.
    pub remote_sessions: usize,
}

/// No realtime layer: nobody is online.
#[derive(Debug, Default)]
pub struct NoLiveSessions;

#[async_trait]
impl LiveSessions for NoLiveSessions {
    async fn online_count(&self, _: i64) -> u64 {
        0
    }
    async fn online_total(&self) -> u64 {
        0
    }
    async fn is_online(&self, _: i64, _: Principal) -> bool {
        false
    }
    async fn evict(&self, _: Option<i64>, _: Principal, _: Eviction) {}
    async fn close_world(&self, _: i64, _: Eviction) {}
    async fn role_changed(&self, _: i64, _: Principal, _: &Role) {}
    async fn role_updated(&self, _: &Role) {}
    async fn world_updated(&self, _: i64, _: bool) {}
    fn backend(&self) -> &'static str {
        "none"
    }
}
