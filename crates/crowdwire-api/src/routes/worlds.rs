//! Worlds and memberships: browse, create, edit, delete, join (directly or by
//! invite), and per-member profile, status and bans.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_auth::Principal;
use crowdwire_store::blocks::BlockKind;
use crowdwire_store::members::{self, MemberChanges};
use crowdwire_store::reports::WorldReportQuery;
use crowdwire_store::users::User;
use crowdwire_store::worlds::{self, NewWorld, Scope, World, WorldChanges, WorldQuery};
use crowdwire_world::map::WorldMap;

use crate::error::{ApiError, ApiResult, Errors, OnConflict, msg};
use crate::extract::{Caller, JsonBody, Path, Query, Registered};
use crate::schemas::{
    ReportWorldInDBWithEmail, WorldInDB, WorldInDBWithUserPermissions, WorldMapInDB, WorldUserInDB,
    WorldUserWithRoleAndMap,
};
use crate::state::AppState;
use crate::validate::{Checks, Paging, flexible_bool, lenient};
use crowdwire_access::live::Eviction;
use crowdwire_access::{
    AVATARS, Standing, enter_as_guest, enter_as_member, live_world, random_avatar, refuse_blocked, wire_id,
};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(search_worlds, create_world))
        .routes(routes!(world_reports))
        .routes(routes!(join_by_invite))
        .routes(routes!(get_world, update_world, delete_world))
        .routes(routes!(join_world, list_members))
        .routes(routes!(get_membership, update_membership))
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

/// Users online in the world other than the caller. A caller who is already there (another
/// tab, or reconnecting after a drop) is not refused: its new session replaces the old one.
async fn others_online(state: &AppState, world_id: i64, caller: &Caller) -> u64 {
    let online = state.live.online_count(world_id).await;
    if state.live.is_online(world_id, principal(caller)).await {
        online.saturating_sub(1)
    } else {
        online
    }
}

fn full(world: &World, online: u64, guest: bool) -> Option<ApiError> {
    let max = world.max_users?;
    (online + 1 > max.max(0) as u64).then(|| {
        ApiError::bad_request(if guest {
            msg::WORLD_IS_FULL_GUEST
        } else {
            msg::WORLD_IS_FULL
        })
    })
}

/// Joins a registered user: keeps an existing membership (counting the join), or creates one
/// with the default role (`Admin` for the creator).
async fn join_registered(state: &AppState, world: &World, user: &User) -> ApiResult<WorldUserWithRoleAndMap> {
    let (member, role) = enter_as_member(&state.db, world, user).await?;
    let map = state.db.world_map(world.world_id).await?.unwrap_or_default();
    Ok(WorldUserWithRoleAndMap::member(member, role, map))
}

async fn join_guest(state: &AppState, world: &World, guest: &uuid::Uuid) -> ApiResult<WorldUserWithRoleAndMap> {
    let (g, role) = enter_as_guest(&state.db, world, guest).await?;
    let map = state.db.world_map(world.world_id).await?.unwrap_or_default();
    Ok(WorldUserWithRoleAndMap::guest(g, role, map))
}

fn principal(caller: &Caller) -> Principal {
    match caller {
        Caller::User(u) => Principal::User(u.user_id),
        Caller::Guest(g) => Principal::Guest(*g),
    }
}

