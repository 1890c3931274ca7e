//! What `bots run` records across a replica's stop (SIGTERM) or crash (`kill -9`), for
//! `bench/failover.sh`. Every part is opt-in, so the other benchmarks are unchanged:
//!
//! - **connections** (always kept, they are rare): each bot's closes by code, drops (no close
//!   frame), reconnections (`--reconnect`: close → the next `PLAYERS_SNAPSHOT`) and fresh
//!   `PLAYERS_SNAPSHOT`s on a socket that stayed open (re-attached to a world's new owner),
//!   each with the target its socket was on. With `--disruptions FILE` (which targets were
//!   stopped or killed, and when) they are split into those of bots on a stopped or killed
//!   replica (expected) and all others (which must be none);
//! - **chat** (`--chat-interval`): every chat sent and every chat received, so that each
//!   chat's receipts by every bot of its world (sender included) are checked: exactly once;
//! - **final positions** (`--final-positions`): the last move each bot sent against the last
//!   `PLAYER_MOVEMENT` every other bot of its world received about it;
//! - **timeline** (`--timeline FILE`): movement deliveries per 100 ms, by world, by the
//!   receiver's first target and by the mover's first target, as CSV with wall-clock times.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use foldhash::HashMap;
use serde_json::{Value, json};

/// Milliseconds since the Unix epoch, now.
pub fn unix_ms_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Something that happened to a bot's connection.
#[derive(Clone, Debug, PartialEq)]
pub enum ConnKind {
    /// The first connection (its `PLAYERS_SNAPSHOT` came).
    Connected,
    /// The server closed the socket with this code (`None`: a close frame without one).
    Closed(Option<u16>),
    /// The connection ended without a close frame (reset, end of stream, read error).
    Dropped,
    /// Connected again (`--reconnect`) and got a `PLAYERS_SNAPSHOT`, `ms` after the close.
    Reconnected { ms: u64 },
    /// A reconnection attempt failed (the next one goes to the next target).
    ReconnectFailed(String),
    /// A `PLAYERS_SNAPSHOT` on a socket that stayed open: re-attached to the world's new owner.
    Resnapshot,
    /// The run ended before the bot got back.
    GaveUp,
}

impl ConnKind {
    fn is_disconnect(&self) -> bool {
        matches!(self, ConnKind::Closed(_) | ConnKind::Dropped)
    }

    fn label(&self) -> String {
        match self {
            ConnKind::Connected => "connected".into(),
            ConnKind::Closed(Some(c)) => format!("closed {c}"),
            ConnKind::Closed(None) => "closed (no code)".into(),
            ConnKind::Dropped => "dropped".into(),
            ConnKind::Reconnected { .. } => "reconnected".into(),
            ConnKind::ReconnectFailed(_) => "reconnect failed".into(),
            ConnKind::Resnapshot => "fresh snapshot".into(),
            ConnKind::GaveUp => "gave up".into(),
        }
    }
}

/// One connection event of one bot.
#[derive(Clone, Debug)]
pub struct ConnEvent {
    /// Wall clock, ms since the Unix epoch.
    pub at_ms: u64,
    /// The target the socket was on (for `Reconnected`: the new one).
    pub target: u32,
    /// What happened.
    pub kind: ConnKind,
}

/// A chat a bot wrote to its socket.
#[derive(Clone, Copy, Debug)]
pub struct ChatSent {
    /// The bot's chat number (`c:{bot}:{n}`).
    pub n: u32,
    /// When it was written, ms since the Unix epoch.
    pub at_ms: u64,
    /// The target of the socket it was written to.
    pub target: u32,
}

/// The chat text bot `bot` sends as its `n`th chat.
pub fn chat_text(bot: u32, n: u32) -> String {
    format!("c:{bot}:{n}")
}

/// The (bot, number) a chat text carries, if it is one of [`chat_text`]'s.
pub fn parse_chat(text: &str) -> Option<(u32, u32)> {
    let (bot, n) = text.strip_prefix("c:")?.split_once(':')?;
    Some((bot.parse().ok()?, n.parse().ok()?))
}

