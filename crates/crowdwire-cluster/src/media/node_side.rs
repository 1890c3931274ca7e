//! A standalone media node: the SFU behind its own RabbitMQ queue, registered in Redis with
//! its load. See [`crate::media::protocol`] for the wire.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use redis::Script;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crowdwire_media::{MediaConfig, MediaNode};

use crate::media::protocol::{self, API_QUEUE, CREATE_NEW_REPLICA, NODES_KEY};

/// A node at this share of its capacity asks for another node (`CREATE_NEW_REPLICA`).
pub const SCALE_OUT_LOAD: f64 = 0.9;
/// It asks again only after dropping below this share.
const REARM_LOAD: f64 = 0.7;
/// A node's registration lives this long unless renewed (every second).
const REGISTRATION_TTL_MS: u64 = 3000;

/// Settings of a media node.
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// Its id (its queue is `media_server_{id}`).
    pub node_id: String,
    /// RabbitMQ.
    pub amqp_url: String,
    /// Redis.
    pub redis_url: String,
    /// The SFU.
    pub media: MediaConfig,
    /// Consumers (forwarded tracks) it takes before asking for another node.
    pub capacity: usize,
}

/// What a running node reports (for its health endpoint and metrics).
#[derive(Default)]
pub struct NodeStatus {
    /// RabbitMQ connected.
    pub amqp_up: AtomicBool,
    /// Redis answered the last heartbeat.
    pub redis_up: AtomicBool,
    /// Rooms held.
    pub rooms: AtomicU64,
    /// Consumers held.
    pub consumers: AtomicU64,
    /// Peers held.
    pub peers: AtomicU64,
    /// Load in thousandths of capacity.
    pub load_milli: AtomicU64,
    /// Commands taken.
    pub commands: AtomicU64,
}

/// A running node.
pub struct Node {
    /// Its status.
    pub status: Arc<NodeStatus>,
    /// Its id.
    pub id: String,
    /// Its SFU's announced UDP addresses.
    pub addresses: Vec<std::net::SocketAddr>,
    redis: ConnectionManager,
}

type Outgoing = mpsc::UnboundedSender<(String, Option<i64>, Vec<u8>)>;
type Routes = Arc<Mutex<HashMap<i64, String>>>;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Node {
    /// Starts the SFU, connects to Redis and RabbitMQ (failing if either cannot be reached
    /// within a few seconds), and starts taking commands and reporting load.
    pub async fn start(config: NodeConfig) -> Result<Node, String> {
        let sfu = Arc::new(MediaNode::start(config.media.clone()).await?);
        let client = redis::Client::open(config.redis_url.as_str()).map_err(|e| format!("CROWDWIRE_REDIS_URL: {e}"))?;
        let redis_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(Duration::from_secs(2)))
            .set_number_of_retries(2);
        let redis = tokio::time::timeout(
            Duration::from_secs(10),
            ConnectionManager::new_with_config(client, redis_config),
        )
        .await
        .map_err(|_| "Redis did not answer within 10 s".to_owned())?
        .map_err(|e| format!("cannot reach Redis: {e}"))?;
        let status = Arc::new(NodeStatus::default());
        let (out_tx, out_rx) = mpsc::unbounded_channel();
        let routes: Routes = Arc::default();
        let queue = protocol::node_queue(&config.node_id);
        let session = tokio::time::timeout(Duration::from_secs(10), Session::open(&config.amqp_url, &queue))
            .await
            .map_err(|_| "RabbitMQ did not answer within 10 s".to_owned())?
            .map_err(|e| format!("cannot reach RabbitMQ: {e}"))?;
        status.amqp_up.store(true, Ordering::Relaxed);
        tokio::spawn(serve(
            config.amqp_url.clone(),
            queue.clone(),
            session,
            sfu.clone(),
            out_tx.clone(),
            out_rx,
            routes,
            status.clone(),
        ));
        tokio::spawn(report(
            redis.clone(),
            sfu.clone(),
            config.clone(),
            queue,
            out_tx,
            status.clone(),
        ));
        tracing::info!(node = %config.node_id, addresses = ?sfu.addresses(), "media node ready");
        Ok(Node {
            status,
            id: config.node_id,
            addresses: sfu.addresses(),
            redis,
        })
    }

    /// Takes the node out of the placement (before a planned stop).
    pub async fn deregister(&self) {
        let mut c = self.redis.clone();
        let _: redis::RedisResult<()> = redis::pipe()
            .cmd("ZREM")
            .arg(NODES_KEY)
            .arg(&self.id)
            .cmd("DEL")
            .arg(protocol::node_key(&self.id))
            .query_async(&mut c)
            .await;
    }
}

