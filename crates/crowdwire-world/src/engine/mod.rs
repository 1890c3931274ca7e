//! The world engine: one per world, the single writer of that world's live state.
//!
//! `WorldEngine::handle(clock, input)` applies one input — a connection, a parsed client
//! frame, a closed socket, a tick, a moderation action from the REST API — and returns what
//! must happen as a result: frames to send to sessions, commands for the media layer, and
//! records to persist. Frames are serialised once and shared by every receiver.
//!
//! This file holds the engine's state, its inputs and outputs, and the dispatch of each input
//! and each client topic; the handling lives with its concern, one `impl WorldEngine` per
//! file: `sessions` (connect, resume, restore, close, reconnection grace, leave), `movement`,
//! `groups` (proximity), `conferences`, `chat`, `files`, `media` and `moderation`, over
//! `players`, `sending` and `rate_limit`.

mod chat;
mod conferences;
mod files;
mod groups;
mod media;
mod moderation;
mod movement;
mod players;
mod rate_limit;
mod sending;
mod sessions;

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use rustc_hash::FxHashMap;

use crate::interest::InterestGrid;
use crate::map::WorldMap;
use crate::protocol::{ClientMessage, ParseError, Position, ServerMessage, UNKNOWN_TOPIC};
use crate::proximity::{GroupId, ProximityConfig, ProximityGroups};

pub use media::{MediaCommand, MediaRole};
pub use moderation::Permissions;
pub use sending::MISSED_KEPT;
pub use sessions::{FULL_REASON, Profile, REMOVED_REASON, REPLACED_REASON, Restored};

use movement::PendingMove;
use players::Player;

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
            Input::Frame { session, message } => self.frame(clock, session, message),
            Input::Closed { session, clean } => self.closed(clock, session, clean),
            Input::Tick => self.tick(clock),
            Input::Flush => self.flush_moves(),
            Input::RoleChanged { user_id, role } => self.role_changed(user_id, role),
            Input::RoleUpdated { role } => self.role_updated(role),
            Input::Evict { user_id, reason } => self.evict(user_id, reason),
            Input::CloseWorld { reason } => self.close_world(reason),
            Input::MapChanged(map) => self.map_changed(*map),
            Input::MaxUsersChanged(max) => self.config.max_users = max,
            Input::MediaMessage { peer, text } => self.media_message(peer, text),
            Input::Restore(r) => self.restore(clock, *r),
            Input::MediaRoomLost { room } => self.media_room_lost(room),
        }
        std::mem::take(&mut self.out)
    }

    /// A client frame: counted against the session's rate limit, then handled (or, if it
    /// could not be parsed, answered with an error).
    fn frame(&mut self, clock: Clock, session: SessionId, message: Result<ClientMessage, ParseError>) {
        if let Some(&slot) = self.by_session.get(&session)
            && self.admit(clock, slot, session, message.is_err())
        {
            match message {
                Ok(m) => self.on_message(clock, slot, session, m),
                Err(e) => self.send(session, &ServerMessage::error(e.topic.as_deref(), e.message)),
            }
        }
    }

    /// The world's map or settings changed.
    fn map_changed(&mut self, map: WorldMap) {
        let edited = map.fingerprint != self.map.fingerprint;
        self.map = map;
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

    /// One client message: each topic is handled where its concern lives (see the modules).
    fn on_message(&mut self, clock: Clock, slot: u32, session: SessionId, msg: ClientMessage) {
        let topic = msg.topic();
        match msg {
            ClientMessage::Ping { position } => self.ping(clock, slot, session, position),
            ClientMessage::JoinPlayer { position } => self.spawn(clock, slot, session, position),
            ClientMessage::PlayerMovement { position, velocity } => {
                self.player_movement(clock, slot, session, position, velocity)
            }
            ClientMessage::SendMessage { text, to } => self.send_message(clock, slot, session, text, to),
            ClientMessage::UnwirePlayer { users_id } => self.unwire_player(slot, session, users_id),
            ClientMessage::WirePlayer { .. } => self.send_proximity_truth(slot, session),
            ClientMessage::JoinConference { conference_id } => {
                self.join_conference(clock, slot, session, &conference_id)
            }
            ClientMessage::LeaveConference { conference_id } => {
                self.leave_conference_asked(slot, session, conference_id)
            }
            ClientMessage::RequestToSpeak { conference } => self.request_to_speak(slot, session, conference),
            ClientMessage::PermissionToSpeak {
                conference,
                permission,
                user_requested,
            } => self.permission_to_speak(slot, session, conference, permission, user_requested),
            ClientMessage::CloseMedia => self.close_media(slot),
            ClientMessage::ToggleProducer { d: t } => self.toggle_producer(slot, session, t),
            ClientMessage::SpeakingChange { d: s } => self.speaking_change(slot, s),
            ClientMessage::ConnectTransport { d }
            | ClientMessage::ConnectTransportSendDone { d }
            | ClientMessage::GetRecvTracks { d }
            | ClientMessage::SendTrack { d }
            | ClientMessage::SendFile { d } => self.media_signal(slot, session, topic, d),
            ClientMessage::AddUserFiles { files } => self.add_files(slot, session, files),
            ClientMessage::RemoveUserFile { file } => self.remove_user_file(slot, session, file),
            ClientMessage::RemoveAllUserFiles => self.remove_all_user_files(slot),
            ClientMessage::GetRoomUsersFiles => self.get_room_users_files(slot, session),
            ClientMessage::DownloadRequest { file } => self.download_request(slot, session, file),
            ClientMessage::DenyDownloadRequest { d } => self.deny_download(slot, session, d),
            ClientMessage::AcceptDownloadRequest { d } => self.accept_download(slot, session, d),
            ClientMessage::StartDownload { d } => self.start_download(slot, session, d),
            ClientMessage::KickPlayer { user_id, ban } => self.kick_player(clock, slot, session, user_id, ban),
            // `parse` turns an unknown topic into an error naming it; a caller that built this
            // value itself gets the same answer, without the topic.
            ClientMessage::Unknown => self.send(session, &ServerMessage::error(None, UNKNOWN_TOPIC)),
        }
    }
}

/// Slots in order, so that outputs do not depend on hash-map iteration (replays and tests
/// stay deterministic).
fn sorted(mut slots: Vec<u32>) -> Vec<u32> {
    slots.sort_unstable();
    slots
}
