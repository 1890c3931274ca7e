//! Conferences: joining and leaving a conference area's room, the floor (requests to speak and
//! permission to), and leaving when a member walks out of the area.

use super::{Clock, Frame, MediaCommand, Output, Record, SessionId, WorldEngine};
use crate::protocol::{Position, ServerMessage, SpeakPermission, SpeakRequest, WireId};

impl WorldEngine {
    /// `LEAVE_CONFERENCE`: back into proximity at its position.
    pub(super) fn leave_conference_asked(&mut self, slot: u32, session: SessionId, conference_id: String) {
        if self.players[&slot].conference.as_deref() == Some(conference_id.as_str()) {
            self.leave_conference(slot, false);
            if let Some(pos) = self.players[&slot].position {
                let diff = self.proximity.set_position(slot, pos);
                self.apply_diff(diff, None);
            }
        } else {
            self.error(session, "LEAVE_CONFERENCE", "you are not in that conference");
        }
    }

    /// `REQUEST_TO_SPEAK`: passed on to the conference's managers.
    pub(super) fn request_to_speak(&mut self, slot: u32, session: SessionId, conference: String) {
        if self.players[&slot].conference.as_deref() != Some(conference.as_str()) {
            return self.error(session, "REQUEST_TO_SPEAK", "you are not in that conference");
        }
        let managers: Vec<u32> = self.conferences[&conference]
            .iter()
            .copied()
            .filter(|m| self.players[m].profile.role.flags.conference_manage)
            .collect();
        let msg = ServerMessage::RequestToSpeak {
            d: SpeakRequest {
                user_requested: self.uid(slot),
            },
        };
        self.fanout(managers, Frame::of(&msg));
    }

    /// `PERMISSION_TO_SPEAK`: a manager grants (or refuses) a member the floor.
    pub(super) fn permission_to_speak(
        &mut self,
        slot: u32,
        session: SessionId,
        conference: String,
        permission: bool,
        user_requested: WireId,
    ) {
        let me = &self.players[&slot];
        if !me.profile.role.flags.conference_manage || me.conference.as_deref() != Some(conference.as_str()) {
            return self.error(
                session,
                "PERMISSION_TO_SPEAK",
                "only a conference manager in this conference may grant the floor",
            );
        }
        let Some(target) = self
            .slot_by_wire(&user_requested)
            .filter(|t| self.players[t].conference.as_deref() == Some(conference.as_str()))
        else {
            return self.error(session, "PERMISSION_TO_SPEAK", "that user is not in this conference");
        };
        if permission && !self.players[&target].speaker && !self.players[&target].profile.role.flags.talk_conference {
            self.players.get_mut(&target).expect("present").speaker = true;
            self.out.push(Output::Media(MediaCommand::AddSpeaker {
                room: conference.clone(),
                peer: self.uid(target),
            }));
        }
        self.send_to_slot(
            target,
            &ServerMessage::PermissionToSpeak {
                d: SpeakPermission { permission },
            },
        );
    }

