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
//!
//! The core is one [`Sfu`], its `impl` spread over files by concern:
//!
//! - `mod.rs` (this file): the public types, the [`Sfu`] struct, its public API and the
//!   dispatch of the world engine's commands;
//! - `state.rs`: the records the core keeps (peers, transports, producers, consumers, ...);
//! - `rooms.rs`: joining and leaving rooms, unclaimed transports expiring, and closing what
//!   a peer had;
//! - `transports.rs`: transports and their `Rtc`s (built lazily, STUN routing, polling);
//! - `signalling.rs`: the browser's requests (`@connect-transport`, `@send-track`,
//!   `@send-file`, `@get-recv-tracks`) and the producers and consumers they make;
//! - `forwarding.rs`: RTP and data messages from producers to consumers, keyframe requests;
//! - `rate.rs`: bandwidth: what receive transports' estimators are asked for, REMB caps;
//! - `speaking.rs`: who is speaking, from audio levels.

mod forwarding;
mod rate;
mod rooms;
mod signalling;
mod speaking;
mod state;
mod transports;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use slotmap::SlotMap;
use str0m::config::DtlsCert;
use str0m::{Candidate, Input, RtcConfig};
use tracing::debug;

use crowdwire_world::engine::{MediaCommand, MediaRole};

use crate::caps;
use crate::deadlines::Deadlines;
use crate::params;

use state::{Consumer, ConsumerKey, DataConsumer, DataProducer, Producer, Room, Transport, TransportKey};
use transports::feed;

/// A room: (world, room id).
pub type RoomKey = (i64, String);

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

/// How often speaking and bandwidth are re-evaluated.
const TICK: Duration = Duration::from_millis(200);
/// Datagrams kept for a send transport whose `Rtc` is built at its first produce.
const PENDING_DATAGRAMS: usize = 32;

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

    /// Carries out one of a world engine's media commands.
    pub fn command(&mut self, now: Instant, world: i64, command: MediaCommand) {
        match command {
            MediaCommand::Join { room, peer, role } => self.join(now, (world, room), &peer, role == MediaRole::Speaker),
            MediaCommand::Leave { rooms, peer } => {
                for room in rooms {
                    self.leave(&(world, room), &peer);
                }
            }
            MediaCommand::Destroy { room } => self.destroy_room(&(world, room)),
            MediaCommand::AddSpeaker { room, peer } => self.add_speaker(now, (world, room), &peer),
            MediaCommand::CloseMedia { room, peer } => self.close_media(&(world, room), &peer),
            MediaCommand::Toggle {
                room,
                peer,
                kind,
                pause,
            } => self.toggle(now, &(world, room), &peer, &kind, pause),
            MediaCommand::FileTarget {
                rooms,
                owner,
                downloader,
            } => self.set_file_target(world, &rooms, &owner, &downloader),
            MediaCommand::Signal { room, peer, topic, d } => self.signal(now, (world, room), &peer, &topic, &d),
        }
        self.settle(now);
    }

    /// Closes a peer's screen share (its `media` producers).
    fn close_media(&mut self, key: &RoomKey, peer: &str) {
        self.claim(key, peer);
        let ids: Vec<String> = self
            .producers
            .iter()
            .filter(|(_, p)| &p.room == key && p.peer == peer && p.tag == "media")
            .map(|(id, _)| id.clone())
            .collect();
        for id in ids {
            self.close_producer(&id);
        }
    }

    /// Pauses or resumes a peer's microphone or camera; a resumed one starts on a keyframe.
    fn toggle(&mut self, now: Instant, key: &RoomKey, peer: &str, kind: &str, pause: bool) {
        self.claim(key, peer);
        let kind = caps::parse_kind(kind);
        let mut resumed = Vec::new();
        for (id, p) in self.producers.iter_mut() {
            if &p.room == key && p.peer == peer && Some(p.kind) == kind && p.tag != "media" {
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

    /// Points the file data producers of `owner` in `rooms` at the peer downloading.
    fn set_file_target(&mut self, world: i64, rooms: &[String], owner: &str, downloader: &str) {
        for dp in self.data_producers.values_mut() {
            if dp.file && dp.peer == owner && dp.room.0 == world && rooms.contains(&dp.room.1) {
                dp.target = Some(downloader.to_owned());
            }
        }
    }

    /// Sends `peer` a message (a [`crowdwire_world::protocol::MediaMessage`], or an `error`).
    fn tell(&mut self, world: i64, peer: &str, message: impl serde::Serialize) {
        let text = serde_json::to_string(&message).expect("media messages always serialise");
        self.tell_text(world, peer, text);
    }

    fn tell_text(&mut self, world: i64, peer: &str, message: String) {
        self.out.push(Out::Message {
            world,
            peer: peer.to_owned(),
            message,
        });
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
