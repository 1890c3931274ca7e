//! The world engine: one per world, the single writer of that world's live state.
//!
//! `WorldEngine::handle(clock, input)` applies one input — a connection, a parsed client
//! frame, a closed socket, a tick, a moderation action from the REST API — and returns what
//! must happen as a result: frames to send to sessions, commands for the media layer, and
//! records to persist. Frames are serialised once and shared by every receiver.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::Value;

use crate::interest::InterestGrid;
use crate::map::WorldMap;
use crate::protocol::{
    ClientMessage, DownloadRefusal, FileList, FileRequest, JoinedUser, MediaRequest, OneFile, ParseError, PlayerData,
    Position, PresenceState, Reason, RoleSummary, ServerMessage, SpeakPermission, SpeakRequest, UNKNOWN_TOPIC, UserRef,
    Velocity, WireId,
};
use crate::proximity::{GroupDiff, GroupId, ProximityConfig, ProximityGroups};

/// A connection, as numbered by the IO layer.
pub type SessionId = u64;

/// The time, as the engine sees it.
#[derive(Clone, Copy, Debug, Default)]
pub struct Clock {
    /// Monotonic milliseconds (any origin).
    pub ms: u64,
    /// Wall-clock Unix milliseconds (for chat time stamps).
    pub unix_ms: i64,
}

/// The longest idle spell that counts towards how far the next move may go, in seconds.
const MAX_IDLE_ALLOWANCE_S: f64 = 1.0;

/// A role's permission flags, as they apply in a live session.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Permissions {
    /// Role id.
    pub role_id: i64,
    /// Role name.
    pub name: String,
    /// May move.
    pub walk: bool,
    /// May publish audio/video in proximity groups.
    pub talk: bool,
    /// May chat.
    pub chat: bool,
    /// May use file boards.
    pub interact: bool,
    /// May mute others.
    pub world_mute: bool,
    /// May kick and ban live.
    pub ban: bool,
    /// May grant the floor in conferences.
    pub conference_manage: bool,
    /// Joins conferences as a speaker.
    pub talk_conference: bool,
}

impl Permissions {
    /// The same role with every flag granted: what the world's creator holds, whatever
    /// their role says (as over REST).
    pub fn with_every_flag(self) -> Permissions {
        Permissions {
            walk: true,
            talk: true,
            chat: true,
            interact: true,
            world_mute: true,
            ban: true,
            conference_manage: true,
            talk_conference: true,
            ..self
        }
    }
}

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

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// The world's id (conference ids are `C<n>-<world_id>`).
    pub world_id: i64,
    /// Proximity radius, leave radius and group cap.
    pub proximity: ProximityConfig,
    /// The area of interest (px): a rectangle of this size centred on a user, whose
    /// contents it hears moving (a viewport).
    pub interest_area: (f64, f64),
    /// Fastest legitimate walking speed, px/s.
    pub max_speed: f64,
    /// Allowed factor over `max_speed` (network jitter bunches messages).
    pub speed_slack: f64,
    /// Allowed distance on top of speed × time, px.
    pub jitter_px: f64,
    /// Longest chat message, characters.
    pub chat_max_chars: usize,
    /// Files one user may offer at once.
    pub max_files: usize,
    /// Largest file metadata object, bytes of JSON.
    pub max_file_meta_bytes: usize,
    /// Sustained messages per second per connection.
    pub rate_per_sec: f64,
    /// Burst allowance, messages.
    pub rate_burst: f64,
    /// Refused (rate-limited or invalid) messages within 10 s that end the session.
    pub abuse_strikes: u32,
    /// How long a dropped connection keeps its place, ms.
    pub reconnect_grace_ms: u64,
    /// Someone kicked may not come back for this long, ms. (The world's store keeps the
    /// same block; the engine's own memory covers the moment before it is written.)
    pub kick_cooldown_ms: u64,
    /// Capacity; `None` is unlimited.
    pub max_users: Option<u32>,
    /// How far outside a conference area a member may stand before being taken out, px.
    pub conference_slack_px: f64,
    /// The first proximity group id this world hands out. Ids are never reused within a
    /// world across its owners (each owner starts above every earlier one's), because group
    /// ids name media rooms, and rooms on media nodes outlive the replica that made them.
    pub first_group_id: u64,
    /// The media server keeps a room's peers when the world moves to another owner (media
    /// nodes do; an SFU inside the replica dies with it). Players carried over then keep their
    /// media rooms: their calls go on without being negotiated again.
    pub media_outlives_owner: bool,
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            world_id: 0,
            proximity: ProximityConfig::default(),
            interest_area: (1920.0, 1080.0),
            max_speed: 200.0,
            speed_slack: 1.5,
            jitter_px: 64.0,
            chat_max_chars: 1000,
            max_files: 3,
            max_file_meta_bytes: 4096,
            rate_per_sec: 40.0,
            rate_burst: 80.0,
            abuse_strikes: 50,
            reconnect_grace_ms: 30_000,
            kick_cooldown_ms: 60_000,
            max_users: None,
            conference_slack_px: 32.0,
            first_group_id: 1,
            media_outlives_owner: false,
        }
    }
}

/// A frame to send, serialised once.
#[derive(Clone, Debug)]
pub struct Frame {
    /// The text.
    pub text: Arc<str>,
    /// For position updates: the mover. A queued frame with the same key may be replaced
    /// by this newer one.
    pub coalesce: Option<u32>,
}

impl Frame {
    fn of(msg: &ServerMessage) -> Frame {
        Frame {
            text: msg.to_json().into(),
            coalesce: None,
        }
    }
    fn raw(text: &str) -> Frame {
        Frame {
            text: text.into(),
            coalesce: None,
        }
    }
}

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

/// Something to persist.
#[derive(Clone, Debug, PartialEq)]
pub enum Record {
    /// An activity-log event of a registered member.
    Event {
        /// User id.
        member_id: i64,
        /// `JOIN_PLAYER`, `LEAVE_PLAYER`, `JOIN_CONFERENCE` or `LEAVE_CONFERENCE`.
        kind: &'static str,
    },
    /// A user's last position (on leaving or dropping).
    Position {
        /// Wire id.
        user_id: String,
        /// Member id, for registered users.
        member_id: Option<i64>,
        /// Where.
        position: Position,
    },
    /// Someone kicked (and, with `ban`, banned) live: a member's ban goes on the membership, a
    /// guest's on the world's blocks; either way they wait out the kick cooldown.
    Removed {
        /// Wire id (user id or guest UUID).
        user_id: String,
        /// Member id, for registered users.
        member_id: Option<i64>,
        /// Banned, not just kicked.
        ban: bool,
    },
}

