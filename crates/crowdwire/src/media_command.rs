//! `crowdwire media`: a standalone media node (the SFU behind RabbitMQ), with its health
//! endpoint.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::{Context, bail};
use axum::Json;
use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use clap::Args;

use crowdwire_cluster::media::node_side::{Node, NodeConfig, NodeStatus};

/// Settings of `crowdwire media`.
#[derive(Args, Debug, Clone)]
pub struct MediaArgs {
    /// RabbitMQ: commands arrive on this node's queue, replies go to the API replicas'.
    #[arg(long, env = "CROWDWIRE_AMQP_URL", hide_env_values = true)]
    pub amqp_url: String,
    /// Redis: the node registers there with its load.
    #[arg(long, env = "CROWDWIRE_REDIS_URL", hide_env_values = true)]
    pub redis_url: String,
    /// This node's id (its queue is `media_server_{id}`); default: host name and a random
    /// suffix, new at every start.
    #[arg(long, env = "CROWDWIRE_NODE_ID")]
    pub node_id: Option<String>,
    /// UDP address of the first SFU worker; worker i uses port + i.
    #[arg(long, env = "CROWDWIRE_MEDIA_BIND", default_value = "127.0.0.1:40000")]
    pub media_bind: SocketAddr,
    /// The IP browsers are told to send media to (default: the bind IP).
    #[arg(long, env = "CROWDWIRE_MEDIA_ANNOUNCE_IP")]
    pub media_announce_ip: Option<std::net::IpAddr>,
    /// SFU workers, one core and one UDP port each (default: the number of cores).
    #[arg(long, env = "CROWDWIRE_MEDIA_WORKERS")]
    pub media_workers: Option<usize>,
    /// Consumers (forwarded tracks) the node takes before it asks for another node; its load
    /// is consumers / capacity.
    #[arg(long, env = "CROWDWIRE_MEDIA_CAPACITY", default_value_t = 1000)]
    pub media_capacity: usize,
    /// Seconds a peer's media transports wait for the peer to say anything about its room
    /// before they are dropped.
    #[arg(long, env = "CROWDWIRE_MEDIA_UNCONNECTED_TIMEOUT")]
    pub media_unconnected_timeout: Option<u64>,
    /// Where `GET /health` and `GET /metrics` are served.
    #[arg(long, env = "CROWDWIRE_HEALTH_BIND", default_value = "127.0.0.1:9100")]
    pub health_bind: SocketAddr,
    /// Log filter.
    #[arg(long, env = "CROWDWIRE_LOG", default_value = "info")]
    pub log: String,
    /// Log format.
    #[arg(long, env = "CROWDWIRE_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: crate::config::LogFormat,
}

/// A running media node and its health server.
pub struct RunningNode {
    /// The node.
    pub node: Node,
    /// Where its health endpoint listens.
    pub health_addr: SocketAddr,
}

/// Starts the node and its health endpoint.
pub async fn start(args: MediaArgs) -> anyhow::Result<RunningNode> {
    let node_id = match args.node_id {
        Some(id) if crate::config::valid_replica_id(&id) => id,
        Some(_) => bail!("CROWDWIRE_NODE_ID may hold only letters, digits, '-', '_' and '.' (1-64)"),
        None => crate::config::default_replica_id(),
    };
    if args.media_bind.ip().is_unspecified() && args.media_announce_ip.is_none() {
        bail!(
            "CROWDWIRE_MEDIA_ANNOUNCE_IP is needed when CROWDWIRE_MEDIA_BIND is 0.0.0.0: browsers must be told where to send media"
        );
    }
    let config = NodeConfig {
        node_id,
        amqp_url: args.amqp_url,
        redis_url: args.redis_url,
        media: crowdwire_media::MediaConfig {
            bind: args.media_bind,
            announce_ip: args.media_announce_ip,
            workers: args
                .media_workers
                .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
                .max(1),
            unconnected_timeout: crate::config::unconnected_timeout(args.media_unconnected_timeout)?,
        },
        capacity: args.media_capacity.max(1),
    };
    let node = Node::start(config).await.map_err(|e| anyhow::anyhow!(e))?;
    let status = node.status.clone();
    let id = node.id.clone();
    let listener = tokio::net::TcpListener::bind(args.health_bind)
        .await
        .with_context(|| format!("binding {}", args.health_bind))?;
    let health_addr = listener.local_addr()?;
    let app = Router::new()
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .with_state((status, Arc::<str>::from(id)));
    tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, app).await {
            tracing::error!(error = %e, "health endpoint stopped");
        }
    });
    Ok(RunningNode { node, health_addr })
}

type State = (Arc<NodeStatus>, Arc<str>);

async fn health(axum::extract::State((s, id)): axum::extract::State<State>) -> impl IntoResponse {
    let amqp = s.amqp_up.load(Ordering::Relaxed);
    let redis = s.redis_up.load(Ordering::Relaxed);
    let body = serde_json::json!({
        "status": if amqp && redis { "ok" } else { "degraded" },
        "node": &*id,
        "amqp_ok": amqp,
        "redis_ok": redis,
        "rooms": s.rooms.load(Ordering::Relaxed),
        "peers": s.peers.load(Ordering::Relaxed),
        "consumers": s.consumers.load(Ordering::Relaxed),
        "load": s.load_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        "version": env!("CARGO_PKG_VERSION"),
    });
    // Without RabbitMQ the node can take no work: not ready.
    let code = if amqp {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body))
}

async fn metrics(axum::extract::State((s, _)): axum::extract::State<State>) -> impl IntoResponse {
    let g = |name: &str, help: &str, v: f64| format!("# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}\n");
    let text = [
        g(
            "crowdwire_media_rooms",
            "Rooms on this node.",
            s.rooms.load(Ordering::Relaxed) as f64,
        ),
        g(
            "crowdwire_media_peers",
            "Peers on this node.",
            s.peers.load(Ordering::Relaxed) as f64,
        ),
        g(
            "crowdwire_media_consumers",
            "Consumers (forwarded tracks) on this node.",
            s.consumers.load(Ordering::Relaxed) as f64,
        ),
        g(
            "crowdwire_media_load",
            "Consumers over capacity.",
            s.load_milli.load(Ordering::Relaxed) as f64 / 1000.0,
        ),
        g(
            "crowdwire_media_commands_total",
            "Commands taken.",
            s.commands.load(Ordering::Relaxed) as f64,
        ),
        g(
            "crowdwire_amqp_up",
            "RabbitMQ connected.",
            f64::from(u8::from(s.amqp_up.load(Ordering::Relaxed))),
        ),
        g(
            "crowdwire_redis_up",
            "Redis answering.",
            f64::from(u8::from(s.redis_up.load(Ordering::Relaxed))),
        ),
    ]
    .concat();
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}
