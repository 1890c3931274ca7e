//! The web client (`web/`, built into `web/dist/` and committed), compiled into the binary
//! and served at `/`. Every screen is a hash route of the one page, so only the page, its
//! script and style sheet, and the script's lazily loaded chunks are served here.

use std::collections::HashMap;
use std::io::Write;
use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use rust_embed::RustEmbed;

use crate::error::{ApiError, msg};
use crate::state::AppState;

/// The files of `web/dist/`.
#[derive(RustEmbed)]
#[folder = "../../web/dist/"]
struct Client;

/// Security headers for the page: no framing by other sites, no MIME sniffing, and a
/// content policy that allows only this origin (plus its WebSocket and media).
const CSP: &str = "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; \
                   connect-src 'self' ws: wss:; style-src 'self' 'unsafe-inline'; script-src 'self'; \
                   frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// Gzipped copies of the text files, made once on first use (Phaser alone is 1.2 MB, 0.3 MB
/// gzipped).
fn gzipped(path: &str) -> Option<&'static [u8]> {
    static GZ: OnceLock<HashMap<String, Vec<u8>>> = OnceLock::new();
    GZ.get_or_init(|| {
        Client::iter()
            .filter(|p| [".js", ".css", ".html"].iter().any(|e| p.ends_with(e)))
            .filter_map(|p| {
                let data = Client::get(&p)?.data;
                let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                z.write_all(&data).ok()?;
                Some((p.into_owned(), z.finish().ok()?))
            })
            .collect()
    })
    .get(path)
    .map(Vec::as_slice)
}

fn accepts_gzip(req: &HeaderMap) -> bool {
    req.get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| {
            let mut parts = e.split(';').map(str::trim);
            parts.next() == Some("gzip") && !parts.any(|q| q.replace(' ', "") == "q=0")
        })
}

fn file(path: &str, cache: &'static str, req: &HeaderMap) -> Response {
    let Some(f) = Client::get(path) else {
        return ApiError::Status(StatusCode::NOT_FOUND, msg::NOT_FOUND).into_response();
    };
    let etag = format!("\"{}\"", hex(&f.metadata.sha256_hash()[..12]));
    let fresh = req
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let headers = [
        (header::CONTENT_TYPE, f.metadata.mimetype().to_owned()),
        (header::CACHE_CONTROL, cache.to_owned()),
        (header::ETAG, etag),
    ];
    let gz = accepts_gzip(req).then(|| gzipped(path)).flatten();
    let mut resp = if fresh {
        (StatusCode::NOT_MODIFIED, headers).into_response()
    } else if let Some(gz) = gz {
        (headers, [(header::CONTENT_ENCODING, "gzip")], gz).into_response()
    } else {
        (headers, f.data.into_owned()).into_response()
    };
    let h = resp.headers_mut();
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if path.ends_with(".html") {
        h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    }
    resp
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Redirects a mailed link to the client's screen for it (the token stays in the fragment,
/// which browsers do not send to servers or in `Referer`).
fn to_page(screen: &str, token: &str) -> axum::response::Redirect {
    let safe: String = token
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    axum::response::Redirect::to(&format!("/#/{screen}/{safe}"))
}

/// Routes for the page (`/` and `/index.html`), its script, style sheet and chunks. The page,
/// script and style are revalidated on every load (they carry an ETag), so a new release is
/// picked up at once.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/",
            get(|h: HeaderMap| async move { file("index.html", "no-cache", &h) }),
        )
        .route(
            "/index.html",
            get(|h: HeaderMap| async move { file("index.html", "no-cache", &h) }),
        )
        .route(
            "/app.js",
            get(|h: HeaderMap| async move { file("app.js", "no-cache", &h) }),
        )
        .route(
            "/style.css",
            get(|h: HeaderMap| async move { file("style.css", "no-cache", &h) }),
        )
        // Links in our mails open the client's pages for them.
        .route(
            "/confirm/{token}",
            get(|Path(token): Path<String>| async move { to_page("confirm", &token) }),
        )
        .route(
            "/confirm-email/{token}",
            get(|Path(token): Path<String>| async move { to_page("confirm-email", &token) }),
        )
        // Chunk names carry a hash of their content, so they never change.
        .route(
            "/chunks/{name}",
            get(|Path(name): Path<String>, h: HeaderMap| async move {
                file(&format!("chunks/{name}"), "public, max-age=31536000, immutable", &h)
            }),
        )
}
