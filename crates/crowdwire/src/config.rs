//! The server's configuration: one typed struct, filled from command-line flags, then
//! `CROWDWIRE_*` environment variables, then an optional TOML file, then defaults (in that
//! order of precedence). Every setting is documented once, in the README's table.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::{Args, ValueEnum};
use serde::Deserialize;

/// Log output format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Where audio and video are forwarded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaMode {
    /// By the SFU inside this process.
    #[default]
    Embedded,
    /// By standalone media nodes (`crowdwire media`), over RabbitMQ.
    Nodes,
    /// Nowhere: media signalling gets error replies.
    Off,
}

/// Settings of `crowdwire serve`, as given on the command line or in the environment.
/// Every field is optional here; [`Config::resolve`] applies the file and the defaults.
#[derive(Args, Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeArgs {
    /// TOML file with any of these settings (keys as the long flag names, with `_`).
    #[arg(long, env = "CROWDWIRE_CONFIG")]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "CROWDWIRE_BIND")]
    pub bind: Option<SocketAddr>,
    /// Directory for the SQLite database and the generated JWT secret.
    #[arg(long, env = "CROWDWIRE_DATA_DIR")]
    pub data_dir: Option<PathBuf>,
    /// `sqlite://…` or `postgres://…`; defaults to SQLite in the data directory.
    #[arg(long, env = "CROWDWIRE_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Public base URL of the deployment, used in e-mailed links.
    #[arg(long, env = "CROWDWIRE_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Secret for signing tokens (at least 32 bytes); generated and kept in the data dir when absent.
    #[arg(long, env = "CROWDWIRE_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,
    /// E-mail of the platform superuser to create or update at start.
    #[arg(long, env = "CROWDWIRE_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Password of that superuser.
    #[arg(long, env = "CROWDWIRE_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// SMTP server for confirmation mail, e.g. `smtps://user:pass@mail.example.org`.
    #[arg(long, env = "CROWDWIRE_SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,
    /// Sender address of outgoing mail.
    #[arg(long, env = "CROWDWIRE_SMTP_FROM")]
    pub smtp_from: Option<String>,
    /// Google OAuth client id; enables Google sign-in.
    #[arg(long, env = "CROWDWIRE_GOOGLE_CLIENT_ID")]
    pub google_client_id: Option<String>,
    /// Where Google's signing keys (JWKS) are fetched.
    #[arg(long, env = "CROWDWIRE_GOOGLE_JWKS_URL")]
    pub google_jwks_url: Option<String>,
    /// Log format: `text` or `json`.
    #[arg(long, env = "CROWDWIRE_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Log filter (tracing `EnvFilter` syntax), e.g. `info` or `crowdwire=debug,info`.
    #[arg(long, env = "CROWDWIRE_LOG")]
    pub log: Option<String>,
    /// Tokens per minute of each client address's bucket for sign-up, log-in, guest tokens and
    /// Google sign-in (a failed log-in takes 5; refreshing a valid token takes none).
    #[arg(long, env = "CROWDWIRE_AUTH_RATE_PER_MINUTE")]
    pub auth_rate_per_minute: Option<u32>,
    /// Most tokens an address's bucket holds: how many such requests it may make at once.
    #[arg(long, env = "CROWDWIRE_AUTH_BURST")]
    pub auth_burst: Option<u32>,
    /// Someone kicked from a world may not enter it again for this many seconds.
    #[arg(long, env = "CROWDWIRE_KICK_COOLDOWN_S")]
    pub kick_cooldown_s: Option<u64>,
    /// A banned guest is kept out of the world this many hours (guests have no account; a new
    /// guest identity is a new guest).
    #[arg(long, env = "CROWDWIRE_GUEST_BAN_HOURS")]
    pub guest_ban_hours: Option<u64>,
    /// Largest world picture accepted as a data URL, decoded bytes.
    #[arg(long, env = "CROWDWIRE_MAX_IMAGE_BYTES")]
    pub max_image_bytes: Option<usize>,
    /// Worlds one account may have (deleted ones not counted; superusers unlimited).
    #[arg(long, env = "CROWDWIRE_MAX_WORLDS_PER_USER")]
    pub max_worlds_per_user: Option<i64>,
    /// Log-in attempts one account may receive in a row, from any address (one more a minute
    /// after that).
    #[arg(long, env = "CROWDWIRE_LOGIN_ATTEMPTS_PER_ACCOUNT")]
    pub login_attempts_per_account: Option<u32>,
    /// World edits (`PUT /worlds/{id}`) per minute per user.
    #[arg(long, env = "CROWDWIRE_WORLD_EDITS_PER_MINUTE")]
    pub world_edits_per_minute: Option<u32>,
    /// Largest accepted request body, bytes.
    #[arg(long, env = "CROWDWIRE_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// Take client addresses from `X-Forwarded-For` (set only behind a reverse proxy).
    #[arg(long, env = "CROWDWIRE_TRUST_FORWARDED_FOR")]
    pub trust_forwarded_for: Option<bool>,
    /// Seconds a client has to send a request's headers, from connecting or from the previous
    /// response on a kept-alive connection; then the connection is closed (1 to 300).
    #[arg(long, env = "CROWDWIRE_HEADER_READ_TIMEOUT_SECONDS")]
    pub header_read_timeout_seconds: Option<u64>,
    /// Connections one client address (an IPv4 address, or an IPv6 /64) may hold open at
    /// once, WebSockets included; 0: no cap. Not applied with `trust_forwarded_for`, where
    /// every connection comes from the proxy.
    #[arg(long, env = "CROWDWIRE_MAX_CONNECTIONS_PER_IP")]
    pub max_connections_per_ip: Option<usize>,
    /// Where `GET /metrics` and `GET /health` are served for monitoring, `IP:PORT`, or `off`.
    #[arg(long, env = "CROWDWIRE_ADMIN_BIND")]
    pub admin_bind: Option<String>,
    /// Lets `GET /metrics` on the main listener answer a request with `Authorization: Bearer
    /// <token>` (at least 16 characters); without it, `/metrics` there is a 404.
    #[arg(long, env = "CROWDWIRE_METRICS_TOKEN", hide_env_values = true)]
    pub metrics_token: Option<String>,
    /// Lifetime of access tokens of registered users, minutes.
    #[arg(long, env = "CROWDWIRE_ACCESS_TOKEN_MINUTES")]
    pub access_token_minutes: Option<i64>,
    /// Lifetime of guest tokens, hours.
    #[arg(long, env = "CROWDWIRE_GUEST_TOKEN_HOURS")]
    pub guest_token_hours: Option<i64>,
    /// Users are near (share audio/video) within this distance, px.
    #[arg(long, env = "CROWDWIRE_PROXIMITY_RADIUS")]
    pub proximity_radius: Option<f64>,
    /// Largest proximity group; a bigger crowd is covered by several groups.
    #[arg(long, env = "CROWDWIRE_MAX_GROUP_SIZE")]
    pub max_group_size: Option<usize>,
    /// Area of interest, `WIDTHxHEIGHT` px: users hear about moves inside a rectangle of
    /// this size centred on them (a viewport).
    #[arg(long, env = "CROWDWIRE_INTEREST_AREA")]
    pub interest_area: Option<String>,
    /// Longest chat message, characters.
    #[arg(long, env = "CROWDWIRE_CHAT_MAX_CHARS")]
    pub chat_max_chars: Option<usize>,
    /// Messages per second a connection may send (sustained); bursts of twice that pass.
    #[arg(long, env = "CROWDWIRE_WS_RATE_PER_SECOND")]
    pub ws_rate_per_second: Option<f64>,
    /// A dropped connection keeps its place and groups this many seconds.
    #[arg(long, env = "CROWDWIRE_RECONNECT_GRACE_SECONDS")]
    pub reconnect_grace_seconds: Option<u64>,
    /// Seconds a WebSocket has, once upgraded, to be admitted (token, world and place checked)
    /// before it is closed with 1013 and the client tries again (1 to 300).
    #[arg(long, env = "CROWDWIRE_WS_HANDSHAKE_TIMEOUT_SECONDS")]
    pub ws_handshake_timeout_seconds: Option<u64>,
    /// A world hands its sockets what it produced at most this often, ms (movements once per
    /// mover, at their latest positions): lower is less latency, more writes.
    #[arg(long, env = "CROWDWIRE_FLUSH_INTERVAL_MS")]
    pub flush_interval_ms: Option<u64>,
    /// The server pings every WebSocket this often, ms (browsers answer by themselves).
    #[arg(long, env = "CROWDWIRE_WS_PING_INTERVAL_MS")]
    pub ws_ping_interval_ms: Option<u64>,
    /// A WebSocket from which nothing, not even a pong, has arrived this long, ms, is a dropped
    /// connection (default: two ping intervals).
    #[arg(long, env = "CROWDWIRE_WS_IDLE_TIMEOUT_MS")]
    pub ws_idle_timeout_ms: Option<u64>,
    /// Media (SFU) UDP address of the first worker; worker i uses port + i. Port 0 picks
    /// free ports. Default: the HTTP bind IP, port 40000.
    #[arg(long, env = "CROWDWIRE_MEDIA_BIND")]
    pub media_bind: Option<SocketAddr>,
    /// The IP browsers are told to send media to (default: the media bind IP).
    #[arg(long, env = "CROWDWIRE_MEDIA_ANNOUNCE_IP")]
    pub media_announce_ip: Option<std::net::IpAddr>,
    /// SFU workers, one core and one UDP port each (default: the number of cores).
    #[arg(long, env = "CROWDWIRE_MEDIA_WORKERS")]
    pub media_workers: Option<usize>,
    /// Seconds a peer's media transports wait for the peer to say anything about its room
    /// (signalling, or its browser's STUN) before they are dropped (default 30).
    #[arg(long, env = "CROWDWIRE_MEDIA_UNCONNECTED_TIMEOUT")]
    pub media_unconnected_timeout: Option<u64>,
    /// Run without audio and video (signalling gets error replies); same as `media_mode = off`.
    #[arg(long, env = "CROWDWIRE_MEDIA_DISABLED")]
    pub media_disabled: Option<bool>,
    /// Where media is forwarded: `embedded` (default), `nodes` (standalone media nodes; needs
    /// Redis and RabbitMQ), or `off`.
    #[arg(long, env = "CROWDWIRE_MEDIA_MODE", value_enum)]
    pub media_mode: Option<MediaMode>,
    /// Redis for presence and world leases (scale-out; with `amqp_url`).
    #[arg(long, env = "CROWDWIRE_REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,
    /// RabbitMQ for the bus between replicas (scale-out; with `redis_url`).
    #[arg(long, env = "CROWDWIRE_AMQP_URL", hide_env_values = true)]
    pub amqp_url: Option<String>,
    /// This replica's id, unique among live replicas (default: host name and a random
    /// suffix, new at every start).
    #[arg(long, env = "CROWDWIRE_REPLICA_ID")]
    pub replica_id: Option<String>,
    /// How long a world's lease outlives its owner's last renewal, ms: the longest a dead
    /// replica's worlds wait to be taken over.
    #[arg(long, env = "CROWDWIRE_LEASE_TTL_MS")]
    pub lease_ttl_ms: Option<u64>,
}

