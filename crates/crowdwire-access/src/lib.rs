//! Admission to worlds, shared by the REST API and the WebSocket gateway: who may enter a
//! world and as whom (membership, bans, kicks, guests, roles, avatars), what a caller may do
//! there (its [`Standing`]), and [`live::LiveSessions`], the interface through which REST calls
//! reach live sessions (implemented by the realtime layer, wired in by the binary).
//!
//! A member banned from a world holds no permission there, and a banned or just-kicked
//! guest is kept out, on both paths alike.

pub mod live;

use rand::seq::IndexedRandom;

use crowdwire_auth::Principal;
use crowdwire_store::Db;
use crowdwire_store::blocks::{Block, BlockKind};
use crowdwire_store::guests::Guest;
use crowdwire_store::members::{self, Member};
use crowdwire_store::roles::{ADMIN_ROLE, Role};
use crowdwire_store::users::User;
use crowdwire_store::worlds::{self, World};

use crowdwire_auth::Verified;
use crowdwire_store::StoreError;
use crowdwire_store::users;

/// The refusals admission gives, in the original's words; the REST API answers them with 400
/// and the WebSocket gateway closes with them (1008).
pub mod msg {
    /// The world does not exist, is not available, or keeps the caller out (a ban).
    pub const WORLD_NOT_FOUND: &str = "World Not Found or is not currently available.";
    /// The caller was kicked a moment ago.
    pub const KICK_COOLDOWN: &str = crowdwire_world::engine::REMOVED_REASON;
    /// The account is banned or inactive.
    pub const INACTIVE_USER: &str = "User is Inactive or the account has been banned.";
    /// The token is not valid (any more).
    pub const COULD_NOT_VALIDATE: &str = "Could not validate credentials";
    /// The token's user does not exist.
    pub const USER_NOT_FOUND_AUTH: &str = "User not found";
}

/// Why admission failed.
#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    /// Refused, with the reason shown to the caller (see [`msg`]).
    #[error("{0}")]
    Refused(&'static str),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The world's data is inconsistent (a world without a default role).
    #[error("{0}")]
    Internal(String),
}

