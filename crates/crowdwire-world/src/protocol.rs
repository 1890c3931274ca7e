//! The WebSocket protocol (see docs/protocol.md), parsed once at the edge into typed messages.
//!
//! Every frame is a JSON object with a `topic`. Client messages become [`ClientMessage`];
//! an unknown topic becomes [`ClientMessage::Unknown`] and malformed input a [`ParseError`],
//! both answered with an `error` message rather than ending the session. Server messages are
//! [`ServerMessage`], serialised to exactly the shapes the original client reads.
//!
//! User ids travel as strings: the decimal id of a registered user, or a guest's UUID.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// A position in map pixels (the avatar container's origin, as the client sends it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct Position {
    /// X, px.
    pub x: f64,
    /// Y, px.
    pub y: f64,
}

impl Position {
    /// Distance to another position.
    pub fn distance(&self, o: &Position) -> f64 {
        ((self.x - o.x).powi(2) + (self.y - o.y).powi(2)).sqrt()
    }
}

/// A position that may be given as `{}` (unknown), as the original client does.
#[derive(Clone, Copy, Debug, Default, Deserialize, TS)]
pub struct MaybePosition {
    #[ts(optional)]
    x: Option<f64>,
    #[ts(optional)]
    y: Option<f64>,
}

impl MaybePosition {
    /// The position, when both coordinates are present and finite.
    pub fn get(&self) -> Option<Position> {
        match (self.x, self.y) {
            (Some(x), Some(y)) if x.is_finite() && y.is_finite() => Some(Position { x, y }),
            _ => None,
        }
    }
}

/// A velocity in px/s.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct Velocity {
    /// X.
    #[serde(default)]
    pub x: f64,
    /// Y.
    #[serde(default)]
    pub y: f64,
}

/// A user id as sent by a client: a number or a string; normalised to a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, TS)]
#[ts(type = "string | number")]
pub struct WireId(pub String);

impl<'de> Deserialize<'de> for WireId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match Value::deserialize(d)? {
            Value::String(s) => Ok(WireId(s)),
            Value::Number(n) => Ok(WireId(n.to_string())),
            other => Err(serde::de::Error::custom(format!("expected a user id, got {other}"))),
        }
    }
}

/// `d` of `toggle-producer`.
#[derive(Clone, Debug, Deserialize, TS)]
pub struct ToggleProducer {
    /// `audio` or `video`.
    pub kind: String,
    /// Pause (true) or resume.
    pub pause: bool,
    /// Whose producer; absent for one's own. Another user's needs `world_mute`.
    #[serde(default, rename = "peerId")]
    #[ts(optional)]
    pub peer_id: Option<WireId>,
}

/// `d` of `speaking_change`.
#[derive(Clone, Debug, Deserialize, TS)]
pub struct SpeakingChange {
    /// Speaking or not.
    pub value: bool,
    /// The room, as the original client sends it; ignored (voice activity goes to every
    /// co-member).
    #[serde(default, rename = "roomId")]
    #[ts(optional)]
    pub room_id: Option<WireId>,
}

/// `d` of `DENY_DOWNLOAD_REQUEST`.
#[derive(Clone, Debug, Deserialize, TS)]
pub struct DenyDownload {
    /// The downloader.
    pub user_id: WireId,
    /// Why.
    #[serde(default)]
    #[ts(optional)]
    pub reason: Option<String>,
}

/// `d` of `ACCEPT_DOWNLOAD_REQUEST`.
#[derive(Clone, Debug, Deserialize, TS)]
pub struct AcceptDownload {
    /// The downloader.
    pub user_id: WireId,
    /// The file's metadata.
    #[ts(type = "FileMeta")]
    pub file: Value,
}

/// `d` of `START_DOWNLOAD`.
#[derive(Clone, Debug, Deserialize, TS)]
pub struct StartDownload {
    /// The file's owner.
    pub user_id: WireId,
}

/// `d` of a media signalling request (`@connect-transport`, `@get-recv-tracks`, `@send-track`,
/// `@send-file`, `@connect-transport-send-done`): mediasoup-client's parameters, opaque to the
/// world and passed to the media layer with the sender as `peerId`. Only the room is read here.
#[derive(Clone, Debug, Deserialize, TS)]
#[ts(type = "{ roomId: string | number, [key: string]: unknown }")]
pub struct MediaRequest(pub serde_json::Map<String, Value>);

impl MediaRequest {
    /// The room the request is for (`roomId`, a string or a number), if it names one.
    pub fn room(&self) -> Option<String> {
        match self.0.get("roomId") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        }
    }

    /// `direction`, when the request carries one (`send` or `recv`).
    pub fn direction(&self) -> Option<&str> {
        self.0.get("direction").and_then(Value::as_str)
    }
}

