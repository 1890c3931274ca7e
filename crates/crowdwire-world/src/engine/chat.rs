//! Chat: `SEND_MESSAGE` to everyone or to those nearby (kept for players away).

use super::{Clock, Frame, SessionId, WorldEngine};
use crate::protocol::ServerMessage;

impl WorldEngine {
    /// `SEND_MESSAGE`: checked, then relayed with its sender and time.
    pub(super) fn send_message(&mut self, clock: Clock, slot: u32, session: SessionId, text: String, to: String) {
        if !self.players[&slot].profile.role.flags.chat {
            return self.error(session, "SEND_MESSAGE", "your role may not chat in this world");
        }
        if text.chars().count() > self.config.chat_max_chars {
            return self.error(
                session,
                "SEND_MESSAGE",
                &format!("messages are limited to {} characters", self.config.chat_max_chars),
            );
        }
        if text.trim().is_empty() {
            return self.error(session, "SEND_MESSAGE", "empty message");
        }
        // Only the chat's own fields are relayed (anything else the client put in the
        // object stays with the server).
        let secs = clock.unix_ms.div_euclid(1000).rem_euclid(86_400);
        let frame = Frame::of(&ServerMessage::SendMessage {
            text,
            to: to.clone(),
            from: self.uid(slot),
            date: format!("{:02}:{:02}", secs / 3600, (secs / 60) % 60),
        });
        match to.as_str() {
            "ALL" => {
                let all: Vec<u32> = self.players.keys().copied().collect();
                self.fanout_kept(all, frame);
            }
            "NEARBY" => {
                let mut to = self.co_members(slot);
                to.insert(slot);
                self.fanout_kept(to, frame);
            }
            _ => self.error(session, "SEND_MESSAGE", "`to` must be ALL or NEARBY"),
        }
    }
}
