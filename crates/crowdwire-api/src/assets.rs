//! Static assets (default map, tilesets, avatar sheets) compiled into the binary, served
//! under `/api/v1/static/`.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::error::{ApiError, msg};

/// The files of `assets/static/`.
#[derive(RustEmbed)]
#[folder = "../../assets/static/"]
pub struct StaticAssets;

/// The default world map (Tiled JSON), for new worlds.
pub fn default_map() -> String {
    StaticAssets::get("maps/default.json")
        .map(|f| String::from_utf8_lossy(&f.data).into_owned())
        .unwrap_or_else(|| "{}".into())
}

/// Serves one embedded file.
pub async fn serve(Path(path): Path<String>) -> Response {
    match StaticAssets::get(&path) {
        Some(f) => {
            let mime = f.metadata.mimetype().to_owned();
            (
                [
                    (header::CONTENT_TYPE, mime),
                    (header::CACHE_CONTROL, "public, max-age=3600".to_owned()),
                ],
                f.data.into_owned(),
            )
                .into_response()
        }
        None => ApiError::Status(StatusCode::NOT_FOUND, msg::NOT_FOUND).into_response(),
    }
}