/// A message from a client: the JSON object's `topic` names the variant.
///
/// Parsing is lenient where the original client is: positions may be `{}` (unknown), user ids
/// numbers or strings, and fields this server does not read are ignored.
#[derive(Clone, Debug, Deserialize, TS)]
#[serde(tag = "topic")]
pub enum ClientMessage {
    /// Heartbeat with the last position; answered with the text `PONG`.
    #[serde(rename = "PING")]
    Ping {
        /// Last position (`{}` or absent: unknown).
        #[serde(default, deserialize_with = "maybe_position")]
        #[ts(optional, as = "Option<MaybePosition>")]
        position: Option<Position>,
    },
    /// The avatar moved.
    #[serde(rename = "PLAYER_MOVEMENT")]
    PlayerMovement {
        /// New position.
        #[serde(deserialize_with = "required_position")]
        position: Position,
        /// Velocity (absent: still).
        #[serde(default, deserialize_with = "velocity_or_still")]
        #[ts(optional, as = "Option<Velocity>")]
        velocity: Velocity,
    },
    /// The scene started at this spawn point.
    #[serde(rename = "JOIN_PLAYER")]
    JoinPlayer {
        /// Spawn point (`{}` or absent: the default).
        #[serde(default, deserialize_with = "maybe_position")]
        #[ts(optional, as = "Option<MaybePosition>")]
        position: Option<Position>,
    },
    /// Chat to `ALL` or `NEARBY`.
    #[serde(rename = "SEND_MESSAGE")]
    SendMessage {
        /// Text.
        text: String,
        /// `ALL` or `NEARBY`.
        #[ts(type = "\"ALL\" | \"NEARBY\"")]
        to: String,
    },
    /// Client-side proximity claim: these users came near (a hint).
    #[serde(rename = "WIRE_PLAYER")]
    WirePlayer {
        /// Claimed ids.
        #[serde(default)]
        #[ts(optional, as = "Option<Vec<WireId>>")]
        users_id: Vec<WireId>,
    },
    /// Client-side proximity claim: these users went away (a hint).
    #[serde(rename = "UNWIRE_PLAYER")]
    UnwirePlayer {
        /// Claimed ids.
        #[serde(default)]
        #[ts(optional, as = "Option<Vec<WireId>>")]
        users_id: Vec<WireId>,
    },
    /// Enter a conference (`C<n>-<world_id>`).
    #[serde(rename = "JOIN_CONFERENCE")]
    JoinConference {
        /// Conference id.
        conference_id: String,
    },
    /// Leave a conference.
    #[serde(rename = "LEAVE_CONFERENCE")]
    LeaveConference {
        /// Conference id.
        conference_id: String,
    },
    /// A listener asks for the floor.
    #[serde(rename = "REQUEST_TO_SPEAK")]
    RequestToSpeak {
        /// Conference id.
        conference: String,
    },
    /// A manager grants or denies the floor.
    #[serde(rename = "PERMISSION_TO_SPEAK")]
    PermissionToSpeak {
        /// Conference id.
        conference: String,
        /// Granted.
        permission: bool,
        /// The requester.
        user_requested: WireId,
    },
    /// Stop screen sharing.
    #[serde(rename = "close-media")]
    CloseMedia,
    /// Pause or resume a producer.
    #[serde(rename = "toggle-producer")]
    ToggleProducer {
        /// What to toggle.
        d: ToggleProducer,
    },
    /// Voice activity of the sender.
    #[serde(rename = "speaking_change")]
    SpeakingChange {
        /// Speaking or not.
        d: SpeakingChange,
    },
    /// Media: connect a WebRTC transport (DTLS parameters).
    #[serde(rename = "@connect-transport")]
    ConnectTransport {
        /// mediasoup-client's parameters.
        d: MediaRequest,
    },
    /// Media: the client's answer to a send transport's connection.
    #[serde(rename = "@connect-transport-send-done")]
    ConnectTransportSendDone {
        /// mediasoup-client's parameters.
        d: MediaRequest,
    },
    /// Media: consume what the room's other peers produce.
    #[serde(rename = "@get-recv-tracks")]
    GetRecvTracks {
        /// mediasoup-client's parameters (`rtpCapabilities`).
        d: MediaRequest,
    },
    /// Media: produce a track (audio, camera or screen).
    #[serde(rename = "@send-track")]
    SendTrack {
        /// mediasoup-client's parameters (`kind`, `rtpParameters`, `appData`).
        d: MediaRequest,
    },
    /// Media: produce a data channel (file transfer).
    #[serde(rename = "@send-file")]
    SendFile {
        /// mediasoup-client's parameters (`sctpStreamParameters`, `label`).
        d: MediaRequest,
    },
    /// Offer files to nearby users.
    #[serde(rename = "ADD_USER_FILES")]
    AddUserFiles {
        /// File metadata (opaque; the server sets `owner`).
        #[ts(type = "FileMeta[]")]
        files: Vec<Value>,
    },
    /// Withdraw one file.
    #[serde(rename = "REMOVE_USER_FILE")]
    RemoveUserFile {
        /// The file.
        #[ts(type = "FileMeta")]
        file: Value,
    },
    /// Withdraw every file.
    #[serde(rename = "REMOVE_ALL_USER_FILES")]
    RemoveAllUserFiles,
    /// List the files of nearby users.
    #[serde(rename = "GET_ROOM_USERS_FILES")]
    GetRoomUsersFiles,
    /// Ask a file's owner for it.
    #[serde(rename = "DOWNLOAD_REQUEST")]
    DownloadRequest {
        /// The file (with `owner`).
        #[ts(type = "FileMeta")]
        file: Value,
    },
    /// Refuse a download.
    #[serde(rename = "DENY_DOWNLOAD_REQUEST")]
    DenyDownloadRequest {
        /// Whom and why.
        d: DenyDownload,
    },
    /// Accept a download.
    #[serde(rename = "ACCEPT_DOWNLOAD_REQUEST")]
    AcceptDownloadRequest {
        /// Whom and which file.
        d: AcceptDownload,
    },
    /// Tell the owner to start streaming.
    #[serde(rename = "START_DOWNLOAD")]
    StartDownload {
        /// The owner.
        d: StartDownload,
    },
    /// (CrowdWire extension) Kick a user from the world, optionally banning them; needs `ban`.
    #[serde(rename = "KICK_PLAYER")]
    KickPlayer {
        /// Whom.
        user_id: WireId,
        /// Also ban from the world.
        #[serde(default)]
        #[ts(optional, as = "Option<bool>")]
        ban: bool,
    },
    /// A topic this server does not handle. [`ClientMessage::parse`] never returns it (an
    /// unknown topic is a [`ParseError`] naming the topic); it exists so that serde can say so.
    #[serde(other)]
    #[ts(skip)]
    Unknown,
}

