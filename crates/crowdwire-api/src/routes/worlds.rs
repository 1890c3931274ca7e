//! Worlds: browse, create, edit, delete. Entering them and memberships are in `members.rs`;
//! reports on them in `world_reports.rs`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_store::users::User;
use crowdwire_store::worlds::{self, NewWorld, Scope, World, WorldChanges, WorldQuery};
use crowdwire_world::map::WorldMap;

use crate::error::{ApiError, ApiResult, Errors, OnConflict, msg};
use crate::extract::{Caller, JsonBody, Path, Query, Registered};
use crate::schemas::{WorldInDB, WorldInDBWithUserPermissions, WorldMapInDB};
use crate::state::AppState;
use crate::validate::{Checks, Paging, flexible_bool, lenient};
use crowdwire_access::live::Eviction;
use crowdwire_access::{Standing, live_world, random_avatar};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_worlds, create_world))
        .routes(routes!(get_world, update_world, delete_world))
        .routes(routes!(crate::images::serve))
}

/// Builds `WorldInDB` rows with tags and online counts, in two queries.
pub(crate) async fn with_details(state: &AppState, rows: Vec<World>) -> ApiResult<Vec<WorldInDB>> {
    let ids: Vec<i64> = rows.iter().map(|w| w.world_id).collect();
    let mut tags = state.db.tags_of(&ids).await?;
    let online = state.live.online_counts(&ids).await;
    Ok(rows
        .into_iter()
        .map(|w| {
            let id = w.world_id;
            WorldInDB::new(
                w,
                tags.remove(&id).unwrap_or_default(),
                online.get(&id).copied().unwrap_or(0),
            )
        })
        .collect())
}

async fn with_map(state: &AppState, world: World) -> ApiResult<WorldMapInDB> {
    let map = state.db.world_map(world.world_id).await?.unwrap_or_default();
    let world = with_details(state, vec![world])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal("world vanished".into()))?;
    Ok(WorldMapInDB { world, world_map: map })
}

/// True when a map is acceptable: a JSON object (a Tiled map).
/// At most this many maps are parsed at once (each on a blocking thread, bounded by the
/// map parser's own caps), so uploads cannot take every core.
static MAP_PARSES: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Parses a map the way the world will, on a blocking thread: 422 saying why when it is not
/// a Tiled map the server can run (not JSON, no size, too many layers, too much tile data).
/// Gives the text back.
async fn check_map(map: String) -> ApiResult<String> {
    let _permit = MAP_PARSES
        .acquire()
        .await
        .map_err(|_| ApiError::Internal("map parser closed".into()))?;
    let (parsed, map) = tokio::task::spawn_blocking(move || (WorldMap::parse(&map).map(|_| ()), map))
        .await
        .map_err(|e| ApiError::Internal(format!("map parser: {e}")))?;
    match parsed {
        Ok(()) => Ok(map),
        Err(e) => Err(ApiError::invalid(
            &["body", "world_map"],
            format!("{} ({})", msg::INVALID_WORLD_MAP, e.0),
            "value_error.world_map",
        )),
    }
}

fn check_max_users(c: &mut Checks, v: Option<i32>) {
    if let Some(n) = v
        && !(1..=1000).contains(&n)
    {
        c.fail("max_users", "Max_Users should be between 1 and 1000", "value_error");
    }
}

/// Filters of the world browser.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorldSearch {
    /// Substring of the name or description (case-insensitive).
    pub search: Option<String>,
    /// Worlds with at least one of these tags (repeat the parameter).
    #[serde(default)]
    pub tags: Vec<String>,
    /// `public`, `joined` or `owned` (required unless superuser; guests: `public`).
    pub visibility: Option<String>,
    /// Superusers without `visibility`: include banned worlds.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub banned: Option<bool>,
    /// Superusers without `visibility`: include deleted worlds.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub deleted: Option<bool>,
    /// Superusers without `visibility`: include open worlds.
    #[serde(default, deserialize_with = "flexible_bool")]
    pub normal: Option<bool>,
    /// Superusers without `visibility`: only this creator's worlds.
    pub creator: Option<i64>,
    /// `timestamp` (default, creation date) or anything else (by id).
    pub order_by: Option<String>,
    /// `desc` (default) or `asc`.
    pub order: Option<String>,
}