struct Session {
    conn: Connection,
    channel: lapin::Channel,
    consumer: lapin::Consumer,
    _consume: lapin::Channel,
}

impl Session {
    async fn open(url: &str, queue: &str) -> lapin::Result<Session> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        protocol::declare_queues(&channel, queue).await?;
        let consume = conn.create_channel().await?;
        let consumer = consume
            .basic_consume(
                queue.into(),
                "".into(),
                BasicConsumeOptions {
                    no_ack: true,
                    ..BasicConsumeOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        Ok(Session {
            conn,
            channel,
            consumer,
            _consume: consume,
        })
    }
}

/// Takes commands and publishes replies; reconnects when the connection fails.
#[allow(clippy::too_many_arguments)]
async fn serve(
    url: String,
    queue: String,
    first: Session,
    sfu: Arc<MediaNode>,
    out_tx: Outgoing,
    mut out_rx: mpsc::UnboundedReceiver<(String, Option<i64>, Vec<u8>)>,
    routes: Routes,
    status: Arc<NodeStatus>,
) {
    let mut session = Some(first);
    let mut attached: std::collections::HashSet<i64> = std::collections::HashSet::new();
    loop {
        let Some(mut s) = session.take() else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            match Session::open(&url, &queue).await {
                Ok(s) => {
                    tracing::info!("RabbitMQ reachable again");
                    status.amqp_up.store(true, Ordering::Relaxed);
                    session = Some(s);
                }
                Err(e) => tracing::debug!(error = %e, "RabbitMQ still unreachable"),
            }
            continue;
        };
        loop {
            tokio::select! {
                delivery = s.consumer.next() => {
                    let Some(Ok(d)) = delivery else { break };
                    let world = d.properties.correlation_id().as_ref().and_then(|c| c.as_str().parse::<i64>().ok()).unwrap_or(0);
                    let reply_to = d.properties.reply_to().as_ref().map(|r| r.as_str().to_owned()).unwrap_or_else(|| API_QUEUE.to_owned());
                    lock(&routes).insert(world, reply_to);
                    if attached.insert(world) {
                        sfu.attach(world, forwarder(world, routes.clone(), out_tx.clone()));
                    }
                    match serde_json::from_slice::<Value>(&d.data).ok().as_ref().and_then(protocol::from_seed) {
                        Some(command) => {
                            status.commands.fetch_add(1, Ordering::Relaxed);
                            sfu.command(world, command);
                        }
                        None => tracing::warn!(body = %String::from_utf8_lossy(&d.data), "not a media command; dropped"),
                    }
                }
                out = out_rx.recv() => {
                    let Some((to, world, bytes)) = out else { return };
                    let mut props = BasicProperties::default().with_content_type("application/json".into());
                    if let Some(w) = world {
                        props = props.with_correlation_id(w.to_string().into());
                    }
                    if s.channel.basic_publish("".into(), to.as_str().into(), BasicPublishOptions::default(), &bytes, props).await.is_err() {
                        break;
                    }
                }
            }
        }
        status.amqp_up.store(false, Ordering::Relaxed);
        tracing::warn!("RabbitMQ connection lost; reconnecting");
        let _ = s.conn.close(200, "reconnecting".into()).await;
    }
}

/// The sink of one world's peers' messages: each goes to the world's reply queue, with
/// `uid` naming the peer.
fn forwarder(world: i64, routes: Routes, out: Outgoing) -> crowdwire_media::PeerSink {
    let (tx, mut rx) = mpsc::unbounded_channel::<(String, String)>();
    tokio::spawn(async move {
        while let Some((peer, text)) = rx.recv().await {
            let Some(message) = with_uid(&text, &peer) else {
                continue;
            };
            let to = lock(&routes)
                .get(&world)
                .cloned()
                .unwrap_or_else(|| API_QUEUE.to_owned());
            if out.send((to, Some(world), message.into_bytes())).is_err() {
                return;
            }
        }
    });
    tx
}