/// Why a frame could not be understood.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ParseError {
    /// The topic, if one could be read.
    pub topic: Option<String>,
    /// What was wrong.
    pub message: String,
}

/// What an unknown topic's [`ParseError`] says.
pub const UNKNOWN_TOPIC: &str = "unknown topic";

fn maybe_position<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Position>, D::Error> {
    Ok(Option::<MaybePosition>::deserialize(d)?.and_then(|p| p.get()))
}

fn required_position<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Position, D::Error> {
    MaybePosition::deserialize(d)?
        .get()
        .ok_or_else(|| serde::de::Error::custom("a position needs finite x and y"))
}

fn velocity_or_still<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Velocity, D::Error> {
    Ok(Option::<Velocity>::deserialize(d)?.unwrap_or_default())
}

impl ClientMessage {
    /// Parses one text frame.
    pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
        let value: Value = serde_json::from_str(text).map_err(|e| ParseError {
            topic: None,
            message: format!("invalid JSON: {e}"),
        })?;
        Self::from_value(value)
    }

    /// Parses one decoded JSON value.
    pub fn from_value(value: Value) -> Result<ClientMessage, ParseError> {
        let topic = match value.get("topic") {
            Some(Value::String(t)) => t.clone(),
            _ if !value.is_object() => {
                return Err(ParseError {
                    topic: None,
                    message: "a message must be a JSON object with a topic".into(),
                });
            }
            _ => {
                return Err(ParseError {
                    topic: None,
                    message: "a message must have a string topic".into(),
                });
            }
        };
        match serde_json::from_value(value) {
            Ok(ClientMessage::Unknown) => Err(ParseError {
                topic: Some(topic),
                message: UNKNOWN_TOPIC.into(),
            }),
            Ok(m) => Ok(m),
            Err(e) => Err(ParseError {
                message: format!("invalid {topic}: {e}"),
                topic: Some(topic),
            }),
        }
    }

    /// The topic, for logs and error replies.
    pub fn topic(&self) -> &'static str {
        match self {
            ClientMessage::Ping { .. } => "PING",
            ClientMessage::PlayerMovement { .. } => "PLAYER_MOVEMENT",
            ClientMessage::JoinPlayer { .. } => "JOIN_PLAYER",
            ClientMessage::SendMessage { .. } => "SEND_MESSAGE",
            ClientMessage::WirePlayer { .. } => "WIRE_PLAYER",
            ClientMessage::UnwirePlayer { .. } => "UNWIRE_PLAYER",
            ClientMessage::JoinConference { .. } => "JOIN_CONFERENCE",
            ClientMessage::LeaveConference { .. } => "LEAVE_CONFERENCE",
            ClientMessage::RequestToSpeak { .. } => "REQUEST_TO_SPEAK",
            ClientMessage::PermissionToSpeak { .. } => "PERMISSION_TO_SPEAK",
            ClientMessage::CloseMedia => "close-media",
            ClientMessage::ToggleProducer { .. } => "toggle-producer",
            ClientMessage::SpeakingChange { .. } => "speaking_change",
            ClientMessage::ConnectTransport { .. } => "@connect-transport",
            ClientMessage::ConnectTransportSendDone { .. } => "@connect-transport-send-done",
            ClientMessage::GetRecvTracks { .. } => "@get-recv-tracks",
            ClientMessage::SendTrack { .. } => "@send-track",
            ClientMessage::SendFile { .. } => "@send-file",
            ClientMessage::AddUserFiles { .. } => "ADD_USER_FILES",
            ClientMessage::RemoveUserFile { .. } => "REMOVE_USER_FILE",
            ClientMessage::RemoveAllUserFiles => "REMOVE_ALL_USER_FILES",
            ClientMessage::GetRoomUsersFiles => "GET_ROOM_USERS_FILES",
            ClientMessage::DownloadRequest { .. } => "DOWNLOAD_REQUEST",
            ClientMessage::DenyDownloadRequest { .. } => "DENY_DOWNLOAD_REQUEST",
            ClientMessage::AcceptDownloadRequest { .. } => "ACCEPT_DOWNLOAD_REQUEST",
            ClientMessage::StartDownload { .. } => "START_DOWNLOAD",
            ClientMessage::KickPlayer { .. } => "KICK_PLAYER",
            ClientMessage::Unknown => "",
        }
    }

    /// A media signalling request, as `(topic, d)`: what the world relays to the media layer.
    pub fn media_request(&self) -> Option<(&'static str, &MediaRequest)> {
        match self {
            ClientMessage::ConnectTransport { d }
            | ClientMessage::ConnectTransportSendDone { d }
            | ClientMessage::GetRecvTracks { d }
            | ClientMessage::SendTrack { d }
            | ClientMessage::SendFile { d } => Some((self.topic(), d)),
            _ => None,
        }
    }
}

