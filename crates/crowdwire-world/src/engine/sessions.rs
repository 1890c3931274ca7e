//! Sessions: connecting (a new player, the same user again, a socket resumed after the world
//! moved), players carried over from another replica, closing, the reconnection grace, leaving.

use std::collections::{BTreeMap, BTreeSet};

use super::movement::Announce;
use super::players::Player;
use super::{Clock, Frame, MediaCommand, Output, Permissions, Record, SessionId, WorldEngine, sorted};
use crate::protocol::{Position, PresenceState, Reason, ServerMessage, UserRef, Velocity};
use crate::proximity::GroupId;

/// Who is connecting.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// Wire id: decimal user id or guest UUID.
    pub user_id: String,
    /// The registered member's user id (events are recorded for members only).
    pub member_id: Option<i64>,
    /// Display name.
    pub username: String,
    /// Avatar name.
    pub avatar: String,
    /// Permissions.
    pub role: Permissions,
    /// Created the world (cannot be kicked or banned live).
    pub creator: bool,
}

/// What a world must remember of a player to carry it over to another replica: written to
/// presence while the player is in the world, read back when the world restarts elsewhere.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Restored {
    /// Who.
    pub profile: Profile,
    /// Where (none before the first `JOIN_PLAYER`).
    pub position: Option<Position>,
    /// The conference it was in.
    pub conference: Option<String>,
    /// Allowed to speak in that conference (granted, or by role).
    pub speaker: bool,
    /// Its proximity group (absent from older replicas' entries): the world keeps the id
    /// when the group forms again from the carried positions, so the media room of that name
    /// goes on.
    #[serde(default)]
    pub group: Option<String>,
}

/// Reason sent to the older session when the same user connects again.
pub const REPLACED_REASON: &str = "You joined this world from another window or device.";
/// Reason sent when the world is full.
pub const FULL_REASON: &str = "World is currently full.";
/// Why someone kicked a moment ago may not come back yet.
pub const REMOVED_REASON: &str = "You were removed from this world a moment ago; try again later.";

impl WorldEngine {
    /// The creator holds every flag, whatever their role says (as over REST).
    fn effective(mut profile: Profile) -> Profile {
        if profile.creator {
            profile.role = profile.role.with_every_flag();
        }
        profile
    }

    pub(super) fn connect(&mut self, clock: Clock, session: SessionId, profile: Profile, resumed: bool) {
        let profile = Self::effective(profile);
        self.removed.retain(|_, until| *until > clock.ms);
        if self.removed.contains_key(&profile.user_id) {
            return self.refuse(session, REMOVED_REASON);
        }
        if let Some(&slot) = self.by_user.get(&profile.user_id) {
            // Same user again: a reconnection within the grace period, or a second window.
            return self.reconnect(slot, session, profile, resumed);
        }
        if let Some(max) = self.config.max_users
            && self.players.len() as u64 >= u64::from(max)
        {
            return self.refuse(session, FULL_REASON);
        }
        self.add_player(clock, session, profile);
    }

    /// Turns a connection away before it joins: `KICKED` with the reason, then a close.
    fn refuse(&mut self, session: SessionId, reason: &str) {
        self.send(
            session,
            &ServerMessage::Kicked {
                d: Reason { reason: reason.into() },
            },
        );
        self.out.push(Output::Close {
            session,
            code: 1008,
            reason: reason.into(),
        });
    }

    /// The same user connecting again: the new session takes the player over (closing the
    /// older one, if any), and the client learns the world, its rooms and what it missed.
    fn reconnect(&mut self, slot: u32, session: SessionId, profile: Profile, resumed: bool) {
        let was_away = self.players[&slot].session.is_none();
        if let Some(old) = self.players[&slot].session {
            self.send(
                old,
                &ServerMessage::Kicked {
                    d: Reason {
                        reason: REPLACED_REASON.into(),
                    },
                },
            );
            self.out.push(Output::Close {
                session: old,
                code: 4000,
                reason: "replaced by a newer session".into(),
            });
            self.by_session.remove(&old);
        }
        let p = self.players.get_mut(&slot).expect("slot indexed by user");
        p.session = Some(session);
        p.lingering_until = None;
        p.profile = Profile {
            role: profile.role.clone(),
            ..profile
        };
        self.by_session.insert(session, slot);
        if was_away {
            // The others were told it was reconnecting: it is back, in the same place.
            self.announce_presence(slot);
        }
        self.snapshot(session, slot);
        // Resend the rooms it is in, so the client rebuilds its media.
        let rooms = self.rooms(slot);
        let co: Vec<String> = self.co_members(slot).into_iter().map(|s| self.uid(s)).collect();
        self.send(session, &ServerMessage::WirePlayer { merge: false, ids: co });
        self.send(session, &ServerMessage::GroupsSnapshot { groups: rooms.clone() });
        self.rejoin_media(slot, session, rooms, resumed);
        // What was said while it was away.
        let missed = std::mem::take(&mut self.players.get_mut(&slot).expect("present").missed);
        for frame in missed {
            self.out.push(Output::Send { to: session, frame });
        }
    }

