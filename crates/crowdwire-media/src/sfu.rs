//! The SFU core, sans-IO: rooms of peers, each peer's mediasoup transports as str0m
//! `Rtc`s, producers, consumers, data producers and data consumers.
//!
//! It owns no socket and no clock. [`Sfu::command`] takes the world engine's media
//! commands (including the browser signalling the engine relays), [`Sfu::datagram`] takes
//! UDP datagrams, [`Sfu::timeout`] takes the passage of time; [`Sfu::drain`] hands back
//! datagrams to send and messages for peers. The IO loop in [`crate::node`] is thin.
//!
//! Rooms are keyed by (world, room id): group ids are only unique within one world.
//!
//! **A transport costs what flows through it.** Proximity groups form and part all the time
//! as people walk, and most transports made for them are never connected (the peer walks on,
//! or its client does no media). So joining a room builds no `Rtc`: the transport options
//! carry the shared certificate's fingerprint and fresh ICE credentials, and a transport's
//! `Rtc` (its DTLS context, key exchange and timers) is built only when the browser first
//! reaches it: `@connect-transport`, or a STUN request for its ICE username (a send
//! transport waits for its first produce, which names the browser's extension ids).
//! Consumers and data consumers made before then are declared on the `Rtc` when it is
//! built. A peer that has said nothing about a room (no signalling, no STUN) within
//! [`SfuConfig::unconnected_timeout`] has its transports dropped; if it speaks up later, it
//! is joined again (a fresh `you-joined-as-*`). Built `Rtc`s wake the core only at their own
//! deadlines, through one heap ([`crate::deadlines`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slotmap::SlotMap;
use str0m::bwe::{Bitrate, BweKind};
use str0m::change::DirectApi;
use str0m::channel::{ChannelConfig, Reliability};
use str0m::config::{DtlsCert, Fingerprint};
use str0m::ice::StunMessage;
use str0m::media::{KeyframeRequestKind, MediaKind, Mid};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionMap, ExtensionValues, RtpPacket, RtpWrite, SeqNo, VideoOrientation};
use str0m::{Candidate, Event, IceConnectionState, IceCreds, Input, Output, Rtc, RtcConfig};
use tracing::{debug, warn};

use crowdwire_world::engine::{MediaCommand, MediaRole};

use crate::caps::{self, ROUTER_CODECS, RouterCodec, uri};
use crate::deadlines::Deadlines;
use crate::params::{self, ConnectTransport, GetRecvTracks, RtpCapabilities, SendFile, SendTrack};
use crate::spare;

/// A room: (world, room id).
pub type RoomKey = (i64, String);

slotmap::new_key_type! {
    /// A transport inside one SFU core (its wire id is [`Transport::id`]).
    struct TransportKey;
    /// A consumer inside one SFU core (its wire id goes only to the client).
    struct ConsumerKey;
}

/// Settings of one SFU core.
#[derive(Debug, Clone)]
pub struct SfuConfig {
    /// The address browsers send to: the announced IP and the UDP port. Every transport's
    /// one host candidate, and the destination given to str0m for every datagram.
    pub candidate: SocketAddr,
    /// Bytes a data channel towards one consumer may buffer (a file moves at the sender's
    /// pace; the receiving side must not drop it).
    pub data_buffer_bytes: usize,
    /// How long a peer's transports wait for the peer to say anything about its room
    /// (signalling, or its browser's STUN) before they are dropped.
    pub unconnected_timeout: Duration,
}

impl SfuConfig {
    /// Defaults for a candidate address.
    pub fn new(candidate: SocketAddr) -> Self {
        Self {
            candidate,
            data_buffer_bytes: 16 * 1024 * 1024,
            unconnected_timeout: DEFAULT_UNCONNECTED_TIMEOUT,
        }
    }
}

/// The default of [`SfuConfig::unconnected_timeout`].
pub const DEFAULT_UNCONNECTED_TIMEOUT: Duration = Duration::from_secs(30);

/// Something the SFU wants done.
#[derive(Debug)]
pub enum Out {
    /// Send a datagram from our socket.
    Transmit {
        /// Destination.
        to: SocketAddr,
        /// Bytes.
        data: Vec<u8>,
    },
    /// Deliver a message to a peer's WebSocket.
    Message {
        /// World.
        world: i64,
        /// Peer (user id).
        peer: String,
        /// The whole message (`{topic, d, uid?}`) as JSON text.
        message: String,
    },
}

/// How many of each resource the SFU holds (for `/health`, metrics and leak tests).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Rooms.
    pub rooms: usize,
    /// Peers across rooms.
    pub peers: usize,
    /// Transports.
    pub transports: usize,
    /// Transports whose `Rtc` is built (the browser has reached them).
    pub rtcs: usize,
    /// Producers.
    pub producers: usize,
    /// Consumers.
    pub consumers: usize,
    /// Data producers.
    pub data_producers: usize,
    /// Data consumers.
    pub data_consumers: usize,
    /// Address and ufrag routes.
    pub routes: usize,
    /// `Rtc`s waiting for a deadline.
    pub deadlines: usize,
}

impl Counts {
    /// Adds another core's counts.
    pub fn add(&mut self, o: &Counts) {
        self.rooms += o.rooms;
        self.peers += o.peers;
        self.transports += o.transports;
        self.rtcs += o.rtcs;
        self.producers += o.producers;
        self.consumers += o.consumers;
        self.data_producers += o.data_producers;
        self.data_consumers += o.data_consumers;
        self.routes += o.routes;
        self.deadlines += o.deadlines;
    }
}

/// Traffic counters.
#[derive(Debug, Clone, Copy, Default)]
pub struct Traffic {
    /// RTP packets received from producers.
    pub rtp_in: u64,
    /// RTP packets written towards consumers.
    pub rtp_out: u64,
    /// Data messages received from data producers.
    pub data_in: u64,
    /// Data messages written towards data consumers.
    pub data_out: u64,
    /// Data messages that found no open channel or a full buffer.
    pub data_dropped: u64,
    /// Keyframe requests relayed to producers.
    pub keyframe_requests: u64,
    /// Datagrams no transport claimed.
    pub unrouted: u64,
    /// `Rtc`s built (transports the browser reached).
    pub rtcs_built: u64,
    /// Transports dropped because their peer never spoke up.
    pub transports_expired: u64,
    /// Deadlines of `Rtc`s that came due (each one `Input::Timeout`).
    pub rtc_timeouts: u64,
}

impl Traffic {
    /// Adds another core's counters.
    pub fn add(&mut self, o: &Traffic) {
        self.rtp_in += o.rtp_in;
        self.rtp_out += o.rtp_out;
        self.data_in += o.data_in;
        self.data_out += o.data_out;
        self.data_dropped += o.data_dropped;
        self.keyframe_requests += o.keyframe_requests;
        self.unrouted += o.unrouted;
        self.rtcs_built += o.rtcs_built;
        self.transports_expired += o.transports_expired;
        self.rtc_timeouts += o.rtc_timeouts;
    }
}

pub use crowdwire_world::protocol::media_error_replies as error_replies;

/// The error a request gets when its peer's transports had expired (it is joined again).
pub const EXPIRED_REJOINED: &str = "your media transports for this room expired unused; you were joined to it again";

