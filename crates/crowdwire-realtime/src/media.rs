//! The media interface of the realtime layer: the world engine's media commands go out
//! through [`MediaBackend`], and media messages for a peer come back through a
//! [`MediaSink`]. The SFU is its own crate; until it is wired in, [`UnavailableMedia`]
//! answers every client signalling request with an error, so no client waits in silence.

use serde_json::Value;
use tokio::sync::mpsc;

use crowdwire_world::engine::MediaCommand;

/// Where media messages for peers of one world are delivered: (peer, whole message as JSON
/// text, a [`crowdwire_world::protocol::MediaMessage`] or an `error`). The empty peer is the
/// world itself, and its text a room id: see [`room_lost`].
pub type MediaSink = mpsc::UnboundedSender<(String, String)>;

/// What a backend puts in a world's sink when the media server holding `room` is gone: the
/// world has the room's members join it again.
pub fn room_lost(room: &str) -> (String, String) {
    (String::new(), room.to_owned())
}

/// A media backend.
pub trait MediaBackend: Send + Sync + 'static {
    /// A world's actor started; its peers' messages go to `sink`.
    fn attach(&self, world: i64, sink: MediaSink);
    /// A world's actor stopped.
    fn detach(&self, world: i64);
    /// Carries out one command of that world's engine.
    fn command(&self, world: i64, command: MediaCommand);
    /// Backend name for `/health`.
    fn backend(&self) -> &'static str;
    /// Rooms (and their peers' transports) outlive the replica whose world made them: true
    /// for media servers of their own, false for one inside the replica.
    fn outlives_owner(&self) -> bool {
        false
    }
}

/// No media server: signalling gets error replies shaped as the client awaits them.
#[derive(Default)]
pub struct UnavailableMedia {
    sinks: std::sync::Mutex<std::collections::HashMap<i64, MediaSink>>,
}

/// The text of the error replies.
pub const MEDIA_UNAVAILABLE: &str = "Audio and video are not available on this server.";

impl UnavailableMedia {
    /// The replies to a signalling request when there is no media server.
    pub fn replies(topic: &str, room: &str, peer: &str, d: &Value) -> Vec<String> {
        let direction = d.get("direction").and_then(|v| v.as_str());
        crowdwire_media::error_replies(topic, room, peer, direction, MEDIA_UNAVAILABLE)
    }
}

/// The embedded SFU.
impl MediaBackend for crowdwire_media::MediaNode {
    fn attach(&self, world: i64, sink: MediaSink) {
        crowdwire_media::MediaNode::attach(self, world, sink);
    }

    fn detach(&self, world: i64) {
        crowdwire_media::MediaNode::detach(self, world);
    }

    fn command(&self, world: i64, command: MediaCommand) {
        crowdwire_media::MediaNode::command(self, world, command);
    }

    fn backend(&self) -> &'static str {
        "str0m"
    }
}

impl MediaBackend for UnavailableMedia {
    fn attach(&self, world: i64, sink: MediaSink) {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).insert(world, sink);
    }

    fn detach(&self, world: i64) {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).remove(&world);
    }

    fn command(&self, world: i64, command: MediaCommand) {
        if let MediaCommand::Signal { room, peer, topic, d } = command
            && let Some(sink) = self.sinks.lock().unwrap_or_else(|p| p.into_inner()).get(&world)
        {
            for reply in Self::replies(&topic, &room, &peer, &d) {
                let _ = sink.send((peer.clone(), reply));
            }
        }
    }

    fn backend(&self) -> &'static str {
        "none"
    }
}