/// The result of an admission step.
pub type AccessResult<T> = Result<T, AccessError>;

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
pub async fn refuse_blocked(db: &Db, world_id: i64, subject: &str) -> AccessResult<()> {
    match db.blocked(world_id, subject).await? {
        None => Ok(()),
        Some(Block {
            kind: BlockKind::Ban, ..
        }) => Err(AccessError::Refused(msg::WORLD_NOT_FOUND)),
        Some(Block {
            kind: BlockKind::Kick, ..
        }) => Err(AccessError::Refused(msg::KICK_COOLDOWN)),
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
    pub async fn of(db: &Db, world: &World, user: &User) -> AccessResult<Standing> {
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
        self.allows(|r| r.flags.role_manage)
    }

    /// May ban members and read the world's user reports.
    pub fn can_ban(&self) -> bool {
        self.allows(|r| r.flags.ban)
    }

    /// May create invite links.
    pub fn can_invite(&self) -> bool {
        self.allows(|r| r.flags.invite)
    }
}

/// The world if it exists and is not deleted.
pub async fn live_world(db: &Db, world_id: i64) -> AccessResult<Option<World>> {
    Ok(db
        .world_by_id(world_id)
        .await?
        .filter(|w| w.status != worlds::status::DELETED))
}

/// The role a newcomer gets on entering a world: its creator gets the Admin role (while the
/// world still has one), everyone else the world's default role.
async fn entry_role(db: &Db, world: &World, user_id: Option<i64>) -> AccessResult<Role> {
    let admin = match user_id {
        Some(id) if world.creator == Some(id) => db.role_by_name(world.world_id, ADMIN_ROLE).await?,
        _ => None,
    };
    let role = match admin {
        Some(r) => Some(r),
        None => db.default_role(world.world_id).await?,
    };
    role.ok_or_else(|| AccessError::Internal(format!("world {} has no default role", world.world_id)))
}

/// The role with `role_id`, reusing `known` when it is that role.
async fn role_by_id(db: &Db, world_id: i64, role_id: i64, known: Role) -> AccessResult<Role> {
    if known.role_id == role_id {
        return Ok(known);
    }
    Ok(db.role_in_world(world_id, role_id).await?.unwrap_or(known))
}

/// Records that a registered user enters `world` (a new member gets [`entry_role`]; a
/// known one keeps its role and counts one more join) and returns the membership and role.
/// The caller has checked that the user may enter.
pub async fn enter_as_member(db: &Db, world: &World, user: &User) -> AccessResult<(Member, Role)> {
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
pub async fn enter_as_guest(db: &Db, world: &World, guest: &uuid::Uuid) -> AccessResult<(Guest, Role)> {
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

/// Someone admitted into a world over a socket: who they are there.
#[derive(Clone, Debug)]
pub struct Entrant {
    /// The world.
    pub world: World,
    /// Wire id (user id, or guest UUID).
    pub user_id: String,
    /// The user id of a member; none for a guest.
    pub member_id: Option<i64>,
    /// Name in this world.
    pub username: String,
    /// Avatar in this world.
    pub avatar: String,
    /// Role in this world.
    pub role: Role,
    /// Created the world.
    pub creator: bool,
}

/// Admits the bearer of a verified access token into `world_id` for a live session: the
/// world must be available; a banned guest, a banned member and anyone just kicked stay out;
/// the account must be active and the token of its current version. Someone connecting to a
/// public world without having joined it over REST first enters it as a newcomer.
pub async fn admit(db: &Db, world_id: i64, verified: &Verified) -> AccessResult<Entrant> {
    let principal = verified.principal;
    let world = db
        .world_by_id(world_id)
        .await?
        .filter(|w| w.status == worlds::status::NORMAL)
        .ok_or(AccessError::Refused(msg::WORLD_NOT_FOUND))?;
    refuse_blocked(db, world_id, &wire_id(principal)).await?;
    let role_of = |role_id: i64| async move {
        db.role_in_world(world_id, role_id)
            .await?
            .ok_or_else(|| AccessError::Internal(format!("role {role_id} of world {world_id} is missing")))
    };
    match principal {
        Principal::User(id) => {
            let user = db
                .user_by_id(id)
                .await?
                .ok_or(AccessError::Refused(msg::USER_NOT_FOUND_AUTH))?;
            if user.token_version != verified.version {
                return Err(AccessError::Refused(msg::COULD_NOT_VALIDATE));
            }
            if user.status != users::status::NORMAL {
                return Err(AccessError::Refused(msg::INACTIVE_USER));
            }
            let (member, role) = match db.member(world_id, id).await? {
                Some(m) => {
                    let role = role_of(m.role_id).await?;
                    (m, role)
                }
                None if world.public => enter_as_member(db, &world, &user).await?,
                None => return Err(AccessError::Refused(msg::WORLD_NOT_FOUND)),
            };
            if member.status == members::status::BANNED {
                return Err(AccessError::Refused(msg::WORLD_NOT_FOUND));
            }
            Ok(Entrant {
                user_id: wire_id(principal),
                member_id: Some(id),
                username: member.username.unwrap_or(user.name),
                avatar: member.avatar.unwrap_or_else(|| random_avatar().into()),
                role,
                creator: world.creator == Some(id),
                world,
            })
        }
        Principal::Guest(g) => {
            if !world.allow_guests {
                return Err(AccessError::Refused(msg::WORLD_NOT_FOUND));
            }
            let gid = g.hyphenated().to_string();
            let (guest, role) = match db.guest(world_id, &gid).await? {
                Some(p) => {
                    let role = role_of(p.role_id).await?;
                    (p, role)
                }
                None if world.public => enter_as_guest(db, &world, &g).await?,
                None => return Err(AccessError::Refused(msg::WORLD_NOT_FOUND)),
            };
            Ok(Entrant {
                user_id: gid,
                member_id: None,
                username: guest.username.unwrap_or_else(|| "Guest".into()),
                avatar: guest.avatar.unwrap_or_else(|| random_avatar().into()),
                role,
                creator: false,
                world,
            })
        }
    }
}
