//! `bots`: a WebSocket load generator for CrowdWire.
//!
//! `bots run` starts N guest bots over W worlds (after a ramp-up), lets each random-walk at
//! R Hz inside an area for a fixed duration, and reports movement latency (p50/p99/max, HDR
//! histogram), deliveries per second, delivered/expected (expected from the same
//! area-of-interest rule as the server, applied to the positions the bots sent), the server's CPU
//! and RSS (from `/proc/<pid>`) and the generator's own CPU. With the failover options
//! (`--reconnect`, `--chat-interval`, `--final-positions`, …; see [`failover`]) it also
//! reconnects bots whose socket closes and reports disconnects, chat receipts and final
//! positions across replica stops and crashes. `bots setup` creates worlds.
//! Only 127.0.0.1 is ever targeted, and every run is bounded in time and count.

#![recursion_limit = "256"]

mod bot;
mod failover;
mod grid;
mod procfs;
mod setup;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use clap::{Args, Parser, Subcommand};
use hdrhistogram::Histogram;
use serde_json::json;

use crate::bot::{Counters, Sends, Shared};
use crate::grid::Grid;
use crate::procfs::CpuMark;

#[derive(Parser)]
#[command(
    name = "bots",
    about = "WebSocket load generator for CrowdWire (targets 127.0.0.1 only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Registers a world owner and creates worlds with an open map; prints their ids, comma-separated.
    Setup(SetupArgs),
    /// Runs bots against worlds and prints a summary.
    Run(Box<RunArgs>),
    /// Prints a free TCP port on 127.0.0.1.
    FreePort,
}

#[derive(Args)]
struct SetupArgs {
    /// Server base URL (http://127.0.0.1:PORT).
    #[arg(long)]
    url: String,
    /// Worlds to create.
    #[arg(long, default_value_t = 1)]
    worlds: u32,
    /// Map size in px, WxH (32 px tiles).
    #[arg(long, default_value = "6400x6400", value_parser = parse_pair::<'x'>)]
    map: (f64, f64),
    /// Also write the worlds' owner's access token to this file (to read the worlds' activity
    /// log, `GET /api/v1/worlds/{id}/events`).
    #[arg(long)]
    owner_token_file: Option<PathBuf>,
}

