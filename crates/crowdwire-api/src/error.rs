//! The one error type of the API and how each failure looks on the wire.
//!
//! Every error body is FastAPI's: `{"detail": "<message>"}`, or for validation failures
//! (422) `{"detail": [{"loc": [...], "msg": ..., "type": ...}]}`. Internal failures are
//! logged with their cause and shown only as a generic message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// The verbatim `detail` strings of the original API, plus our own.
pub mod msg {
    #![allow(missing_docs)]
    pub const USER_NOT_IN_WORLD: &str = "User is not registered in this world.";
    pub const INVALID_CREDENTIALS: &str = "Invalid email or password.";
    pub const INVALID_PASSWORD: &str = "Invalid password.";
    pub const KICK_COOLDOWN: &str = crowdwire_access::msg::KICK_COOLDOWN;
    pub const TOO_MANY_WORLDS: &str = "You have reached the number of worlds one account may have.";
    pub const EMAIL_CHANGE_NEEDS_PASSWORD: &str =
        "Changing your e-mail needs your current password (current_password).";
    pub const EMAIL_ALREADY_IN_USE: &str = "A user with that email already exists.";
    pub const INACTIVE_USER: &str = crowdwire_access::msg::INACTIVE_USER;
    pub const INVALID_TAG: &str = "Invalid Tag. Tag does not exist.";
    pub const ACCESS_FORBIDDEN: &str = "Access Forbidden.";
    pub const INVITATION_FORBIDDEN: &str = "You do not have permission to generate invite links.";
    pub const EDITION_FORBIDDEN: &str = "You dont have access to edit this world or it does not exist.";
    pub const WORLD_NOT_FOUND: &str = crowdwire_access::msg::WORLD_NOT_FOUND;
    pub const WORLD_NAME_ALREADY_IN_USE: &str = "A world with this name already exists.";
    pub const USER_NOT_FOUND: &str = "User with this id was not found";
    pub const USER_EDITION_FORBIDDEN: &str = "You have no permission to edit this users account";
    pub const ROLES_NOT_FOUND: &str = "Role(s) Not Found for this World";
    pub const ROLE_INVALID_PERMISSIONS: &str = "Your role does not have permissions to access for this operation.";
    pub const ROLE_NAME_ALREADY_IN_USE: &str = "There is already a Role in this World, with this name ";
    pub const ROLE_DEFAULT_ALREADY_EXISTS: &str = "There is a default role for this World";
    pub const ROLE_DEFAULT_DELETE_FORBIDDEN: &str = "Cannot delete the default role of a role";
    pub const ROLE_WORLDCREATOR_DELETE_FORBIDDEN: &str = "Cannot delete the World Creator Role";
    pub const ROLE_WORLDCREATOR_UPDATE_ERROR: &str = "Cannot Change the name of the World Creator Role";
    pub const DEFAULT_ROLE_REMOVE_ERROR: &str = "cannot remove default role";
    pub const DEFAULT_ROLE_PERMISSIONS: &str = "cannot give this permissions to default role";
    pub const GOOGLE_EMAIL_ALREADY_REGISTERED: &str = "There is already an account with this email.";
    pub const WORLD_ALREADY_REPORTED_BY_USER: &str = "This world has already been reported by the user.";
    pub const WORLD_REPORT_ACCESS_FORBIDDEN: &str = "You do not have permissions to access the reports of the world.";
    pub const WORLD_NOT_REPORTED_BY_USER: &str = "This world was not reported by the user.";
    pub const USER_CANNOT_REPORT_WORLD: &str = "You must join the world in order to report it.";
    pub const USER_SENT_REPORTS_ACCESS_FORBIDDEN: &str =
        "You do not have permissions to access reports made by that user";
    pub const USER_RECEIVED_REPORTS_ACCESS_FORBIDDEN: &str =
        "You do not have permissions to access reports received by that user";
    pub const USERS_NOT_IN_SAME_WORLD: &str = "One of the users has not joined this world.";
    pub const USER_ALREADY_REPORTED_IN_THIS_WORLD: &str = "You have already reported this user in this world.";
    pub const USER_REPORT_NOT_FOUND: &str = "This report does not exist.";
    pub const INVALID_PAGE_NUMBER: &str = "Invalid page number.";
    pub const INVALID_WORLD_VISIBILITY_FILTER: &str = "The filter provided is not valid.";
    pub const USER_NO_ROLE_PERMISSIONS: &str = "Your role does not have access to this functionality.";
    pub const USER_IS_NOT_BANNABLE: &str = "You cannot ban this user.";
    pub const CHANGE_USER_INFO_FORBIDDEN: &str = "You cannot change this user info.";
    pub const NO_EFFECT_REQUEST: &str = "This request has no effect.";
    pub const CANT_DO_SELF_REPORT: &str = "Cannot report yourself.";
    pub const WORLD_IS_FULL_GUEST: &str = "World is currently full.";
    pub const WORLD_IS_FULL: &str = "World is currently full";
    pub const ALREADY_IN_WORLD: &str = "An user with the same account is already in this world.";
    pub const COULD_NOT_VALIDATE: &str = crowdwire_access::msg::COULD_NOT_VALIDATE;
    pub const USER_NOT_FOUND_AUTH: &str = crowdwire_access::msg::USER_NOT_FOUND_AUTH;
    pub const INVALID_TOKEN: &str = "Invalid Token";
    pub const USER_ALREADY_CONFIRMED: &str = "User does not exist or is already confirmed";
    pub const CONFIRM_WITH_PASSWORD: &str =
        "Choose your password to confirm this address: POST {\"password\": …} to this URL.";
    pub const INVALID_INVITE: &str = "Invalid Invite";
    pub const SESSION_EXPIRED: &str = "Session Expired";
    pub const NOT_AUTHENTICATED: &str = "Not authenticated";
    pub const INVALID_GOOGLE_AUTH: &str = "Invalid Authentication";
    pub const GOOGLE_DISABLED: &str = "Google sign-in is not enabled on this server.";
    pub const TOO_MANY_REQUESTS: &str = "Too many requests. Try again later.";
    pub const MAIL_FAILED: &str = "The confirmation e-mail could not be sent. Try again later.";
    pub const CHART_RANGE: &str =
        "Invalid date range: end_date must not precede start_date, and the range may span at most 366 days.";
    pub const INVALID_WORLD_MAP: &str = "world_map must be a Tiled JSON map the server can run";
    pub const INTERNAL: &str = "Internal server error";
    pub const NOT_FOUND: &str = "Not Found";
    pub const METHOD_NOT_ALLOWED: &str = "Method Not Allowed";
    pub const BODY_TOO_LARGE: &str = "Request body too large";
}

