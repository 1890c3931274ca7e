//! World pictures. The original client sends a picture as a data URL in `profile_image`;
//! kept inline, every listing carried the bytes (three 7 MiB pictures made one guest listing
//! 22 MB). A data URL is now checked (an image type we serve, its bytes what it claims,
//! at most `max_image_bytes` decoded), stored once in the `images` table (by SHA-256, on
//! every replica through the database) and replaced by a short URL served at
//! `GET /api/v1/images/{id}`. Any other value must be an http(s) URL or a path (absolute, or
//! relative to the static files) of at most [`MAX_URL_CHARS`] characters.

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};

use crowdwire_store::Db;

use crate::error::{ApiError, ApiResult, msg};
use crate::extract::Path;
use crate::state::AppState;

/// Longest `profile_image` kept as it is (a URL or a path).
pub const MAX_URL_CHARS: usize = 2048;

/// The image types accepted, with the bytes each starts with. (No SVG: it may carry script.)
const TYPES: [(&str, &[u8]); 4] = [
    ("image/png", b"\x89PNG\r\n\x1a\n"),
    ("image/jpeg", b"\xff\xd8\xff"),
    ("image/gif", b"GIF8"),
    ("image/webp", b"RIFF"),
];

/// What a `profile_image` value is.
#[derive(Debug, PartialEq)]
pub enum Picture {
    /// Kept as it is: empty (no picture), an http(s) URL or a path.
    Link(String),
    /// An uploaded image to store.
    Image {
        /// Its MIME type.
        content_type: &'static str,
        /// Its bytes.
        bytes: Vec<u8>,
    },
}

/// Reads a `profile_image` value; the error says what is accepted.
pub fn read(value: String, max_bytes: usize) -> Result<Picture, String> {
    let refuse = || {
        format!(
            "profile_image must be an image data URL (PNG, JPEG, GIF or WebP, at most {} KiB) \
             or a URL of at most {MAX_URL_CHARS} characters",
            max_bytes / 1024
        )
    };
    if let Some(rest) = value.strip_prefix("data:") {
        let (meta, payload) = rest.split_once(',').ok_or_else(refuse)?;
        let mime = meta.strip_suffix(";base64").ok_or_else(refuse)?.to_ascii_lowercase();
        let (content_type, magic) = TYPES
            .iter()
            .find(|(t, _)| *t == mime.as_str())
            .copied()
            .ok_or_else(refuse)?;
        // Refuse an oversized payload before decoding it.
        if payload.len() / 4 * 3 > max_bytes + 3 {
            return Err(refuse());
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|_| refuse())?;
        let webp_ok = content_type != "image/webp" || bytes.get(8..12) == Some(b"WEBP");
        if bytes.len() > max_bytes || !bytes.starts_with(magic) || !webp_ok {
            return Err(refuse());
        }
        return Ok(Picture::Image { content_type, bytes });
    }
    if value.is_empty() {
        return Ok(Picture::Link(value));
    }
    if value.chars().count() > MAX_URL_CHARS || value.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err(refuse());
    }
    // A path on this server, or a relative one under the static files (the original's
    // seeded pictures).
    let is_path = (value.starts_with('/') && !value.starts_with("//"))
        || (!value.starts_with('/')
            && value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/'))
            && !value.contains(".."));
    let is_web_url = url::Url::parse(&value).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
    if is_path || is_web_url {
        Ok(Picture::Link(value))
    } else {
        Err(refuse())
    }
}

/// The id of the image a stored `profile_image` names, when it is one of ours.
pub fn image_id(value: &str) -> Option<&str> {
    let (_, id) = value.rsplit_once("/api/v1/images/")?;
    is_image_id(id).then_some(id)
}