/// The smallest gap between two keyframe requests relayed to one producer.
const KEYFRAME_THROTTLE: Duration = Duration::from_millis(300);
/// How often speaking and bandwidth are re-evaluated.
const TICK: Duration = Duration::from_millis(200);
/// An audio level (−dBov) at or under this counts as voice.
const VOICE_LEVEL: i8 = 50;
/// str0m's egress estimate towards a consumer starts here; only a lower estimate is
/// measured congestion (without probing it never rises above it).
const INITIAL_ESTIMATE_KBPS: u64 = 800;
/// The REMB sent to lift a cap once every consumer's link has recovered.
const UNCAPPED_KBPS: u64 = 10_000;
/// Datagrams kept for a send transport whose `Rtc` is built at its first produce.
const PENDING_DATAGRAMS: usize = 32;
/// IP, UDP and SRTP bytes a packet carries besides its RTP header and payload.
const RTP_OVERHEAD: usize = 20 + 8 + 10;
/// A deadline further away than this is str0m's "never" (nothing scheduled).
const NEVER: Duration = Duration::from_secs(24 * 3600);

struct Peer {
    /// Joined as a speaker (it has, or may have, a send transport).
    speaker: bool,
    send: Option<TransportKey>,
    recv: Option<TransportKey>,
    /// The peer has signalled about this room, or its browser reached a transport: it is a
    /// media client, and its transports stay (built or not) while it is in the room.
    claimed: bool,
    /// Its transports were dropped unclaimed (see [`SfuConfig::unconnected_timeout`]).
    expired: bool,
    producers: Vec<String>,
    data_producers: Vec<String>,
    consumers: Vec<ConsumerKey>,
    data_consumers: Vec<String>,
    recv_caps: Option<RtpCapabilities>,
}

#[derive(Default)]
struct Room {
    peers: HashMap<String, Peer>,
}

struct Transport {
    /// The wire id (`transportId`).
    id: String,
    room: RoomKey,
    peer: String,
    send: bool,
    /// Built when the browser first reaches the transport (see the module's doc); boxed,
    /// so that a transport nobody reaches is small.
    rtc: Option<Box<Rtc>>,
    creds: IceCreds,
    /// The browser's fingerprint and whether we are the DTLS client.
    remote: Option<(Fingerprint, bool)>,
    remote_ufrag: Option<String>,
    pending: Vec<(Instant, SocketAddr, Vec<u8>)>,
    /// The deadline held in the core's heap for this `Rtc`, if any.
    deadline: Option<Instant>,
    /// Queued in [`Sfu::dirty`].
    dirty: bool,
    sources: Vec<SocketAddr>,
    next_mid: u32,
    next_stream: u16,
    /// A built send transport's numbers (boxed: most transports never carry any).
    sending: Option<Box<SendSide>>,
    producers_by_ssrc: HashMap<u32, String>,
    consumers_by_mid: HashMap<String, ConsumerKey>,
    data_producers_by_stream: HashMap<u16, String>,
    estimate: Option<Bitrate>,
    /// The bitrate last asked of this receive transport's estimator (bit/s).
    desired: u64,
}

/// What a send transport's `Rtc` was built with, from the browser's first produce.
struct SendSide {
    /// The extension map the `Rtc` reads.
    map: ExtensionMap,
    /// Payload type → router codec index.
    pts: HashMap<u8, usize>,
    /// Spare ids learnt from later produces, by URI.
    spare_ids: HashMap<&'static str, u8>,
}

struct Producer {
    room: RoomKey,
    peer: String,
    transport: TransportKey,
    kind: MediaKind,
    tag: String,
    ssrc: u32,
    /// Browser payload type → router codec index (RTX entries excluded).
    pts: HashMap<u8, usize>,
    codec: usize,
    rtx: bool,
    paused: bool,
    consumers: Vec<ConsumerKey>,
    last_keyframe_request: Option<Instant>,
    voice: VoiceMeter,
    /// A REMB cap is in force.
    capped: bool,
    /// Bytes received since the last bitrate tick, and the rate measured then (bit/s).
    bytes: u64,
    rate: u64,
}

#[derive(Default)]
struct VoiceMeter {
    packets: u32,
    loud: u32,
    speaking: bool,
    disagreeing_ticks: u8,
}

struct Consumer {
    producer: String,
    transport: TransportKey,
    peer: String,
    kind: MediaKind,
    mid: String,
    ssrc: u32,
    rtx_ssrc: Option<u32>,
    /// Added to the producer's extended sequence numbers (gotcha 5: start small, so a
    /// late joiner's SRTP rollover counter is right).
    seq_offset: Option<i64>,
}

struct DataProducer {
    room: RoomKey,
    peer: String,
    transport: TransportKey,
    stream: u16,
    label: String,
    protocol: String,
    ordered: bool,
    reliability: Reliability,
    /// `file` data producers deliver only to the peer that started the download.
    file: bool,
    target: Option<String>,
    consumers: Vec<String>,
}

struct DataConsumer {
    data_producer: String,
    transport: TransportKey,
    peer: String,
    stream: u16,
    /// The channel's settings (declared on the `Rtc` when it is built).
    channel: ChannelConfig,
}

/// The SFU core.
pub struct Sfu {
    config: SfuConfig,
    cert: DtlsCert,
    fingerprint: Value,
    /// `routerRtpCapabilities`, serialised once.
    router_capabilities: String,
    candidate_priority: u32,
    rooms: HashMap<RoomKey, Room>,
    transports: SlotMap<TransportKey, Transport>,
    transport_ids: HashMap<String, TransportKey>,
    by_ufrag: HashMap<String, TransportKey>,
    by_source: HashMap<SocketAddr, TransportKey>,
    producers: HashMap<String, Producer>,
    consumers: SlotMap<ConsumerKey, Consumer>,
    data_producers: HashMap<String, DataProducer>,
    data_consumers: HashMap<String, DataConsumer>,
    out: Vec<Out>,
    dirty: Vec<TransportKey>,
    deadlines: Deadlines<TransportKey>,
    /// Receive transports of peers that have not claimed their room yet, in join order (so
    /// in order of expiry).
    unclaimed: VecDeque<(Instant, TransportKey)>,
    next_tick: Instant,
    next_remb: Instant,
    traffic: Traffic,
    ids: u64,
    id_prefix: String,
}

fn new_id(prefix: &str, ids: &mut u64) -> String {
    *ids += 1;
    format!("{prefix}-{:x}", *ids)
}

impl Sfu {
    /// A new SFU core. Generates the one DTLS certificate all transports share.
    pub fn new(config: SfuConfig, now: Instant) -> Result<Self, String> {
        let provider = str0m::crypto::from_feature_flags();
        let cert = provider
            .dtls_provider
            .generate_certificate()
            .ok_or_else(|| "cannot generate a DTLS certificate".to_owned())?;
        let probe = RtcConfig::new().set_dtls_cert(cert.clone()).build(now);
        let mut probe = probe;
        let fp = probe.direct_api().local_dtls_fingerprint().clone();
        let value = params::fingerprint_value(&fp);
        let candidate_priority = Candidate::host(config.candidate, "udp")
            .map_err(|e| e.to_string())?
            .prio();
        Ok(Self {
            config,
            cert,
            fingerprint: json!({"algorithm": fp.hash_func, "value": value}),
            router_capabilities: caps::router_rtp_capabilities().to_string(),
            candidate_priority,
            rooms: HashMap::new(),
            transports: SlotMap::with_key(),
            transport_ids: HashMap::new(),
            by_ufrag: HashMap::new(),
            by_source: HashMap::new(),
            producers: HashMap::new(),
            consumers: SlotMap::with_key(),
            data_producers: HashMap::new(),
            data_consumers: HashMap::new(),
            out: Vec::new(),
            dirty: Vec::new(),
            deadlines: Deadlines::default(),
            unclaimed: VecDeque::new(),
            next_tick: now + TICK,
            next_remb: now + Duration::from_secs(1),
            traffic: Traffic::default(),
            ids: 0,
            id_prefix: format!("{:08x}", rand_u32()),
        })
    }

