//! Entering worlds and memberships: join (directly or by invite), the member list, and each
//! member's profile, status and bans.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_auth::Principal;
use crowdwire_store::blocks::BlockKind;
use crowdwire_store::members::{self, MemberChanges};
use crowdwire_store::users::User;
use crowdwire_store::worlds::{self, World};

use crate::error::{ApiError, ApiResult, Errors, msg};
use crate::extract::{Caller, JsonBody, Path, Registered};
use crate::schemas::{WorldUserInDB, WorldUserWithRoleAndMap};
use crate::state::AppState;
use crate::validate::{Checks, lenient};
use crowdwire_access::live::Eviction;
use crowdwire_access::{AVATARS, Standing, enter_as_guest, enter_as_member, live_world, refuse_blocked, wire_id};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_by_invite))
        .routes(routes!(join_world, list_members))
        .routes(routes!(get_membership, update_membership))
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
