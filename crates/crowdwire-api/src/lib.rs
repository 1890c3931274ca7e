//! The CrowdWire REST API.
//!
//! Every resource of the original API is mounted under `/api/v1`, with the same
//! paths, fields, status codes and `{"detail": …}` messages, and with the original's holes
//! closed (SECURITY.md). Routes are collected with their OpenAPI descriptions by utoipa-axum,
//! so `/api/v1/openapi.json` is generated from the handlers themselves.

pub mod assets;
pub mod error;
pub mod extract;
pub mod google;
pub mod images;
pub mod mail;
pub mod passwords;
pub mod ratelimit;
pub mod routes;
pub mod schemas;
pub mod state;
pub mod validate;
pub mod web;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowHeaders, Any, CorsLayer};
use tower_http::trace::TraceLayer;
use utoipa::Modify;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::error::{ApiError, msg};
pub use crate::state::{ApiSettings, AppState, Backends};

/// The prefix every API route lives under.
pub const PREFIX: &str = "/api/v1";

#[derive(OpenApi)]
#[openapi(
    info(title = "CrowdWire API", version = env!("CARGO_PKG_VERSION"), license(name = "AGPL-3.0-or-later"), description = "REST API of CrowdWire, an open-source platform for 2D virtual worlds. \
        Authenticate with `Authorization: Bearer <token>` from `/login`, `/join-guest` or `/confirm/{token}`."),
    modifiers(&BearerAuth),
    components(schemas(error::ErrorBody, error::ValidationErrorBody, error::FieldError)),
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// All documented routes, relative to [`PREFIX`].
fn documented() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .merge(routes::auth::router())
        .merge(routes::users::router())
        .merge(routes::worlds::router())
        .merge(routes::members::router())
        .merge(routes::roles::router())
        .merge(routes::world_reports::router())
        .merge(routes::events::router())
        .merge(routes::statistics::router())
        .merge(routes::tags::router())
        .merge(routes::ops::router())
}

/// The OpenAPI document, with paths as served (under `/api/v1`).
pub fn openapi() -> utoipa::openapi::OpenApi {
    OpenApiRouter::<AppState>::with_openapi(ApiDoc::openapi())
        .nest(PREFIX, documented())
        .into_openapi()
}

async fn not_found() -> ApiError {
    ApiError::Status(StatusCode::NOT_FOUND, msg::NOT_FOUND)
}

/// A body refused as too large was not read to its end, so the connection cannot carry another
/// request: say so (`Connection: close`), or a client reusing it gets a broken response.
async fn close_after_refused_body(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let mut resp = next.run(req).await;
    if resp.status() == StatusCode::PAYLOAD_TOO_LARGE {
        resp.headers_mut().insert(
            axum::http::header::CONNECTION,
            axum::http::HeaderValue::from_static("close"),
        );
    }
    resp
}

/// Turns axum's plain-text 405 into the JSON error every other failure uses.
async fn json_method_not_allowed(req: Request, next: axum::middleware::Next) -> axum::response::Response {
    let resp = next.run(req).await;
    if resp.status() == StatusCode::METHOD_NOT_ALLOWED {
        return ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, msg::METHOD_NOT_ALLOWED).into_response();
    }
    resp
}

/// The whole HTTP application for `state`; `extra` adds routes of other layers (the
/// WebSocket gateway, the web client) before the shared middleware is applied.
pub fn app(state: AppState, extra: Router<AppState>) -> Router {
    routes::ops::prometheus();
    let (api, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .nest(PREFIX, documented())
        .split_for_parts();
    let body_limit = state.settings.max_body_bytes;
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([
            Method::GET,
            Method::POST,
            Method::PUT,
            Method::DELETE,
            Method::PATCH,
            Method::OPTIONS,
        ])
        // Echo what the preflight asks for: a `*` does not cover `Authorization` (Fetch
        // standard), which every call of a client served from another origin sends.
        .allow_headers(AllowHeaders::mirror_request());
    Router::new()
        .merge(api)
        .route("/api/v1/static/{*path}", get(assets::serve))
        .route("/metrics", get(routes::ops::metrics_with_token))
        .merge(web::routes())
        .merge(extra)
        .fallback(not_found)
        .layer(axum::middleware::from_fn(routes::ops::track))
        .layer(axum::middleware::from_fn(json_method_not_allowed))
        .with_state(state)
        .merge(SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", doc))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(close_after_refused_body))
        .layer(CatchPanicLayer::custom(|_| {
            ApiError::Internal("handler panicked".into()).into_response()
        }))
        .layer(TraceLayer::new_for_http())
        .layer(cors)
}

/// Strips one trailing slash from the path (except `/` and the docs UI, which needs it), so
/// `/tags/` and `/tags` reach the same route, as the original's redirects allowed.
pub fn trim_trailing_slash(mut req: Request) -> Request {
    let path = req.uri().path();
    if path.len() > 1 && path.ends_with('/') && !path.starts_with("/api/v1/docs") {
        let trimmed = path.trim_end_matches('/');
        let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
        let new = match req.uri().query() {
            Some(q) => format!("{trimmed}?{q}"),
            None => trimmed.to_owned(),
        };
        if let Ok(uri) = new.parse() {
            *req.uri_mut() = uri;
        }
    }
    req
}