    /// What the SFU holds.
    pub fn counts(&self) -> Counts {
        Counts {
            rooms: self.rooms.len(),
            peers: self.rooms.values().map(|r| r.peers.len()).sum(),
            transports: self.transports.len(),
            rtcs: self.transports.values().filter(|t| t.rtc.is_some()).count(),
            producers: self.producers.len(),
            consumers: self.consumers.len(),
            data_producers: self.data_producers.len(),
            data_consumers: self.data_consumers.len(),
            routes: self.by_ufrag.len() + self.by_source.len(),
            deadlines: self.transports.values().filter(|t| t.deadline.is_some()).count(),
        }
    }

    /// Traffic so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }

    /// Takes what the SFU wants sent.
    pub fn drain(&mut self) -> std::vec::Drain<'_, Out> {
        self.out.drain(..)
    }

    /// When [`Sfu::timeout`] should next be called.
    pub fn next_timeout(&mut self) -> Instant {
        let transports = &self.transports;
        let rtc_due = self.deadlines.next(|k| transports.get(k).and_then(|t| t.deadline));
        let expiry = self.unclaimed.front().map(|(at, _)| *at);
        [rtc_due, expiry]
            .into_iter()
            .flatten()
            .fold(self.next_tick, Instant::min)
    }

    /// Time passed.
    pub fn timeout(&mut self, now: Instant) {
        let transports = &self.transports;
        let due = self
            .deadlines
            .pop_due(now, |k| transports.get(k).and_then(|t| t.deadline));
        for key in due {
            let Some(t) = self.transports.get_mut(key) else {
                continue;
            };
            t.deadline = None;
            self.traffic.rtc_timeouts += 1;
            if let Some(rtc) = t.rtc.as_mut()
                && let Err(e) = rtc.handle_input(Input::Timeout(now))
            {
                debug!(transport = %t.id, "timeout input failed: {e}");
            }
            self.mark(key);
        }
        self.expire_unclaimed(now);
        if now >= self.next_tick {
            self.next_tick = now + TICK;
            self.voice_tick();
        }
        if now >= self.next_remb {
            self.next_remb = now + Duration::from_secs(1);
            self.remb_tick();
            self.desired_bitrate_tick();
            let transports = &self.transports;
            self.deadlines
                .compact(transports.len(), |k| transports.get(k).and_then(|t| t.deadline));
        }
        self.settle(now);
    }

    /// Queues a transport for polling (once, however often it is touched).
    fn mark(&mut self, key: TransportKey) {
        if let Some(t) = self.transports.get_mut(key)
            && !t.dirty
        {
            t.dirty = true;
            self.dirty.push(key);
        }
    }

    /// A datagram arrived on our socket from `source`.
    pub fn datagram(&mut self, now: Instant, source: SocketAddr, data: &[u8]) {
        let key = if data.first().is_some_and(|b| *b < 2) {
            match self.route_stun(now, source, data) {
                Some(t) => t,
                None => {
                    self.traffic.unrouted += 1;
                    return;
                }
            }
        } else if let Some(t) = self.by_source.get(&source) {
            *t
        } else {
            self.traffic.unrouted += 1;
            return;
        };
        let Some(t) = self.transports.get_mut(key) else { return };
        let Some(rtc) = t.rtc.as_mut() else {
            if t.pending.len() < PENDING_DATAGRAMS {
                t.pending.push((now, source, data.to_vec()));
            }
            return;
        };
        feed(rtc, now, source, self.config.candidate, data);
        self.mark(key);
        self.settle(now);
    }

    /// Finds a STUN request's transport by our ufrag and learns the browser's ufrag
    /// (mediasoup-client never signals it; gotcha 1). The browser has reached the
    /// transport: a receive transport's `Rtc` is built now.
    fn route_stun(&mut self, now: Instant, source: SocketAddr, data: &[u8]) -> Option<TransportKey> {
        let msg = StunMessage::parse(data).ok()?;
        let (ours, theirs) = msg.split_username()?;
        let key = *self.by_ufrag.get(ours)?;
        let t = self.transports.get_mut(key)?;
        if t.remote_ufrag.as_deref() != Some(theirs) {
            t.remote_ufrag = Some(theirs.to_owned());
            if let Some(rtc) = t.rtc.as_mut() {
                rtc.direct_api().set_remote_ice_credentials(IceCreds {
                    ufrag: theirs.to_owned(),
                    pass: String::new(),
                });
            }
        }
        if !t.sources.contains(&source) {
            t.sources.push(source);
            if let Some(old) = self.by_source.insert(source, key)
                && old != key
                && let Some(o) = self.transports.get_mut(old)
            {
                o.sources.retain(|s| *s != source);
            }
        }
        let (room, peer) = {
            let t = &self.transports[key];
            (t.room.clone(), t.peer.clone())
        };
        self.claim(&room, &peer);
        if !self.transports[key].send
            && let Err(e) = self.build_recv_rtc(now, key)
        {
            debug!("receive transport not built: {e}");
        }
        Some(key)
    }

    /// Carries out one of a world engine's media commands.
    pub fn command(&mut self, now: Instant, world: i64, command: MediaCommand) {
        match command {
            MediaCommand::Join { room, peer, role } => self.join(now, (world, room), &peer, role == MediaRole::Speaker),
            MediaCommand::Leave { rooms, peer } => {
                for room in rooms {
                    self.leave(&(world, room), &peer);
                }
            }
            MediaCommand::Destroy { room } => {
                let key = (world, room);
                let peers: Vec<String> = self
                    .rooms
                    .get(&key)
                    .map(|r| r.peers.keys().cloned().collect())
                    .unwrap_or_default();
                for p in peers {
                    self.leave(&key, &p);
                }
                self.rooms.remove(&key);
            }
            MediaCommand::AddSpeaker { room, peer } => self.add_speaker(now, (world, room), &peer),
            MediaCommand::CloseMedia { room, peer } => {
                let key = (world, room);
                self.claim(&key, &peer);
                let ids: Vec<String> = self
                    .producers
                    .iter()
                    .filter(|(_, p)| p.room == key && p.peer == peer && p.tag == "media")
                    .map(|(id, _)| id.clone())
                    .collect();
                for id in ids {
                    self.close_producer(&id);
                }
            }
            MediaCommand::Toggle {
                room,
                peer,
                kind,
                pause,
            } => {
                let key = (world, room);
                self.claim(&key, &peer);
                let kind = caps::parse_kind(&kind);
                let mut resumed = Vec::new();
                for (id, p) in self.producers.iter_mut() {
                    if p.room == key && p.peer == peer && Some(p.kind) == kind && p.tag != "media" {
                        if p.paused && !pause {
                            resumed.push(id.clone());
                        }
                        p.paused = pause;
                    }
                }
                for id in resumed {
                    self.request_keyframe(&id, now);
                }
            }
            MediaCommand::FileTarget {
                rooms,
                owner,
                downloader,
            } => {
                for dp in self.data_producers.values_mut() {
                    if dp.file && dp.peer == owner && dp.room.0 == world && rooms.contains(&dp.room.1) {
                        dp.target = Some(downloader.clone());
                    }
                }
            }
            MediaCommand::Signal { room, peer, topic, d } => self.signal(now, (world, room), &peer, &topic, &d),
        }
        self.settle(now);
    }

    /// Browser signalling: carried out, and answered with the `-done` reply (or errors).
    fn signal(&mut self, now: Instant, key: RoomKey, peer: &str, topic: &str, d: &Value) {
        let direction = d.get("direction").and_then(|v| v.as_str()).map(str::to_owned);
        let member = self.rooms.get(&key).and_then(|r| r.peers.get(peer));
        if let Some(speaker) = member.filter(|m| m.expired).map(|m| m.speaker) {
            // Its transports were dropped while it said nothing: it gets new ones, and this
            // request (made for the old ones) its error, before the new `you-joined-as-*`.
            for e in error_replies(topic, &key.1, peer, direction.as_deref(), EXPIRED_REJOINED) {
                self.tell(key.0, peer, e);
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
                    self.tell(key.0, peer, m);
                }
            }
        }
    }

    fn tell(&mut self, world: i64, peer: &str, message: Value) {
        self.tell_text(world, peer, message.to_string());
    }

    fn tell_text(&mut self, world: i64, peer: &str, message: String) {
        self.out.push(Out::Message {
            world,
            peer: peer.to_owned(),
            message,
        });
    }

    /// The peer has shown it is a media client in this room: its transports stay.
    fn claim(&mut self, key: &RoomKey, peer: &str) {
        if let Some(p) = self.rooms.get_mut(key).and_then(|r| r.peers.get_mut(peer)) {
            p.claimed = true;
        }
    }

    fn join(&mut self, now: Instant, key: RoomKey, peer: &str, speaker: bool) {
        self.leave(&key, peer);
        let recv = self.create_transport(now, &key, peer, false);
        let send = speaker.then(|| self.create_transport(now, &key, peer, true));
        let recv_options = self.transport_options(recv);
        let send_options = send.map(|s| self.transport_options(s));
        self.rooms.entry(key.clone()).or_default().peers.insert(
            peer.to_owned(),
            Peer {
                speaker,
                send,
                recv: Some(recv),
                claimed: false,
                expired: false,
                producers: Vec::new(),
                data_producers: Vec::new(),
                consumers: Vec::new(),
                data_consumers: Vec::new(),
                recv_caps: None,
            },
        );
        self.unclaimed.push_back((now + self.config.unconnected_timeout, recv));
        // Written as text around the router's capabilities, serialised once per core: every
        // group change sends one of these, and a JSON tree of the capabilities per join cost
        // more than everything else a join does.
        let topic = if send.is_some() {
            "you-joined-as-speaker"
        } else {
            "you-joined-as-peer"
        };
        let send_part = send_options
            .map(|s| format!(r#","sendTransportOptions":{s}"#))
            .unwrap_or_default();
        let text = format!(
            r#"{{"topic":"{topic}","d":{{"roomId":{},"peerId":{},"routerRtpCapabilities":{},"recvTransportOptions":{recv_options}{send_part}}}}}"#,
            Value::from(key.1.as_str()),
            Value::from(peer),
            self.router_capabilities,
        );
        self.tell_text(key.0, peer, text);
    }

    /// Drops the transports of peers that have said nothing about their room for
    /// [`SfuConfig::unconnected_timeout`] (they stay members, and are joined again if they
    /// speak up).
    fn expire_unclaimed(&mut self, now: Instant) {
        while let Some(&(at, recv)) = self.unclaimed.front() {
            if at > now {
                break;
            }
            self.unclaimed.pop_front();
            let Some(t) = self.transports.get(recv) else { continue };
            let (room, peer) = (t.room.clone(), t.peer.clone());
            let Some(p) = self.rooms.get_mut(&room).and_then(|r| r.peers.get_mut(&peer)) else {
                continue;
            };
            if p.claimed || p.recv != Some(recv) {
                continue;
            }
            let gone: Vec<TransportKey> = [p.send.take(), p.recv.take()].into_iter().flatten().collect();
            p.expired = true;
            for k in gone {
                self.close_transport(k);
                self.traffic.transports_expired += 1;
            }
        }
    }

    fn add_speaker(&mut self, now: Instant, key: RoomKey, peer: &str) {
        let (old, expired) = match self.rooms.get(&key).and_then(|r| r.peers.get(peer)) {
            Some(p) => (p.send, p.expired),
            None => return,
        };
        if expired {
            // It has no transports: a fresh join as a speaker gives it both.
            self.join(now, key, peer, true);
            return;
        }
        if let Some(old) = old {
            self.close_transport(old);
        }
        let send = self.create_transport(now, &key, peer, true);
        let options = self.transport_options(send);
        if let Some(p) = self.rooms.get_mut(&key).and_then(|r| r.peers.get_mut(peer)) {
            p.send = Some(send);
            p.speaker = true;
        }
        self.tell(
            key.0,
            peer,
            json!({"topic": "you-are-now-a-speaker", "d": {"sendTransportOptions": options, "roomId": key.1, "peerId": peer}}),
        );
    }

    /// Takes a peer out of a room and frees everything it had there.
    fn leave(&mut self, key: &RoomKey, peer: &str) {
        let Some(p) = self.rooms.get_mut(key).and_then(|r| r.peers.remove(peer)) else {
            return;
        };
        for id in &p.producers {
            self.close_producer(id);
        }
        for id in &p.data_producers {
            self.close_data_producer(id);
        }
        for c in &p.consumers {
            self.close_consumer(*c);
        }
        for id in &p.data_consumers {
            self.close_data_consumer(id);
        }
        for t in [p.send, p.recv].into_iter().flatten() {
            self.close_transport(t);
        }
        if self.rooms.get(key).is_some_and(|r| r.peers.is_empty()) {
            self.rooms.remove(key);
        }
    }

    fn base_config(&self, creds: &IceCreds) -> RtcConfig {
        RtcConfig::new()
            .set_ice_lite(true)
            .set_local_ice_credentials(creds.clone())
            .set_dtls_cert(self.cert.clone())
            .set_rtp_mode(true)
            .clear_codecs()
            .set_sctp_max_buffered_amount(self.config.data_buffer_bytes)
    }

    /// A transport with no `Rtc` yet: an id and ICE credentials, nothing else.
    fn create_transport(&mut self, now: Instant, key: &RoomKey, peer: &str, send: bool) -> TransportKey {
        let id = new_id(&self.id_prefix, &mut self.ids);
        let creds = IceCreds::new();
        let ufrag = creds.ufrag.clone();
        let _ = now;
        let tk = self.transports.insert(Transport {
            id: id.clone(),
            room: key.clone(),
            peer: peer.to_owned(),
            send,
            rtc: None,
            creds,
            remote: None,
            remote_ufrag: None,
            pending: Vec::new(),
            deadline: None,
            dirty: false,
            sources: Vec::new(),
            next_mid: 0,
            next_stream: 1,
            sending: None,
            producers_by_ssrc: HashMap::new(),
            consumers_by_mid: HashMap::new(),
            data_producers_by_stream: HashMap::new(),
            estimate: None,
            desired: 0,
        });
        self.by_ufrag.insert(ufrag, tk);
        self.transport_ids.insert(id, tk);
        tk
    }

    fn finish_rtc(&mut self, config: RtcConfig, now: Instant) -> Rtc {
        let mut rtc = config.build(now);
        match Candidate::host(self.config.candidate, "udp") {
            Ok(c) => {
                rtc.add_local_candidate(c);
            }
            Err(e) => warn!("bad media candidate {}: {e}", self.config.candidate),
        }
        let mut api = rtc.direct_api();
        api.set_ice_controlling(false);
        api.enable_twcc_feedback();
        self.traffic.rtcs_built += 1;
        rtc
    }

    /// What a built `Rtc` needs of what the transport learnt before it existed: the browser's
    /// ICE username, its DTLS fingerprint, and the datagrams that arrived meanwhile.
    fn adopt_rtc(&mut self, now: Instant, tk: TransportKey, mut rtc: Rtc) -> Result<(), String> {
        let candidate = self.config.candidate;
        let t = self.transports.get_mut(tk).ok_or("no such transport")?;
        if let Some(u) = &t.remote_ufrag {
            rtc.direct_api().set_remote_ice_credentials(IceCreds {
                ufrag: u.clone(),
                pass: String::new(),
            });
        }
        if let Some(remote) = &t.remote {
            start_dtls(&mut rtc, remote)?;
        }
        for (at, source, data) in t.pending.drain(..) {
            feed(&mut rtc, at.max(now), source, candidate, &data);
        }
        t.pending = Vec::new();
        t.rtc = Some(Box::new(rtc));
        t.desired = 0;
        self.mark(tk);
        Ok(())
    }

    /// Builds a receive transport's `Rtc`, with the consumers and data consumers made for it
    /// so far.
    fn build_recv_rtc(&mut self, now: Instant, tk: TransportKey) -> Result<(), String> {
        let Some(t) = self.transports.get(tk) else {
            return Err("no such transport".into());
        };
        if t.rtc.is_some() || t.send {
            return Ok(());
        }
        let mut config = self
            .base_config(&t.creds)
            .set_extension_map(caps::recv_extension_map())
            .enable_bwe(Some(Bitrate::kbps(INITIAL_ESTIMATE_KBPS)));
        caps::recv_codec_config(config.codec_config());
        let mut rtc = self.finish_rtc(config, now);
        let t = &self.transports[tk];
        {
            let mut api = rtc.direct_api();
            let mut consumers: Vec<&Consumer> = t
                .consumers_by_mid
                .values()
                .filter_map(|c| self.consumers.get(*c))
                .collect();
            consumers.sort_by_key(|c| c.mid.parse::<u32>().unwrap_or(u32::MAX));
            for c in consumers {
                declare_consumer(&mut api, c);
            }
            let mut channels: Vec<&DataConsumer> = self.data_consumers.values().filter(|c| c.transport == tk).collect();
            channels.sort_by_key(|c| c.stream);
            for c in channels {
                api.create_data_channel(c.channel.clone());
            }
        }
        self.adopt_rtc(now, tk, rtc)
    }

    fn transport_options(&self, tk: TransportKey) -> Value {
        let Some(t) = self.transports.get(tk) else {
            return Value::Null;
        };
        let c = self.config.candidate;
        json!({
            "id": t.id,
            "iceParameters": {"usernameFragment": t.creds.ufrag, "password": t.creds.pass, "iceLite": true},
            "iceCandidates": [{
                "foundation": "udpcandidate",
                "priority": self.candidate_priority,
                "ip": c.ip().to_string(),
                "address": c.ip().to_string(),
                "port": c.port(),
                "type": "host",
                "protocol": "udp",
            }],
            "dtlsParameters": {"role": "auto", "fingerprints": [self.fingerprint]},
            "sctpParameters": {"port": 5000, "OS": 1024, "MIS": 1024, "maxMessageSize": 262_144},
        })
    }

    /// The transport `id` if it is `peer`'s in `key`, in the wanted direction.
    fn own_transport(&self, key: &RoomKey, peer: &str, id: &str, send: Option<bool>) -> Result<TransportKey, String> {
        let tk = self.transport_ids.get(id).copied();
        match tk.and_then(|k| Some((k, self.transports.get(k)?))) {
            Some((k, t)) if &t.room == key && t.peer == peer && send.is_none_or(|s| s == t.send) => Ok(k),
            Some(_) | None => Err("no such transport for you in this room".to_owned()),
        }
    }

    fn connect(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<Value, String> {
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
        let direction = if t.send { "send" } else { "recv" };
        if let Some(rtc) = t.rtc.as_mut() {
            start_dtls(rtc, t.remote.as_ref().expect("just set"))?;
            self.mark(tk);
        } else if !t.send {
            // The browser is about to reach this transport: build it now (DTLS starts in it).
            self.build_recv_rtc(now, tk)?;
        }
        Ok(json!({"topic": format!("@connect-transport-{direction}-done"), "d": {"roomId": key.1, "peerId": peer}}))
    }

    /// Builds a send transport's `Rtc` with the browser's header-extension ids and
    /// payload types from its first produce (gotchas 2 and 3), then replays what arrived
    /// before it existed.
    fn build_send_rtc(&mut self, now: Instant, tk: TransportKey, sent: Option<&SendTrack>) -> Result<(), String> {
        let Some(t) = self.transports.get(tk) else {
            return Err("no such transport".into());
        };
        if t.rtc.is_some() {
            return Ok(());
        }
        let mut map = ExtensionMap::empty();
        let mut pts: HashMap<u8, usize> = HashMap::new();
        let mut rtx_of: HashMap<usize, u8> = HashMap::new();
        match sent {
            Some(s) => {
                for e in &s.rtp_parameters.header_extensions {
                    if let Some(ext) = caps::extension_of(&e.uri)
                        && (1..=14).contains(&e.id)
                    {
                        map.set(e.id, ext);
                    }
                }
                let (p, r) = producer_pts(&s.rtp_parameters)?;
                pts.extend(p);
                rtx_of.extend(r);
            }
            None => map = ExtensionMap::standard(),
        }
        spare::fill_spare(&mut map);
        let mut config = self.base_config(&t.creds).set_extension_map(map.clone());
        // Named codecs at the browser's numbers; the rest at the router's, where free.
        let named: HashSet<usize> = pts.values().copied().collect();
        let mut used: HashSet<u8> = pts.keys().copied().chain(rtx_of.values().copied()).collect();
        let mut table = pts.clone();
        for (pt, idx) in &pts {
            caps::add_codec(
                config.codec_config(),
                &ROUTER_CODECS[*idx],
                *pt,
                rtx_of.get(idx).copied(),
            );
        }
        for (idx, c) in ROUTER_CODECS.iter().enumerate() {
            if named.contains(&idx) || used.contains(&c.pt) || c.rtx.is_some_and(|r| used.contains(&r)) {
                continue;
            }
            used.insert(c.pt);
            if let Some(r) = c.rtx {
                used.insert(r);
            }
            table.insert(c.pt, idx);
            caps::add_codec(config.codec_config(), c, c.pt, c.rtx);
        }
        let rtc = self.finish_rtc(config, now);
        self.adopt_rtc(now, tk, rtc)?;
        let t = self.transports.get_mut(tk).expect("adopted above");
        t.sending = Some(Box::new(SendSide {
            map,
            pts: table,
            spare_ids: HashMap::new(),
        }));
        Ok(())
    }

    fn send_track(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<Value, String> {
        let s: SendTrack = params::parse(d)?;
        let tk = self.own_transport(key, peer, &s.transport_id, Some(true))?;
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
        self.build_send_rtc(now, tk, Some(&s))?;
        let t = self.transports.get_mut(tk).expect("own transport");
        let side = t.sending.as_mut().ok_or("the send transport is not built")?;
        // The browser's numbers must be the ones this transport's `Rtc` reads.
        for (pt, idx) in &pts {
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
        let rtx_ssrc = enc.rtx.as_ref().map(|r| r.ssrc);
        if t.producers_by_ssrc.contains_key(&ssrc) {
            return Err("that SSRC is already producing".into());
        }
        let rtc = t.rtc.as_mut().expect("built");
        let m: Mid = mid.as_str().into();
        {
            // mediasoup-client recycles m-lines: a mid may come back for a new producer.
            let known = rtc.media(m).is_some();
            let mut api = rtc.direct_api();
            if !known {
                api.declare_media(m, kind);
            }
            api.expect_stream_rx(ssrc.into(), rtx_ssrc.map(Into::into), m, None);
        }
        // A new producer with the same tag replaces the old one.
        let old: Vec<String> = self
            .producers
            .iter()
            .filter(|(_, p)| &p.room == key && p.peer == peer && p.tag == tag)
            .map(|(id, _)| id.clone())
            .collect();
        for id in old {
            self.close_producer(&id);
        }
        let id = new_id(&self.id_prefix, &mut self.ids);
        let t = self.transports.get_mut(tk).expect("own transport");
        t.producers_by_ssrc.insert(ssrc, id.clone());
        self.producers.insert(
            id.clone(),
            Producer {
                room: key.clone(),
                peer: peer.to_owned(),
                transport: tk,
                kind,
                tag,
                ssrc,
                pts,
                codec,
                rtx: rtx_ssrc.is_some(),
                paused: s.paused,
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
        // Everyone else in the room who has asked for tracks gets a consumer.
        for other in self.receivers(key, peer) {
            match self.create_consumer(now, &id, key, &other) {
                Ok(params) => {
                    let msg = json!({
                        "topic": "new-peer-producer",
                        "d": {"peerId": peer, "consumerParameters": params, "roomId": key.1, "kind": caps::kind_str(kind)},
                        "uid": other,
                    });
                    self.tell(key.0, &other, msg);
                }
                Err(e) => debug!(peer = %other, "no consumer for new producer: {e}"),
            }
        }
        Ok(json!({"topic": "@send-track-send-done", "d": {"id": id, "roomId": key.1, "peerId": peer}}))
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
        let params = json!({
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
        });
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

    fn send_file(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<Value, String> {
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
                    let msg = json!({
                        "topic": "new-peer-data-producer",
                        "d": {"peerId": peer, "consumerParameters": params, "roomId": key.1},
                        "uid": other,
                    });
                    self.tell(key.0, &other, msg);
                }
                Err(e) => debug!(peer = %other, "no data consumer: {e}"),
            }
        }
        Ok(json!({"topic": "@send-file-send-done", "d": {"id": id, "roomId": key.1, "peerId": peer}}))
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

    fn get_recv_tracks(&mut self, now: Instant, key: &RoomKey, peer: &str, d: &Value) -> Result<Value, String> {
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
        Ok(
            json!({"topic": "@get-recv-tracks-done", "d": {"consumerParametersArr": arr, "roomId": key.1, "peerId": peer}}),
        )
    }

    fn close_producer(&mut self, id: &str) {
        let Some(p) = self.producers.remove(id) else { return };
        for c in &p.consumers {
            self.close_consumer(*c);
        }
        if let Some(t) = self.transports.get_mut(p.transport) {
            t.producers_by_ssrc.remove(&p.ssrc);
            if let Some(rtc) = t.rtc.as_mut() {
                rtc.direct_api().remove_stream_rx(p.ssrc.into());
            }
        }
        if let Some(m) = self.rooms.get_mut(&p.room).and_then(|r| r.peers.get_mut(&p.peer)) {
            m.producers.retain(|x| x != id);
        }
        if p.voice.speaking {
            self.announce_speaking(&p.room, &p.peer, false);
        }
    }

    fn close_consumer(&mut self, ck: ConsumerKey) {
        let Some(c) = self.consumers.remove(ck) else { return };
        if let Some(t) = self.transports.get_mut(c.transport) {
            t.consumers_by_mid.remove(&c.mid);
            if let Some(rtc) = t.rtc.as_mut() {
                rtc.direct_api().remove_media(c.mid.as_str().into());
                self.mark(c.transport);
            }
        }
        if let Some(p) = self.producers.get_mut(&c.producer) {
            p.consumers.retain(|x| *x != ck);
        }
        let room = self.transports.get(c.transport).map(|t| t.room.clone());
        if let Some(m) = room
            .and_then(|r| self.rooms.get_mut(&r))
            .and_then(|r| r.peers.get_mut(&c.peer))
        {
            m.consumers.retain(|x| *x != ck);
        }
    }

    fn close_data_producer(&mut self, id: &str) {
        let Some(dp) = self.data_producers.remove(id) else {
            return;
        };
        for c in &dp.consumers {
            self.close_data_consumer(c);
        }
        if let Some(t) = self.transports.get_mut(dp.transport) {
            t.data_producers_by_stream.remove(&dp.stream);
            if let Some(rtc) = t.rtc.as_mut()
                && let Some(cid) = rtc.direct_api().channel_id_by_sctp_stream_id(dp.stream)
            {
                rtc.direct_api().close_data_channel(cid);
            }
        }
        if let Some(m) = self.rooms.get_mut(&dp.room).and_then(|r| r.peers.get_mut(&dp.peer)) {
            m.data_producers.retain(|x| x != id);
        }
    }

    fn close_data_consumer(&mut self, id: &str) {
        let Some(c) = self.data_consumers.remove(id) else {
            return;
        };
        if let Some(rtc) = self.transports.get_mut(c.transport).and_then(|t| t.rtc.as_mut())
            && let Some(cid) = rtc.direct_api().channel_id_by_sctp_stream_id(c.stream)
        {
            rtc.direct_api().close_data_channel(cid);
        }
        if let Some(dp) = self.data_producers.get_mut(&c.data_producer) {
            dp.consumers.retain(|x| x != id);
        }
        let room = self.transports.get(c.transport).map(|t| t.room.clone());
        if let Some(m) = room
            .and_then(|r| self.rooms.get_mut(&r))
            .and_then(|r| r.peers.get_mut(&c.peer))
        {
            m.data_consumers.retain(|x| x != id);
        }
    }

    fn close_transport(&mut self, tk: TransportKey) {
        // What hangs off the transport goes first (it finds its room through it).
        let (consumers, producers, data_producers) = match self.transports.get(tk) {
            Some(t) => (
                t.consumers_by_mid.values().copied().collect::<Vec<_>>(),
                t.producers_by_ssrc.values().cloned().collect::<Vec<_>>(),
                t.data_producers_by_stream.values().cloned().collect::<Vec<_>>(),
            ),
            None => return,
        };
        for c in consumers {
            self.close_consumer(c);
        }
        for p in producers {
            self.close_producer(&p);
        }
        for dp in data_producers {
            self.close_data_producer(&dp);
        }
        let data: Vec<String> = self
            .data_consumers
            .iter()
            .filter(|(_, c)| c.transport == tk)
            .map(|(k, _)| k.clone())
            .collect();
        for c in data {
            self.close_data_consumer(&c);
        }
        let Some(mut t) = self.transports.remove(tk) else {
            return;
        };
        if self.transports.is_empty() {
            // Every deadline left is stale.
            self.deadlines = Deadlines::default();
        }
        self.transport_ids.remove(&t.id);
        self.by_ufrag.remove(&t.creds.ufrag);
        for s in &t.sources {
            if self.by_source.get(s) == Some(&tk) {
                self.by_source.remove(s);
            }
        }
        if let Some(rtc) = t.rtc.as_mut() {
            rtc.disconnect();
            // Flush the close (DTLS close_notify) so the browser learns at once.
            while let Ok(o) = rtc.poll_output() {
                match o {
                    Output::Transmit(tx) => self.out.push(Out::Transmit {
                        to: tx.destination,
                        data: tx.contents.to_vec(),
                    }),
                    Output::Timeout(_) => break,
                    Output::Event(_) => {}
                }
            }
        }
    }

    /// Asks a producer for a keyframe, at most once per [`KEYFRAME_THROTTLE`].
    fn request_keyframe(&mut self, producer: &str, now: Instant) {
        let Some(p) = self.producers.get_mut(producer) else {
            return;
        };
        if p.kind != MediaKind::Video || p.last_keyframe_request.is_some_and(|t| now < t + KEYFRAME_THROTTLE) {
            return;
        }
        p.last_keyframe_request = Some(now);
        let ssrc = p.ssrc;
        let tk = p.transport;
        if let Some(rtc) = self.transports.get_mut(tk).and_then(|t| t.rtc.as_mut())
            && let Some(rx) = rtc.direct_api().stream_rx(&ssrc.into())
        {
            rx.request_keyframe(KeyframeRequestKind::Pli);
            self.traffic.keyframe_requests += 1;
            self.mark(tk);
        }
    }

    /// Polls every touched `Rtc` until nothing is left to do, and files its next deadline.
    fn settle(&mut self, now: Instant) {
        while let Some(tk) = self.dirty.pop() {
            let mut events = Vec::new();
            let Some(t) = self.transports.get_mut(tk) else {
                continue;
            };
            t.dirty = false;
            let Some(rtc) = t.rtc.as_mut() else { continue };
            let next = loop {
                match rtc.poll_output() {
                    Ok(Output::Transmit(tx)) => self.out.push(Out::Transmit {
                        to: tx.destination,
                        data: tx.contents.to_vec(),
                    }),
                    Ok(Output::Timeout(at)) => break Some(at),
                    Ok(Output::Event(e)) => events.push(e),
                    Err(e) => {
                        debug!(transport = %t.id, "poll failed: {e}");
                        break None;
                    }
                }
            };
            // A deadline is filed only when it moves; str0m's "never" files none.
            let next = next.filter(|at| at.saturating_duration_since(now) < NEVER);
            if next != t.deadline {
                t.deadline = next;
                if let Some(at) = next {
                    self.deadlines.schedule(tk, at);
                }
            }
            for e in events {
                self.event(now, tk, e);
            }
        }
    }

    fn event(&mut self, now: Instant, tk: TransportKey, e: Event) {
        match e {
            Event::RtpPacket(p) => self.forward(tk, p),
            Event::KeyframeRequest(k) => {
                let producer = self
                    .transports
                    .get(tk)
                    .and_then(|t| t.consumers_by_mid.get(&k.mid.to_string()))
                    .and_then(|c| self.consumers.get(*c))
                    .map(|c| c.producer.clone());
                if let Some(p) = producer {
                    self.request_keyframe(&p, now);
                }
            }
            Event::ChannelData(data) => {
                let stream = self
                    .transports
                    .get_mut(tk)
                    .and_then(|t| t.rtc.as_mut())
                    .and_then(|r| r.direct_api().sctp_stream_id_by_channel_id(data.id));
                let dp = stream.and_then(|s| self.transports.get(tk)?.data_producers_by_stream.get(&s).cloned());
                if let Some(dp) = dp {
                    self.forward_data(&dp, data.binary, &data.data);
                }
            }
            Event::Connected => {
                // Consumers made before the transport was up start on a fresh keyframe.
                let producers: Vec<String> = self
                    .transports
                    .get(tk)
                    .map(|t| {
                        t.consumers_by_mid
                            .values()
                            .filter_map(|c| self.consumers.get(*c))
                            .map(|c| c.producer.clone())
                            .collect()
                    })
                    .unwrap_or_default();
                for p in producers {
                    if let Some(pr) = self.producers.get_mut(&p) {
                        pr.last_keyframe_request = None;
                    }
                    self.request_keyframe(&p, now);
                }
            }
            Event::IceConnectionStateChange(IceConnectionState::Disconnected) => {
                debug!(transport = ?self.transports.get(tk).map(|t| &t.id), "ICE disconnected");
            }
            Event::EgressBitrateEstimate(BweKind::Twcc { estimate: b, .. }) => {
                if let Some(t) = self.transports.get_mut(tk) {
                    t.estimate = Some(b);
                }
            }
            _ => {}
        }
    }

    fn forward(&mut self, tk: TransportKey, pkt: RtpPacket) {
        self.traffic.rtp_in += 1;
        let Some(t) = self.transports.get(tk) else { return };
        let Some(pid) = t.producers_by_ssrc.get(&*pkt.header.ssrc) else {
            return;
        };
        let spare = |uri: &str| t.sending.as_ref().and_then(|s| s.spare_ids.get(uri).copied());
        let level_id = spare(uri::AUDIO_LEVEL);
        let orientation_id = spare(uri::VIDEO_ORIENTATION);
        let Some(p) = self.producers.get_mut(pid) else { return };
        p.bytes += (pkt.header.header_len + pkt.payload.len() + RTP_OVERHEAD) as u64;
        let ext = &pkt.header.ext_vals;
        let level = ext.audio_level.or_else(|| {
            level_id
                .and_then(|id| spare::spare_byte(ext, id))
                .map(|b| -((b & 0x7f) as i8))
        });
        if p.kind == MediaKind::Audio && !p.paused {
            p.voice.packets += 1;
            if level.is_some_and(|l| -l <= VOICE_LEVEL) {
                p.voice.loud += 1;
            }
        }
        if p.paused {
            return;
        }
        let Some(router_pt) = p.pts.get(&*pkt.header.payload_type).map(|idx| ROUTER_CODECS[*idx].pt) else {
            return;
        };
        let out_ext = ExtensionValues {
            audio_level: level,
            voice_activity: ext.voice_activity,
            video_orientation: ext.video_orientation.or_else(|| {
                orientation_id
                    .and_then(|id| spare::spare_byte(ext, id))
                    .map(VideoOrientation::from)
            }),
            ..Default::default()
        };
        let video = p.kind == MediaKind::Video;
        let seq = *pkt.seq_no as i64;
        for &ck in &p.consumers {
            let Some(c) = self.consumers.get_mut(ck) else {
                continue;
            };
            // A consumer whose transport the browser has not reached yet gets nothing (and
            // its sequence numbers start when its stream does).
            let Some(t) = self.transports.get_mut(c.transport) else {
                continue;
            };
            let Some(rtc) = t.rtc.as_mut() else {
                continue;
            };
            let offset = *c.seq_offset.get_or_insert(1000 - seq);
            let out_seq = seq + offset;
            if out_seq < 1 {
                continue;
            }
            let mut api = rtc.direct_api();
            let Some(tx) = api.stream_tx(&c.ssrc.into()) else {
                continue;
            };
            tx.write_rtp(
                RtpWrite::new(
                    router_pt.into(),
                    SeqNo::from(out_seq as u64),
                    pkt.header.timestamp,
                    pkt.timestamp,
                    pkt.payload.clone(),
                )
                .marker(pkt.header.marker)
                .ext_vals(out_ext.clone())
                .nackable(video),
            );
            self.traffic.rtp_out += 1;
            if !t.dirty {
                t.dirty = true;
                self.dirty.push(c.transport);
            }
        }
    }

    fn forward_data(&mut self, dp: &str, binary: bool, data: &[u8]) {
        self.traffic.data_in += 1;
        let Some(p) = self.data_producers.get(dp) else { return };
        let targets: Vec<String> = p
            .consumers
            .iter()
            .filter(|c| {
                !p.file
                    || self
                        .data_consumers
                        .get(*c)
                        .is_some_and(|c| p.target.as_deref() == Some(c.peer.as_str()))
            })
            .cloned()
            .collect();
        if p.file && targets.is_empty() {
            // A file goes only to the peer that started its download (not to the room).
            self.traffic.data_dropped += 1;
            return;
        }
        for cid in targets {
            let Some(c) = self.data_consumers.get(&cid) else {
                continue;
            };
            let stream = c.stream;
            let tk = c.transport;
            let Some(rtc) = self.transports.get_mut(tk).and_then(|t| t.rtc.as_mut()) else {
                self.traffic.data_dropped += 1;
                continue;
            };
            let ch = rtc.direct_api().channel_id_by_sctp_stream_id(stream);
            let written = ch.and_then(|id| rtc.channel(id)).map(|mut ch| ch.write(binary, data));
            match written {
                Some(Ok(true)) => self.traffic.data_out += 1,
                _ => self.traffic.data_dropped += 1,
            }
            self.mark(tk);
        }
    }

    /// Decides who is speaking from the audio levels of the last tick (two ticks of
    /// agreement before a change, so a breath does not flicker the indicator).
    fn voice_tick(&mut self) {
        let mut changes = Vec::new();
        for p in self.producers.values_mut() {
            if p.kind != MediaKind::Audio {
                continue;
            }
            let v = &mut p.voice;
            let now_loud = v.packets > 0 && v.loud * 2 >= v.packets;
            v.packets = 0;
            v.loud = 0;
            if now_loud != v.speaking {
                v.disagreeing_ticks += 1;
                if v.disagreeing_ticks >= 2 {
                    v.speaking = now_loud;
                    v.disagreeing_ticks = 0;
                    changes.push((p.room.clone(), p.peer.clone(), now_loud));
                }
            } else {
                v.disagreeing_ticks = 0;
            }
        }
        for (room, peer, value) in changes {
            self.announce_speaking(&room, &peer, value);
        }
    }

    fn announce_speaking(&mut self, room: &RoomKey, peer: &str, value: bool) {
        let others: Vec<String> = self
            .rooms
            .get(room)
            .map(|r| r.peers.keys().filter(|p| p.as_str() != peer).cloned().collect())
            .unwrap_or_default();
        for o in others {
            // Both spellings: the original server sent `active_speaker`, its client
            // listens for `active-speaker`.
            for topic in ["active-speaker", "active_speaker"] {
                self.tell(
                    room.0,
                    &o,
                    json!({"topic": topic, "peerId": peer, "value": value, "roomId": room.1}),
                );
            }
        }
    }

    /// Asks each receive transport's estimator to find room for what it forwards: the
    /// measured rates of its consumers' producers, with headroom. Without this, str0m
    /// paces a consumer at its initial estimate and a group of several cameras queues up
    /// seconds of delay; raising the desired rate makes it probe the link.
    fn desired_bitrate_tick(&mut self) {
        for p in self.producers.values_mut() {
            p.rate = p.bytes * 8;
            p.bytes = 0;
        }
        let mut wanted: HashMap<TransportKey, u64> = HashMap::new();
        for c in self.consumers.values() {
            if let Some(p) = self.producers.get(&c.producer)
                && !p.paused
            {
                *wanted.entry(c.transport).or_default() += p.rate;
            }
        }
        let mut touched = Vec::new();
        for (tk, t) in self.transports.iter_mut() {
            // Only a built receive transport has an estimator to ask.
            if t.send {
                continue;
            }
            let Some(rtc) = t.rtc.as_mut() else {
                continue;
            };
            let rate = wanted.get(&tk).copied().unwrap_or(0);
            let desired = (rate + rate / 4).max(INITIAL_ESTIMATE_KBPS * 1000);
            // An increase starts a probe, which costs padding towards that consumer: raise
            // only past what the link is known to carry and by a clear step (rates swing
            // with keyframes); lower only when the need has halved.
            let known = (t.estimate.map_or(0.0, |b| b.as_f64()) as u64).max(t.desired);
            let raise = desired > known + known / 10;
            let lower = desired < t.desired / 2;
            if !raise && !lower {
                continue;
            }
            t.desired = desired;
            rtc.bwe().set_bitrate(Bitrate::ZERO, Bitrate::from(desired));
            touched.push(tk);
        }
        for tk in touched {
            self.mark(tk);
        }
    }

    /// Caps each video producer's bitrate at what its slowest consumer's link carries,
    /// when a consumer's link is congested; lifts the cap when all have recovered.
    fn remb_tick(&mut self) {
        let initial = Bitrate::kbps(INITIAL_ESTIMATE_KBPS).as_f64();
        let mut caps_ = Vec::new();
        for p in self.producers.values_mut() {
            if p.kind != MediaKind::Video {
                continue;
            }
            let min = p
                .consumers
                .iter()
                .filter_map(|c| self.consumers.get(*c))
                .filter_map(|c| self.transports.get(c.transport)?.estimate)
                .map(|b| b.as_f64())
                .fold(f64::INFINITY, f64::min);
            if min < initial {
                p.capped = true;
                caps_.push((p.transport, p.ssrc, Bitrate::from(min)));
            } else if p.capped {
                p.capped = false;
                caps_.push((p.transport, p.ssrc, Bitrate::kbps(UNCAPPED_KBPS)));
            }
        }
        for (tk, ssrc, b) in caps_ {
            if let Some(rtc) = self.transports.get_mut(tk).and_then(|t| t.rtc.as_mut())
                && let Some(rx) = rtc.direct_api().stream_rx(&ssrc.into())
            {
                rx.request_remb(b);
                self.mark(tk);
            }
        }
    }
}

/// Declares a consumer's media and outgoing stream on its transport's `Rtc`.
fn declare_consumer(api: &mut DirectApi<'_>, c: &Consumer) {
    let m: Mid = c.mid.as_str().into();
    api.declare_media(m, c.kind);
    api.declare_stream_tx(c.ssrc.into(), c.rtx_ssrc.map(Into::into), m, None);
}

fn start_dtls(rtc: &mut Rtc, remote: &(Fingerprint, bool)) -> Result<(), String> {
    let mut api: DirectApi<'_> = rtc.direct_api();
    api.set_remote_fingerprint(remote.0.clone());
    api.start_dtls(remote.1)
        .map_err(|e| format!("DTLS start failed: {e}"))?;
    api.start_sctp(remote.1);
    Ok(())
}

fn feed(rtc: &mut Rtc, now: Instant, source: SocketAddr, destination: SocketAddr, data: &[u8]) {
    let Ok(contents) = data.try_into() else { return };
    let input = Input::Receive(
        now,
        Receive {
            proto: Protocol::Udp,
            source,
            destination,
            contents,
        },
    );
    if let Err(e) = rtc.handle_input(input) {
        debug!("datagram refused: {e}");
    }
}

/// Media payload type → router codec index, and router codec index → RTX payload type.
type PayloadTables = (HashMap<u8, usize>, HashMap<usize, u8>);

/// A producer's payload types: media PT → router codec index, and router codec → RTX PT.
fn producer_pts(rp: &params::RtpParameters) -> Result<PayloadTables, String> {
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

/// A random `u32` (ids' prefix, consumer SSRCs).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    thread_local! {
        static COUNTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    }
    let n = COUNTER.with(|c| {
        let v = c.get().wrapping_add(1);
        c.set(v);
        v
    });
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(std::process::id() as u64);
    h.write_u64(n);
    h.finish() as u32
}
