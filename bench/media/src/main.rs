//! Media load tool for the CrowdWire SFU (a benchmark, not a test).
//!
//! One room, as in a conference talk: `P` speakers publish VP8 video (and Opus audio)
//! and `N` listeners consume all of it. Every peer is a str0m `Rtc` playing the browser's
//! side of mediasoup-client ([`crowdwire_media::sim`]): real ICE, DTLS, SRTP, RTCP
//! feedback and TWCC, over a simulated loss-free network, against the sans-IO SFU core
//! ([`crowdwire_media::Sfu`]) with the signalling a browser sends.
//!
//! Publishers replay a packet trace generated from a fixed seed: 30 frames/s with a
//! keyframe every few seconds, each frame a burst of ≤ 1,100-byte packets at the target
//! bitrate, and 20 ms Opus packets. Each payload carries its packet index, so consumers
//! count unique packets (loss) and the simulated delay from publisher to consumer.
//!
//! Time is simulated in 1 ms steps, so the run is faster or slower than real time as the
//! machine allows. Only the CPU time spent inside the SFU's calls (`command`, `datagram`,
//! `timeout`, `drain`) is counted, with the thread CPU clock, during a measured window
//! after warm-up; the str0m consumers' own decryption, which would be the browsers' work,
//! is not. Consumers per core = consumers × window / SFU CPU time in the window.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use clap::Parser;
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};
use str0m::net::{Protocol, Receive};
use str0m::rtp::{ExtensionValues, RtpWrite, SeqNo, Ssrc};
use str0m::{Event, Input, Output};

use crowdwire_media::sim::{BrowserTransport, SEND_OPUS, SEND_VP8, recv_capabilities};
use crowdwire_media::{Out, Sfu, SfuConfig};
use crowdwire_world::engine::{MediaCommand, MediaRole};

const WORLD: i64 = 1;
const ROOM: &str = "1";
/// Largest RTP payload the trace writes (a browser's is ~1,100–1,200 bytes).
const MAX_PAYLOAD: usize = 1_100;
/// VP8 payload descriptor (X, S, I with a 15-bit picture id) plus the 3-byte VP8 header.
const VP8_HEADER: usize = 7;

#[derive(Parser, Debug)]
#[command(about = "Load the SFU core with synthetic VP8/Opus publishers and str0m consumers")]
struct Args {
    /// Listener counts to sweep, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "50,100,250,500")]
    consumers: Vec<usize>,
    /// Speakers publishing video (and audio) in the room.
    #[arg(long, default_value_t = 1)]
    publishers: usize,
    /// Video bitrate of each publisher, kbit/s.
    #[arg(long, default_value_t = 1_000)]
    video_kbps: u64,
    /// Video frames per second.
    #[arg(long, default_value_t = 30)]
    fps: u64,
    /// Seconds between keyframes.
    #[arg(long, default_value_t = 3)]
    keyframe_interval: u64,
    /// Publish Opus audio too.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    audio: bool,
    /// Simulated seconds of warm-up (connections settle, the estimate grows) before measuring.
    #[arg(long, default_value_t = 3)]
    warmup: u64,
    /// Simulated seconds measured.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Seed of the packet trace.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runs per listener count; the row shown is the run with the median SFU CPU.
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Instead of forwarding: this many proximity groups of `--group` peers form and part
    /// (each peer joins as a speaker and leaves, never connecting), and the SFU's CPU per
    /// join and per leave is reported.
    #[arg(long, default_value_t = 0)]
    churn: usize,
    /// Peers per group in `--churn`.
    #[arg(long, default_value_t = 3)]
    group: usize,
}

/// One packet of a publisher's trace.
#[derive(Clone, Copy)]
struct TracePacket {
    /// Offset from the start of sending.
    at: Duration,
    /// Payload bytes.
    size: usize,
    /// Last packet of a frame.
    marker: bool,
    /// First packet of a keyframe.
    keyframe: bool,
    /// RTP timestamp.
    timestamp: u32,
}