/// What one bot recorded for the failover figures.
#[derive(Default)]
pub struct BotLog {
    /// The bot's index.
    pub bot: u32,
    /// Index of its world in `--world-ids`.
    pub world_ix: usize,
    /// The target of its first connection.
    pub home: u32,
    /// Its user id, as the server's messages carry it (a guest's UUID, an account's number).
    pub user_id: String,
    /// It connected (its setup succeeded).
    pub connected: bool,
    /// It still had a socket when the run ended.
    pub connected_at_end: bool,
    /// Connection events, in order.
    pub conn: Vec<ConnEvent>,
    /// Chats written, in order.
    pub chats: Vec<ChatSent>,
    /// Chats whose write failed and that were still waiting for a socket when the run ended.
    pub chats_unsent: u64,
    /// Chat writes that failed and were written again on the next socket.
    pub chat_rewrites: u64,
    /// Chats received: (sender, number) → times.
    pub heard: HashMap<(u32, u32), u32>,
    /// `SEND_MESSAGE`s received that are not the bots' (or could not be read).
    pub heard_foreign: u64,
    /// With `--final-positions`: mover → sequence tag of the last `PLAYER_MOVEMENT` about it.
    pub last_seen: HashMap<u32, u64>,
    /// `JOIN_PLAYER`s received (others spawning, or re-announcing themselves after resuming).
    pub join_seen: u64,
    /// `LEAVE_PLAYER`s received before the run's end (when every bot closes its socket).
    pub leave_seen: u64,
    /// The first 100 of them: when, and whose user id.
    pub leaves: Vec<(u64, String)>,
    /// `PLAYER_PRESENCE` `reconnecting` received.
    pub presence_reconnecting: u64,
    /// `PLAYER_PRESENCE` `online` received.
    pub presence_online: u64,
    /// `error` messages received: how many, and when the first and the last came.
    pub errors: u64,
    /// See [`BotLog::errors`].
    pub errors_first_last_ms: Option<(u64, u64)>,
    /// When it sent each `PING` (they carry a position, which the server may take as a move).
    pub pings_ms: Vec<u64>,
}

impl BotLog {
    /// The target this bot's socket was on at `at_ms` (its last connection before then).
    fn target_at(&self, at_ms: u64) -> u32 {
        let mut t = self.home;
        for e in &self.conn {
            if e.at_ms > at_ms {
                break;
            }
            if matches!(e.kind, ConnKind::Connected | ConnKind::Reconnected { .. }) {
                t = e.target;
            }
        }
        t
    }

    /// Its connection events within `ms` of `at_ms`, as short text.
    fn conn_near(&self, at_ms: u64, ms: u64) -> Vec<String> {
        self.conn
            .iter()
            .filter(|e| e.at_ms + ms >= at_ms && e.at_ms <= at_ms + ms)
            .map(|e| {
                format!(
                    "{:+} ms {} on {}",
                    e.at_ms as i64 - at_ms as i64,
                    e.kind.label(),
                    e.target
                )
            })
            .collect()
    }
}

/// Movement deliveries per 100 ms bucket, by world, receiver's first target and mover's first
/// target.
pub struct Timeline {
    targets: usize,
    buckets: usize,
    counts: Vec<AtomicU32>,
}

impl Timeline {
    /// Width of a bucket.
    pub const BUCKET: Duration = Duration::from_millis(100);

    /// Buckets for `worlds` worlds and `targets` targets over `span` from the origin.
    pub fn new(worlds: usize, targets: usize, span: Duration) -> Timeline {
        let buckets = (span.as_nanos() / Self::BUCKET.as_nanos()) as usize + 1;
        Timeline {
            targets,
            buckets,
            counts: (0..worlds * targets * targets * buckets)
                .map(|_| AtomicU32::new(0))
                .collect(),
        }
    }