/// Searches worlds; returns up to `limit + 1` rows with live online counts.
#[utoipa::path(get, path = "/worlds", tag = "worlds", security(("bearer" = [])), params(WorldSearch, Paging),
    responses((status = 200, body = Vec<WorldInDB>), Errors))]
async fn search_worlds(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<WorldSearch>,
    Query(paging): Query<Paging>,
) -> ApiResult<Json<Vec<WorldInDB>>> {
    let scope = match (&caller, q.visibility.as_deref()) {
        (Caller::Guest(_), Some("public")) => Scope::GuestVisible,
        (Caller::Guest(_), _) => return Err(ApiError::bad_request(msg::INVALID_WORLD_VISIBILITY_FILTER)),
        (Caller::User(_), Some("public")) => Scope::Public,
        (Caller::User(u), Some("joined")) => Scope::JoinedBy(u.user_id),
        (Caller::User(u), Some("owned")) => Scope::OwnedBy(u.user_id),
        (Caller::User(u), None) if u.is_superuser => {
            let mut statuses = Vec::new();
            if q.normal.unwrap_or(false) {
                statuses.push(worlds::status::NORMAL);
            }
            if q.banned.unwrap_or(false) {
                statuses.push(worlds::status::BANNED);
            }
            if q.deleted.unwrap_or(false) {
                statuses.push(worlds::status::DELETED);
            }
            Scope::Admin {
                statuses,
                creator: q.creator,
            }
        }
        (Caller::User(_), _) => return Err(ApiError::bad_request(msg::INVALID_WORLD_VISIBILITY_FILTER)),
    };
    let (offset, limit) = paging.window()?;
    if q.search.as_deref().is_some_and(|s| s.chars().count() > 100) || q.tags.len() > 50 {
        return Err(ApiError::invalid(
            &["query", "search"],
            "search text or tag list too long",
            "value_error",
        ));
    }
    let rows = state
        .db
        .search_worlds(&WorldQuery {
            scope,
            search: q.search.unwrap_or_default(),
            tags: q.tags,
            by_creation: q.order_by.as_deref().unwrap_or("timestamp") == "timestamp",
            descending: q.order.as_deref().unwrap_or("desc") == "desc",
            offset,
            limit,
        })
        .await?;
    Ok(Json(with_details(&state, rows).await?))
}

/// May `user` see this world's details? Open public worlds: anyone. Private worlds: members
/// (not banned) and the creator. Banned worlds: the creator. Superusers: everything. A
/// member banned from the world (even its creator) sees nothing.
fn may_view(world: &World, user: &User, standing: &Standing) -> bool {
    if user.is_superuser {
        return true;
    }
    if standing.is_banned() {
        return false;
    }
    standing.creator || (world.status == worlds::status::NORMAL && (world.public || standing.is_member()))
}

/// A world's details, map and the caller's permissions there.
#[utoipa::path(get, path = "/worlds/{world_id}", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = WorldInDBWithUserPermissions), Errors))]
async fn get_world(
    State(state): State<AppState>,
    caller: Caller,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<WorldInDBWithUserPermissions>> {
    let not_found = || ApiError::bad_request(msg::WORLD_NOT_FOUND);
    let world = live_world(&state.db, world_id).await?.ok_or_else(not_found)?;
    let (is_creator, can_manage) = match &caller {
        Caller::User(u) => {
            let standing = Standing::of(&state.db, &world, u).await?;
            if !may_view(&world, u, &standing) {
                return Err(not_found());
            }
            (standing.creator, standing.can_manage_roles())
        }
        Caller::Guest(g) => {
            let has_profile = state.db.guest(world_id, &g.to_string()).await?.is_some();
            if world.status != worlds::status::NORMAL || !world.allow_guests || !(world.public || has_profile) {
                return Err(not_found());
            }
            (false, false)
        }
    };
    Ok(Json(WorldInDBWithUserPermissions {
        world: with_map(&state, world).await?,
        is_creator,
        can_manage,
    }))
}

/// A new world.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorldCreate {
    /// Name (≤ 50), unique among worlds.
    #[schema(min_length = 1, max_length = 50)]
    pub name: String,
    /// Listed publicly.
    #[serde(deserialize_with = "lenient::bool")]
    pub public: bool,
    /// Guests may enter.
    #[serde(deserialize_with = "lenient::bool")]
    pub allow_guests: bool,
    /// Tag names.
    pub tags: Vec<String>,
    /// Tiled JSON map, as a string.
    pub world_map: String,
    /// Description (≤ 300).
    #[schema(max_length = 300)]
    pub description: Option<String>,
    /// Capacity 1..1000; omitted or null for unlimited.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub max_users: Option<i32>,
    /// Image as a data URL.
    pub profile_image: Option<String>,
}

