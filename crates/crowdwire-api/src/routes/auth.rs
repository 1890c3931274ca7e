//! Sign-up, confirmation, log-in, guest tokens, refresh, Google sign-in and invite links.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::Json;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use chrono::Duration;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_auth::{PasswordCheck, Principal, Purpose, TokenError, dummy_hash};
use crowdwire_store::Timestamp;
use crowdwire_store::users::{self, NewUser, User, UserChanges};

use crate::error::{ApiError, ApiResult, Errors, OnConflict, msg};
use crate::extract::{Caller, FormBody, JsonBody, Path, Registered};
use crate::schemas::{PlainToken, RefreshedToken, StatusOk, Token, TokenGuest, TokenOwner, UserRef};
use crate::state::AppState;
use crate::validate::Checks;
use crowdwire_access::{Standing, live_world};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(register))
        .routes(routes!(confirm_email, confirm_with_password))
        .routes(routes!(confirm_email_change))
        .routes(routes!(login))
        .routes(routes!(join_guest))
        .routes(routes!(test_token))
        .routes(routes!(reset_token))
        .routes(routes!(login_google))
        .routes(routes!(generate_invite))
}

/// The client's address, for rate limiting: the peer address, or, behind a trusted reverse
/// proxy (`trust_forwarded_for`), the last address that proxy appended to `X-Forwarded-For`.
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        if state.settings.trust_forwarded_for
            && let Some(ip) = parts
                .headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .filter_map(|ip| ip.trim().parse::<IpAddr>().ok())
                .next_back()
        {
            return Ok(ClientIp(ip));
        }
        Ok(ClientIp(peer))
    }
}

fn too_many() -> ApiError {
    ApiError::Status(StatusCode::TOO_MANY_REQUESTS, msg::TOO_MANY_REQUESTS)
}

/// Takes one token from the address's bucket (see [`crate::ratelimit`]).
fn limit(state: &AppState, ip: &ClientIp) -> ApiResult<()> {
    if state.limits.address.check(ip.0) {
        Ok(())
    } else {
        Err(too_many())
    }
}

/// A failure costs its address more than a success.
fn failed(state: &AppState, ip: &ClientIp, e: ApiError) -> ApiError {
    state.limits.address.charge(&ip.0, crate::ratelimit::FAILURE_COST - 1);
    e
}

/// Mints an access token for a registered user.
pub(crate) fn user_token(state: &AppState, user: &User) -> Token {
    let m = state.keys.mint_versioned(
        Principal::User(user.user_id),
        user.token_version,
        Purpose::Access,
        Duration::minutes(state.settings.access_token_minutes),
    );
    Token {
        access_token: m.token.clone(),
        token_type: "bearer".into(),
        expire_date: m.expire_date(),
        is_superuser: user.is_superuser,
    }
}

fn guest_token(state: &AppState, guest: uuid::Uuid) -> TokenGuest {
    let m = state.keys.mint(
        Principal::Guest(guest),
        Purpose::Access,
        Duration::hours(state.settings.guest_token_hours),
    );
    TokenGuest {
        access_token: m.token.clone(),
        token_type: "bearer".into(),
        expire_date: m.expire_date(),
        is_superuser: false,
        guest_uuid: guest,
    }
}

/// A new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterBody {
    /// Display name (≤ 50).
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// E-mail (≤ 100).
    #[schema(format = Email, max_length = 100)]
    pub email: String,
    /// The plain password (the original's field name), ≤ 256.
    pub hashed_password: String,
    /// Birth date, `YYYY-MM-DD`.
    pub birth: Option<String>,
}

/// Creates an account. With SMTP configured it stays pending until the e-mailed link is
/// opened; without, it is active at once.
#[utoipa::path(post, path = "/register", tag = "auth", request_body = RegisterBody,
    responses((status = 200, body = StatusOk), Errors))]