    /// Counts one delivery, at `now_ns` since the origin.
    pub fn add(&self, world: usize, receiver: u32, mover: u32, now_ns: u64) {
        let b = (now_ns / Self::BUCKET.as_nanos() as u64) as usize;
        let (r, m) = (receiver as usize, mover as usize);
        if b < self.buckets && r < self.targets && m < self.targets {
            let i = ((world * self.targets + r) * self.targets + m) * self.buckets + b;
            if let Some(c) = self.counts.get(i) {
                c.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Writes `bucket_start_unix_ms,world_id,receiver_target,mover_target,deliveries`, one row
    /// per non-empty bucket (the others are 0).
    pub fn write_csv(&self, path: &Path, origin_unix_ms: u64, worlds: &[i64]) -> anyhow::Result<()> {
        let mut f = std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        );
        writeln!(
            f,
            "bucket_start_unix_ms,world_id,receiver_target,mover_target,deliveries"
        )?;
        let step = Self::BUCKET.as_millis() as u64;
        for (w, id) in worlds.iter().enumerate() {
            for r in 0..self.targets {
                for m in 0..self.targets {
                    let base = ((w * self.targets + r) * self.targets + m) * self.buckets;
                    for b in 0..self.buckets {
                        let n = self.counts[base + b].load(Ordering::Relaxed);
                        if n > 0 {
                            writeln!(f, "{},{id},{r},{m},{n}", origin_unix_ms + b as u64 * step)?;
                        }
                    }
                }
            }
        }
        f.flush()?;
        Ok(())
    }
}

/// A replica stopped, killed, exited or started, as the driving script wrote it:
/// `UNIX_MS TARGET KIND` per line (`#` starts a comment).
#[derive(Clone, Debug, PartialEq)]
pub struct Disruption {
    /// When, ms since the Unix epoch.
    pub at_ms: u64,
    /// Index in `--targets`.
    pub target: u32,
    /// `stop` (SIGTERM sent), `kill` (SIGKILL sent), `exited`, `started` (a replacement on the
    /// same address answers).
    pub kind: String,
}

/// Reads a `--disruptions` file.
pub fn read_disruptions(path: &Path) -> anyhow::Result<Vec<Disruption>> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_disruptions(&text)
}

fn parse_disruptions(text: &str) -> anyhow::Result<Vec<Disruption>> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        anyhow::ensure!(f.len() == 3, "line {}: expected UNIX_MS TARGET KIND", n + 1);
        let kind = f[2].to_owned();
        anyhow::ensure!(
            ["stop", "kill", "exited", "started"].contains(&kind.as_str()),
            "line {}: unknown kind {kind}",
            n + 1
        );
        out.push(Disruption {
            at_ms: f[0].parse().with_context(|| format!("line {}", n + 1))?,
            target: f[1].parse().with_context(|| format!("line {}", n + 1))?,
            kind,
        });
    }
    out.sort_by_key(|d| d.at_ms);
    Ok(out)
}

/// A disconnect this long before a `stop`/`kill` is still counted as caused by it (clocks:
/// the script notes the time just before it signals).
const BEFORE_MS: u64 = 200;
/// A disconnect up to this long after a replica exited or was replaced still counts.
const AFTER_MS: u64 = 1_000;

/// Per target, the windows `[from, to]` in which a disconnect of a socket on it is expected:
/// from its `stop`/`kill` until its replacement `started` (or forever).
fn down_windows(d: &[Disruption], targets: usize) -> Vec<Vec<(u64, u64)>> {
    let mut w: Vec<Vec<(u64, u64)>> = vec![Vec::new(); targets];
    for e in d {
        let Some(list) = w.get_mut(e.target as usize) else {
            continue;
        };
        match e.kind.as_str() {
            "stop" | "kill" => list.push((e.at_ms.saturating_sub(BEFORE_MS), u64::MAX)),
            "started" => {
                if let Some(last) = list.last_mut()
                    && last.1 == u64::MAX
                {
                    last.1 = e.at_ms + AFTER_MS;
                }
            }
            _ => {}
        }
    }
    w
}

fn quantiles(mut v: Vec<u64>) -> Value {
    if v.is_empty() {
        return json!({"n": 0, "p50": null, "max": null});
    }
    v.sort_unstable();
    json!({"n": v.len(), "p50": v[(v.len() - 1) / 2], "max": v[v.len() - 1]})
}

fn p50_max(q: &Value) -> String {
    match (q["p50"].as_u64(), q["max"].as_u64()) {
        (Some(a), Some(b)) => format!("{a} / {b}"),
        _ => "–".into(),
    }
}

/// What the summary needs of the run.
pub struct Run<'a> {
    /// Targets.
    pub targets: usize,
    /// World ids.
    pub worlds: &'a [i64],
    /// Per bot: tag and position of the last move it sent (`None`: it sent none).
    pub final_moves: Vec<Option<(u64, (f64, f64))>>,
    /// Half the area of interest, px (a move reaches those within it on both axes).
    pub view: (f64, f64),
    /// Chat was on.
    pub chat: bool,
    /// Final positions were tracked.
    pub final_positions: bool,
    /// Sequence tags wrap at this.
    pub seqs: u64,
}

