//! Per-world roles. Every lookup is scoped to the world in the path: a role
//! manager of one world can never touch another world's roles (fixed from the original).

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crowdwire_auth::Principal;
use crowdwire_store::roles::{ADMIN_ROLE, NewRole, Role, RoleDeletion, RoleFlags};
use crowdwire_store::users::User;

use crate::error::{ApiError, ApiResult, Errors, OnConflict, msg};
use crate::extract::{JsonBody, Path, Registered};
use crate::routes::members::parse_user_ref;
use crate::schemas::{RoleAssignment, RoleInDB, UserRef};
use crate::state::AppState;
use crate::validate::{Checks, lenient};
use crowdwire_access::{Standing, live_world};

/// Routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_roles, create_role))
        .routes(routes!(update_role, delete_role))
        .routes(routes!(assign_role))
}

/// Checks the caller may manage roles of `world_id`; `denied` is the error otherwise.
async fn require_manager(state: &AppState, user: &User, world_id: i64, denied: fn() -> ApiError) -> ApiResult<()> {
    let world = live_world(&state.db, world_id).await?.ok_or_else(denied)?;
    if Standing::of(&state.db, &world, user).await?.can_manage_roles() {
        Ok(())
    } else {
        Err(denied())
    }
}

fn forbidden() -> ApiError {
    ApiError::forbidden(msg::ROLE_INVALID_PERMISSIONS)
}

fn bad_request() -> ApiError {
    ApiError::bad_request(msg::ROLE_INVALID_PERMISSIONS)
}

/// Only these flags may be true on a default role: walk, talk, chat and interact (file
/// boards and other map objects; the original never enforced `interact`, so everyone could
/// share files there).
fn default_role_flags_ok(f: &RoleFlags) -> bool {
    *f == RoleFlags {
        interact: f.interact,
        walk: f.walk,
        talk: f.talk,
        chat: f.chat,
        ..RoleFlags::default()
    }
}

/// Roles of a world (role managers and the creator).
#[utoipa::path(get, path = "/worlds/{world_id}/roles", tag = "roles", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")),
    responses((status = 200, body = Vec<RoleInDB>), Errors))]
async fn list_roles(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
) -> ApiResult<Json<Vec<RoleInDB>>> {
    require_manager(&state, &user, world_id, forbidden).await?;
    Ok(Json(
        state
            .db
            .roles_of_world(world_id)
            .await?
            .into_iter()
            .map(Into::into)
            .collect(),
    ))
}

