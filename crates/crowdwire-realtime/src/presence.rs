//! Who is online where, across replicas.
//!
//! The world actors report joins and leaves, and refresh the whole world's entries every few
//! seconds; the REST API reads counts and checks duplicate sessions through the same trait;
//! the gateway reserves a place before a socket joins, so capacity holds across replicas.
//! [`LocalPresence`] keeps it in memory (one process). The Redis implementation, in the
//! `crowdwire-cluster` crate, keeps the seed's key layout with JSON values, and every entry
//! expires unless its world's owner keeps refreshing it: a crashed replica's users stop
//! counting within one TTL with no clean-up, and what they were doing (position, conference)
//! is what the next owner restores.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crowdwire_world::engine::Restored;

/// What presence records about an online user.
#[derive(Clone, Debug, PartialEq)]
pub struct PresenceEntry {
    /// What the world needs to carry the player over to another replica.
    pub player: Restored,
    /// The replica running the world.
    pub replica: String,
}

/// The presence store could not be reached.
#[derive(Debug, thiserror::Error)]
#[error("presence store unavailable: {0}")]
pub struct PresenceError(pub String);

/// Presence, as the realtime and REST layers need it.
#[async_trait]
pub trait Presence: Send + Sync + 'static {
    /// Holds a place for `user` in `world` unless `max` fresh users are already there (the
    /// user itself excepted), atomically across replicas. False: the world is full.
    async fn reserve(&self, world: i64, user: &str, max: Option<u32>) -> Result<bool, PresenceError>;
    /// `user` is in `world`.
    async fn join(&self, world: i64, user: &str, entry: PresenceEntry);
    /// `user` left `world`.
    async fn leave(&self, world: i64, user: &str);
    /// Rewrites every entry of `world` and extends their lives, if `fence` still holds the
    /// world's lease. False: another replica owns the world now.
    async fn refresh(&self, world: i64, fence: u64, entries: &[(String, PresenceEntry)])
    -> Result<bool, PresenceError>;
    /// The players a world had when its last owner stopped refreshing it.
    async fn carried(&self, world: i64) -> Vec<Restored>;
    /// Users online in `world`.
    async fn online_count(&self, world: i64) -> u64;
    /// Users online anywhere.
    async fn online_total(&self) -> u64;
    /// True when `user` is online in `world`.
    async fn is_online(&self, world: i64, user: &str) -> bool;
    /// The store is reachable.
    fn healthy(&self) -> bool;
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
    async fn reserve(&self, _world: i64, _user: &str, _max: Option<u32>) -> Result<bool, PresenceError> {
        // One process: the world's engine, the only writer, enforces the capacity.
        Ok(true)
    }

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

    async fn refresh(
        &self,
        world: i64,
        _fence: u64,
        entries: &[(String, PresenceEntry)],
    ) -> Result<bool, PresenceError> {
        let mut w = self.lock();
        let users = w.entry(world).or_default();
        for (user, entry) in entries {
            if let Some(e) = users.get_mut(user) {
                *e = entry.clone();
            }
        }
        Ok(true)
    }

    async fn carried(&self, _world: i64) -> Vec<Restored> {
        // A world's actor leaves presence as it stops: nothing is ever carried over.
        Vec::new()
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

    fn healthy(&self) -> bool {
        true
    }

    fn backend(&self) -> &'static str {
        "memory"
    }
}
