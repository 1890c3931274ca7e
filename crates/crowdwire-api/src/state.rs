//! Shared state of every handler, and the API's settings.

use std::sync::Arc;

use crowdwire_auth::TokenKeys;
use crowdwire_store::Db;

use crate::google::GoogleVerifier;
use crate::mail::Mailer;
use crate::ratelimit::Limits;
use crowdwire_access::live::LiveSessions;

/// Settings of the REST API (a slice of the server's configuration).
#[derive(Clone, Debug)]
pub struct ApiSettings {
    /// Public base URL of this deployment, used in e-mailed links (no trailing slash).
    pub public_url: String,
    /// Lifetime of registered users' access tokens, minutes.
    pub access_token_minutes: i64,
    /// Lifetime of guest tokens, hours.
    pub guest_token_hours: i64,
    /// Lifetime of e-mail confirmation tokens, hours.
    pub confirmation_token_hours: i64,
    /// Lifetime of invite tokens, minutes.
    pub invite_token_minutes: i64,
    /// Expired access tokens may be refreshed within this many minutes after expiry.
    pub refresh_window_minutes: i64,
    /// Tokens per minute of each client address's bucket for sign-up, log-in, guest tokens and
    /// Google sign-in (see [`crate::ratelimit`]).
    pub auth_rate_per_minute: u32,
    /// Most tokens a client address's bucket holds (requests it may make at once).
    pub auth_burst: u32,
    /// Log-in attempts one account may receive in a row (one more a minute after that).
    pub login_attempts_per_account: u32,
    /// World edits (`PUT /worlds/{id}`) per minute per user.
    pub world_edits_per_minute: u32,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Largest world picture accepted as a data URL, decoded bytes.
    pub max_image_bytes: usize,
    /// Worlds one user may have (not counting deleted ones); superusers are not limited.
    pub max_worlds_per_user: i64,
    /// A guest banned through the API is kept out of the world this long, hours.
    pub guest_ban_hours: i64,
    /// Take the client address from `X-Forwarded-For` (only behind a reverse proxy that sets it).
    pub trust_forwarded_for: bool,
    /// Bearer token that opens `GET /metrics` on the main listener; without one it is a 404
    /// there (metrics are served on the admin listener).
    pub metrics_token: Option<String>,
}

impl Default for ApiSettings {
    fn default() -> ApiSettings {
        ApiSettings {
            public_url: "http://127.0.0.1:8000".into(),
            access_token_minutes: 720,
            guest_token_hours: 12,
            confirmation_token_hours: 24,
            invite_token_minutes: 720,
            refresh_window_minutes: 60,
            auth_rate_per_minute: 60,
            auth_burst: 120,
            login_attempts_per_account: 10,
            world_edits_per_minute: 30,
            max_body_bytes: 8 * 1024 * 1024,
            max_image_bytes: 1024 * 1024,
            max_worlds_per_user: 100,
            guest_ban_hours: 24,
            trust_forwarded_for: false,
            metrics_token: None,
        }
    }
}

/// Everything a handler may use.
#[derive(Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// Token signing keys.
    pub keys: TokenKeys,
    /// Settings.
    pub settings: Arc<ApiSettings>,
    /// The realtime layer.
    pub live: Arc<dyn LiveSessions>,
    /// SMTP, when configured.
    pub mailer: Option<Arc<Mailer>>,
    /// Google sign-in, when configured.
    pub google: Option<Arc<GoogleVerifier>>,
    /// Rate limits.
    pub limits: Arc<Limits>,
    /// Names of the backends in use, for `/health`.
    pub backends: Arc<Backends>,
}

/// Which implementation serves each part of the system.
#[derive(Clone, Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Backends {
    /// `sqlite` or `postgres`.
    pub database: String,
    /// Presence backend (`memory`, `redis`, or `none`).
    pub presence: String,
    /// Message bus between replicas (`memory`, `rabbitmq`, or `none`).
    pub bus: String,
    /// Media backend (`embedded`, `remote`, or `none`).
    pub media: String,
}