/// `{role_id, name}` as shown to other players.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct RoleSummary {
    /// Role id.
    pub role_id: i64,
    /// Role name.
    pub name: String,
}

/// How a player appears to others.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, TS)]
pub struct PlayerData {
    /// Display name.
    pub username: String,
    /// Avatar name.
    pub avatar: String,
    /// Role.
    pub role: RoleSummary,
}

/// `JOIN_PLAYER`'s `user`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct JoinedUser {
    /// Display name.
    pub username: String,
    /// Avatar.
    pub avatar: String,
    /// Role.
    pub role: RoleSummary,
    /// Id.
    pub user_id: String,
}

/// `{reason}`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct Reason {
    /// Why.
    pub reason: String,
}

/// A position in `PLAYERS_SNAPSHOT`: `{x, y}`, or `{}` while unknown (not yet spawned).
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, TS)]
pub struct SnapshotPosition {
    /// X, px.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub x: Option<f64>,
    /// Y, px.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[ts(optional)]
    pub y: Option<f64>,
}

impl From<Option<Position>> for SnapshotPosition {
    fn from(p: Option<Position>) -> SnapshotPosition {
        SnapshotPosition {
            x: p.map(|p| p.x),
            y: p.map(|p| p.y),
        }
    }
}

/// `d` of a server's `REQUEST_TO_SPEAK`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SpeakRequest {
    /// Who asks for the floor.
    pub user_requested: String,
}

/// `d` of a server's `PERMISSION_TO_SPEAK`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct SpeakPermission {
    /// Granted.
    pub permission: bool,
}

/// `d` with a list of files (`ADD_USER_FILES`, `GET_ROOM_USERS_FILES`).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct FileList {
    /// File metadata as their owners offered it (with `owner`).
    #[ts(type = "FileMeta[]")]
    pub files: Vec<Value>,
}

/// `d` with one file (`REMOVE_USER_FILE`, `ACCEPT_DOWNLOAD_REQUEST`).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct OneFile {
    /// The file's metadata.
    #[ts(type = "FileMeta")]
    pub file: Value,
}

/// `d` of a server's `DOWNLOAD_REQUEST`: someone asks for one of your files.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct FileRequest {
    /// The file.
    #[ts(type = "FileMeta")]
    pub file: Value,
    /// Who asks.
    pub user_id: String,
}

/// `d` naming a user (`REMOVE_ALL_USER_FILES`).
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct UserRef {
    /// The user.
    pub user_id: String,
}

/// `d` of a server's `DENY_DOWNLOAD_REQUEST`.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
pub struct DownloadRefusal {
    /// The file's owner, who refused.
    pub user_id: String,
    /// Why, if they said.
    pub reason: Option<String>,
}

