//! Operations: health and Prometheus metrics.
//!
//! Metrics are for the monitoring system, not the public (security review F14): the server
//! serves them on its admin listener ([`admin_router`], loopback by default), and on the main
//! listener only to a request bearing the configured metrics token.

use std::sync::OnceLock;
use std::time::Instant;

use axum::Json;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiError, msg};
use crate::state::{AppState, Backends};

/// Routes of this module that belong in the API document.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(health))
}

/// Liveness and backends.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` when the database (and, scaled out, Redis and RabbitMQ) answers, else `degraded`.
    pub status: String,
    /// The database answered.
    pub database_ok: bool,
    /// Which backend serves each part.
    pub backends: Backends,
    /// Scale-out: this replica's view of Redis, RabbitMQ and its worlds (absent for a single
    /// process). Either service unreachable makes the status `degraded` (the replica keeps
    /// serving the worlds it runs), but not a 503: the load balancer should keep it.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<ClusterHealth>)]
    pub cluster: Option<crowdwire_access::live::ClusterStatus>,
    /// Server version.
    pub version: String,
}

/// A replica's view of the cluster (the schema of `crowdwire_access::live::ClusterStatus`).
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct ClusterHealth {
    /// This replica's id.
    replica: String,
    /// Redis (presence, leases) answers.
    presence_ok: bool,
    /// RabbitMQ (the replica bus) answers.
    bus_ok: bool,
    /// Worlds whose engine runs on this replica.
    worlds_owned: usize,
    /// Sockets on this replica whose world runs on another.
    remote_sessions: usize,
}

/// Liveness, and which backends are in use. 503 when the database does not answer.
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
async fn health(State(state): State<AppState>) -> Response {
    let ok = state.db.ping().await.is_ok();
    let cluster = state.live.cluster();
    let cluster_ok = cluster.as_ref().is_none_or(|c| c.presence_ok && c.bus_ok);
    let body = Health {
        status: if ok && cluster_ok { "ok" } else { "degraded" }.into(),
        database_ok: ok,
        backends: (*state.backends).clone(),
        cluster,
        version: env!("CARGO_PKG_VERSION").into(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Full("http_request_duration_seconds".into()),
                &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
            )
            .expect("bucket list is not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder may exist when several servers share a test process; then the
        // first one's handle is the one that sees the metrics.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// The admin listener's routes: `GET /metrics` and `GET /health`, without authentication
/// (whoever reaches that address is trusted with them).
pub fn admin_router(state: AppState) -> axum::Router {
    prometheus();
    axum::Router::new()
        .route("/metrics", axum::routing::get(metrics_text))
        .route("/health", axum::routing::get(health))
        .with_state(state)
}

/// `GET /metrics` on the main listener: 404 unless a metrics token is configured, then 401
/// unless the request bears it (`Authorization: Bearer <token>`, compared in constant time).
pub async fn metrics_with_token(State(state): State<AppState>, parts: axum::http::request::Parts) -> Response {
    use subtle::ConstantTimeEq as _;
    let Some(expected) = state.settings.metrics_token.as_deref() else {
        return ApiError::Status(StatusCode::NOT_FOUND, msg::NOT_FOUND).into_response();
    };
    let given = crate::extract::bearer(&parts).unwrap_or_default();
    // Only the length can differ in time, and a token's length is no secret.
    if !bool::from(given.as_bytes().ct_eq(expected.as_bytes())) {
        return ApiError::Unauthorized(msg::NOT_AUTHENTICATED).into_response();
    }
    metrics_text(State(state)).await
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics_text(State(state): State<AppState>) -> Response {
    // The connected-users gauge belongs to this server's state, not to the process-wide
    // recorder (which several servers may share, e.g. in tests), so it is written here.
    let mut text = prometheus().render();
    let online = state.live.online_total().await;
    text.push_str(&format!(
        "# HELP crowdwire_connected_users Users connected to a world right now.\n\
         # TYPE crowdwire_connected_users gauge\ncrowdwire_connected_users {online}\n"
    ));
    if let Some(c) = state.live.cluster() {
        text.push_str(&format!(
            "# HELP crowdwire_worlds_owned Worlds whose engine runs on this replica.\n\
             # TYPE crowdwire_worlds_owned gauge\ncrowdwire_worlds_owned {}\n\
             # HELP crowdwire_remote_sessions Sockets on this replica whose world runs on another.\n\
             # TYPE crowdwire_remote_sessions gauge\ncrowdwire_remote_sessions {}\n",
            c.worlds_owned, c.remote_sessions
        ));
    }
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response()
}

/// Middleware counting requests and timing them, by route template (never the raw path, so
/// ids do not explode the label set).
pub async fn track(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().as_str().to_owned();
    let started = Instant::now();
    let resp = next.run(req).await;
    let status = resp.status().as_u16().to_string();
    metrics::counter!("http_requests_total", "method" => method.clone(), "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    resp
}