    pub(super) fn join_conference(&mut self, clock: Clock, slot: u32, session: SessionId, conference_id: &str) {
        let Some((key, world)) = conference_id.rsplit_once('-') else {
            return self.error(session, "JOIN_CONFERENCE", "conference ids look like C<n>-<world_id>");
        };
        if world != self.config.world_id.to_string() || self.map.conference(key).is_none() {
            return self.error(session, "JOIN_CONFERENCE", "no such conference in this world");
        }
        let Some(pos) = self.players[&slot].position else {
            return self.error(session, "JOIN_CONFERENCE", "send JOIN_PLAYER first");
        };
        // The client asks as its body enters the area, typically mid-walk: where it has walked
        // to since its last report counts too.
        let inside = |p: &Position| {
            let (bx, by) = Self::body_centre(p);
            self.map
                .distance_to_conference(key, bx, by)
                .is_some_and(|d| d <= self.config.conference_slack_px)
        };
        if !inside(&pos) && !inside(&self.reckoned_position(clock, slot, pos)) {
            return self.error(session, "JOIN_CONFERENCE", "you are not inside that conference area");
        }
        if self.players[&slot].conference.as_deref() == Some(conference_id) {
            return;
        }
        if self.players[&slot].conference.is_some() {
            self.leave_conference(slot, false);
        }
        // Out of proximity while in the conference.
        let diff = self.proximity.remove(slot);
        self.apply_diff(diff, None);
        let others: Vec<u32> = self
            .conferences
            .get(conference_id)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default();
        self.conferences
            .entry(conference_id.to_owned())
            .or_default()
            .insert(slot);
        {
            let p = self.players.get_mut(&slot).expect("present");
            p.conference = Some(conference_id.to_owned());
            p.speaker = false;
        }
        let role = self.media_role(slot, conference_id);
        let peer = self.uid(slot);
        self.media_join(slot, conference_id.to_owned(), role);
        if let Some(member_id) = self.players[&slot].profile.member_id {
            self.out.push(Output::Record(Record::Event {
                member_id,
                kind: "JOIN_CONFERENCE",
            }));
        }
        let ids: Vec<String> = others.iter().map(|s| self.uid(*s)).collect();
        self.send(session, &ServerMessage::WirePlayer { merge: false, ids });
        self.fanout(
            others,
            Frame::of(&ServerMessage::WirePlayer {
                merge: true,
                ids: vec![peer],
            }),
        );
        let groups = self.rooms(slot);
        self.send(session, &ServerMessage::GroupsSnapshot { groups });
    }

    /// Takes a member out of its conference (if any). `silent`: it is leaving the world.
    pub(super) fn leave_conference(&mut self, slot: u32, silent: bool) {
        let Some(c) = self.players.get_mut(&slot).and_then(|p| p.conference.take()) else {
            return;
        };
        self.players.get_mut(&slot).expect("present").speaker = false;
        let peer = self.uid(slot);
        self.media_leave(slot, c.clone());
        if let Some(member_id) = self.players[&slot].profile.member_id {
            self.out.push(Output::Record(Record::Event {
                member_id,
                kind: "LEAVE_CONFERENCE",
            }));
        }
        let remaining: Vec<u32> = match self.conferences.get_mut(&c) {
            Some(set) => {
                set.remove(&slot);
                set.iter().copied().collect()
            }
            None => Vec::new(),
        };
        if remaining.is_empty() {
            self.conferences.remove(&c);
            self.out.push(Output::Media(MediaCommand::Destroy { room: c.clone() }));
        }
        self.fanout(
            remaining,
            Frame::of(&ServerMessage::UnwirePlayer {
                merge: true,
                ids: vec![peer],
            }),
        );
        if !silent {
            self.send_to_slot(
                slot,
                &ServerMessage::UnwirePlayer {
                    merge: false,
                    ids: vec![],
                },
            );
            self.send_to_slot(slot, &ServerMessage::CloseRoom { group: c });
            let groups = self.rooms(slot);
            self.send_to_slot(slot, &ServerMessage::GroupsSnapshot { groups });
        }
    }

    /// A member who walked (or whose map changed) out of its conference area leaves it.
    pub(super) fn check_conference_area(&mut self, slot: u32) {
        let Some(c) = self.players[&slot].conference.clone() else {
            return;
        };
        let Some(pos) = self.players[&slot].position else {
            return;
        };
        let key = c.rsplit_once('-').map(|(k, _)| k).unwrap_or("");
        let (bx, by) = Self::body_centre(&pos);
        let inside = self
            .map
            .distance_to_conference(key, bx, by)
            .is_some_and(|d| d <= self.config.conference_slack_px);
        if !inside {
            self.leave_conference(slot, false);
            let diff = self.proximity.set_position(slot, pos);
            self.apply_diff(diff, None);
        }
    }
}
