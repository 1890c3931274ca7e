//! What clients send: [`ClientMessage`] and its payloads, parsed leniently where the
//! original client is.

use serde::Deserialize;
use serde_json::Value;
use ts_rs::TS;

use super::{MaybePosition, Position, Velocity, WireId};

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
        self.0.get("roomId").and_then(WireId::from_value).map(|id| id.0)
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
        // Most frames are well formed: read them straight into the enum, without a JSON tree
        // first. Anything else (an unknown topic, a bad field, duplicate keys) goes through the
        // tree, for the error that names what is wrong. Only an object takes the short way:
        // serde would also read a tagged enum from an array.
        if text.trim_start().starts_with('{')
            && let Ok(m) = serde_json::from_str::<ClientMessage>(text)
            && !matches!(m, ClientMessage::Unknown)
        {
            return Ok(m);
        }
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
}