/// Generates a VP8 trace: frames of varying size (±30 %) with a keyframe of 8 average
/// frames every `keyframe_interval` s, at `kbps` on average; each frame one burst.
fn video_trace(rng: &mut StdRng, args: &Args, total: Duration) -> Vec<TracePacket> {
    let frames = total.as_millis() as u64 * args.fps / 1000;
    let per_second = args.video_kbps * 1000 / 8;
    let keyframe = per_second * 8 / args.fps;
    let per_frame = (per_second - keyframe / args.keyframe_interval.max(1)) / args.fps;
    let mut out = Vec::new();
    for f in 0..frames {
        let key = f % (args.fps * args.keyframe_interval.max(1)) == 0;
        let bytes = if key {
            keyframe as usize
        } else {
            (per_frame as f64 * rng.random_range(0.7..1.3)) as usize
        };
        let packets = bytes.div_ceil(MAX_PAYLOAD).max(1);
        for p in 0..packets {
            out.push(TracePacket {
                at: Duration::from_micros(f * 1_000_000 / args.fps),
                size: MAX_PAYLOAD.min(bytes - p * MAX_PAYLOAD).max(VP8_HEADER + 4),
                marker: p + 1 == packets,
                keyframe: key && p == 0,
                timestamp: (f * 90_000 / args.fps) as u32,
            });
        }
    }
    out
}

/// Opus at 20 ms: 80–160 bytes per packet.
fn audio_trace(rng: &mut StdRng, total: Duration) -> Vec<TracePacket> {
    (0..total.as_millis() as u64 / 20)
        .map(|i| TracePacket {
            at: Duration::from_millis(i * 20),
            size: rng.random_range(80..160),
            marker: false,
            keyframe: false,
            timestamp: (i * 960) as u32,
        })
        .collect()
}

/// A stream a publisher sends, with when each packet left.
struct Stream {
    ssrc: u32,
    video: bool,
    trace: Vec<TracePacket>,
    next: usize,
    sent_at: Vec<Instant>,
}

/// One str0m transport and where its output goes.
struct Endpoint {
    transport: BrowserTransport,
    timeout: Instant,
    /// Consumer SSRC → (publisher, stream index at that publisher).
    consumers: HashMap<u32, (usize, usize)>,
}

struct Peer {
    name: String,
    send: Option<usize>,
    recv: Option<usize>,
    inbox: Vec<Value>,
    streams: Vec<Stream>,
}

/// What a consumer received of one stream: unique packet indexes.
#[derive(Default)]
struct Received {
    seen: Vec<u64>,
}

impl Received {
    /// Marks `i`; true if it is new.
    fn mark(&mut self, i: usize) -> bool {
        let (w, b) = (i / 64, i % 64);
        if self.seen.len() <= w {
            self.seen.resize(w + 1, 0);
        }
        let new = self.seen[w] & (1 << b) == 0;
        self.seen[w] |= 1 << b;
        new
    }

    fn count_in(&self, range: std::ops::Range<usize>) -> usize {
        range
            .filter(|i| self.seen.get(i / 64).is_some_and(|w| w & (1 << (i % 64)) != 0))
            .count()
    }
}

fn thread_cpu() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// CPU spent in the SFU while measuring, and per-call distributions.
struct Meter {
    on: bool,
    total: Duration,
    datagram_ns: Histogram<u64>,
    timeout_ns: Histogram<u64>,
    /// CPU in `datagram` and in `timeout` calls (the rest is `command` and `drain`).
    in_datagram: Duration,
    in_timeout: Duration,
}

impl Meter {
    fn new() -> Result<Self> {
        Ok(Meter {
            on: false,
            total: Duration::ZERO,
            datagram_ns: Histogram::new_with_bounds(1, 100_000_000_000, 3)?,
            timeout_ns: Histogram::new_with_bounds(1, 100_000_000_000, 3)?,
            in_datagram: Duration::ZERO,
            in_timeout: Duration::ZERO,
        })
    }
}

