//! The WebSocket protocol (see docs/protocol.md), parsed once at the edge into typed messages.
//!
//! Every frame is a JSON object with a `topic`. Client messages become [`ClientMessage`];
//! an unknown topic becomes [`ClientMessage::Unknown`] and malformed input a [`ParseError`],
//! both answered with an `error` message rather than ending the session. Server messages are
//! [`ServerMessage`], serialised to exactly the shapes the original client reads.
//!
//! User ids travel as strings: the decimal id of a registered user, or a guest's UUID.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A position in map pixels (the avatar container's origin, as the client sends it).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
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
#[derive(Clone, Copy, Debug, Default, Deserialize)]
pub struct MaybePosition {
    x: Option<f64>,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Velocity {
    /// X.
    #[serde(default)]
    pub x: f64,
    /// Y.
    #[serde(default)]
    pub y: f64,
}

/// A user id as sent by a client: a number or a string; normalised to a string.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
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
#[derive(Clone, Debug, Deserialize)]
pub struct ToggleProducer {
    /// `audio` or `video`.
    pub kind: String,
    /// Pause (true) or resume.
    pub pause: bool,
    /// Whose producer; absent for one's own. Another user's needs `world_mute`.
    #[serde(default, rename = "peerId")]
    pub peer_id: Option<WireId>,
}

/// `d` of `speaking_change`.
#[derive(Clone, Debug, Deserialize)]
pub struct SpeakingChange {
    /// Speaking or not.
    pub value: bool,
}

/// `d` of `DENY_DOWNLOAD_REQUEST`.
#[derive(Clone, Debug, Deserialize)]
pub struct DenyDownload {
    /// The downloader.
    pub user_id: WireId,
    /// Why.
    #[serde(default)]
    pub reason: Option<String>,
}

/// `d` of `ACCEPT_DOWNLOAD_REQUEST`.
#[derive(Clone, Debug, Deserialize)]
pub struct AcceptDownload {
    /// The downloader.
    pub user_id: WireId,
    /// The file's metadata.
    pub file: Value,
}

/// `d` of `START_DOWNLOAD`.
#[derive(Clone, Debug, Deserialize)]
pub struct StartDownload {
    /// The file's owner.
    pub user_id: WireId,
}

/// The media signalling topics relayed to the media layer with the sender as `peerId`.
pub const MEDIA_SIGNAL_TOPICS: [&str; 5] = [
    "@connect-transport",
    "@get-recv-tracks",
    "@send-track",
    "@send-file",
    "@connect-transport-send-done",
];

/// A message from a client.
#[derive(Clone, Debug)]
pub enum ClientMessage {
    /// Heartbeat with the last position; answered with the text `PONG`.
    Ping {
        /// Last position.
        position: Option<Position>,
    },
    /// The avatar moved.
    PlayerMovement {
        /// New position.
        position: Position,
        /// Velocity.
        velocity: Velocity,
    },
    /// The scene started at this spawn point.
    JoinPlayer {
        /// Spawn point (`None`: the default).
        position: Option<Position>,
    },
    /// Chat to `ALL` or `NEARBY`.
    SendMessage {
        /// Text.
        text: String,
        /// `ALL` or `NEARBY`.
        to: String,
    },
    /// Client-side proximity claim: these users came near (a hint).
    WirePlayer {
        /// Claimed ids.
        users_id: Vec<WireId>,
    },
    /// Client-side proximity claim: these users went away (a hint).
    UnwirePlayer {
        /// Claimed ids.
        users_id: Vec<WireId>,
    },
    /// Enter a conference (`C<n>-<world_id>`).
    JoinConference {
        /// Conference id.
        conference_id: String,
    },
    /// Leave a conference.
    LeaveConference {
        /// Conference id.
        conference_id: String,
    },
    /// A listener asks for the floor.
    RequestToSpeak {
        /// Conference id.
        conference: String,
    },
    /// A manager grants or denies the floor.
    PermissionToSpeak {
        /// Conference id.
        conference: String,
        /// Granted.
        permission: bool,
        /// The requester.
        user_requested: WireId,
    },
    /// Stop screen sharing.
    CloseMedia,
    /// Pause or resume a producer.
    ToggleProducer(ToggleProducer),
    /// Voice activity of the sender.
    SpeakingChange(SpeakingChange),
    /// Media signalling to relay (`@connect-transport`, `@get-recv-tracks`, `@send-track`, `@send-file`).
    MediaSignal {
        /// The topic.
        topic: String,
        /// Its `d`.
        d: Value,
    },
    /// Offer files to nearby users.
    AddUserFiles {
        /// File metadata (opaque, with `owner`).
        files: Vec<Value>,
    },
    /// Withdraw one file.
    RemoveUserFile {
        /// The file.
        file: Value,
    },
    /// Withdraw every file.
    RemoveAllUserFiles,
    /// List the files of nearby users.
    GetRoomUsersFiles,
    /// Ask a file's owner for it.
    DownloadRequest {
        /// The file (with `owner`).
        file: Value,
    },
    /// Refuse a download.
    DenyDownloadRequest(DenyDownload),
    /// Accept a download.
    AcceptDownloadRequest(AcceptDownload),
    /// Tell the owner to start streaming.
    StartDownload(StartDownload),
    /// (CrowdWire extension) Kick a user from the world, optionally banning them; needs `ban`.
    KickPlayer {
        /// Whom.
        user_id: WireId,
        /// Also ban from the world.
        ban: bool,
    },
    /// A topic this server does not handle.
    Unknown {
        /// The topic.
        topic: String,
    },
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

#[derive(Deserialize)]
struct PositionOnly {
    #[serde(default)]
    position: Option<MaybePosition>,
}

#[derive(Deserialize)]
struct Movement {
    position: MaybePosition,
    #[serde(default)]
    velocity: Option<Velocity>,
}

#[derive(Deserialize)]
struct Chat {
    text: String,
    to: String,
}

#[derive(Deserialize)]
struct Claims {
    #[serde(default)]
    users_id: Vec<WireId>,
}

#[derive(Deserialize)]
struct ConferenceId {
    conference_id: String,
}

#[derive(Deserialize)]
struct Conference {
    conference: String,
}

#[derive(Deserialize)]
struct Permission {
    conference: String,
    permission: bool,
    user_requested: WireId,
}

#[derive(Deserialize)]
struct D<T> {
    d: T,
}

#[derive(Deserialize)]
struct Files {
    files: Vec<Value>,
}

#[derive(Deserialize)]
struct OneFile {
    file: Value,
}

#[derive(Deserialize)]
struct Kick {
    user_id: WireId,
    #[serde(default)]
    ban: bool,
}

fn field<T: serde::de::DeserializeOwned>(topic: &str, v: Value) -> Result<T, ParseError> {
    serde_json::from_value(v).map_err(|e| ParseError {
        topic: Some(topic.to_owned()),
        message: format!("invalid {topic}: {e}"),
    })
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
        let Value::Object(obj) = value else {
            return Err(ParseError {
                topic: None,
                message: "a message must be a JSON object with a topic".into(),
            });
        };
        let topic = match obj.get("topic") {
            Some(Value::String(t)) => t.clone(),
            _ => {
                return Err(ParseError {
                    topic: None,
                    message: "a message must have a string topic".into(),
                });
            }
        };
        let v = Value::Object(obj);
        let t = topic.as_str();
        Ok(match t {
            "PING" => ClientMessage::Ping {
                position: field::<PositionOnly>(t, v)?.position.and_then(|p| p.get()),
            },
            "PLAYER_MOVEMENT" => {
                let m: Movement = field(t, v)?;
                let position = m.position.get().ok_or_else(|| ParseError {
                    topic: Some(topic.clone()),
                    message: "PLAYER_MOVEMENT needs a position {x, y}".into(),
                })?;
                ClientMessage::PlayerMovement {
                    position,
                    velocity: m.velocity.unwrap_or_default(),
                }
            }
            "JOIN_PLAYER" => ClientMessage::JoinPlayer {
                position: field::<PositionOnly>(t, v)?.position.and_then(|p| p.get()),
            },
            "SEND_MESSAGE" => {
                let c: Chat = field(t, v)?;
                ClientMessage::SendMessage { text: c.text, to: c.to }
            }
            "WIRE_PLAYER" => ClientMessage::WirePlayer {
                users_id: field::<Claims>(t, v)?.users_id,
            },
            "UNWIRE_PLAYER" => ClientMessage::UnwirePlayer {
                users_id: field::<Claims>(t, v)?.users_id,
            },
            "JOIN_CONFERENCE" => ClientMessage::JoinConference {
                conference_id: field::<ConferenceId>(t, v)?.conference_id,
            },
            "LEAVE_CONFERENCE" => ClientMessage::LeaveConference {
                conference_id: field::<ConferenceId>(t, v)?.conference_id,
            },
            "REQUEST_TO_SPEAK" => ClientMessage::RequestToSpeak {
                conference: field::<Conference>(t, v)?.conference,
            },
            "PERMISSION_TO_SPEAK" => {
                let p: Permission = field(t, v)?;
                ClientMessage::PermissionToSpeak {
                    conference: p.conference,
                    permission: p.permission,
                    user_requested: p.user_requested,
                }
            }
            "close-media" => ClientMessage::CloseMedia,
            "toggle-producer" => ClientMessage::ToggleProducer(field::<D<ToggleProducer>>(t, v)?.d),
            "speaking_change" => ClientMessage::SpeakingChange(field::<D<SpeakingChange>>(t, v)?.d),
            t if MEDIA_SIGNAL_TOPICS.contains(&t) => {
                let d = v.get("d").cloned().unwrap_or(Value::Null);
                if !d.is_object() {
                    return Err(ParseError {
                        topic: Some(topic.clone()),
                        message: format!("{topic} needs an object d"),
                    });
                }
                ClientMessage::MediaSignal {
                    topic: topic.clone(),
                    d,
                }
            }
            "ADD_USER_FILES" => ClientMessage::AddUserFiles {
                files: field::<Files>(t, v)?.files,
            },
            "REMOVE_USER_FILE" => ClientMessage::RemoveUserFile {
                file: field::<OneFile>(t, v)?.file,
            },
            "REMOVE_ALL_USER_FILES" => ClientMessage::RemoveAllUserFiles,
            "GET_ROOM_USERS_FILES" => ClientMessage::GetRoomUsersFiles,
            "DOWNLOAD_REQUEST" => ClientMessage::DownloadRequest {
                file: field::<OneFile>(t, v)?.file,
            },
            "DENY_DOWNLOAD_REQUEST" => ClientMessage::DenyDownloadRequest(field::<D<DenyDownload>>(t, v)?.d),
            "ACCEPT_DOWNLOAD_REQUEST" => ClientMessage::AcceptDownloadRequest(field::<D<AcceptDownload>>(t, v)?.d),
            "START_DOWNLOAD" => ClientMessage::StartDownload(field::<D<StartDownload>>(t, v)?.d),
            "KICK_PLAYER" => {
                let k: Kick = field(t, v)?;
                ClientMessage::KickPlayer {
                    user_id: k.user_id,
                    ban: k.ban,
                }
            }
            _ => ClientMessage::Unknown { topic },
        })
    }

