//! A media node: the IO around [`Sfu`] cores. Each worker is one OS thread (running its own
//! single-threaded tokio runtime) with one UDP socket and one `Sfu`, so a node uses as many
//! cores as it has workers; a room lives on one worker for its whole life (the least loaded
//! when the room is first joined).
//!
//! The workers are threads of their own, not tasks on the server's runtime, so that media
//! work (DTLS handshakes, forwarding bursts) never holds a runtime thread that the worlds'
//! actors and the sockets' writers need: the kernel shares the cores between both. Commands
//! reach a worker through an unbounded channel, so a world's actor hands them off without
//! ever waiting for the SFU.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::net::UdpSocket;
use tokio::sync::{mpsc, oneshot};
use tracing::{info, warn};

use crowdwire_world::engine::MediaCommand;

use crate::sfu::{Counts, Out, RoomKey, Sfu, SfuConfig, Traffic};

/// Where a world's peers' messages go: (peer, whole message as JSON text).
pub type PeerSink = mpsc::UnboundedSender<(String, String)>;

/// Settings of a media node.
#[derive(Debug, Clone)]
pub struct MediaConfig {
    /// UDP address of the first worker; worker `i` binds port + `i` (port 0: any free port).
    pub bind: SocketAddr,
    /// The IP browsers are told to send to (default: the bind IP).
    pub announce_ip: Option<IpAddr>,
    /// Worker count (one core each).
    pub workers: usize,
    /// How long a peer's transports wait for the peer to say anything about its room.
    pub unconnected_timeout: std::time::Duration,
}

enum Cmd {
    Media(i64, MediaCommand),
    Stats(oneshot::Sender<(Counts, Traffic)>),
}

struct Worker {
    tx: mpsc::UnboundedSender<Cmd>,
    addr: SocketAddr,
}

type Sinks = Arc<Mutex<HashMap<i64, PeerSink>>>;

/// A running media node.
pub struct MediaNode {
    workers: Vec<Worker>,
    placement: Mutex<HashMap<RoomKey, usize>>,
    sinks: Sinks,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MediaNode {
    /// Binds the workers' sockets and starts them.
    pub async fn start(config: MediaConfig) -> Result<Self, String> {
        let workers = config.workers.max(1);
        let announce = match (config.announce_ip, config.bind.ip()) {
            (Some(ip), _) => ip,
            (None, ip) if ip.is_unspecified() => {
                return Err("the media bind address is unspecified: set --media-announce-ip".into());
            }
            (None, ip) => ip,
        };
        let sinks: Sinks = Arc::default();
        let mut list = Vec::new();
        for i in 0..workers {
            let mut bind = config.bind;
            if bind.port() != 0 {
                bind.set_port(bind.port() + i as u16);
            }
            let socket = std::net::UdpSocket::bind(bind).map_err(|e| {
                let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
                    " (another server, or another CrowdWire, uses it: choose other ports with --media-bind \
                     IP:PORT or CROWDWIRE_MEDIA_BIND, one port per worker from PORT up; port 0 picks free ones)"
                } else {
                    ""
                };
                format!("cannot bind media UDP {bind}: {e}{hint}")
            })?;
            socket.set_nonblocking(true).map_err(|e| e.to_string())?;
            let local = socket.local_addr().map_err(|e| e.to_string())?;
            let candidate = SocketAddr::new(announce, local.port());
            let mut sfu_config = SfuConfig::new(candidate);
            sfu_config.unconnected_timeout = config.unconnected_timeout;
            let sfu = Sfu::new(sfu_config, Instant::now())?;
            let (tx, rx) = mpsc::unbounded_channel();
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start a media worker: {e}"))?;
            let worker_sinks = sinks.clone();
            std::thread::Builder::new()
                .name(format!("media-worker-{i}"))
                .spawn(move || {
                    runtime.block_on(async move {
                        match UdpSocket::from_std(socket) {
                            Ok(socket) => run(socket, sfu, rx, worker_sinks).await,
                            Err(e) => warn!(worker = i, "media worker cannot use its socket: {e}"),
                        }
                    })
                })
                .map_err(|e| format!("cannot start a media worker thread: {e}"))?;
            info!(worker = i, %local, %candidate, "media worker listening");
            list.push(Worker { tx, addr: candidate });
        }
        Ok(Self {
            workers: list,
            placement: Mutex::new(HashMap::new()),
            sinks,
        })
    }

    /// The announced address of each worker.
    pub fn addresses(&self) -> Vec<SocketAddr> {
        self.workers.iter().map(|w| w.addr).collect()
    }

    /// A world's peers' messages go to `sink` from now on.
    pub fn attach(&self, world: i64, sink: PeerSink) {
        lock(&self.sinks).insert(world, sink);
    }

    /// A world stopped.
    pub fn detach(&self, world: i64) {
        lock(&self.sinks).remove(&world);
    }

    fn worker_of(&self, key: &RoomKey, place: bool) -> Option<usize> {
        let mut placement = lock(&self.placement);
        if let Some(w) = placement.get(key) {
            return Some(*w);
        }
        if !place {
            return None;
        }
        let mut load = vec![0usize; self.workers.len()];
        for w in placement.values() {
            load[*w] += 1;
        }
        let w = (0..self.workers.len()).min_by_key(|i| load[*i]).unwrap_or(0);
        placement.insert(key.clone(), w);
        Some(w)
    }