struct Sim {
    sfu: Sfu,
    server: SocketAddr,
    now: Instant,
    start_sending: Option<Instant>,
    peers: Vec<Peer>,
    endpoints: Vec<Endpoint>,
    by_addr: HashMap<SocketAddr, usize>,
    /// (endpoint, publisher, stream) → received.
    received: HashMap<(usize, usize, usize), Received>,
    delay_us: Histogram<u64>,
    meter: Meter,
    next_port: u32,
}

impl Sim {
    fn new() -> Result<Self> {
        let server: SocketAddr = "10.0.0.1:40000".parse()?;
        let now = Instant::now();
        Ok(Sim {
            sfu: Sfu::new(SfuConfig::new(server), now).map_err(anyhow::Error::msg)?,
            server,
            now,
            start_sending: None,
            peers: Vec::new(),
            endpoints: Vec::new(),
            by_addr: HashMap::new(),
            received: HashMap::new(),
            delay_us: Histogram::new_with_bounds(1, 100_000_000_000, 3)?,
            meter: Meter::new()?,
            next_port: 0,
        })
    }

    fn next_addr(&mut self) -> SocketAddr {
        self.next_port += 1;
        let n = self.next_port;
        SocketAddr::from(([10, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8], 5000))
    }

    /// Runs `f` on the SFU, counting its CPU time when measuring.
    fn timed<T>(&mut self, f: impl FnOnce(&mut Sfu, Instant) -> T, hist: Option<bool>) -> T {
        if !self.meter.on {
            return f(&mut self.sfu, self.now);
        }
        let t0 = thread_cpu();
        let r = f(&mut self.sfu, self.now);
        let spent = thread_cpu().saturating_sub(t0);
        self.meter.total += spent;
        let ns = spent.as_nanos() as u64;
        match hist {
            Some(true) => {
                self.meter.datagram_ns.saturating_record(ns);
                self.meter.in_datagram += spent;
            }
            Some(false) => {
                self.meter.timeout_ns.saturating_record(ns);
                self.meter.in_timeout += spent;
            }
            None => {}
        }
        r
    }

    fn command(&mut self, c: MediaCommand) -> Result<()> {
        self.timed(|sfu, now| sfu.command(now, WORLD, c), None);
        self.pump(true)
    }

    fn signal(&mut self, peer: usize, topic: &str, mut d: Value) -> Result<Value> {
        let name = self.peers[peer].name.clone();
        d["peerId"] = json!(name);
        self.command(MediaCommand::Signal {
            room: ROOM.into(),
            peer: name,
            topic: topic.into(),
            d,
        })?;
        let done = format!("{topic}-");
        let inbox = &mut self.peers[peer].inbox;
        let at = inbox
            .iter()
            .rposition(|m| m["topic"].as_str().is_some_and(|t| t.starts_with(&done)))
            .with_context(|| format!("no reply to {topic}"))?;
        let reply = inbox.remove(at);
        if !reply["d"]["error"].is_null() {
            bail!("{topic} failed: {reply}");
        }
        Ok(reply)
    }

    fn add_endpoint(&mut self, options: &Value, send: bool) -> Result<usize> {
        let addr = self.next_addr();
        let transport = BrowserTransport::new(self.now, options, addr, send).map_err(anyhow::Error::msg)?;
        let e = self.endpoints.len();
        self.endpoints.push(Endpoint {
            transport,
            timeout: self.now,
            consumers: HashMap::new(),
        });
        self.by_addr.insert(addr, e);
        Ok(e)
    }

