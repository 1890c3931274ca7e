//! What the media layer tells clients: [`MediaMessage`], mediasoup-client's signalling, whose
//! parameters the world relays without reading them; and the replies to a refused request.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use ts_rs::TS;

/// `d` of a media message: mediasoup parameters, opaque to the world, with the room and peer
/// they concern; a `-done` reply carries `error` when its request was refused.
#[derive(Clone, Debug, Serialize, Deserialize, TS)]
#[ts(type = "{ roomId: string, peerId?: string, error?: string, [key: string]: unknown }")]
pub struct MediaPayload(pub serde_json::Map<String, Value>);

impl MediaPayload {
    /// The payload of a JSON object written by the media layer itself.
    pub fn of(object: Value) -> MediaPayload {
        match object {
            Value::Object(map) => MediaPayload(map),
            other => panic!("a media payload is a JSON object, not {other}"),
        }
    }
}

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
        /// The receiving peer (as the original server sent it; media nodes route by it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        uid: Option<String>,
    },
    /// A peer in your room opened a data channel (file transfer): consume it.
    #[serde(rename = "new-peer-data-producer")]
    NewPeerDataProducer {
        /// Data consumer parameters.
        d: MediaPayload,
        /// The receiving peer (as the original server sent it; media nodes route by it).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[ts(optional)]
        uid: Option<String>,
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

/// What a refused media request gets, as JSON texts: first the `-done` reply its
/// mediasoup-client request awaits, carrying `error` (so the request settles), then an `error`
/// naming the request. Used by the SFU, the media nodes' stand-ins and the engine's own
/// refusals alike.
pub fn media_error_replies(topic: &str, room: &str, peer: &str, direction: Option<&str>, message: &str) -> Vec<String> {
    let d = MediaPayload::of(serde_json::json!({"error": message, "roomId": room, "peerId": peer}));
    let done = match topic {
        "@connect-transport" if direction == Some("recv") => Some(MediaMessage::ConnectTransportRecvDone { d }),
        "@connect-transport" => Some(MediaMessage::ConnectTransportSendDone { d }),
        "@send-track" => Some(MediaMessage::SendTrackDone { d }),
        "@send-file" => Some(MediaMessage::SendFileDone { d }),
        "@get-recv-tracks" => Some(MediaMessage::GetRecvTracksDone { d }),
        _ => None,
    };
    let error = crate::protocol::ServerMessage::error(Some(topic), message).to_json();
    match done {
        Some(done) => vec![
            serde_json::to_string(&done).expect("media messages always serialise"),
            error,
        ],
        None => vec![error],
    }
}
