//! Wiring: builds every part from a [`Config`] and serves them: the application on the main
//! listener, metrics and health on the admin listener (see [`crate::listener`]).

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crowdwire_api::google::GoogleVerifier;
use crowdwire_api::mail::Mailer;
use crowdwire_api::ratelimit::Limits;
use crowdwire_api::{ApiSettings, AppState, Backends};
use crowdwire_auth::TokenKeys;
use crowdwire_realtime::Hub;
use crowdwire_realtime::bus::LocalBus;
use crowdwire_realtime::media::UnavailableMedia;
use crowdwire_realtime::presence::LocalPresence;
use crowdwire_store::Db;
use crowdwire_store::users::Bootstrap;

use crate::config::{Config, load_or_create_secret};

/// A server that is accepting connections.
pub struct Running {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Where its admin listener (`/metrics`, `/health`) listens, unless that is off.
    pub admin_addr: Option<SocketAddr>,
    /// Its database handle (tests use it to set up fixtures).
    pub db: Db,
    hub: Arc<Hub>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Hands its worlds over (see [`Hub::hand_over`]), stops accepting, lets in-flight
    /// requests finish, and closes the database.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        self.hub.hand_over().await;
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            task.await.context("listener task")?;
        }
        self.db.close().await;
        Ok(())
    }
}

/// Opens the database, ensures the superuser, binds the listener and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating data dir {}", config.data_dir.display()))?;
    let db = Db::connect(&config.database_url)
        .await
        .context("opening the database")?;
    let secret = match &config.jwt_secret {
        Some(s) => s.as_bytes().to_vec(),
        None => load_or_create_secret(&config.data_dir)?,
    };
    let keys = TokenKeys::new(&secret).context("the JWT secret is empty")?;
    if let Some((email, password)) = &config.admin {
        ensure_superuser(&db, email, password).await?;
    }
    move_inline_pictures(&db, &config).await;
    let mailer = match &config.smtp_url {
        Some(url) => Some(Arc::new(
            Mailer::new(url, &config.smtp_from).context("CROWDWIRE_SMTP_URL")?,
        )),
        None => None,
    };
    let google = config
        .google_client_id
        .clone()
        .map(|id| Arc::new(GoogleVerifier::new(id, config.google_jwks_url.clone())));
    let settings = api_settings(&config);
    let media: Arc<dyn crowdwire_realtime::media::MediaBackend> = match &config.media {
        Some(m) => Arc::new(
            crowdwire_media::MediaNode::start(m.clone())
                .await
                .map_err(|e| anyhow::anyhow!("starting the SFU: {e}"))?,
        ),
        None => Arc::new(UnavailableMedia::default()),
    };
    let (backends, replica_number) = realtime_backends(&config, &db, media).await?;
    let hub = Hub::new(
        db.clone(),
        keys.clone(),
        config.realtime.clone(),
        backends,
        replica_number,
    );
    let (presence, bus, media) = hub.backends();
    let backends = Backends {
        database: db.backend_name().into(),
        presence: presence.into(),
        bus: bus.into(),
        media: media.into(),
    };
    let state = AppState {
        db: db.clone(),
        keys,
        limits: Arc::new(Limits::new(&settings)),
        settings: Arc::new(settings),
        live: hub.clone(),
        mailer,
        google,
        backends: Arc::new(backends),
    };
    let admin_app = crowdwire_api::routes::ops::admin_router(state.clone());
    let app = crowdwire_api::app(state, crowdwire_realtime::gateway::router(hub.clone()));
    let service = tower::ServiceBuilder::new()
        .map_request(crowdwire_api::trim_trailing_slash)
        .service(app);
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let admin = match config.admin_bind {
        Some(bind) => Some(bind_admin(bind).await?),
        None => None,
    };
    let admin_addr = admin.as_ref().map(TcpListener::local_addr).transpose()?;
    let (tx, rx) = watch::channel(false);
    let mut tasks = vec![tokio::spawn(crate::listener::serve(
        listener,
        service,
        config.listener.clone(),
        rx.clone(),
    ))];
    if let Some(admin) = admin {
        // Prometheus alone calls here: no cap per address.
        let settings = crate::listener::ListenerSettings {
            max_per_ip: None,
            ..config.listener.clone()
        };
        tasks.push(tokio::spawn(crate::listener::serve(admin, admin_app, settings, rx)));
    }
    log_listening(&config, addr, admin_addr, &db);
    Ok(Running {
        addr,
        admin_addr,
        db,
        hub,
        shutdown: tx,
        tasks,
    })
}

