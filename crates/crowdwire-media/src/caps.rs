//! The router: which codecs and header extensions the SFU offers, as mediasoup's
//! `routerRtpCapabilities`, and how the same table configures str0m.
//!
//! Receive transports (SFU → browser) use these payload types and extension ids as they
//! are, because the consumer parameters we send dictate them. Send transports (browser →
//! SFU) use the browser's own numbers, learnt from its first produce (see
//! [`crate::sfu`]); this table only supplies the defaults for codecs it has not named yet.

use serde_json::{Value, json};
use str0m::format::{Codec, CodecConfig, FormatParams};
use str0m::media::{Frequency, MediaKind};
use str0m::rtp::{Extension, ExtensionMap};

use crate::params::{CapabilityCodec, RtpCapabilities};

/// One codec the router offers.
#[derive(Debug, Clone, Copy)]
pub struct RouterCodec {
    /// Audio or video.
    pub kind: MediaKind,
    /// Lower-case mime type.
    pub mime: &'static str,
    /// str0m's codec.
    pub codec: Codec,
    /// Router payload type.
    pub pt: u8,
    /// Router RTX payload type (video).
    pub rtx: Option<u8>,
    /// Clock rate.
    pub clock_rate: u32,
    /// Channels (audio).
    pub channels: Option<u8>,
    /// VP9 `profile-id`.
    pub profile_id: Option<u8>,
    /// H.264 `profile-level-id`.
    pub profile_level_id: Option<u32>,
}

/// The router's codecs, in preference order (mediasoup-client produces the first match).
/// Opus carries no `nack`: str0m resends only with RTX, and audio has none.
pub const ROUTER_CODECS: &[RouterCodec] = &[
    RouterCodec {
        kind: MediaKind::Audio,
        mime: "audio/opus",
        codec: Codec::Opus,
        pt: 111,
        rtx: None,
        clock_rate: 48_000,
        channels: Some(2),
        profile_id: None,
        profile_level_id: None,
    },
    RouterCodec {
        kind: MediaKind::Video,
        mime: "video/vp8",
        codec: Codec::Vp8,
        pt: 96,
        rtx: Some(97),
        clock_rate: 90_000,
        channels: None,
        profile_id: None,
        profile_level_id: None,
    },
    RouterCodec {
        kind: MediaKind::Video,
        mime: "video/vp9",
        codec: Codec::Vp9,
        pt: 98,
        rtx: Some(99),
        clock_rate: 90_000,
        channels: None,
        profile_id: Some(0),
        profile_level_id: None,
    },
    RouterCodec {
        kind: MediaKind::Video,
        mime: "video/vp9",
        codec: Codec::Vp9,
        pt: 100,
        rtx: Some(101),
        clock_rate: 90_000,
        channels: None,
        profile_id: Some(2),
        profile_level_id: None,
    },
    RouterCodec {
        kind: MediaKind::Video,
        mime: "video/h264",
        codec: Codec::H264,
        pt: 102,
        rtx: Some(103),
        clock_rate: 90_000,
        channels: None,
        profile_id: None,
        profile_level_id: Some(0x42e01f),
    },
    RouterCodec {
        kind: MediaKind::Video,
        mime: "video/h264",
        codec: Codec::H264,
        pt: 104,
        rtx: Some(105),
        clock_rate: 90_000,
        channels: None,
        profile_id: None,
        profile_level_id: Some(0x4d0032),
    },
];

/// Header-extension URIs.
pub mod uri {
    /// Media id.
    pub const MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
    /// Absolute send time.
    pub const ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
    /// Transport-wide congestion control sequence number.
    pub const TWCC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
    /// Audio level (RFC 6464).
    pub const AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
    /// Video orientation (CVO).
    pub const VIDEO_ORIENTATION: &str = "urn:3gpp:video-orientation";
}

/// The router's header extensions: (uri, id, audio, video). Equal to str0m's standard ids.
pub const ROUTER_EXTENSIONS: &[(&str, u8, bool, bool)] = &[
    (uri::AUDIO_LEVEL, 1, true, false),
    (uri::ABS_SEND_TIME, 2, true, true),
    (uri::TWCC, 3, true, true),
    (uri::MID, 4, true, true),
    (uri::VIDEO_ORIENTATION, 13, false, true),
];

/// str0m's extension for a URI, when str0m parses it itself.
pub fn extension_of(uri_: &str) -> Option<Extension> {
    [
        Extension::AudioLevel,
        Extension::AbsoluteSendTime,
        Extension::TransportSequenceNumber,
        Extension::RtpMid,
        Extension::VideoOrientation,
        Extension::TransmissionTimeOffset,
        Extension::PlayoutDelay,
        Extension::AbsoluteCaptureTime,
        Extension::RtpStreamId,
        Extension::RepairedRtpStreamId,
    ]
    .into_iter()
    .find(|e| e.as_uri() == uri_)
}