    /// Joins a peer, builds and connects its transports, and asks for the room's tracks.
    fn join(&mut self, name: String, speaker: bool) -> Result<usize> {
        let peer = self.peers.len();
        self.peers.push(Peer {
            name: name.clone(),
            send: None,
            recv: None,
            inbox: Vec::new(),
            streams: Vec::new(),
        });
        let role = if speaker {
            MediaRole::Speaker
        } else {
            MediaRole::Listener
        };
        self.command(MediaCommand::Join {
            room: ROOM.into(),
            peer: name,
            role,
        })?;
        let topic = if speaker {
            "you-joined-as-speaker"
        } else {
            "you-joined-as-peer"
        };
        let inbox = &mut self.peers[peer].inbox;
        let at = inbox
            .iter()
            .position(|m| m["topic"] == topic)
            .with_context(|| format!("no {topic}"))?;
        let joined = inbox.remove(at);
        let recv = self.add_endpoint(&joined["d"]["recvTransportOptions"], false)?;
        self.peers[peer].recv = Some(recv);
        let body = self.endpoints[recv].transport.connect_message(ROOM, "recv");
        self.signal(peer, "@connect-transport", body)?;
        if speaker {
            let send = self.add_endpoint(&joined["d"]["sendTransportOptions"], true)?;
            self.peers[peer].send = Some(send);
            let body = self.endpoints[send].transport.connect_message(ROOM, "send");
            self.signal(peer, "@connect-transport", body)?;
        }
        self.signal(
            peer,
            "@get-recv-tracks",
            json!({"roomId": ROOM, "rtpCapabilities": recv_capabilities()}),
        )?;
        Ok(peer)
    }

    /// Publishes video (and audio) from a speaker with its trace.
    fn publish(&mut self, peer: usize, video: Vec<TracePacket>, audio: Option<Vec<TracePacket>>) -> Result<()> {
        let send = self.peers[peer].send.context("not a speaker")?;
        let base = 0x1000_0000 + peer as u32 * 16;
        let body = self.endpoints[send].transport.produce_video(ROOM, base, base + 1);
        self.peers[peer].streams.push(Stream {
            ssrc: base,
            video: true,
            trace: video,
            next: 0,
            sent_at: Vec::new(),
        });
        self.signal(peer, "@send-track", body)?;
        if let Some(audio) = audio {
            let body = self.endpoints[send].transport.produce_audio(ROOM, base + 2);
            self.peers[peer].streams.push(Stream {
                ssrc: base + 2,
                video: false,
                trace: audio,
                next: 0,
                sent_at: Vec::new(),
            });
            self.signal(peer, "@send-track", body)?;
        }
        Ok(())
    }

    fn on_message(&mut self, peer_name: String, message: Value) -> Result<()> {
        let Some(peer) = self.peers.iter().position(|p| p.name == peer_name) else {
            return Ok(());
        };
        if message["topic"] != "new-peer-producer" {
            self.peers[peer].inbox.push(message);
            return Ok(());
        }
        let params = &message["d"]["consumerParameters"];
        let publisher = self
            .peers
            .iter()
            .position(|p| p.name == message["d"]["peerId"].as_str().unwrap_or_default())
            .context("producer of an unknown peer")?;
        let video = params["kind"] == "video";
        let stream = self.peers[publisher]
            .streams
            .iter()
            .position(|s| s.video == video)
            .context("no such stream")?;
        let recv = self.peers[peer].recv.context("no receive transport")?;
        let e = &mut self.endpoints[recv];
        let ssrc = e.transport.consume(params).map_err(anyhow::Error::msg)?;
        e.consumers.insert(ssrc, (publisher, stream));
        Ok(())
    }

    /// Moves datagrams and messages until nothing is left, without advancing time; after a
    /// command, first polls every endpoint (a command may have changed any of them).
    fn pump(&mut self, poll_all: bool) -> Result<()> {
        let mut dirty: Vec<usize> = if poll_all {
            (0..self.endpoints.len()).collect()
        } else {
            Vec::new()
        };
        loop {
            let outs: Vec<Out> = self.timed(|sfu, _| sfu.drain().collect(), None);
            let mut to_sfu: Vec<(SocketAddr, Vec<u8>)> = Vec::new();
            for o in outs {
                match o {
                    Out::Message { peer, message, .. } => self.on_message(peer, serde_json::from_str(&message)?)?,
                    Out::Transmit { to, data } => {
                        let Some(&e) = self.by_addr.get(&to) else { continue };
                        let input = Input::Receive(
                            self.now,
                            Receive {
                                proto: Protocol::Udp,
                                source: self.server,
                                destination: to,
                                contents: data.as_slice().try_into()?,
                            },
                        );
                        let _ = self.endpoints[e].transport.rtc.handle_input(input);
                        // In RTP mode str0m holds one received packet until the next
                        // poll: poll before feeding the next datagram.
                        self.poll_endpoint(e, &mut to_sfu);
                    }
                }
            }
            for e in dirty.drain(..) {
                self.poll_endpoint(e, &mut to_sfu);
            }
            if to_sfu.is_empty() {
                return Ok(());
            }
            for (from, data) in to_sfu {
                self.timed(|sfu, now| sfu.datagram(now, from, &data), Some(true));
            }
        }
    }