    /// A reconnected player's media rooms, joined again.
    fn rejoin_media(&mut self, slot: u32, session: SessionId, rooms: Vec<String>, resumed: bool) {
        // Carried over from the previous owner: the media server may still hold it in
        // rooms. A resumed socket keeps those it is still in (its client holds their
        // transports, and its call goes on) and closes the others; a new connection
        // joins everything afresh.
        let held = self
            .players
            .get_mut(&slot)
            .and_then(|p| p.media_held.take())
            .unwrap_or_default();
        for room in held.iter().filter(|r| !rooms.contains(r)) {
            self.media_leave(slot, room.clone());
            if resumed {
                self.send(session, &ServerMessage::CloseRoom { group: room.clone() });
            }
        }
        for room in rooms {
            if resumed && held.contains(&room) {
                continue;
            }
            let role = self.media_role(slot, &room);
            self.media_join(slot, room, role);
        }
    }

    /// A new player: a slot, a `JOIN_PLAYER` event for a member, then the world's snapshot.
    fn add_player(&mut self, clock: Clock, session: SessionId, profile: Profile) {
        let slot = self.next_slot;
        self.next_slot += 1;
        if let Some(member_id) = profile.member_id {
            self.out.push(Output::Record(Record::Event {
                member_id,
                kind: "JOIN_PLAYER",
            }));
        }
        self.by_user.insert(profile.user_id.clone(), slot);
        self.by_session.insert(session, slot);
        let player = Player::new(slot, profile, clock, self.config.rate_burst);
        self.players.insert(
            slot,
            Player {
                session: Some(session),
                ..player
            },
        );
        self.snapshot(session, slot);
    }