impl RouterCodec {
    /// The fmtp parameters as mediasoup writes them.
    pub fn parameters(&self) -> Value {
        match self.codec {
            Codec::Opus => json!({"minptime": 10, "useinbandfec": 1}),
            Codec::Vp9 => json!({"profile-id": self.profile_id.unwrap_or(0), "x-google-start-bitrate": 1000}),
            Codec::H264 => json!({
                "packetization-mode": 1,
                "level-asymmetry-allowed": 1,
                "profile-level-id": format!("{:06x}", self.profile_level_id.unwrap_or(0x42e01f)),
                "x-google-start-bitrate": 1000,
            }),
            _ => json!({"x-google-start-bitrate": 1000}),
        }
    }

    /// RTCP feedback as mediasoup writes it.
    pub fn feedback(&self) -> Value {
        if self.kind == MediaKind::Audio {
            json!([{"type": "transport-cc", "parameter": ""}])
        } else {
            json!([
                {"type": "nack", "parameter": ""},
                {"type": "nack", "parameter": "pli"},
                {"type": "ccm", "parameter": "fir"},
                {"type": "goog-remb", "parameter": ""},
                {"type": "transport-cc", "parameter": ""}
            ])
        }
    }

    /// The kind as mediasoup writes it.
    pub fn kind_str(&self) -> &'static str {
        kind_str(self.kind)
    }

    /// str0m's format parameters for this codec.
    pub fn format(&self) -> FormatParams {
        let mut f = FormatParams::default();
        match self.codec {
            Codec::Opus => {
                f.min_p_time = Some(10);
                f.use_inband_fec = Some(true);
            }
            Codec::Vp9 => f.profile_id = self.profile_id.map(u32::from),
            Codec::H264 => {
                f.packetization_mode = Some(1);
                f.level_asymmetry_allowed = Some(true);
                f.profile_level_id = self.profile_level_id;
            }
            _ => {}
        }
        f
    }

    /// Whether a codec named by a client (`rtpParameters` or capabilities) is this one.
    pub fn matches(&self, mime: &str, clock_rate: u32, parameters: &serde_json::Map<String, Value>) -> bool {
        if !mime.eq_ignore_ascii_case(self.mime) || clock_rate != self.clock_rate {
            return false;
        }
        match self.codec {
            Codec::Vp9 => {
                let p = parameters.get("profile-id").and_then(number_or_string).unwrap_or(0);
                p == u64::from(self.profile_id.unwrap_or(0))
            }
            Codec::H264 => {
                let mode = parameters
                    .get("packetization-mode")
                    .and_then(number_or_string)
                    .unwrap_or(0);
                let profile = parameters
                    .get("profile-level-id")
                    .and_then(|v| v.as_str())
                    .and_then(|s| u32::from_str_radix(s, 16).ok())
                    .unwrap_or(0x42001f);
                // Same profile (the first two bytes, ignoring constraint bits we do not
                // rewrite); the level may differ (level-asymmetry-allowed).
                let ours = self.profile_level_id.unwrap_or(0);
                mode == 1 && (profile >> 16) == (ours >> 16)
            }
            _ => true,
        }
    }
}

fn number_or_string(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// `audio` or `video`.
pub fn kind_str(kind: MediaKind) -> &'static str {
    if kind == MediaKind::Audio { "audio" } else { "video" }
}

/// Parses `audio` / `video`.
pub fn parse_kind(s: &str) -> Option<MediaKind> {
    match s {
        "audio" => Some(MediaKind::Audio),
        "video" => Some(MediaKind::Video),
        _ => None,
    }
}

/// The router codec a producer's codec is, if the router offers it.
pub fn router_codec_for(mime: &str, clock_rate: u32, parameters: &serde_json::Map<String, Value>) -> Option<usize> {
    ROUTER_CODECS
        .iter()
        .position(|c| c.matches(mime, clock_rate, parameters))
}

/// Whether a consumer's device can receive a router codec (judged by the
/// consumer's own capabilities, not the producer's).
pub fn device_can_receive(caps: &RtpCapabilities, codec: &RouterCodec) -> bool {
    caps.codecs
        .iter()
        .any(|c: &CapabilityCodec| codec.matches(&c.mime_type, c.clock_rate, &c.parameters))
}

/// Whether a device can receive RTX.
pub fn device_has_rtx(caps: &RtpCapabilities) -> bool {
    caps.codecs
        .iter()
        .any(|c| c.mime_type.eq_ignore_ascii_case("video/rtx"))
}