/// Scale-out settings: both services, or neither.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    /// Redis URL.
    pub redis_url: String,
    /// RabbitMQ URL.
    pub amqp_url: String,
    /// This replica's id.
    pub replica_id: String,
}

/// The resolved configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub bind: SocketAddr,
    /// Bounds of the main listener: header-read timeout, connections per client address.
    pub listener: crate::listener::ListenerSettings,
    /// Where the admin listener (`/metrics`, `/health`) listens; `None`: it is off.
    pub admin_bind: Option<SocketAddr>,
    /// Bearer token that opens `/metrics` on the main listener.
    pub metrics_token: Option<String>,
    /// Data directory.
    pub data_dir: PathBuf,
    /// Database URL.
    pub database_url: String,
    /// Public base URL, without a trailing slash.
    pub public_url: String,
    /// JWT secret, if given (otherwise one is generated in the data dir).
    pub jwt_secret: Option<String>,
    /// Superuser to ensure at start: (e-mail, password).
    pub admin: Option<(String, String)>,
    /// SMTP URL.
    pub smtp_url: Option<String>,
    /// Sender address.
    pub smtp_from: String,
    /// Google client id.
    pub google_client_id: Option<String>,
    /// Google JWKS URL.
    pub google_jwks_url: String,
    /// The embedded SFU, if media is forwarded here.
    pub media: Option<crowdwire_media::MediaConfig>,
    /// Media is forwarded by standalone media nodes.
    pub media_nodes: bool,
    /// Log format.
    pub log_format: LogFormat,
    /// Log filter.
    pub log: String,
    /// Auth endpoint rate limit: tokens per minute per address.
    pub auth_rate_per_minute: u32,
    /// Auth endpoint rate limit: bucket size per address.
    pub auth_burst: u32,
    /// Log-in attempts per account in a row.
    pub login_attempts_per_account: u32,
    /// Largest world picture, bytes.
    pub max_image_bytes: usize,
    /// Worlds per account.
    pub max_worlds_per_user: i64,
    /// World edits per minute per user.
    pub world_edits_per_minute: u32,
    /// Body limit.
    pub max_body_bytes: usize,
    /// Trust `X-Forwarded-For`.
    pub trust_forwarded_for: bool,
    /// Access-token lifetime, minutes.
    pub access_token_minutes: i64,
    /// Guest-token lifetime, hours.
    pub guest_token_hours: i64,
    /// Realtime settings.
    pub realtime: crowdwire_realtime::RealtimeSettings,
    /// Scale-out: Redis and RabbitMQ, if given.
    pub cluster: Option<ClusterConfig>,
}

