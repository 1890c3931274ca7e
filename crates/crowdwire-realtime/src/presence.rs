//! Who is online where, across replicas.
//!
//! The world actors report joins and leaves; the REST API reads counts and checks duplicate
//! sessions through the same trait. [`LocalPresence`] keeps it in memory (one process).
//!
//! The Redis implementation (scale-out) will keep the seed's layout, as JSON rather than
//! pickle, with every key expiring unless its replica keeps refreshing it:
//!
//! | key | type | content |
//! |---|---|---|
//! | `world:{world_id}:user:{user_id}` | hash | `username`, `avatar`, `x`, `y`, `replica`, `session` |
//! | `world:{world_id}:users` | sorted set | user ids, scored by the heartbeat time; members older than the TTL are stale |
//! | `replica:{replica_id}:worlds` | set | worlds whose actor runs on that replica (heartbeat key, TTL 15 s) |
//! | `world:{world_id}:owner` | string | replica id hosting the world's actor (`SET NX PX`) |
//!
//! Online counts are `ZCOUNT world:{w}:users (now-ttl) +inf`, so a crashed replica's users
//! stop counting within one TTL without any clean-up.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crowdwire_world::protocol::Position;

/// What presence records about an online user.
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceEntry {
    /// Display name.
    pub username: String,
    /// Avatar.
    pub avatar: String,
    /// Last known position.
    pub position: Option<Position>,
}

/// Presence, as the realtime and REST layers need it.
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// `user` is online in `world`.
    async fn join(&self, world: i64, user: &str, entry: PresenceEntry);
    /// `user` left `world`.
    async fn leave(&self, world: i64, user: &str);
    /// Users online in `world`.
    async fn online_count(&self, world: i64) -> u64;
    /// Users online anywhere.
    async fn online_total(&self) -> u64;
    /// True when `user` is online in `world`.
    async fn is_online(&self, world: i64, user: &str) -> bool;
    /// Backend name for `/health`.
    fn backend(&self) -> &'static str;
}

/// In-process presence.
#[derive(Default)]
pub struct LocalPresence {
    worlds: Mutex<HashMap<i64, HashMap<String, PresenceEntry>>>,
}

impl LocalPresence {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, HashMap<String, PresenceEntry>>> {
        self.worlds.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl Presence for LocalPresence {
    async fn join(&self, world: i64, user: &str, entry: PresenceEntry) {
        self.lock().entry(world).or_default().insert(user.to_owned(), entry);
    }

    async fn leave(&self, world: i64, user: &str) {
        let mut w = self.lock();
        if let Some(users) = w.get_mut(&world) {
            users.remove(user);
            if users.is_empty() {
                w.remove(&world);
            }
        }
    }

    async fn online_count(&self, world: i64) -> u64 {
        self.lock().get(&world).map(|u| u.len() as u64).unwrap_or(0)
    }

    async fn online_total(&self) -> u64 {
        self.lock().values().map(|u| u.len() as u64).sum()
    }

    async fn is_online(&self, world: i64, user: &str) -> bool {
        self.lock().get(&world).is_some_and(|u| u.contains_key(user))
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
