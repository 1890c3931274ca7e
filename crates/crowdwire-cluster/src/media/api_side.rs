//! The API side of standalone media nodes: a [`MediaBackend`] that places each room on one
//! node (the least loaded, compared as numbers, atomically in Redis) and keeps it there,
//! sends the world engine's media commands to that node's queue, and hands the node's
//! replies to the world. When a node stops reporting, its rooms' worlds are told, and their
//! members join the rooms again, on live nodes. See [`crate::media::protocol`] for the wire.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use lapin::options::{BasicConsumeOptions, BasicPublishOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Connection, ConnectionProperties};
use redis::Script;
use redis::aio::ConnectionManager;
use serde_json::Value;
use tokio::sync::mpsc;

use crowdwire_realtime::media::{MediaBackend, MediaSink, room_lost};
use crowdwire_world::engine::MediaCommand;

use crate::media::protocol::{self, API_QUEUE, CREATE_NEW_REPLICA, NODES_KEY};

/// The error text of signalling for a room no node holds (yet, or any more).
const NO_NODE: &str =
    "The voice server is probably redeploying, it should reconnect in a few seconds. If not, try refreshing.";

/// How long a room's placement is kept after its last join.
const PLACEMENT_TTL_MS: u64 = 24 * 3600 * 1000;

enum Job {
    Command(i64, MediaCommand),
    /// A world's actor started here: learn where its rooms are (another replica may have
    /// placed them, before the world moved here), so their node is watched.
    Adopt(i64),
}

type Sinks = Arc<Mutex<HashMap<i64, MediaSink>>>;

/// Media on standalone nodes.
pub struct RemoteMedia {
    jobs: mpsc::UnboundedSender<Job>,
    sinks: Sinks,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl RemoteMedia {
    /// Connects to RabbitMQ as `replica` (its replies come to `crowdwire.media.{replica}`)
    /// and watches the nodes registered in Redis.
    pub async fn connect(amqp_url: &str, redis: ConnectionManager, replica: &str) -> Result<RemoteMedia, String> {
        let sinks: Sinks = Arc::default();
        let (jobs, rx) = mpsc::unbounded_channel();
        let reply_queue = format!("crowdwire.media.{replica}");
        let link = Link::open(amqp_url, &reply_queue, sinks.clone())
            .await
            .map_err(|e| format!("cannot reach RabbitMQ for media: {e}"))?;
        let placed: Placed = Arc::default();
        tokio::spawn(run(
            amqp_url.to_owned(),
            reply_queue,
            link,
            redis.clone(),
            rx,
            sinks.clone(),
            placed.clone(),
        ));
        tokio::spawn(watch_nodes(redis, sinks.clone(), placed));
        Ok(RemoteMedia { jobs, sinks })
    }
}

impl MediaBackend for RemoteMedia {
    fn attach(&self, world: i64, sink: MediaSink) {
        lock(&self.sinks).insert(world, sink);
        let _ = self.jobs.send(Job::Adopt(world));
    }

    fn detach(&self, world: i64) {
        lock(&self.sinks).remove(&world);
    }

    fn command(&self, world: i64, command: MediaCommand) {
        let _ = self.jobs.send(Job::Command(world, command));
    }

    fn backend(&self) -> &'static str {
        "nodes"
    }

    fn outlives_owner(&self) -> bool {
        true
    }
}

/// Rooms this replica placed, and on which node: (world, room) → node.
type Placed = Arc<Mutex<HashMap<(i64, String), String>>>;

struct Link {
    conn: Connection,
    channel: lapin::Channel,
    consumers: Vec<tokio::task::JoinHandle<()>>,
}

impl Link {
    async fn open(url: &str, reply_queue: &str, sinks: Sinks) -> lapin::Result<Link> {
        let conn = Connection::connect(url, ConnectionProperties::default()).await?;
        let channel = conn.create_channel().await?;
        protocol::declare_queues(&channel, reply_queue).await?;
        let mut consumers = Vec::new();
        for (queue, no_ack) in [(reply_queue, true), (API_QUEUE, false)] {
            let ch = conn.create_channel().await?;
            let mut consumer = ch
                .basic_consume(
                    queue.into(),
                    "".into(),
                    BasicConsumeOptions {
                        no_ack,
                        ..BasicConsumeOptions::default()
                    },
                    FieldTable::default(),
                )
                .await?;
            let sinks = sinks.clone();
            consumers.push(tokio::spawn(async move {
                let _keep = ch;
                while let Some(Ok(delivery)) = consumer.next().await {
                    let world = delivery
                        .properties
                        .correlation_id()
                        .as_ref()
                        .and_then(|c| c.as_str().parse::<i64>().ok());
                    deliver(&sinks, world, &delivery.data);
                    if !no_ack {
                        let _ = delivery.ack(lapin::options::BasicAckOptions::default()).await;
                    }
                }
            }));
        }
        Ok(Link {
            conn,
            channel,
            consumers,
        })
    }