/// The command line and environment (`args`) over the TOML file (`file`).
struct Layers<'a> {
    args: &'a ServeArgs,
    file: &'a ServeArgs,
}

/// A setting from the command line or environment, else from the file.
macro_rules! pick {
    ($l:expr, $f:ident) => {
        $l.args.$f.clone().or($l.file.$f.clone())
    };
}

impl Config {
    /// Merges `args` (flags and environment) over the TOML file named by `args.config`, over
    /// the defaults.
    pub fn resolve(args: ServeArgs) -> anyhow::Result<Config> {
        let file = match &args.config {
            Some(path) => {
                let text =
                    std::fs::read_to_string(path).with_context(|| format!("reading config file {}", path.display()))?;
                toml::from_str::<ServeArgs>(&text).with_context(|| format!("parsing config file {}", path.display()))?
            }
            None => ServeArgs::default(),
        };
        let l = &Layers {
            args: &args,
            file: &file,
        };
        let bind = pick!(l, bind).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 8000)));
        let media_mode = media_mode(l)?;
        let data_dir = pick!(l, data_dir).unwrap_or_else(|| PathBuf::from("./data"));
        let database_url = pick!(l, database_url).unwrap_or_else(|| crowdwire_store::Db::sqlite_url_in(&data_dir));
        let public_url = pick!(l, public_url)
            .unwrap_or_else(|| format!("http://{bind}"))
            .trim_end_matches('/')
            .to_owned();
        let admin = match (pick!(l, admin_email), pick!(l, admin_password)) {
            (Some(e), Some(p)) => Some((e, p)),
            (None, None) => None,
            _ => bail!("CROWDWIRE_ADMIN_EMAIL and CROWDWIRE_ADMIN_PASSWORD must be set together"),
        };
        let jwt_secret = pick!(l, jwt_secret);
        if let Some(s) = &jwt_secret
            && s.len() < 32
        {
            bail!("CROWDWIRE_JWT_SECRET must be at least 32 bytes long");
        }
        let trust_forwarded_for = pick!(l, trust_forwarded_for).unwrap_or(false);
        let listener = listener_settings(l, trust_forwarded_for)?;
        let admin_bind = admin_bind(l)?;
        let metrics_token = pick!(l, metrics_token);
        if metrics_token.as_ref().is_some_and(|t| t.chars().count() < 16) {
            bail!("CROWDWIRE_METRICS_TOKEN must be at least 16 characters long");
        }
        let media = embedded_media(l, media_mode, bind)?;
        let realtime = realtime_settings(l)?;
        let cluster = cluster_config(l)?;
        Ok(Config {
            bind,
            listener,
            admin_bind,
            metrics_token,
            data_dir,
            database_url,
            public_url,
            jwt_secret,
            admin,
            smtp_url: pick!(l, smtp_url),
            smtp_from: pick!(l, smtp_from).unwrap_or_else(|| "CrowdWire <noreply@localhost>".into()),
            google_client_id: pick!(l, google_client_id),
            google_jwks_url: pick!(l, google_jwks_url)
                .unwrap_or_else(|| crowdwire_api::google::DEFAULT_JWKS_URL.into()),
            log_format: pick!(l, log_format).unwrap_or_default(),
            log: pick!(l, log).unwrap_or_else(|| "info".into()),
            auth_rate_per_minute: pick!(l, auth_rate_per_minute).unwrap_or(60),
            auth_burst: pick!(l, auth_burst).unwrap_or(120),
            login_attempts_per_account: pick!(l, login_attempts_per_account).unwrap_or(10),
            max_image_bytes: pick!(l, max_image_bytes).unwrap_or(1024 * 1024),
            max_worlds_per_user: pick!(l, max_worlds_per_user).unwrap_or(100),
            world_edits_per_minute: pick!(l, world_edits_per_minute).unwrap_or(30),
            max_body_bytes: pick!(l, max_body_bytes).unwrap_or(8 * 1024 * 1024),
            trust_forwarded_for,
            access_token_minutes: pick!(l, access_token_minutes).unwrap_or(720),
            guest_token_hours: pick!(l, guest_token_hours).unwrap_or(12),
            media_nodes: media_mode == MediaMode::Nodes,
            media,
            realtime,
            cluster,
        })
    }

    /// A configuration with defaults for everything, rooted at `data_dir`, with the main and
    /// admin listeners on ephemeral loopback ports (for tests and embedding).
    pub fn for_data_dir(data_dir: &Path) -> Config {
        let mut c = Config::resolve(ServeArgs {
            data_dir: Some(data_dir.to_owned()),
            ..ServeArgs::default()
        })
        .expect("defaults resolve");
        c.bind = SocketAddr::from(([127, 0, 0, 1], 0));
        c.admin_bind = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
        if let Some(m) = c.media.as_mut() {
            m.bind = SocketAddr::from(([127, 0, 0, 1], 0));
            m.workers = 1;
        }
        c
    }
}