    /// The topic, for logs and error replies.
    pub fn topic(&self) -> &str {
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
            ClientMessage::ToggleProducer(_) => "toggle-producer",
            ClientMessage::SpeakingChange(_) => "speaking_change",
            ClientMessage::MediaSignal { topic, .. } => topic,
            ClientMessage::AddUserFiles { .. } => "ADD_USER_FILES",
            ClientMessage::RemoveUserFile { .. } => "REMOVE_USER_FILE",
            ClientMessage::RemoveAllUserFiles => "REMOVE_ALL_USER_FILES",
            ClientMessage::GetRoomUsersFiles => "GET_ROOM_USERS_FILES",
            ClientMessage::DownloadRequest { .. } => "DOWNLOAD_REQUEST",
            ClientMessage::DenyDownloadRequest(_) => "DENY_DOWNLOAD_REQUEST",
            ClientMessage::AcceptDownloadRequest(_) => "ACCEPT_DOWNLOAD_REQUEST",
            ClientMessage::StartDownload(_) => "START_DOWNLOAD",
            ClientMessage::KickPlayer { .. } => "KICK_PLAYER",
            ClientMessage::Unknown { topic } => topic,
        }
    }
}

/// `{role_id, name}` as shown to other players.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct RoleSummary {
    /// Role id.
    pub role_id: i64,
    /// Role name.
    pub name: String,
}