async fn register(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonBody(body): JsonBody<RegisterBody>,
) -> ApiResult<Json<StatusOk>> {
    let mut c = Checks::new();
    c.max_len("name", Some(&body.name), 50);
    c.not_blank("name", Some(&body.name));
    c.email("email", Some(&body.email));
    c.password("hashed_password", &body.hashed_password);
    c.date("birth", body.birth.as_deref());
    c.finish()?;
    limit(&state, &ip)?;
    if let Some(existing) = state.db.user_by_email(&body.email).await? {
        // A registration never confirmed within its link's lifetime has expired: whoever
        // registers the address now replaces it (so nobody can hold an address they do not
        // read). A live one still blocks the address.
        let lifetime = state.settings.confirmation_token_hours.saturating_mul(3_600_000_000);
        let expired = existing.status == users::status::PENDING
            && existing.register_date < Timestamp::now().0.saturating_sub(lifetime);
        if !expired {
            return Err(ApiError::bad_request(msg::EMAIL_ALREADY_IN_USE));
        }
        tracing::info!(
            user_id = existing.user_id,
            "replacing a registration whose confirmation link expired"
        );
        state.db.delete_user(existing.user_id).await?;
    }
    let hash = crate::passwords::hash(body.hashed_password).await?;
    let status = if state.mailer.is_some() {
        users::status::PENDING
    } else {
        users::status::NORMAL
    };
    let user = state
        .db
        .insert_user(&NewUser {
            name: body.name.trim(),
            email: &body.email,
            hashed_password: Some(&hash),
            birth: body.birth.as_deref(),
            status,
            is_superuser: false,
            sub: None,
        })
        .await
        .on_conflict(ApiError::bad_request(msg::EMAIL_ALREADY_IN_USE))?;
    if let Some(mailer) = &state.mailer {
        let t = state.keys.mint(
            Principal::User(user.user_id),
            Purpose::Confirmation,
            Duration::hours(state.settings.confirmation_token_hours),
        );
        let link = format!("{}/confirm/{}", state.settings.public_url, t.token);
        if let Err(e) = mailer.send_confirmation(&user.name, &user.email, &link).await {
            tracing::warn!(error = %e, "confirmation mail failed; undoing the registration");
            state.db.delete_user(user.user_id).await?;
            return Err(ApiError::Status(StatusCode::SERVICE_UNAVAILABLE, msg::MAIL_FAILED));
        }
    }
    Ok(Json(StatusOk { status: "ok".into() }))
}

/// The password chosen when confirming a new account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ConfirmBody {
    /// The account's password (1–256 characters). It replaces the one given at sign-up, so
    /// whoever registered the address cannot keep a password its owner does not know.
    pub password: String,
}

/// The pending account a confirmation token names.
async fn pending_account(state: &AppState, token: &str) -> ApiResult<User> {
    let principal = state
        .keys
        .verify(token, Purpose::Confirmation, true)
        .map_err(|_| ApiError::not_found(msg::INVALID_TOKEN))?
        .principal;
    let Principal::User(id) = principal else {
        return Err(ApiError::not_found(msg::INVALID_TOKEN));
    };
    match state.db.user_by_id(id).await? {
        Some(u) if u.status == users::status::PENDING => Ok(u),
        _ => Err(ApiError::not_found(msg::USER_ALREADY_CONFIRMED)),
    }
}

/// The original's one-click confirmation. Refused: confirming must set the password (see
/// `POST /confirm/{token}`), or an address someone else registered would keep their password.
#[utoipa::path(get, path = "/confirm/{token}", tag = "auth",
    params(("token" = String, Path, description = "Confirmation token")),
    responses((status = 400, description = "Confirmation needs a password: POST it to this path"), Errors))]
async fn confirm_email(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Json<Token>> {
    pending_account(&state, &token).await?;
    Err(ApiError::bad_request(msg::CONFIRM_WITH_PASSWORD))
}

/// Confirms a new account with the token from the confirmation mail, sets its password and
/// logs in.
#[utoipa::path(post, path = "/confirm/{token}", tag = "auth",
    params(("token" = String, Path, description = "Confirmation token")), request_body = ConfirmBody,
    responses((status = 200, body = Token), Errors))]
async fn confirm_with_password(
    State(state): State<AppState>,
    Path(token): Path<String>,
    JsonBody(body): JsonBody<ConfirmBody>,
) -> ApiResult<Json<Token>> {
    let mut c = Checks::new();
    c.password("password", &body.password);
    c.finish()?;
    let user = pending_account(&state, &token).await?;
    let hash = crate::passwords::hash(body.password).await?;
    let changes = UserChanges {
        status: Some(users::status::NORMAL),
        hashed_password: Some(hash),
        revoke_tokens: true,
        ..UserChanges::default()
    };
    let user = state
        .db
        .update_user(user.user_id, &changes)
        .await?
        .ok_or(ApiError::not_found(msg::USER_ALREADY_CONFIRMED))?;
    Ok(Json(user_token(&state, &user)))
}

/// Moves an account to the address an e-mail change link was sent to, and logs in.
#[utoipa::path(post, path = "/confirm-email/{token}", tag = "auth",
    params(("token" = String, Path, description = "E-mail change token from the mail")),
    responses((status = 200, body = Token), Errors))]
