//! Wiring: builds every part from a [`Config`] and serves them on one listener.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt as _;

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
    /// Its database handle (tests use it to set up fixtures).
    pub db: Db,
    hub: Arc<Hub>,
    shutdown: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
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
        self.task.await.context("server task")??;
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
        let hash = crowdwire_api::passwords::hash(password.clone())
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
    }
    // Pictures kept inline by earlier versions leave the world rows (once; a no-op after).
    match crowdwire_api::images::move_inline_pictures(&db, &config.public_url, config.max_image_bytes).await {
        Ok(0) => {}
        Ok(n) => tracing::info!(worlds = n, "moved inline world pictures to the images table"),
        Err(e) => tracing::warn!(error = ?e, "could not move inline world pictures"),
    }
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
    let settings = ApiSettings {
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
        ..ApiSettings::default()
    };
    let media: Arc<dyn crowdwire_realtime::media::MediaBackend> = match &config.media {
        Some(m) => Arc::new(
            crowdwire_media::MediaNode::start(m.clone())
                .await
                .map_err(|e| anyhow::anyhow!("starting the SFU: {e}"))?,
        ),
        None => Arc::new(UnavailableMedia::default()),
    };
    let (backends, replica_number) = match &config.cluster {
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
    };
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
    let app = crowdwire_api::app(state, crowdwire_realtime::gateway::router(hub.clone()));
    let service = tower::ServiceBuilder::new()
        .map_request(crowdwire_api::trim_trailing_slash)
        .service(app);
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let addr = listener.local_addr()?;
    let (tx, mut rx) = watch::channel(false);
    let make = axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<SocketAddr>(
        service.map_err(|e: std::convert::Infallible| match e {}),
    );
    let task = tokio::spawn(async move {
        // Realtime frames are small and latency-bound: no Nagle delay on any socket.
        let listener = axum::serve::ListenerExt::tap_io(listener, |tcp: &mut tokio::net::TcpStream| {
            if let Err(e) = tcp.set_nodelay(true) {
                tracing::debug!(error = %e, "TCP_NODELAY not set");
            }
        });
        axum::serve(listener, make)
            .with_graceful_shutdown(async move {
                let _ = rx.wait_for(|stop| *stop).await;
            })
            .await
    });
    tracing::info!(%addr, database = db.backend_name(), "CrowdWire listening");
    Ok(Running {
        addr,
        db,
        hub,
        shutdown: tx,
        task,
    })
}
