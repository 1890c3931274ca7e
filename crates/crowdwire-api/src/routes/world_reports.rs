//! Reports on worlds.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_store::reports::WorldReportQuery;

use crate::error::{ApiError, ApiResult, Errors, OnConflict, msg};
use crate::extract::{JsonBody, Path, Query, Registered, Superuser};
use crate::schemas::{ReportWorldInDB, ReportWorldInDBWithEmail};
use crate::state::AppState;
use crate::validate::{Checks, Paging, flexible_bool, lenient};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(report_world, withdraw_report, review_report))
        .routes(routes!(world_reports))
}

/// A report on a world.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorldReportCreate {
    /// What is wrong (≤ 300).
    #[schema(max_length = 300)]
    pub comment: String,
}

/// Reports a world the caller has joined (once per user).
#[utoipa::path(post, path = "/worlds/{world_id}/reports", tag = "world reports", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")), request_body = WorldReportCreate,
    responses((status = 200, body = ReportWorldInDB), Errors))]
async fn report_world(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
    JsonBody(b): JsonBody<WorldReportCreate>,
) -> ApiResult<Json<ReportWorldInDB>> {
    let mut c = Checks::new();
    c.max_len("comment", Some(&b.comment), 300);
    c.finish()?;
    if state.db.member(world_id, user.user_id).await?.is_none() {
        return Err(ApiError::bad_request(msg::USER_CANNOT_REPORT_WORLD));
    }
    let r = state
        .db
        .insert_world_report(world_id, user.user_id, &b.comment)
        .await
        .on_conflict(ApiError::bad_request(msg::WORLD_ALREADY_REPORTED_BY_USER))?;
    Ok(Json(r.into()))
}

/// Withdraws the caller's report on a world.
#[utoipa::path(delete, path = "/worlds/{world_id}/reports", tag = "world reports", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = ReportWorldInDB), Errors))]
async fn withdraw_report(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<ReportWorldInDB>> {
    let r = state
        .db
        .delete_world_report(world_id, user.user_id)
        .await?
        .ok_or(ApiError::bad_request(msg::WORLD_NOT_REPORTED_BY_USER))?;
    Ok(Json(r.into()))
}

/// Review of a world report.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorldReportReview {
    /// Who filed the report.
    #[serde(deserialize_with = "lenient::int")]
    pub reporter: i64,
    /// Reviewed or not.
    #[serde(deserialize_with = "lenient::bool")]
    pub reviewed: bool,
}

/// Marks a world report reviewed or not (superusers).
#[utoipa::path(put, path = "/worlds/{world_id}/reports", tag = "world reports", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")), request_body = WorldReportReview,
    responses((status = 200, body = ReportWorldInDB), Errors))]
async fn review_report(
    State(state): State<AppState>,
    Superuser(_admin): Superuser,
    Path(world_id): Path<i64>,
    JsonBody(b): JsonBody<WorldReportReview>,
) -> ApiResult<Json<ReportWorldInDB>> {
    let r = state
        .db
        .world_report(world_id, b.reporter)
        .await?
        .ok_or(ApiError::forbidden(msg::WORLD_NOT_REPORTED_BY_USER))?;
    if r.reviewed == b.reviewed {
        return Err(ApiError::forbidden(msg::NO_EFFECT_REQUEST));
    }
    let r = state
        .db
        .review_world_report(world_id, b.reporter, b.reviewed)
        .await?
        .ok_or(ApiError::forbidden(msg::WORLD_NOT_REPORTED_BY_USER))?;
    Ok(Json(r.into()))
}

/// Filters of the world-report list.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorldReportSearch {
    /// World id.
    pub world: Option<i64>,
    /// Reporter id.
    pub reporter: Option<i64>,
    /// Reviewed flag to match (default false).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub reviewed: Option<bool>,
    /// Reports on banned worlds (default false: on open worlds).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub banned: Option<bool>,
    /// `timestamp` (default).
    pub order_by: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
}

/// World reports (superusers); up to `limit + 1` rows.
#[utoipa::path(get, path = "/worlds/reports", tag = "world reports", security(("bearer" = [])), params(WorldReportSearch, Paging),
    responses((status = 200, body = Vec<ReportWorldInDBWithEmail>), Errors))]
async fn world_reports(
    State(state): State<AppState>,
    Registered(user): Registered,
    Query(q): Query<WorldReportSearch>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<ReportWorldInDBWithEmail>>> {
    if !user.is_superuser {
        return Err(ApiError::forbidden(msg::WORLD_REPORT_ACCESS_FORBIDDEN));
    }
    let (offset, limit) = paging.window()?;
    let rows = state
        .db
        .search_world_reports(&WorldReportQuery {
            world_id: q.world,
            reporter: q.reporter,
            reviewed: q.reviewed.unwrap_or(false),
            banned: q.banned.unwrap_or(false),
            by_timestamp: q.order_by.as_deref().unwrap_or("timestamp") == "timestamp",
            descending: q.order.as_deref().unwrap_or("desc") == "desc",
            offset,
            limit,
        })
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}