async fn confirm_email_change(State(state): State<AppState>, Path(token): Path<String>) -> ApiResult<Json<Token>> {
    let (id, email, version) = state
        .keys
        .verify_email_change(&token)
        .map_err(|_| ApiError::not_found(msg::INVALID_TOKEN))?;
    let user = match state.db.user_by_id(id).await? {
        Some(u) if u.status == users::status::NORMAL && u.token_version == version => u,
        _ => return Err(ApiError::not_found(msg::INVALID_TOKEN)),
    };
    if let Some(other) = state.db.user_by_email(&email).await?
        && other.user_id != user.user_id
    {
        return Err(ApiError::bad_request(msg::EMAIL_ALREADY_IN_USE));
    }
    let changes = UserChanges {
        email: Some(email),
        ..UserChanges::default()
    };
    let user = state
        .db
        .update_user(user.user_id, &changes)
        .await
        .on_conflict(ApiError::bad_request(msg::EMAIL_ALREADY_IN_USE))?
        .ok_or(ApiError::not_found(msg::INVALID_TOKEN))?;
    Ok(Json(user_token(&state, &user)))
}

/// The OAuth2 password form.
#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginForm {
    /// The e-mail.
    pub username: String,
    /// The password.
    pub password: String,
    /// Ignored (OAuth2 form field).
    pub grant_type: Option<String>,
    /// Ignored.
    pub scope: Option<String>,
    /// Ignored.
    pub client_id: Option<String>,
    /// Ignored.
    pub client_secret: Option<String>,
}

/// Logs in with e-mail and password (form-encoded).
#[utoipa::path(post, path = "/login", tag = "auth",
    request_body(content = LoginForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, body = Token), Errors))]
async fn login(
    State(state): State<AppState>,
    ip: ClientIp,
    FormBody(form): FormBody<LoginForm>,
) -> ApiResult<Json<Token>> {
    limit(&state, &ip)?;
    let bad = || ApiError::bad_request(msg::INVALID_CREDENTIALS);
    if form.username.chars().count() > 100 || form.password.chars().count() > 256 {
        return Err(failed(&state, &ip, bad()));
    }
    if !state.limits.account.check(form.username.to_lowercase()) {
        return Err(too_many());
    }
    let user = state.db.user_by_email(&form.username).await?;
    let stored = user.as_ref().and_then(|u| u.hashed_password.clone());
    let check = crate::passwords::verify(
        form.password.clone(),
        stored.clone().unwrap_or_else(|| dummy_hash().to_owned()),
    )
    .await?;
    let (Some(user), Some(_)) = (user, stored) else {
        return Err(failed(&state, &ip, bad()));
    };
    if check == PasswordCheck::Mismatch {
        return Err(failed(&state, &ip, bad()));
    }
    if user.status != users::status::NORMAL {
        return Err(ApiError::bad_request(msg::INACTIVE_USER));
    }
    if check == PasswordCheck::OkRehash {
        let hash = crate::passwords::hash(form.password).await?;
        state
            .db
            .update_user(
                user.user_id,
                &UserChanges {
                    hashed_password: Some(hash),
                    ..UserChanges::default()
                },
            )
            .await?;
    }
    Ok(Json(user_token(&state, &user)))
}

/// Mints a token for a new guest identity.
#[utoipa::path(post, path = "/join-guest", tag = "auth", responses((status = 200, body = TokenGuest), Errors))]
async fn join_guest(State(state): State<AppState>, ip: ClientIp) -> ApiResult<Json<TokenGuest>> {
    limit(&state, &ip)?;
    Ok(Json(guest_token(&state, uuid::Uuid::new_v4())))
}

/// Says whom the token belongs to (never the password hash).
#[utoipa::path(post, path = "/login/test-token", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = TokenOwner), Errors))]
async fn test_token(caller: Caller) -> Json<TokenOwner> {
    Json(match caller {
        Caller::User(u) => TokenOwner {
            user_id: UserRef::Id(u.user_id),
            email: Some(u.email),
            name: Some(u.name),
            is_guest_user: false,
            is_superuser: u.is_superuser,
        },
        Caller::Guest(g) => TokenOwner {
            user_id: UserRef::Guest(g),
            email: None,
            name: None,
            is_guest_user: true,
            is_superuser: false,
        },
    })
}

/// Swaps a token (even one that expired less than the refresh window ago) for a new one.
/// The account must still be active.
#[utoipa::path(post, path = "/reset-token", tag = "auth", security(("bearer" = [])),
    responses((status = 200, body = RefreshedToken), Errors))]
async fn reset_token(
    State(state): State<AppState>,
    ip: ClientIp,
    parts: axum::http::HeaderMap,
) -> ApiResult<Json<RefreshedToken>> {
    // Refreshing a valid token costs nothing (a venue's clients all refresh); a bad one is a
    // failure, checked against and charged to the address.
    refresh(&state, &parts).await.map_err(|e| {
        if state.limits.address.check(ip.0) {
            failed(&state, &ip, e)
        } else {
            too_many()
        }
    })
}