#[derive(Args)]
struct RunArgs {
    /// Server base URL (http://127.0.0.1:PORT); omit with --spawn-server or --targets.
    #[arg(long)]
    url: Option<String>,
    /// Several servers (replicas of one deployment), comma-separated base URLs on 127.0.0.1;
    /// bots are spread over them by --placement. Worlds are created on the first.
    #[arg(long, value_delimiter = ',', conflicts_with_all = ["url", "spawn_server"])]
    targets: Vec<String>,
    /// How bots are spread over --targets: `bot` (bot i on target i mod n), `world` (every bot
    /// of world w on target w mod n, its "home"), `split` (the first, third, … bot of world w
    /// on its home, the others round-robin on the other targets).
    #[arg(long, value_enum, default_value_t = Placement::World)]
    placement: Placement,
    /// The first bot of each world (bots 0..W) connects before any other bot starts its
    /// setup, so that with several replicas each world is claimed by (owned on) the first
    /// bot's target, its home.
    #[arg(long)]
    claim_first: bool,
    /// Start this server binary on a free port with a fresh data directory, and stop it after.
    #[arg(long)]
    spawn_server: Option<PathBuf>,
    /// Existing worlds to use (comma-separated ids).
    #[arg(long, value_delimiter = ',')]
    world_ids: Vec<i64>,
    /// Create this many worlds first (with --map) instead of --world-ids.
    #[arg(long)]
    create_worlds: Option<u32>,
    /// Map size of created worlds, WxH px.
    #[arg(long, default_value = "6400x6400", value_parser = parse_pair::<'x'>)]
    map: (f64, f64),
    /// Bots in all (bot i joins world i mod W).
    #[arg(long, short = 'n', default_value_t = 100)]
    bots: usize,
    /// Moves per second per bot; 0 for idle bots that only ping.
    #[arg(long, default_value_t = 5.0)]
    rate: f64,
    /// Area each world's bots walk in, WxH px (inside the map).
    #[arg(long, default_value = "6400x6400", value_parser = parse_pair::<'x'>)]
    spread: (f64, f64),
    /// Top-left corner of that area, X,Y px.
    #[arg(long, default_value = "0,0", value_parser = parse_pair::<','>)]
    origin: (f64, f64),
    /// Walking speed, px/s (the server allows 200 × 1.5 × Δt + 64 px per move).
    #[arg(long, default_value_t = 150.0)]
    speed: f64,
    /// Seconds over which the bots connect; measuring starts after it (plus --settle).
    #[arg(long, default_value_t = 10.0)]
    ramp: f64,
    /// Seconds between the ramp's end and the measurement's start.
    #[arg(long, default_value_t = 3.0)]
    settle: f64,
    /// Measured seconds.
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Seconds after the window for in-flight deliveries.
    #[arg(long, default_value_t = 2.0)]
    drain: f64,
    /// Seconds between PINGs.
    #[arg(long, default_value_t = 5.0)]
    ping_interval: f64,
    /// The server's area of interest, WxH px (CROWDWIRE_INTEREST_AREA; default 1920x1080).
    #[arg(long, default_value = "1920x1080", value_parser = parse_pair::<'x'>)]
    area_of_interest: (f64, f64),
    /// Process id(s) of the server, for CPU and RSS (implied by --spawn-server); several,
    /// comma-separated, are summed (and listed one by one in the JSON).
    #[arg(long, value_delimiter = ',')]
    server_pid: Vec<u32>,
    /// Process ids of supporting services (Redis, RabbitMQ), comma-separated: their CPU over
    /// the window is reported apart (`aux_cpu_pct`) and left out of "other CPU".
    #[arg(long, value_delimiter = ',')]
    aux_pid: Vec<u32>,
    /// Shell command run (and awaited, at most 60 s) as `CMD start` just before the window's
    /// CPU marks and as `CMD end` just after them: e.g. to sample Redis or RabbitMQ counters
    /// over the same window.
    #[arg(long)]
    window_hook: Option<String>,
    /// Name of the scenario in the summary.
    #[arg(long, default_value = "run")]
    label: String,
    /// Bots setting up (REST + handshake) at once.
    #[arg(long, default_value_t = 64)]
    setup_concurrency: usize,
    /// Ask the server for batched frames (`?batch=1`: a JSON array per frame, every 50 ms).
    #[arg(long)]
    batch: bool,
    /// Print the markdown table header before the summary line.
    #[arg(long)]
    header: bool,
    /// Also print the summary as one JSON object (on its own line, after the markdown).
    #[arg(long)]
    json: bool,
    /// Bots register accounts (`POST /register` and `POST /login`: two Argon2id hashes each on
    /// the server) instead of joining as guests, so that the worlds' activity log records
    /// their joins and leaves (it records registered users only).
    #[arg(long)]
    registered: bool,
    /// A bot whose socket is closed (any code) or drops connects again, with the same token
    /// and no REST join, to another target (a random other one first, so that a stopped
    /// replica's bots spread over the others, then round-robin; a failed attempt tries the
    /// next after 0.1 s, doubling up to 1 s), and
    /// resumes: `JOIN_PLAYER` where it stands. Counted: closes by code, drops, close →
    /// `PLAYERS_SNAPSHOT` times.
    #[arg(long)]
    reconnect: bool,
    /// Each bot chats to ALL every S seconds inside the window (`c:{bot}:{n}`); the summary
    /// checks every chat's receipts: each bot of its world, sender included, exactly once.
    #[arg(long, value_name = "S")]
    chat_interval: Option<f64>,
    /// Each bot keeps the last movement it received about every other; the summary compares
    /// it with each bot's last sent move (see bench/README.md).
    #[arg(long)]
    final_positions: bool,
    /// Write movement deliveries per 100 ms (wall clock), by world, receiver's first target
    /// and mover's first target, to this CSV.
    #[arg(long, value_name = "FILE")]
    timeline: Option<PathBuf>,
    /// Write every bot's connection events, chats written and PINGs to this CSV.
    #[arg(long, value_name = "FILE")]
    trace: Option<PathBuf>,
    /// Read at the end: lines `UNIX_MS TARGET stop|kill|exited|started` telling when a target
    /// was stopped or killed and when a replacement answered on its address, so that
    /// disconnects of bots on it are told from all others (which should not happen).
    #[arg(long, value_name = "FILE")]
    disruptions: Option<PathBuf>,
}