/// What the engine asks of the world around it.
#[derive(Clone, Debug)]
pub enum Output {
    /// A frame to one session.
    Send {
        /// Receiver.
        to: SessionId,
        /// Frame.
        frame: Frame,
    },
    /// The same frame to several sessions.
    Fanout {
        /// Receivers.
        to: Vec<SessionId>,
        /// Frame.
        frame: Frame,
    },
    /// The movements of one turn (see [`Input::Flush`]): each mover's latest position
    /// serialised once, and for each receiver the movers it hears about.
    Moves(MoveBatch),
    /// Close a session.
    Close {
        /// Session.
        session: SessionId,
        /// WebSocket close code.
        code: u16,
        /// Reason.
        reason: String,
    },
    /// A media command.
    Media(MediaCommand),
    /// A record to persist.
    Record(Record),
}

/// The movements of one turn, serialised once per mover and addressed per receiver: the
/// cost of a turn grows with its movers and receivers, and the bytes of a receiver's
/// frames are assembled by whoever writes its socket.
#[derive(Clone, Debug, Default)]
pub struct MoveBatch {
    /// One `PLAYER_MOVEMENT` per mover, with the mover as its coalescing key.
    pub frames: Vec<Frame>,
    /// Each receiver and the indices (into `frames`) of the movements it gets, in order.
    pub to: Vec<(SessionId, Vec<u32>)>,
}

/// An input.
#[derive(Clone, Debug)]
pub enum Input {
    /// A session opened.
    Connect {
        /// Session.
        session: SessionId,
        /// Who.
        profile: Profile,
        /// The same socket as before, carried over from the world's previous owner (its
        /// client never disconnected and still holds its media): not a new connection.
        resumed: bool,
    },
    /// A frame arrived (parsed at the edge).
    Frame {
        /// Session.
        session: SessionId,
        /// The message, or why it could not be parsed.
        message: Result<ClientMessage, ParseError>,
    },
    /// A session ended: `clean` for a close handshake, else a network drop (a spawned player
    /// then keeps its place for the reconnection grace, and the others are told it is
    /// reconnecting).
    Closed {
        /// Session.
        session: SessionId,
        /// Closed on purpose.
        clean: bool,
    },
    /// Periodic housekeeping.
    Tick,
    /// The end of a turn (a batch of inputs): the movements accepted since the last flush
    /// go out as one [`Output::Moves`], each mover at its latest position.
    Flush,
    /// One user's role changed.
    RoleChanged {
        /// Wire id.
        user_id: String,
        /// New permissions.
        role: Permissions,
    },
    /// A role's flags changed: every holder gets them.
    RoleUpdated {
        /// New permissions.
        role: Permissions,
    },
    /// End a user's session (banned, account closed).
    Evict {
        /// Wire id.
        user_id: String,
        /// Shown in `KICKED`.
        reason: String,
    },
    /// The world was banned or deleted.
    CloseWorld {
        /// Shown in `KICKED`.
        reason: String,
    },
    /// The world's map changed.
    MapChanged(Box<WorldMap>),
    /// The world's capacity changed.
    MaxUsersChanged(Option<u32>),
    /// A media-layer message for a peer, forwarded as is.
    MediaMessage {
        /// Peer.
        peer: String,
        /// The whole message as JSON text (`{"topic":…,"d":…}`), serialised by the media
        /// layer.
        text: String,
    },
    /// A player this world had on the replica that ran it before (failover): present, and
    /// waiting for its client to reconnect within the reconnection grace.
    Restore(Box<Restored>),
    /// The media server holding a room was lost: its members join it again (on another).
    MediaRoomLost {
        /// Room.
        room: String,
    },
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

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: u64,
    strikes: u32,
    strike_window: u64,
}

#[derive(Debug)]
struct Player {
    slot: u32,
    profile: Profile,
    session: Option<SessionId>,
    lingering_until: Option<u64>,
    position: Option<Position>,
    moved_at: u64,
    /// The velocity reported with the last accepted position (for dead reckoning).
    velocity: Velocity,
    spawned: bool,
    conference: Option<String>,
    speaker: bool,
    files: Vec<Value>,
    /// Users whose download request this player accepted and who have not started it.
    accepted_downloads: Vec<u32>,
    bucket: Bucket,
    /// Its movement waiting for the turn's flush: an index into `WorldEngine::moves`.
    pending_move: Option<usize>,
    /// While a flush runs: its index in the batch's receivers.
    batch_ix: Option<usize>,
    /// The position was carried over from the world's previous owner and may be seconds old
    /// (presence is written every few seconds, and the move to a new owner takes a few more):
    /// the next move is not held to walking speed from it (walls still count).
    carried_position: bool,
    /// Carried over from the previous owner while the media server kept its rooms: the rooms
    /// the media server still holds this peer in, which a resumed socket keeps using.
    media_held: Option<BTreeSet<String>>,
    /// Chat sent to it while it had no session (its connection dropped, or its world moved
    /// to another owner), delivered when it is back.
    missed: Vec<Frame>,
}

/// Most chat messages a player away keeps for its return.
pub const MISSED_KEPT: usize = 100;

/// A movement accepted this turn and not yet sent.
#[derive(Debug)]
struct PendingMove {
    /// The mover (`None` once it left the world).
    slot: Option<u32>,
    /// Those whose area of interest contained the mover's latest announced position.
    receivers: Vec<u32>,
}

/// The engine of one world.
#[derive(Debug)]
pub struct WorldEngine {
    config: EngineConfig,
    map: WorldMap,
    players: FxHashMap<u32, Player>,
    by_user: HashMap<String, u32>,
    /// Users kicked (or banned) lately, until when they are refused (clock ms).
    removed: HashMap<String, u64>,
    by_session: FxHashMap<SessionId, u32>,
    next_slot: u32,
    proximity: ProximityGroups,
    interest: InterestGrid,
    conferences: HashMap<String, BTreeSet<u32>>,
    /// Movements waiting for the turn's [`Input::Flush`].
    moves: Vec<PendingMove>,
    out: Vec<Output>,
}

impl WorldEngine {
    /// An empty world with this map.
    pub fn new(config: EngineConfig, map: WorldMap) -> WorldEngine {
        let mut proximity = ProximityGroups::new(config.proximity);
        proximity.start_ids_at(config.first_group_id);
        let interest = InterestGrid::new(config.interest_area.0, config.interest_area.1);
        WorldEngine {
            config,
            map,
            players: FxHashMap::default(),
            by_user: HashMap::new(),
            removed: HashMap::new(),
            by_session: FxHashMap::default(),
            next_slot: 0,
            proximity,
            interest,
            conferences: HashMap::new(),
            moves: Vec::new(),
            out: Vec::new(),
        }
    }

