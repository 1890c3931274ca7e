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

/// Paths the original client asks for, and the files of ours that answer them: its default
/// map, and the tile its map editor uses for conference areas.
const ALIASES: [(&str, &str); 2] = [
    ("maps/deti.json", "maps/default.json"),
    ("maps/tilesets/tiles/conference.png", "maps/tilesets/conference.png"),
];

/// Serves one embedded file.
pub async fn serve(Path(path): Path<String>) -> Response {
    let path = ALIASES
        .iter()
        .find(|(alias, _)| *alias == path)
        .map_or(path.as_str(), |(_, file)| file);
    match StaticAssets::get(path) {
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
