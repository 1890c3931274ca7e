//! World-level permissions: what a caller may do in a world, from its membership, its role
//! and whether it created the world (spec §3.7, with the original's holes closed: a member
//! banned from a world holds no permission there).

use rand::seq::IndexedRandom;

use crowdwire_auth::Principal;
use crowdwire_store::Db;
use crowdwire_store::blocks::{Block, BlockKind};
use crowdwire_store::guests::Guest;
use crowdwire_store::members::{self, Member};
use crowdwire_store::roles::{ADMIN_ROLE, Role};
use crowdwire_store::users::User;
use crowdwire_store::worlds::{self, World};

use crate::error::{ApiError, ApiResult, msg};

/// The 28 avatar names (sprite sheet `avatars_<sheet>.png`, slot `<n>`).
pub const AVATARS: [&str; 28] = [
    "avatars_1_1",
    "avatars_1_2",
    "avatars_1_3",
    "avatars_1_4",
    "avatars_1_5",
    "avatars_1_6",
    "avatars_1_7",
    "avatars_1_8",
    "avatars_2_1",
    "avatars_2_2",
    "avatars_2_3",
    "avatars_2_4",
    "avatars_2_5",
    "avatars_2_6",
    "avatars_2_7",
    "avatars_2_8",
    "avatars_3_1",
    "avatars_3_2",
    "avatars_3_3",
    "avatars_3_4",
    "avatars_3_5",
    "avatars_3_6",
    "avatars_3_7",
    "avatars_3_8",
    "avatars_4_1",
    "avatars_4_2",
    "avatars_4_5",
    "avatars_4_6",
];

/// A random avatar name.
pub fn random_avatar() -> &'static str {
    AVATARS.choose(&mut rand::rng()).copied().unwrap_or(AVATARS[0])
}

/// Guest display name: `Guest_` and the first 8 decimal digits of the UUID's node field.
pub fn guest_name(g: &uuid::Uuid) -> String {
    let node = g.as_u128() & 0xFFFF_FFFF_FFFF;
    let digits = node.to_string();
    format!("Guest_{}", &digits[..digits.len().min(8)])
}

/// How a principal is named on the wire and in presence: a user id in decimal, or a guest's
/// hyphenated UUID.
pub fn wire_id(p: Principal) -> String {
    match p {
        Principal::User(id) => id.to_string(),
        Principal::Guest(g) => g.hyphenated().to_string(),
    }
}

/// Refuses entry to someone a world keeps out: a banned guest (like a banned member: the world
/// is "not found" to them), or anyone kicked less than the cooldown ago (told when to retry).
/// `subject` is the wire id (user id or guest UUID).
pub async fn refuse_blocked(db: &Db, world_id: i64, subject: &str) -> ApiResult<()> {
    match db.blocked(world_id, subject).await? {
        None => Ok(()),
        Some(Block {
            kind: BlockKind::Ban, ..
        }) => Err(ApiError::bad_request(msg::WORLD_NOT_FOUND)),
        Some(Block {
            kind: BlockKind::Kick, ..
        }) => Err(ApiError::bad_request(msg::KICK_COOLDOWN)),
    }
}

/// A caller's standing in one world.
pub struct Standing {
    /// The caller created the world.
    pub creator: bool,
    /// The caller's membership and role, if any.
    pub member: Option<(Member, Role)>,
}

impl Standing {
    /// Looks up `user`'s standing in `world`.
    pub async fn of(db: &Db, world: &World, user: &User) -> ApiResult<Standing> {
        Ok(Standing {
            creator: world.creator == Some(user.user_id),
            member: db.member_with_role(world.world_id, user.user_id).await?,
        })
    }

    /// The role, if the caller is a member in good standing.
    pub fn role(&self) -> Option<&Role> {
        match &self.member {
            Some((m, r)) if m.status == members::status::NORMAL => Some(r),
            _ => None,
        }
    }

    /// Has a membership (banned or not).
    pub fn is_member(&self) -> bool {
        self.member.is_some()
    }

    /// Banned from this world.
    pub fn is_banned(&self) -> bool {
        matches!(&self.member, Some((m, _)) if m.status == members::status::BANNED)
    }

    /// The creator holds every permission, unless a superuser banned them from the world.
    fn allows(&self, flag: impl Fn(&Role) -> bool) -> bool {
        (self.creator && !self.is_banned()) || self.role().is_some_and(flag)
    }

    /// May manage roles and list members.
    pub fn can_manage_roles(&self) -> bool {
        self.allows(|r| r.role_manage)
    }

    /// May ban members and read the world's user reports.
    pub fn can_ban(&self) -> bool {
        self.allows(|r| r.ban)
    }

    /// May create invite links.
    pub fn can_invite(&self) -> bool {
        self.allows(|r| r.invite)
    }
}

/// The world if it exists and is not deleted.
pub async fn live_world(db: &Db, world_id: i64) -> ApiResult<Option<World>> {
    Ok(db
        .world_by_id(world_id)
        .await?
        .filter(|w| w.status != worlds::status::DELETED))
}

/// The role a newcomer gets on entering a world: its creator gets the Admin role (while the
/// world still has one), everyone else the world's default role.
async fn entry_role(db: &Db, world: &World, user_id: Option<i64>) -> ApiResult<Role> {
    let admin = match user_id {
        Some(id) if world.creator == Some(id) => db.role_by_name(world.world_id, ADMIN_ROLE).await?,
        _ => None,
    };
    let role = match admin {
        Some(r) => Some(r),
        None => db.default_role(world.world_id).await?,
    };
    role.ok_or_else(|| ApiError::Internal(format!("world {} has no default role", world.world_id)))
}

/// The role with `role_id`, reusing `known` when it is that role.
async fn role_by_id(db: &Db, world_id: i64, role_id: i64, known: Role) -> ApiResult<Role> {
    if known.role_id == role_id {
        return Ok(known);
    }
    Ok(db.role_in_world(world_id, role_id).await?.unwrap_or(known))
}

/// Records that a registered user enters `world` (a new member gets [`entry_role`]; a
/// known one keeps its role and counts one more join) and returns the membership and role.
/// The caller has checked that the user may enter.
pub async fn enter_as_member(db: &Db, world: &World, user: &User) -> ApiResult<(Member, Role)> {
    let role = match db.member(world.world_id, user.user_id).await? {
        Some(m) => db.role_in_world(world.world_id, m.role_id).await?,
        None => None,
    };
    let role = match role {
        Some(r) => r,
        None => entry_role(db, world, Some(user.user_id)).await?,
    };
    let member = db
        .record_join(world.world_id, user.user_id, role.role_id, random_avatar(), &user.name)
        .await?;
    let role = role_by_id(db, world.world_id, member.role_id, role).await?;
    Ok((member, role))
}

/// Records that a guest enters `world` (refreshing its 24 h profile; a new guest gets the
/// default role and a generated name) and returns the profile and role. The caller has
/// checked that guests may enter.
pub async fn enter_as_guest(db: &Db, world: &World, guest: &uuid::Uuid) -> ApiResult<(Guest, Role)> {
    let role = entry_role(db, world, None).await?;
    let g = db
        .upsert_guest(
            world.world_id,
            &guest.hyphenated().to_string(),
            role.role_id,
            random_avatar(),
            &guest_name(guest),
        )
        .await?;
    let role = role_by_id(db, world.world_id, g.role_id, role).await?;
    Ok((g, role))
}