/// `{"detail": "<message>"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// What went wrong, in words.
    pub detail: String,
}

/// One validation failure, as FastAPI reports it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FieldError {
    /// Where: `["body", "name"]`, `["query", "page"]`, `["path", "world_id"]`.
    pub loc: Vec<String>,
    /// Human-readable reason.
    pub msg: String,
    /// Machine-readable kind, e.g. `value_error.missing`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `{"detail": [FieldError, ...]}` (status 422).
#[derive(Debug, Serialize, ToSchema)]
pub struct ValidationErrorBody {
    /// The failures.
    pub detail: Vec<FieldError>,
}

/// A failed request.
#[derive(Debug)]
pub enum ApiError {
    /// A status with a `detail` message.
    Status(StatusCode, &'static str),
    /// 401 with `WWW-Authenticate: Bearer`.
    Unauthorized(&'static str),
    /// 422 with field errors.
    Validation(Vec<FieldError>),
    /// 500; the cause is logged, not shown.
    Internal(String),
}

impl ApiError {
    /// 400 with `detail`.
    pub fn bad_request(detail: &'static str) -> ApiError {
        ApiError::Status(StatusCode::BAD_REQUEST, detail)
    }
    /// 403 with `detail`.
    pub fn forbidden(detail: &'static str) -> ApiError {
        ApiError::Status(StatusCode::FORBIDDEN, detail)
    }
    /// 404 with `detail`.
    pub fn not_found(detail: &'static str) -> ApiError {
        ApiError::Status(StatusCode::NOT_FOUND, detail)
    }
    /// 422 for one field.
    pub fn invalid(loc: &[&str], msg: impl Into<String>, kind: &str) -> ApiError {
        ApiError::Validation(vec![FieldError {
            loc: loc.iter().map(|s| s.to_string()).collect(),
            msg: msg.into(),
            kind: kind.into(),
        }])
    }
}

impl From<crowdwire_access::AccessError> for ApiError {
    fn from(e: crowdwire_access::AccessError) -> ApiError {
        match e {
            crowdwire_access::AccessError::Refused(why) => ApiError::bad_request(why),
            crowdwire_access::AccessError::Store(e) => e.into(),
            crowdwire_access::AccessError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<crowdwire_store::StoreError> for ApiError {
    fn from(e: crowdwire_store::StoreError) -> ApiError {
        ApiError::Internal(e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status(code, detail) => (code, Json(ErrorBody { detail: detail.into() })).into_response(),
            ApiError::Unauthorized(detail) => {
                let mut r = (StatusCode::UNAUTHORIZED, Json(ErrorBody { detail: detail.into() })).into_response();
                r.headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                r
            }
            ApiError::Validation(detail) => {
                (StatusCode::UNPROCESSABLE_ENTITY, Json(ValidationErrorBody { detail })).into_response()
            }
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    Json(ErrorBody {
                        detail: msg::INTERNAL.into(),
                    }),
                )
                    .into_response()
            }
        }
    }
}

/// Result alias for handlers.
pub type ApiResult<T> = Result<T, ApiError>;

/// Turns a unique-constraint violation into the given 4xx; other errors stay internal.
pub trait OnConflict<T> {
    /// Maps a lost insert race (or duplicate) to `err`.
    fn on_conflict(self, err: ApiError) -> ApiResult<T>;
    /// Maps a reference to a row deleted meanwhile (foreign-key violation) to `err`.
    fn on_missing_reference(self, err: ApiError) -> ApiResult<T>;
}

impl<T> OnConflict<T> for Result<T, crowdwire_store::StoreError> {
    fn on_conflict(self, err: ApiError) -> ApiResult<T> {
        match self {
            Ok(v) => Ok(v),
            Err(e) if e.is_unique_violation() => Err(err),
            Err(e) => Err(e.into()),
        }
    }

    fn on_missing_reference(self, err: ApiError) -> ApiResult<T> {
        match self {
            Ok(v) => Ok(v),
            Err(e) if e.is_foreign_key_violation() => Err(err),
            Err(e) => Err(e.into()),
        }
    }
}

/// The error responses every endpoint may give, for the OpenAPI document.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)]
pub enum Errors {
    /// A rule refused the request.
    #[response(status = 400, description = "Refused by a rule; `detail` says which")]
    BadRequest(ErrorBody),
    /// No valid token.
    #[response(status = 401, description = "Missing, invalid or expired token")]
    Unauthorized(ErrorBody),
    /// Not allowed.
    #[response(status = 403, description = "The caller may not do this")]
    Forbidden(ErrorBody),
    /// Not found.
    #[response(
        status = 404,
        description = "No such resource, or the caller's account is not active"
    )]
    NotFound(ErrorBody),
    /// Body too large.
    #[response(status = 413, description = "Request body too large")]
    TooLarge(ErrorBody),
    /// Validation failed.
    #[response(status = 422, description = "Malformed or invalid input")]
    Invalid(ValidationErrorBody),
    /// Rate limited.
    #[response(status = 429, description = "Too many requests from this address")]
    TooMany(ErrorBody),
    /// A dependency is unavailable.
    #[response(status = 503, description = "A backend (database, mail server) is unavailable")]
    Unavailable(ErrorBody),
}
