//! Request extractors: bodies, queries and paths that fail with FastAPI-shaped 422s, and the
//! caller's identity.
//!
//! JSON bodies are parsed whatever the `Content-Type` header says (or when it is missing),
//! because the original client sends some JSON as `text/plain`.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crowdwire_auth::{Principal, Purpose};
use crowdwire_store::users::{self, User};

use crate::error::{ApiError, FieldError, msg};
use crate::state::AppState;

/// A JSON body, accepted with any or no `Content-Type`.
pub struct JsonBody<T>(pub T);

fn body_error(e: axum::extract::rejection::BytesRejection) -> ApiError {
    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::Status(StatusCode::PAYLOAD_TOO_LARGE, msg::BODY_TOO_LARGE)
    } else {
        ApiError::bad_request("Could not read the request body")
    }
}

fn serde_field_error(section: &str, path: String, inner: String) -> ApiError {
    let mut loc = vec![section.to_owned()];
    if !path.is_empty() && path != "." {
        loc.extend(path.split('.').map(str::to_owned));
    }
    let kind = if inner.starts_with("missing field") {
        "value_error.missing"
    } else {
        "type_error"
    };
    ApiError::Validation(vec![FieldError {
        loc,
        msg: inner,
        kind: kind.into(),
    }])
}

impl<T: DeserializeOwned> FromRequest<AppState> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(ApiError::invalid(&["body"], "field required", "value_error.missing"));
        }
        if json_has_nul(&bytes) {
            return Err(nul_error("body"));
        }
        let de = &mut serde_json::Deserializer::from_slice(&bytes);
        serde_path_to_error::deserialize(de)
            .map(JsonBody)
            .map_err(|e| serde_field_error("body", e.path().to_string(), e.inner().to_string()))
    }
}

/// Text may not hold NUL characters: PostgreSQL cannot store them, and no field needs them.
fn nul_error(place: &'static str) -> ApiError {
    ApiError::invalid(&[place], "text must not contain NUL characters", "value_error.str.nul")
}

/// True when a JSON document has a `\u0000` escape (a raw NUL byte is not valid JSON text
/// and the parser rejects it anyway). Escapes are skipped in pairs, so `\\u0000` (an
/// escaped backslash, then `u0000`) is not one.
fn json_has_nul(b: &[u8]) -> bool {
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'u') && b.get(i + 2..i + 6) == Some(&b"0000"[..]) {
                return true;
            }
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// True when a form or query string decodes to text holding a NUL (`%00`, or a raw one).
fn form_has_nul(b: &[u8]) -> bool {
    b.contains(&0) || b.windows(3).any(|w| w == b"%00")
}

/// An `application/x-www-form-urlencoded` body (the OAuth2 password form).
pub struct FormBody<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for FormBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        if form_has_nul(&bytes) {
            return Err(nul_error("body"));
        }
        serde_html_form::from_bytes(&bytes)
            .map(FormBody)
            .map_err(|e| serde_field_error("body", String::new(), e.to_string()))
    }
}

/// A query string; repeated keys (`tags=a&tags=b`) fill `Vec` fields.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let q = parts.uri.query().unwrap_or("");
        if form_has_nul(q.as_bytes()) {
            return Err(nul_error("query"));
        }
        serde_html_form::from_str(q)
            .map(Query)
            .map_err(|e| serde_field_error("query", String::new(), e.to_string()))
    }
}

/// Path parameters.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::invalid(&["path"], e.body_text(), "type_error"))
    }
}

/// The bearer token of a request, if any.
pub fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Whoever holds a valid access token: a registered user in good standing, or a guest.
#[derive(Clone, Debug)]
pub enum Caller {
    /// A registered account (status normal).
    User(User),
    /// A guest, by UUID.
    Guest(uuid::Uuid),
}

impl Caller {
    /// The registered user, or 403 `Access Forbidden.` for guests.
    pub fn registered(self) -> Result<User, ApiError> {
        match self {
            Caller::User(u) => Ok(u),
            Caller::Guest(_) => Err(ApiError::forbidden(msg::ACCESS_FORBIDDEN)),
        }
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts).ok_or(ApiError::Unauthorized(msg::NOT_AUTHENTICATED))?;
        let v = state
            .keys
            .verify(token, Purpose::Access, true)
            .map_err(|_| ApiError::Unauthorized(msg::COULD_NOT_VALIDATE))?;
        match v.principal {
            Principal::Guest(g) => Ok(Caller::Guest(g)),
            Principal::User(id) => match state.db.user_by_id(id).await? {
                // A token minted before a password change or "sign out everywhere".
                Some(u) if u.token_version != v.version => Err(ApiError::Unauthorized(msg::COULD_NOT_VALIDATE)),
                Some(u) if u.status == users::status::NORMAL => Ok(Caller::User(u)),
                _ => Err(ApiError::not_found(msg::USER_NOT_FOUND_AUTH)),
            },
        }
    }
}

/// A registered caller; guests get 403 `Access Forbidden.`.
pub struct Registered(pub User);

impl FromRequestParts<AppState> for Registered {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Caller::from_request_parts(parts, state)
            .await?
            .registered()
            .map(Registered)
    }
}

/// A platform superuser; everyone else gets 403 `Access Forbidden.`.
pub struct Superuser(pub User);

impl FromRequestParts<AppState> for Superuser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Registered(u) = Registered::from_request_parts(parts, state).await?;
        if u.is_superuser {
            Ok(Superuser(u))
        } else {
            Err(ApiError::forbidden(msg::ACCESS_FORBIDDEN))
        }
    }
}

#[cfg(test)]
mod nul_tests {
    use super::*;

    #[test]
    fn nul_characters_are_found_in_json_forms_and_queries() {
        assert!(json_has_nul(br#"{"name":"a\u0000b"}"#));
        assert!(
            !json_has_nul(br#"{"name":"a\\u0000b"}"#),
            "an escaped backslash, then text"
        );
        assert!(!json_has_nul(br#"{"name":"a\u0041"}"#));
        assert!(form_has_nul(b"username=%00x&password=y"));
        assert!(!form_has_nul(b"username=%200&password=y"));
    }
}
