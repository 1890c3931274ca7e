//! Who is speaking: a producer's audio levels, judged every tick, announced to the room.

use crowdwire_world::protocol::ServerMessage;
use str0m::media::MediaKind;

use super::{RoomKey, Sfu};

/// An audio level (−dBov) at or under this counts as voice.
pub(super) const VOICE_LEVEL: i8 = 50;

impl Sfu {
    /// Decides who is speaking from the audio levels of the last tick (two ticks of
    /// agreement before a change, so a breath does not flicker the indicator).
    pub(super) fn voice_tick(&mut self) {
        let mut changes = Vec::new();
        for p in self.producers.values_mut() {
            if p.kind != MediaKind::Audio {
                continue;
            }
            let v = &mut p.voice;
            let now_loud = v.packets > 0 && v.loud * 2 >= v.packets;
            v.packets = 0;
            v.loud = 0;
            if now_loud != v.speaking {
                v.disagreeing_ticks += 1;
                if v.disagreeing_ticks >= 2 {
                    v.speaking = now_loud;
                    v.disagreeing_ticks = 0;
                    changes.push((p.room.clone(), p.peer.clone(), now_loud));
                }
            } else {
                v.disagreeing_ticks = 0;
            }
        }
        for (room, peer, value) in changes {
            self.announce_speaking(&room, &peer, value);
        }
    }

    pub(super) fn announce_speaking(&mut self, room: &RoomKey, peer: &str, value: bool) {
        let others: Vec<String> = self
            .rooms
            .get(room)
            .map(|r| r.peers.keys().filter(|p| p.as_str() != peer).cloned().collect())
            .unwrap_or_default();
        // Both spellings, each serialised once for the whole room: the original server sent
        // `active_speaker`, its client listens for `active-speaker`.
        let (peer_id, room_id) = (peer.to_owned(), Some(room.1.clone()));
        let hyphen = ServerMessage::ActiveSpeakerHyphen {
            peer_id: peer_id.clone(),
            value,
            room_id: room_id.clone(),
        }
        .to_json();
        let underscore = ServerMessage::ActiveSpeakerUnderscore {
            peer_id,
            value,
            room_id,
        }
        .to_json();
        for o in others {
            self.tell_text(room.0, &o, hyphen.clone());
            self.tell_text(room.0, &o, underscore.clone());
        }
    }
}
