//! What the world tells clients: [`ServerMessage`] and its payloads.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

use super::{Position, Velocity};

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
