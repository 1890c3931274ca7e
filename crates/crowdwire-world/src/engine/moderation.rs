//! Moderation: role permissions and their live changes, kicking and banning (by a moderator or
//! the REST API), and closing the world.

use super::{Clock, MediaRole, Output, Record, SessionId, WorldEngine, sorted};
use crate::protocol::{Reason, ServerMessage, WireId};
use crate::roles::RoleFlags;

/// A role as it applies in a live session: its id, name and flags.
///
/// Its JSON (over the bus, in presence) has the flags beside `role_id` and `name`.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Permissions {
    /// Role id.
    pub role_id: i64,
    /// Role name.
    pub name: String,
    /// What the role may do.
    #[serde(flatten)]
    pub flags: RoleFlags,
}

impl Permissions {
    /// The same role with every flag granted: what the world's creator holds, whatever
    /// their role says (as over REST).
    pub fn with_every_flag(self) -> Permissions {
        Permissions {
            flags: RoleFlags::ALL,
            ..self
        }
    }
}

impl WorldEngine {
    /// One user's role changed.
    pub(super) fn role_changed(&mut self, user_id: String, role: Permissions) {
        if let Some(&slot) = self.by_user.get(&user_id) {
            self.set_role(slot, role);
        }
    }

    /// A role's flags changed: every holder gets them.
    pub(super) fn role_updated(&mut self, role: Permissions) {
        let slots: Vec<u32> = self
            .players
            .values()
            .filter(|p| p.profile.role.role_id == role.role_id)
            .map(|p| p.slot)
            .collect();
        let slots = sorted(slots);
        for slot in slots {
            self.set_role(slot, role.clone());
        }
    }

    /// Ends a user's session (banned, account closed).
    pub(super) fn evict(&mut self, user_id: String, reason: String) {
        if let Some(&slot) = self.by_user.get(&user_id) {
            self.kick(slot, &reason);
        }
    }

    /// The world was banned or deleted: everyone is kicked.
    pub(super) fn close_world(&mut self, reason: String) {
        let slots = sorted(self.players.keys().copied().collect());
        for slot in slots {
            self.kick(slot, &reason);
        }
    }

    /// `KICK_PLAYER`: a moderator kicks (or bans) someone live.
    pub(super) fn kick_player(&mut self, clock: Clock, slot: u32, session: SessionId, user_id: WireId, ban: bool) {
        if !self.players[&slot].profile.role.flags.ban {
            return self.error(session, "KICK_PLAYER", "your role may not kick or ban");
        }
        let Some(target) = self.slot_by_wire(&user_id).filter(|t| *t != slot) else {
            return self.error(session, "KICK_PLAYER", "no such user in this world");
        };
        if self.players[&target].profile.creator {
            return self.error(session, "KICK_PLAYER", "the world's creator cannot be kicked");
        }
        let profile = &self.players[&target].profile;
        let until = clock.ms.saturating_add(self.config.kick_cooldown_ms);
        self.removed.insert(profile.user_id.clone(), until);
        self.out.push(Output::Record(Record::Removed {
            user_id: profile.user_id.clone(),
            member_id: profile.member_id,
            ban,
        }));
        let reason = if ban {
            "You were banned from this world."
        } else {
            "You were removed from this world."
        };
        self.kick(target, reason);
    }

    pub(super) fn kick(&mut self, slot: u32, reason: &str) {
        if let Some(s) = self.players[&slot].session {
            self.send(
                s,
                &ServerMessage::Kicked {
                    d: Reason { reason: reason.into() },
                },
            );
            self.out.push(Output::Close {
                session: s,
                code: 4001,
                reason: reason.chars().take(100).collect(),
            });
            self.by_session.remove(&s);
        }
        self.leave(slot);
    }

    pub(super) fn set_role(&mut self, slot: u32, role: Permissions) {
        let p = self.players.get_mut(&slot).expect("role change for a present player");
        let role = if p.profile.creator {
            role.with_every_flag()
        } else {
            role
        };
        let before = std::mem::replace(&mut p.profile.role, role);
        let after = p.profile.role.clone();
        // Speaking rights follow the role at once: re-join the rooms in the new capacity.
        let lost_talk = before.flags.talk && !after.flags.talk;
        let gained_talk = !before.flags.talk && after.flags.talk;
        if let Some(g) = self.proximity.group_of(slot)
            && (lost_talk || gained_talk)
        {
            let room = g.to_string();
            self.media_leave(slot, room.clone());
            let role = if after.flags.talk {
                MediaRole::Speaker
            } else {
                MediaRole::Listener
            };
            self.media_join(slot, room, role);
        }
        if before.flags.talk_conference != after.flags.talk_conference
            && let Some(c) = self.players[&slot].conference.clone()
        {
            let speaker = after.flags.talk_conference || self.players[&slot].speaker;
            self.media_leave(slot, c.clone());
            let role = if speaker {
                MediaRole::Speaker
            } else {
                MediaRole::Listener
            };
            self.media_join(slot, c, role);
        }
    }
}
