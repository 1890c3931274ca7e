//! Accounts and user reports.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use chrono::Duration;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_auth::{PasswordCheck, Principal};
use crowdwire_store::reports::UserReportQuery;
use crowdwire_store::users::{self, UserChanges, UserQuery};

use crate::error::{ApiError, ApiResult, Errors, OnConflict, msg};
use crate::extract::{JsonBody, Path, Query, Registered, Superuser};
use crate::schemas::{ReportUserInDB, ReportUserInDBDetailed, StatusOk, UserInDB};
use crate::state::AppState;
use crate::validate::{Checks, Paging, flexible_bool, lenient};
use crowdwire_access::live::Eviction;
use crowdwire_access::{Standing, live_world};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(me))
        .routes(routes!(search_users))
        .routes(routes!(update_password))
        .routes(routes!(logout_everywhere))
        .routes(routes!(search_reports))
        .routes(routes!(get_user, update_user))
        .routes(routes!(reports_sent))
        .routes(routes!(report_user, reports_received))
        .routes(routes!(reports_received_in_world))
        .routes(routes!(delete_report, review_report))
}

/// The caller's account.
#[utoipa::path(get, path = "/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = UserInDB), Errors))]
async fn me(Registered(user): Registered) -> Json<UserInDB> {
    Json(user.into())
}

/// Any account (superusers).
#[utoipa::path(get, path = "/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "User id")),
    responses((status = 200, body = UserInDB), Errors))]
async fn get_user(
    State(state): State<AppState>,
    Superuser(_admin): Superuser,
    Path(user_id): Path<i64>,
) -> ApiResult<Json<UserInDB>> {
    let user = state
        .db
        .user_by_id(user_id)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_FOUND_AUTH))?;
    Ok(Json(user.into()))
}

/// Filters of the user list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UserSearch {
    /// E-mail prefix (case-insensitive).
    pub email: Option<String>,
    /// Include banned accounts (default false).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub banned: Option<bool>,
    /// Include normal accounts (default true).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub normal: Option<bool>,
    /// Only `register_date` is supported.
    pub order_by: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
}

/// Lists accounts (superusers); returns up to `limit + 1` rows.
#[utoipa::path(get, path = "/users", tag = "users", security(("bearer" = [])), params(UserSearch, Paging),
    responses((status = 200, body = Vec<UserInDB>), Errors))]
async fn search_users(
    State(state): State<AppState>,
    Superuser(_admin): Superuser,
    Query(q): Query<UserSearch>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<UserInDB>>> {
    let (offset, limit) = paging.window()?;
    let mut statuses = Vec::new();
    if q.normal.unwrap_or(true) {
        statuses.push(users::status::NORMAL);
    }
    if q.banned.unwrap_or(false) {
        statuses.push(users::status::BANNED);
    }
    let rows = state
        .db
        .search_users(&UserQuery {
            email_prefix: q.email.filter(|e| !e.is_empty()),
            statuses,
            descending: q.order.as_deref().unwrap_or("desc") == "desc",
            offset,
            limit,
        })
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Changes to an account.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserUpdate {
    /// Name (≤ 50).
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    /// E-mail.
    pub email: Option<String>,
    /// Birth date.
    pub birth: Option<String>,
    /// 0 normal or 1 banned; superusers only (others' values are ignored).
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub status: Option<i32>,
    /// Registration date; superusers only (others' values are ignored).
    pub register_date: Option<String>,
    /// The caller's current password, needed to change one's own `email` when the server
    /// sends no mail (with SMTP the new address confirms the change instead). A CrowdWire
    /// extension.
    pub current_password: Option<String>,
}

/// Edits an account: one's own, or any as a superuser. Only superusers change `status`
/// (banning ends the user's live sessions) or `register_date`.
#[utoipa::path(put, path = "/users/{user_id}", tag = "users", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "User id")), request_body = UserUpdate,
    responses((status = 200, body = UserInDB), Errors))]