impl RunArgs {
    /// Any of the failover options is on (then the summary has a `failover` part).
    fn failover(&self) -> bool {
        self.reconnect
            || self.chat_interval.is_some()
            || self.final_positions
            || self.timeline.is_some()
            || self.trace.is_some()
            || self.disruptions.is_some()
    }
}

/// See [`RunArgs::placement`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Placement {
    Bot,
    World,
    Split,
}

impl Placement {
    /// The target (index into `n` targets) of bot `i` of `worlds` worlds.
    fn target(self, i: usize, worlds: usize, n: usize) -> usize {
        let (w, j) = (i % worlds, i / worlds);
        match self {
            _ if n <= 1 => 0,
            Placement::Bot => i % n,
            Placement::World => w % n,
            Placement::Split => {
                let home = w % n;
                if j % 2 == 0 {
                    home
                } else {
                    (home + 1 + (j / 2) % (n - 1)) % n
                }
            }
        }
    }
}

fn parse_pair<const SEP: char>(s: &str) -> Result<(f64, f64), String> {
    let (a, b) = s.split_once(SEP).ok_or_else(|| format!("expected A{SEP}B, got {s}"))?;
    let a: f64 = a.trim().parse().map_err(|e| format!("{a}: {e}"))?;
    let b: f64 = b.trim().parse().map_err(|e| format!("{b}: {e}"))?;
    if !a.is_finite() || !b.is_finite() || a < 0.0 || b < 0.0 {
        return Err(format!("{s}: values must be finite and non-negative"));
    }
    Ok((a, b))
}

/// Hard limits, so that a run always ends and stays bounded.
const MAX_BOTS: usize = 20_000;
const MAX_SECONDS: f64 = 900.0;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match cli.command {
        Cmd::FreePort => {
            println!("{}", setup::free_port()?);
            Ok(())
        }
        Cmd::Setup(a) => rt.block_on(async {
            let base = setup::loopback_base(&a.url)?;
            ensure!(a.worlds >= 1 && a.worlds <= 10_000, "--worlds must be 1..=10000");
            let http = client()?;
            let created = setup::create_worlds(&http, &base, a.worlds, a.map).await?;
            if let Some(path) = &a.owner_token_file {
                std::fs::write(path, &created.owner_token).with_context(|| format!("writing {}", path.display()))?;
            }
            println!(
                "{}",
                created.ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",")
            );
            Ok(())
        }),
        Cmd::Run(a) => rt.block_on(run(*a)),
    }
}

/// Runs `sh -c "CMD PHASE"` and waits for it (at most 60 s; then it is killed).
async fn run_hook(cmd: &str, phase: &str) {
    let child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(format!("{cmd} {phase}"))
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn();
    match child {
        Ok(mut c) => match tokio::time::timeout(Duration::from_secs(60), c.wait()).await {
            Ok(Ok(s)) if s.success() => {}
            Ok(Ok(s)) => eprintln!("bots: window hook ({phase}) exited with {s}"),
            Ok(Err(e)) => eprintln!("bots: window hook ({phase}): {e}"),
            Err(_) => eprintln!("bots: window hook ({phase}) still running after 60 s; killed"),
        },
        Err(e) => eprintln!("bots: cannot start the window hook: {e}"),
    }
}

