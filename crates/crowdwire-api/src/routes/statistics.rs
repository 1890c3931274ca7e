//! Platform and world statistics. Each chart is one grouped SQL query over a
//! range of at most 366 days, whatever its length.

use std::collections::BTreeMap;

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_store::Timestamp;
use crowdwire_store::stats::Bucket;

use crate::error::{ApiError, ApiResult, Errors, msg};
use crate::extract::{Path, Query, Registered, Superuser};
use crate::schemas::{GlobalStatistics, WorldStatistics};
use crate::state::AppState;
use crate::validate::parse_datetime;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(global))
        .routes(routes!(world))
        .routes(routes!(world_chart))
        .routes(routes!(active_users_chart))
        .routes(routes!(new_users_chart))
}

const HOUR: i64 = 3_600_000_000;
const MAX_HOURS: i64 = 366 * 24;

/// Platform counters (superusers).
#[utoipa::path(get, path = "/statistics", tag = "statistics", security(("bearer" = [])),
    responses((status = 200, body = GlobalStatistics), Errors))]
async fn global(State(state): State<AppState>, Superuser(_admin): Superuser) -> ApiResult<Json<GlobalStatistics>> {
    let c = state.db.global_counts().await?;
    Ok(Json(GlobalStatistics {
        users: c.users,
        worlds: c.worlds,
        user_reports: c.user_reports,
        world_reports: c.world_reports,
        online_users: state.live.online_total().await,
    }))
}

async fn require_owner(state: &AppState, user: &crowdwire_store::users::User, world_id: i64) -> ApiResult<()> {
    let world = state
        .db
        .world_by_id(world_id)
        .await?
        .ok_or(ApiError::bad_request(msg::WORLD_NOT_FOUND))?;
    if user.is_superuser || world.creator == Some(user.user_id) {
        Ok(())
    } else {
        Err(ApiError::forbidden(msg::ACCESS_FORBIDDEN))
    }
}

/// A world's counters (superusers and the creator).
#[utoipa::path(get, path = "/statistics/worlds/{world_id}", tag = "statistics", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = WorldStatistics), Errors))]
async fn world(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<WorldStatistics>> {
    require_owner(&state, &user, world_id).await?;
    let c = state.db.world_counts(world_id).await?;
    Ok(Json(WorldStatistics {
        world_id,
        total_users: c.total_users,
        online_users: state.live.online_count(world_id).await,
        reports_users: c.reports_users,
        total_n_joins: c.total_n_joins,
    }))
}

/// A chart's range.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChartRange {
    /// First hour (ISO-8601 datetime).
    pub start_date: String,
    /// Last instant (ISO-8601 datetime); defaults to now.
    pub end_date: Option<String>,
}

/// Hour buckets `start + i h` for `i = 0..=floor((end - start) / 1 h)`.
fn range(r: &ChartRange) -> ApiResult<(i64, i64, i64)> {
    let start = parse_datetime("start_date", &r.start_date)?;
    let end = match &r.end_date {
        Some(e) => parse_datetime("end_date", e)?,
        None => Timestamp::now().0,
    };
    let span = end.checked_sub(start).filter(|s| (0..=MAX_HOURS * HOUR).contains(s));
    let Some(span) = span else {
        return Err(ApiError::bad_request(msg::CHART_RANGE));
    };
    Ok((start, end, span / HOUR + 1))
}

/// The original's chart shape: one `{"<YYYY-MM-DD HH:MM:SS>": n}` object per hour.
fn series(start: i64, buckets: i64, rows: Vec<Bucket>) -> Vec<BTreeMap<String, i64>> {
    let mut counts = vec![0i64; buckets as usize];
    for (i, n) in rows {
        if let Some(slot) = usize::try_from(i).ok().and_then(|i| counts.get_mut(i)) {
            *slot = n;
        }
    }
    counts
        .into_iter()
        .enumerate()
        .map(|(i, n)| BTreeMap::from([(Timestamp(start + i as i64 * HOUR).python_str(), n)]))
        .collect()
}

/// Distinct users entering a world, per hour (superusers and the creator).
#[utoipa::path(get, path = "/statistics/worlds/{world_id}/charts", tag = "statistics", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), ChartRange),
    responses((status = 200, body = Vec<BTreeMap<String, i64>>), Errors))]
async fn world_chart(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
    Query(r): Query<ChartRange>,
) -> ApiResult<Json<Vec<BTreeMap<String, i64>>>> {
    require_owner(&state, &user, world_id).await?;
    let (start, end, n) = range(&r)?;
    Ok(Json(series(
        start,
        n,
        state.db.hourly_active_users(Some(world_id), start, end).await?,
    )))
}

/// Distinct users entering any world, per hour (superusers).
#[utoipa::path(get, path = "/statistics/charts/active-users", tag = "statistics", security(("bearer" = [])), params(ChartRange),
    responses((status = 200, body = Vec<BTreeMap<String, i64>>), Errors))]
async fn active_users_chart(
    State(state): State<AppState>,
    Superuser(_admin): Superuser,
    Query(r): Query<ChartRange>,
) -> ApiResult<Json<Vec<BTreeMap<String, i64>>>> {
    let (start, end, n) = range(&r)?;
    Ok(Json(series(
        start,
        n,
        state.db.hourly_active_users(None, start, end).await?,
    )))
}

/// Accounts registered per hour (superusers).
#[utoipa::path(get, path = "/statistics/charts/new-users", tag = "statistics", security(("bearer" = [])), params(ChartRange),
    responses((status = 200, body = Vec<BTreeMap<String, i64>>), Errors))]
async fn new_users_chart(
    State(state): State<AppState>,
    Superuser(_admin): Superuser,
    Query(r): Query<ChartRange>,
) -> ApiResult<Json<Vec<BTreeMap<String, i64>>>> {
    let (start, end, n) = range(&r)?;
    Ok(Json(series(start, n, state.db.hourly_new_users(start, end).await?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_fills_empty_hours_and_keys_like_python() {
        let start = 1_622_548_800_000_000; // 2021-06-01 12:00:00
        let s = series(start, 3, vec![(0, 2), (2, 5)]);
        assert_eq!(s.len(), 3);
        assert_eq!(s[0]["2021-06-01 12:00:00"], 2);
        assert_eq!(s[1]["2021-06-01 13:00:00"], 0);
        assert_eq!(s[2]["2021-06-01 14:00:00"], 5);
    }
}