/// Where media is forwarded; nodes are reached through Redis and RabbitMQ, so they need both.
fn media_mode(l: &Layers) -> anyhow::Result<MediaMode> {
    let media_mode = match (pick!(l, media_mode), pick!(l, media_disabled)) {
        (Some(m), _) => m,
        (None, Some(true)) => MediaMode::Off,
        (None, _) => MediaMode::Embedded,
    };
    if media_mode == MediaMode::Nodes && (pick!(l, redis_url).is_none() || pick!(l, amqp_url).is_none()) {
        bail!(
            "CROWDWIRE_MEDIA_MODE=nodes needs CROWDWIRE_REDIS_URL and CROWDWIRE_AMQP_URL: media nodes are reached through them"
        );
    }
    Ok(media_mode)
}

/// The main listener's bounds.
fn listener_settings(l: &Layers, trust_forwarded_for: bool) -> anyhow::Result<crate::listener::ListenerSettings> {
    Ok(crate::listener::ListenerSettings {
        header_read_timeout: seconds_within(
            pick!(l, header_read_timeout_seconds),
            crate::listener::DEFAULT_HEADER_READ_TIMEOUT,
            "CROWDWIRE_HEADER_READ_TIMEOUT_SECONDS",
        )?,
        // Behind a proxy every connection comes from the proxy: a cap on its address
        // would cap the whole audience. The proxy limits connections per client instead.
        max_per_ip: match pick!(l, max_connections_per_ip).unwrap_or(crate::listener::DEFAULT_MAX_PER_IP) {
            0 => None,
            _ if trust_forwarded_for => None,
            n => Some(n),
        },
    })
}

