//! The browser's signalling: `@connect-transport`, `@send-track` (a producer),
//! `@send-file` (a data producer) and `@get-recv-tracks`, and the consumers and data
//! consumers they make for the other peers of a room.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use serde_json::{Value, json};
use str0m::change::DirectApi;
use str0m::channel::{ChannelConfig, Reliability};
use str0m::config::Fingerprint;
use str0m::media::{MediaKind, Mid};
use tracing::debug;

use crate::caps::{self, ROUTER_CODECS, RouterCodec, uri};
use crate::params::{self, ConnectTransport, GetRecvTracks, SendFile, SendTrack};
use crate::spare;
use crowdwire_world::protocol::{MediaMessage, MediaPayload};

use super::state::{Consumer, DataConsumer, DataProducer, Producer, SendSide, TransportKey, VoiceMeter};
use super::transports::start_dtls;
use super::{EXPIRED_REJOINED, RoomKey, Sfu, error_replies, new_id, rand_u32};

impl Sfu {
    /// Browser signalling: carried out, and answered with the `-done` reply (or errors).
    pub(super) fn signal(&mut self, now: Instant, key: RoomKey, peer: &str, topic: &str, d: &Value) {
        let direction = d.get("direction").and_then(|v| v.as_str()).map(str::to_owned);
        let member = self.rooms.get(&key).and_then(|r| r.peers.get(peer));
        if let Some(speaker) = member.filter(|m| m.expired).map(|m| m.speaker) {
            // Its transports were dropped while it said nothing: it gets new ones, and this
            // request (made for the old ones) its error, before the new `you-joined-as-*`.
            for e in error_replies(topic, &key.1, peer, direction.as_deref(), EXPIRED_REJOINED) {
                self.tell_text(key.0, peer, e);
            }
            self.join(now, key.clone(), peer, speaker);
            self.claim(&key, peer);
            return;
        }
        self.claim(&key, peer);
        let result = match topic {
            "@connect-transport" => self.connect(now, &key, peer, d),
            "@send-track" => self.send_track(now, &key, peer, d),
            "@send-file" => self.send_file(now, &key, peer, d),
            "@get-recv-tracks" => self.get_recv_tracks(now, &key, peer, d),
            _ => Err(format!("unknown media request {topic}")),
        };
        match result {
            Ok(reply) => self.tell(key.0, peer, reply),
            Err(message) => {
                let direction = direction.or_else(|| {
                    d.get("transportId")
                        .and_then(|v| v.as_str())
                        .and_then(|t| self.transport_ids.get(t))
                        .and_then(|k| self.transports.get(*k))
                        .map(|t| if t.send { "send".to_owned() } else { "recv".to_owned() })
                });
                for m in error_replies(topic, &key.1, peer, direction.as_deref(), &message) {
                    self.tell_text(key.0, peer, m);
                }
            }
        }
    }