/// `routerRtpCapabilities`.
pub fn router_rtp_capabilities() -> Value {
    let mut codecs = Vec::new();
    for c in ROUTER_CODECS {
        let mut entry = json!({
            "kind": c.kind_str(),
            "mimeType": canonical_mime(c.mime),
            "clockRate": c.clock_rate,
            "preferredPayloadType": c.pt,
            "parameters": c.parameters(),
            "rtcpFeedback": c.feedback(),
        });
        if let Some(ch) = c.channels {
            entry["channels"] = json!(ch);
        }
        codecs.push(entry);
        if let Some(rtx) = c.rtx {
            codecs.push(json!({
                "kind": "video",
                "mimeType": "video/rtx",
                "clockRate": c.clock_rate,
                "preferredPayloadType": rtx,
                "parameters": {"apt": c.pt},
                "rtcpFeedback": [],
            }));
        }
    }
    let mut exts = Vec::new();
    for &(u, id, audio, video) in ROUTER_EXTENSIONS {
        for (kind, on) in [("audio", audio), ("video", video)] {
            if on {
                exts.push(json!({
                    "kind": kind, "uri": u, "preferredId": id, "preferredEncrypt": false, "direction": "sendrecv"
                }));
            }
        }
    }
    json!({"codecs": codecs, "headerExtensions": exts})
}

/// The mime type in mediasoup's spelling (`video/VP8`, `audio/opus`, `video/H264`).
pub fn canonical_mime(mime: &str) -> String {
    match mime.split_once('/') {
        Some((kind, "opus")) => format!("{kind}/opus"),
        Some((kind, "rtx")) => format!("{kind}/rtx"),
        Some((kind, name)) => format!("{kind}/{}", name.to_ascii_uppercase()),
        None => mime.to_owned(),
    }
}

/// The codec config of a receive transport: the router's codecs at the router's numbers.
pub fn recv_codec_config(config: &mut CodecConfig) {
    for c in ROUTER_CODECS {
        add_codec(config, c, c.pt, c.rtx);
    }
}

/// Adds one codec to a str0m codec config.
pub fn add_codec(config: &mut CodecConfig, c: &RouterCodec, pt: u8, rtx: Option<u8>) {
    let freq = if c.clock_rate == 48_000 {
        Frequency::FORTY_EIGHT_KHZ
    } else {
        Frequency::NINETY_KHZ
    };
    config.add_config(pt.into(), rtx.map(Into::into), c.codec, freq, c.channels, c.format());
}

/// The extension map of a receive transport.
pub fn recv_extension_map() -> ExtensionMap {
    let mut map = ExtensionMap::empty();
    for &(u, id, _, _) in ROUTER_EXTENSIONS {
        if let Some(e) = extension_of(u) {
            map.set(id, e);
        }
    }
    map
}

/// The router's extensions for one kind that a device understands, as `{uri, id}` for
/// consumer parameters.
pub fn consumer_extensions(kind: MediaKind, caps: &RtpCapabilities) -> Vec<Value> {
    ROUTER_EXTENSIONS
        .iter()
        .filter(|(_, _, audio, video)| if kind == MediaKind::Audio { *audio } else { *video })
        .filter(|(u, ..)| {
            caps.header_extensions
                .iter()
                .any(|e| e.uri == *u && e.kind.as_deref().is_none_or(|k| k == kind_str(kind)))
        })
        .map(|(u, id, ..)| json!({"uri": u, "id": id, "encrypt": false, "parameters": {}}))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn router_capabilities_list_every_codec_with_its_rtx() {
        let caps = router_rtp_capabilities();
        let codecs = caps["codecs"].as_array().expect("codecs");
        assert_eq!(codecs[0]["mimeType"], "audio/opus");
        assert_eq!(codecs[1]["mimeType"], "video/VP8");
        assert_eq!(codecs[2]["parameters"]["apt"], 96);
        let pts: Vec<u64> = codecs
            .iter()
            .filter_map(|c| c["preferredPayloadType"].as_u64())
            .collect();
        let mut unique = pts.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(pts.len(), unique.len(), "payload types are unique");
        assert!(
            caps["headerExtensions"]
                .as_array()
                .expect("exts")
                .iter()
                .any(|e| e["uri"] == uri::TWCC && e["kind"] == "video" && e["preferredId"] == 3)
        );
    }

    #[test]
    fn h264_and_vp9_match_by_profile() {
        let mut p = serde_json::Map::new();
        p.insert("packetization-mode".into(), json!(1));
        p.insert("profile-level-id".into(), json!("42e01f"));
        assert_eq!(
            router_codec_for("video/H264", 90_000, &p).map(|i| ROUTER_CODECS[i].pt),
            Some(102)
        );
        p.insert("profile-level-id".into(), json!("4d001f"));
        assert_eq!(
            router_codec_for("video/H264", 90_000, &p).map(|i| ROUTER_CODECS[i].pt),
            Some(104)
        );
        p.insert("packetization-mode".into(), json!(0));
        assert_eq!(router_codec_for("video/H264", 90_000, &p), None);
        let mut v = serde_json::Map::new();
        v.insert("profile-id".into(), json!("2"));
        assert_eq!(
            router_codec_for("video/VP9", 90_000, &v).map(|i| ROUTER_CODECS[i].pt),
            Some(100)
        );
        assert_eq!(
            router_codec_for("video/VP9", 90_000, &serde_json::Map::new()).map(|i| ROUTER_CODECS[i].pt),
            Some(98)
        );
        assert_eq!(router_codec_for("video/AV1", 90_000, &serde_json::Map::new()), None);
    }
}