async fn refresh(state: &AppState, parts: &axum::http::HeaderMap) -> ApiResult<Json<RefreshedToken>> {
    let token = parts
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .filter(|(s, _)| s.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim().to_owned())
        .ok_or(ApiError::Unauthorized(msg::NOT_AUTHENTICATED))?;
    let v = state.keys.verify(&token, Purpose::Access, false).map_err(|e| match e {
        TokenError::Expired | TokenError::Invalid => ApiError::Unauthorized(msg::COULD_NOT_VALIDATE),
    })?;
    if v.exp + state.settings.refresh_window_minutes * 60 < chrono::Utc::now().timestamp() {
        return Err(ApiError::Unauthorized(msg::SESSION_EXPIRED));
    }
    match v.principal {
        Principal::Guest(g) => Ok(Json(RefreshedToken::Guest(guest_token(state, g)))),
        Principal::User(id) => match state.db.user_by_id(id).await? {
            Some(u) if u.token_version != v.version => Err(ApiError::Unauthorized(msg::SESSION_EXPIRED)),
            Some(u) if u.status == users::status::NORMAL => Ok(Json(RefreshedToken::User(user_token(state, &u)))),
            _ => Err(ApiError::bad_request(msg::INACTIVE_USER)),
        },
    }
}

/// A Google ID token.
#[derive(Debug, Deserialize, ToSchema)]
pub struct GoogleLogin {
    /// The ID token from Google Identity Services.
    pub token: String,
}

/// Signs in with a Google ID token, creating the account on first use. Enabled only when
/// the server has a Google client id.
#[utoipa::path(post, path = "/login/google", tag = "auth", request_body = GoogleLogin,
    responses((status = 200, body = Token), Errors))]
async fn login_google(
    State(state): State<AppState>,
    ip: ClientIp,
    JsonBody(body): JsonBody<GoogleLogin>,
) -> ApiResult<Json<Token>> {
    let Some(google) = state.google.clone() else {
        return Err(ApiError::not_found(msg::GOOGLE_DISABLED));
    };
    limit(&state, &ip)?;
    if body.token.len() > 16 * 1024 {
        return Err(ApiError::Unauthorized(msg::INVALID_GOOGLE_AUTH));
    }
    let id = google
        .verify(&body.token)
        .await
        .ok_or(ApiError::Unauthorized(msg::INVALID_GOOGLE_AUTH))?;
    let user = match state.db.user_by_sub(&id.sub).await? {
        Some(u) => u,
        None => {
            let email = id
                .email
                .clone()
                .filter(|_| id.email_verified)
                .ok_or(ApiError::Unauthorized(msg::INVALID_GOOGLE_AUTH))?;
            if state.db.user_by_email(&email).await?.is_some() {
                return Err(ApiError::bad_request(msg::GOOGLE_EMAIL_ALREADY_REGISTERED));
            }
            let name: String = id
                .name
                .clone()
                .unwrap_or_else(|| email.split('@').next().unwrap_or("user").to_owned())
                .chars()
                .take(50)
                .collect();
            state
                .db
                .insert_user(&NewUser {
                    name: &name,
                    email: &email,
                    hashed_password: None,
                    birth: None,
                    status: users::status::NORMAL,
                    is_superuser: false,
                    sub: Some(&id.sub),
                })
                .await
                .on_conflict(ApiError::bad_request(msg::GOOGLE_EMAIL_ALREADY_REGISTERED))?
        }
    };
    if user.status != users::status::NORMAL {
        return Err(ApiError::bad_request(msg::INACTIVE_USER));
    }
    Ok(Json(user_token(&state, &user)))
}

/// Creates an invite link token for a world. Needs the `invite` permission (or being the
/// creator).
#[utoipa::path(post, path = "/invitation/{world_id}", tag = "auth", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = PlainToken), Errors))]
async fn generate_invite(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<PlainToken>> {
    let world = live_world(&state.db, world_id)
        .await?
        .ok_or(ApiError::forbidden(msg::INVITATION_FORBIDDEN))?;
    let standing = Standing::of(&state.db, &world, &user).await?;
    if world.status != crowdwire_store::worlds::status::NORMAL || !standing.can_invite() {
        return Err(ApiError::forbidden(msg::INVITATION_FORBIDDEN));
    }
    let m = state.keys.mint_invite(
        user.user_id,
        world_id,
        Duration::minutes(state.settings.invite_token_minutes),
    );
    Ok(Json(PlainToken {
        access_token: m.token.clone(),
        token_type: "bearer".into(),
        expire_date: m.expire_date(),
    }))
}