/// The failover part of the summary: JSON and one markdown line (see [`header`]).
pub fn summarize(run: &Run, logs: &[BotLog], disruptions: &[Disruption], label: &str) -> (Value, String) {
    let windows = down_windows(disruptions, run.targets);
    let in_window = |target: u32, at: u64| {
        windows
            .get(target as usize)
            .is_some_and(|w| w.iter().any(|&(a, b)| at >= a && at <= b))
    };
    // Disconnects, split by whether the bot's replica was being stopped or was dead then.
    let mut expected_codes: BTreeMap<String, u64> = BTreeMap::new();
    let mut other_codes: BTreeMap<String, u64> = BTreeMap::new();
    let (mut expected_n, mut other_n) = (0u64, 0u64);
    let mut other_list = Vec::new();
    let mut back_expected = Vec::new();
    let mut back_other = Vec::new();
    let mut failed_attempts = 0u64;
    let mut failure_reasons: BTreeMap<String, u64> = BTreeMap::new();
    let mut gave_up = 0u64;
    for log in logs {
        let mut last_disconnect_expected = None;
        for e in &log.conn {
            match &e.kind {
                k if k.is_disconnect() => {
                    let expected = in_window(e.target, e.at_ms);
                    last_disconnect_expected = Some(expected);
                    let key = match k {
                        ConnKind::Closed(Some(c)) => c.to_string(),
                        ConnKind::Closed(None) => "no code".into(),
                        _ => "drop".into(),
                    };
                    if expected {
                        expected_n += 1;
                        *expected_codes.entry(key).or_default() += 1;
                    } else {
                        other_n += 1;
                        *other_codes.entry(key.clone()).or_default() += 1;
                        if other_list.len() < 20 {
                            other_list.push(json!({"bot": log.bot, "target": e.target, "at_ms": e.at_ms, "how": key}));
                        }
                    }
                }
                ConnKind::Reconnected { ms } => match last_disconnect_expected {
                    Some(false) => back_other.push(*ms),
                    _ => back_expected.push(*ms),
                },
                ConnKind::ReconnectFailed(why) => {
                    failed_attempts += 1;
                    let short: String = why.chars().take(120).collect();
                    if failure_reasons.len() < 20 || failure_reasons.contains_key(&short) {
                        *failure_reasons.entry(short).or_default() += 1;
                    }
                }
                ConnKind::GaveUp => gave_up += 1,
                _ => {}
            }
        }
    }
    // Per stop or kill: the bots not on that replica (survivors) that got a fresh snapshot
    // (re-attached to a new owner) within 30 s, by world.
    let mut per_disruption = Vec::new();
    for d in disruptions.iter().filter(|d| d.kind == "stop" || d.kind == "kill") {
        let until = disruptions
            .iter()
            .find(|n| n.at_ms > d.at_ms && (n.kind == "stop" || n.kind == "kill"))
            .map_or(d.at_ms + 30_000, |n| n.at_ms.min(d.at_ms + 30_000));
        let mut worlds = Vec::new();
        for (w, id) in run.worlds.iter().enumerate() {
            let (mut survivors, mut on_it, mut delays, mut back) = (0u64, 0u64, Vec::new(), Vec::new());
            for log in logs.iter().filter(|l| l.connected && l.world_ix == w) {
                if log.target_at(d.at_ms) == d.target {
                    on_it += 1;
                    if let Some(ConnKind::Reconnected { ms }) = log
                        .conn
                        .iter()
                        .find(|e| {
                            e.at_ms >= d.at_ms && e.at_ms < until && matches!(e.kind, ConnKind::Reconnected { .. })
                        })
                        .map(|e| &e.kind)
                    {
                        back.push(*ms);
                    }
                    continue;
                }
                survivors += 1;
                if let Some(e) = log
                    .conn
                    .iter()
                    .find(|e| e.kind == ConnKind::Resnapshot && e.at_ms >= d.at_ms && e.at_ms < until)
                {
                    delays.push(e.at_ms - d.at_ms);
                }
            }
            worlds.push(json!({
                "world_id": id,
                "bots_on_it": on_it,
                // Its bots' close → PLAYERS_SNAPSHOT on another target.
                "bots_on_it_back_ms": quantiles(back),
                "survivors": survivors,
                "survivors_resnapshot_ms": quantiles(delays),
            }));
        }
        per_disruption.push(json!({"at_ms": d.at_ms, "target": d.target, "kind": d.kind, "worlds": worlds}));
    }
    let mut v = json!({
        "disruptions": disruptions.iter().map(|d| json!({"at_ms": d.at_ms, "target": d.target, "kind": d.kind})).collect::<Vec<_>>(),
        "disconnects_expected": expected_n,
        "disconnects_expected_by_code": expected_codes,
        "disconnects_elsewhere": other_n,
        "disconnects_elsewhere_by_code": other_codes,
        "disconnects_elsewhere_first": other_list,
        "reconnect_ms_expected": quantiles(back_expected.clone()),
        "reconnect_ms_elsewhere": quantiles(back_other),
        "reconnect_attempts_failed": failed_attempts,
        "reconnect_failures": failure_reasons,
        "gave_up": gave_up,
        "connected_at_end": logs.iter().filter(|l| l.connected_at_end).count(),
        "per_disruption": per_disruption,
        "join_player_seen": logs.iter().map(|l| l.join_seen).sum::<u64>(),
        "leave_player_seen": logs.iter().map(|l| l.leave_seen).sum::<u64>(),
        "presence_reconnecting_seen": logs.iter().map(|l| l.presence_reconnecting).sum::<u64>(),
        "presence_online_seen": logs.iter().map(|l| l.presence_online).sum::<u64>(),
        "bots_with_errors": logs.iter().filter(|l| l.errors > 0).map(|l| json!({
            "bot": l.bot,
            "errors": l.errors,
            "first_last_ms": l.errors_first_last_ms,
        })).take(20).collect::<Vec<_>>(),
    });
    // Who received a LEAVE_PLAYER about whom (none is expected before the end).
    let by_user: HashMap<&str, &BotLog> = logs.iter().map(|l| (l.user_id.as_str(), l)).collect();
    let leaves: Vec<Value> = logs
        .iter()
        .flat_map(|l| l.leaves.iter().map(move |(at, about)| (l, *at, about)))
        .take(20)
        .map(|(l, at, about)| {
            let who = by_user.get(about.as_str());
            json!({
                "at_ms": at,
                "receiver": l.bot,
                "receiver_target": l.target_at(at),
                "about_user": about,
                "about_bot": who.map(|w| w.bot),
                "about_bot_conn": who.map(|w| w.conn_near(at, 5_000)),
            })
        })
        .collect();
    v["leave_player_first"] = Value::Array(leaves);
    let chat = run.chat.then(|| chat_ledger(logs));
    let finals = run.final_positions.then(|| final_positions(run, logs));
    let codes = |m: &BTreeMap<String, u64>| {
        if m.is_empty() {
            "0".to_owned()
        } else {
            m.iter().map(|(k, n)| format!("{n}×{k}")).collect::<Vec<_>>().join(", ")
        }
    };
    let resnap: Vec<String> = v["per_disruption"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| {
            d["worlds"].as_array().into_iter().flatten().filter_map(move |w| {
                let q = &w["survivors_resnapshot_ms"];
                (q["n"].as_u64() > Some(0)).then(|| {
                    format!(
                        "{}{}·w{}: {}/{} in {}",
                        d["kind"].as_str().unwrap_or("?"),
                        d["target"],
                        w["world_id"],
                        q["n"],
                        w["survivors"],
                        p50_max(q)
                    )
                })
            })
        })
        .collect();
    let dash = || "–".to_owned();
    let line = format!(
        "| {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        other_n,
        codes(&expected_codes),
        p50_max(&v["reconnect_ms_expected"]),
        gave_up,
        if resnap.is_empty() { dash() } else { resnap.join("; ") },
        chat.as_ref().map_or_else(dash, |c| c["sent"].to_string()),
        chat.as_ref().map_or_else(dash, |c| c["expected_receipts"].to_string()),
        chat.as_ref().map_or_else(dash, |c| c["receipts"].to_string()),
        chat.as_ref().map_or_else(dash, |c| c["missing"].to_string()),
        chat.as_ref().map_or_else(dash, |c| c["duplicates"].to_string()),
        finals.as_ref().map_or_else(dash, |f| format!(
            "{}/{}/{} of {}",
            f["seen_by_all"], f["seen_by_some"], f["seen_by_none"], f["movers"]
        )),
        v["leave_player_seen"],
    );
    if let Some(c) = chat {
        v["chat"] = c;
    }
    if let Some(f) = finals {
        v["final_positions"] = f;
    }
    (v, line)
}

