//! The records an SFU core keeps: rooms and their peers, transports, producers, consumers,
//! data producers and data consumers, and the keys they are stored under.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::Instant;

use str0m::bwe::Bitrate;
use str0m::channel::{ChannelConfig, Reliability};
use str0m::config::Fingerprint;
use str0m::media::MediaKind;
use str0m::rtp::ExtensionMap;
use str0m::{IceCreds, Rtc};

use crate::params::RtpCapabilities;

use super::RoomKey;

slotmap::new_key_type! {
    /// A transport inside one SFU core (its wire id is [`Transport::id`]).
    pub(super) struct TransportKey;
    /// A consumer inside one SFU core (its wire id goes only to the client).
    pub(super) struct ConsumerKey;
}

pub(super) struct Peer {
    /// Joined as a speaker (it has, or may have, a send transport).
    pub(super) speaker: bool,
    pub(super) send: Option<TransportKey>,
    pub(super) recv: Option<TransportKey>,
    /// The peer has signalled about this room, or its browser reached a transport: it is a
    /// media client, and its transports stay (built or not) while it is in the room.
    pub(super) claimed: bool,
    /// Its transports were dropped unclaimed (see [`SfuConfig::unconnected_timeout`]).
    pub(super) expired: bool,
    pub(super) producers: Vec<String>,
    pub(super) data_producers: Vec<String>,
    pub(super) consumers: Vec<ConsumerKey>,
    pub(super) data_consumers: Vec<String>,
    pub(super) recv_caps: Option<RtpCapabilities>,
}

#[derive(Default)]
pub(super) struct Room {
    pub(super) peers: HashMap<String, Peer>,
}

pub(super) struct Transport {
    /// The wire id (`transportId`).
    pub(super) id: String,
    pub(super) room: RoomKey,
    pub(super) peer: String,
    pub(super) send: bool,
    /// Built when the browser first reaches the transport (see the `sfu` module's doc); boxed,
    /// so that a transport nobody reaches is small.
    pub(super) rtc: Option<Box<Rtc>>,
    pub(super) creds: IceCreds,
    /// The browser's fingerprint and whether we are the DTLS client.
    pub(super) remote: Option<(Fingerprint, bool)>,
    pub(super) remote_ufrag: Option<String>,
    pub(super) pending: Vec<(Instant, SocketAddr, Vec<u8>)>,
    /// The deadline held in the core's heap for this `Rtc`, if any.
    pub(super) deadline: Option<Instant>,
    /// Queued in [`Sfu::dirty`].
    pub(super) dirty: bool,
    pub(super) sources: Vec<SocketAddr>,
    pub(super) next_mid: u32,
    pub(super) next_stream: u16,
    /// A built send transport's numbers (boxed: most transports never carry any).
    pub(super) sending: Option<Box<SendSide>>,
    pub(super) producers_by_ssrc: HashMap<u32, String>,
    pub(super) consumers_by_mid: HashMap<String, ConsumerKey>,
    pub(super) data_producers_by_stream: HashMap<u16, String>,
    pub(super) estimate: Option<Bitrate>,
    /// The bitrate last asked of this receive transport's estimator (bit/s).
    pub(super) desired: u64,
}

/// What a send transport's `Rtc` was built with, from the browser's first produce.
pub(super) struct SendSide {
    /// The extension map the `Rtc` reads.
    pub(super) map: ExtensionMap,
    /// Payload type → router codec index.
    pub(super) pts: HashMap<u8, usize>,
    /// Spare ids learnt from later produces, by URI.
    pub(super) spare_ids: HashMap<&'static str, u8>,
}

pub(super) struct Producer {
    pub(super) room: RoomKey,
    pub(super) peer: String,
    pub(super) transport: TransportKey,
    pub(super) kind: MediaKind,
    pub(super) tag: String,
    pub(super) ssrc: u32,
    /// Browser payload type → router codec index (RTX entries excluded).
    pub(super) pts: HashMap<u8, usize>,
    pub(super) codec: usize,
    pub(super) rtx: bool,
    pub(super) paused: bool,
    pub(super) consumers: Vec<ConsumerKey>,
    pub(super) last_keyframe_request: Option<Instant>,
    pub(super) voice: VoiceMeter,
    /// A REMB cap is in force.
    pub(super) capped: bool,
    /// Bytes received since the last bitrate tick, and the rate measured then (bit/s).
    pub(super) bytes: u64,
    pub(super) rate: u64,
}

#[derive(Default)]
pub(super) struct VoiceMeter {
    pub(super) packets: u32,
    pub(super) loud: u32,
    pub(super) speaking: bool,
    pub(super) disagreeing_ticks: u8,
}

pub(super) struct Consumer {
    pub(super) producer: String,
    pub(super) transport: TransportKey,
    pub(super) peer: String,
    pub(super) kind: MediaKind,
    pub(super) mid: String,
    pub(super) ssrc: u32,
    pub(super) rtx_ssrc: Option<u32>,
    /// Added to the producer's extended sequence numbers (gotcha 5: start small, so a
    /// late joiner's SRTP rollover counter is right).
    pub(super) seq_offset: Option<i64>,
}

pub(super) struct DataProducer {
    pub(super) room: RoomKey,
    pub(super) peer: String,
    pub(super) transport: TransportKey,
    pub(super) stream: u16,
    pub(super) label: String,
    pub(super) protocol: String,
    pub(super) ordered: bool,
    pub(super) reliability: Reliability,
    /// `file` data producers deliver only to the peer that started the download.
    pub(super) file: bool,
    pub(super) target: Option<String>,
    pub(super) consumers: Vec<String>,
}

pub(super) struct DataConsumer {
    pub(super) data_producer: String,
    pub(super) transport: TransportKey,
    pub(super) peer: String,
    pub(super) stream: u16,
    /// The channel's settings (declared on the `Rtc` when it is built).
    pub(super) channel: ChannelConfig,
}