    fn poll_endpoint(&mut self, e: usize, to_sfu: &mut Vec<(SocketAddr, Vec<u8>)>) {
        loop {
            let ep = &mut self.endpoints[e];
            match ep.transport.rtc.poll_output() {
                Ok(Output::Transmit(t)) => to_sfu.push((t.source, t.contents.to_vec())),
                Ok(Output::Timeout(t)) => {
                    ep.timeout = t;
                    return;
                }
                Err(_) => {
                    ep.timeout = self.now + Duration::from_secs(3600);
                    return;
                }
                Ok(Output::Event(Event::RtpPacket(p))) => {
                    let Some(&(publisher, stream)) = ep.consumers.get(&*p.header.ssrc) else {
                        continue;
                    };
                    let video = self.peers[publisher].streams[stream].video;
                    let offset = if video { VP8_HEADER } else { 1 };
                    let Some(tag) = p.payload.get(offset..offset + 4) else {
                        continue;
                    };
                    let index = u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]) as usize;
                    if self.received.entry((e, publisher, stream)).or_default().mark(index)
                        && let Some(sent) = self.peers[publisher].streams[stream].sent_at.get(index)
                    {
                        let d = self.now.saturating_duration_since(*sent).as_micros() as u64;
                        self.delay_us.saturating_record(d);
                    }
                }
                Ok(Output::Event(_)) => {}
            }
        }
    }

    /// Writes every trace packet due by now.
    fn send_due(&mut self) -> Result<()> {
        let Some(start) = self.start_sending else { return Ok(()) };
        let now = self.now;
        for peer in 0..self.peers.len() {
            let Some(send) = self.peers[peer].send else { continue };
            for s in 0..self.peers[peer].streams.len() {
                loop {
                    let stream = &mut self.peers[peer].streams[s];
                    let Some(pkt) = stream.trace.get(stream.next).copied() else {
                        break;
                    };
                    if start + pkt.at > now {
                        break;
                    }
                    let index = stream.next;
                    stream.next += 1;
                    stream.sent_at.push(now);
                    let (ssrc, video) = (stream.ssrc, stream.video);
                    let payload = payload(&pkt, index, video, peer);
                    let mut api = self.endpoints[send].transport.rtc.direct_api();
                    let tx = api.stream_tx(&Ssrc::from(ssrc)).context("no send stream")?;
                    let (pt, ext) = if video {
                        (SEND_VP8, ExtensionValues::default())
                    } else {
                        let ext = ExtensionValues {
                            audio_level: Some(-30),
                            voice_activity: Some(true),
                            ..Default::default()
                        };
                        (SEND_OPUS, ext)
                    };
                    let write = RtpWrite::new(pt.into(), SeqNo::from(index as u64 + 1), pkt.timestamp, now, payload)
                        .marker(pkt.marker)
                        .nackable(video)
                        .ext_vals(ext);
                    tx.write_rtp(write);
                }
            }
            // str0m stamps written packets when time next moves forward.
            let _ = self.endpoints[send].transport.rtc.handle_input(Input::Timeout(now));
            // str0m stamps written packets when time next moves forward.
            let _ = self.endpoints[send].transport.rtc.handle_input(Input::Timeout(now));
            let mut to_sfu = Vec::new();
            self.poll_endpoint(send, &mut to_sfu);
            for (from, data) in to_sfu {
                self.timed(|sfu, now| sfu.datagram(now, from, &data), Some(true));
            }
        }
        self.pump(false)
    }

    /// Advances simulated time by `d` in 1 ms steps.
    fn run(&mut self, d: Duration) -> Result<()> {
        let end = self.now + d;
        while self.now < end {
            self.now += Duration::from_millis(1);
            let now = self.now;
            if self.sfu.next_timeout() <= now {
                self.timed(|sfu, now| sfu.timeout(now), Some(false));
            }
            let mut to_sfu = Vec::new();
            for e in 0..self.endpoints.len() {
                if self.endpoints[e].timeout <= now {
                    let _ = self.endpoints[e].transport.rtc.handle_input(Input::Timeout(now));
                    self.poll_endpoint(e, &mut to_sfu);
                }
            }
            for (from, data) in to_sfu {
                self.timed(|sfu, now| sfu.datagram(now, from, &data), Some(true));
            }
            self.pump(false)?;
            self.send_due()?;
        }
        Ok(())
    }
}