/// The header of [`summarize`]'s markdown line.
pub fn header() -> [&'static str; 2] {
    [
        "| scenario | disconnects elsewhere | disconnects on stopped/killed (code) | back: reconnect p50 / max ms | gave up | survivors re-attached: n/survivors in p50 / max ms after | chats sent | expected receipts | received | missing | duplicates | final positions seen by all/some/none | LEAVE_PLAYER seen |",
        "|---|---:|---|---|---:|---|---:|---:|---:|---:|---:|---|---:|",
    ]
}

/// Every chat against every bot of its world: each should have received it exactly once.
fn chat_ledger(logs: &[BotLog]) -> Value {
    let mut members: BTreeMap<usize, Vec<&BotLog>> = BTreeMap::new();
    for l in logs.iter().filter(|l| l.connected) {
        members.entry(l.world_ix).or_default().push(l);
    }
    let (mut sent, mut expected, mut receipts, mut missing, mut dups) = (0u64, 0u64, 0u64, 0u64, 0u64);
    let mut missing_first = Vec::new();
    let mut missing_by: BTreeMap<String, u64> = BTreeMap::new();
    let mut known: std::collections::HashSet<(u32, u32)> = std::collections::HashSet::new();
    for s in logs {
        for c in &s.chats {
            sent += 1;
            known.insert((s.bot, c.n));
            // The sender lost its socket within 1 s of writing it: the frame may never have
            // reached the server.
            let in_flight = s
                .conn
                .iter()
                .any(|e| e.kind.is_disconnect() && e.at_ms >= c.at_ms && e.at_ms <= c.at_ms + 1_000);
            for r in members.get(&s.world_ix).into_iter().flatten() {
                expected += 1;
                let got = r.heard.get(&(s.bot, c.n)).copied().unwrap_or(0);
                receipts += u64::from(got);
                dups += u64::from(got.saturating_sub(1));
                if got == 0 {
                    missing += 1;
                    let rt = r.target_at(c.at_ms);
                    *missing_by
                        .entry(format!(
                            "sender on {} → receiver on {}{}",
                            c.target,
                            rt,
                            if in_flight {
                                " (sender's socket closed within 1 s)"
                            } else {
                                ""
                            }
                        ))
                        .or_default() += 1;
                    if missing_first.len() < 40 {
                        missing_first.push(json!({
                            "chat": chat_text(s.bot, c.n),
                            "sent_at_ms": c.at_ms,
                            "sender_target": c.target,
                            "sender_conn": s.conn_near(c.at_ms, 5_000),
                            "receiver": r.bot,
                            "receiver_target": rt,
                            "receiver_conn": r.conn_near(c.at_ms, 5_000),
                        }));
                    }
                }
            }
        }
    }
    let unknown: u64 = logs
        .iter()
        .flat_map(|r| r.heard.iter())
        .filter(|(k, _)| !known.contains(k))
        .map(|(_, &n)| u64::from(n))
        .sum();
    json!({
        "sent": sent,
        "expected_receipts": expected,
        "receipts": receipts,
        "missing": missing,
        "duplicates": dups,
        "received_never_sent": unknown,
        "foreign": logs.iter().map(|l| l.heard_foreign).sum::<u64>(),
        "unsent_at_end": logs.iter().map(|l| l.chats_unsent).sum::<u64>(),
        "rewritten_after_failed_write": logs.iter().map(|l| l.chat_rewrites).sum::<u64>(),
        "missing_by": missing_by,
        "missing_first": missing_first,
    })
}