/// Enters a world before opening its WebSocket: checks that the world is open to the caller
/// and has room, records the join and returns the caller's profile, role, last position and
/// the map.
#[utoipa::path(post, path = "/worlds/{world_id}/users", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = WorldUserWithRoleAndMap), Errors))]
async fn join_world(
    State(state): State<AppState>,
    caller: Caller,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<WorldUserWithRoleAndMap>> {
    let not_found = || ApiError::bad_request(msg::WORLD_NOT_FOUND);
    let world = live_world(&state.db, world_id)
        .await?
        .filter(|w| w.status == worlds::status::NORMAL)
        .ok_or_else(not_found)?;
    refuse_blocked(&state.db, world_id, &wire_id(principal(&caller))).await?;
    let online = others_online(&state, world_id, &caller).await;
    let joined = match &caller {
        Caller::User(u) => {
            let standing = Standing::of(&state.db, &world, u).await?;
            if standing.is_banned() || !(world.public || standing.is_member() || standing.creator) {
                return Err(not_found());
            }
            if let Some(e) = full(&world, online, false) {
                return Err(e);
            }
            join_registered(&state, &world, u).await?
        }
        Caller::Guest(g) => {
            let has_profile = state.db.guest(world_id, &g.to_string()).await?.is_some();
            if !world.allow_guests || !(world.public || has_profile) {
                return Err(not_found());
            }
            if let Some(e) = full(&world, online, true) {
                return Err(e);
            }
            join_guest(&state, &world, g).await?
        }
    };
    Ok(Json(joined))
}

/// Enters a world through an invite link. The invite admits to private worlds, but not to
/// banned or deleted ones, not past a ban, not guests where guests are not allowed, and
/// only while its issuer may still invite.
#[utoipa::path(post, path = "/worlds/invite/{invite_token}", tag = "worlds", security(("bearer" = [])),
    params(("invite_token" = String, Path, description = "Invite token")),
    responses((status = 200, body = WorldUserWithRoleAndMap), Errors))]
async fn join_by_invite(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
) -> ApiResult<Json<WorldUserWithRoleAndMap>> {
    let invite = state
        .keys
        .verify_invite(&token)
        .map_err(|_| ApiError::forbidden(msg::INVALID_INVITE))?;
    let not_found = || ApiError::not_found(msg::WORLD_NOT_FOUND);
    let world = live_world(&state.db, invite.world_id)
        .await?
        .filter(|w| w.status == worlds::status::NORMAL)
        .ok_or_else(not_found)?;
    let inviter_ok = match invite.inviter.parse::<i64>().ok() {
        Some(id) => match state.db.user_by_id(id).await? {
            Some(inviter) if inviter.status == crowdwire_store::users::status::NORMAL => {
                Standing::of(&state.db, &world, &inviter).await?.can_invite()
            }
            _ => false,
        },
        None => false,
    };
    if !inviter_ok {
        return Err(ApiError::forbidden(msg::INVALID_INVITE));
    }
    refuse_blocked(&state.db, world.world_id, &wire_id(principal(&caller))).await?;
    let online = others_online(&state, world.world_id, &caller).await;
    let joined = match &caller {
        Caller::User(u) => {
            if Standing::of(&state.db, &world, u).await?.is_banned() {
                return Err(not_found());
            }
            if let Some(e) = full(&world, online, false) {
                return Err(e);
            }
            join_registered(&state, &world, u).await?
        }
        Caller::Guest(g) => {
            if !world.allow_guests {
                return Err(not_found());
            }
            if let Some(e) = full(&world, online, true) {
                return Err(e);
            }
            join_guest(&state, &world, g).await?
        }
    };
    Ok(Json(joined))
}

