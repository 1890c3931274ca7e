//! One bot: a guest that joins a world over REST, opens the WebSocket, spawns, random-walks
//! at R Hz (or only pings), and times every movement of other bots it receives.
//!
//! Latency: every position a bot sends carries the bot's index and the move's sequence
//! number in its fractions ([`encode`]); before sending, the mover records the send time in
//! the shared [`Sends`] rings, and a receiver reads both numbers back from the position of
//! each `PLAYER_MOVEMENT` and finds the send it came from, without any lookup by user id.

use std::f64::consts::PI;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::time::{Instant as TInstant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::failover::{BotLog, ChatSent, ConnEvent, ConnKind, Timeline};
use crate::grid::Grid;
use crate::setup;

/// What every bot shares.
pub struct Shared {
    /// `http://127.0.0.1:PORT` of each target server.
    pub bases: Vec<String>,
    /// Per bot: the index in `bases` of the server it talks to (REST and WebSocket).
    pub target_of: Vec<u32>,
    /// REST client (keep-alive pool).
    pub http: reqwest::Client,
    /// World ids; bot `i` goes to `worlds[i % len]`.
    pub worlds: Vec<i64>,
    /// One interest grid per world (same index as `worlds`).
    pub grids: Vec<Mutex<Grid>>,
    /// Sends, per mover.
    pub sends: Sends,
    /// Time origin of every `*_ns` value.
    pub origin: Instant,
    /// Bot `i` starts connecting at `origin + ramp * i / bots`.
    pub ramp: Duration,
    /// Number of bots.
    pub bots: usize,
    /// Measurement window `[start, end)`: moves sent in it are counted.
    pub start: Duration,
    /// End of the measurement window; no moves are sent after it.
    pub end: Duration,
    /// Bots close their sockets at this time (end + drain).
    pub stop: Duration,
    /// Moves per second per bot (0: idle, pings only).
    pub rate: f64,
    /// Walking speed, px/s.
    pub speed: f64,
    /// Area each world's bots walk in: x0, y0, width, height.
    pub area: (f64, f64, f64, f64),
    /// Heartbeat period.
    pub ping: Duration,
    /// With --claim-first: how many of the bots `0..worlds` (the first of each world) have not
    /// finished connecting; the others wait for 0. Without it: 0 from the start.
    pub pioneers: tokio::sync::watch::Sender<usize>,
    /// Concurrent setups (REST + handshake) allowed.
    pub setup_gate: Semaphore,
    /// Ask for batched frames (`?batch=1`: one JSON array per frame, flushed every 50 ms).
    pub batch: bool,
    /// Counters.
    pub c: Counters,
    /// Movement latencies of the window's moves, µs, in a few shards (bot `i` records into
    /// shard `i % len`, a frame's worth at a time): a handful of histograms stay in the
    /// caches, where one per bot did not.
    pub latency: Vec<Mutex<Histogram<u64>>>,
    /// Bots register accounts (`POST /register`, `POST /login`) instead of being guests, so
    /// that the world's activity log records their joins and leaves.
    pub registered: bool,
    /// A bot whose socket closes or drops connects again, to another target.
    pub reconnect: bool,
    /// Seconds between a bot's chats to `ALL` in the window (`None`: no chat).
    pub chat_every: Option<Duration>,
    /// Each bot keeps the last movement it received about every other bot.
    pub final_positions: bool,
    /// Any failover option is on: bots also look for chat, snapshots, joins, leaves and
    /// presence in what they receive (see [`crate::failover`]).
    pub failover: bool,
    /// Movement deliveries per 100 ms (with `--timeline`).
    pub timeline: Option<Timeline>,
    /// Wall clock at `origin`, ms since the Unix epoch.
    pub origin_unix_ms: u64,
    /// Per bot: [`VALID`] | the sequence tag of the last move it sent.
    pub final_tag: Vec<AtomicU64>,
    /// Per bot: the position of the last move it sent (`f64` bits of x and y).
    pub final_xy: Vec<[AtomicU64; 2]>,
    /// `error` messages from the server, by `topic: message` (at most 50 different ones).
    pub error_texts: Mutex<std::collections::BTreeMap<String, u64>>,
}

impl Shared {
    /// Bot `i` is not on its world's home target: the target of the world's first bot, which
    /// claims the world there with --claim-first.
    pub fn off_home(&self, i: usize) -> bool {
        self.target_of[i] != self.target_of[i % self.worlds.len()]
    }

    /// Nanoseconds since the origin.
    pub fn now_ns(&self) -> u64 {
        self.origin.elapsed().as_nanos() as u64
    }

    /// Wall clock now, ms since the Unix epoch (on the origin's clock, so it never goes back).
    pub fn unix_ms(&self) -> u64 {
        self.origin_unix_ms + self.origin.elapsed().as_millis() as u64
    }

    /// The sequence tag and position of the last move bot `i` sent, if it sent any.
    pub fn final_move(&self, i: usize) -> Option<(u64, (f64, f64))> {
        let v = self.final_tag.get(i)?.load(Ordering::Relaxed);
        let [x, y] = self.final_xy.get(i)?;
        (v & VALID != 0).then(|| {
            (
                v & (SEQS - 1),
                (
                    f64::from_bits(x.load(Ordering::Relaxed)),
                    f64::from_bits(y.load(Ordering::Relaxed)),
                ),
            )
        })
    }
}

/// Run-wide counters.
#[derive(Default)]
pub struct Counters {
    /// Bots that got their `PLAYERS_SNAPSHOT`.
    pub connected: AtomicU64,
    /// Moves sent inside the window.
    pub sent: AtomicU64,
    /// Moves sent in all.
    pub sent_total: AtomicU64,
    /// Deliveries the interest rule predicts for the window's moves.
    pub expected: AtomicU64,
    /// `error` messages from the server.
    pub server_errors: AtomicU64,
    /// Sockets the server closed (or that failed) before the end, and that were not replaced
    /// by a reconnection (`--reconnect`).
    pub dropped: AtomicU64,
    /// Sockets closed or dropped before the end, reconnected or not.
    pub disconnects: AtomicU64,
    /// Reconnections that got their `PLAYERS_SNAPSHOT`.
    pub reconnects: AtomicU64,
    /// Chats written to a socket.
    pub chats_sent: AtomicU64,
    /// Bots whose setup failed.
    pub setup_failed: AtomicU64,
    /// Sends that failed.
    pub send_failed: AtomicU64,
    /// `PING`s sent.
    pub pings: AtomicU64,
    /// `PONG`s received.
    pub pongs: AtomicU64,
    /// Group messages received inside the window: `WIRE_PLAYER`, `UNWIRE_PLAYER`,
    /// `CLOSE_ROOM`, and `you-joined-as-speaker`/`-peer` (one per media room a bot joins,
    /// so the count of group changes the server carried out, media included).
    pub wires: AtomicU64,
    /// See [`Counters::wires`].
    pub unwires: AtomicU64,
    /// See [`Counters::wires`].
    pub close_rooms: AtomicU64,
    /// See [`Counters::wires`].
    pub room_joins: AtomicU64,
}

/// A recorded send.
#[derive(Clone, Copy)]
struct Sent {
    at_ns: u64,
    measured: bool,
}

/// `(mover, sequence number) → send time`, without locks or hashing: every position a bot
/// sends carries its own index and its sequence number in its fractions ([`encode`]), so a
/// receiver reads both from the position, finds the mover's ring slot for the sequence
/// number, and checks the 12-bit tag kept there (a slot reused by a later move does not
/// match).
pub struct Sends {
    /// Per mover and slot: [`VALID`], [`MEASURED`], the sequence tag and the send time.
    slots: Vec<AtomicU64>,
    bots: usize,
}

/// Sends remembered per mover: 256 moves, 51 s at 5 Hz (receipts come within seconds; a
/// later one finds its slot reused and counts as unmatched). 4 MB for 2,000 movers, so that
/// a lookup rarely misses the caches.
const RING: usize = 256;
/// Marks a send inside the measurement window.
const MEASURED: u64 = 1 << 63;
/// Marks a slot that holds a send.
const VALID: u64 = 1 << 62;
/// Bits of the send time (ns since the origin: 13 days).
const TIME_BITS: u32 = 50;
/// Movers the x fraction can name (`index / MOVERS`).
const MOVERS: f64 = 32_768.0;
/// Sequence numbers the y fraction carries (`seq % SEQS / SEQS`): the tag.
pub const SEQS: u64 = 4_096;

/// The fractions a position carries: the mover's index on x, its sequence number on y. Both
/// are multiples of a power of two, so `floor + fraction` and JSON keep them exactly.
fn encode(mover: u32, seq: u64) -> (f64, f64) {
    (f64::from(mover) / MOVERS, (seq % SEQS) as f64 / SEQS as f64)
}

/// The mover and sequence tag a received position carries. Rounded, not truncated: a JSON
/// parser without exact float round-trips (serde_json's default) may be one unit in the last
/// place off for these long decimals.
fn decode(x: f64, y: f64) -> (u32, u64) {
    let mover = ((x - x.floor()) * MOVERS).round() as u32 % MOVERS as u32;
    let tag = ((y - y.floor()) * SEQS as f64).round() as u64 % SEQS;
    (mover, tag)
}

impl Sends {
    /// Rings for `bots` movers.
    pub fn new(bots: usize) -> Sends {
        Sends {
            slots: (0..bots * RING).map(|_| AtomicU64::new(0)).collect(),
            bots,
        }
    }

    fn record(&self, mover: u32, seq: u64, sent: Sent) {
        let i = mover as usize * RING + (seq as usize % RING);
        let v = VALID
            | if sent.measured { MEASURED } else { 0 }
            | ((seq % SEQS) << TIME_BITS)
            | (sent.at_ns & ((1 << TIME_BITS) - 1));
        self.slots[i].store(v, Ordering::Relaxed);
    }

    fn find(&self, mover: u32, tag: u64) -> Option<Sent> {
        if mover as usize >= self.bots {
            return None;
        }
        let v = self.slots[mover as usize * RING + (tag as usize % RING)].load(Ordering::Relaxed);
        if v & VALID == 0 || (v >> TIME_BITS) & (SEQS - 1) != tag {
            return None;
        }
        Some(Sent {
            at_ns: v & ((1 << TIME_BITS) - 1),
            measured: v & MEASURED != 0,
        })
    }
}

/// What one bot saw.
pub struct BotReport {
    /// Latencies (µs) of the frame being read, recorded into the shared shard after it.
    pending_us: Vec<u64>,
    /// This bot's shard of [`Shared::latency`].
    shard: usize,
    /// The same, by the number of replica hops of the delivery (0, 1, 2: the mover and/or
    /// the receiver not on the world's home target); only with several targets.
    pub latency_by_hops: [Option<Histogram<u64>>; 3],
    /// This bot is not on its world's home target.
    pub off_home: bool,
    /// Deliveries of the window's moves.
    pub delivered: u64,
    /// Deliveries of moves sent outside the window (ramp-up).
    pub delivered_outside: u64,
    /// Movements whose (mover, position) was not in the map.
    pub unmatched: u64,
    /// Movements with zero velocity (view notices, not moves).
    pub notices: u64,
    /// The bot connected.
    pub connected: bool,
    /// First setup or connection error, for the report.
    pub error: Option<String>,
    /// Connections, chat and what it heard of others (see [`crate::failover`]).
    pub log: BotLog,
    /// The target its socket is on now.
    target: u32,
    /// Reading what came before a reconnection's `PLAYERS_SNAPSHOT` (which is not a fresh
    /// snapshot on an open socket).
    handshake: bool,
}

impl BotReport {
    fn empty() -> BotReport {
        BotReport {
            pending_us: Vec::new(),
            shard: 0,
            latency_by_hops: [None, None, None],
            off_home: false,
            delivered: 0,
            delivered_outside: 0,
            unmatched: 0,
            notices: 0,
            connected: false,
            error: None,
            log: BotLog::default(),
            target: 0,
            handshake: false,
        }
    }
}

#[derive(Deserialize)]
struct XY {
    #[serde(default)]
    x: f64,
    #[serde(default)]
    y: f64,
}

#[derive(Deserialize)]
struct Movement {
    velocity: XY,
    position: XY,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

struct Walker {
    /// This bot's index (carried in every position it sends).
    me: u32,
    x: f64,
    y: f64,
    heading: f64,
    seq: u64,
    /// The last position sent (what the server has).
    sent: (f64, f64),
}

impl Walker {
    fn bounds(area: (f64, f64, f64, f64)) -> (f64, f64, f64, f64) {
        // One pixel of margin on each side, so that floor + fraction stays inside the area.
        let (x0, y0, w, h) = area;
        (x0 + 1.0, y0 + 1.0, x0 + (w - 2.0).max(1.0), y0 + (h - 2.0).max(1.0))
    }

    fn new(rng: &mut impl Rng, area: (f64, f64, f64, f64), me: u32) -> Walker {
        let (lx, ly, hx, hy) = Self::bounds(area);
        let x = rng.random_range(lx..hx.max(lx + 0.5));
        let y = rng.random_range(ly..hy.max(ly + 0.5));
        let mut w = Walker {
            me,
            x,
            y,
            heading: rng.random_range(0.0..2.0 * PI),
            seq: 0,
            sent: (0.0, 0.0),
        };
        w.sent = w.position();
        w
    }

    fn position(&self) -> (f64, f64) {
        let (fx, fy) = encode(self.me, self.seq);
        (self.x.floor() + fx, self.y.floor() + fy)
    }

    /// One step of `step` px; returns the position to send and the velocity.
    fn step(
        &mut self,
        rng: &mut impl Rng,
        area: (f64, f64, f64, f64),
        step: f64,
        speed: f64,
    ) -> ((f64, f64), (f64, f64)) {
        let (lx, ly, hx, hy) = Self::bounds(area);
        self.heading += rng.random_range(-0.4..0.4);
        let mut nx = self.x + self.heading.cos() * step;
        let mut ny = self.y + self.heading.sin() * step;
        if nx < lx || nx > hx {
            self.heading = PI - self.heading;
            nx = nx.clamp(lx, hx);
        }
        if ny < ly || ny > hy {
            self.heading = -self.heading;
            ny = ny.clamp(ly, hy);
        }
        self.x = nx;
        self.y = ny;
        self.seq += 1;
        let p = self.position();
        self.sent = p;
        let v = (self.heading.cos() * speed, self.heading.sin() * speed);
        // A zero velocity would read as a view notice: never send one.
        let v = if v.0 == 0.0 && v.1 == 0.0 { (speed, 0.0) } else { v };
        (p, v)
    }
}

/// Runs bot `i` to the end of the run.
pub async fn run(sh: Arc<Shared>, i: usize) -> BotReport {
    let mut report = BotReport::empty();
    report.shard = i % sh.latency.len().max(1);
    report.off_home = sh.off_home(i);
    let world_ix = i % sh.worlds.len();
    report.log.bot = i as u32;
    report.log.world_ix = world_ix;
    report.log.home = sh.target_of[i];
    let delay = sh.ramp.mul_f64(i as f64 / sh.bots.max(1) as f64);
    tokio::time::sleep_until(TInstant::from_std(sh.origin + delay)).await;
    let world = sh.worlds[world_ix];
    let pioneer = i < sh.worlds.len();
    if !pioneer && *sh.pioneers.borrow() > 0 {
        // --claim-first: the first bot of every world connects before any other bot.
        let mut rx = sh.pioneers.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|&left| left == 0)).await;
    }
    let ws = {
        let _permit = sh.setup_gate.acquire().await.expect("gate never closed");
        let r = connect(&sh, i, &sh.bases[sh.target_of[i] as usize], world).await;
        if pioneer {
            sh.pioneers.send_modify(|left| *left = left.saturating_sub(1));
        }
        match r {
            Ok(ok) => ok,
            Err(e) => {
                sh.c.setup_failed.fetch_add(1, Ordering::Relaxed);
                report.error = Some(format!("{e:#}"));
                return report;
            }
        }
    };
    let (mut ws, token, user_id) = ws;
    report.log.user_id = user_id;
    report.connected = true;
    report.log.connected = true;
    report.target = sh.target_of[i];
    report.log.conn.push(ConnEvent {
        at_ms: sh.unix_ms(),
        target: report.target,
        kind: ConnKind::Connected,
    });
    sh.c.connected.fetch_add(1, Ordering::Relaxed);
    let me = i as u32;
    let mut rng = StdRng::seed_from_u64(rand::random());
    let mut walker = Walker::new(&mut rng, sh.area, me);
    let (x, y) = walker.sent;
    sh.grids[world_ix]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .place(me, x, y);
    send_join(&sh, &mut ws, walker.sent).await;
    let moving = sh.rate > 0.0;
    let period = if moving {
        Duration::from_secs_f64(1.0 / sh.rate)
    } else {
        Duration::from_secs(3600)
    };
    let step = if moving { sh.speed / sh.rate } else { 0.0 };
    let phase = period.mul_f64(rng.random_range(0.0..1.0));
    let mut tick = tokio::time::interval_at(TInstant::now() + phase, period);
    // With --reconnect, the ticks a bot misses while it has no socket are skipped, so that it
    // keeps its own phase afterwards (with `Delay`, the bots that got back at the same moment
    // would all move at the same moment from then on).
    let missed = if sh.reconnect {
        MissedTickBehavior::Skip
    } else {
        MissedTickBehavior::Delay
    };
    tick.set_missed_tick_behavior(missed);
    let ping_phase = sh.ping.mul_f64(rng.random_range(0.0..1.0));
    let mut ping = tokio::time::interval_at(TInstant::now() + ping_phase, sh.ping);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    // Chat to ALL every `chat_every` inside the window, from a random phase. A chat that falls
    // due while the bot has no socket is written as soon as it has one again (with
    // --reconnect, one: missed ticks beyond the first are skipped, as for moves).
    let (chatting, chat_period) = match sh.chat_every {
        Some(p) => (true, p),
        None => (false, Duration::from_secs(3600)),
    };
    let chat_from = TInstant::from_std(sh.origin + sh.start) + chat_period.mul_f64(rng.random_range(0.0..1.0));
    let mut chat = tokio::time::interval_at(chat_from, chat_period);
    chat.set_missed_tick_behavior(missed);
    let mut chat_n = 0u32;
    // Chats whose write failed: written again on the next socket.
    let mut outbox: Vec<u32> = Vec::new();
    let end_moves = TInstant::from_std(sh.origin + sh.end);
    let stop = tokio::time::sleep_until(TInstant::from_std(sh.origin + sh.stop));
    tokio::pin!(stop);
    loop {
        let ended = loop {
            tokio::select! {
                _ = &mut stop => break None,
                _ = tick.tick(), if moving && TInstant::now() < end_moves => {
                    let ((x, y), (vx, vy)) = walker.step(&mut rng, sh.area, step, sh.speed);
                    let now = sh.now_ns();
                    let measured = now >= sh.start.as_nanos() as u64 && now < sh.end.as_nanos() as u64;
                    sh.sends.record(me, walker.seq, Sent { at_ns: now, measured });
                    sh.final_xy[i][0].store(x.to_bits(), Ordering::Relaxed);
                    sh.final_xy[i][1].store(y.to_bits(), Ordering::Relaxed);
                    sh.final_tag[i].store(VALID | (walker.seq % SEQS), Ordering::Relaxed);
                    let receivers = sh.grids[world_ix]
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .move_and_count(me, x, y);
                    sh.c.sent_total.fetch_add(1, Ordering::Relaxed);
                    if measured {
                        sh.c.sent.fetch_add(1, Ordering::Relaxed);
                        sh.c.expected.fetch_add(receivers, Ordering::Relaxed);
                    }
                    let text = format!(
                        r#"{{"topic":"PLAYER_MOVEMENT","position":{{"x":{x},"y":{y}}},"velocity":{{"x":{vx},"y":{vy}}}}}"#
                    );
                    if ws.send(Message::Text(text.into())).await.is_err() {
                        sh.c.send_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = ping.tick() => {
                    let (x, y) = walker.sent;
                    let text = format!(r#"{{"topic":"PING","position":{{"x":{x},"y":{y}}}}}"#);
                    sh.c.pings.fetch_add(1, Ordering::Relaxed);
                    if sh.failover {
                        report.log.pings_ms.push(sh.unix_ms());
                    }
                    if ws.send(Message::Text(text.into())).await.is_err() {
                        sh.c.send_failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
                _ = chat.tick(), if chatting && TInstant::now() < end_moves => {
                    let n = chat_n;
                    chat_n += 1;
                    send_chat(&sh, &mut ws, &mut report, n, &mut outbox).await;
                }
                msg = ws.next() => match msg {
                    Some(Ok(Message::Text(t))) => on_text(&sh, &mut report, t.as_str()),
                    Some(Ok(Message::Close(f))) => break Some(ConnKind::Closed(f.map(|f| u16::from(f.code)))),
                    Some(Err(_)) | None => break Some(ConnKind::Dropped),
                    Some(Ok(_)) => {}
                },
            }
        };
        let Some(kind) = ended else {
            // The run's end: a clean close.
            report.log.connected_at_end = true;
            let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
            break;
        };
        let closed_at = TInstant::now();
        report.log.conn.push(ConnEvent {
            at_ms: sh.unix_ms(),
            target: report.target,
            kind,
        });
        sh.c.disconnects.fetch_add(1, Ordering::Relaxed);
        let back = if sh.reconnect {
            reconnect(&sh, &mut report, world, &token, closed_at).await
        } else {
            None
        };
        let Some(next) = back else {
            sh.c.dropped.fetch_add(1, Ordering::Relaxed);
            if sh.reconnect {
                report.log.conn.push(ConnEvent {
                    at_ms: sh.unix_ms(),
                    target: report.target,
                    kind: ConnKind::GaveUp,
                });
            }
            break;
        };
        ws = next;
        // Resume as a client does: spawn again where it stands (a move of zero length).
        send_join(&sh, &mut ws, walker.sent).await;
        for n in std::mem::take(&mut outbox) {
            report.log.chat_rewrites += 1;
            send_chat(&sh, &mut ws, &mut report, n, &mut outbox).await;
        }
    }
    report.log.chats_unsent = outbox.len() as u64;
    sh.grids[world_ix].lock().unwrap_or_else(|p| p.into_inner()).remove(me);
    report
}

/// `JOIN_PLAYER` at `(x, y)`: the spawn, or the re-announcement of a resumed client.
async fn send_join(sh: &Shared, ws: &mut Socket, (x, y): (f64, f64)) {
    let text = format!(r#"{{"topic":"JOIN_PLAYER","position":{{"x":{x},"y":{y}}}}}"#);
    if ws.send(Message::Text(text.into())).await.is_err() {
        sh.c.send_failed.fetch_add(1, Ordering::Relaxed);
    }
}

/// Writes chat `n` of this bot to `ALL`; a failed write goes to `outbox`, for the next socket.
async fn send_chat(sh: &Shared, ws: &mut Socket, report: &mut BotReport, n: u32, outbox: &mut Vec<u32>) {
    let text = format!(
        r#"{{"topic":"SEND_MESSAGE","text":"{}","to":"ALL"}}"#,
        crate::failover::chat_text(report.log.bot, n)
    );
    if ws.send(Message::Text(text.into())).await.is_ok() {
        report.log.chats.push(ChatSent {
            n,
            at_ms: sh.unix_ms(),
            target: report.target,
        });
        sh.c.chats_sent.fetch_add(1, Ordering::Relaxed);
    } else {
        sh.c.send_failed.fetch_add(1, Ordering::Relaxed);
        outbox.push(n);
    }
}

/// After a close or a drop (`--reconnect`): opens a socket again with the same token (no REST
/// join: the bot is already in the world) on another target: round-robin from the one it
/// was on, skipping it, and starting at a random other one, so that the bots of a stopped
/// replica spread over all the others instead of piling onto the next one. A failed attempt moves on
/// to the next target after a back-off of 0.1 s, doubling up to 1 s. Returns the socket once
/// its `PLAYERS_SNAPSHOT` came, or `None` when the run ended first.
async fn reconnect(
    sh: &Shared,
    report: &mut BotReport,
    world: i64,
    token: &str,
    closed_at: TInstant,
) -> Option<Socket> {
    let n = sh.bases.len().max(1) as u32;
    let stop_at = TInstant::from_std(sh.origin + sh.stop);
    let mut backoff = Duration::from_millis(100);
    // A random first step (anything tied to the bot's index would follow its placement, and
    // send all the bots of a replica the same way).
    let mut step = if n > 1 { 1 + rand::random::<u32>() % (n - 1) } else { 0 };
    loop {
        let target = (report.target + step) % n;
        step = 1;
        report.target = target;
        let base = &sh.bases[target as usize];
        let attempt = open_socket(sh, base, world, token, Duration::from_secs(10));
        match tokio::time::timeout_at(stop_at, attempt).await {
            Err(_) => return None,
            Ok(Ok((ws, early))) => {
                sh.c.reconnects.fetch_add(1, Ordering::Relaxed);
                report.log.conn.push(ConnEvent {
                    at_ms: sh.unix_ms(),
                    target,
                    kind: ConnKind::Reconnected {
                        ms: closed_at.elapsed().as_millis() as u64,
                    },
                });
                report.handshake = true;
                for t in &early {
                    on_text(sh, report, t);
                }
                report.handshake = false;
                return Some(ws);
            }
            Ok(Err(e)) => {
                report.log.conn.push(ConnEvent {
                    at_ms: sh.unix_ms(),
                    target,
                    kind: ConnKind::ReconnectFailed(format!("{e:#}")),
                });
                if TInstant::now() + backoff >= stop_at {
                    return None;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
}

/// A token (a guest's, or with `--registered` a new account's), the REST join, the WebSocket
/// and its `PLAYERS_SNAPSHOT`. Returns the socket, the token (to reconnect with) and the
/// user id the server's messages carry.
async fn connect(sh: &Shared, i: usize, base: &str, world: i64) -> anyhow::Result<(Socket, String, String)> {
    let (token, user_id) = if sh.registered {
        setup::register_bot(&sh.http, base, i).await?
    } else {
        setup::guest(&sh.http, base).await?
    };
    setup::rest_join(&sh.http, base, world, &token).await?;
    let (ws, _early) = open_socket(sh, base, world, &token, Duration::from_secs(30)).await?;
    Ok((ws, token, user_id))
}

/// Opens the WebSocket of `world` on `base` and waits for its `PLAYERS_SNAPSHOT`, each step
/// within `within`. Returns the socket and the text frames that came before the snapshot (and
/// the snapshot's own frame when it is a batched array, which may carry more messages).
async fn open_socket(
    sh: &Shared,
    base: &str,
    world: i64,
    token: &str,
    within: Duration,
) -> anyhow::Result<(Socket, Vec<String>)> {
    let batch = if sh.batch { "&batch=1" } else { "" };
    let url = format!(
        "{}/api/v1/ws/{world}?token={token}{batch}",
        base.replacen("http://", "ws://", 1)
    );
    // tungstenite zero-fills its whole read buffer before every read: keep it small (the
    // default 128 KiB costs a 128 KiB memset per read; the server's frames are ~2 KB).
    let config = WebSocketConfig::default().read_buffer_size(4 * 1024);
    // Nagle off: a bot's small frames must leave at once.
    let (mut ws, _) = tokio::time::timeout(
        within,
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .map_err(|_| anyhow::anyhow!("WebSocket handshake timed out"))??;
    let deadline = TInstant::now() + within;
    let mut early = Vec::new();
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().starts_with(r#"{"topic":"PLAYERS_SNAPSHOT""#) => break,
            Ok(Some(Ok(Message::Text(t)))) if t.as_str().starts_with(r#"[{"topic":"PLAYERS_SNAPSHOT""#) => {
                early.push(t.as_str().to_owned());
                break;
            }
            Ok(Some(Ok(Message::Text(t)))) => early.push(t.as_str().to_owned()),
            Ok(Some(Ok(Message::Close(f)))) => anyhow::bail!("closed before the snapshot: {f:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("closed before the snapshot"),
            Err(_) => anyhow::bail!("no PLAYERS_SNAPSHOT within {within:?}"),
        }
    }
    Ok((ws, early))
}

/// One element of a batched frame: only what the generator reads.
#[derive(Deserialize)]
struct Any<'a> {
    #[serde(borrow)]
    topic: &'a str,
    #[serde(default)]
    velocity: Option<XY>,
    #[serde(default)]
    position: Option<XY>,
}

/// The start of every movement the server sends (its field order is fixed by
/// `ServerMessage::PlayerMovement`).
#[cfg(test)]
const MOVE: &str = r#"{"topic":"PLAYER_MOVEMENT","#;

/// What the generator needs of a movement: whether it is a view notice (zero velocity), and
/// the mover and sequence tag its position carries ([`encode`]).
#[derive(Debug, PartialEq)]
struct Seen {
    notice: bool,
    mover: u32,
    tag: u64,
}

/// `round(fraction of the decimal t × scale) mod scale`, read from its digits rather than
/// through a float parse (the positions' decimals are exact); `None` when `t` is not a plain
/// decimal.
fn fraction_of(t: &str, scale: u64) -> Option<u64> {
    let b = t.as_bytes();
    let frac = match memchr::memchr(b'.', b) {
        Some(i) => &b[i + 1..],
        None => &[][..],
    };
    // Up to 15 digits: the integer is exact as an f64, and so is the scaling by a power of
    // two; the one division rounds correctly, so rounding gives the exact numerator.
    if frac.len() > 15 {
        return None;
    }
    let mut digits = 0u64;
    for &d in frac {
        if !d.is_ascii_digit() {
            return None;
        }
        digits = digits * 10 + u64::from(d - b'0');
    }
    let scaled = (digits as f64 * scale as f64 / 10f64.powi(frac.len() as i32)).round() as u64;
    Some(scaled % scale)
}

/// Reads one movement in the server's exact layout, right after [`MOVE`]:
/// `"user_id":"…","velocity":{"x":…,"y":…},"position":{"x":…,"y":…}}`. Returns what the
/// generator needs of it and the rest of the text, or `None` when the layout differs (the
/// caller then parses JSON). Scanning instead of deserialising keeps the generator's own
/// CPU low, so that more of the machine goes to the server under test.
fn scan_move(s: &str) -> Option<(Seen, &str)> {
    /// The text up to `end` (an ASCII byte, so the split is on a character boundary).
    fn until(s: &str, end: u8) -> Option<(&str, &str)> {
        let i = memchr::memchr(end, s.as_bytes())?;
        Some((&s[..i], &s[i + 1..]))
    }
    fn field<'a>(s: &'a str, key: &str, end: u8) -> Option<(&'a str, &'a str)> {
        until(s.strip_prefix(key)?, end)
    }
    let s = s.strip_prefix(r#""user_id":""#)?;
    let (_id, s) = until(s, b'"')?;
    let (vx, s) = field(s, r#","velocity":{"x":"#, b',')?;
    let (vy, s) = field(s, r#""y":"#, b'}')?;
    let (px, s) = field(s, r#","position":{"x":"#, b',')?;
    let (py, s) = field(s, r#""y":"#, b'}')?;
    let s = s.strip_prefix('}')?;
    // The server writes a zero as `0.0`; anything else is parsed.
    let zero = |t: &str| t == "0.0" || t.parse::<f64>().is_ok_and(|v| v == 0.0);
    let seen = Seen {
        notice: zero(vx) && zero(vy),
        mover: fraction_of(px, MOVERS as u64)? as u32,
        tag: fraction_of(py, SEQS)?,
    };
    Some((seen, s))
}

fn on_text(sh: &Shared, report: &mut BotReport, text: &str) {
    read_text(sh, report, text);
    if !report.pending_us.is_empty() {
        let mut h = sh.latency[report.shard].lock().unwrap_or_else(|p| p.into_inner());
        for us in report.pending_us.drain(..) {
            h.saturating_record(us);
        }
    }
}

fn read_text(sh: &Shared, report: &mut BotReport, text: &str) {
    if text == "PONG" {
        sh.c.pongs.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let now = sh.now_ns();
    let in_window = now >= sh.start.as_nanos() as u64 && now < sh.end.as_nanos() as u64;
    // One pass over the elements: a message (or each element of a batched array) starts
    // with `{"topic":"`, which cannot occur inside a JSON string (its quotes would be
    // escaped there), so every match starts a message.
    let mut rest = text;
    let mut found = Vec::new();
    let mut scanned = true;
    while let Some(i) = TOPIC_FINDER.find(rest.as_bytes()) {
        let at = &rest[i + TOPIC.len()..];
        let Some(end) = memchr::memchr(b'"', at.as_bytes()) else {
            break;
        };
        let (topic, tail) = (&at[..end], &at[end + 1..]);
        rest = tail;
        match topic {
            "PLAYER_MOVEMENT" => match tail.strip_prefix(',').and_then(scan_move) {
                Some((m, after)) => {
                    found.push(m);
                    rest = after;
                }
                None => scanned = false,
            },
            "error" => {
                server_error(sh, text);
                let at = sh.unix_ms();
                report.log.errors += 1;
                let (first, _) = report.log.errors_first_last_ms.unwrap_or((at, at));
                report.log.errors_first_last_ms = Some((first, at));
            }
            "WIRE_PLAYER" if in_window => _ = sh.c.wires.fetch_add(1, Ordering::Relaxed),
            "UNWIRE_PLAYER" if in_window => _ = sh.c.unwires.fetch_add(1, Ordering::Relaxed),
            "CLOSE_ROOM" if in_window => _ = sh.c.close_rooms.fetch_add(1, Ordering::Relaxed),
            _ => {}
        }
    }
    if sh.failover {
        failover_scan(sh, report, text);
    }
    // Media messages are serialised with `topic` after `d` (sorted keys): look for them
    // apart, with a vectorised search that costs little on the movement frames.
    if in_window {
        let joins = JOINED.find_iter(text.as_bytes()).count() as u64;
        if joins > 0 {
            sh.c.room_joins.fetch_add(joins, Ordering::Relaxed);
        }
    }
    if scanned {
        for seen in found {
            on_move(sh, report, now, seen);
        }
        return;
    }
    // A movement in another layout than the server's: parse the JSON.
    if text.starts_with('[') {
        let Ok(items) = serde_json::from_str::<Vec<Any>>(text) else {
            report.unmatched += 1;
            return;
        };
        for m in items {
            if let ("PLAYER_MOVEMENT", Some(v), Some(p)) = (m.topic, &m.velocity, &m.position) {
                on_move(sh, report, now, seen(v, p));
            }
        }
    } else {
        match serde_json::from_str::<Movement>(text) {
            Ok(m) => on_move(sh, report, now, seen(&m.velocity, &m.position)),
            Err(_) => report.unmatched += 1,
        }
    }
}

/// How every message the server sends starts.
const TOPIC: &str = r#"{"topic":""#;

/// [`TOPIC`], searched with a vectorised finder built once.
static TOPIC_FINDER: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(TOPIC));

/// `you-joined-as-speaker` or `-peer`: a media room joined.
static JOINED: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(r#""topic":"you-joined-as-"#));

/// A finder of `"topic":"T"`, wherever the key stands in its object.
fn topic_finder(topic: &str) -> memchr::memmem::Finder<'static> {
    memchr::memmem::Finder::new(format!(r#""topic":"{topic}""#).as_bytes()).into_owned()
}

static CHAT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| topic_finder("SEND_MESSAGE"));
static PRESENCE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| topic_finder("PLAYER_PRESENCE"));
static SNAPSHOT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| topic_finder("PLAYERS_SNAPSHOT"));
static JOIN: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| topic_finder("JOIN_PLAYER"));
static LEAVE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| topic_finder("LEAVE_PLAYER"));

/// The messages the failover figures count (only with a failover option). Chat and presence
/// are serialised with sorted keys (`topic` last): they are found by `"topic":"…"` anywhere,
/// and the frames that hold one are parsed as JSON (they are few).
fn failover_scan(sh: &Shared, report: &mut BotReport, text: &str) {
    let b = text.as_bytes();
    // At the run's end every bot closes its socket cleanly (and leaves): those LEAVE_PLAYERs
    // reach the bots that have not closed theirs yet and do not count.
    let ended = sh.now_ns() >= sh.stop.as_nanos() as u64;
    let leaves = if ended { 0 } else { LEAVE.find_iter(b).count() as u64 };
    if leaves > 0 || CHAT.find(b).is_some() || PRESENCE.find(b).is_some() {
        let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
        let items = match &v {
            serde_json::Value::Array(a) => a.iter().collect(),
            other => vec![other],
        };
        for m in items {
            match m["topic"].as_str() {
                Some("SEND_MESSAGE") => match m["text"].as_str().and_then(crate::failover::parse_chat) {
                    Some(k) => *report.log.heard.entry(k).or_default() += 1,
                    None => report.log.heard_foreign += 1,
                },
                Some("PLAYER_PRESENCE") => match m["state"].as_str() {
                    Some("reconnecting") => report.log.presence_reconnecting += 1,
                    Some("online") => report.log.presence_online += 1,
                    _ => {}
                },
                Some("LEAVE_PLAYER") if report.log.leaves.len() < 100 => {
                    let about = m["user_id"].as_str().unwrap_or("?").to_owned();
                    report.log.leaves.push((sh.unix_ms(), about));
                }
                _ => {}
            }
        }
    }
    if !report.handshake && SNAPSHOT.find(b).is_some() {
        report.log.conn.push(ConnEvent {
            at_ms: sh.unix_ms(),
            target: report.target,
            kind: ConnKind::Resnapshot,
        });
    }
    report.log.join_seen += JOIN.find_iter(b).count() as u64;
    report.log.leave_seen += leaves;
}

fn server_error(sh: &Shared, text: &str) {
    // Counted by what they say (the frame may be a batched array).
    let v: serde_json::Value = serde_json::from_str(text).unwrap_or_default();
    let items = match &v {
        serde_json::Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    for m in items.into_iter().filter(|m| m["topic"] == "error") {
        let key = format!(
            "{}: {}",
            m["d"]["topic"].as_str().unwrap_or("-"),
            m["d"]["message"].as_str().unwrap_or("?")
        );
        let mut texts = sh.error_texts.lock().unwrap_or_else(|p| p.into_inner());
        if texts.len() < 50 || texts.contains_key(&key) {
            *texts.entry(key).or_default() += 1;
        }
    }
    let n = sh.c.server_errors.fetch_add(1, Ordering::Relaxed);
    if n < 5 {
        eprintln!(
            "bots: server error message: {}",
            text.chars().take(300).collect::<String>()
        );
    }
}

/// A movement parsed as JSON (a layout the scanner does not know).
fn seen(velocity: &XY, position: &XY) -> Seen {
    let (mover, tag) = decode(position.x, position.y);
    Seen {
        notice: velocity.x == 0.0 && velocity.y == 0.0,
        mover,
        tag,
    }
}

fn on_move(sh: &Shared, report: &mut BotReport, now: u64, Seen { notice, mover, tag }: Seen) {
    if (mover as usize) < sh.bots {
        if let Some(t) = &sh.timeline
            && !notice
        {
            t.add(report.log.world_ix, report.log.home, sh.target_of[mover as usize], now);
        }
        if sh.final_positions {
            report.log.last_seen.insert(mover, tag);
        }
    }
    if notice {
        // Where someone stands, sent when it comes into view: not a move.
        report.notices += 1;
        return;
    }
    match sh.sends.find(mover, tag) {
        Some(s) if s.measured => {
            report.delivered += 1;
            let us = now.saturating_sub(s.at_ns) / 1000;
            report.pending_us.push(us.max(1));
            if sh.bases.len() > 1 {
                let hops = usize::from(report.off_home) + usize::from(sh.off_home(mover as usize));
                report.latency_by_hops[hops]
                    .get_or_insert_with(|| Histogram::new_with_bounds(1, 120_000_000, 2).expect("valid bounds"))
                    .saturating_record(us.max(1));
            }
        }
        Some(_) => report.delivered_outside += 1,
        None => report.unmatched += 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scanner_reads_what_the_server_writes_and_refuses_other_layouts() {
        let (x, y) = (12.0 + 1999.0 / MOVERS, 700.0 + 77.0 / SEQS as f64);
        let text = format!(
            r#"{{"topic":"PLAYER_MOVEMENT","user_id":"ab-1","velocity":{{"x":150.0,"y":-0.5}},"position":{{"x":{x},"y":{y}}}}}"#
        );
        let (seen, rest) = scan_move(&text[MOVE.len()..]).unwrap();
        assert_eq!(
            seen,
            Seen {
                notice: false,
                mover: 1999,
                tag: 77
            }
        );
        assert_eq!(rest, "");
        let swapped =
            r#"{"topic":"PLAYER_MOVEMENT","user_id":"ab-1","position":{"x":1.0,"y":2.0},"velocity":{"x":0.0,"y":0.0}}"#;
        assert!(scan_move(&swapped[MOVE.len()..]).is_none());
        let m: Movement = serde_json::from_str(&text).unwrap();
        assert_eq!(
            super::seen(&m.velocity, &m.position),
            Seen {
                notice: false,
                mover: 1999,
                tag: 77
            }
        );
        // Read from the digits, the same as through a float.
        for t in ["5000.610321044921875", "5000", "5000.0", "1.5", "6399.999969482421875"] {
            let v: f64 = t.parse().unwrap();
            assert_eq!(fraction_of(t, MOVERS as u64), Some(decode(v, 0.5).0 as u64), "{t}");
        }
    }

    #[test]
    fn positions_carry_their_mover_and_sequence_through_json() {
        let mut rng = rand::rng();
        let area = (0.0, 0.0, 6400.0, 6400.0);
        for me in [0u32, 1, 1999, 19_999] {
            let mut w = Walker::new(&mut rng, area, me);
            for _ in 0..5000 {
                let ((x, y), (vx, vy)) = w.step(&mut rng, area, 40.0, 200.0);
                assert!((1.0..6399.0).contains(&x) && (1.0..6399.0).contains(&y), "{x},{y}");
                assert!(vx != 0.0 || vy != 0.0);
                let text = format!(r#"{{"position":{{"x":{x},"y":{y}}}}}"#);
                let v: serde_json::Value = serde_json::from_str(&text).unwrap();
                // What the server does: parse, then serialise again; the client parses that.
                let back: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
                let (bx, by) = (
                    back["position"]["x"].as_f64().unwrap(),
                    back["position"]["y"].as_f64().unwrap(),
                );
                assert!(
                    (bx - x).abs() < 1e-9 && (by - y).abs() < 1e-9,
                    "{x},{y} came back as {bx},{by}"
                );
                assert_eq!(decode(bx, by), (me, w.seq % SEQS));
                // One unit in the last place either way still decodes.
                for dx in [f64::from_bits(bx.to_bits() - 1), f64::from_bits(bx.to_bits() + 1)] {
                    assert_eq!(decode(dx, by).0, me);
                }
            }
        }
    }

    #[test]
    fn a_send_is_found_by_its_mover_and_sequence_until_its_slot_is_reused() {
        let sends = Sends::new(3);
        let sent = Sent {
            at_ns: 12_345,
            measured: true,
        };
        sends.record(2, 7, sent);
        let got = sends.find(2, 7).expect("found");
        assert_eq!((got.at_ns, got.measured), (12_345, true));
        assert!(sends.find(1, 7).is_none(), "another mover");
        assert!(sends.find(2, 8).is_none(), "another sequence number");
        assert!(sends.find(3, 7).is_none(), "no such mover");
        sends.record(
            2,
            7 + RING as u64,
            Sent {
                at_ns: 1,
                measured: false,
            },
        );
        assert!(sends.find(2, 7).is_none(), "the slot was reused");
    }
}