    fn send(&self, worker: usize, world: i64, command: MediaCommand) {
        if let Some(w) = self.workers.get(worker) {
            let _ = w.tx.send(Cmd::Media(world, command));
        }
    }

    /// Carries out one command of a world's engine.
    pub fn command(&self, world: i64, command: MediaCommand) {
        match command {
            MediaCommand::Join { ref room, .. } | MediaCommand::AddSpeaker { ref room, .. } => {
                let w = self.worker_of(&(world, room.clone()), true).unwrap_or(0);
                self.send(w, world, command);
            }
            MediaCommand::Destroy { ref room } => {
                let key = (world, room.clone());
                if let Some(w) = self.worker_of(&key, false) {
                    self.send(w, world, command);
                }
                lock(&self.placement).remove(&key);
            }
            MediaCommand::Leave { rooms, peer } => {
                for (w, rooms) in self.split(world, rooms) {
                    self.send(
                        w,
                        world,
                        MediaCommand::Leave {
                            rooms,
                            peer: peer.clone(),
                        },
                    );
                }
            }
            MediaCommand::FileTarget {
                rooms,
                owner,
                downloader,
            } => {
                for (w, rooms) in self.split(world, rooms) {
                    self.send(
                        w,
                        world,
                        MediaCommand::FileTarget {
                            rooms,
                            owner: owner.clone(),
                            downloader: downloader.clone(),
                        },
                    );
                }
            }
            MediaCommand::CloseMedia { ref room, .. }
            | MediaCommand::Toggle { ref room, .. }
            | MediaCommand::Signal { ref room, .. } => {
                // An unknown room still gets an answer (an error reply) from worker 0.
                let w = self.worker_of(&(world, room.clone()), false).unwrap_or(0);
                self.send(w, world, command);
            }
        }
    }

    fn split(&self, world: i64, rooms: Vec<String>) -> HashMap<usize, Vec<String>> {
        let mut by: HashMap<usize, Vec<String>> = HashMap::new();
        for r in rooms {
            if let Some(w) = self.worker_of(&(world, r.clone()), false) {
                by.entry(w).or_default().push(r);
            }
        }
        by
    }

    /// What all workers hold, and their traffic.
    pub async fn stats(&self) -> (Counts, Traffic) {
        let mut total = (Counts::default(), Traffic::default());
        for w in &self.workers {
            let (tx, rx) = oneshot::channel();
            if w.tx.send(Cmd::Stats(tx)).is_err() {
                continue;
            }
            if let Ok((c, t)) = rx.await {
                total.0.add(&c);
                total.1.add(&t);
            }
        }
        total
    }
}

fn handle(sfu: &mut Sfu, now: Instant, cmd: Cmd) {
    match cmd {
        Cmd::Media(world, c) => sfu.command(now, world, c),
        Cmd::Stats(tx) => {
            let _ = tx.send((sfu.counts(), sfu.traffic()));
        }
    }
}

async fn run(socket: UdpSocket, mut sfu: Sfu, mut rx: mpsc::UnboundedReceiver<Cmd>, sinks: Sinks) {
    let mut buf = vec![0u8; 2048];
    loop {
        let deadline = tokio::time::Instant::from_std(sfu.next_timeout());
        tokio::select! {
            r = socket.recv_from(&mut buf) => match r {
                Ok((n, source)) => {
                    let now = Instant::now();
                    sfu.datagram(now, source, &buf[..n]);
                    // Take what else is waiting before flushing.
                    for _ in 0..64 {
                        match socket.try_recv_from(&mut buf) {
                            Ok((n, source)) => sfu.datagram(now, source, &buf[..n]),
                            Err(_) => break,
                        }
                    }
                }
                Err(e) => warn!("media socket receive failed: {e}"),
            },
            cmd = rx.recv() => {
                let Some(cmd) = cmd else { break };
                let now = Instant::now();
                handle(&mut sfu, now, cmd);
                // Take what else is waiting (groups form and part in bursts) before flushing.
                for _ in 0..256 {
                    match rx.try_recv() {
                        Ok(cmd) => handle(&mut sfu, now, cmd),
                        Err(_) => break,
                    }
                }
            }
            _ = tokio::time::sleep_until(deadline) => {}
        }
        let now = Instant::now();
        if sfu.next_timeout() <= now {
            sfu.timeout(now);
        }
        let outs: Vec<Out> = sfu.drain().collect();
        for o in outs {
            match o {
                Out::Transmit { to, data } => {
                    if let Err(e) = socket.try_send_to(&data, to) {
                        if e.kind() == std::io::ErrorKind::WouldBlock {
                            let _ = socket.send_to(&data, to).await;
                        } else {
                            tracing::debug!(%to, "media send failed: {e}");
                        }
                    }
                }
                Out::Message { world, peer, message } => {
                    if let Some(sink) = lock(&sinks).get(&world) {
                        let _ = sink.send((peer, message));
                    }
                }
            }
        }
    }
}