/// Creates a world with `default` and `Admin` roles; the creator joins holding `Admin`.
#[utoipa::path(post, path = "/worlds", tag = "worlds", security(("bearer" = [])), request_body = WorldCreate,
    responses((status = 200, body = WorldMapInDB), Errors))]
async fn create_world(
    State(state): State<AppState>,
    Registered(user): Registered,
    JsonBody(body): JsonBody<WorldCreate>,
) -> ApiResult<Json<WorldMapInDB>> {
    let mut c = Checks::new();
    c.max_len("name", Some(&body.name), 50);
    c.not_blank("name", Some(&body.name));
    c.max_len("description", body.description.as_deref(), 300);
    check_max_users(&mut c, body.max_users);
    if body.tags.len() > 20 {
        c.fail("tags", "at most 20 tags", "value_error.list.max_items");
    }
    c.finish()?;
    if !user.is_superuser && state.db.worlds_created_by(user.user_id).await? >= state.settings.max_worlds_per_user {
        return Err(ApiError::bad_request(msg::TOO_MANY_WORLDS));
    }
    let world_map = check_map(body.world_map).await?;
    let profile_image = match body.profile_image {
        Some(v) => Some(crate::images::accept(&state, v).await?),
        None => None,
    };
    let name = body.name.trim().to_owned();
    if state.db.world_name_taken(&name, None).await? {
        return Err(ApiError::bad_request(msg::WORLD_NAME_ALREADY_IN_USE));
    }
    if !state.db.unknown_tags(&body.tags).await?.is_empty() {
        return Err(ApiError::bad_request(msg::INVALID_TAG));
    }
    let new = NewWorld {
        creator: user.user_id,
        name,
        description: body.description,
        max_users: body.max_users,
        public: body.public,
        allow_guests: body.allow_guests,
        world_map,
        profile_image,
        tags: body.tags,
    };
    let (world, _admin) = state
        .db
        .create_world(&new, random_avatar(), &user.name)
        .await
        .on_conflict(ApiError::bad_request(msg::WORLD_NAME_ALREADY_IN_USE))?;
    Ok(Json(with_map(&state, world).await?))
}

/// Changes to a world; absent or null fields are left as they are.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorldUpdate {
    /// Name (≤ 50).
    #[schema(min_length = 1, max_length = 50)]
    pub name: Option<String>,
    /// Description (≤ 300).
    #[schema(max_length = 300)]
    pub description: Option<String>,
    /// Capacity 1..1000.
    #[schema(minimum = 1, maximum = 1000)]
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub max_users: Option<i32>,
    /// Listed publicly.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub public: Option<bool>,
    /// Guests may enter.
    #[serde(default, deserialize_with = "lenient::opt_bool")]
    pub allow_guests: Option<bool>,
    /// 0 normal or 1 banned; superusers only.
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub status: Option<i32>,
    /// Image.
    pub profile_image: Option<String>,
    /// Replacement tag set.
    pub tags: Option<Vec<String>>,
    /// New Tiled JSON map.
    pub world_map: Option<String>,
}

/// Edits a world (its creator, or a superuser). Only superusers change `status` (ban or
/// unban); banning closes every live session in the world.
#[utoipa::path(put, path = "/worlds/{world_id}", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")), request_body = WorldUpdate,
    responses((status = 200, body = WorldMapInDB), Errors))]