/// The admin listener's address, or `None` for `off`.
fn admin_bind(l: &Layers) -> anyhow::Result<Option<SocketAddr>> {
    Ok(match pick!(l, admin_bind) {
        None => Some(SocketAddr::from(([127, 0, 0, 1], 9100))),
        Some(text) if text.trim().eq_ignore_ascii_case("off") => None,
        Some(text) => Some(
            text.trim()
                .parse()
                .ok()
                .context("CROWDWIRE_ADMIN_BIND must be IP:PORT (e.g. 127.0.0.1:9100) or off")?,
        ),
    })
}

/// The embedded SFU's settings, when media is forwarded here.
fn embedded_media(
    l: &Layers,
    media_mode: MediaMode,
    bind: SocketAddr,
) -> anyhow::Result<Option<crowdwire_media::MediaConfig>> {
    if media_mode != MediaMode::Embedded {
        return Ok(None);
    }
    Ok(Some(crowdwire_media::MediaConfig {
        bind: pick!(l, media_bind).unwrap_or_else(|| SocketAddr::new(bind.ip(), 40000)),
        announce_ip: pick!(l, media_announce_ip),
        workers: pick!(l, media_workers)
            .unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1))
            .max(1),
        unconnected_timeout: unconnected_timeout(pick!(l, media_unconnected_timeout))?,
    }))
}