/// True for what an image id looks like: 64 hex digits (a SHA-256).
fn is_image_id(id: &str) -> bool {
    id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// Stores what a `profile_image` value needs and returns what the world row keeps.
async fn keep(db: &Db, public_url: &str, picture: Picture) -> ApiResult<String> {
    match picture {
        Picture::Link(v) => Ok(v),
        Picture::Image { content_type, bytes } => {
            let id = hex(&Sha256::digest(&bytes));
            db.put_image(&id, content_type, &bytes).await?;
            Ok(format!("{public_url}/api/v1/images/{id}"))
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks and stores a `profile_image` from a request: 422 saying what is accepted.
pub async fn accept(state: &AppState, value: String) -> ApiResult<String> {
    let picture = read(value, state.settings.max_image_bytes)
        .map_err(|why| ApiError::invalid(&["body", "profile_image"], why, "value_error.profile_image"))?;
    keep(&state.db, &state.settings.public_url, picture).await
}

/// Moves pictures stored inline before this version into the `images` table (or drops them
/// when they are not images we accept); run at start.
pub async fn move_inline_pictures(db: &Db, public_url: &str, max_bytes: usize) -> ApiResult<usize> {
    let rows = db.worlds_with_inline_pictures().await?;
    for (world_id, value) in &rows {
        let kept = match read(value.clone(), max_bytes) {
            Ok(p) => keep(db, public_url, p).await?,
            Err(_) => {
                tracing::warn!(world_id, "dropping a world picture that is not an image we accept");
                String::new()
            }
        };
        db.set_world_picture(*world_id, &kept).await?;
    }
    Ok(rows.len())
}

/// Serves a stored image, cached for ever (its URL is its content's hash).
#[utoipa::path(get, path = "/images/{image_id}", tag = "worlds",
    params(("image_id" = String, Path, description = "SHA-256 of the image, hex")),
    responses((status = 200, description = "The image", content_type = "image/*"), (status = 404, description = "No such image")))]
pub async fn serve(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult<Response> {
    let found = match is_image_id(&id) {
        true => state.db.image(&id.to_ascii_lowercase()).await?,
        false => None,
    };
    let Some(image) = found else {
        return Err(ApiError::Status(StatusCode::NOT_FOUND, msg::NOT_FOUND));
    };
    let mut resp = Body::from(image.bytes).into_response();
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&image.content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data_url(mime: &str, bytes: &[u8]) -> String {
        format!(
            "data:{mime};base64,{}",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        )
    }

    #[test]
    fn data_urls_of_real_images_are_taken() {
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 100]].concat();
        let got = read(data_url("image/png", &png), 1024).unwrap();
        assert_eq!(
            got,
            Picture::Image {
                content_type: "image/png",
                bytes: png
            }
        );
        let webp = [b"RIFF\0\0\0\0WEBPVP8 ".as_slice(), &[0u8; 10]].concat();
        assert!(read(data_url("image/webp", &webp), 1024).is_ok());
    }

    #[test]
    fn lies_big_images_and_scripts_are_refused() {
        let png = [b"\x89PNG\r\n\x1a\n".as_slice(), &[0u8; 2000]].concat();
        assert!(read(data_url("image/png", &png), 1024).is_err(), "too big");
        assert!(
            read(data_url("image/jpeg", &png), 4096).is_err(),
            "a PNG said to be a JPEG"
        );
        assert!(read(data_url("image/svg+xml", b"<svg onload=alert(1)>"), 4096).is_err());
        assert!(read("data:image/png,notbase64".into(), 4096).is_err());
        assert!(read("data:image/png;base64,!!!".into(), 4096).is_err());
        assert!(read(data_url("image/webp", b"RIFF\0\0\0\0WAVEfmt "), 4096).is_err());
    }

    #[test]
    fn links_are_kept_when_short_and_web() {
        for ok in [
            "",
            "/static/world.png",
            "maps/a.png",
            "https://example.org/a.png",
            "http://host:8000/x",
        ] {
            assert_eq!(read(ok.into(), 1024), Ok(Picture::Link(ok.into())), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "//evil.example/x.png",
            "plain text",
            "ftp://example.org/a.png",
            "../secret.png",
        ] {
            assert!(read(bad.into(), 1024).is_err(), "{bad}");
        }
        let long = format!("https://example.org/{}", "a".repeat(MAX_URL_CHARS));
        assert!(read(long, 1024).is_err());
    }

    #[test]
    fn only_our_image_urls_have_ids() {
        let id = "ab".repeat(32);
        assert_eq!(
            image_id(&format!("https://w.example/api/v1/images/{id}")),
            Some(id.as_str())
        );
        assert_eq!(image_id("https://w.example/api/v1/images/../x"), None);
        assert_eq!(image_id("/static/x.png"), None);
    }
}