    fn alive(&self) -> bool {
        self.conn.status().connected() && self.consumers.iter().all(|c| !c.is_finished())
    }

    async fn publish(&self, node: &str, world: i64, reply_queue: &str, message: &Value) -> lapin::Result<()> {
        let props = BasicProperties::default()
            .with_correlation_id(world.to_string().into())
            .with_reply_to(reply_queue.into())
            .with_content_type("application/json".into());
        self.channel
            .basic_publish(
                "".into(),
                protocol::node_queue(node).as_str().into(),
                BasicPublishOptions::default(),
                message.to_string().as_bytes(),
                props,
            )
            .await
            .map(|_| ())
    }
}

/// A message from a node: a reply for a peer of a world, or a node-wide notice.
fn deliver(sinks: &Sinks, world: Option<i64>, data: &[u8]) {
    let Ok(mut message) = serde_json::from_slice::<Value>(data) else {
        tracing::warn!("unreadable message from a media node dropped");
        return;
    };
    if message["topic"] == CREATE_NEW_REPLICA {
        metrics::counter!("crowdwire_media_create_new_replica_total").increment(1);
        tracing::warn!(node = ?message["d"]["node"], "a media node passed its capacity: add a media node");
        return;
    }
    let peer = match message.as_object_mut().and_then(|m| m.remove("uid")) {
        Some(Value::String(p)) => p,
        _ => match message["d"]["peerId"].as_str() {
            Some(p) => p.to_owned(),
            None => return,
        },
    };
    let Some(world) = world else { return };
    if let Some(sink) = lock(sinks).get(&world) {
        let _ = sink.send((peer, message.to_string()));
    }
}

/// Places `room` (keeping an existing placement on a live node).
async fn place(redis: &mut ConnectionManager, world: i64, room: &str) -> redis::RedisResult<Option<String>> {
    static PLACE: std::sync::OnceLock<Script> = std::sync::OnceLock::new();
    let script = PLACE.get_or_init(|| {
        Script::new(
            r#"
local t = redis.call('TIME') local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local cur = redis.call('GET', KEYS[1])
if cur then
  local s = redis.call('ZSCORE', KEYS[2], cur)
  if s and tonumber(s) > now then
    redis.call('PEXPIRE', KEYS[1], ARGV[1])
    return cur
  end
end
local best, bl, br = nil, 0, 0
for _, n in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], now, '+inf')) do
  local h = redis.call('HMGET', 'media_server_' .. n, 'load', 'num_rooms')
  local l, r = tonumber(h[1]) or 0, tonumber(h[2]) or 0
  if not best or l < bl or (l == bl and r < br) then best, bl, br = n, l, r end
end
if not best then return false end
redis.call('SET', KEYS[1], best, 'PX', ARGV[1])
redis.call('SADD', KEYS[3], ARGV[2])
redis.call('PEXPIRE', KEYS[3], ARGV[1])
redis.call('HINCRBY', 'media_server_' .. best, 'num_rooms', 1)
return best
"#,
        )
    });
    script
        .key(protocol::room_key(world, room))
        .key(NODES_KEY)
        .key(protocol::rooms_key(world))
        .arg(PLACEMENT_TTL_MS)
        .arg(room)
        .invoke_async(redis)
        .await
}

async fn placed_node(redis: &mut ConnectionManager, world: i64, room: &str) -> Option<String> {
    redis::cmd("GET")
        .arg(protocol::room_key(world, room))
        .query_async(redis)
        .await
        .ok()
        .flatten()
}

/// Records where the rooms of `world` placed by any replica are.
async fn adopt(redis: &mut ConnectionManager, world: i64, placed: &Placed) {
    let rooms: Vec<String> = redis::cmd("SMEMBERS")
        .arg(protocol::rooms_key(world))
        .query_async(redis)
        .await
        .unwrap_or_default();
    for room in rooms {
        match placed_node(redis, world, &room).await {
            Some(node) => {
                lock(placed).insert((world, room), node);
            }
            None => {
                let _: redis::RedisResult<i64> = redis::cmd("SREM")
                    .arg(protocol::rooms_key(world))
                    .arg(&room)
                    .query_async(redis)
                    .await;
            }
        }
    }
}

/// Answers signalling that no node can take, so the client does not wait in silence.
fn refuse(sinks: &Sinks, world: i64, command: &MediaCommand) {
    if let MediaCommand::Signal { room, peer, topic, d } = command
        && let Some(sink) = lock(sinks).get(&world)
    {
        let direction = d.get("direction").and_then(|v| v.as_str());
        for reply in crowdwire_media::error_replies(topic, room, peer, direction, NO_NODE) {
            let _ = sink.send((peer.clone(), reply));
        }
    }
}