/// The realtime settings, over their defaults.
fn realtime_settings(l: &Layers) -> anyhow::Result<crowdwire_realtime::RealtimeSettings> {
    let d = crowdwire_realtime::RealtimeSettings::default();
    let area = match pick!(l, interest_area) {
        Some(text) => parse_area(&text)?,
        None => d.interest_area,
    };
    let rate = pick!(l, ws_rate_per_second).unwrap_or(d.rate.0);
    let radius = pick!(l, proximity_radius).unwrap_or(d.proximity_radius);
    let positive = |v: f64| v.is_finite() && v > 0.0;
    if !positive(rate) || !positive(radius) {
        bail!("CROWDWIRE_WS_RATE_PER_SECOND and CROWDWIRE_PROXIMITY_RADIUS must be positive");
    }
    let (ping_interval, idle_timeout) = liveness(pick!(l, ws_ping_interval_ms), pick!(l, ws_idle_timeout_ms))?;
    Ok(crowdwire_realtime::RealtimeSettings {
        proximity_radius: radius,
        max_group_size: pick!(l, max_group_size).unwrap_or(d.max_group_size).max(2),
        interest_area: area,
        chat_max_chars: pick!(l, chat_max_chars).unwrap_or(d.chat_max_chars),
        rate: (rate, rate * 2.0),
        reconnect_grace: pick!(l, reconnect_grace_seconds)
            .map(std::time::Duration::from_secs)
            .unwrap_or(d.reconnect_grace),
        ping_interval,
        idle_timeout,
        flush_interval: match pick!(l, flush_interval_ms) {
            Some(ms) if !(1..=1000).contains(&ms) => {
                bail!("CROWDWIRE_FLUSH_INTERVAL_MS must be 1 to 1000")
            }
            Some(ms) => std::time::Duration::from_millis(ms),
            None => d.flush_interval,
        },
        kick_cooldown: pick!(l, kick_cooldown_s)
            .map(std::time::Duration::from_secs)
            .unwrap_or(d.kick_cooldown),
        guest_ban: pick!(l, guest_ban_hours)
            .map(|h| std::time::Duration::from_secs(h.saturating_mul(3600)))
            .unwrap_or(d.guest_ban),
        lease_ttl: match pick!(l, lease_ttl_ms) {
            Some(ms) if ms < 500 => bail!("CROWDWIRE_LEASE_TTL_MS must be at least 500"),
            Some(ms) => std::time::Duration::from_millis(ms),
            None => d.lease_ttl,
        },
        handshake_timeout: seconds_within(
            pick!(l, ws_handshake_timeout_seconds),
            d.handshake_timeout,
            "CROWDWIRE_WS_HANDSHAKE_TIMEOUT_SECONDS",
        )?,
        ..d
    })
}