/// Makes the superuser `email`, unless an ordinary account holds that address.
async fn ensure_superuser(db: &Db, email: &str, password: &str) -> anyhow::Result<()> {
    let hash = crowdwire_api::passwords::hash(password.to_owned())
        .await
        .map_err(|e| anyhow::anyhow!("hashing the admin password: {e:?}"))?;
    match db
        .upsert_superuser(email, "Admin", &hash)
        .await
        .context("creating the superuser")?
    {
        Bootstrap::Ready(admin) => tracing::info!(user_id = admin.user_id, %email, "superuser ready"),
        Bootstrap::Refused(user) => tracing::error!(
            user_id = user.user_id,
            %email,
            "NOT creating the superuser: an ordinary account holds CROWDWIRE_ADMIN_EMAIL, and it is never \
             promoted (anyone could have set that address); choose another address, or promote the account \
             from an existing superuser"
        ),
    }
    Ok(())
}

/// Pictures kept inline by earlier versions leave the world rows (once; a no-op after).
async fn move_inline_pictures(db: &Db, config: &Config) {
    match crowdwire_api::images::move_inline_pictures(db, &config.public_url, config.max_image_bytes).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(worlds = n, "moved inline world pictures to the images table"),
        Err(e) => tracing::warn!(error = ?e, "could not move inline world pictures"),
    }
}

/// The REST API's settings, from the configuration.
fn api_settings(config: &Config) -> ApiSettings {
    ApiSettings {
        public_url: config.public_url.clone(),
        access_token_minutes: config.access_token_minutes,
        guest_token_hours: config.guest_token_hours,
        auth_rate_per_minute: config.auth_rate_per_minute,
        auth_burst: config.auth_burst,
        login_attempts_per_account: config.login_attempts_per_account,
        max_image_bytes: config.max_image_bytes,
        max_worlds_per_user: config.max_worlds_per_user,
        guest_ban_hours: i64::try_from(config.realtime.guest_ban.as_secs() / 3600).unwrap_or(i64::MAX),
        world_edits_per_minute: config.world_edits_per_minute,
        max_body_bytes: config.max_body_bytes,
        trust_forwarded_for: config.trust_forwarded_for,
        metrics_token: config.metrics_token.clone(),
        ..ApiSettings::default()
    }
}

/// Presence, bus, leases and media of the realtime hub, and this replica's number: local
/// ones for a single server, Redis and RabbitMQ (joining the cluster) for one of many.
async fn realtime_backends(
    config: &Config,
    db: &Db,
    media: Arc<dyn crowdwire_realtime::media::MediaBackend>,
) -> anyhow::Result<(crowdwire_realtime::Backends, u32)> {
    Ok(match &config.cluster {
        None => (
            crowdwire_realtime::Backends {
                presence: Arc::new(LocalPresence::default()),
                bus: Arc::new(LocalBus::default()),
                leases: Arc::new(crowdwire_realtime::lease::LocalLeases),
                media,
            },
            0,
        ),
        Some(c) => {
            if db.backend_name() == "sqlite" {
                tracing::warn!("running as one of many replicas on SQLite: replicas on other machines need PostgreSQL");
            }
            let rt = &config.realtime;
            let store = crowdwire_cluster::RedisStore::connect(&c.redis_url, rt.lease_ttl, rt.presence_refresh * 3)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let bus = crowdwire_cluster::AmqpBus::connect(&c.amqp_url, &c.replica_id)
                .await
                .map_err(|e| anyhow::anyhow!(e))?;
            let number = crowdwire_realtime::lease::Leases::replica_number(&store)
                .await
                .context("numbering this replica")?;
            tracing::info!(replica = %c.replica_id, number, "joined the cluster");
            let media: Arc<dyn crowdwire_realtime::media::MediaBackend> = if config.media_nodes {
                Arc::new(
                    crowdwire_cluster::RemoteMedia::connect(&c.amqp_url, store.connection(), &c.replica_id)
                        .await
                        .map_err(|e| anyhow::anyhow!(e))?,
                )
            } else {
                media
            };
            let store = Arc::new(store);
            (
                crowdwire_realtime::Backends {
                    presence: store.clone(),
                    bus: Arc::new(bus),
                    leases: store,
                    media,
                },
                number,
            )
        }
    })
}

/// Says where the server listens, and with which bounds.
fn log_listening(config: &Config, addr: SocketAddr, admin_addr: Option<SocketAddr>, db: &Db) {
    tracing::info!(
        %addr,
        admin = %admin_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
        database = db.backend_name(),
        header_read_timeout_s = config.listener.header_read_timeout.as_secs_f64(),
        max_connections_per_ip = %match config.listener.max_per_ip {
            Some(n) => n.to_string(),
            None if config.trust_forwarded_for => "none here (behind a proxy: cap connections per client there)".into(),
            None => "none".into(),
        },
        "CrowdWire listening"
    );
}

/// Binds the admin listener; a taken address names the setting that moves it.
async fn bind_admin(bind: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(bind).await.map_err(|e| {
        let hint = if e.kind() == std::io::ErrorKind::AddrInUse {
            " (another program, or another CrowdWire, uses it: choose another address with --admin-bind \
             IP:PORT or CROWDWIRE_ADMIN_BIND; port 0 picks a free one, and `off` serves no admin listener)"
        } else {
            ""
        };
        anyhow::anyhow!("cannot bind the admin listener (metrics, health) {bind}: {e}{hint}")
    })
}
