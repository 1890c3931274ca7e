//! The browser's side of mediasoup-client, played by str0m: what the SFU tests and the
//! media load tool (`bench/media`) use as peers. A [`BrowserTransport`] is one str0m
//! `Rtc` in the ICE-controlling DTLS-client role, built from the transport options the
//! SFU sends in `you-joined-as-speaker`, as mediasoup-client builds its transports.
//!
//! It deliberately uses payload types and extension ids that are not the router's on
//! its send side ([`SEND_VP8`], [`SEND_MID_ID`]…), so the SFU must rewrite them.

use std::net::SocketAddr;
use std::time::Instant;

use serde_json::{Value, json};
use str0m::format::Codec;
use str0m::media::{Frequency, MediaKind, Mid};
use str0m::rtp::{Extension, ExtensionMap, Ssrc};
use str0m::{Candidate, IceCreds, Rtc, RtcConfig};

/// VP8 payload type on the browser's send transport.
pub const SEND_VP8: u8 = 120;
/// RTX payload type for [`SEND_VP8`].
pub const SEND_RTX: u8 = 121;
/// Opus payload type (Chrome's, which is also the router's).
pub const SEND_OPUS: u8 = 111;
/// `sdes:mid` extension id on the send transport.
pub const SEND_MID_ID: u8 = 9;
/// Transport-wide sequence number extension id on the send transport.
pub const SEND_TWCC_ID: u8 = 5;
/// Audio level extension id: one the video produce never names, so the SFU learns it late.
pub const SEND_LEVEL_ID: u8 = 14;

/// One browser transport.
pub struct BrowserTransport {
    /// The str0m peer.
    pub rtc: Rtc,
    /// Its local UDP address.
    pub addr: SocketAddr,
    /// The SFU's transport id.
    pub id: String,
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a str, String> {
    v[name]
        .as_str()
        .ok_or_else(|| format!("transport options lack {name}: {v}"))
}

impl BrowserTransport {
    /// Builds a transport from the SFU's options (`sendTransportOptions` or
    /// `recvTransportOptions`), bound at `addr`. A send transport offers VP8 (+RTX) and
    /// Opus at the browser's own numbers; a receive transport takes the router's.
    pub fn new(now: Instant, options: &Value, addr: SocketAddr, send: bool) -> Result<Self, String> {
        let mut config = RtcConfig::new().set_rtp_mode(true).clear_codecs();
        let mut exts = ExtensionMap::empty();
        if send {
            let codecs = config.codec_config();
            codecs.add_config(
                SEND_VP8.into(),
                Some(SEND_RTX.into()),
                Codec::Vp8,
                Frequency::NINETY_KHZ,
                None,
                Default::default(),
            );
            codecs.add_config(
                SEND_OPUS.into(),
                None,
                Codec::Opus,
                Frequency::FORTY_EIGHT_KHZ,
                Some(2),
                Default::default(),
            );
            exts.set(SEND_MID_ID, Extension::RtpMid);
            exts.set(SEND_TWCC_ID, Extension::TransportSequenceNumber);
            exts.set(SEND_LEVEL_ID, Extension::AudioLevel);
        } else {
            crate::caps::recv_codec_config(config.codec_config());
            exts = crate::caps::recv_extension_map();
        }
        let mut rtc = config.set_extension_map(exts).build(now);
        let local = Candidate::host(addr, "udp").map_err(|e| e.to_string())?;
        rtc.add_local_candidate(local);
        let ice = &options["iceParameters"];
        let cand = &options["iceCandidates"][0];
        let remote: SocketAddr = format!("{}:{}", field(cand, "address")?, cand["port"])
            .parse()
            .map_err(|e| format!("bad candidate {cand}: {e}"))?;
        rtc.add_remote_candidate(Candidate::host(remote, "udp").map_err(|e| e.to_string())?);
        let fp = &options["dtlsParameters"]["fingerprints"][0];
        let fingerprint = format!("sha-256 {}", field(fp, "value")?)
            .parse()
            .map_err(|e| format!("bad fingerprint {fp}: {e:?}"))?;
        let mut api = rtc.direct_api();
        api.set_remote_ice_credentials(IceCreds {
            ufrag: field(ice, "usernameFragment")?.into(),
            pass: field(ice, "password")?.into(),
        });
        api.set_ice_controlling(true);
        api.set_remote_fingerprint(fingerprint);
        api.start_dtls(true).map_err(|e| e.to_string())?;
        api.start_sctp(true);
        api.enable_twcc_feedback();
        Ok(BrowserTransport {
            rtc,
            addr,
            id: field(options, "id")?.into(),
        })
    }

