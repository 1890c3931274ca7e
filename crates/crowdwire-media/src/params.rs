//! mediasoup-client's parameter shapes, as the browser sends and expects them.
//!
//! Incoming shapes are parsed once at the edge with serde, with every field the SFU relies
//! on checked here; nothing client-supplied reaches str0m unchecked (its direct API panics
//! on inconsistent input). Outgoing shapes are built with `json!` in [`crate::caps`] and
//! [`crate::sfu`], because they are written, never read back.

use serde::Deserialize;
use serde_json::Value;

/// `dtlsParameters` of `@connect-transport`.
#[derive(Debug, Clone, Deserialize)]
pub struct DtlsParameters {
    /// `client`, `server` or `auto`.
    #[serde(default)]
    pub role: Option<String>,
    /// The browser's certificate fingerprints.
    pub fingerprints: Vec<DtlsFingerprint>,
}

/// One certificate fingerprint.
#[derive(Debug, Clone, Deserialize)]
pub struct DtlsFingerprint {
    /// Hash algorithm, e.g. `sha-256`.
    pub algorithm: String,
    /// Upper-case hex bytes joined by `:`.
    pub value: String,
}

/// `d` of `@connect-transport`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectTransport {
    /// The transport.
    pub transport_id: String,
    /// The browser's DTLS parameters.
    pub dtls_parameters: DtlsParameters,
    /// `send` or `recv`.
    #[serde(default)]
    pub direction: Option<String>,
}

/// A codec of `rtpParameters` or `rtpCapabilities`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Codec {
    /// e.g. `video/VP8`.
    pub mime_type: String,
    /// In `rtpParameters`.
    #[serde(default)]
    pub payload_type: Option<u8>,
    /// In `rtpCapabilities`.
    #[serde(default)]
    pub preferred_payload_type: Option<u8>,
    /// Clock rate.
    pub clock_rate: u32,
    /// Audio channels.
    #[serde(default)]
    pub channels: Option<u8>,
    /// Format parameters (`apt`, `profile-id`, `packetization-mode`, …).
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
}

impl Codec {
    /// The lower-cased mime type.
    pub fn mime(&self) -> String {
        self.mime_type.to_ascii_lowercase()
    }

    /// Whether this is an RTX entry.
    pub fn is_rtx(&self) -> bool {
        self.mime().ends_with("/rtx")
    }

    /// The `apt` of an RTX entry.
    pub fn apt(&self) -> Option<u8> {
        self.parameters
            .get("apt")
            .and_then(|v| v.as_u64())
            .and_then(|v| u8::try_from(v).ok())
    }
}

/// A header extension of `rtpParameters`.
#[derive(Debug, Clone, Deserialize)]
pub struct HeaderExtension {
    /// URI.
    pub uri: String,
    /// Id on the wire.
    pub id: u8,
}

/// A header extension of `rtpCapabilities`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityExtension {
    /// `audio` or `video`.
    #[serde(default)]
    pub kind: Option<String>,
    /// URI.
    pub uri: String,
}

/// An encoding of `rtpParameters`.
#[derive(Debug, Clone, Deserialize)]
pub struct Encoding {
    /// Media SSRC.
    #[serde(default)]
    pub ssrc: Option<u32>,
    /// Simulcast stream id.
    #[serde(default)]
    pub rid: Option<String>,
    /// RTX stream.
    #[serde(default)]
    pub rtx: Option<RtxEncoding>,
}

/// The RTX part of an encoding.
#[derive(Debug, Clone, Deserialize)]
pub struct RtxEncoding {
    /// RTX SSRC.
    pub ssrc: u32,
}

/// `rtcp` of `rtpParameters`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Rtcp {
    /// Canonical name.
    #[serde(default)]
    pub cname: Option<String>,
}

/// `rtpParameters` of a produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpParameters {
    /// The browser's m-line mid.
    #[serde(default)]
    pub mid: Option<String>,
    /// Codecs, media codec first.
    pub codecs: Vec<Codec>,
    /// Header extensions with the ids the browser sends.
    #[serde(default)]
    pub header_extensions: Vec<HeaderExtension>,
    /// Encodings.
    #[serde(default)]
    pub encodings: Vec<Encoding>,
    /// RTCP settings.
    #[serde(default)]
    pub rtcp: Rtcp,
}