/// An observer counts for a mover's final position only if that position is inside its view
/// by this margin (px) on both axes: the server sends a move only to those whose view holds
/// it, and someone who left the view keeps an older position, rightly.
const VIEW_MARGIN: f64 = 64.0;

/// Each bot's last sent move against what the other bots of its world that have it in view
/// last heard of it.
fn final_positions(run: &Run, logs: &[BotLog]) -> Value {
    let mut members: BTreeMap<usize, Vec<&BotLog>> = BTreeMap::new();
    for l in logs.iter().filter(|l| l.connected_at_end) {
        members.entry(l.world_ix).or_default().push(l);
    }
    let (mut movers, mut all, mut some, mut none) = (0u64, 0u64, 0u64, 0u64);
    let (mut ok_pairs, mut stale_pairs, mut never_pairs) = (0u64, 0u64, 0u64);
    let mut out_of_view = 0u64;
    let mut worst = Vec::new();
    let final_of = |b: u32| run.final_moves.get(b as usize).copied().flatten();
    for m in logs.iter().filter(|l| l.connected_at_end) {
        let Some((tag, (mx, my))) = final_of(m.bot) else {
            continue;
        };
        let (hw, hh) = (run.view.0 - VIEW_MARGIN, run.view.1 - VIEW_MARGIN);
        let observers: Vec<&&BotLog> = members
            .get(&m.world_ix)
            .into_iter()
            .flatten()
            .filter(|o| o.bot != m.bot)
            .filter(|o| match final_of(o.bot) {
                Some((_, (ox, oy))) if (ox - mx).abs() <= hw && (oy - my).abs() <= hh => true,
                _ => {
                    out_of_view += 1;
                    false
                }
            })
            .collect();
        if observers.is_empty() {
            continue;
        }
        movers += 1;
        let (mut ok, mut behind) = (0u64, BTreeMap::<u64, u64>::new());
        for o in &observers {
            match o.last_seen.get(&m.bot) {
                Some(&t) if t == tag => ok += 1,
                Some(&t) => {
                    stale_pairs += 1;
                    *behind.entry((tag + run.seqs - t) % run.seqs).or_default() += 1;
                }
                None => never_pairs += 1,
            }
        }
        ok_pairs += ok;
        match ok {
            0 => none += 1,
            n if n == observers.len() as u64 => all += 1,
            _ => {}
        }
        if ok > 0 {
            some += 1;
        }
        if ok < observers.len() as u64 && worst.len() < 20 {
            worst.push(json!({
                "bot": m.bot,
                "home": m.home,
                "errors": m.errors,
                "errors_first_last_ms": m.errors_first_last_ms,
                "observers": observers.len(),
                "saw_final": ok,
                // How many moves behind the final one the stale observers were: moves → observers.
                "moves_behind": behind,
                "conn": m.conn.iter().filter(|e| e.kind != ConnKind::Connected).map(|e| format!("{} {} on {}", e.at_ms, e.kind.label(), e.target)).collect::<Vec<_>>(),
            }));
        }
    }
    json!({
        "movers": movers,
        "seen_by_all": all,
        "seen_by_some": some,
        "seen_by_none": none,
        "observer_pairs_final": ok_pairs,
        "observer_pairs_stale": stale_pairs,
        "observer_pairs_never": never_pairs,
        "observer_pairs_out_of_view": out_of_view,
        "not_seen_by_all_first": worst,
    })
}