async fn update_world(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
    JsonBody(body): JsonBody<WorldUpdate>,
) -> ApiResult<Json<WorldMapInDB>> {
    let mut c = Checks::new();
    c.max_len("name", body.name.as_deref(), 50);
    c.not_blank("name", body.name.as_deref());
    c.max_len("description", body.description.as_deref(), 300);
    check_max_users(&mut c, body.max_users);
    if let Some(s) = body.status
        && !(0..=1).contains(&s)
    {
        c.fail(
            "status",
            "status must be 0 (normal) or 1 (banned); delete a world with DELETE",
            "value_error.const",
        );
    }
    if body.tags.as_ref().is_some_and(|t| t.len() > 20) {
        c.fail("tags", "at most 20 tags", "value_error.list.max_items");
    }
    c.finish()?;
    let world = live_world(&state.db, world_id)
        .await?
        .ok_or(ApiError::bad_request(msg::EDITION_FORBIDDEN))?;
    let is_creator = world.creator == Some(user.user_id);
    if !user.is_superuser && !is_creator {
        return Err(ApiError::bad_request(msg::EDITION_FORBIDDEN));
    }
    if world.status == worlds::status::BANNED && !user.is_superuser {
        return Err(ApiError::forbidden(msg::ACCESS_FORBIDDEN));
    }
    if body.status.is_some() && !user.is_superuser {
        return Err(ApiError::forbidden(msg::ACCESS_FORBIDDEN));
    }
    if !state.limits.world_edits.check(user.user_id) {
        return Err(ApiError::Status(StatusCode::TOO_MANY_REQUESTS, msg::TOO_MANY_REQUESTS));
    }
    // A map sent back unchanged (the original client sends it with every edit) is neither
    // parsed nor stored again, and the live world keeps the one it runs.
    let world_map = match body.world_map {
        Some(m) if state.db.world_map(world_id).await?.as_deref() != Some(m.as_str()) => Some(check_map(m).await?),
        _ => None,
    };
    let map_changed = world_map.is_some();
    let profile_image = match body.profile_image {
        Some(v) if world.profile_image.as_deref() != Some(v.as_str()) => Some(crate::images::accept(&state, v).await?),
        _ => None,
    };
    let name = body.name.map(|n| n.trim().to_owned());
    if let Some(n) = &name
        && state.db.world_name_taken(n, Some(world_id)).await?
    {
        return Err(ApiError::bad_request(msg::WORLD_NAME_ALREADY_IN_USE));
    }
    if let Some(tags) = &body.tags
        && !state.db.unknown_tags(tags).await?.is_empty()
    {
        return Err(ApiError::bad_request(msg::INVALID_TAG));
    }
    let changes = WorldChanges {
        name,
        description: body.description,
        max_users: body.max_users,
        public: body.public,
        allow_guests: body.allow_guests,
        status: body.status,
        profile_image: profile_image.clone(),
        world_map,
        tags: body.tags,
    };
    let updated = state
        .db
        .update_world(world_id, &changes)
        .await
        .on_conflict(ApiError::bad_request(msg::WORLD_NAME_ALREADY_IN_USE))?
        .ok_or(ApiError::bad_request(msg::EDITION_FORBIDDEN))?;
    if profile_image.is_some()
        && let Some(old) = world.profile_image.as_deref().and_then(crate::images::image_id)
    {
        state.db.delete_image_if_unused(old).await?;
    }
    if updated.status == worlds::status::BANNED && world.status != worlds::status::BANNED {
        state.live.close_world(world_id, Eviction::WorldClosed).await;
    } else {
        state.live.world_updated(world_id, map_changed).await;
    }
    Ok(Json(with_map(&state, updated).await?))
}

/// Deletes a world (its creator only; the row is kept with status 2 for the records) and
/// closes every live session in it.
#[utoipa::path(delete, path = "/worlds/{world_id}", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = WorldInDB), Errors))]
async fn delete_world(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<WorldInDB>> {
    let world = live_world(&state.db, world_id)
        .await?
        .filter(|w| w.creator == Some(user.user_id))
        .ok_or(ApiError::bad_request(msg::EDITION_FORBIDDEN))?;
    let changes = WorldChanges {
        status: Some(worlds::status::DELETED),
        ..WorldChanges::default()
    };
    let deleted = state
        .db
        .update_world(world.world_id, &changes)
        .await?
        .ok_or(ApiError::bad_request(msg::EDITION_FORBIDDEN))?;
    state.live.close_world(world_id, Eviction::WorldClosed).await;
    Ok(Json(
        with_details(&state, vec![deleted])
            .await?
            .pop()
            .ok_or_else(|| ApiError::Internal("world vanished".into()))?,
    ))
}

#[cfg(test)]
mod tests {
    use crowdwire_access::guest_name;

    #[test]
    fn guest_names_use_eight_digits_of_the_node() {
        let g = uuid::Uuid::parse_str("ccca8d8c-ee65-433e-af45-d5d9ded235a6").unwrap();
        // node 0xd5d9ded235a6 = 235033130137 0006..., first eight digits:
        let node = 0xd5d9_ded2_35a6_u128.to_string();
        assert_eq!(guest_name(&g), format!("Guest_{}", &node[..8]));
    }
}