/// `d` of `error`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, TS)]
pub struct ErrorDetail {
    /// The topic of the message refused, when it could be read.
    pub topic: Option<String>,
    /// What was wrong.
    pub message: String,
}

/// The state of a player's connection, as `PLAYER_PRESENCE` tells it. (A player's chosen
/// availability, when there is one, is to travel in a field of its own next to `state`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, TS)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    /// Connected.
    Online,
    /// Its connection dropped; its place is kept for the reconnection grace.
    Reconnecting,
}

/// A message to a client, from the world: the JSON object's `topic` names the variant.
/// (Media messages come from the media layer: [`MediaMessage`].)
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(tag = "topic")]
pub enum ServerMessage {
    /// Everyone in the world (positions, `{}` when unknown) and how they look.
    #[serde(rename = "PLAYERS_SNAPSHOT")]
    PlayersSnapshot {
        /// Positions by user id.
        snapshot: BTreeMap<String, SnapshotPosition>,
        /// Looks by user id.
        players_data: BTreeMap<String, PlayerData>,
    },
    /// The session is over.
    #[serde(rename = "KICKED")]
    Kicked {
        /// Why.
        d: Reason,
    },
    /// Another player entered.
    #[serde(rename = "JOIN_PLAYER")]
    JoinPlayer {
        /// Who.
        user: JoinedUser,
        /// Where.
        position: Position,
    },
    /// Another player left.
    #[serde(rename = "LEAVE_PLAYER")]
    LeavePlayer {
        /// Who.
        user_id: String,
    },
    /// A player moved.
    #[serde(rename = "PLAYER_MOVEMENT")]
    PlayerMovement {
        /// Who.
        user_id: String,
        /// Velocity.
        velocity: Velocity,
        /// Position.
        position: Position,
    },
    /// A chat message, to everyone (`ALL`) or to the sender's proximity groups (`NEARBY`).
    #[serde(rename = "SEND_MESSAGE")]
    SendMessage {
        /// Text.
        text: String,
        /// `ALL` or `NEARBY`.
        #[ts(type = "\"ALL\" | \"NEARBY\"")]
        to: String,
        /// The sender's user id.
        from: String,
        /// The server's UTC time of day, `HH:MM`.
        date: String,
    },
    /// Users to add to (`merge`) or set as (`!merge`) the group-players list.
    #[serde(rename = "WIRE_PLAYER")]
    WirePlayer {
        /// Add (true) or replace (false).
        merge: bool,
        /// Ids.
        ids: Vec<String>,
    },
    /// Users to remove from (`merge`) or set as (`!merge`) the group-players list.
    #[serde(rename = "UNWIRE_PLAYER")]
    UnwirePlayer {
        /// Remove (true) or replace (false).
        merge: bool,
        /// Ids.
        ids: Vec<String>,
    },
    /// The groups (media rooms) the user is in now.
    #[serde(rename = "GROUPS_SNAPSHOT")]
    GroupsSnapshot {
        /// Group ids.
        groups: Vec<String>,
    },
    /// A group the user was in is gone.
    #[serde(rename = "CLOSE_ROOM")]
    CloseRoom {
        /// Group id.
        group: String,
    },
    /// A listener asks for the floor (to managers).
    #[serde(rename = "REQUEST_TO_SPEAK")]
    RequestToSpeak {
        /// Who asks.
        d: SpeakRequest,
    },
    /// The manager's answer (to the requester).
    #[serde(rename = "PERMISSION_TO_SPEAK")]
    PermissionToSpeak {
        /// The answer.
        d: SpeakPermission,
    },
    /// A peer stopped screen sharing.
    #[serde(rename = "close-media")]
    CloseMedia {
        /// Who.
        #[serde(rename = "peerId")]
        peer_id: String,
    },
    /// A peer paused or resumed a producer.
    #[serde(rename = "toggle-peer-producer")]
    TogglePeerProducer {
        /// Whose.
        #[serde(rename = "peerId")]
        peer_id: String,
        /// `audio` or `video`.
        kind: String,
        /// Paused.
        pause: bool,
    },
    /// Voice activity (original spelling).
    #[serde(rename = "active_speaker")]
    ActiveSpeakerUnderscore {
        /// Who.
        #[serde(rename = "peerId")]
        peer_id: String,
        /// Speaking.
        value: bool,
        /// The room, when the SFU detected the voice activity (absent when the client said so).
        #[serde(default, rename = "roomId", skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        room_id: Option<String>,
    },
    /// Voice activity (the spelling the original client listens for).
    #[serde(rename = "active-speaker")]
    ActiveSpeakerHyphen {
        /// Who.
        #[serde(rename = "peerId")]
        peer_id: String,
        /// Speaking.
        value: bool,
        /// The room, when the SFU detected the voice activity (absent when the client said so).
        #[serde(default, rename = "roomId", skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        room_id: Option<String>,
    },
    /// Files offered by a nearby user.
    #[serde(rename = "ADD_USER_FILES")]
    AddUserFiles {
        /// The files.
        d: FileList,
    },
    /// A file withdrawn.
    #[serde(rename = "REMOVE_USER_FILE")]
    RemoveUserFile {
        /// The file.
        d: OneFile,
    },
    /// All files of a user withdrawn.
    #[serde(rename = "REMOVE_ALL_USER_FILES")]
    RemoveAllUserFiles {
        /// Whose.
        d: UserRef,
    },
    /// Files of nearby users.
    #[serde(rename = "GET_ROOM_USERS_FILES")]
    GetRoomUsersFiles {
        /// The files.
        d: FileList,
    },
    /// Someone asks for one of your files.
    #[serde(rename = "DOWNLOAD_REQUEST")]
    DownloadRequest {
        /// Which file, and who asks.
        d: FileRequest,
    },
    /// Your download was refused.
    #[serde(rename = "DENY_DOWNLOAD_REQUEST")]
    DenyDownloadRequest {
        /// Who refused, and why.
        d: DownloadRefusal,
    },
    /// Your download was accepted.
    #[serde(rename = "ACCEPT_DOWNLOAD_REQUEST")]
    AcceptDownloadRequest {
        /// The file.
        d: OneFile,
    },
    /// Start streaming the file.
    #[serde(rename = "START_DOWNLOAD")]
    StartDownload,
    /// (CrowdWire extension) How another player is present: its connection dropped and the
    /// server keeps its place for the reconnection grace (`reconnecting`), or it is back
    /// (`online`). Sent to those who get the player's `JOIN_PLAYER` and `LEAVE_PLAYER`, and to
    /// a newcomer after its `PLAYERS_SNAPSHOT` for each player reconnecting then (everyone
    /// else in the snapshot is online). The original client ignores the topic.
    #[serde(rename = "PLAYER_PRESENCE")]
    PlayerPresence {
        /// Who (the id its `JOIN_PLAYER` and `LEAVE_PLAYER` carry).
        user_id: String,
        /// Its connection's state.
        state: PresenceState,
    },
    /// (CrowdWire extension) The world's map was edited: fetch it again
    /// (`GET /api/v1/worlds/{id}`) and redraw. The server already uses the new walls and
    /// conference areas.
    #[serde(rename = "MAP_UPDATED")]
    MapUpdated,
    /// Something the client sent was refused or could not be handled.
    #[serde(rename = "error")]
    Error {
        /// What and why.
        d: ErrorDetail,
    },
}