/// A payload of `pkt.size` bytes whose tag (at a fixed offset) is the packet index.
fn payload(pkt: &TracePacket, index: usize, video: bool, peer: usize) -> Vec<u8> {
    let mut p = Vec::with_capacity(pkt.size);
    if video {
        // X=1, S=1 on a frame's first packet; I=1 with a 15-bit picture id; then the VP8
        // payload header, whose low bit is 0 on a keyframe.
        let picture = (pkt.timestamp / 3000) as u16 & 0x7fff;
        p.extend_from_slice(&[0x90, 0x80, 0x80 | (picture >> 8) as u8, picture as u8]);
        p.extend_from_slice(&[if pkt.keyframe { 0x10 } else { 0x11 }, 0x02, 0x00]);
    } else {
        p.push(0xfc);
    }
    p.extend_from_slice(&(index as u32).to_be_bytes());
    p.resize(pkt.size.max(p.len()), peer as u8);
    p
}

/// One run's results.
struct Figures {
    consumers: usize,
    video_expected: usize,
    video_received: usize,
    audio_expected: usize,
    audio_received: usize,
    rtp_out: u64,
    sfu_cpu: Duration,
    in_datagram: Duration,
    in_timeout: Duration,
    window: Duration,
    wall: Duration,
    datagram_p50_us: f64,
    datagram_p99_us: f64,
    timeout_p99_us: f64,
    delay_p50_ms: f64,
    delay_p99_ms: f64,
}

fn run_one(args: &Args, consumers: usize) -> Result<Figures> {
    let wall = Instant::now();
    let total = Duration::from_secs(args.warmup + args.seconds + 2);
    let mut rng = StdRng::seed_from_u64(args.seed);
    let mut sim = Sim::new()?;
    let mut speakers = Vec::new();
    for i in 0..args.publishers {
        speakers.push(sim.join(format!("speaker-{i}"), true)?);
    }
    for i in 0..consumers {
        sim.join(format!("listener-{i}"), false)?;
    }
    sim.run(Duration::from_secs(2))?;
    for &s in &speakers {
        let video = video_trace(&mut rng, args, total);
        let audio = args.audio.then(|| audio_trace(&mut rng, total));
        sim.publish(s, video, audio)?;
    }
    sim.start_sending = Some(sim.now);
    sim.run(Duration::from_secs(args.warmup))?;

    let first: Vec<Vec<usize>> = sim
        .peers
        .iter()
        .map(|p| p.streams.iter().map(|s| s.next).collect())
        .collect();
    let rtp_out_before = sim.sfu.traffic().rtp_out;
    sim.delay_us.reset();
    sim.meter.on = true;
    sim.run(Duration::from_secs(args.seconds))?;
    sim.meter.on = false;
    let rtp_out = sim.sfu.traffic().rtp_out - rtp_out_before;
    let last: Vec<Vec<usize>> = sim
        .peers
        .iter()
        .map(|p| p.streams.iter().map(|s| s.next).collect())
        .collect();
    // Keep sending while the window's last packets drain (and NACK repairs land).
    sim.run(Duration::from_secs(1))?;

    let mut f = Figures {
        consumers,
        video_expected: 0,
        video_received: 0,
        audio_expected: 0,
        audio_received: 0,
        rtp_out,
        sfu_cpu: sim.meter.total,
        in_datagram: sim.meter.in_datagram,
        in_timeout: sim.meter.in_timeout,
        window: Duration::from_secs(args.seconds),
        wall: Duration::ZERO,
        datagram_p50_us: sim.meter.datagram_ns.value_at_quantile(0.5) as f64 / 1e3,
        datagram_p99_us: sim.meter.datagram_ns.value_at_quantile(0.99) as f64 / 1e3,
        timeout_p99_us: sim.meter.timeout_ns.value_at_quantile(0.99) as f64 / 1e3,
        delay_p50_ms: sim.delay_us.value_at_quantile(0.5) as f64 / 1e3,
        delay_p99_ms: sim.delay_us.value_at_quantile(0.99) as f64 / 1e3,
    };
    // Every peer but the publisher itself receives each stream.
    for (publisher, p) in sim.peers.iter().enumerate() {
        for (s, stream) in p.streams.iter().enumerate() {
            let range = first[publisher][s]..last[publisher][s];
            for (r, peer) in sim.peers.iter().enumerate() {
                if r == publisher {
                    continue;
                }
                let Some(recv) = peer.recv else { continue };
                let got = sim
                    .received
                    .get(&(recv, publisher, s))
                    .map_or(0, |x| x.count_in(range.clone()));
                if stream.video {
                    f.video_expected += range.len();
                    f.video_received += got;
                } else {
                    f.audio_expected += range.len();
                    f.audio_received += got;
                }
            }
        }
    }
    f.wall = wall.elapsed();
    Ok(f)
}