    /// A player carried over from another replica: in the world without a session, as after a
    /// network drop, so its client's reconnection resumes it (same groups and conference, no
    /// second join event) and the grace period ends it if the client never comes back. Nobody
    /// is told: a world restores its players before any session, and each client that connects
    /// learns from its snapshot that the player is reconnecting.
    pub(super) fn restore(&mut self, clock: Clock, mut r: Restored) {
        r.profile = Self::effective(r.profile);
        if self.by_user.contains_key(&r.profile.user_id) {
            return;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.by_user.insert(r.profile.user_id.clone(), slot);
        let position = r.position.filter(|p| self.map.contains(p.x, p.y));
        let player = Player::new(slot, r.profile, clock, self.config.rate_burst);
        self.players.insert(
            slot,
            Player {
                lingering_until: Some(clock.ms + self.config.reconnect_grace_ms.max(1)),
                spawned: position.is_some(),
                ..player
            },
        );
        if self.config.media_outlives_owner {
            let held: BTreeSet<String> = r.group.iter().chain(r.conference.iter()).cloned().collect();
            self.players.get_mut(&slot).expect("just inserted").media_held = Some(held);
        }
        let Some(pos) = position else { return };
        let conference = r.conference.filter(|c| {
            c.rsplit_once('-').is_some_and(|(key, world)| {
                world == self.config.world_id.to_string() && self.map.conference(key).is_some()
            })
        });
        if let Some(c) = conference {
            self.conferences.entry(c.clone()).or_default().insert(slot);
            let p = self.players.get_mut(&slot).expect("just inserted");
            p.conference = Some(c);
            p.speaker = r.speaker;
        }
        // Placed like a spawn: groups form again from the positions, and a member standing
        // outside its conference's area (the map changed meanwhile) leaves it.
        self.move_to(clock, slot, pos, Velocity::default(), Announce::Spawn);
        self.players.get_mut(&slot).expect("just inserted").carried_position = true;
        self.keep_carried_group(slot, r.group.clone());
        // A group formed again takes the id it had at the previous owner (the first member
        // placed in it decides), so its media room and its clients' view of it go on.
        if let Some(old) = r.group.as_deref().and_then(|g| g.parse::<GroupId>().ok())
            && let Some(g) = self.proximity.group_of(slot)
            && g >= self.config.first_group_id
            && old < self.config.first_group_id
        {
            self.proximity.rename(g, old);
        }
    }

    /// Groups a restored player with those restored from its old group who stand within the
    /// leave radius: the previous owner kept them together through the hysteresis band, and a
    /// new owner forming groups from positions alone would part them (and end their call).
    fn keep_carried_group(&mut self, slot: u32, group: Option<String>) {
        let Some(old) = group else { return };
        let mates: Vec<u32> = self
            .players
            .values()
            .filter(|p| p.slot != slot && p.carried_group.as_deref() == Some(old.as_str()))
            .map(|p| p.slot)
            .collect();
        for mate in sorted(mates) {
            let diff = self.proximity.keep_near(slot, mate);
            self.apply_diff(diff, None);
        }
        self.players.get_mut(&slot).expect("restored").carried_group = Some(old);
    }

    /// `PLAYERS_SNAPSHOT` of everyone else, to `session`, then a `PLAYER_PRESENCE` for each of
    /// them who is reconnecting (the others in the snapshot are online).
    fn snapshot(&mut self, session: SessionId, me: u32) {
        let mut snapshot = BTreeMap::new();
        let mut data = BTreeMap::new();
        for p in self.players.values().filter(|p| p.slot != me) {
            snapshot.insert(p.profile.user_id.clone(), p.position.into());
            data.insert(p.profile.user_id.clone(), Self::player_data(p));
        }
        self.send(
            session,
            &ServerMessage::PlayersSnapshot {
                snapshot,
                players_data: data,
            },
        );
        let away = sorted(
            self.players
                .values()
                .filter(|p| p.slot != me && p.session.is_none())
                .map(|p| p.slot)
                .collect(),
        );
        for slot in away {
            let presence = self.presence(slot);
            self.send(session, &presence);
        }
    }

    /// `PLAYER_PRESENCE` of a player: reconnecting while it has no session, else online.
    fn presence(&self, slot: u32) -> ServerMessage {
        let p = &self.players[&slot];
        ServerMessage::PlayerPresence {
            user_id: p.profile.user_id.clone(),
            state: if p.session.is_some() {
                PresenceState::Online
            } else {
                PresenceState::Reconnecting
            },
        }
    }

    /// Tells everyone else a player's presence (as `JOIN_PLAYER` and `LEAVE_PLAYER`, world-wide).
    fn announce_presence(&mut self, slot: u32) {
        let frame = Frame::of(&self.presence(slot));
        let others = self.everyone_but(slot);
        self.fanout(others, frame);
    }

    pub(super) fn closed(&mut self, clock: Clock, session: SessionId, clean: bool) {
        let Some(slot) = self.by_session.remove(&session) else {
            return;
        };
        let p = self.players.get_mut(&slot).expect("session indexed to a player");
        p.session = None;
        if clean || !p.spawned || self.config.reconnect_grace_ms == 0 {
            self.leave(slot);
        } else {
            p.lingering_until = Some(clock.ms + self.config.reconnect_grace_ms);
            if let Some(position) = p.position {
                self.out.push(Output::Record(Record::Position {
                    user_id: p.profile.user_id.clone(),
                    member_id: p.profile.member_id,
                    position,
                }));
            }
            // Its avatar stands still for the others until it is back or the grace ends:
            // tell them why at once, not only when it leaves.
            self.announce_presence(slot);
        }
    }

    pub(super) fn tick(&mut self, clock: Clock) {
        let expired: Vec<u32> = self
            .players
            .values()
            .filter(|p| p.lingering_until.is_some_and(|t| t <= clock.ms))
            .map(|p| p.slot)
            .collect();
        for slot in sorted(expired) {
            self.leave(slot);
        }
    }

    /// Takes a player out of the world: files, rooms, grid, then tells everyone.
    pub(super) fn leave(&mut self, slot: u32) {
        let uid = self.uid(slot);
        if !self.players[&slot].files.is_empty() {
            // Before leaving the rooms, so the co-members actually hear it.
            let co = self.co_members(slot);
            self.fanout(
                co,
                Frame::of(&ServerMessage::RemoveAllUserFiles {
                    d: UserRef { user_id: uid.clone() },
                }),
            );
        }
        self.leave_conference(slot, true);
        let diff = self.proximity.remove(slot);
        self.apply_diff(diff, Some(slot));
        self.interest.remove(slot);
        let p = self.players.remove(&slot).expect("leaving player exists");
        if let Some(held) = p.media_held.filter(|h| !h.is_empty()) {
            // Rooms of the previous owner the media server still holds it in.
            self.out.push(Output::Media(MediaCommand::Leave {
                rooms: held.into_iter().collect(),
                peer: uid.clone(),
            }));
        }
        if let Some(m) = p.pending_move.and_then(|i| self.moves.get_mut(i)) {
            // Nobody hears of the move of someone who left.
            m.slot = None;
        }
        self.by_user.remove(&p.profile.user_id);
        if let Some(s) = p.session {
            self.by_session.remove(&s);
        }
        if let Some(position) = p.position {
            self.out.push(Output::Record(Record::Position {
                user_id: uid.clone(),
                member_id: p.profile.member_id,
                position,
            }));
        }
        if let Some(member_id) = p.profile.member_id {
            self.out.push(Output::Record(Record::Event {
                member_id,
                kind: "LEAVE_PLAYER",
            }));
        }
        let all: Vec<u32> = self.players.keys().copied().collect();
        self.fanout(all, Frame::of(&ServerMessage::LeavePlayer { user_id: uid }));
    }
}