async fn update_user(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Path(user_id): Path<i64>,
    JsonBody(body): JsonBody<UserUpdate>,
) -> ApiResult<Json<UserInDB>> {
    let mut c = Checks::new();
    c.max_len("name", body.name.as_deref(), 50);
    c.not_blank("name", body.name.as_deref());
    c.email("email", body.email.as_deref());
    c.date("birth", body.birth.as_deref());
    if let Some(s) = body.status
        && !(0..=3).contains(&s)
    {
        c.fail(
            "status",
            "status must be 0 (normal), 1 (banned), 2 (deleted) or 3 (pending)",
            "value_error.const",
        );
    }
    c.finish()?;
    let target = state
        .db
        .user_by_id(user_id)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_FOUND))?;
    if caller.user_id != target.user_id && !caller.is_superuser {
        return Err(ApiError::bad_request(msg::USER_EDITION_FORBIDDEN));
    }
    if let Some(email) = &body.email
        && let Some(other) = state.db.user_by_email(email).await?
        && other.user_id != target.user_id
    {
        return Err(ApiError::bad_request(msg::EMAIL_ALREADY_IN_USE));
    }
    // Moving one's own account to another address: proven by the new mailbox when the server
    // sends mail, otherwise by the current password. (A superuser may correct someone
    // else's address directly.)
    let mut email = body.email.filter(|e| !e.eq_ignore_ascii_case(&target.email));
    if let Some(new) = &email
        && caller.user_id == target.user_id
    {
        if let Some(mailer) = &state.mailer {
            let t = state.keys.mint_email_change(
                target.user_id,
                target.token_version,
                new,
                Duration::hours(state.settings.confirmation_token_hours),
            );
            let link = format!("{}/confirm-email/{}", state.settings.public_url, t.token);
            if let Err(e) = mailer.send_email_change(&target.name, new, &link).await {
                tracing::warn!(error = %e, "e-mail change mail failed");
                return Err(ApiError::Status(StatusCode::SERVICE_UNAVAILABLE, msg::MAIL_FAILED));
            }
            email = None;
        } else {
            let stored = target.hashed_password.clone();
            let given = body.current_password.clone().unwrap_or_default();
            let ok = match stored {
                Some(hash) if !given.is_empty() && given.chars().count() <= 256 => {
                    crate::passwords::verify(given, hash).await? != PasswordCheck::Mismatch
                }
                _ => false,
            };
            if !ok {
                return Err(ApiError::bad_request(msg::EMAIL_CHANGE_NEEDS_PASSWORD));
            }
        }
    }
    let register_date = match (&body.register_date, caller.is_superuser) {
        (Some(text), true) => Some(crate::validate::parse_datetime("register_date", text)?),
        _ => None,
    };
    let changes = UserChanges {
        name: body.name.map(|n| n.trim().to_owned()),
        email,
        birth: body.birth,
        status: body.status.filter(|_| caller.is_superuser),
        register_date,
        ..UserChanges::default()
    };
    let updated = state
        .db
        .update_user(user_id, &changes)
        .await
        .on_conflict(ApiError::bad_request(msg::EMAIL_ALREADY_IN_USE))?
        .ok_or(ApiError::bad_request(msg::USER_NOT_FOUND))?;
    if updated.status != users::status::NORMAL && target.status == users::status::NORMAL {
        state
            .live
            .evict(None, Principal::User(user_id), Eviction::AccountBanned)
            .await;
    }
    Ok(Json(updated.into()))
}

/// A password change.
#[derive(Debug, Deserialize, ToSchema)]
pub struct PasswordUpdate {
    /// Current password.
    pub old_password: String,
    /// New password (≤ 256).
    pub new_password: String,
}

/// Changes the caller's password.
#[utoipa::path(put, path = "/users/password-update", tag = "users", security(("bearer" = [])), request_body = PasswordUpdate,
    responses((status = 200, body = UserInDB), Errors))]
async fn update_password(
    State(state): State<AppState>,
    Registered(user): Registered,
    JsonBody(body): JsonBody<PasswordUpdate>,
) -> ApiResult<Json<UserInDB>> {
    let mut c = Checks::new();
    c.max_len("old_password", Some(&body.old_password), 256);
    c.password("new_password", &body.new_password);
    c.finish()?;
    let Some(stored) = user.hashed_password.clone() else {
        return Err(ApiError::bad_request(msg::INVALID_PASSWORD));
    };
    if crate::passwords::verify(body.old_password, stored).await? == PasswordCheck::Mismatch {
        return Err(ApiError::bad_request(msg::INVALID_PASSWORD));
    }
    let hash = crate::passwords::hash(body.new_password).await?;
    // Whoever held the old password may hold a token or a live socket: both end here. The
    // caller signs in again with the new password.
    let changes = UserChanges {
        hashed_password: Some(hash),
        ..UserChanges::default()
    };
    Ok(Json(sign_out_everywhere(&state, user.user_id, changes).await?.into()))
}