    /// The `@connect-transport` request body for this transport in `room`.
    pub fn connect_message(&mut self, room: &str, direction: &str) -> Value {
        let fp = self.rtc.direct_api().local_dtls_fingerprint().clone();
        let value = crate::params::fingerprint_value(&fp);
        json!({"roomId": room, "transportId": self.id, "direction": direction,
               "dtlsParameters": {"role": "client", "fingerprints": [{"algorithm": "sha-256", "value": value}]}})
    }

    /// Declares a VP8 send stream (mid "0") and returns the `@send-track` request body.
    pub fn produce_video(&mut self, room: &str, ssrc: u32, rtx: u32) -> Value {
        let mid: Mid = "0".into();
        let mut api = self.rtc.direct_api();
        api.declare_media(mid, MediaKind::Video);
        api.declare_stream_tx(Ssrc::from(ssrc), Some(Ssrc::from(rtx)), mid, None);
        json!({"roomId": room, "transportId": self.id, "kind": "video", "direction": "send", "paused": false,
               "appData": {"mediaTag": "video"},
               "rtpParameters": {"mid": "0",
                 "codecs": [{"mimeType": "video/VP8", "payloadType": SEND_VP8, "clockRate": 90000, "parameters": {}},
                            {"mimeType": "video/rtx", "payloadType": SEND_RTX, "clockRate": 90000, "parameters": {"apt": SEND_VP8}}],
                 "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": SEND_MID_ID},
                                      {"uri": "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01", "id": SEND_TWCC_ID}],
                 "encodings": [{"ssrc": ssrc, "rtx": {"ssrc": rtx}}],
                 "rtcp": {"cname": "sim"}}})
    }

    /// Declares an Opus send stream (mid "1") and returns the `@send-track` request body,
    /// naming the audio level at [`SEND_LEVEL_ID`].
    pub fn produce_audio(&mut self, room: &str, ssrc: u32) -> Value {
        let mid: Mid = "1".into();
        let mut api = self.rtc.direct_api();
        api.declare_media(mid, MediaKind::Audio);
        api.declare_stream_tx(Ssrc::from(ssrc), None, mid, None);
        json!({"roomId": room, "transportId": self.id, "kind": "audio", "direction": "send", "paused": false,
               "appData": {"mediaTag": "audio"},
               "rtpParameters": {"mid": "1",
                 "codecs": [{"mimeType": "audio/opus", "payloadType": SEND_OPUS, "clockRate": 48000, "channels": 2, "parameters": {}}],
                 "headerExtensions": [{"uri": "urn:ietf:params:rtp-hdrext:sdes:mid", "id": SEND_MID_ID},
                                      {"uri": "urn:ietf:params:rtp-hdrext:ssrc-audio-level", "id": SEND_LEVEL_ID}],
                 "encodings": [{"ssrc": ssrc}], "rtcp": {"cname": "sim"}}})
    }

    /// Applies consumer parameters (`consumerParameters`) to this receive transport, as
    /// mediasoup-client does; returns the consumer's SSRC.
    pub fn consume(&mut self, params: &Value) -> Result<u32, String> {
        let rp = &params["rtpParameters"];
        let mid: Mid = rp["mid"]
            .as_str()
            .ok_or_else(|| format!("consumer without mid: {params}"))?
            .into();
        let kind = match params["kind"].as_str() {
            Some("audio") => MediaKind::Audio,
            _ => MediaKind::Video,
        };
        let ssrc = rp["encodings"][0]["ssrc"]
            .as_u64()
            .ok_or_else(|| format!("consumer without ssrc: {params}"))? as u32;
        let rtx = rp["encodings"][0]["rtx"]["ssrc"].as_u64().map(|s| Ssrc::from(s as u32));
        let mut api = self.rtc.direct_api();
        api.declare_media(mid, kind);
        api.expect_stream_rx(Ssrc::from(ssrc), rtx, mid, None);
        Ok(ssrc)
    }
}

/// The receive capabilities a browser answers `@get-recv-tracks` with: the router's own.
pub fn recv_capabilities() -> Value {
    let caps = crate::caps::router_rtp_capabilities();
    json!({"codecs": caps["codecs"], "headerExtensions": caps["headerExtensions"]})
}