/// The SFU's message (a JSON object as text) with `uid` naming its peer put first, without
/// parsing it again: `None` if it is not an object. (Some SFU messages carry `uid` already,
/// always naming the same peer; the replica's reader keeps one.)
fn with_uid(text: &str, peer: &str) -> Option<String> {
    let body = text.trim_start().strip_prefix('{')?;
    let uid = Value::from(peer);
    Some(if body.trim_start().starts_with('}') {
        format!(r#"{{"uid":{uid}}}"#)
    } else {
        format!(r#"{{"uid":{uid},{body}"#)
    })
}

/// CPU time this process used, in seconds.
fn cpu_seconds() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start after the last ')'.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 of the whole line: 11 and 12 after the name.
    (ticks(11) + ticks(12)) / 100.0
}

/// Registers the node and its load every second; asks for another node past the threshold.
async fn report(
    mut redis: ConnectionManager,
    sfu: Arc<MediaNode>,
    config: NodeConfig,
    queue: String,
    out: Outgoing,
    status: Arc<NodeStatus>,
) {
    let register = Script::new(
        r#"
local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], 'num_rooms', ARGV[2], 'consumers', ARGV[3], 'capacity', ARGV[4], 'load', ARGV[5], 'cpu', ARGV[6], 'queue', ARGV[7], 'incarnation', ARGV[9])
redis.call('PEXPIRE', KEYS[1], ARGV[8])
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[8]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
return 1
"#,
    );
    let mut armed = true;
    let mut last = (Instant::now(), cpu_seconds());
    // A node restarted under the same id holds none of its old rooms: the API tells the
    // difference by this number, new at every start.
    let incarnation = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
            ^ u128::from(std::process::id())
    );
    loop {
        let (counts, _) = sfu.stats().await;
        let capacity = config.capacity.max(1);
        let load = counts.consumers as f64 / capacity as f64;
        let now = (Instant::now(), cpu_seconds());
        let cpu = (now.1 - last.1) / now.0.duration_since(last.0).as_secs_f64().max(0.001);
        last = now;
        status.rooms.store(counts.rooms as u64, Ordering::Relaxed);
        status.consumers.store(counts.consumers as u64, Ordering::Relaxed);
        status.peers.store(counts.peers as u64, Ordering::Relaxed);
        status.load_milli.store((load * 1000.0) as u64, Ordering::Relaxed);
        let r: redis::RedisResult<i64> = register
            .key(protocol::node_key(&config.node_id))
            .key(NODES_KEY)
            .arg(&config.node_id)
            .arg(counts.rooms)
            .arg(counts.consumers)
            .arg(capacity)
            .arg(format!("{load:.4}"))
            .arg(format!("{cpu:.3}"))
            .arg(&queue)
            .arg(REGISTRATION_TTL_MS)
            .arg(&incarnation)
            .invoke_async(&mut redis)
            .await;
        let up = r.is_ok();
        if status.redis_up.swap(up, Ordering::Relaxed) != up {
            if up {
                tracing::info!("Redis reachable: node registered");
            } else {
                tracing::warn!("Redis unreachable: the node cannot be placed on until it returns");
            }
        }
        if armed && load >= SCALE_OUT_LOAD {
            armed = false;
            tracing::warn!(load, "capacity threshold passed: asking for another media node");
            let m = json!({"topic": CREATE_NEW_REPLICA, "d": {"node": config.node_id, "load": load}});
            let _ = out.send((API_QUEUE.to_owned(), None, m.to_string().into_bytes()));
        } else if load < REARM_LOAD {
            armed = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod uid_tests {
    use super::with_uid;
    use serde_json::{Value, json};

    #[test]
    fn the_peer_is_named_without_reparsing() {
        let m = with_uid(r#"{"topic":"new-peer-producer","d":{"peerId":"a"}}"#, "b\"q").unwrap();
        let v: Value = serde_json::from_str(&m).unwrap();
        assert_eq!(
            v,
            json!({"uid": "b\"q", "topic": "new-peer-producer", "d": {"peerId": "a"}})
        );
        let empty: Value = serde_json::from_str(&with_uid("{ }", "p").unwrap()).unwrap();
        assert_eq!(empty, json!({"uid": "p"}));
        assert!(with_uid("[1]", "p").is_none());
    }
}