/// Applies `changes` to an account and revokes every token and live session it has.
async fn sign_out_everywhere(state: &AppState, user_id: i64, changes: UserChanges) -> ApiResult<users::User> {
    let changes = UserChanges {
        revoke_tokens: true,
        ..changes
    };
    let updated = state
        .db
        .update_user(user_id, &changes)
        .await?
        .ok_or(ApiError::not_found(msg::USER_NOT_FOUND_AUTH))?;
    state
        .live
        .evict(None, Principal::User(user_id), Eviction::SignedOut)
        .await;
    Ok(updated)
}

/// Signs the caller out everywhere: every token issued so far stops working (REST, refresh
/// and WebSocket), and the caller's live sessions are closed.
#[utoipa::path(post, path = "/users/logout-everywhere", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = StatusOk), Errors))]
async fn logout_everywhere(State(state): State<AppState>, Registered(user): Registered) -> ApiResult<Json<StatusOk>> {
    sign_out_everywhere(&state, user.user_id, UserChanges::default()).await?;
    Ok(Json(StatusOk { status: "ok".into() }))
}

/// Reports filed by a user (the user or a superuser); up to `limit + 1` rows.
#[utoipa::path(get, path = "/users/{user_id}/reports-sent", tag = "user reports", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "Reporter"), Paging),
    responses((status = 200, body = Vec<ReportUserInDB>), Errors))]
async fn reports_sent(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Path(user_id): Path<i64>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ReportUserInDB>>> {
    if caller.user_id != user_id && !caller.is_superuser {
        return Err(ApiError::bad_request(msg::USER_SENT_REPORTS_ACCESS_FORBIDDEN));
    }
    let (offset, limit) = paging.window()?;
    let rows = state.db.user_reports_sent(user_id, offset, limit).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// A report on a user.
#[derive(Debug, Deserialize, ToSchema)]
pub struct UserReportCreate {
    /// World where it happened; both users must be members.
    #[serde(deserialize_with = "lenient::int")]
    pub world_id: i64,
    /// What happened (≤ 300).
    #[schema(max_length = 300)]
    pub comment: Option<String>,
}

/// Reports user `user_id` in a world both have joined.
#[utoipa::path(post, path = "/users/{user_id}/reports-received", tag = "user reports", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "Reported user")), request_body = UserReportCreate,
    responses((status = 200, body = ReportUserInDB), Errors))]
async fn report_user(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Path(user_id): Path<i64>,
    JsonBody(body): JsonBody<UserReportCreate>,
) -> ApiResult<Json<ReportUserInDB>> {
    let mut c = Checks::new();
    c.max_len("comment", body.comment.as_deref(), 300);
    c.finish()?;
    if caller.user_id == user_id {
        return Err(ApiError::bad_request(msg::CANT_DO_SELF_REPORT));
    }
    let both = state.db.member(body.world_id, caller.user_id).await?.is_some()
        && state.db.member(body.world_id, user_id).await?.is_some();
    if !both {
        return Err(ApiError::bad_request(msg::USERS_NOT_IN_SAME_WORLD));
    }
    let report = state
        .db
        .insert_user_report(caller.user_id, user_id, body.world_id, body.comment.as_deref())
        .await
        .on_conflict(ApiError::bad_request(msg::USER_ALREADY_REPORTED_IN_THIS_WORLD))?;
    Ok(Json(report.into()))
}

/// Reports received by a user (superusers); up to `limit + 1` rows.
#[utoipa::path(get, path = "/users/{user_id}/reports-received", tag = "user reports", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "Reported user"), Paging),
    responses((status = 200, body = Vec<ReportUserInDB>), Errors))]
async fn reports_received(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Path(user_id): Path<i64>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ReportUserInDB>>> {
    if !caller.is_superuser {
        return Err(ApiError::bad_request(msg::USER_RECEIVED_REPORTS_ACCESS_FORBIDDEN));
    }
    let (offset, limit) = paging.window()?;
    let rows = state.db.user_reports_received(user_id, None, offset, limit).await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

async fn may_moderate(state: &AppState, caller: &users::User, world_id: i64) -> ApiResult<bool> {
    if caller.is_superuser {
        return Ok(true);
    }
    let Some(world) = live_world(&state.db, world_id).await? else {
        return Ok(false);
    };
    Ok(Standing::of(&state.db, &world, caller).await?.can_ban())
}

/// Reports a user received in one world (superusers, or holders of `ban` there).
#[utoipa::path(get, path = "/users/{user_id}/reports-received/{world_id}", tag = "user reports", security(("bearer" = [])),
    params(("user_id" = i64, Path, description = "Reported user"), ("world_id" = i64, Path, description = "World"), Paging),
    responses((status = 200, body = Vec<ReportUserInDB>), Errors))]
