//! One bot: a guest that joins a world over REST, opens the WebSocket, spawns, random-walks
//! at R Hz (or only pings), and times every movement of other bots it receives.
//!
//! Latency: before sending a move, the mover records `(its index, exact position) → send
//! time` in the shared [`Sends`] map; a receiver looks the `(user_id, position)` of each
//! `PLAYER_MOVEMENT` up there. Every sent position is unique per mover (its fractional part
//! encodes a sequence number in 1/64 px, which JSON carries exactly), so a receipt always
//! finds the send it came from.

use foldhash::HashMap;
use std::f64::consts::PI;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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
    /// Guest UUID → bot index.
    pub ids: RwLock<HashMap<String, u32>>,
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
    /// Sockets the server closed (or that failed) before the end.
    pub dropped: AtomicU64,
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

/// Movers by their user id (a UUID), per receiving bot.
type Names = HashMap<u128, u32>;

/// A recorded send.
#[derive(Clone, Copy)]
struct Sent {
    at_ns: u64,
    measured: bool,
}

/// `(mover, exact position) → send time`, without locks or hashing: each position carries
/// its sequence number modulo [`RING`] in its fractions ([`frac`]), which picks the slot of
/// the mover's ring; the slot also keeps the position's bits, so only an exact match counts.
pub struct Sends {
    /// Per mover and slot: send time in ns, with [`MEASURED`] set for moves in the window.
    at: Vec<AtomicU64>,
    /// Per mover and slot: `x.to_bits() ^ y.to_bits().rotate_left(32)` of the position.
    pos: Vec<AtomicU64>,
}

/// Sends remembered per mover: 1,024 moves, 200 s at 5 Hz (receipts come within seconds).
const RING: usize = 1024;
/// Marks a send inside the measurement window.
const MEASURED: u64 = 1 << 63;

impl Sends {
    /// Rings for `bots` movers.
    pub fn new(bots: usize) -> Sends {
        let n = bots * RING;
        Sends {
            at: (0..n).map(|_| AtomicU64::new(0)).collect(),
            pos: (0..n).map(|_| AtomicU64::new(u64::MAX)).collect(),
        }
    }

    fn slot(mover: u32, x: f64, y: f64) -> usize {
        let fx = ((x - x.floor()) * 64.0) as usize;
        let fy = ((y - y.floor()) * 64.0) as usize;
        mover as usize * RING + (fx + 64 * fy) % RING
    }

    fn key(x: f64, y: f64) -> u64 {
        x.to_bits() ^ y.to_bits().rotate_left(32)
    }

    fn record(&self, mover: u32, x: f64, y: f64, sent: Sent) {
        let i = Self::slot(mover, x, y);
        let at = sent.at_ns | if sent.measured { MEASURED } else { 0 };
        self.at[i].store(at, Ordering::Relaxed);
        // Release: a receiver that sees the position also sees its time.
        self.pos[i].store(Self::key(x, y), Ordering::Release);
    }

    fn find(&self, mover: u32, x: f64, y: f64) -> Option<Sent> {
        let i = Self::slot(mover, x, y);
        if self.pos[i].load(Ordering::Acquire) != Self::key(x, y) {
            return None;
        }
        let at = self.at[i].load(Ordering::Relaxed);
        Some(Sent {
            at_ns: at & !MEASURED,
            measured: at & MEASURED != 0,
        })
    }
}

/// What one bot saw.
pub struct BotReport {
    /// Movement latencies of the window's moves, µs.
    pub latency: Option<Histogram<u64>>,
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
}