    /// Users present (connected or within their reconnection grace).
    pub fn population(&self) -> usize {
        self.players.len()
    }

    /// Movements accepted and not yet sent (see [`Input::Flush`]).
    pub fn has_pending_moves(&self) -> bool {
        !self.moves.is_empty()
    }

    /// Users with a live session.
    pub fn online(&self) -> usize {
        self.by_session.len()
    }

    /// The user ids present.
    pub fn user_ids(&self) -> impl Iterator<Item = &str> {
        self.by_user.keys().map(String::as_str)
    }

    /// The rooms (proximity group and conference) a user is in.
    pub fn rooms_of(&self, user_id: &str) -> Vec<String> {
        self.by_user.get(user_id).map(|s| self.rooms(*s)).unwrap_or_default()
    }

    /// A present user's profile (name, avatar, role).
    pub fn profile_of(&self, user_id: &str) -> Option<&Profile> {
        self.by_user.get(user_id).map(|s| &self.players[s].profile)
    }

    /// A user's position, if spawned.
    pub fn position_of(&self, user_id: &str) -> Option<Position> {
        self.by_user.get(user_id).and_then(|s| self.players[s].position)
    }

    /// What another replica needs to carry `user_id` over (see [`Input::Restore`]).
    pub fn restorable(&self, user_id: &str) -> Option<Restored> {
        let p = &self.players[self.by_user.get(user_id)?];
        Some(Restored {
            profile: p.profile.clone(),
            position: p.position.filter(|_| p.spawned),
            conference: p.conference.clone(),
            speaker: p.speaker,
            group: self.proximity.group_of(p.slot).map(|g| g.to_string()),
        })
    }

    /// The proximity groups, as sets of user ids (for tests and diagnostics).
    pub fn groups(&self) -> Vec<(GroupId, BTreeSet<String>)> {
        self.proximity
            .groups()
            .iter()
            .map(|(g, members)| {
                (
                    *g,
                    members
                        .iter()
                        .map(|m| self.players[m].profile.user_id.clone())
                        .collect(),
                )
            })
            .collect()
    }

    /// Members of a conference, by user id.
    pub fn conference_members(&self, conference_id: &str) -> BTreeSet<String> {
        self.conferences
            .get(conference_id)
            .map(|s| s.iter().map(|m| self.players[m].profile.user_id.clone()).collect())
            .unwrap_or_default()
    }

    /// The proximity groups and near-graph, by slot (for tests and diagnostics).
    pub fn proximity(&self) -> &ProximityGroups {
        &self.proximity
    }

    /// The slot of a user id.
    pub fn slot_of(&self, user_id: &str) -> Option<u32> {
        self.by_user.get(user_id).copied()
    }

