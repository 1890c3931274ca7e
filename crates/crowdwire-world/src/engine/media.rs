//! Media: the media layer's commands, joining and leaving media rooms, relaying signalling both
//! ways, producer toggles (muting), speaking and screen shares.

use serde_json::Value;

use super::{Frame, Output, SessionId, WorldEngine, sorted};
use crate::protocol::{MediaRequest, ServerMessage, SpeakingChange, ToggleProducer};

/// Speaker (sends and receives) or listener (receives only).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MediaRole {
    /// Sends and receives.
    Speaker,
    /// Receives only.
    Listener,
}

/// What the media layer must do.
#[derive(Clone, Debug, PartialEq)]
pub enum MediaCommand {
    /// Put a peer in a room.
    Join {
        /// Room (group or conference id).
        room: String,
        /// Peer (user id).
        peer: String,
        /// Speaker or listener.
        role: MediaRole,
    },
    /// Take a peer out of rooms.
    Leave {
        /// Rooms.
        rooms: Vec<String>,
        /// Peer.
        peer: String,
    },
    /// Close a room.
    Destroy {
        /// Room.
        room: String,
    },
    /// Let a listener speak.
    AddSpeaker {
        /// Room.
        room: String,
        /// Peer.
        peer: String,
    },
    /// Close a peer's screen share.
    CloseMedia {
        /// Room.
        room: String,
        /// Peer.
        peer: String,
    },
    /// Pause or resume a peer's producer.
    Toggle {
        /// Room.
        room: String,
        /// Peer.
        peer: String,
        /// `audio` or `video`.
        kind: String,
        /// Pause.
        pause: bool,
    },
    /// Route a peer's file data producers in these rooms to one downloader only (sent
    /// when the downloader starts a download the owner accepted).
    FileTarget {
        /// Rooms the two share.
        rooms: Vec<String>,
        /// The file's owner.
        owner: String,
        /// The peer that receives the file.
        downloader: String,
    },
    /// Client signalling to relay (`d` has `peerId` set to the sender).
    Signal {
        /// Room.
        room: String,
        /// Peer.
        peer: String,
        /// Topic.
        topic: String,
        /// Payload.
        d: Value,
    },
}

impl WorldEngine {
    /// A media-layer message for a peer, forwarded to its session as is.
    pub(super) fn media_message(&mut self, peer: String, text: String) {
        if let Some(session) = self.by_user.get(&peer).and_then(|s| self.players[s].session) {
            self.out.push(Output::Send {
                to: session,
                frame: Frame {
                    text: text.into(),
                    coalesce: None,
                },
            });
        }
    }

    /// The media server holding `room` was lost.
    pub(super) fn media_room_lost(&mut self, room: String) {
        // Every member joins the room afresh; each client gets a new
        // `you-joined-as-*` for it and rebuilds its transports.
        let members = sorted(
            self.players
                .values()
                .filter(|p| self.rooms(p.slot).contains(&room))
                .map(|p| p.slot)
                .collect(),
        );
        for slot in members {
            let role = self.media_role(slot, &room);
            self.media_join(slot, room.clone(), role);
        }
    }

    /// Puts a peer in a media room. A player without a session is not joined (its client
    /// would never hear of the room): it joins its rooms when it connects.
    pub(super) fn media_join(&mut self, slot: u32, room: String, role: MediaRole) {
        let p = self.players.get_mut(&slot).expect("present");
        if let Some(held) = &mut p.media_held {
            held.remove(&room);
        }
        if p.session.is_none() {
            return;
        }
        let peer = p.profile.user_id.clone();
        self.out.push(Output::Media(MediaCommand::Join { room, peer, role }));
    }

    /// Takes a peer out of a media room.
    pub(super) fn media_leave(&mut self, slot: u32, room: String) {
        let p = self.players.get_mut(&slot).expect("present");
        if let Some(held) = &mut p.media_held {
            held.remove(&room);
        }
        let peer = p.profile.user_id.clone();
        self.out.push(Output::Media(MediaCommand::Leave {
            rooms: vec![room],
            peer,
        }));
    }

