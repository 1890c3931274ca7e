//! Sending: a frame to one session or player, or one frame (serialised once) to many, and
//! error replies.

use super::{Frame, Output, SessionId, WorldEngine};
use crate::protocol::ServerMessage;

/// Most chat messages a player away keeps for its return.
pub const MISSED_KEPT: usize = 100;

impl WorldEngine {
    pub(super) fn send(&mut self, to: SessionId, msg: &ServerMessage) {
        self.out.push(Output::Send {
            to,
            frame: Frame::of(msg),
        });
    }

    pub(super) fn send_to_slot(&mut self, slot: u32, msg: &ServerMessage) {
        if let Some(s) = self.players.get(&slot).and_then(|p| p.session) {
            self.send(s, msg);
        }
    }

    pub(super) fn fanout(&mut self, slots: impl IntoIterator<Item = u32>, frame: Frame) {
        let to: Vec<SessionId> = slots
            .into_iter()
            .filter_map(|s| self.players.get(&s).and_then(|p| p.session))
            .collect();
        match to.len() {
            0 => {}
            1 => self.out.push(Output::Send { to: to[0], frame }),
            _ => self.out.push(Output::Fanout { to, frame }),
        }
    }

    /// Like [`Self::fanout`], for what a player must not miss while its connection is away
    /// (chat): those without a session keep it, up to [`MISSED_KEPT`], for when they are
    /// back.
    pub(super) fn fanout_kept(&mut self, slots: impl IntoIterator<Item = u32>, frame: Frame) {
        let slots: Vec<u32> = slots.into_iter().collect();
        for s in &slots {
            if let Some(p) = self.players.get_mut(s)
                && p.session.is_none()
                && p.missed.len() < MISSED_KEPT
            {
                p.missed.push(frame.clone());
            }
        }
        self.fanout(slots, frame);
    }

    pub(super) fn everyone_but(&self, slot: u32) -> Vec<u32> {
        self.players.keys().copied().filter(|s| *s != slot).collect()
    }

    pub(super) fn error(&mut self, session: SessionId, topic: &str, message: &str) {
        self.send(session, &ServerMessage::error(Some(topic), message));
    }
}