async fn reports_received_in_world(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Path((user_id, world_id)): Path<(i64, i64)>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ReportUserInDB>>> {
    if !may_moderate(&state, &caller, world_id).await? {
        return Err(ApiError::bad_request(msg::ACCESS_FORBIDDEN));
    }
    let (offset, limit) = paging.window()?;
    let rows = state
        .db
        .user_reports_received(user_id, Some(world_id), offset, limit)
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}

/// Deletes a user report (its reporter, a superuser, or a holder of `ban` in the world).
#[utoipa::path(delete, path = "/users/{reporter}/reports-sent/{world_id}/{reported}", tag = "user reports", security(("bearer" = [])),
    params(("reporter" = i64, Path, description = "Reporter"), ("world_id" = i64, Path, description = "World"), ("reported" = i64, Path, description = "Reported user")),
    responses((status = 200, body = ReportUserInDB), Errors))]
async fn delete_report(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Path((reporter, world_id, reported)): Path<(i64, i64, i64)>,
) -> ApiResult<Json<ReportUserInDB>> {
    if caller.user_id != reporter && !may_moderate(&state, &caller, world_id).await? {
        return Err(ApiError::bad_request(msg::ACCESS_FORBIDDEN));
    }
    let report = state
        .db
        .delete_user_report(reporter, world_id, reported)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_REPORT_NOT_FOUND))?;
    Ok(Json(report.into()))
}

/// Review flag of a report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct ReviewBody {
    /// Reviewed or not.
    #[serde(deserialize_with = "lenient::bool")]
    pub reviewed: bool,
}

/// Marks a user report reviewed or not (superusers).
#[utoipa::path(put, path = "/users/{reporter}/reports-sent/{world_id}/{reported}", tag = "user reports", security(("bearer" = [])),
    params(("reporter" = i64, Path, description = "Reporter"), ("world_id" = i64, Path, description = "World"), ("reported" = i64, Path, description = "Reported user")),
    request_body = ReviewBody, responses((status = 200, body = ReportUserInDB), Errors))]
async fn review_report(
    State(state): State<AppState>,
    Superuser(_admin): Superuser,
    Path((reporter, world_id, reported)): Path<(i64, i64, i64)>,
    JsonBody(body): JsonBody<ReviewBody>,
) -> ApiResult<Json<ReportUserInDB>> {
    let report = state
        .db
        .review_user_report(reporter, world_id, reported, body.reviewed)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_REPORT_NOT_FOUND))?;
    Ok(Json(report.into()))
}

/// Filters of the moderators' report list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportSearch {
    /// World (required unless superuser).
    pub world_id: Option<i64>,
    /// Reporter.
    pub reporter_id: Option<i64>,
    /// Reported user.
    pub reported_id: Option<i64>,
    /// `timestamp` (default).
    pub order_by: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
    /// Reviewed flag to match (default false).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub reviewed: Option<bool>,
}

/// User reports with names, for superusers or holders of `ban` in `world_id`; up to
/// `limit + 1` rows. The reporters' and reported users' e-mail addresses are filled in for
/// superusers only (`null` for a world's moderators).
#[utoipa::path(get, path = "/users/reports", tag = "user reports", security(("bearer" = [])), params(ReportSearch, Paging),
    responses((status = 200, body = Vec<ReportUserInDBDetailed>), Errors))]
async fn search_reports(
    State(state): State<AppState>,
    Registered(caller): Registered,
    Query(q): Query<ReportSearch>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ReportUserInDBDetailed>>> {
    if !caller.is_superuser {
        let allowed = match q.world_id {
            Some(w) => may_moderate(&state, &caller, w).await?,
            None => false,
        };
        if !allowed {
            return Err(ApiError::bad_request(msg::ROLE_INVALID_PERMISSIONS));
        }
    }
    let (offset, limit) = paging.window()?;
    let rows = state
        .db
        .search_user_reports(&UserReportQuery {
            world_id: q.world_id,
            reporter: q.reporter_id,
            reported: q.reported_id,
            reviewed: q.reviewed.unwrap_or(false),
            by_timestamp: q.order_by.as_deref().unwrap_or("timestamp") == "timestamp",
            descending: q.order.as_deref().unwrap_or("desc") == "desc",
            offset,
            limit,
        })
        .await?;
    let superuser = caller.is_superuser;
    Ok(Json(
        rows.into_iter()
            .map(|r| {
                let mut r = ReportUserInDBDetailed::from(r);
                if !superuser {
                    r.reporter_email = None;
                    r.reported_email = None;
                }
                r
            })
            .collect(),
    ))
}