impl BotReport {
    fn empty() -> BotReport {
        BotReport {
            latency: None,
            latency_by_hops: [None, None, None],
            off_home: false,
            delivered: 0,
            delivered_outside: 0,
            unmatched: 0,
            notices: 0,
            connected: false,
            error: None,
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
struct Movement<'a> {
    #[serde(borrow)]
    user_id: &'a str,
    velocity: XY,
    position: XY,
}

type Socket = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The fractional offset encoding a sequence number: 1/64 px steps on x, then on y.
fn frac(seq: u64) -> (f64, f64) {
    ((seq % 64) as f64 / 64.0, ((seq / 64) % 64) as f64 / 64.0)
}

struct Walker {
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

    fn new(rng: &mut impl Rng, area: (f64, f64, f64, f64)) -> Walker {
        let (lx, ly, hx, hy) = Self::bounds(area);
        let x = rng.random_range(lx..hx.max(lx + 0.5));
        let y = rng.random_range(ly..hy.max(ly + 0.5));
        let mut w = Walker {
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
        let (fx, fy) = frac(self.seq);
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
    report.off_home = sh.off_home(i);
    let delay = sh.ramp.mul_f64(i as f64 / sh.bots.max(1) as f64);
    tokio::time::sleep_until(TInstant::from_std(sh.origin + delay)).await;
    let world_ix = i % sh.worlds.len();
    let world = sh.worlds[world_ix];
    let pioneer = i < sh.worlds.len();
    if !pioneer && *sh.pioneers.borrow() > 0 {
        // --claim-first: the first bot of every world connects before any other bot.
        let mut rx = sh.pioneers.subscribe();
        let _ = tokio::time::timeout(Duration::from_secs(60), rx.wait_for(|&left| left == 0)).await;
    }
    let ws = {
        let _permit = sh.setup_gate.acquire().await.expect("gate never closed");
        let r = connect(&sh, &sh.bases[sh.target_of[i] as usize], world).await;
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
    let (mut ws, uuid) = ws;
    report.connected = true;
    sh.c.connected.fetch_add(1, Ordering::Relaxed);
    sh.ids.write().unwrap_or_else(|p| p.into_inner()).insert(uuid, i as u32);
    let me = i as u32;
    let mut rng = StdRng::seed_from_u64(rand::random());
    let mut walker = Walker::new(&mut rng, sh.area);
    let (x, y) = walker.sent;
    sh.grids[world_ix]
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .place(me, x, y);
    if ws
        .send(Message::Text(
            format!(r#"{{"topic":"JOIN_PLAYER","position":{{"x":{x},"y":{y}}}}}"#).into(),
        ))
        .await
        .is_err()
    {
        sh.c.send_failed.fetch_add(1, Ordering::Relaxed);
    }
    let moving = sh.rate > 0.0;
    let period = if moving {
        Duration::from_secs_f64(1.0 / sh.rate)
    } else {
        Duration::from_secs(3600)
    };
    let step = if moving { sh.speed / sh.rate } else { 0.0 };
    let phase = period.mul_f64(rng.random_range(0.0..1.0));
    let mut tick = tokio::time::interval_at(TInstant::now() + phase, period);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let ping_phase = sh.ping.mul_f64(rng.random_range(0.0..1.0));
    let mut ping = tokio::time::interval_at(TInstant::now() + ping_phase, sh.ping);
    ping.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let end_moves = TInstant::from_std(sh.origin + sh.end);
    let stop = tokio::time::sleep_until(TInstant::from_std(sh.origin + sh.stop));
    tokio::pin!(stop);
    let mut names: Names = HashMap::default();
    let mut open = true;
    while open {
        tokio::select! {
            _ = &mut stop => break,
            _ = tick.tick(), if moving && TInstant::now() < end_moves => {
                let ((x, y), (vx, vy)) = walker.step(&mut rng, sh.area, step, sh.speed);
                let now = sh.now_ns();
                let measured = now >= sh.start.as_nanos() as u64 && now < sh.end.as_nanos() as u64;
                sh.sends.record(me, x, y, Sent { at_ns: now, measured });
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
                if ws.send(Message::Text(text.into())).await.is_err() {
                    sh.c.send_failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            msg = ws.next() => match msg {
                Some(Ok(Message::Text(t))) => on_text(&sh, &mut report, &mut names, t.as_str()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => {
                    sh.c.dropped.fetch_add(1, Ordering::Relaxed);
                    open = false;
                }
                Some(Ok(_)) => {}
            },
        }
    }
    sh.grids[world_ix].lock().unwrap_or_else(|p| p.into_inner()).remove(me);
    if open {
        let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    }
    report
}

/// Guest token, REST join, WebSocket, `PLAYERS_SNAPSHOT`.
async fn connect(sh: &Shared, base: &str, world: i64) -> anyhow::Result<(Socket, String)> {
    let (token, uuid) = setup::guest(&sh.http, base).await?;
    setup::rest_join(&sh.http, base, world, &token).await?;
    let batch = if sh.batch { "&batch=1" } else { "" };
    let url = format!(
        "{}/api/v1/ws/{world}?token={token}{batch}",
        base.replacen("http://", "ws://", 1)
    );
    // tungstenite zero-fills its whole read buffer before every read: keep it small (the
    // default 128 KiB costs a 128 KiB memset per read).
    let config = WebSocketConfig::default().read_buffer_size(16 * 1024);
    // Nagle off: a bot's small frames must leave at once.
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(30),
        tokio_tungstenite::connect_async_with_config(url, Some(config), true),
    )
    .await
    .map_err(|_| anyhow::anyhow!("WebSocket handshake timed out"))??;
    let deadline = TInstant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, ws.next()).await {
            Ok(Some(Ok(Message::Text(t))))
                if t.as_str().starts_with(r#"{"topic":"PLAYERS_SNAPSHOT""#)
                    || t.as_str().starts_with(r#"[{"topic":"PLAYERS_SNAPSHOT""#) =>
            {
                break;
            }
            Ok(Some(Ok(Message::Close(f)))) => anyhow::bail!("closed before the snapshot: {f:?}"),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(e))) => return Err(e.into()),
            Ok(None) => anyhow::bail!("closed before the snapshot"),
            Err(_) => anyhow::bail!("no PLAYERS_SNAPSHOT within 30 s"),
        }
    }
    Ok((ws, uuid))
}

/// One element of a batched frame: only what the generator reads.
#[derive(Deserialize)]
struct Any<'a> {
    #[serde(borrow)]
    topic: &'a str,
    #[serde(default, borrow)]
    user_id: Option<&'a str>,
    #[serde(default)]
    velocity: Option<XY>,
    #[serde(default)]
    position: Option<XY>,
}

/// The start of every movement the server sends (its field order is fixed by
/// `ServerMessage::PlayerMovement`).
#[cfg(test)]
const MOVE: &str = r#"{"topic":"PLAYER_MOVEMENT","#;

/// Reads one movement in the server's exact layout, right after [`MOVE`]:
/// `"user_id":"…","velocity":{"x":…,"y":…},"position":{"x":…,"y":…}}`. Returns it and the
/// rest of the text, or `None` when the layout differs (the caller then parses JSON).
/// Scanning instead of deserialising keeps the generator's own CPU low, so that more of
/// the machine goes to the server under test.
fn scan_move(s: &str) -> Option<((&str, XY, XY), &str)> {
    fn num<'a>(s: &'a str, key: &str, end: char) -> Option<(f64, &'a str)> {
        let s = s.strip_prefix(key)?;
        let (n, rest) = s.split_once(end)?;
        Some((n.parse().ok()?, rest))
    }
    let s = s.strip_prefix(r#""user_id":""#)?;
    let (id, s) = s.split_once('"')?;
    let (vx, s) = num(s, r#","velocity":{"x":"#, ',')?;
    let (vy, s) = num(s, r#""y":"#, '}')?;
    let (px, s) = num(s, r#","position":{"x":"#, ',')?;
    let (py, s) = num(s, r#""y":"#, '}')?;
    let s = s.strip_prefix('}')?;
    Some(((id, XY { x: vx, y: vy }, XY { x: px, y: py }), s))
}

fn on_text(sh: &Shared, report: &mut BotReport, names: &mut Names, text: &str) {
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
    while let Some(i) = rest.find(TOPIC) {
        let at = &rest[i + TOPIC.len()..];
        let Some((topic, tail)) = at.split_once('"') else { break };
        rest = tail;
        match topic {
            "PLAYER_MOVEMENT" => match tail.strip_prefix(',').and_then(scan_move) {
                Some((m, after)) => {
                    found.push(m);
                    rest = after;
                }
                None => scanned = false,
            },
            "error" => server_error(sh, text),
            "WIRE_PLAYER" if in_window => _ = sh.c.wires.fetch_add(1, Ordering::Relaxed),
            "UNWIRE_PLAYER" if in_window => _ = sh.c.unwires.fetch_add(1, Ordering::Relaxed),
            "CLOSE_ROOM" if in_window => _ = sh.c.close_rooms.fetch_add(1, Ordering::Relaxed),
            "you-joined-as-speaker" | "you-joined-as-peer" if in_window => {
                _ = sh.c.room_joins.fetch_add(1, Ordering::Relaxed)
            }
            _ => {}
        }
    }
    if scanned {
        for (id, v, p) in found {
            on_move(sh, report, names, now, id, &v, &p);
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
            if let ("PLAYER_MOVEMENT", Some(u), Some(v), Some(p)) = (m.topic, m.user_id, &m.velocity, &m.position) {
                on_move(sh, report, names, now, u, v, p);
            }
        }
    } else {
        match serde_json::from_str::<Movement>(text) {
            Ok(m) => on_move(sh, report, names, now, m.user_id, &m.velocity, &m.position),
            Err(_) => report.unmatched += 1,
        }
    }
}

/// How every message the server sends starts.
const TOPIC: &str = r#"{"topic":""#;

fn server_error(sh: &Shared, text: &str) {
    let n = sh.c.server_errors.fetch_add(1, Ordering::Relaxed);
    if n < 5 {
        eprintln!(
            "bots: server error message: {}",
            text.chars().take(300).collect::<String>()
        );
    }
}

fn on_move(
    sh: &Shared,
    report: &mut BotReport,
    names: &mut Names,
    now: u64,
    user_id: &str,
    velocity: &XY,
    position: &XY,
) {
    if velocity.x == 0.0 && velocity.y == 0.0 {
        // Where someone stands, sent when it comes into view: not a move.
        report.notices += 1;
        return;
    }
    // Bots are guests, whose ids are UUIDs: a 128-bit key is cheaper than the string.
    let key = uuid::Uuid::try_parse(user_id).map(|u| u.as_u128()).ok();
    let mover = match key.and_then(|k| names.get(&k)) {
        Some(&b) => b,
        None => {
            let found = sh.ids.read().unwrap_or_else(|p| p.into_inner()).get(user_id).copied();
            match (found, key) {
                (Some(b), Some(k)) => {
                    names.insert(k, b);
                    b
                }
                (Some(b), None) => b,
                (None, _) => {
                    report.unmatched += 1;
                    return;
                }
            }
        }
    };
    match sh.sends.find(mover, position.x, position.y) {
        Some(s) if s.measured => {
            report.delivered += 1;
            let us = now.saturating_sub(s.at_ns) / 1000;
            let h = report
                .latency
                .get_or_insert_with(|| Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"));
            h.saturating_record(us.max(1));
            if sh.bases.len() > 1 {
                let hops = usize::from(report.off_home) + usize::from(sh.off_home(mover as usize));
                report.latency_by_hops[hops]
                    .get_or_insert_with(|| Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds"))
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
        let text = r#"{"topic":"PLAYER_MOVEMENT","user_id":"ab-1","velocity":{"x":150.0,"y":-0.5},"position":{"x":12.015625,"y":700.0}}"#;
        let ((id, v, p), rest) = scan_move(&text[MOVE.len()..]).unwrap();
        assert_eq!(
            (id, v.x, v.y, p.x, p.y, rest),
            ("ab-1", 150.0, -0.5, 12.015625, 700.0, "")
        );
        let swapped =
            r#"{"topic":"PLAYER_MOVEMENT","user_id":"ab-1","position":{"x":1.0,"y":2.0},"velocity":{"x":0.0,"y":0.0}}"#;
        assert!(scan_move(&swapped[MOVE.len()..]).is_none());
        let serde: Movement = serde_json::from_str(text).unwrap();
        assert_eq!((serde.position.x, serde.position.y), (p.x, p.y));
    }

    #[test]
    fn positions_survive_json_exactly_and_are_unique() {
        let mut rng = rand::rng();
        let area = (0.0, 0.0, 1280.0, 720.0);
        let mut w = Walker::new(&mut rng, area);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..4000 {
            let ((x, y), (vx, vy)) = w.step(&mut rng, area, 30.0, 150.0);
            assert!((1.0..1279.0).contains(&x) && (1.0..719.0).contains(&y), "{x},{y}");
            assert!(vx != 0.0 || vy != 0.0);
            let text = format!(r#"{{"position":{{"x":{x},"y":{y}}}}}"#);
            let v: serde_json::Value = serde_json::from_str(&text).unwrap();
            // What the server does: parse, then serialise again; the client parses that.
            let back: serde_json::Value = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(back["position"]["x"].as_f64().unwrap().to_bits(), x.to_bits());
            assert_eq!(back["position"]["y"].as_f64().unwrap().to_bits(), y.to_bits());
            assert!(seen.insert((x.to_bits(), y.to_bits())), "repeated position");
        }
    }
}