/// `rtpCapabilities` of a device.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RtpCapabilities {
    /// Codecs the device can receive.
    #[serde(default)]
    pub codecs: Vec<CapabilityCodec>,
    /// Header extensions the device understands.
    #[serde(default)]
    pub header_extensions: Vec<CapabilityExtension>,
}

/// A codec of `rtpCapabilities`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CapabilityCodec {
    /// e.g. `video/VP8`.
    pub mime_type: String,
    /// Clock rate.
    pub clock_rate: u32,
    /// Format parameters.
    #[serde(default)]
    pub parameters: serde_json::Map<String, Value>,
}

/// `d` of `@send-track`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendTrack {
    /// The send transport.
    pub transport_id: String,
    /// `audio` or `video`.
    pub kind: String,
    /// The producer's parameters.
    pub rtp_parameters: RtpParameters,
    /// Start paused.
    #[serde(default)]
    pub paused: bool,
    /// `{mediaTag}`.
    #[serde(default)]
    pub app_data: AppData,
}

/// `appData` with the original's `mediaTag`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AppData {
    /// `audio`, `video`, `media` (screen) or `file`.
    #[serde(default)]
    pub media_tag: Option<String>,
}

/// `sctpStreamParameters`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SctpStreamParameters {
    /// The negotiated stream id.
    pub stream_id: u16,
    /// Ordered delivery (default true).
    #[serde(default)]
    pub ordered: Option<bool>,
    /// Partial reliability by lifetime.
    #[serde(default)]
    pub max_packet_life_time: Option<u16>,
    /// Partial reliability by retransmits.
    #[serde(default)]
    pub max_retransmits: Option<u16>,
}

/// `d` of `@send-file`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendFile {
    /// The send transport.
    pub transport_id: String,
    /// The data producer's stream.
    pub sctp_stream_parameters: SctpStreamParameters,
    /// Channel label.
    #[serde(default)]
    pub label: Option<String>,
    /// Sub-protocol.
    #[serde(default)]
    pub protocol: Option<String>,
    /// `{mediaTag}`.
    #[serde(default)]
    pub app_data: AppData,
}

/// `d` of `@get-recv-tracks`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GetRecvTracks {
    /// The receiving device's capabilities.
    pub rtp_capabilities: RtpCapabilities,
}

/// Parses a signalling payload, turning serde's message into the client-facing error.
pub fn parse<T: serde::de::DeserializeOwned>(d: &Value) -> Result<T, String> {
    T::deserialize(d).map_err(|e| format!("invalid parameters: {e}"))
}

/// A DTLS fingerprint's bytes as `dtlsParameters` carry them: upper-case hex pairs
/// joined by colons.
pub fn fingerprint_value(fp: &str0m::config::Fingerprint) -> String {
    fp.bytes
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn send_track_parses_mediasoup_client_parameters() {
        let d = json!({
            "roomId": "3", "transportId": "t1", "kind": "video", "paused": false,
            "appData": {"mediaTag": "video"},
            "rtpParameters": {
                "mid": "0",
                "codecs": [
                    {"mimeType": "video/VP8", "payloadType": 96, "clockRate": 90000, "parameters": {}, "rtcpFeedback": []},
                    {"mimeType": "video/rtx", "payloadType": 97, "clockRate": 90000, "parameters": {"apt": 96}}
                ],
                "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": 9, "encrypt": false, "parameters": {}}],
                "encodings": [{"ssrc": 1234, "rtx": {"ssrc": 5678}, "dtx": false}],
                "rtcp": {"cname": "abc", "reducedSize": true}
            }
        });
        let t: SendTrack = parse(&d).expect("parses");
        assert_eq!(t.rtp_parameters.codecs[1].apt(), Some(96));
        assert!(t.rtp_parameters.codecs[1].is_rtx());
        assert_eq!(t.rtp_parameters.encodings[0].rtx.as_ref().map(|r| r.ssrc), Some(5678));
        assert_eq!(t.app_data.media_tag.as_deref(), Some("video"));
    }

    #[test]
    fn wrong_types_are_errors_not_panics() {
        let err = parse::<SendTrack>(&json!({"transportId": 5})).unwrap_err();
        assert!(err.starts_with("invalid parameters"), "{err}");
        let err = parse::<ConnectTransport>(&json!({"transportId": "x", "dtlsParameters": {"fingerprints": "no"}}))
            .unwrap_err();
        assert!(err.contains("invalid"), "{err}");
    }
}