macro_rules! role_bodies {
    ($($(#[$doc:meta])* $flag:ident,)*) => {
        /// A new role. Unset flags are false.
        #[derive(Debug, Deserialize, ToSchema)]
        pub struct RoleCreate {
            /// Name (≤ 50), unique in the world.
            #[schema(min_length = 1, max_length = 50)]
            pub name: String,
            /// Ignored: the world in the path is used.
            #[serde(default, deserialize_with = "lenient::opt_int")]
            pub world_id: Option<i64>,
            /// Must be false: a world has one default role.
            #[serde(default, deserialize_with = "lenient::bool")]
            pub is_default: bool,
            $(
                $(#[$doc])*
                #[serde(default, deserialize_with = "lenient::bool")]
                pub $flag: bool,
            )*
        }

        impl RoleCreate {
            /// The flags asked for.
            fn flags(&self) -> RoleFlags {
                RoleFlags { $($flag: self.$flag,)* }
            }
        }

        /// Changes to a role; absent fields are left as they are.
        #[derive(Debug, Deserialize, ToSchema)]
        pub struct RoleUpdate {
            /// New name (≤ 50). `Admin` cannot be renamed.
            pub name: Option<String>,
            /// Ignored.
            #[serde(default, deserialize_with = "lenient::opt_int")]
            pub world_id: Option<i64>,
            /// Make this the default role (the previous default stops being one).
            #[serde(default, deserialize_with = "lenient::opt_bool")]
            pub is_default: Option<bool>,
            $(
                $(#[$doc])*
                #[serde(default, deserialize_with = "lenient::opt_bool")]
                pub $flag: Option<bool>,
            )*
        }

        impl RoleUpdate {
            /// Sets the flags this update gives; the others keep their values.
            fn apply(&self, flags: &mut RoleFlags) {
                $(if let Some(v) = self.$flag {
                    flags.$flag = v;
                })*
            }
        }
    };
}

// The bodies have one field per flag rather than a flattened `RoleFlags`: each flag is read
// leniently with its own name in a parse error's `loc`, and is a property of its own in the
// OpenAPI document.
crowdwire_world::for_each_role_flag!(role_bodies);

/// Adds a role to a world.
#[utoipa::path(post, path = "/worlds/{world_id}/roles", tag = "roles", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id")), request_body = RoleCreate,
    responses((status = 200, body = RoleInDB), Errors))]
async fn create_role(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path(world_id): Path<i64>,
    JsonBody(b): JsonBody<RoleCreate>,
) -> ApiResult<Json<RoleInDB>> {
    let mut c = Checks::new();
    c.max_len("name", Some(&b.name), 50);
    c.not_blank("name", Some(&b.name));
    c.finish()?;
    require_manager(&state, &user, world_id, bad_request).await?;
    let name = b.name.trim().to_owned();
    if state.db.role_by_name(world_id, &name).await?.is_some() {
        return Err(ApiError::bad_request(msg::ROLE_NAME_ALREADY_IN_USE));
    }
    if b.is_default {
        return Err(ApiError::bad_request(msg::ROLE_DEFAULT_ALREADY_EXISTS));
    }
    let new = NewRole {
        name,
        is_default: false,
        flags: b.flags(),
    };
    let role = state
        .db
        .insert_role(world_id, &new)
        .await
        .on_conflict(ApiError::bad_request(msg::ROLE_NAME_ALREADY_IN_USE))?;
    Ok(Json(role.into()))
}

/// Edits a role of this world. Online holders get the new permissions at once.
#[utoipa::path(put, path = "/worlds/{world_id}/roles/{role_id}", tag = "roles", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), ("role_id" = i64, Path, description = "Role id")),
    request_body = RoleUpdate, responses((status = 200, body = RoleInDB), Errors))]
async fn update_role(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path((world_id, role_id)): Path<(i64, i64)>,
    JsonBody(b): JsonBody<RoleUpdate>,
) -> ApiResult<Json<RoleInDB>> {
    let mut c = Checks::new();
    c.max_len("name", b.name.as_deref(), 50);
    c.not_blank("name", b.name.as_deref());
    c.finish()?;
    require_manager(&state, &user, world_id, forbidden).await?;
    let role = state
        .db
        .role_in_world(world_id, role_id)
        .await?
        .ok_or(ApiError::bad_request(msg::ROLES_NOT_FOUND))?;
    if role.is_default && b.is_default == Some(false) {
        return Err(ApiError::bad_request(msg::DEFAULT_ROLE_REMOVE_ERROR));
    }
    let new_name = b.name.as_deref().map(|n| n.trim().to_owned());
    if role.name == ADMIN_ROLE && new_name.as_deref().is_some_and(|n| n != ADMIN_ROLE) {
        return Err(ApiError::bad_request(msg::ROLE_WORLDCREATOR_UPDATE_ERROR));
    }
    if let Some(n) = &new_name
        && n != &role.name
        && state.db.role_by_name(world_id, n).await?.is_some()
    {
        return Err(ApiError::bad_request(msg::ROLE_NAME_ALREADY_IN_USE));
    }
    let mut f = role.fields();
    if let Some(n) = new_name {
        f.name = n;
    }
    if let Some(d) = b.is_default {
        f.is_default = d;
    }
    b.apply(&mut f.flags);
    if f.is_default && !default_role_flags_ok(&f.flags) {
        return Err(ApiError::bad_request(msg::DEFAULT_ROLE_PERMISSIONS));
    }
    if role.name == ADMIN_ROLE && f.is_default {
        return Err(ApiError::bad_request(msg::DEFAULT_ROLE_PERMISSIONS));
    }
    let updated: Role = state
        .db
        .update_role(world_id, role_id, &f)
        .await
        .on_conflict(ApiError::bad_request(msg::ROLE_NAME_ALREADY_IN_USE))?
        .ok_or(ApiError::bad_request(msg::ROLES_NOT_FOUND))?;
    state.live.role_updated(&updated).await;
    Ok(Json(updated.into()))
}