/// Members of a world (holders of `role_manage`, or the creator).
#[utoipa::path(get, path = "/worlds/{world_id}/users", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = Vec<WorldUserInDB>), Errors))]
async fn list_members(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<Vec<WorldUserInDB>>> {
    let denied = || ApiError::bad_request(msg::ROLE_INVALID_PERMISSIONS);
    let world = live_world(&state.db, world_id).await?.ok_or_else(denied)?;
    if !Standing::of(&state.db, &world, &user).await?.can_manage_roles() {
        return Err(denied());
    }
    Ok(Json(
        state
            .db
            .members_of_world(world_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

/// A user id in a path: a registered user's integer id or a guest's UUID.
pub(crate) fn parse_user_ref(text: &str) -> ApiResult<Principal> {
    if let Ok(id) = text.parse::<i64>() {
        return Ok(Principal::User(id));
    }
    uuid::Uuid::parse_str(text).map(Principal::Guest).map_err(|_| {
        ApiError::invalid(
            &["path", "user_id"],
            "value is not a valid integer or UUID",
            "type_error",
        )
    })
}

/// The caller's own membership in a world.
#[utoipa::path(get, path = "/worlds/{world_id}/users/{user_id}", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), ("user_id" = String, Path, description = "User id or guest UUID")),
    responses((status = 200, body = WorldUserInDB), Errors))]
async fn get_membership(
    State(state): State<AppState>,
    caller: Caller,
    Path((world_id, user_id)): Path<(i64, String)>,
) -> ApiResult<Json<WorldUserInDB>> {
    let target = parse_user_ref(&user_id)?;
    if target != principal(&caller) {
        return Err(ApiError::bad_request(msg::ACCESS_FORBIDDEN));
    }
    let not_member = || ApiError::not_found(msg::USER_NOT_IN_WORLD);
    Ok(Json(match target {
        Principal::User(id) => state.db.member(world_id, id).await?.ok_or_else(not_member)?.into(),
        Principal::Guest(g) => state
            .db
            .guest(world_id, &g.to_string())
            .await?
            .ok_or_else(not_member)?
            .into(),
    }))
}

/// Changes to a membership.
#[derive(Debug, Deserialize, ToSchema)]
pub struct WorldUserUpdate {
    /// Display name in the world (≤ 50).
    #[schema(min_length = 1, max_length = 50)]
    pub username: Option<String>,
    /// One of the 28 avatar names.
    pub avatar: Option<String>,
    /// 0 normal, 1 banned from the world.
    #[serde(default, deserialize_with = "lenient::opt_int")]
    pub status: Option<i32>,
}

/// Edits a membership. Members change their own name and avatar; holders of `ban` (and the
/// creator, and superusers) ban or unban others, which ends the banned user's live session.
#[utoipa::path(put, path = "/worlds/{world_id}/users/{user_id}", tag = "worlds", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), ("user_id" = String, Path, description = "User id or guest UUID")),
    request_body = WorldUserUpdate, responses((status = 200, body = WorldUserInDB), Errors))]
async fn update_membership(
    State(state): State<AppState>,
    caller: Caller,
    Path((world_id, user_id)): Path<(i64, String)>,
    JsonBody(body): JsonBody<WorldUserUpdate>,
) -> ApiResult<Json<WorldUserInDB>> {
    check_membership_update(&body)?;
    let target = parse_user_ref(&user_id)?;
    let me = principal(&caller);
    if matches!(caller, Caller::Guest(_)) && target != me {
        return Err(ApiError::bad_request(msg::ACCESS_FORBIDDEN));
    }
    let username = body.username.clone().map(|u| u.trim().to_owned());
    match target {
        Principal::Guest(g) if target != me && body.status.is_some() => {
            ban_or_unban_guest(&state, &caller, world_id, g, username, body).await
        }
        Principal::Guest(g) => update_own_guest(&state, world_id, g, target != me, username, body).await,
        Principal::User(target_id) => update_member(&state, &caller, world_id, target_id, username, body).await,
    }
}

/// The fields' own checks.
fn check_membership_update(body: &WorldUserUpdate) -> ApiResult<()> {
    let mut c = Checks::new();
    c.max_len("username", body.username.as_deref(), 50);
    c.not_blank("username", body.username.as_deref());
    if let Some(a) = &body.avatar
        && !AVATARS.contains(&a.as_str())
    {
        c.fail("avatar", "Avatar name not Valid!", "value_error");
    }
    if let Some(s) = body.status
        && !(0..=1).contains(&s)
    {
        c.fail("status", "status must be 0 (normal) or 1 (banned)", "value_error.const");
    }
    c.finish()
}

/// A guest banned or unbanned by someone else.
async fn ban_or_unban_guest(
    state: &AppState,
    caller: &Caller,
    world_id: i64,
    g: uuid::Uuid,
    username: Option<String>,
    body: WorldUserUpdate,
) -> ApiResult<Json<WorldUserInDB>> {
    let target = Principal::Guest(g);
    // Security review F10: guests can be banned (kept out for guest_ban_hours by
    // their guest id) and unbanned, by whoever may ban members.
    let Caller::User(user) = caller else {
        return Err(ApiError::bad_request(msg::ACCESS_FORBIDDEN));
    };
    let world = state
        .db
        .world_by_id(world_id)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
    if !user.is_superuser && !Standing::of(&state.db, &world, user).await?.can_ban() {
        return Err(ApiError::bad_request(msg::USER_NO_ROLE_PERMISSIONS));
    }
    if username.is_some() || body.avatar.is_some() {
        return Err(ApiError::bad_request(msg::CHANGE_USER_INFO_FORBIDDEN));
    }
    let gid = g.hyphenated().to_string();
    let mut guest = state
        .db
        .guest(world_id, &gid)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
    if body.status == Some(members::status::BANNED) {
        let hours = state.settings.guest_ban_hours.max(0);
        let micros = hours.saturating_mul(3_600_000_000);
        state.db.block(world_id, &gid, BlockKind::Ban, micros).await?;
        state
            .live
            .evict(Some(world_id), target, Eviction::BannedFromWorld)
            .await;
        guest.status = members::status::BANNED;
    } else {
        state.db.unblock(world_id, &gid).await?;
    }
    Ok(Json(guest.into()))
}

/// A guest's own name and avatar.
async fn update_own_guest(
    state: &AppState,
    world_id: i64,
    g: uuid::Uuid,
    someone_else: bool,
    username: Option<String>,
    body: WorldUserUpdate,
) -> ApiResult<Json<WorldUserInDB>> {
    if body.status.is_some_and(|s| s != 0) {
        return Err(ApiError::bad_request(msg::USER_IS_NOT_BANNABLE));
    }
    if someone_else {
        return Err(ApiError::bad_request(msg::CHANGE_USER_INFO_FORBIDDEN));
    }
    let updated = state
        .db
        .update_guest(
            world_id,
            &g.to_string(),
            username.as_deref(),
            body.avatar.as_deref(),
            None,
        )
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
    Ok(Json(updated.into()))
}

/// A member's name, avatar or ban, by the member, a holder of `ban`, the creator or a superuser.
async fn update_member(
    state: &AppState,
    caller: &Caller,
    world_id: i64,
    target_id: i64,
    username: Option<String>,
    body: WorldUserUpdate,
) -> ApiResult<Json<WorldUserInDB>> {
    let Caller::User(user) = caller else {
        return Err(ApiError::bad_request(msg::ACCESS_FORBIDDEN));
    };
    let member = state
        .db
        .member(world_id, target_id)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
    let world = state
        .db
        .world_by_id(world_id)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
    let standing = Standing::of(&state.db, &world, user).await?;
    let moderator = user.is_superuser || standing.can_ban();
    let changes_status = body.status.is_some_and(|s| s != member.status);
    if changes_status && !moderator {
        return Err(ApiError::bad_request(msg::USER_NO_ROLE_PERMISSIONS));
    }
    let is_self = user.user_id == target_id;
    if !is_self {
        if !moderator {
            return Err(ApiError::bad_request(msg::USER_NO_ROLE_PERMISSIONS));
        }
        if (username.is_some() || body.avatar.is_some()) && !user.is_superuser {
            return Err(ApiError::bad_request(msg::CHANGE_USER_INFO_FORBIDDEN));
        }
    }
    if changes_status && world.creator == Some(target_id) && !user.is_superuser {
        return Err(ApiError::bad_request(msg::USER_IS_NOT_BANNABLE));
    }
    let changes = MemberChanges {
        username,
        avatar: body.avatar,
        status: body.status,
        role_id: None,
    };
    let updated = state
        .db
        .update_member(world_id, target_id, &changes)
        .await?
        .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
    if updated.status == members::status::BANNED && member.status != members::status::BANNED {
        state
            .live
            .evict(Some(world_id), Principal::User(target_id), Eviction::BannedFromWorld)
            .await;
    }
    Ok(Json(updated.into()))
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
