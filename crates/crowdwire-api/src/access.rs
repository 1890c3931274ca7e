//! World-level permissions: what a caller may do in a world, from its membership, its role
//! and whether it created the world (spec §3.7, with the original's holes closed: a member
//! banned from a world holds no permission there).

use rand::seq::IndexedRandom;

use crowdwire_store::Db;
use crowdwire_store::members::{self, Member};
use crowdwire_store::roles::Role;
use crowdwire_store::users::User;
use crowdwire_store::worlds::{self, World};

use crate::error::ApiResult;

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