fn client() -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .tcp_nodelay(true)
        .build()?)
}

async fn run(a: RunArgs) -> anyhow::Result<()> {
    ensure!(a.bots >= 1 && a.bots <= MAX_BOTS, "--bots must be 1..={MAX_BOTS}");
    ensure!(a.rate >= 0.0 && a.rate <= 60.0, "--rate must be 0..=60 Hz");
    for (name, v) in [
        ("--ramp", a.ramp),
        ("--settle", a.settle),
        ("--duration", a.duration),
        ("--drain", a.drain),
    ] {
        ensure!((0.0..=MAX_SECONDS).contains(&v), "{name} must be 0..={MAX_SECONDS} s");
    }
    ensure!(a.duration > 0.0, "--duration must be positive");
    ensure!(a.ping_interval >= 0.5, "--ping-interval must be at least 0.5 s");
    if let Some(c) = a.chat_interval {
        ensure!(
            (0.5..=MAX_SECONDS).contains(&c),
            "--chat-interval must be 0.5..={MAX_SECONDS} s"
        );
    }
    ensure!(
        a.rate == 0.0 || a.speed / a.rate <= 200.0 * 1.5 / a.rate + 64.0,
        "--speed is beyond the server's speed check"
    );
    ensure!(
        a.spread.0 >= 4.0 && a.spread.1 >= 4.0,
        "--spread must be at least 4x4 px"
    );
    let spawned = match &a.spawn_server {
        Some(bin) => Some(setup::SpawnedServer::start(bin)?),
        None => None,
    };
    let bases: Vec<String> = match (&spawned, &a.url) {
        (Some(s), _) => vec![s.base.clone()],
        (None, Some(u)) => vec![setup::loopback_base(u)?],
        (None, None) if !a.targets.is_empty() => a
            .targets
            .iter()
            .map(|t| setup::loopback_base(t))
            .collect::<anyhow::Result<_>>()?,
        (None, None) => anyhow::bail!("give --url, --targets or --spawn-server"),
    };
    ensure!(bases.len() <= 64, "at most 64 targets");
    let base = bases[0].clone();
    let server_pids: Vec<u32> = match &spawned {
        Some(s) => vec![s.pid()],
        None => a.server_pid.clone(),
    };
    let http = client()?;
    for b in &bases {
        setup::wait_healthy(&http, b, Duration::from_secs(30)).await?;
    }
    let worlds = match (a.create_worlds, a.world_ids.is_empty()) {
        (Some(n), true) => {
            ensure!((1..=10_000).contains(&n), "--create-worlds must be 1..=10000");
            setup::create_worlds(&http, &base, n, a.map).await?.ids
        }
        (None, false) => a.world_ids.clone(),
        _ => anyhow::bail!("give exactly one of --world-ids and --create-worlds"),
    };
    let start = Duration::from_secs_f64(a.ramp + a.settle);
    let end = start + Duration::from_secs_f64(a.duration);
    let stop = end + Duration::from_secs_f64(a.drain);
    let target_of: Vec<u32> = (0..a.bots)
        .map(|i| a.placement.target(i, worlds.len(), bases.len()) as u32)
        .collect();
    let mut bots_per_target = vec![0usize; bases.len()];
    for &t in &target_of {
        bots_per_target[t as usize] += 1;
    }
    let shared = Arc::new(Shared {
        bases: bases.clone(),
        target_of,
        http,
        grids: worlds
            .iter()
            .map(|_| Mutex::new(Grid::new(a.area_of_interest.0, a.area_of_interest.1)))
            .collect(),
        worlds: worlds.clone(),
        sends: Sends::new(a.bots),
        origin: Instant::now(),
        ramp: Duration::from_secs_f64(a.ramp),
        bots: a.bots,
        start,
        end,
        stop,
        rate: a.rate,
        speed: a.speed,
        area: (a.origin.0, a.origin.1, a.spread.0, a.spread.1),
        ping: Duration::from_secs_f64(a.ping_interval),
        pioneers: tokio::sync::watch::Sender::new(if a.claim_first { worlds.len() } else { 0 }),
        setup_gate: tokio::sync::Semaphore::new(a.setup_concurrency.max(1)),
        batch: a.batch,
        c: Counters::default(),
        latency: (0..8)
            .map(|_| Histogram::new_with_bounds(1, 120_000_000, 2).map(Mutex::new))
            .collect::<Result<_, _>>()?,
        registered: a.registered,
        reconnect: a.reconnect,
        chat_every: a.chat_interval.map(Duration::from_secs_f64),
        final_positions: a.final_positions,
        failover: a.failover(),
        timeline: a
            .timeline
            .as_ref()
            .map(|_| failover::Timeline::new(worlds.len(), bases.len(), stop + Duration::from_secs(1))),
        origin_unix_ms: failover::unix_ms_now(),
        final_tag: (0..a.bots).map(|_| std::sync::atomic::AtomicU64::new(0)).collect(),
        final_xy: (0..a.bots).map(|_| Default::default()).collect(),
        error_texts: Mutex::new(Default::default()),
    });
    let rss_before = procfs::rss_kib_sum(&server_pids);
    eprintln!(
        "bots: {} bots over {} world(s) at {} Hz, ramp {} s + settle {} s, measuring {} s (server {}, pid {}; bots per target {:?})",
        a.bots,
        worlds.len(),
        a.rate,
        a.ramp,
        a.settle,
        a.duration,
        bases.join(" "),
        if server_pids.is_empty() {
            "unknown".into()
        } else {
            server_pids.iter().map(u32::to_string).collect::<Vec<_>>().join(",")
        },
        bots_per_target,
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.bots {
        tasks.spawn(bot::run(shared.clone(), i));
    }
    // Marks at the window's edges, and the peak server RSS inside it.
    let monitor = {
        let sh = shared.clone();
        let (server_pids, aux_pids, hook) = (server_pids.clone(), a.aux_pid.clone(), a.window_hook.clone());
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(sh.origin + sh.start)).await;
            if let Some(h) = &hook {
                run_hook(h, "start").await;
            }
            let connected_at_start = sh.c.connected.load(Ordering::Relaxed);
            let marks = |pids: &[u32]| pids.iter().map(|&p| CpuMark::now(Some(p))).collect::<Vec<_>>();
            let (s0, x0, g0) = (marks(&server_pids), marks(&aux_pids), CpuMark::now(None));
            let (m0, t0) = (procfs::machine_busy_seconds(), Instant::now());
            let window_end = tokio::time::Instant::from_std(sh.origin + sh.end);
            let mut peak = 0u64;
            while tokio::time::Instant::now() < window_end {
                if let Some(r) = procfs::rss_kib_sum(&server_pids) {
                    peak = peak.max(r);
                }
                tokio::time::sleep_until((tokio::time::Instant::now() + Duration::from_secs(1)).min(window_end)).await;
            }
            let (s1, x1, g1) = (marks(&server_pids), marks(&aux_pids), CpuMark::now(None));
            let machine = match (m0, procfs::machine_busy_seconds()) {
                (Some(a), Some(b)) => Some((b - a) / t0.elapsed().as_secs_f64() * 100.0),
                _ => None,
            };
            if let Some(h) = &hook {
                run_hook(h, "end").await;
            }
            let load = procfs::load_average();
            let rss_end = procfs::rss_kib_sum(&server_pids);
            let connected_at_end = sh.c.connected.load(Ordering::Relaxed) - sh.c.dropped.load(Ordering::Relaxed);
            let each =
                |a: &[CpuMark], b: &[CpuMark]| a.iter().zip(b).map(|(a, b)| a.percent_until(b)).collect::<Vec<_>>();
            (
                connected_at_start,
                connected_at_end,
                each(&s0, &s1),
                each(&x0, &x1),
                g0.percent_until(&g1),
                rss_end,
                peak,
                machine,
                load,
            )
        })
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 2)?;
    let mut by_hops: Vec<Histogram<u64>> = (0..3)
        .map(|_| Histogram::<u64>::new_with_bounds(1, 120_000_000, 2))
        .collect::<Result<_, _>>()?;
    let (mut delivered, mut outside, mut unmatched, mut notices) = (0u64, 0u64, 0u64, 0u64);
    let mut first_error: Option<String> = None;
    let mut logs = Vec::with_capacity(if a.failover() { a.bots } else { 0 });
    // Bounded: every bot stops at `stop`; allow setup timeouts on top.
    let hard_deadline = tokio::time::Instant::from_std(shared.origin + stop + Duration::from_secs(90));
    loop {
        match tokio::time::timeout_at(hard_deadline, tasks.join_next()).await {
            Ok(Some(Ok(mut r))) => {
                if a.failover() {
                    logs.push(std::mem::take(&mut r.log));
                }
                for (all, h) in by_hops.iter_mut().zip(&r.latency_by_hops) {
                    if let Some(h) = h {
                        all.add(h)?;
                    }
                }
                delivered += r.delivered;
                outside += r.delivered_outside;
                unmatched += r.unmatched;
                notices += r.notices;
                if first_error.is_none() {
                    first_error = r.error;
                }
            }
            Ok(Some(Err(e))) => eprintln!("bots: a bot task failed: {e}"),
            Ok(None) => break,
            Err(_) => {
                eprintln!(
                    "bots: {} bots still running at the hard deadline; aborting them",
                    tasks.len()
                );
                tasks.abort_all();
                break;
            }
        }
    }
    let (connected_at_start, connected_at_end, server_each, aux_each, bots_cpu, rss_end, rss_peak, machine_cpu, load) =
        monitor.await.context("monitor task")?;
    for shard in &shared.latency {
        hist.add(&*shard.lock().unwrap_or_else(|p| p.into_inner()))?;
    }
    let sum = |v: &[Option<f64>]| -> Option<f64> {
        if v.is_empty() || v.iter().any(Option::is_none) {
            None
        } else {
            Some(v.iter().flatten().sum())
        }
    };
    logs.sort_by_key(|l| l.bot);
    let server_cpu = sum(&server_each);
    let aux_cpu = sum(&aux_each);
    if let Some(e) = &first_error {
        eprintln!("bots: first setup error: {e}");
    }
    let c = &shared.c;
    let secs = a.duration;
    let sent = c.sent.load(Ordering::Relaxed);
    let expected = c.expected.load(Ordering::Relaxed);
    let ratio = if expected > 0 {
        Some(delivered as f64 / expected as f64)
    } else {
        None
    };
    let ms = |v: u64| v as f64 / 1000.0;
    let (p50, p90, p99, p999, max) = if hist.is_empty() {
        (None, None, None, None, None)
    } else {
        (
            Some(ms(hist.value_at_quantile(0.50))),
            Some(ms(hist.value_at_quantile(0.90))),
            Some(ms(hist.value_at_quantile(0.99))),
            Some(ms(hist.value_at_quantile(0.999))),
            Some(ms(hist.max())),
        )
    };
    let per_conn_kib = match (rss_before, rss_end) {
        (Some(b), Some(e)) if connected_at_end > 0 => Some((e as f64 - b as f64) / connected_at_end as f64),
        _ => None,
    };
    let count = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    let room_joins = count(&c.room_joins);
    // Server CPU time over the window, µs, shared out per delivery and per group change
    // (each is the whole server's CPU divided by one count: compare runs, not the two).
    let server_us = server_cpu.map(|p| p / 100.0 * secs * 1e6);
    let per = |n: u64| server_us.filter(|_| n > 0).map(|us| us / n as f64);
    let mut summary = json!({
        "label": a.label,
        "bots": a.bots,
        "worlds": worlds.len(),
        "rate_hz": a.rate,
        "batch": a.batch,
        "spread": [a.spread.0, a.spread.1],
        "origin": [a.origin.0, a.origin.1],
        "ramp_s": a.ramp,
        "settle_s": a.settle,
        "duration_s": a.duration,
        "connected": c.connected.load(Ordering::Relaxed),
        "connected_at_start": connected_at_start,
        "connected_at_end": connected_at_end,
        "setup_failed": c.setup_failed.load(Ordering::Relaxed),
        "dropped": c.dropped.load(Ordering::Relaxed),
        "send_failed": c.send_failed.load(Ordering::Relaxed),
        "server_errors": c.server_errors.load(Ordering::Relaxed),
        "moves_sent": sent,
        "moves_per_s": sent as f64 / secs,
        "target_moves_per_s": a.bots as f64 * a.rate,
        "expected": expected,
        "delivered": delivered,
        "delivered_outside_window": outside,
        "unmatched": unmatched,
        "view_notices": notices,
        "deliveries_per_s": delivered as f64 / secs,
        "delivered_ratio": ratio,
        "latency_ms": {"p50": p50, "p90": p90, "p99": p99, "p999": p999, "max": max, "samples": hist.len()},
        // Deliveries by replica hops: 0 (mover and receiver on the world's home target), 1, 2.
        "latency_by_hops_ms": by_hops.iter().enumerate().filter(|(_, h)| !h.is_empty()).map(|(hops, h)| json!({
            "hops": hops,
            "p50": ms(h.value_at_quantile(0.50)),
            "p99": ms(h.value_at_quantile(0.99)),
            "max": ms(h.max()),
            "samples": h.len(),
        })).collect::<Vec<_>>(),
        "group_messages": {
            "wire_player": count(&c.wires),
            "unwire_player": count(&c.unwires),
            "close_room": count(&c.close_rooms),
            "room_joins": room_joins,
            "room_joins_per_s": room_joins as f64 / secs,
        },
        "server_cpu_us_per_delivery": per(delivered),
        "server_cpu_us_per_room_join": per(room_joins),
        "pings": c.pings.load(Ordering::Relaxed),
        "pongs": c.pongs.load(Ordering::Relaxed),
        "targets": bases,
        "placement": format!("{:?}", a.placement).to_lowercase(),
        "bots_per_target": bots_per_target,
        "claim_first": a.claim_first,
        "server_pid": server_pids.first(),
        "server_pids": server_pids,
        "server_cpu_pct": server_cpu,
        "server_cpu_pct_each": server_each,
        "aux_pids": a.aux_pid,
        "aux_cpu_pct": aux_cpu,
        "aux_cpu_pct_each": aux_each,
        "server_rss_before_kib": rss_before,
        "server_rss_kib": rss_end,
        "server_rss_peak_kib": if rss_peak > 0 { Some(rss_peak) } else { None },
        "server_rss_per_conn_kib": per_conn_kib,
        "bots_cpu_pct": bots_cpu,
        "bots_rss_kib": procfs::rss_kib(None),
        "machine_cpu_pct": machine_cpu,
        "other_cpu_pct": match (machine_cpu, server_cpu, bots_cpu) {
            (Some(m), Some(s), Some(b)) => Some((m - s - b - aux_cpu.unwrap_or(0.0)).max(0.0)),
            _ => None,
        },
        "load_average_1m": load,
        "origin_unix_ms": shared.origin_unix_ms,
        "window_unix_ms": [
            shared.origin_unix_ms + start.as_millis() as u64,
            shared.origin_unix_ms + end.as_millis() as u64,
        ],
        "stop_unix_ms": shared.origin_unix_ms + stop.as_millis() as u64,
        "registered": a.registered,
        "disconnects": count(&c.disconnects),
        "reconnects": count(&c.reconnects),
        "chats_sent": count(&c.chats_sent),
        "server_error_messages": *shared.error_texts.lock().unwrap_or_else(|p| p.into_inner()),
    });
    let mut failover_line = None;
    if a.failover() {
        let disruptions = match &a.disruptions {
            Some(p) if p.exists() => failover::read_disruptions(p)?,
            Some(p) => {
                eprintln!("bots: {} does not exist: no replica was stopped", p.display());
                Vec::new()
            }
            None => Vec::new(),
        };
        let run = failover::Run {
            targets: bases.len(),
            worlds: &worlds,
            final_moves: (0..a.bots).map(|i| shared.final_move(i)).collect(),
            view: (a.area_of_interest.0 / 2.0, a.area_of_interest.1 / 2.0),
            chat: a.chat_interval.is_some(),
            final_positions: a.final_positions,
            seqs: bot::SEQS,
        };
        let (v, line) = failover::summarize(&run, &logs, &disruptions, &a.label);
        summary["failover"] = v;
        failover_line = Some(line);
        if let (Some(path), Some(t)) = (&a.timeline, &shared.timeline) {
            t.write_csv(path, shared.origin_unix_ms, &worlds)?;
        }
        if let Some(path) = &a.trace {
            failover::write_trace(path, &logs, &worlds)?;
        }
    }
    let f1 = |v: Option<f64>| v.map(|v| format!("{v:.1}")).unwrap_or_else(|| "–".into());
    let f2 = |v: Option<f64>| v.map(|v| format!("{v:.2}")).unwrap_or_else(|| "–".into());
    if a.header {
        println!(
            "| scenario | bots | worlds | Hz | connected | moves/s | deliveries/s | delivered/expected | p50 ms | p99 ms | max ms | server CPU % | server RSS MiB | RSS/conn KiB | bots CPU % | other CPU % |"
        );
        println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    }
    println!(
        "| {} | {} | {} | {} | {} | {:.0} | {:.0} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        a.label,
        a.bots,
        worlds.len(),
        a.rate,
        connected_at_end,
        sent as f64 / secs,
        delivered as f64 / secs,
        ratio
            .map(|r| format!("{:.2} %", r * 100.0))
            .unwrap_or_else(|| "–".into()),
        f2(p50),
        f2(p99),
        f1(max),
        f1(server_cpu),
        f1(rss_end.map(|k| k as f64 / 1024.0)),
        f1(per_conn_kib),
        f1(bots_cpu),
        f1(machine_cpu
            .zip(server_cpu)
            .zip(bots_cpu)
            .map(|((m, s), b)| (m - s - b - aux_cpu.unwrap_or(0.0)).max(0.0))),
    );
    if let Some(line) = failover_line {
        println!();
        if a.header {
            for h in failover::header() {
                println!("{h}");
            }
        }
        println!("{line}");
    }
    if a.json {
        println!("{summary}");
    }
    drop(spawned);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Placement;

    #[test]
    fn placements_spread_bots_as_documented() {
        // 6 worlds, 2 targets: `world` keeps a world's bots together, on target w mod 2.
        for i in 0..60 {
            assert_eq!(Placement::World.target(i, 6, 2), (i % 6) % 2);
            assert_eq!(Placement::Bot.target(i, 6, 3), i % 3);
            assert_eq!(Placement::Split.target(i, 6, 1), 0);
        }
        // `split`: the first bot of each world is on its home (it claims the world there);
        // half the world's bots are on the home, the rest spread over the other targets.
        for n in [2, 3] {
            for w in 0..6 {
                let targets: Vec<usize> = (0..10).map(|j| Placement::Split.target(j * 6 + w, 6, n)).collect();
                assert_eq!(targets[0], w % n);
                assert_eq!(targets.iter().filter(|&&t| t == w % n).count(), 5);
                for t in 0..n {
                    assert!(targets.contains(&t), "{targets:?}");
                }
            }
        }
    }
}