async fn run(
    url: String,
    reply_queue: String,
    first: Link,
    mut redis: ConnectionManager,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    sinks: Sinks,
    placed: Placed,
) {
    let mut link = Some(first);
    while let Some(job) = jobs.recv().await {
        let (world, command) = match job {
            Job::Command(world, command) => (world, command),
            Job::Adopt(world) => {
                adopt(&mut redis, world, &placed).await;
                continue;
            }
        };
        if link.as_ref().is_none_or(|l| !l.alive()) {
            link = Link::open(&url, &reply_queue, sinks.clone()).await.ok();
        }
        let Some(l) = &link else {
            refuse(&sinks, world, &command);
            continue;
        };
        let places = matches!(command, MediaCommand::Join { .. } | MediaCommand::AddSpeaker { .. });
        let mut failed = false;
        for (room, message) in protocol::to_seed(&command) {
            let key = (world, room.clone());
            let cached = lock(&placed).get(&key).cloned();
            let node = if places {
                place(&mut redis, world, &room).await.ok().flatten()
            } else {
                match cached {
                    Some(n) => Some(n),
                    None => placed_node(&mut redis, world, &room).await,
                }
            };
            let Some(node) = node else {
                refuse(&sinks, world, &command);
                continue;
            };
            if matches!(command, MediaCommand::Destroy { .. }) {
                lock(&placed).remove(&key);
                let _: redis::RedisResult<()> = redis::pipe()
                    .del(protocol::room_key(world, &room))
                    .srem(protocol::rooms_key(world), &room)
                    .query_async(&mut redis)
                    .await;
            } else {
                lock(&placed).insert(key, node.clone());
            }
            if let Err(e) = l.publish(&node, world, &reply_queue, &message).await {
                tracing::warn!(error = %e, "media command not sent; reconnecting to RabbitMQ");
                refuse(&sinks, world, &command);
                failed = true;
                break;
            }
        }
        if failed {
            link = None;
        }
    }
}

/// Every second: which nodes are alive; rooms on a dead one are re-joined by their worlds.
/// Publishes the node count and the replicas an autoscaler should run.
async fn watch_nodes(mut redis: ConnectionManager, sinks: Sinks, placed: Placed) {
    let mut incarnations: HashMap<String, String> = HashMap::new();
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let now: Vec<u64> = match redis::cmd("TIME").query_async(&mut redis).await {
            Ok(t) => t,
            Err(_) => continue,
        };
        let now_ms = now.first().copied().unwrap_or(0) * 1000 + now.get(1).copied().unwrap_or(0) / 1000;
        let live: Vec<String> = match redis::cmd("ZRANGEBYSCORE")
            .arg(NODES_KEY)
            .arg(now_ms)
            .arg("+inf")
            .query_async(&mut redis)
            .await
        {
            Ok(l) => l,
            Err(_) => continue,
        };
        let mut full = 0usize;
        let mut restarted = HashSet::new();
        for n in &live {
            let (load, incarnation): (Option<f64>, Option<String>) = redis::cmd("HMGET")
                .arg(protocol::node_key(n))
                .arg("load")
                .arg("incarnation")
                .query_async(&mut redis)
                .await
                .unwrap_or((None, None));
            if load.is_some_and(|l| l >= crate::media::node_side::SCALE_OUT_LOAD) {
                full += 1;
            }
            if let Some(i) = incarnation
                && incarnations.insert(n.clone(), i.clone()).is_some_and(|old| old != i)
            {
                restarted.insert(n.clone());
            }
        }
        metrics::gauge!("crowdwire_media_nodes").set(live.len() as f64);
        let wanted = live.len() + usize::from(!live.is_empty() && full == live.len());
        metrics::gauge!("crowdwire_media_replicas_wanted").set(wanted as f64);
        let live: HashSet<String> = live.into_iter().collect();
        let lost: Vec<(i64, String, String)> = {
            let mut p = lock(&placed);
            let gone: Vec<(i64, String)> = p
                .iter()
                .filter(|(_, node)| !live.contains(*node) || restarted.contains(*node))
                .map(|(k, _)| k.clone())
                .collect();
            gone.into_iter()
                .filter_map(|k| p.remove(&k).map(|node| (k.0, k.1, node)))
                .collect()
        };
        for (world, room, node) in lost {
            tracing::warn!(world, room, node, "media node gone; its room moves to a live node");
            metrics::counter!("crowdwire_media_rooms_moved_total").increment(1);
            let _: redis::RedisResult<i64> = redis::cmd("DEL")
                .arg(protocol::room_key(world, &room))
                .query_async(&mut redis)
                .await;
            if let Some(sink) = lock(&sinks).get(&world) {
                let _ = sink.send(room_lost(&room));
            }
        }
    }
}