/// Deletes a role of this world; its holders get the world's default role.
#[utoipa::path(delete, path = "/worlds/{world_id}/roles/{role_id}", tag = "roles", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), ("role_id" = i64, Path, description = "Role id")),
    responses((status = 200, body = RoleInDB), Errors))]
async fn delete_role(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path((world_id, role_id)): Path<(i64, i64)>,
) -> ApiResult<Json<RoleInDB>> {
    require_manager(&state, &user, world_id, forbidden).await?;
    let role = state
        .db
        .role_in_world(world_id, role_id)
        .await?
        .ok_or(ApiError::bad_request(msg::ROLES_NOT_FOUND))?;
    if role.is_default {
        return Err(ApiError::bad_request(msg::ROLE_DEFAULT_DELETE_FORBIDDEN));
    }
    if role.name == ADMIN_ROLE {
        return Err(ApiError::bad_request(msg::ROLE_WORLDCREATOR_DELETE_FORBIDDEN));
    }
    match state.db.delete_role(world_id, role_id).await? {
        RoleDeletion::Deleted(r) => {
            if let Some(default) = state.db.default_role(world_id).await? {
                state.live.role_updated(&default).await;
            }
            Ok(Json(r.into()))
        }
        RoleDeletion::NotFound => Err(ApiError::bad_request(msg::ROLES_NOT_FOUND)),
    }
}

/// Gives a member (or a guest in the world) one of this world's roles. The user's live
/// session gets the new permissions at once.
#[utoipa::path(post, path = "/worlds/{world_id}/roles/{role_id}/users/{user_id}", tag = "roles", security(("bearer" = [])),
    params(("world_id" = i64, Path, description = "World id"), ("role_id" = i64, Path, description = "Role id"), ("user_id" = String, Path, description = "User id or guest UUID")),
    responses((status = 200, body = RoleAssignment), Errors))]
async fn assign_role(
    State(state): State<AppState>,
    Registered(user): Registered,
    Path((world_id, role_id, user_id)): Path<(i64, i64, String)>,
) -> ApiResult<Json<RoleAssignment>> {
    let target = parse_user_ref(&user_id)?;
    if let crowdwire_auth::Principal::User(id) = target
        && state.db.user_by_id(id).await?.is_none()
    {
        return Err(ApiError::bad_request(msg::USER_NOT_FOUND));
    }
    require_manager(&state, &user, world_id, || ApiError::bad_request(msg::ACCESS_FORBIDDEN)).await?;
    let role = state
        .db
        .role_in_world(world_id, role_id)
        .await?
        .ok_or(ApiError::bad_request(msg::ROLES_NOT_FOUND))?;
    let out = match target {
        Principal::User(id) => {
            let world = state
                .db
                .world_by_id(world_id)
                .await?
                .ok_or(ApiError::bad_request(msg::ROLES_NOT_FOUND))?;
            if world.creator == Some(id) && role.name != ADMIN_ROLE && user.user_id != id && !user.is_superuser {
                return Err(ApiError::bad_request(msg::CHANGE_USER_INFO_FORBIDDEN));
            }
            let changes = crowdwire_store::members::MemberChanges {
                role_id: Some(role.role_id),
                ..Default::default()
            };
            let m = state
                .db
                .update_member(world_id, id, &changes)
                .await
                .on_missing_reference(ApiError::bad_request(msg::ROLES_NOT_FOUND))?
                .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
            RoleAssignment {
                user_id: UserRef::Id(id),
                world_id,
                role_id: m.role_id,
                username: m.username,
                avatar: m.avatar,
            }
        }
        Principal::Guest(g) => {
            let gst = state
                .db
                .update_guest(world_id, &g.to_string(), None, None, Some(role.role_id))
                .await
                .on_missing_reference(ApiError::bad_request(msg::ROLES_NOT_FOUND))?
                .ok_or(ApiError::bad_request(msg::USER_NOT_IN_WORLD))?;
            RoleAssignment {
                user_id: UserRef::Guest(g),
                world_id,
                role_id: gst.role_id,
                username: gst.username,
                avatar: gst.avatar,
            }
        }
    };
    state.live.role_changed(world_id, target, &role).await;
    Ok(Json(out))
}