    fn connect(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<MediaMessage, String> {
        let c: ConnectTransport = params::parse(d)?;
        let tk = self.own_transport(key, peer, &c.transport_id, None)?;
        let fp = c
            .dtls_parameters
            .fingerprints
            .iter()
            .find(|f| f.algorithm.eq_ignore_ascii_case("sha-256"))
            .ok_or("a sha-256 fingerprint is required")?;
        let fingerprint: Fingerprint = format!("{} {}", fp.algorithm.to_ascii_lowercase(), fp.value)
            .parse()
            .map_err(|e| format!("invalid fingerprint: {e}"))?;
        // The browser names the role it takes; `auto` and `client` make us the server.
        let we_are_client = c.dtls_parameters.role.as_deref() == Some("server");
        let t = self.transports.get_mut(tk).ok_or("no such transport")?;
        if t.remote.is_some() {
            return Err("connect() already called".to_owned());
        }
        t.remote = Some((fingerprint, we_are_client));
        let send = t.send;
        if let Some(rtc) = t.rtc.as_mut() {
            start_dtls(rtc, t.remote.as_ref().expect("just set"))?;
            self.mark(tk);
        } else if !t.send {
            // The browser is about to reach this transport: build it now (DTLS starts in it).
            self.build_recv_rtc(now, tk)?;
        }
        let d = MediaPayload::of(json!({"roomId": key.1, "peerId": peer}));
        Ok(if send {
            MediaMessage::ConnectTransportSendDone { d }
        } else {
            MediaMessage::ConnectTransportRecvDone { d }
        })
    }

    fn send_track(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<MediaMessage, String> {
        let s: SendTrack = params::parse(d)?;
        let tk = self.own_transport(key, peer, &s.transport_id, Some(true))?;
        let track = check_track(&s)?;
        self.build_send_rtc(now, tk, Some(&s))?;
        let t = self.transports.get_mut(tk).expect("own transport");
        let side = t.sending.as_mut().ok_or("the send transport is not built")?;
        match_send_side(side, &track.pts, &s)?;
        if t.producers_by_ssrc.contains_key(&track.ssrc) {
            return Err("that SSRC is already producing".into());
        }
        let rtc = t.rtc.as_mut().expect("built");
        let m: Mid = track.mid.as_str().into();
        {
            // mediasoup-client recycles m-lines: a mid may come back for a new producer.
            let known = rtc.media(m).is_some();
            let mut api = rtc.direct_api();
            if !known {
                api.declare_media(m, track.kind);
            }
            api.expect_stream_rx(track.ssrc.into(), track.rtx_ssrc.map(Into::into), m, None);
        }
        // A new producer with the same tag replaces the old one.
        let old: Vec<String> = self
            .producers
            .iter()
            .filter(|(_, p)| &p.room == key && p.peer == peer && p.tag == track.tag)
            .map(|(id, _)| id.clone())
            .collect();
        for id in old {
            self.close_producer(&id);
        }
        let kind = track.kind;
        let id = self.add_producer(key, peer, tk, track, s.paused);
        self.offer_producer(now, &id, key, peer, kind);
        Ok(MediaMessage::SendTrackDone {
            d: MediaPayload::of(json!({"id": id, "roomId": key.1, "peerId": peer})),
        })
    }

    /// Files a new producer on its transport, in the producers and under its peer.
    fn add_producer(&mut self, key: &RoomKey, peer: &str, tk: TransportKey, track: Track, paused: bool) -> String {
        let id = new_id(&self.id_prefix, &mut self.ids);
        let t = self.transports.get_mut(tk).expect("own transport");
        t.producers_by_ssrc.insert(track.ssrc, id.clone());
        self.producers.insert(
            id.clone(),
            Producer {
                room: key.clone(),
                peer: peer.to_owned(),
                transport: tk,
                kind: track.kind,
                tag: track.tag,
                ssrc: track.ssrc,
                pts: track.pts,
                codec: track.codec,
                rtx: track.rtx_ssrc.is_some(),
                paused,
                consumers: Vec::new(),
                last_keyframe_request: None,
                voice: VoiceMeter::default(),
                capped: false,
                bytes: 0,
                rate: 0,
            },
        );
        if let Some(p) = self.rooms.get_mut(key).and_then(|r| r.peers.get_mut(peer)) {
            p.producers.push(id.clone());
        }
        id
    }

    /// Everyone else in the room who has asked for tracks gets a consumer of a new producer.
    fn offer_producer(&mut self, now: Instant, id: &str, key: &RoomKey, peer: &str, kind: MediaKind) {
        for other in self.receivers(key, peer) {
            match self.create_consumer(now, id, key, &other) {
                Ok(params) => {
                    let msg = MediaMessage::NewPeerProducer {
                        d: MediaPayload::of(
                            json!({"peerId": peer, "consumerParameters": params, "roomId": key.1, "kind": caps::kind_str(kind)}),
                        ),
                        uid: Some(other.clone()),
                    };
                    self.tell(key.0, &other, msg);
                }
                Err(e) => debug!(peer = %other, "no consumer for new producer: {e}"),
            }
        }
    }

    /// Peers of a room, other than `peer`, whose devices are loaded (they sent
    /// `@get-recv-tracks`) and which have a receive transport.
    fn receivers(&self, key: &RoomKey, peer: &str) -> Vec<String> {
        self.rooms
            .get(key)
            .map(|r| {
                r.peers
                    .iter()
                    .filter(|(id, p)| id.as_str() != peer && p.recv_caps.is_some() && p.recv.is_some())
                    .map(|(id, _)| id.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A new SSRC for a consumer on transport `tk`: random, non-zero, and unused there.
    fn new_consumer_ssrc(&self, tk: TransportKey, also_taken: Option<u32>) -> u32 {
        let taken = |s: u32| {
            s == 0
                || Some(s) == also_taken
                || self.transports.get(tk).is_some_and(|t| {
                    t.consumers_by_mid
                        .values()
                        .filter_map(|c| self.consumers.get(*c))
                        .any(|c| c.ssrc == s || c.rtx_ssrc == Some(s))
                })
        };
        loop {
            let s = rand_u32();
            if !taken(s) {
                return s;
            }
        }
    }

    fn create_consumer(&mut self, now: Instant, producer: &str, key: &RoomKey, peer: &str) -> Result<Value, String> {
        let p = self.producers.get(producer).ok_or("no such producer")?;
        let member = self
            .rooms
            .get(key)
            .and_then(|r| r.peers.get(peer))
            .ok_or("not in the room")?;
        let caps_ = member.recv_caps.as_ref().ok_or("no capabilities yet")?;
        let tk = member.recv.ok_or("no receive transport")?;
        let rc: &RouterCodec = &ROUTER_CODECS[p.codec];
        if !caps::device_can_receive(caps_, rc) {
            return Err(format!("the device cannot receive {}", rc.mime));
        }
        let rtx = p.rtx && rc.rtx.is_some() && caps::device_has_rtx(caps_);
        let exts = caps::consumer_extensions(p.kind, caps_);
        let kind = p.kind;
        let paused = p.paused;
        let tag = p.tag.clone();
        if !self.transports.contains_key(tk) {
            return Err("no receive transport".into());
        }
        let ssrc = self.new_consumer_ssrc(tk, None);
        let rtx_ssrc = rtx.then(|| self.new_consumer_ssrc(tk, Some(ssrc)));
        let t = &mut self.transports[tk];
        let mid = t.next_mid.to_string();
        t.next_mid += 1;
        let id = new_id(&self.id_prefix, &mut self.ids);
        let consumer = Consumer {
            producer: producer.to_owned(),
            transport: tk,
            peer: peer.to_owned(),
            kind,
            mid: mid.clone(),
            ssrc,
            rtx_ssrc,
            seq_offset: None,
        };
        // A built `Rtc` learns of it now; one built later declares it then.
        if let Some(rtc) = t.rtc.as_mut() {
            declare_consumer(&mut rtc.direct_api(), &consumer);
        }
        let params = consumer_parameters(&consumer, &id, rc, exts, paused, &tag);
        let ck = self.consumers.insert(consumer);
        self.transports[tk].consumers_by_mid.insert(mid, ck);
        if let Some(p) = self.producers.get_mut(producer) {
            p.consumers.push(ck);
        }
        if let Some(m) = self.rooms.get_mut(key).and_then(|r| r.peers.get_mut(peer)) {
            m.consumers.push(ck);
        }
        self.mark(tk);
        // Gotcha 6: a new consumer starts on a fresh keyframe, not the next periodic one.
        if kind == MediaKind::Video {
            self.request_keyframe(producer, now);
        }
        Ok(params)
    }

    fn send_file(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<MediaMessage, String> {
        let s: SendFile = params::parse(d)?;
        let tk = self.own_transport(key, peer, &s.transport_id, Some(true))?;
        let stream = s.sctp_stream_parameters.stream_id;
        if stream >= 1024 {
            return Err("streamId must be below 1024".into());
        }
        self.build_send_rtc(now, tk, None)?;
        let t = self.transports.get_mut(tk).expect("own transport");
        if t.data_producers_by_stream.contains_key(&stream) {
            return Err("that streamId is already producing".into());
        }
        let reliability = reliability_of(&s.sctp_stream_parameters);
        let ordered = s.sctp_stream_parameters.ordered.unwrap_or(true);
        let label = s.label.clone().unwrap_or_default();
        let protocol = s.protocol.clone().unwrap_or_default();
        let rtc = t.rtc.as_mut().expect("built");
        rtc.direct_api().create_data_channel(ChannelConfig {
            label: label.clone(),
            ordered,
            reliability,
            negotiated: Some(stream),
            protocol: protocol.clone(),
        });
        let id = new_id(&self.id_prefix, &mut self.ids);
        t.data_producers_by_stream.insert(stream, id.clone());
        let file = s.app_data.media_tag.as_deref().is_none_or(|t| t == "file");
        self.data_producers.insert(
            id.clone(),
            DataProducer {
                room: key.clone(),
                peer: peer.to_owned(),
                transport: tk,
                stream,
                label,
                protocol,
                ordered,
                reliability,
                file,
                target: None,
                consumers: Vec::new(),
            },
        );
        if let Some(p) = self.rooms.get_mut(key).and_then(|r| r.peers.get_mut(peer)) {
            p.data_producers.push(id.clone());
        }
        self.mark(tk);
        for other in self.receivers(key, peer) {
            match self.create_data_consumer(&id, key, &other) {
                Ok(params) => {
                    let msg = MediaMessage::NewPeerDataProducer {
                        d: MediaPayload::of(json!({"peerId": peer, "consumerParameters": params, "roomId": key.1})),
                        uid: Some(other.clone()),
                    };
                    self.tell(key.0, &other, msg);
                }
                Err(e) => debug!(peer = %other, "no data consumer: {e}"),
            }
        }
        Ok(MediaMessage::SendFileDone {
            d: MediaPayload::of(json!({"id": id, "roomId": key.1, "peerId": peer})),
        })
    }

    fn create_data_consumer(&mut self, data_producer: &str, key: &RoomKey, peer: &str) -> Result<Value, String> {
        let dp = self.data_producers.get(data_producer).ok_or("no such data producer")?;
        let tk = self
            .rooms
            .get(key)
            .and_then(|r| r.peers.get(peer))
            .and_then(|p| p.recv)
            .ok_or("no receive transport")?;
        let (label, protocol, ordered, reliability) =
            (dp.label.clone(), dp.protocol.clone(), dp.ordered, dp.reliability);
        let t = self.transports.get_mut(tk).ok_or("no receive transport")?;
        if t.next_stream >= 1024 {
            return Err("no free data stream on the receive transport".into());
        }
        let stream = t.next_stream;
        t.next_stream += 1;
        let channel = ChannelConfig {
            label: label.clone(),
            ordered,
            reliability,
            negotiated: Some(stream),
            protocol: protocol.clone(),
        };
        if let Some(rtc) = t.rtc.as_mut() {
            rtc.direct_api().create_data_channel(channel.clone());
        }
        let id = new_id(&self.id_prefix, &mut self.ids);
        let mut sctp = json!({"streamId": stream, "ordered": ordered});
        match reliability {
            Reliability::MaxPacketLifetime { lifetime } => sctp["maxPacketLifeTime"] = json!(lifetime),
            Reliability::MaxRetransmits { retransmits } => sctp["maxRetransmits"] = json!(retransmits),
            Reliability::Reliable => {}
        }
        self.data_consumers.insert(
            id.clone(),
            DataConsumer {
                data_producer: data_producer.to_owned(),
                transport: tk,
                peer: peer.to_owned(),
                stream,
                channel,
            },
        );
        if let Some(dp) = self.data_producers.get_mut(data_producer) {
            dp.consumers.push(id.clone());
        }
        if let Some(m) = self.rooms.get_mut(key).and_then(|r| r.peers.get_mut(peer)) {
            m.data_consumers.push(id.clone());
        }
        self.mark(tk);
        Ok(json!({
            "dataProducerId": data_producer,
            "id": id,
            "sctpStreamParameters": sctp,
            "label": label,
            "protocol": protocol,
            "type": "sctp",
        }))
    }

    fn get_recv_tracks(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<MediaMessage, String> {
        let g: GetRecvTracks = params::parse(d)?;
        let member = self
            .rooms
            .get_mut(key)
            .and_then(|r| r.peers.get_mut(peer))
            .ok_or("you are not in this room")?;
        if member.recv.is_none() {
            return Err("you have no receive transport in this room".into());
        }
        member.recv_caps = Some(g.rtp_capabilities);
        let have: HashSet<&str> = member
            .consumers
            .iter()
            .filter_map(|c| self.consumers.get(*c).map(|c| c.producer.as_str()))
            .collect();
        let have_data: HashSet<&str> = member
            .data_consumers
            .iter()
            .filter_map(|c| self.data_consumers.get(c).map(|c| c.data_producer.as_str()))
            .collect();
        let mut producers: Vec<(String, String)> = self
            .producers
            .iter()
            .filter(|(id, p)| &p.room == key && p.peer != peer && !have.contains(id.as_str()))
            .map(|(id, p)| (id.clone(), p.peer.clone()))
            .collect();
        producers.sort();
        let mut data: Vec<(String, String)> = self
            .data_producers
            .iter()
            .filter(|(id, p)| &p.room == key && p.peer != peer && !have_data.contains(id.as_str()))
            .map(|(id, p)| (id.clone(), p.peer.clone()))
            .collect();
        data.sort();
        let mut arr = Vec::new();
        for (pid, owner) in producers {
            let kind = self
                .producers
                .get(&pid)
                .map(|p| caps::kind_str(p.kind))
                .unwrap_or("audio");
            match self.create_consumer(now, &pid, key, peer) {
                Ok(params) => {
                    arr.push(json!({"consumer": {"peerId": owner, "consumerParameters": params}, "kind": kind}))
                }
                // One producer the device cannot take does not hide the others.
                Err(e) => debug!(peer, "skipping producer {pid}: {e}"),
            }
        }
        for (dpid, owner) in data {
            match self.create_data_consumer(&dpid, key, peer) {
                Ok(params) => {
                    arr.push(json!({"consumer": {"peerId": owner, "consumerParameters": params}, "kind": "file"}))
                }
                Err(e) => debug!(peer, "skipping data producer {dpid}: {e}"),
            }
        }
        Ok(MediaMessage::GetRecvTracksDone {
            d: MediaPayload::of(json!({"consumerParametersArr": arr, "roomId": key.1, "peerId": peer})),
        })
    }
}

/// What a `@send-track` asks for, checked before anything is touched.
struct Track {
    kind: MediaKind,
    tag: String,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    mid: String,
    /// Browser payload type → router codec index (RTX entries excluded).
    pts: HashMap<u8, usize>,
    /// The router codec index of the first codec.
    codec: usize,
}

/// Checks a `@send-track`'s kind, tag, encoding, mid and codecs.
fn check_track(s: &SendTrack) -> Result<Track, String> {
    let kind = caps::parse_kind(&s.kind).ok_or("kind must be audio or video")?;
    let tag = s
        .app_data
        .media_tag
        .clone()
        .unwrap_or_else(|| caps::kind_str(kind).to_owned());
    // The tags the protocol has (microphone, camera, screen): one producer each per peer
    // (a new one replaces the old), so a peer cannot fan out unlimited producers.
    match tag.as_str() {
        "audio" | "video" | "media" => {}
        "file" => return Err("mediaTag file is for @send-file".into()),
        _ => return Err("appData.mediaTag must be audio, video or media".into()),
    }
    let enc = match s.rtp_parameters.encodings.as_slice() {
        [e] => e.clone(),
        [] => return Err("rtpParameters.encodings is empty".into()),
        _ => return Err("simulcast is not supported: produce a single encoding".into()),
    };
    let ssrc = enc
        .ssrc
        .ok_or("encodings[0].ssrc is required (rid-only encodings are not supported)")?;
    let mid = s.rtp_parameters.mid.clone().ok_or("rtpParameters.mid is required")?;
    if mid.is_empty() || mid.len() > 16 {
        return Err("rtpParameters.mid is invalid".into());
    }
    let (pts, _rtx_of) = producer_pts(&s.rtp_parameters)?;
    let codec = pts
        .iter()
        .find(|(pt, _)| s.rtp_parameters.codecs.first().and_then(|c| c.payload_type) == Some(**pt))
        .map(|(_, idx)| *idx)
        .ok_or("the first codec must be one the router offers")?;
    if ROUTER_CODECS[codec].kind != kind {
        return Err("the codec does not match the kind".into());
    }
    let rtx_ssrc = enc.rtx.as_ref().map(|r| r.ssrc);
    Ok(Track {
        kind,
        tag,
        ssrc,
        rtx_ssrc,
        mid,
        pts,
        codec,
    })
}

/// The browser's numbers must be the ones this send transport's `Rtc` reads; spare
/// extension ids it names for the first time are learnt.
fn match_send_side(side: &mut SendSide, pts: &HashMap<u8, usize>, s: &SendTrack) -> Result<(), String> {
    for (pt, idx) in pts {
        if side.pts.get(pt) != Some(idx) {
            return Err(format!(
                "payload type {pt} differs from this transport's; close the transport and create a new one"
            ));
        }
    }
    let map = &side.map;
    let mut learnt = Vec::new();
    for e in &s.rtp_parameters.header_extensions {
        if !(1..=14).contains(&e.id) {
            continue;
        }
        let known = caps::extension_of(&e.uri);
        match map.lookup(e.id) {
            Some(x) if known.as_ref() == Some(x) => {}
            _ if spare::is_spare(map, e.id) => {
                if e.uri == uri::AUDIO_LEVEL {
                    learnt.push((uri::AUDIO_LEVEL, e.id));
                } else if e.uri == uri::VIDEO_ORIENTATION {
                    learnt.push((uri::VIDEO_ORIENTATION, e.id));
                } else if e.uri == uri::TWCC || e.uri == uri::MID {
                    return Err(format!(
                        "header extension {} moved to id {}; close the transport and create a new one",
                        e.uri, e.id
                    ));
                }
            }
            _ => {
                if known.is_some() {
                    return Err(format!(
                        "header extension id {} is already used for another extension on this transport",
                        e.id
                    ));
                }
            }
        }
    }
    side.spare_ids.extend(learnt);
    Ok(())
}

/// A consumer's `consumerParameters`, in mediasoup's shape.
fn consumer_parameters(
    consumer: &Consumer,
    id: &str,
    rc: &RouterCodec,
    exts: Vec<Value>,
    paused: bool,
    tag: &str,
) -> Value {
    let (producer, kind, mid, ssrc, rtx_ssrc) = (
        &consumer.producer,
        consumer.kind,
        &consumer.mid,
        consumer.ssrc,
        consumer.rtx_ssrc,
    );
    let mut codecs = vec![{
        let mut c = json!({
            "mimeType": caps::canonical_mime(rc.mime),
            "payloadType": rc.pt,
            "clockRate": rc.clock_rate,
            "parameters": rc.parameters(),
            "rtcpFeedback": rc.feedback(),
        });
        if let Some(ch) = rc.channels {
            c["channels"] = json!(ch);
        }
        c
    }];
    let mut encoding = json!({"ssrc": ssrc});
    if let (Some(r), Some(rs)) = (rc.rtx, rtx_ssrc) {
        codecs.push(json!({
            "mimeType": "video/rtx", "payloadType": r, "clockRate": rc.clock_rate,
            "parameters": {"apt": rc.pt}, "rtcpFeedback": [],
        }));
        encoding["rtx"] = json!({"ssrc": rs});
    }
    json!({
        "producerId": producer,
        "id": id,
        "kind": caps::kind_str(kind),
        "rtpParameters": {
            "mid": mid,
            "codecs": codecs,
            "headerExtensions": exts,
            "encodings": [encoding],
            "rtcp": {"cname": format!("crowdwire-{producer}"), "reducedSize": true, "mux": true},
        },
        "type": "simple",
        "producerPaused": paused,
        // Not in mediasoup's shape: lets a client tell a screen share ("media") from a camera.
        "appData": {"mediaTag": tag},
    })
}

/// Declares a consumer's media and outgoing stream on its transport's `Rtc`.
pub(super) fn declare_consumer(api: &mut DirectApi<'_>, c: &Consumer) {
    let m: Mid = c.mid.as_str().into();
    api.declare_media(m, c.kind);
    api.declare_stream_tx(c.ssrc.into(), c.rtx_ssrc.map(Into::into), m, None);
}

/// Media payload type → router codec index, and router codec index → RTX payload type.
type PayloadTables = (HashMap<u8, usize>, HashMap<usize, u8>);

/// A producer's payload types: media PT → router codec index, and router codec → RTX PT.
pub(super) fn producer_pts(rp: &params::RtpParameters) -> Result<PayloadTables, String> {
    let mut pts = HashMap::new();
    let mut by_pt = HashMap::new();
    for c in &rp.codecs {
        let pt = c.payload_type.ok_or("every codec needs a payloadType")?;
        if pt > 127 {
            return Err("payloadType must be below 128".into());
        }
        if c.is_rtx() {
            continue;
        }
        if let Some(idx) = caps::router_codec_for(&c.mime_type, c.clock_rate, &c.parameters) {
            pts.insert(pt, idx);
            by_pt.insert(pt, idx);
        }
    }
    let mut rtx = HashMap::new();
    for c in rp.codecs.iter().filter(|c| c.is_rtx()) {
        if let (Some(pt), Some(apt)) = (c.payload_type, c.apt())
            && let Some(idx) = by_pt.get(&apt)
        {
            rtx.insert(*idx, pt);
        }
    }
    if pts.is_empty() {
        return Err("none of the codecs is one the router offers".into());
    }
    Ok((pts, rtx))
}

fn reliability_of(s: &params::SctpStreamParameters) -> Reliability {
    match (s.max_packet_life_time, s.max_retransmits) {
        (Some(lifetime), _) => Reliability::MaxPacketLifetime { lifetime },
        (None, Some(retransmits)) => Reliability::MaxRetransmits { retransmits },
        _ => Reliability::Reliable,
    }
}
