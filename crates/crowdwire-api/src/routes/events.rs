//! The activity log of a world, readable by superusers, the world's creator and
//! its role managers (fixed from the original).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_store::events::{EventQuery, kind};

use crate::error::{ApiError, ApiResult, Errors, msg};
use crate::extract::{Path, Query, Registered};
use crate::schemas::EventInDB;
use crate::state::AppState;
use crate::validate::{Paging, flexible_bool, parse_datetime};
use crowdwire_access::{Standing, live_world};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_events))
}

/// Filters of the activity log.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventSearch {
    /// Event types to include (repeat the parameter).
    #[serde(default)]
    pub event_type: Vec<String>,
    /// One user's events.
    pub user_id: Option<i64>,
    /// Newest first (default true).
    #[serde(default, deserialize_with = "flexible_bool")]
    pub order_desc: Option<bool>,
    /// From (inclusive, ISO-8601).
    pub start_date: Option<String>,
    /// To (inclusive, ISO-8601).
    pub end_date: Option<String>,
}

/// Events of a world; up to `limit + 1` rows, like every list.
#[utoipa::path(get, path = "/worlds/{world_id}/events", tag = "events", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), EventSearch, Paging),
    responses((status = 200, body = Vec<EventInDB>), Errors))]
async fn list_events(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
    Query(q): Query<EventSearch>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<EventInDB>>> {
    let allowed = user.is_superuser
        || match live_world(&state.db, world_id).await? {
            Some(w) => Standing::of(&state.db, &w, &user).await?.can_manage_roles(),
            None => false,
        };
    if !allowed {
        return Err(ApiError::forbidden(msg::ACCESS_FORBIDDEN));
    }
    if let Some(bad) = q.event_type.iter().find(|t| !kind::ALL.contains(&t.as_str())) {
        return Err(ApiError::invalid(
            &["query", "event_type"],
            format!("unknown event type {bad:?}"),
            "value_error.const",
        ));
    }
    let (offset, limit) = paging.window()?;
    let start = q
        .start_date
        .as_deref()
        .map(|s| parse_datetime("start_date", s))
        .transpose()?;
    let end = q
        .end_date
        .as_deref()
        .map(|s| parse_datetime("end_date", s))
        .transpose()?;
    let rows = state
        .db
        .search_events(&EventQuery {
            world_id,
            types: q.event_type,
            user_id: q.user_id,
            descending: q.order_desc.unwrap_or(true),
            start,
            end,
            offset,
            limit,
        })
        .await?;
    Ok(Json(rows.into_iter().map(Into::into).collect()))
}
