//! The CrowdWire SFU: WebRTC transports on str0m, behind mediasoup-client's signalling.
//!
//! Browsers use the standard mediasoup-client library with the original CrowdWire
//! signalling (docs/protocol.md, "Media signalling"): the server decides the rooms (proximity
//! groups and conferences), and this crate gives each peer a receive transport and, for speakers, a
//! send transport, each one str0m `Rtc` (ICE-lite, DTLS, SRTP, SCTP) on one UDP socket.
//!
//! - [`caps`]: the router's codecs and header extensions (`routerRtpCapabilities`).
//! - [`params`]: the mediasoup parameter shapes the browser sends, parsed at the edge.
//! - [`sfu`]: the sans-IO core (rooms, transports, producers, consumers, forwarding).
//! - [`deadlines`]: one heap for the deadlines of every `Rtc` of a core.
//! - [`node`]: the IO loop, one thread and one socket per worker.
//! - [`sim`]: the browser side played by str0m, for tests and the load tool.
//! - [`spare`]: raw capture of header extensions a send transport learns late.

pub mod caps;
pub mod deadlines;
pub mod node;
pub mod params;
pub mod sfu;
pub mod sim;
pub mod spare;

pub use node::{MediaConfig, MediaNode, PeerSink};
pub use sfu::{Counts, DEFAULT_UNCONNECTED_TIMEOUT, Out, Sfu, SfuConfig, Traffic, error_replies};