/// Scale-out: Redis and RabbitMQ together, or neither.
fn cluster_config(l: &Layers) -> anyhow::Result<Option<ClusterConfig>> {
    Ok(match (pick!(l, redis_url), pick!(l, amqp_url)) {
        (None, None) => None,
        (Some(redis_url), Some(amqp_url)) => Some(ClusterConfig {
            redis_url,
            amqp_url,
            replica_id: match pick!(l, replica_id) {
                Some(id) if valid_replica_id(&id) => id,
                Some(_) => bail!("CROWDWIRE_REPLICA_ID may hold only letters, digits, '-', '_' and '.' (1-64)"),
                None => default_replica_id(),
            },
        }),
        _ => bail!("CROWDWIRE_REDIS_URL and CROWDWIRE_AMQP_URL go together: set both to run as one of many replicas"),
    })
}

/// `--media-unconnected-timeout`, checked: 1 s to a day.
pub fn unconnected_timeout(seconds: Option<u64>) -> anyhow::Result<std::time::Duration> {
    match seconds {
        None => Ok(crowdwire_media::DEFAULT_UNCONNECTED_TIMEOUT),
        Some(s) if (1..=86_400).contains(&s) => Ok(std::time::Duration::from_secs(s)),
        Some(_) => bail!("CROWDWIRE_MEDIA_UNCONNECTED_TIMEOUT must be 1 to 86400 seconds"),
    }
}

/// `--ws-ping-interval-ms` and `--ws-idle-timeout-ms`, checked: a ping every 100 ms to 60 s,
/// and silence for at least two intervals (a pong may be late) before a socket counts as
/// dropped; the timeout defaults to two intervals.
pub fn liveness(
    ping_ms: Option<u64>,
    idle_ms: Option<u64>,
) -> anyhow::Result<(std::time::Duration, std::time::Duration)> {
    let d = crowdwire_realtime::RealtimeSettings::default();
    let ping = match ping_ms {
        Some(ms) if !(100..=60_000).contains(&ms) => bail!("CROWDWIRE_WS_PING_INTERVAL_MS must be 100 to 60000"),
        Some(ms) => std::time::Duration::from_millis(ms),
        None => d.ping_interval,
    };
    let idle = match idle_ms {
        Some(ms) => std::time::Duration::from_millis(ms),
        None if ping_ms.is_none() => d.idle_timeout,
        None => ping * 2,
    };
    if idle < ping * 2 {
        bail!("CROWDWIRE_WS_IDLE_TIMEOUT_MS must be at least twice CROWDWIRE_WS_PING_INTERVAL_MS");
    }
    Ok((ping, idle))
}

/// A timeout setting in seconds, checked (1 to 300), or `default` when unset.
fn seconds_within(
    seconds: Option<u64>,
    default: std::time::Duration,
    name: &str,
) -> anyhow::Result<std::time::Duration> {
    match seconds {
        None => Ok(default),
        Some(s) if (1..=300).contains(&s) => Ok(std::time::Duration::from_secs(s)),
        Some(_) => bail!("{name} must be 1 to 300 seconds"),
    }
}

/// Replica and node ids: letters, digits, `-`, `_` and `.`, 1 to 64 of them.
pub fn valid_replica_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

/// The host name and a random suffix: a restarted replica is a new replica.
pub fn default_replica_id() -> String {
    use rand::RngCore;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| {
            h.trim()
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
                .take(40)
                .collect::<String>()
        })
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "replica".into());
    format!("{host}-{:06x}", rand::rng().next_u32() & 0xff_ffff)
}

/// Parses `WIDTHxHEIGHT`.
fn parse_area(text: &str) -> anyhow::Result<(f64, f64)> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .context("CROWDWIRE_INTEREST_AREA must look like 1920x1080")?;
    let (w, h): (f64, f64) = (w.trim().parse()?, h.trim().parse()?);
    if !(w >= 64.0 && h >= 64.0 && w.is_finite() && h.is_finite()) {
        bail!("CROWDWIRE_INTEREST_AREA must be at least 64x64");
    }
    Ok((w, h))
}

