//! World tags.

use axum::Json;
use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::error::{ApiResult, Errors};
use crate::extract::Caller;
use crate::schemas::TagInDB;
use crate::state::AppState;

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_tags))
}

/// All tags.
#[utoipa::path(get, path = "/tags", tag = "tags", security(("bearer" = [])),
    responses((status = 200, body = Vec<TagInDB>), Errors))]
async fn list_tags(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<Vec<TagInDB>>> {
    Ok(Json(
        state
            .db
            .tags()
            .await?
            .into_iter()
            .map(|name| TagInDB { name })
            .collect(),
    ))
}