impl ServerMessage {
    /// An `error` message: `{"topic": "error", "d": {"topic": <topic>, "message": <text>}}`.
    pub fn error(topic: Option<&str>, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            d: ErrorDetail {
                topic: topic.map(str::to_owned),
                message: message.into(),
            },
        }
    }

    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }
}

/// `d` of a media message: mediasoup parameters, opaque to the world, with the room and peer
/// they concern; a `-done` reply carries `error` when its request was refused.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(type = "{ roomId: string, peerId?: string, error?: string, [key: string]: unknown }")]
pub struct MediaPayload(pub serde_json::Map<String, Value>);

/// A message to a client from the media layer (the SFU, in-process or on a media node).
/// mediasoup-client reads the parameters in `d`; the world relays these without reading them.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[serde(tag = "topic")]
pub enum MediaMessage {
    /// You joined a room's media as a speaker: router capabilities and send/receive transports.
    #[serde(rename = "you-joined-as-speaker")]
    YouJoinedAsSpeaker {
        /// Router capabilities and transport parameters.
        d: MediaPayload,
    },
    /// You joined a room's media as a listener (receive transport only).
    #[serde(rename = "you-joined-as-peer")]
    YouJoinedAsPeer {
        /// Router capabilities and transport parameters.
        d: MediaPayload,
    },
    /// You were given the floor: a send transport to produce on.
    #[serde(rename = "you-are-now-a-speaker")]
    YouAreNowASpeaker {
        /// Send transport parameters.
        d: MediaPayload,
    },
    /// A peer in your room produced a track: consume it.
    #[serde(rename = "new-peer-producer")]
    NewPeerProducer {
        /// Consumer parameters.
        d: MediaPayload,
    },
    /// A peer in your room opened a data channel (file transfer): consume it.
    #[serde(rename = "new-peer-data-producer")]
    NewPeerDataProducer {
        /// Data consumer parameters.
        d: MediaPayload,
    },
    /// Answer to `@connect-transport` for a send transport.
    #[serde(rename = "@connect-transport-send-done")]
    ConnectTransportSendDone {
        /// Room and peer, or `error`.
        d: MediaPayload,
    },
    /// Answer to `@connect-transport` for a receive transport.
    #[serde(rename = "@connect-transport-recv-done")]
    ConnectTransportRecvDone {
        /// Room and peer, or `error`.
        d: MediaPayload,
    },
    /// Answer to `@send-track`: the producer's id.
    #[serde(rename = "@send-track-send-done")]
    SendTrackDone {
        /// `id`, or `error`.
        d: MediaPayload,
    },
    /// Answer to `@send-file`: the data producer's id.
    #[serde(rename = "@send-file-send-done")]
    SendFileDone {
        /// `id`, or `error`.
        d: MediaPayload,
    },
    /// Answer to `@get-recv-tracks`: a consumer for each track the room's other peers produce.
    #[serde(rename = "@get-recv-tracks-done")]
    GetRecvTracksDone {
        /// `consumerParametersArr`, or `error`.
        d: MediaPayload,
    },
}