/// Reads the JWT secret from `<data_dir>/jwt-secret`, creating it (mode 0600) with 64 random
/// bytes on first start.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<Vec<u8>> {
    use rand::RngCore;
    use std::io::Write;
    let path = data_dir.join("jwt-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= 32 => return Ok(s.trim().as_bytes().to_vec()),
        Ok(_) => bail!("{} is too short; delete it to generate a new secret", path.display()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    }
    let mut bytes = [0u8; 48];
    rand::rng().fill_bytes(&mut bytes);
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(&path) {
        Ok(mut f) => {
            f.write_all(hex.as_bytes())?;
            f.sync_all()?;
            Ok(hex.into_bytes())
        }
        // Another process created it first: use theirs.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => load_or_create_secret(data_dir),
        Err(e) => Err(e).with_context(|| format!("creating {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_override_file_and_file_overrides_defaults() {
        let dir = std::env::temp_dir().join(format!("cw-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("c.toml");
        std::fs::write(
            &file,
            "bind = \"127.0.0.1:9001\"\nlog = \"debug\"\nauth_rate_per_minute = 5\n",
        )
        .unwrap();
        let c = Config::resolve(ServeArgs {
            config: Some(file.clone()),
            log: Some("warn".into()),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(c.bind.port(), 9001);
        assert_eq!(c.log, "warn");
        assert_eq!(c.auth_rate_per_minute, 5);
        assert_eq!(c.public_url, "http://127.0.0.1:9001");
        assert!(c.database_url.starts_with("sqlite://./data"));
        std::fs::write(&file, "nonsense_key = 1\n").unwrap();
        assert!(
            Config::resolve(ServeArgs {
                config: Some(file),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn the_idle_timeout_follows_the_ping_interval_and_never_undercuts_two_of_them() {
        let ms = std::time::Duration::from_millis;
        let d = crowdwire_realtime::RealtimeSettings::default();
        assert_eq!(liveness(None, None).unwrap(), (d.ping_interval, d.idle_timeout));
        assert_eq!(liveness(Some(200), None).unwrap(), (ms(200), ms(400)));
        assert_eq!(liveness(Some(200), Some(700)).unwrap(), (ms(200), ms(700)));
        assert!(liveness(Some(200), Some(300)).is_err());
        assert!(liveness(None, Some(d.ping_interval.as_millis() as u64)).is_err());
        assert!(liveness(Some(50), None).is_err());
        assert!(liveness(Some(60_001), None).is_err());
    }

    #[test]
    fn short_secrets_and_half_admins_are_refused() {
        assert!(
            Config::resolve(ServeArgs {
                jwt_secret: Some("short".into()),
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            Config::resolve(ServeArgs {
                admin_email: Some("a@b.c".into()),
                ..Default::default()
            })
            .is_err()
        );
    }

    #[test]
    fn listener_bounds_and_the_admin_bind_resolve() {
        let c = Config::resolve(ServeArgs::default()).unwrap();
        assert_eq!(c.admin_bind, Some(SocketAddr::from(([127, 0, 0, 1], 9100))));
        assert_eq!(c.listener.max_per_ip, Some(crate::listener::DEFAULT_MAX_PER_IP));
        assert_eq!(
            c.listener.header_read_timeout,
            crate::listener::DEFAULT_HEADER_READ_TIMEOUT
        );
        let with = |args: ServeArgs| Config::resolve(args);
        let off = with(ServeArgs {
            admin_bind: Some("off".into()),
            max_connections_per_ip: Some(0),
            ..Default::default()
        })
        .unwrap();
        assert_eq!((off.admin_bind, off.listener.max_per_ip), (None, None));
        let proxied = with(ServeArgs {
            trust_forwarded_for: Some(true),
            max_connections_per_ip: Some(10),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(
            proxied.listener.max_per_ip, None,
            "behind a proxy the cap would count the proxy"
        );
        for bad in [
            ServeArgs {
                admin_bind: Some("9100".into()),
                ..Default::default()
            },
            ServeArgs {
                header_read_timeout_seconds: Some(0),
                ..Default::default()
            },
            ServeArgs {
                ws_handshake_timeout_seconds: Some(301),
                ..Default::default()
            },
            ServeArgs {
                metrics_token: Some("short".into()),
                ..Default::default()
            },
        ] {
            assert!(with(bad.clone()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn secret_is_generated_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("cw-secret-{}-{}", std::process::id(), rand::random::<u32>()));
        std::fs::create_dir_all(&dir).unwrap();
        let a = load_or_create_secret(&dir).unwrap();
        let b = load_or_create_secret(&dir).unwrap();
        assert_eq!(a, b);
        assert!(a.len() >= 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.join("jwt-secret")).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