    pub(super) fn media_role(&self, slot: u32, room: &str) -> MediaRole {
        let p = &self.players[&slot];
        let speaker = if p.conference.as_deref() == Some(room) {
            p.profile.role.flags.talk_conference || p.speaker
        } else {
            p.profile.role.flags.talk
        };
        if speaker {
            MediaRole::Speaker
        } else {
            MediaRole::Listener
        }
    }

    /// Refuses a media request the way the SFU does: the `-done` reply the client's request
    /// awaits (with `error`), then the `error`.
    fn refuse_media(
        &mut self,
        slot: u32,
        session: SessionId,
        topic: &str,
        d: &MediaRequest,
        room: &str,
        message: &str,
    ) {
        let direction = d.direction();
        let peer = self.uid(slot);
        for reply in crate::protocol::media_error_replies(topic, room, &peer, direction, message) {
            self.out.push(Output::Send {
                to: session,
                frame: Frame::raw(&reply),
            });
        }
    }

    /// `CLOSE_MEDIA`: the player's screen share ends, in each of its rooms.
    pub(super) fn close_media(&mut self, slot: u32) {
        let peer = self.uid(slot);
        for room in self.rooms(slot) {
            self.out.push(Output::Media(MediaCommand::CloseMedia {
                room,
                peer: peer.clone(),
            }));
        }
        let co = self.co_members(slot);
        self.fanout(co, Frame::of(&ServerMessage::CloseMedia { peer_id: peer }));
    }

    /// `toggle-producer`: pause or resume its own producer, or (with `world_mute`) a co-member's.
    pub(super) fn toggle_producer(&mut self, slot: u32, session: SessionId, t: ToggleProducer) {
        let target = match &t.peer_id {
            Some(id) if id.0 != self.players[&slot].profile.user_id => {
                if !self.players[&slot].profile.role.flags.world_mute {
                    return self.error(session, "toggle-producer", "your role may not mute others");
                }
                match self.slot_by_wire(id).filter(|t| self.co_members(slot).contains(t)) {
                    Some(t) => t,
                    None => {
                        return self.error(session, "toggle-producer", "that user is not in a room with you");
                    }
                }
            }
            _ => slot,
        };
        if t.kind != "audio" && t.kind != "video" {
            return self.error(session, "toggle-producer", "kind must be audio or video");
        }
        let peer = self.uid(target);
        for room in self.rooms(target) {
            self.out.push(Output::Media(MediaCommand::Toggle {
                room,
                peer: peer.clone(),
                kind: t.kind.clone(),
                pause: t.pause,
            }));
        }
        let mut to = self.co_members(target);
        if target != slot {
            to.insert(target);
        }
        self.fanout(
            to,
            Frame::of(&ServerMessage::TogglePeerProducer {
                peer_id: peer,
                kind: t.kind,
                pause: t.pause,
            }),
        );
    }

    /// A speaking change, passed on to its co-members (in both spellings clients use).
    pub(super) fn speaking_change(&mut self, slot: u32, s: SpeakingChange) {
        let peer = self.uid(slot);
        let co = self.co_members(slot);
        self.fanout(
            co.clone(),
            Frame::of(&ServerMessage::ActiveSpeakerUnderscore {
                peer_id: peer.clone(),
                value: s.value,
                room_id: None,
            }),
        );
        self.fanout(
            co,
            Frame::of(&ServerMessage::ActiveSpeakerHyphen {
                peer_id: peer,
                value: s.value,
                room_id: None,
            }),
        );
    }

    /// Client signalling for a room it is in, relayed to the media layer.
    pub(super) fn media_signal(&mut self, slot: u32, session: SessionId, topic: &'static str, d: MediaRequest) {
        let Some(room) = d.room() else {
            return self.refuse_media(slot, session, topic, &d, "", "roomId is required");
        };
        if !self.rooms(slot).contains(&room) {
            return self.refuse_media(slot, session, topic, &d, &room, "you are not in that room");
        }
        if topic == "@send-track" && self.media_role(slot, &room) == MediaRole::Listener {
            let why = "your role may not publish in this room";
            return self.refuse_media(slot, session, topic, &d, &room, why);
        }
        let peer = self.uid(slot);
        let MediaRequest(mut d) = d;
        d.insert("peerId".into(), Value::String(peer.clone()));
        self.out.push(Output::Media(MediaCommand::Signal {
            room,
            peer,
            topic: topic.to_owned(),
            d: Value::Object(d),
        }));
    }
}
