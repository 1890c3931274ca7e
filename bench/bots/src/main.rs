//! `bots`: a WebSocket load generator for CrowdWire.
//!
//! `bots run` starts N guest bots over W worlds (after a ramp-up), lets each random-walk at
//! R Hz inside an area for a fixed duration, and reports movement latency (p50/p99/max, HDR
//! histogram), deliveries per second, delivered/expected (expected from the same
//! area-of-interest rule as the server, applied to the positions the bots sent), the server's CPU
//! and RSS (from `/proc/<pid>`) and the generator's own CPU. `bots setup` creates worlds.
//! Only 127.0.0.1 is ever targeted, and every run is bounded in time and count.

mod bot;
mod grid;
mod procfs;
mod setup;

use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, RwLock};
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
}

#[derive(Args)]
struct RunArgs {
    /// Server base URL (http://127.0.0.1:PORT); omit with --spawn-server.
    #[arg(long)]
    url: Option<String>,
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
    /// Process id of the server, for its CPU and RSS (implied by --spawn-server).
    #[arg(long)]
    server_pid: Option<u32>,
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
            let ids = setup::create_worlds(&http, &base, a.worlds, a.map).await?;
            println!("{}", ids.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
            Ok(())
        }),
        Cmd::Run(a) => rt.block_on(run(*a)),
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
    let base = match (&spawned, &a.url) {
        (Some(s), _) => s.base.clone(),
        (None, Some(u)) => setup::loopback_base(u)?,
        (None, None) => anyhow::bail!("give --url or --spawn-server"),
    };
    let server_pid = spawned.as_ref().map(|s| s.pid()).or(a.server_pid);
    let http = client()?;
    setup::wait_healthy(&http, &base, Duration::from_secs(30)).await?;
    let worlds = match (a.create_worlds, a.world_ids.is_empty()) {
        (Some(n), true) => {
            ensure!((1..=10_000).contains(&n), "--create-worlds must be 1..=10000");
            setup::create_worlds(&http, &base, n, a.map).await?
        }
        (None, false) => a.world_ids.clone(),
        _ => anyhow::bail!("give exactly one of --world-ids and --create-worlds"),
    };
    let start = Duration::from_secs_f64(a.ramp + a.settle);
    let end = start + Duration::from_secs_f64(a.duration);
    let stop = end + Duration::from_secs_f64(a.drain);
    let shared = Arc::new(Shared {
        base: base.clone(),
        http,
        grids: worlds
            .iter()
            .map(|_| Mutex::new(Grid::new(a.area_of_interest.0, a.area_of_interest.1)))
            .collect(),
        worlds: worlds.clone(),
        sends: Sends::new(a.bots),
        ids: RwLock::new(Default::default()),
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
        setup_gate: tokio::sync::Semaphore::new(a.setup_concurrency.max(1)),
        batch: a.batch,
        c: Counters::default(),
    });
    let rss_before = server_pid.and_then(|p| procfs::rss_kib(Some(p)));
    eprintln!(
        "bots: {} bots over {} world(s) at {} Hz, ramp {} s + settle {} s, measuring {} s (server {base}, pid {})",
        a.bots,
        worlds.len(),
        a.rate,
        a.ramp,
        a.settle,
        a.duration,
        server_pid.map(|p| p.to_string()).unwrap_or_else(|| "unknown".into())
    );
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..a.bots {
        tasks.spawn(bot::run(shared.clone(), i));
    }
    // Marks at the window's edges, and the peak server RSS inside it.
    let monitor = {
        let sh = shared.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(tokio::time::Instant::from_std(sh.origin + sh.start)).await;
            let connected_at_start = sh.c.connected.load(Ordering::Relaxed);
            let (s0, g0) = (CpuMark::now(server_pid), CpuMark::now(None));
            let (m0, t0) = (procfs::machine_busy_seconds(), Instant::now());
            let window_end = tokio::time::Instant::from_std(sh.origin + sh.end);
            let mut peak = 0u64;
            while tokio::time::Instant::now() < window_end {
                if let Some(r) = server_pid.and_then(|p| procfs::rss_kib(Some(p))) {
                    peak = peak.max(r);
                }
                tokio::time::sleep_until((tokio::time::Instant::now() + Duration::from_secs(1)).min(window_end)).await;
            }
            let (s1, g1) = (CpuMark::now(server_pid), CpuMark::now(None));
            let machine = match (m0, procfs::machine_busy_seconds()) {
                (Some(a), Some(b)) => Some((b - a) / t0.elapsed().as_secs_f64() * 100.0),
                _ => None,
            };
            let load = procfs::load_average();
            let rss_end = server_pid.and_then(|p| procfs::rss_kib(Some(p)));
            let connected_at_end = sh.c.connected.load(Ordering::Relaxed) - sh.c.dropped.load(Ordering::Relaxed);
            (
                connected_at_start,
                connected_at_end,
                s0.percent_until(&s1),
                g0.percent_until(&g1),
                rss_end,
                peak,
                machine,
                load,
            )
        })
    };
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3)?;
    let (mut delivered, mut outside, mut unmatched, mut notices) = (0u64, 0u64, 0u64, 0u64);
    let mut first_error: Option<String> = None;
    // Bounded: every bot stops at `stop`; allow setup timeouts on top.
    let hard_deadline = tokio::time::Instant::from_std(shared.origin + stop + Duration::from_secs(90));
    loop {
        match tokio::time::timeout_at(hard_deadline, tasks.join_next()).await {
            Ok(Some(Ok(r))) => {
                if let Some(h) = &r.latency {
                    hist.add(h)?;
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
    let (connected_at_start, connected_at_end, server_cpu, bots_cpu, rss_end, rss_peak, machine_cpu, load) =
        monitor.await.context("monitor task")?;
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
    let summary = json!({
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
        "pings": c.pings.load(Ordering::Relaxed),
        "pongs": c.pongs.load(Ordering::Relaxed),
        "server_pid": server_pid,
        "server_cpu_pct": server_cpu,
        "server_rss_before_kib": rss_before,
        "server_rss_kib": rss_end,
        "server_rss_peak_kib": if rss_peak > 0 { Some(rss_peak) } else { None },
        "server_rss_per_conn_kib": per_conn_kib,
        "bots_cpu_pct": bots_cpu,
        "bots_rss_kib": procfs::rss_kib(None),
        "machine_cpu_pct": machine_cpu,
        "other_cpu_pct": match (machine_cpu, server_cpu, bots_cpu) {
            (Some(m), Some(s), Some(b)) => Some((m - s - b).max(0.0)),
            _ => None,
        },
        "load_average_1m": load,
    });
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
            .map(|((m, s), b)| (m - s - b).max(0.0))),
    );
    if a.json {
        println!("{summary}");
    }
    drop(spawned);
    Ok(())
}