/// What a refused media request gets: first the `-done` reply its mediasoup-client request
/// awaits, carrying `error` (so the request settles), then an `error` naming the request. Used
/// by the SFU, the media nodes' stand-ins and the engine's own refusals alike.
pub fn media_error_replies(topic: &str, room: &str, peer: &str, direction: Option<&str>, message: &str) -> Vec<Value> {
    let done = match topic {
        "@connect-transport" => Some(format!(
            "@connect-transport-{}-done",
            if direction == Some("recv") { "recv" } else { "send" }
        )),
        "@send-track" => Some("@send-track-send-done".to_owned()),
        "@send-file" => Some("@send-file-send-done".to_owned()),
        "@get-recv-tracks" => Some("@get-recv-tracks-done".to_owned()),
        _ => None,
    };
    let mut out = Vec::new();
    if let Some(t) = done {
        out.push(serde_json::json!({"topic": t, "d": {"error": message, "roomId": room, "peerId": peer}}));
    }
    out.push(serde_json::json!({"topic": "error", "d": {"topic": topic, "message": message}}));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_client_topic() {
        let cases = [
            (r#"{"topic":"PING","position":{"x":1,"y":2}}"#, "PING"),
            (r#"{"topic":"PING","position":{}}"#, "PING"),
            (
                r#"{"topic":"PLAYER_MOVEMENT","position":{"x":1,"y":2},"velocity":{"x":0,"y":200}}"#,
                "PLAYER_MOVEMENT",
            ),
            (r#"{"topic":"JOIN_PLAYER","position":{"x":50,"y":50}}"#, "JOIN_PLAYER"),
            (r#"{"topic":"SEND_MESSAGE","text":"hi","to":"ALL"}"#, "SEND_MESSAGE"),
            (r#"{"topic":"WIRE_PLAYER","users_id":["2",3]}"#, "WIRE_PLAYER"),
            (r#"{"topic":"UNWIRE_PLAYER","users_id":[]}"#, "UNWIRE_PLAYER"),
            (
                r#"{"topic":"JOIN_CONFERENCE","conference_id":"C1-4"}"#,
                "JOIN_CONFERENCE",
            ),
            (
                r#"{"topic":"LEAVE_CONFERENCE","conference_id":"C1-4"}"#,
                "LEAVE_CONFERENCE",
            ),
            (
                r#"{"topic":"REQUEST_TO_SPEAK","conference":"C1-4"}"#,
                "REQUEST_TO_SPEAK",
            ),
            (
                r#"{"topic":"PERMISSION_TO_SPEAK","conference":"C1-4","permission":true,"user_requested":"7"}"#,
                "PERMISSION_TO_SPEAK",
            ),
            (r#"{"topic":"close-media"}"#, "close-media"),
            (
                r#"{"topic":"toggle-producer","d":{"kind":"audio","pause":true}}"#,
                "toggle-producer",
            ),
            (
                r#"{"topic":"speaking_change","d":{"roomId":"3","value":true}}"#,
                "speaking_change",
            ),
            (
                r#"{"topic":"@connect-transport","d":{"roomId":"3"}}"#,
                "@connect-transport",
            ),
            (
                r#"{"topic":"ADD_USER_FILES","files":[{"id":1,"name":"a","owner":"2"}]}"#,
                "ADD_USER_FILES",
            ),
            (r#"{"topic":"REMOVE_USER_FILE","file":{"id":1}}"#, "REMOVE_USER_FILE"),
            (r#"{"topic":"REMOVE_ALL_USER_FILES"}"#, "REMOVE_ALL_USER_FILES"),
            (r#"{"topic":"GET_ROOM_USERS_FILES"}"#, "GET_ROOM_USERS_FILES"),
            (
                r#"{"topic":"DOWNLOAD_REQUEST","file":{"owner":"2"}}"#,
                "DOWNLOAD_REQUEST",
            ),
            (
                r#"{"topic":"DENY_DOWNLOAD_REQUEST","d":{"user_id":"3","reason":"no"}}"#,
                "DENY_DOWNLOAD_REQUEST",
            ),
            (
                r#"{"topic":"ACCEPT_DOWNLOAD_REQUEST","d":{"user_id":3,"file":{}}}"#,
                "ACCEPT_DOWNLOAD_REQUEST",
            ),
            (r#"{"topic":"START_DOWNLOAD","d":{"user_id":"2"}}"#, "START_DOWNLOAD"),
            (r#"{"topic":"KICK_PLAYER","user_id":"2","ban":true}"#, "KICK_PLAYER"),
        ];
        for (text, topic) in cases {
            let m = ClientMessage::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(m.topic(), topic);
        }
        assert_eq!(
            ClientMessage::parse(r#"{"topic":"NEW","x":1}"#).unwrap_err(),
            ParseError {
                topic: Some("NEW".into()),
                message: UNKNOWN_TOPIC.into()
            }
        );
    }

    #[test]
    fn malformed_input_is_an_error_value() {
        for text in [
            "",
            "{",
            "[]",
            "3",
            r#"{"no":"topic"}"#,
            r#"{"topic":5}"#,
            r#"{"topic":"PLAYER_MOVEMENT"}"#,
            r#"{"topic":"PLAYER_MOVEMENT","position":{}}"#,
            r#"{"topic":"SEND_MESSAGE","text":5,"to":"ALL"}"#,
            r#"{"topic":"WIRE_PLAYER","users_id":[{"x":1}]}"#,
            r#"{"topic":"@send-track","d":"x"}"#,
            r#"{"topic":"@send-track"}"#,
            r#"{"topic":"toggle-producer","kind":"audio","pause":true}"#,
        ] {
            assert!(ClientMessage::parse(text).is_err(), "{text} should not parse");
        }
    }

    #[test]
    fn server_messages_have_the_original_shapes() {
        let m = ServerMessage::WirePlayer {
            merge: true,
            ids: vec!["2".into()],
        };
        assert_eq!(m.to_json(), r#"{"topic":"WIRE_PLAYER","merge":true,"ids":["2"]}"#);
        let m = ServerMessage::CloseRoom { group: "4".into() };
        assert_eq!(m.to_json(), r#"{"topic":"CLOSE_ROOM","group":"4"}"#);
        let m = ServerMessage::Kicked {
            d: Reason { reason: "x".into() },
        };
        assert_eq!(m.to_json(), r#"{"topic":"KICKED","d":{"reason":"x"}}"#);
        let m = ServerMessage::ActiveSpeakerHyphen {
            peer_id: "2".into(),
            value: true,
            room_id: None,
        };
        assert_eq!(m.to_json(), r#"{"topic":"active-speaker","peerId":"2","value":true}"#);
        let m = ServerMessage::SendMessage {
            text: "hi".into(),
            to: "NEARBY".into(),
            from: "7".into(),
            date: "09:05".into(),
        };
        assert_eq!(
            m.to_json(),
            r#"{"topic":"SEND_MESSAGE","text":"hi","to":"NEARBY","from":"7","date":"09:05"}"#
        );
        let m = ServerMessage::PlayersSnapshot {
            snapshot: [
                ("2".to_owned(), Some(Position { x: 1.0, y: 2.0 }).into()),
                ("3".to_owned(), None.into()),
            ]
            .into(),
            players_data: Default::default(),
        };
        assert_eq!(
            m.to_json(),
            r#"{"topic":"PLAYERS_SNAPSHOT","snapshot":{"2":{"x":1.0,"y":2.0},"3":{}},"players_data":{}}"#
        );
        assert_eq!(ServerMessage::StartDownload.to_json(), r#"{"topic":"START_DOWNLOAD"}"#);
    }

    #[test]
    fn player_presence_names_the_user_and_the_state() {
        let m = ServerMessage::PlayerPresence {
            user_id: "2".into(),
            state: PresenceState::Reconnecting,
        };
        assert_eq!(
            m.to_json(),
            r#"{"topic":"PLAYER_PRESENCE","user_id":"2","state":"reconnecting"}"#
        );
        let m = ServerMessage::PlayerPresence {
            user_id: "0b7c9a7e-52f4-4a38-9d0b-3c1f7b1f2a55".into(),
            state: PresenceState::Online,
        };
        assert_eq!(
            m.to_json(),
            r#"{"topic":"PLAYER_PRESENCE","user_id":"0b7c9a7e-52f4-4a38-9d0b-3c1f7b1f2a55","state":"online"}"#
        );
    }
}