/// Writes every connection event, every chat sent and every `PING`:
/// `unix_ms,bot,world_id,target,event,detail`.
pub fn write_trace(path: &Path, logs: &[BotLog], worlds: &[i64]) -> anyhow::Result<()> {
    let mut rows: Vec<(u64, String)> = Vec::new();
    for l in logs {
        let world = worlds.get(l.world_ix).copied().unwrap_or(0);
        for e in &l.conn {
            let (event, detail) = match &e.kind {
                ConnKind::Connected => ("connected", String::new()),
                ConnKind::Closed(c) => ("closed", c.map(|c| c.to_string()).unwrap_or_default()),
                ConnKind::Dropped => ("dropped", String::new()),
                ConnKind::Reconnected { ms } => ("reconnected", ms.to_string()),
                ConnKind::ReconnectFailed(why) => ("reconnect_failed", why.replace([',', '\n'], ";")),
                ConnKind::Resnapshot => ("resnapshot", String::new()),
                ConnKind::GaveUp => ("gave_up", String::new()),
            };
            rows.push((
                e.at_ms,
                format!("{},{},{world},{},{event},{detail}", e.at_ms, l.bot, e.target),
            ));
        }
        for &at in &l.pings_ms {
            rows.push((at, format!("{at},{},{world},,ping,", l.bot)));
        }
        for c in &l.chats {
            rows.push((
                c.at_ms,
                format!(
                    "{},{},{world},{},chat_sent,{}",
                    c.at_ms,
                    l.bot,
                    c.target,
                    chat_text(l.bot, c.n)
                ),
            ));
        }
    }
    rows.sort_by_key(|r| r.0);
    let mut f =
        std::io::BufWriter::new(std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?);
    writeln!(f, "unix_ms,bot,world_id,target,event,detail")?;
    for (_, r) in rows {
        writeln!(f, "{r}")?;
    }
    f.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log(bot: u32, world_ix: usize, home: u32) -> BotLog {
        BotLog {
            bot,
            world_ix,
            home,
            connected: true,
            connected_at_end: true,
            conn: vec![ConnEvent {
                at_ms: 0,
                target: home,
                kind: ConnKind::Connected,
            }],
            ..BotLog::default()
        }
    }

    #[test]
    fn chat_texts_round_trip() {
        assert_eq!(parse_chat(&chat_text(12, 7)), Some((12, 7)));
        assert_eq!(parse_chat("hello"), None);
        assert_eq!(parse_chat("c:1:x"), None);
    }

    #[test]
    fn disconnects_are_expected_only_on_a_stopped_replica_until_its_replacement() {
        let d =
            parse_disruptions("# t target kind\n1000 0 stop\n2000 0 exited\n3000 0 started\n9000 1 kill\n").unwrap();
        let w = down_windows(&d, 3);
        assert_eq!(w[0], vec![(800, 4000)]);
        assert_eq!(w[1], vec![(8800, u64::MAX)]);
        assert!(w[2].is_empty());
        assert!(parse_disruptions("1 0 reboot").is_err());
    }

    #[test]
    fn the_summary_splits_disconnects_and_checks_every_chat_once_per_bot() {
        let mut a = log(0, 0, 0);
        let mut b = log(1, 0, 1);
        let mut c = log(2, 0, 2);
        // a was on target 0, stopped at 1000: closed with 1012, back on 1 after 300 ms.
        a.conn.push(ConnEvent {
            at_ms: 1_100,
            target: 0,
            kind: ConnKind::Closed(Some(1012)),
        });
        a.conn.push(ConnEvent {
            at_ms: 1_400,
            target: 1,
            kind: ConnKind::Reconnected { ms: 300 },
        });
        // c, on target 2, dropped although 2 was never stopped.
        c.conn.push(ConnEvent {
            at_ms: 5_000,
            target: 2,
            kind: ConnKind::Dropped,
        });
        b.conn.push(ConnEvent {
            at_ms: 1_900,
            target: 1,
            kind: ConnKind::Resnapshot,
        });
        a.chats.push(ChatSent {
            n: 0,
            at_ms: 500,
            target: 0,
        });
        b.chats.push(ChatSent {
            n: 0,
            at_ms: 600,
            target: 1,
        });
        for l in [&mut a, &mut b, &mut c] {
            l.heard.insert((0, 0), 1);
        }
        a.heard.insert((1, 0), 1);
        b.heard.insert((1, 0), 2);
        a.last_seen.insert(1, 5);
        c.last_seen.insert(1, 4);
        let d = parse_disruptions("1000 0 stop\n1500 0 exited\n2500 0 started\n").unwrap();
        let run = Run {
            targets: 3,
            worlds: &[7],
            final_moves: vec![Some((9, (0.0, 0.0))), Some((5, (10.0, 10.0))), Some((1, (5000.0, 0.0)))],
            view: (960.0, 540.0),
            chat: true,
            final_positions: true,
            seqs: 4096,
        };
        let (v, line) = summarize(&run, &[a, b, c], &d, "t");
        assert_eq!(v["disconnects_expected"], 1);
        assert_eq!(v["disconnects_expected_by_code"]["1012"], 1);
        assert_eq!(v["disconnects_elsewhere"], 1);
        assert_eq!(v["disconnects_elsewhere_by_code"]["drop"], 1);
        assert_eq!(v["reconnect_ms_expected"]["p50"], 300);
        let w = &v["per_disruption"][0]["worlds"][0];
        assert_eq!((w["bots_on_it"].as_u64(), w["survivors"].as_u64()), (Some(1), Some(2)));
        assert_eq!(w["bots_on_it_back_ms"]["max"], 300);
        assert_eq!(w["survivors_resnapshot_ms"]["p50"], 900);
        let chat = &v["chat"];
        assert_eq!(chat["sent"], 2);
        assert_eq!(chat["expected_receipts"], 6);
        assert_eq!(chat["receipts"], 6);
        assert_eq!(chat["missing"], 1, "c never heard b's chat");
        assert_eq!(chat["duplicates"], 1, "b heard its own twice");
        assert_eq!(chat["missing_first"][0]["receiver"], 2);
        let f = &v["final_positions"];
        // Bot 0's final move (tag 9): b, its only observer in view, never heard of it; bot 1's
        // (tag 5): a saw it (c, one behind, is far away: out of view); c is out of everyone's
        // view, so it has no observers.
        assert_eq!(f["movers"], 2);
        assert_eq!(f["seen_by_none"], 1);
        assert_eq!(f["seen_by_some"], 1);
        assert_eq!(f["seen_by_all"], 1);
        assert_eq!(f["observer_pairs_final"], 1);
        assert_eq!(f["observer_pairs_stale"], 0);
        assert_eq!(f["observer_pairs_never"], 1);
        assert_eq!(f["observer_pairs_out_of_view"], 4);
        assert!(line.starts_with("| t | 1 | 1×1012 | 300 / 300 | 0 |"), "{line}");
        assert_eq!(line.matches('|').count(), header()[1].matches('|').count());
    }

    #[test]
    fn the_timeline_counts_per_bucket_and_writes_only_nonempty_ones() {
        let t = Timeline::new(2, 3, Duration::from_secs(1));
        t.add(1, 2, 0, 150_000_000);
        t.add(1, 2, 0, 199_000_000);
        t.add(0, 0, 0, 5_000_000_000); // beyond the span: ignored
        let dir = std::env::temp_dir().join(format!("bots-timeline-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("t.csv");
        t.write_csv(&p, 1_000_000, &[10, 11]).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            text,
            "bucket_start_unix_ms,world_id,receiver_target,mover_target,deliveries\n1000100,11,2,0,2\n"
        );
    }
}