    /// Applies one input.
    pub fn handle(&mut self, clock: Clock, input: Input) -> Vec<Output> {
        match input {
            Input::Connect {
                session,
                profile,
                resumed,
            } => self.connect(clock, session, profile, resumed),
            Input::Frame { session, message } => {
                if let Some(&slot) = self.by_session.get(&session)
                    && self.admit(clock, slot, session, message.is_err())
                {
                    match message {
                        Ok(m) => self.on_message(clock, slot, session, m),
                        Err(e) => self.send(session, &ServerMessage::error(e.topic.as_deref(), e.message)),
                    }
                }
            }
            Input::Closed { session, clean } => self.closed(clock, session, clean),
            Input::Tick => self.tick(clock),
            Input::Flush => self.flush_moves(),
            Input::RoleChanged { user_id, role } => {
                if let Some(&slot) = self.by_user.get(&user_id) {
                    self.set_role(slot, role);
                }
            }
            Input::RoleUpdated { role } => {
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
            Input::Evict { user_id, reason } => {
                if let Some(&slot) = self.by_user.get(&user_id) {
                    self.kick(slot, &reason);
                }
            }
            Input::CloseWorld { reason } => {
                let slots = sorted(self.players.keys().copied().collect());
                for slot in slots {
                    self.kick(slot, &reason);
                }
            }
            Input::MapChanged(map) => {
                let edited = map.fingerprint != self.map.fingerprint;
                self.map = *map;
                // Members standing outside their conference's (new) area leave it.
                let slots = sorted(self.players.keys().copied().collect());
                for &slot in &slots {
                    self.check_conference_area(slot);
                }
                // Other settings change too (name, capacity): only a new map is news to clients.
                if edited {
                    self.fanout(slots, Frame::of(&ServerMessage::MapUpdated));
                }
            }
            Input::MaxUsersChanged(max) => self.config.max_users = max,
            Input::MediaMessage { peer, text } => {
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
            Input::Restore(r) => self.restore(clock, *r),
            Input::MediaRoomLost { room } => {
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
        }
        std::mem::take(&mut self.out)
    }

    // ----- sending -----

    fn send(&mut self, to: SessionId, msg: &ServerMessage) {
        self.out.push(Output::Send {
            to,
            frame: Frame::of(msg),
        });
    }

    fn send_to_slot(&mut self, slot: u32, msg: &ServerMessage) {
        if let Some(s) = self.players.get(&slot).and_then(|p| p.session) {
            self.send(s, msg);
        }
    }

    fn fanout(&mut self, slots: impl IntoIterator<Item = u32>, frame: Frame) {
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
    fn fanout_kept(&mut self, slots: impl IntoIterator<Item = u32>, frame: Frame) {
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

    /// Sends the turn's movements: each mover's latest position, serialised once, to the
    /// receivers of its latest move (see [`MoveBatch`]).
    fn flush_moves(&mut self) {
        let moves = std::mem::take(&mut self.moves);
        if moves.is_empty() {
            return;
        }
        let mut batch = MoveBatch::default();
        let mut touched: Vec<u32> = Vec::new();
        for m in moves {
            let Some(p) = m.slot.and_then(|s| self.players.get_mut(&s)) else {
                continue;
            };
            p.pending_move = None;
            let Some(position) = p.position else { continue };
            let moved = ServerMessage::PlayerMovement {
                user_id: p.profile.user_id.clone(),
                velocity: p.velocity,
                position,
            };
            let index = batch.frames.len() as u32;
            batch.frames.push(Frame {
                text: moved.to_json().into(),
                coalesce: Some(p.slot),
            });
            for r in m.receivers {
                let Some(rp) = self.players.get_mut(&r) else { continue };
                let Some(session) = rp.session else { continue };
                let ix = *rp.batch_ix.get_or_insert_with(|| {
                    touched.push(r);
                    batch.to.push((session, Vec::new()));
                    batch.to.len() - 1
                });
                batch.to[ix].1.push(index);
            }
        }
        for r in touched {
            if let Some(p) = self.players.get_mut(&r) {
                p.batch_ix = None;
            }
        }
        if !batch.to.is_empty() {
            self.out.push(Output::Moves(batch));
        }
    }

    fn everyone_but(&self, slot: u32) -> Vec<u32> {
        self.players.keys().copied().filter(|s| *s != slot).collect()
    }

    fn error(&mut self, session: SessionId, topic: &str, message: &str) {
        self.send(session, &ServerMessage::error(Some(topic), message));
    }

    /// Refuses a media request the way the SFU does: the `-done` reply the client's request
    /// awaits (with `error`), then the `error`.
    fn refuse_media(&mut self, slot: u32, session: SessionId, topic: &str, d: &MediaRequest, room: &str, message: &str) {
        let direction = d.direction();
        let peer = self.uid(slot);
        for reply in crate::protocol::media_error_replies(topic, room, &peer, direction, message) {
            self.out.push(Output::Send {
                to: session,
                frame: Frame::raw(&reply.to_string()),
            });
        }
    }

    /// Relays a media signalling request to the media layer, with the sender as `peerId`, if
    /// it is for one of the sender's rooms and its role may do it there.
    fn relay_media_request(&mut self, slot: u32, session: SessionId, topic: &'static str, d: MediaRequest) {
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

    // ----- identities -----

    fn uid(&self, slot: u32) -> String {
        self.players[&slot].profile.user_id.clone()
    }

    fn player_data(p: &Player) -> PlayerData {
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
    fn rooms(&self, slot: u32) -> Vec<String> {
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
    fn co_members(&self, slot: u32) -> BTreeSet<u32> {
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

    fn slot_by_wire(&self, id: &WireId) -> Option<u32> {
        self.by_user.get(&id.0).copied()
    }

    // ----- connect / leave -----

    /// The creator holds every flag, whatever their role says (as over REST).
    fn effective(mut profile: Profile) -> Profile {
        if profile.creator {
            profile.role = profile.role.with_every_flag();
        }
        profile
    }

    fn connect(&mut self, clock: Clock, session: SessionId, profile: Profile, resumed: bool) {
        let profile = Self::effective(profile);
        self.removed.retain(|_, until| *until > clock.ms);
        if self.removed.contains_key(&profile.user_id) {
            self.send(
                session,
                &ServerMessage::Kicked {
                    d: Reason {
                        reason: REMOVED_REASON.into(),
                    },
                },
            );
            self.out.push(Output::Close {
                session,
                code: 1008,
                reason: REMOVED_REASON.into(),
            });
            return;
        }
        if let Some(&slot) = self.by_user.get(&profile.user_id) {
            // Same user again: a reconnection within the grace period, or a second window.
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
            // What was said while it was away.
            let missed = std::mem::take(&mut self.players.get_mut(&slot).expect("present").missed);
            for frame in missed {
                self.out.push(Output::Send { to: session, frame });
            }
            return;
        }
        if let Some(max) = self.config.max_users
            && self.players.len() as u64 >= u64::from(max)
        {
            self.send(
                session,
                &ServerMessage::Kicked {
                    d: Reason {
                        reason: FULL_REASON.into(),
                    },
                },
            );
            self.out.push(Output::Close {
                session,
                code: 1008,
                reason: FULL_REASON.into(),
            });
            return;
        }
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
        let bucket = Bucket {
            tokens: self.config.rate_burst,
            at: clock.ms,
            strikes: 0,
            strike_window: clock.ms,
        };
        self.players.insert(
            slot,
            Player {
                slot,
                profile,
                session: Some(session),
                lingering_until: None,
                position: None,
                moved_at: clock.ms,
                velocity: Velocity::default(),
                spawned: false,
                conference: None,
                speaker: false,
                files: Vec::new(),
                accepted_downloads: Vec::new(),
                bucket,
                pending_move: None,
                batch_ix: None,
                carried_position: false,
                media_held: None,
                missed: Vec::new(),
            },
        );
        self.snapshot(session, slot);
    }

    /// A player carried over from another replica: in the world without a session, as after a
    /// network drop, so its client's reconnection resumes it (same groups and conference, no
    /// second join event) and the grace period ends it if the client never comes back. Nobody
    /// is told: a world restores its players before any session, and each client that connects
    /// learns from its snapshot that the player is reconnecting.
    fn restore(&mut self, clock: Clock, mut r: Restored) {
        r.profile = Self::effective(r.profile);
        if self.by_user.contains_key(&r.profile.user_id) {
            return;
        }
        let slot = self.next_slot;
        self.next_slot += 1;
        self.by_user.insert(r.profile.user_id.clone(), slot);
        let bucket = Bucket {
            tokens: self.config.rate_burst,
            at: clock.ms,
            strikes: 0,
            strike_window: clock.ms,
        };
        let position = r.position.filter(|p| self.map.contains(p.x, p.y));
        self.players.insert(
            slot,
            Player {
                slot,
                profile: r.profile,
                session: None,
                lingering_until: Some(clock.ms + self.config.reconnect_grace_ms.max(1)),
                position: None,
                moved_at: clock.ms,
                velocity: Velocity::default(),
                spawned: position.is_some(),
                conference: None,
                speaker: false,
                files: Vec::new(),
                accepted_downloads: Vec::new(),
                bucket,
                pending_move: None,
                batch_ix: None,
                carried_position: false,
                media_held: None,
                missed: Vec::new(),
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

    fn closed(&mut self, clock: Clock, session: SessionId, clean: bool) {
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

    fn tick(&mut self, clock: Clock) {
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

    fn kick(&mut self, slot: u32, reason: &str) {
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

    /// Takes a player out of the world: files, rooms, grid, then tells everyone.
    fn leave(&mut self, slot: u32) {
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

    fn set_role(&mut self, slot: u32, role: Permissions) {
        let p = self.players.get_mut(&slot).expect("role change for a present player");
        let role = if p.profile.creator {
            role.with_every_flag()
        } else {
            role
        };
        let before = std::mem::replace(&mut p.profile.role, role);
        let after = p.profile.role.clone();
        // Speaking rights follow the role at once: re-join the rooms in the new capacity.
        let lost_talk = before.talk && !after.talk;
        let gained_talk = !before.talk && after.talk;
        if let Some(g) = self.proximity.group_of(slot)
            && (lost_talk || gained_talk)
        {
            let room = g.to_string();
            self.media_leave(slot, room.clone());
            let role = if after.talk {
                MediaRole::Speaker
            } else {
                MediaRole::Listener
            };
            self.media_join(slot, room, role);
        }
        if before.talk_conference != after.talk_conference
            && let Some(c) = self.players[&slot].conference.clone()
        {
            let speaker = after.talk_conference || self.players[&slot].speaker;
            self.media_leave(slot, c.clone());
            let role = if speaker {
                MediaRole::Speaker
            } else {
                MediaRole::Listener
            };
            self.media_join(slot, c, role);
        }
    }

    /// Puts a peer in a media room. A player without a session is not joined (its client
    /// would never hear of the room): it joins its rooms when it connects.
    fn media_join(&mut self, slot: u32, room: String, role: MediaRole) {
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
    fn media_leave(&mut self, slot: u32, room: String) {
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

    fn media_role(&self, slot: u32, room: &str) -> MediaRole {
        let p = &self.players[&slot];
        let speaker = if p.conference.as_deref() == Some(room) {
            p.profile.role.talk_conference || p.speaker
        } else {
            p.profile.role.talk
        };
        if speaker {
            MediaRole::Speaker
        } else {
            MediaRole::Listener
        }
    }

    // ----- rate limiting -----

    /// Token bucket per connection. Refused frames count as strikes; too many end the session.
    fn admit(&mut self, clock: Clock, slot: u32, session: SessionId, invalid: bool) -> bool {
        let (rate, burst, max_strikes) = (
            self.config.rate_per_sec,
            self.config.rate_burst,
            self.config.abuse_strikes,
        );
        let p = self.players.get_mut(&slot).expect("session indexed to a player");
        let b = &mut p.bucket;
        let elapsed = clock.ms.saturating_sub(b.at) as f64 / 1000.0;
        b.tokens = (b.tokens + elapsed * rate).min(burst);
        b.at = clock.ms;
        if clock.ms.saturating_sub(b.strike_window) > 10_000 {
            b.strikes = 0;
            b.strike_window = clock.ms;
        }
        let limited = b.tokens < 1.0;
        if !limited {
            b.tokens -= 1.0;
        }
        if limited || invalid {
            b.strikes += 1;
        }
        let strikes = b.strikes;
        if strikes > max_strikes {
            self.send(
                session,
                &ServerMessage::Kicked {
                    d: Reason {
                        reason: "Too many invalid or rate-limited messages.".into(),
                    },
                },
            );
            self.out.push(Output::Close {
                session,
                code: 1008,
                reason: "rate limit".into(),
            });
            self.by_session.remove(&session);
            self.players.get_mut(&slot).expect("still present").session = None;
            self.leave(slot);
            return false;
        }
        if limited {
            // One notice per burst of refusals is enough.
            if strikes == 1 || strikes.is_multiple_of(10) {
                self.send(session, &ServerMessage::error(None, "rate limit exceeded: slow down"));
            }
            return false;
        }
        true
    }

    // ----- messages -----

    fn on_message(&mut self, clock: Clock, slot: u32, session: SessionId, msg: ClientMessage) {
        let topic = msg.topic();
        match msg {
            ClientMessage::Ping { position } => {
                self.out.push(Output::Send {
                    to: session,
                    frame: Frame::raw("PONG"),
                });
                if let Some(pos) = position
                    && self.players[&slot].spawned
                    && self.players[&slot].profile.role.walk
                    && self.players[&slot].position != Some(pos)
                    && self.validate_move(clock, slot, &pos).is_ok()
                {
                    self.move_to(clock, slot, pos, Velocity::default(), Announce::InView);
                }
            }
            ClientMessage::JoinPlayer { position } => self.spawn(clock, slot, session, position),
            ClientMessage::PlayerMovement { position, velocity } => {
                if !self.players[&slot].spawned {
                    return self.error(session, "PLAYER_MOVEMENT", "send JOIN_PLAYER first");
                }
                if !self.players[&slot].profile.role.walk {
                    return self.error(session, "PLAYER_MOVEMENT", "your role may not walk in this world");
                }
                match self.validate_move(clock, slot, &position) {
                    Ok(()) => self.move_to(clock, slot, position, velocity, Announce::Everyone),
                    Err(why) => self.error(session, "PLAYER_MOVEMENT", why),
                }
            }
            ClientMessage::SendMessage { text, to } => {
                if !self.players[&slot].profile.role.chat {
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
            ClientMessage::UnwirePlayer { users_id } => {
                // The original client closes its media for people it sees beyond the radius;
                // those still in the hysteresis band part here too, so both sides agree.
                if !self.parts_on_claim(slot, &users_id) {
                    self.send_proximity_truth(slot, session);
                }
            }
            ClientMessage::WirePlayer { .. } => self.send_proximity_truth(slot, session),
            ClientMessage::JoinConference { conference_id } => {
                self.join_conference(clock, slot, session, &conference_id)
            }
            ClientMessage::LeaveConference { conference_id } => {
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
            ClientMessage::RequestToSpeak { conference } => {
                if self.players[&slot].conference.as_deref() != Some(conference.as_str()) {
                    return self.error(session, "REQUEST_TO_SPEAK", "you are not in that conference");
                }
                let managers: Vec<u32> = self.conferences[&conference]
                    .iter()
                    .copied()
                    .filter(|m| self.players[m].profile.role.conference_manage)
                    .collect();
                let msg = ServerMessage::RequestToSpeak {
                    d: SpeakRequest {
                        user_requested: self.uid(slot),
                    },
                };
                self.fanout(managers, Frame::of(&msg));
            }
            ClientMessage::PermissionToSpeak {
                conference,
                permission,
                user_requested,
            } => {
                let me = &self.players[&slot];
                if !me.profile.role.conference_manage || me.conference.as_deref() != Some(conference.as_str()) {
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
                if permission && !self.players[&target].speaker && !self.players[&target].profile.role.talk_conference {
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
            ClientMessage::CloseMedia => {
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
            ClientMessage::ToggleProducer { d: t } => {
                let target = match &t.peer_id {
                    Some(id) if id.0 != self.players[&slot].profile.user_id => {
                        if !self.players[&slot].profile.role.world_mute {
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
            ClientMessage::SpeakingChange { d: s } => {
                let peer = self.uid(slot);
                let co = self.co_members(slot);
                self.fanout(
                    co.clone(),
                    Frame::of(&ServerMessage::ActiveSpeakerUnderscore {
                        peer_id: peer.clone(),
                        value: s.value,
                    }),
                );
                self.fanout(
                    co,
                    Frame::of(&ServerMessage::ActiveSpeakerHyphen {
                        peer_id: peer,
                        value: s.value,
                    }),
                );
            }
            ClientMessage::ConnectTransport { d }
            | ClientMessage::ConnectTransportSendDone { d }
            | ClientMessage::GetRecvTracks { d }
            | ClientMessage::SendTrack { d }
            | ClientMessage::SendFile { d } => self.relay_media_request(slot, session, topic, d),
            ClientMessage::AddUserFiles { files } => self.add_files(slot, session, files),
            ClientMessage::RemoveUserFile { file } => {
                if !self.may_interact(slot, session, "REMOVE_USER_FILE") {
                    return;
                }
                let p = self.players.get_mut(&slot).expect("present");
                let before = p.files.len();
                p.files.retain(|f| !same_file(f, &file));
                if p.files.len() == before {
                    return self.error(session, "REMOVE_USER_FILE", "no such file");
                }
                let co = self.co_members(slot);
                self.fanout(
                    co,
                    Frame::of(&ServerMessage::RemoveUserFile {
                        d: OneFile { file },
                    }),
                );
            }
            ClientMessage::RemoveAllUserFiles => {
                let uid = self.uid(slot);
                self.players.get_mut(&slot).expect("present").files.clear();
                let co = self.co_members(slot);
                self.fanout(
                    co,
                    Frame::of(&ServerMessage::RemoveAllUserFiles {
                        d: UserRef { user_id: uid },
                    }),
                );
            }
            ClientMessage::GetRoomUsersFiles => {
                if !self.may_interact(slot, session, "GET_ROOM_USERS_FILES") {
                    return;
                }
                let files: Vec<Value> = self
                    .co_members(slot)
                    .into_iter()
                    .flat_map(|s| self.players[&s].files.clone())
                    .collect();
                self.send(
                    session,
                    &ServerMessage::GetRoomUsersFiles {
                        d: FileList { files },
                    },
                );
            }
            ClientMessage::DownloadRequest { file } => {
                if !self.may_interact(slot, session, "DOWNLOAD_REQUEST") {
                    return;
                }
                let owner = match file.get("owner") {
                    Some(Value::String(s)) => WireId(s.clone()),
                    Some(Value::Number(n)) => WireId(n.to_string()),
                    _ => return self.error(session, "DOWNLOAD_REQUEST", "the file has no owner"),
                };
                let Some(target) = self.nearby(slot, &owner) else {
                    return self.error(
                        session,
                        "DOWNLOAD_REQUEST",
                        "the file's owner is not in a room with you",
                    );
                };
                if !self.players[&target].files.iter().any(|f| same_file(f, &file)) {
                    return self.error(session, "DOWNLOAD_REQUEST", "that user does not offer this file");
                }
                let msg = ServerMessage::DownloadRequest {
                    d: FileRequest {
                        file,
                        user_id: self.uid(slot),
                    },
                };
                self.send_to_slot(target, &msg);
            }
            ClientMessage::DenyDownloadRequest { d } => {
                let Some(target) = self.nearby(slot, &d.user_id) else {
                    return self.error(session, "DENY_DOWNLOAD_REQUEST", "that user is not in a room with you");
                };
                let msg = ServerMessage::DenyDownloadRequest {
                    d: DownloadRefusal {
                        user_id: d.user_id.0,
                        reason: d.reason,
                    },
                };
                self.send_to_slot(target, &msg);
            }
            ClientMessage::AcceptDownloadRequest { d } => {
                let Some(target) = self.nearby(slot, &d.user_id) else {
                    return self.error(
                        session,
                        "ACCEPT_DOWNLOAD_REQUEST",
                        "that user is not in a room with you",
                    );
                };
                let grants = &mut self.players.get_mut(&slot).expect("present").accepted_downloads;
                if !grants.contains(&target) {
                    grants.push(target);
                }
                self.send_to_slot(
                    target,
                    &ServerMessage::AcceptDownloadRequest {
                        d: OneFile { file: d.file },
                    },
                );
            }
            ClientMessage::StartDownload { d } => {
                let Some(target) = self.nearby(slot, &d.user_id) else {
                    return self.error(session, "START_DOWNLOAD", "that user is not in a room with you");
                };
                // The file's bytes go to this user only once its owner accepted.
                let grants = &mut self.players.get_mut(&target).expect("present").accepted_downloads;
                let Some(at) = grants.iter().position(|s| *s == slot) else {
                    return self.error(
                        session,
                        "START_DOWNLOAD",
                        "that user has not accepted your download request",
                    );
                };
                grants.swap_remove(at);
                let shared: Vec<String> = {
                    let theirs = self.rooms(target);
                    self.rooms(slot).into_iter().filter(|r| theirs.contains(r)).collect()
                };
                self.out.push(Output::Media(MediaCommand::FileTarget {
                    rooms: shared,
                    owner: self.uid(target),
                    downloader: self.uid(slot),
                }));
                self.send_to_slot(target, &ServerMessage::StartDownload);
            }
            ClientMessage::KickPlayer { user_id, ban } => {
                if !self.players[&slot].profile.role.ban {
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
            // `parse` turns an unknown topic into an error naming it; a caller that built this
            // value itself gets the same answer, without the topic.
            ClientMessage::Unknown => self.send(session, &ServerMessage::error(None, UNKNOWN_TOPIC)),
        }
    }

    /// Applies an `UNWIRE_PLAYER` claim: the claimant parts from each named user it is still
    /// near but who is beyond the radius (the groups re-form from what is left, and everyone
    /// affected is told as after a move). True when any pair parted.
    fn parts_on_claim(&mut self, slot: u32, ids: &[WireId]) -> bool {
        let mut parted = false;
        for id in ids {
            let Some(other) = self.slot_by_wire(id).filter(|o| *o != slot) else {
                continue;
            };
            let diff = self.proximity.part(slot, other);
            if !diff.is_empty() {
                self.apply_diff(diff, None);
                parted = true;
            }
        }
        parted
    }

    /// Proximity claims are hints: the answer is the server's truth, so the client resyncs.
    fn send_proximity_truth(&mut self, slot: u32, session: SessionId) {
        let co: Vec<String> = self.co_members(slot).into_iter().map(|s| self.uid(s)).collect();
        self.send(session, &ServerMessage::WirePlayer { merge: false, ids: co });
        let groups = self.rooms(slot);
        self.send(session, &ServerMessage::GroupsSnapshot { groups });
    }

    fn may_interact(&mut self, slot: u32, session: SessionId, topic: &str) -> bool {
        if self.players[&slot].profile.role.interact {
            return true;
        }
        self.error(session, topic, "your role may not use file boards in this world");
        false
    }

    /// The slot of `id` if it shares a room with `slot`.
    fn nearby(&self, slot: u32, id: &WireId) -> Option<u32> {
        self.slot_by_wire(id).filter(|t| self.co_members(slot).contains(t))
    }

    fn add_files(&mut self, slot: u32, session: SessionId, files: Vec<Value>) {
        if !self.may_interact(slot, session, "ADD_USER_FILES") {
            return;
        }
        if files.is_empty() {
            return self.error(session, "ADD_USER_FILES", "no files given");
        }
        let have = self.players[&slot].files.len();
        if have + files.len() > self.config.max_files {
            return self.error(
                session,
                "ADD_USER_FILES",
                &format!("at most {} files may be offered at once", self.config.max_files),
            );
        }
        let uid = self.uid(slot);
        let mut accepted = Vec::with_capacity(files.len());
        for mut f in files {
            if !f.is_object() || f.to_string().len() > self.config.max_file_meta_bytes {
                return self.error(
                    session,
                    "ADD_USER_FILES",
                    "each file must be a metadata object of reasonable size",
                );
            }
            f["owner"] = Value::String(uid.clone());
            accepted.push(f);
        }
        self.players
            .get_mut(&slot)
            .expect("present")
            .files
            .extend(accepted.iter().cloned());
        let mut to = self.co_members(slot);
        to.insert(slot);
        self.fanout(
            to,
            Frame::of(&ServerMessage::AddUserFiles {
                d: FileList { files: accepted },
            }),
        );
    }

    // ----- movement -----

    /// Where the avatar's body centre is, from the container position the client sends.
    fn body_centre(p: &Position) -> (f64, f64) {
        (p.x - 1.0, p.y + 15.0)
    }

    fn validate_move(&self, clock: Clock, slot: u32, to: &Position) -> Result<(), &'static str> {
        let p = &self.players[&slot];
        if !self.map.contains(to.x, to.y) {
            return Err("position outside the map");
        }
        let (bx, by) = Self::body_centre(to);
        if self.map.is_wall(bx, by) {
            return Err("position inside a wall");
        }
        if let Some(from) = p.position.filter(|_| !p.carried_position) {
            // Standing still earns no distance beyond a second's walk: the client reports a
            // change of velocity at once, so a long idle spell is no licence to jump.
            let dt = (clock.ms.saturating_sub(p.moved_at) as f64 / 1000.0).min(MAX_IDLE_ALLOWANCE_S);
            let allowed = self.config.max_speed * self.config.speed_slack * dt + self.config.jitter_px;
            if from.distance(to) > allowed {
                return Err("moved faster than walking speed");
            }
            if self
                .map
                .crosses_wall(Self::body_centre(&from), (bx, by), self.map.half_tile())
            {
                return Err("moved through a wall");
            }
        }
        Ok(())
    }

    fn spawn(&mut self, clock: Clock, slot: u32, session: SessionId, requested: Option<Position>) {
        let fallback = Position { x: 50.0, y: 50.0 };
        let (spawned, current, walk) = {
            let p = &self.players[&slot];
            (p.spawned, p.position, p.profile.role.walk)
        };
        // The first JOIN_PLAYER sets the spawn point anywhere in the map. A later one (a scene
        // restart, a reconnection) is a move like any other, so it cannot teleport.
        let moved = match (current.filter(|_| spawned), requested) {
            (None, requested) => {
                let map = &self.map;
                // Anywhere a walker from the spawn point could get to: not in a wall, not in a
                // room closed off by walls.
                let walkable = |p: &Position| {
                    let (bx, by) = Self::body_centre(p);
                    map.contains(p.x, p.y) && map.is_reachable(bx, by)
                };
                let refused = requested.is_some_and(|p| !walkable(&p));
                let at = requested.filter(walkable).unwrap_or(fallback);
                if refused {
                    self.error(
                        session,
                        "JOIN_PLAYER",
                        "position inside a wall, outside the map or in a room closed off by walls",
                    );
                }
                Some(at)
            }
            (Some(current), Some(r)) if r != current => {
                let check = if walk {
                    self.validate_move(clock, slot, &r)
                } else {
                    Err("your role may not walk in this world")
                };
                match check {
                    Ok(()) => Some(r),
                    Err(why) => {
                        self.error(session, "JOIN_PLAYER", why);
                        None
                    }
                }
            }
            (Some(_), _) => None,
        };
        let pos = moved.or(current).unwrap_or(fallback);
        self.players.get_mut(&slot).expect("present").spawned = true;
        // Everyone learns of the newcomer (with its position) before any group or movement
        // message names it.
        let p = &self.players[&slot];
        let user = JoinedUser {
            username: p.profile.username.clone(),
            avatar: p.profile.avatar.clone(),
            role: RoleSummary {
                role_id: p.profile.role.role_id,
                name: p.profile.role.name.clone(),
            },
            user_id: p.profile.user_id.clone(),
        };
        let others = self.everyone_but(slot);
        self.fanout(others, Frame::of(&ServerMessage::JoinPlayer { user, position: pos }));
        if let Some(pos) = moved {
            self.move_to(clock, slot, pos, Velocity::default(), Announce::Spawn);
        }
    }

    /// Where a player has probably got to: its last position carried along its last reported
    /// velocity (capped at the fastest legitimate speed) for the time since. The original
    /// client reports its position only when its velocity changes.
    fn reckoned_position(&self, clock: Clock, slot: u32, from: Position) -> Position {
        let p = &self.players[&slot];
        let Velocity { x: vx, y: vy } = p.velocity;
        let speed = vx.hypot(vy);
        if !speed.is_finite() || speed <= 0.0 {
            return from;
        }
        let dt = clock.ms.saturating_sub(p.moved_at) as f64 / 1000.0;
        let k = speed.min(self.config.max_speed * self.config.speed_slack) / speed * dt;
        Position {
            x: from.x + vx * k,
            y: from.y + vy * k,
        }
    }

    /// Accepts a position: grid, interest notifications, movement broadcast, proximity.
    fn move_to(&mut self, clock: Clock, slot: u32, pos: Position, velocity: Velocity, announce: Announce) {
        {
            let p = self.players.get_mut(&slot).expect("present");
            p.position = Some(pos);
            p.moved_at = clock.ms;
            p.velocity = velocity;
            p.carried_position = false;
        }
        let sight = self.interest.place(slot, pos);
        let pending = self.players[&slot].pending_move;
        match announce {
            // Sent at the turn's flush, once, at the latest position (a second move in the
            // same turn replaces the first, and reaches who sees it now).
            Announce::Everyone => match pending {
                Some(i) => self.moves[i].receivers = sight.receivers,
                None if !sight.receivers.is_empty() => {
                    self.players.get_mut(&slot).expect("present").pending_move = Some(self.moves.len());
                    self.moves.push(PendingMove {
                        slot: Some(slot),
                        receivers: sight.receivers,
                    });
                }
                None => {}
            },
            Announce::InView if !sight.entered.is_empty() => {
                // Where the mover stands, to those who just got it in view (a waiting
                // movement of it will carry the same, latest, position).
                let moved = ServerMessage::PlayerMovement {
                    user_id: self.uid(slot),
                    velocity,
                    position: pos,
                };
                let frame = Frame {
                    text: moved.to_json().into(),
                    coalesce: Some(slot),
                };
                self.fanout(sight.entered.clone(), frame);
            }
            Announce::InView | Announce::Spawn => {}
        }
        // Newly in view: the mover learns where they are.
        if let Some(s) = self.players[&slot].session {
            for other in sight.entered {
                if let Some(op) = self.players[&other].position {
                    let m = ServerMessage::PlayerMovement {
                        user_id: self.uid(other),
                        velocity: Velocity::default(),
                        position: op,
                    };
                    self.out.push(Output::Send {
                        to: s,
                        frame: Frame {
                            text: m.to_json().into(),
                            coalesce: Some(other),
                        },
                    });
                }
            }
        }
        if self.players[&slot].conference.is_some() {
            self.check_conference_area(slot);
        } else {
            let diff = self.proximity.set_position(slot, pos);
            self.apply_diff(diff, None);
        }
    }

    // ----- groups -----

    /// Tells every affected user what changed in its group, and the media layer too.
    /// `gone` is a player being removed (it gets no messages).
    fn apply_diff(&mut self, diff: GroupDiff, gone: Option<u32>) {
        if diff.is_empty() {
            return;
        }
        let mut before: HashMap<u32, (GroupId, BTreeSet<u32>)> = HashMap::new();
        let mut after: HashMap<u32, (GroupId, BTreeSet<u32>)> = HashMap::new();
        let mut closed: Vec<GroupId> = Vec::new();
        for (g, members) in &diff.closed {
            closed.push(*g);
            for m in members {
                before.insert(*m, (*g, members.clone()));
            }
        }
        for (g, old, new) in &diff.changed {
            for m in old {
                before.insert(*m, (*g, old.clone()));
            }
            for m in new {
                after.insert(*m, (*g, new.clone()));
            }
        }
        let mut affected: BTreeSet<u32> = before.keys().copied().collect();
        affected.extend(after.keys().copied());
        for x in affected {
            if !self.players.contains_key(&x) {
                continue;
            }
            let old = before.get(&x);
            let new = after.get(&x);
            let old_g = old.map(|o| o.0);
            let new_g = new.map(|n| n.0);
            let old_co: BTreeSet<u32> = old
                .map(|o| o.1.iter().copied().filter(|m| *m != x).collect())
                .unwrap_or_default();
            let new_co: BTreeSet<u32> = new
                .map(|n| n.1.iter().copied().filter(|m| *m != x).collect())
                .unwrap_or_default();
            if old_g != new_g {
                if let Some(g) = old_g {
                    if !closed.contains(&g) {
                        self.media_leave(x, g.to_string());
                    }
                    if Some(x) != gone {
                        self.send_to_slot(x, &ServerMessage::CloseRoom { group: g.to_string() });
                    }
                }
                if let Some(g) = new_g {
                    let role = if self.players[&x].profile.role.talk {
                        MediaRole::Speaker
                    } else {
                        MediaRole::Listener
                    };
                    self.media_join(x, g.to_string(), role);
                }
            }
            if Some(x) == gone {
                continue;
            }
            let removed: Vec<String> = old_co
                .difference(&new_co)
                .filter(|m| self.players.contains_key(m))
                .map(|m| self.uid(*m))
                .collect();
            let removed_gone: Vec<String> = old_co
                .difference(&new_co)
                .filter(|m| Some(**m) == gone)
                .map(|m| self.uid(*m))
                .collect();
            // Nearest first: a newcomer's client connects media in this order.
            let mut added: Vec<u32> = new_co.difference(&old_co).copied().collect();
            if let Some(here) = self.players[&x].position {
                let dist = |m: &u32| self.players[m].position.map_or(f64::INFINITY, |p| p.distance(&here));
                added.sort_by(|a, b| dist(a).total_cmp(&dist(b)));
            }
            let added: Vec<String> = added.into_iter().map(|m| self.uid(m)).collect();
            let removed: Vec<String> = removed
                .into_iter()
                .chain(removed_gone)
                .collect::<BTreeSet<_>>()
                .into_iter()
                .collect();
            if !removed.is_empty() {
                self.send_to_slot(
                    x,
                    &ServerMessage::UnwirePlayer {
                        merge: true,
                        ids: removed,
                    },
                );
            }
            if !added.is_empty() {
                self.send_to_slot(
                    x,
                    &ServerMessage::WirePlayer {
                        merge: true,
                        ids: added,
                    },
                );
            }
            if old_g != new_g {
                let groups = self.rooms(x);
                self.send_to_slot(x, &ServerMessage::GroupsSnapshot { groups });
            }
        }
        for g in closed {
            self.out
                .push(Output::Media(MediaCommand::Destroy { room: g.to_string() }));
        }
    }

    // ----- conferences -----

    fn join_conference(&mut self, clock: Clock, slot: u32, session: SessionId, conference_id: &str) {
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
    fn leave_conference(&mut self, slot: u32, silent: bool) {
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
    fn check_conference_area(&mut self, slot: u32) {
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

/// Who hears about an accepted position.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Announce {
    /// Everyone whose area of interest contains the mover (a movement).
    Everyone,
    /// Only users for whom the mover just came into view (a heartbeat position).
    InView,
    /// Nobody: a spawn, already announced with `JOIN_PLAYER`.
    Spawn,
}

/// Slots in order, so that outputs do not depend on hash-map iteration (replays and tests
/// stay deterministic).
fn sorted(mut slots: Vec<u32>) -> Vec<u32> {
    slots.sort_unstable();
    slots
}

/// Files are identified by `id` and `name`, as the client does.
fn same_file(a: &Value, b: &Value) -> bool {
    a.get("id") == b.get("id") && a.get("name") == b.get("name")
}