/// How a player appears to others.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct PlayerData {
    /// Display name.
    pub username: String,
    /// Avatar name.
    pub avatar: String,
    /// Role.
    pub role: RoleSummary,
}

/// `JOIN_PLAYER`'s `user`.
#[derive(Clone, Debug, Serialize)]
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
#[derive(Clone, Debug, Serialize)]
pub struct Reason {
    /// Why.
    pub reason: String,
}

/// The state of a player's connection, as `PLAYER_PRESENCE` tells it. (A player's chosen
/// availability, when there is one, is to travel in a field of its own next to `state`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PresenceState {
    /// Connected.
    Online,
    /// Its connection dropped; its place is kept for the reconnection grace.
    Reconnecting,
}

/// A message to a client.
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "topic")]
pub enum ServerMessage {
    /// Everyone in the world (positions, `{}` when unknown) and how they look.
    #[serde(rename = "PLAYERS_SNAPSHOT")]
    PlayersSnapshot {
        /// Positions by user id.
        snapshot: serde_json::Map<String, Value>,
        /// Looks by user id.
        players_data: serde_json::Map<String, Value>,
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
        /// `{user_requested}`.
        d: Value,
    },
    /// The manager's answer (to the requester).
    #[serde(rename = "PERMISSION_TO_SPEAK")]
    PermissionToSpeak {
        /// `{permission}`.
        d: Value,
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
    },
    /// Voice activity (the spelling the original client listens for).
    #[serde(rename = "active-speaker")]
    ActiveSpeakerHyphen {
        /// Who.
        #[serde(rename = "peerId")]
        peer_id: String,
        /// Speaking.
        value: bool,
    },
    /// Files offered by a nearby user.
    #[serde(rename = "ADD_USER_FILES")]
    AddUserFiles {
        /// `{files}`.
        d: Value,
    },
    /// A file withdrawn.
    #[serde(rename = "REMOVE_USER_FILE")]
    RemoveUserFile {
        /// `{file}`.
        d: Value,
    },
    /// All files of a user withdrawn.
    #[serde(rename = "REMOVE_ALL_USER_FILES")]
    RemoveAllUserFiles {
        /// `{user_id}`.
        d: Value,
    },
    /// Files of nearby users.
    #[serde(rename = "GET_ROOM_USERS_FILES")]
    GetRoomUsersFiles {
        /// `{files}`.
        d: Value,
    },
    /// Someone asks for one of your files.
    #[serde(rename = "DOWNLOAD_REQUEST")]
    DownloadRequest {
        /// `{file, user_id}`.
        d: Value,
    },
    /// Your download was refused.
    #[serde(rename = "DENY_DOWNLOAD_REQUEST")]
    DenyDownloadRequest {
        /// `{user_id, reason}`.
        d: Value,
    },
    /// Your download was accepted.
    #[serde(rename = "ACCEPT_DOWNLOAD_REQUEST")]
    AcceptDownloadRequest {
        /// `{file}`.
        d: Value,
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
    /// The world's map was edited (a CrowdWire addition): fetch it again
    /// (`GET /api/v1/worlds/{id}`) and redraw. The server already uses the new walls and
    /// conference areas.
    #[serde(rename = "MAP_UPDATED")]
    MapUpdated,
    /// Something the client sent was refused or could not be handled.
    #[serde(rename = "error")]
    Error {
        /// What and why.
        d: Value,
    },
}

impl ServerMessage {
    /// An `error` message: `{"topic": "error", "d": {"topic": <topic>, "message": <text>}}`.
    pub fn error(topic: Option<&str>, message: impl Into<String>) -> ServerMessage {
        ServerMessage::Error {
            d: serde_json::json!({ "topic": topic, "message": message.into() }),
        }
    }

    /// The JSON text of this message.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages always serialise")
    }
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
            (r#"{"topic":"SOMETHING_NEW"}"#, "SOMETHING_NEW"),
        ];
        for (text, topic) in cases {
            let m = ClientMessage::parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(m.topic(), topic);
        }
        assert!(matches!(
            ClientMessage::parse(r#"{"topic":"NEW"}"#).unwrap(),
            ClientMessage::Unknown { .. }
        ));
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
        };
        assert_eq!(m.to_json(), r#"{"topic":"active-speaker","peerId":"2","value":true}"#);
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
