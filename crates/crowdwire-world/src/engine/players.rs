//! Players: what the engine keeps of each user present, and how a slot maps to its user id,
//! rooms and co-members.

use std::collections::BTreeSet;

use serde_json::Value;

use super::rate_limit::Bucket;
use super::{Clock, Frame, Profile, SessionId, WorldEngine};
use crate::protocol::{PlayerData, Position, RoleSummary, Velocity, WireId};

#[derive(Debug)]
pub(super) struct Player {
    pub(super) slot: u32,
    pub(super) profile: Profile,
    pub(super) session: Option<SessionId>,
    pub(super) lingering_until: Option<u64>,
    pub(super) position: Option<Position>,
    pub(super) moved_at: u64,
    /// The velocity reported with the last accepted position (for dead reckoning).
    pub(super) velocity: Velocity,
    pub(super) spawned: bool,
    pub(super) conference: Option<String>,
    pub(super) speaker: bool,
    pub(super) files: Vec<Value>,
    /// Users whose download request this player accepted and who have not started it.
    pub(super) accepted_downloads: Vec<u32>,
    pub(super) bucket: Bucket,
    /// Its movement waiting for the turn's flush: an index into `WorldEngine::moves`.
    pub(super) pending_move: Option<usize>,
    /// While a flush runs: its index in the batch's receivers.
    pub(super) batch_ix: Option<usize>,
    /// The position was carried over from the world's previous owner and may be seconds old
    /// (presence is written every few seconds, and the move to a new owner takes a few more):
    /// the next move is not held to walking speed from it (walls still count).
    pub(super) carried_position: bool,
    /// The group it was in at the previous owner, until it next moves: whoever else is
    /// restored from that group within the leave radius stays grouped with it.
    pub(super) carried_group: Option<String>,
    /// Carried over from the previous owner while the media server kept its rooms: the rooms
    /// the media server still holds this peer in, which a resumed socket keeps using.
    pub(super) media_held: Option<BTreeSet<String>>,
    /// Chat sent to it while it had no session (its connection dropped, or its world moved
    /// to another owner), delivered when it is back.
    pub(super) missed: Vec<Frame>,
}

impl Player {
    /// A player just placed in the world: no session, not spawned, in no room, with a full
    /// rate-limit bucket.
    pub(super) fn new(slot: u32, profile: Profile, clock: Clock, rate_burst: f64) -> Player {
        Player {
            slot,
            profile,
            session: None,
            lingering_until: None,
            position: None,
            moved_at: clock.ms,
            velocity: Velocity::default(),
            spawned: false,
            conference: None,
            speaker: false,
            files: Vec::new(),
            accepted_downloads: Vec::new(),
            bucket: Bucket::new(rate_burst, clock.ms),
            pending_move: None,
            batch_ix: None,
            carried_position: false,
            carried_group: None,
            media_held: None,
            missed: Vec::new(),
        }
    }
}

impl WorldEngine {
    pub(super) fn uid(&self, slot: u32) -> String {
        self.players[&slot].profile.user_id.clone()
    }

    pub(super) fn player_data(p: &Player) -> PlayerData {
        PlayerData {
            username: p.profile.username.clone(),
            avatar: p.profile.avatar.clone(),
            role: RoleSummary {
                role_id: p.profile.role.role_id,
                name: p.profile.role.name.clone(),
            },
        }
    }

    /// The proximity group and conference of a slot, as room ids.
    pub(super) fn rooms(&self, slot: u32) -> Vec<String> {
        let mut r = Vec::new();
        if let Some(g) = self.proximity.group_of(slot) {
            r.push(g.to_string());
        }
        if let Some(c) = &self.players[&slot].conference {
            r.push(c.clone());
        }
        r
    }

    /// Everyone sharing a room with `slot`, once each.
    pub(super) fn co_members(&self, slot: u32) -> BTreeSet<u32> {
        let mut out = BTreeSet::new();
        if let Some(g) = self.proximity.group_of(slot)
            && let Some(m) = self.proximity.members(g)
        {
            out.extend(m.iter().copied());
        }
        if let Some(c) = &self.players[&slot].conference
            && let Some(m) = self.conferences.get(c)
        {
            out.extend(m.iter().copied());
        }
        out.remove(&slot);
        out
    }

    pub(super) fn slot_by_wire(&self, id: &WireId) -> Option<u32> {
        self.by_user.get(&id.0).copied()
    }
}