fn loss(expected: usize, received: usize) -> f64 {
    if expected == 0 {
        return 0.0;
    }
    100.0 * (expected.saturating_sub(received)) as f64 / expected as f64
}

/// `--churn`: groups that form and part without anybody connecting, as when people walk
/// past each other; the SFU's CPU for each `Join` (up to its `you-joined-as-speaker`) and
/// each `Leave`.
fn churn(args: &Args) -> Result<()> {
    let addr: SocketAddr = "127.0.0.1:40000".parse().context("address")?;
    let start = Instant::now();
    let mut sfu = Sfu::new(SfuConfig::new(addr), start).map_err(anyhow::Error::msg)?;
    let mut join_ns = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    let mut leave_ns = Histogram::<u64>::new_with_bounds(1, 10_000_000_000, 3)?;
    let (mut join_total, mut leave_total, mut reply_bytes, mut joins) = (Duration::ZERO, Duration::ZERO, 0usize, 0u64);
    let group = args.group.max(2);
    let wall = Instant::now();
    for g in 0..args.churn {
        let room = (g % 1000).to_string();
        let peers: Vec<String> = (0..group).map(|i| format!("p{}", (g * group + i) % 10_000)).collect();
        // 1 ms of simulated time per group.
        let now = start + Duration::from_millis(g as u64);
        for p in &peers {
            let t0 = thread_cpu();
            sfu.command(
                now,
                WORLD,
                MediaCommand::Join {
                    room: room.clone(),
                    peer: p.clone(),
                    role: MediaRole::Speaker,
                },
            );
            let outs: Vec<Out> = sfu.drain().collect();
            let spent = thread_cpu() - t0;
            join_total += spent;
            join_ns.saturating_record(spent.as_nanos() as u64);
            joins += 1;
            for o in outs {
                if let Out::Message { message, .. } = o {
                    reply_bytes += message.len();
                }
            }
        }
        for p in &peers {
            let t0 = thread_cpu();
            sfu.command(
                now,
                WORLD,
                MediaCommand::Leave {
                    rooms: vec![room.clone()],
                    peer: p.clone(),
                },
            );
            sfu.drain().for_each(drop);
            let spent = thread_cpu() - t0;
            leave_total += spent;
            leave_ns.saturating_record(spent.as_nanos() as u64);
        }
        if sfu.next_timeout() <= now {
            sfu.timeout(now);
        }
    }
    let counts = sfu.counts();
    let traffic = sfu.traffic();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "# media-bench --churn: {} groups of {group} (each peer joins as a speaker, never connects, leaves)",
        args.churn
    );
    println!(
        "| joins | CPU per join mean | join p50 / p99 / max | CPU per leave mean | leave p50 / p99 | reply bytes per join | Rtcs built | left after | wall |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---|---:|");
    println!(
        "| {joins} | {:.1} µs | {:.1} / {:.1} / {:.1} µs | {:.1} µs | {:.1} / {:.1} µs | {} | {} | {} | {:.1} s |",
        us(join_total) / joins.max(1) as f64,
        join_ns.value_at_quantile(0.5) as f64 / 1e3,
        join_ns.value_at_quantile(0.99) as f64 / 1e3,
        join_ns.max() as f64 / 1e3,
        us(leave_total) / joins.max(1) as f64,
        leave_ns.value_at_quantile(0.5) as f64 / 1e3,
        leave_ns.value_at_quantile(0.99) as f64 / 1e3,
        reply_bytes / joins.max(1) as usize,
        traffic.rtcs_built,
        if counts == Default::default() {
            "nothing".to_owned()
        } else {
            format!("{counts:?}")
        },
        wall.elapsed().as_secs_f64(),
    );
    if counts != Default::default() {
        bail!("the SFU kept state after every peer left: {counts:?}");
    }
    Ok(())
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.churn > 0 {
        return churn(&args);
    }
    if args.fps == 0 || args.seconds == 0 {
        bail!("--fps and --seconds must be positive");
    }
    println!(
        "# media-bench: {} publisher(s), VP8 {} kbit/s at {} fps, keyframe every {} s, audio {}, warm-up {} s, window {} s, seed {}, median of {} run(s)",
        args.publishers,
        args.video_kbps,
        args.fps,
        args.keyframe_interval,
        args.audio,
        args.warmup,
        args.seconds,
        args.seed,
        args.runs.max(1)
    );
    println!(
        "| listeners | video consumers | forwarded pkt/s | SFU CPU (core share) | CPU per forwarded pkt | video consumers per core | video loss | audio loss | CPU in datagram / timeout | datagram call p50 / p99 | timeout call p99 | delay p50 / p99 | wall |"
    );
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for &n in &args.consumers {
        let mut runs = (0..args.runs.max(1))
            .map(|_| run_one(&args, n))
            .collect::<Result<Vec<_>>>()?;
        runs.sort_by_key(|f| f.sfu_cpu);
        let spread: Vec<String> = runs
            .iter()
            .map(|f| format!("{:.3}", f.sfu_cpu.as_secs_f64() / f.window.as_secs_f64()))
            .collect();
        eprintln!("{n} listeners: SFU core share per run {}", spread.join(", "));
        let f = runs.swap_remove(runs.len() / 2);
        let video_consumers = f.consumers * args.publishers + args.publishers * args.publishers.saturating_sub(1);
        let share = f.sfu_cpu.as_secs_f64() / f.window.as_secs_f64();
        println!(
            "| {} | {} | {:.0} | {:.3} | {:.2} µs | {:.0} | {:.3} % | {:.3} % | {:.0} % / {:.0} % | {:.1} / {:.1} µs | {:.1} µs | {:.1} / {:.1} ms | {:.1} s |",
            f.consumers,
            video_consumers,
            f.rtp_out as f64 / f.window.as_secs_f64(),
            share,
            f.sfu_cpu.as_secs_f64() * 1e6 / f.rtp_out.max(1) as f64,
            video_consumers as f64 / share,
            loss(f.video_expected, f.video_received),
            loss(f.audio_expected, f.audio_received),
            100.0 * f.in_datagram.as_secs_f64() / f.sfu_cpu.as_secs_f64().max(1e-9),
            100.0 * f.in_timeout.as_secs_f64() / f.sfu_cpu.as_secs_f64().max(1e-9),
            f.datagram_p50_us,
            f.datagram_p99_us,
            f.timeout_p99_us,
            f.delay_p50_ms,
            f.delay_p99_ms,
            f.wall.as_secs_f64(),
        );
    }
    Ok(())
}
