//! Response shapes, named and laid out as the original API's, built from rows.

use serde::Serialize;
use utoipa::ToSchema;

use crowdwire_store::Timestamp;
use crowdwire_store::events::Event;
use crowdwire_store::guests::Guest;
use crowdwire_store::members::Member;
use crowdwire_store::reports::{UserReport, UserReportDetailed, WorldReport, WorldReportDetailed};
use crowdwire_store::roles::Role;
use crowdwire_store::users::User;
use crowdwire_store::worlds::World;

/// A datetime as the original showed it (ISO-8601, no zone, UTC).
fn ts(t: i64) -> String {
    Timestamp(t).iso()
}

/// A registered user id or a guest UUID.
#[derive(Clone, Debug, Serialize, ToSchema, PartialEq)]
#[serde(untagged)]
pub enum UserRef {
    /// A registered user.
    Id(i64),
    /// A guest.
    Guest(uuid::Uuid),
}

/// An account (`UserInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct UserInDB {
    /// Id.
    pub user_id: i64,
    /// Registration time.
    pub register_date: String,
    /// Google subject.
    pub sub: Option<String>,
    /// Name.
    pub name: String,
    /// E-mail.
    pub email: String,
    /// Birth date.
    pub birth: Option<String>,
    /// 0 normal, 1 banned, 2 deleted, 3 pending confirmation.
    pub status: i32,
    /// Platform administrator.
    pub is_superuser: bool,
}

impl From<User> for UserInDB {
    fn from(u: User) -> UserInDB {
        UserInDB {
            user_id: u.user_id,
            register_date: ts(u.register_date),
            sub: u.sub,
            name: u.name,
            email: u.email,
            birth: u.birth,
            status: u.status,
            is_superuser: u.is_superuser,
        }
    }
}

/// A login result (`Token`).
#[derive(Debug, Serialize, ToSchema)]
pub struct Token {
    /// The bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Expiry, `YYYY-MM-DD HH:MM:SS.ffffff` (UTC).
    pub expire_date: String,
    /// Platform administrator.
    pub is_superuser: bool,
}

/// A guest token (`TokenGuest`).
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenGuest {
    /// The bearer token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Expiry.
    pub expire_date: String,
    /// Always false.
    pub is_superuser: bool,
    /// The guest's identity.
    pub guest_uuid: uuid::Uuid,
}

/// A refreshed token: a registered user's or a guest's.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum RefreshedToken {
    /// For a guest.
    Guest(TokenGuest),
    /// For a registered user.
    User(Token),
}

/// An invite link token, or a token without the superuser flag.
#[derive(Debug, Serialize, ToSchema)]
pub struct PlainToken {
    /// The token.
    pub access_token: String,
    /// Always `bearer`.
    pub token_type: String,
    /// Expiry.
    pub expire_date: String,
}

/// `{"status": "ok"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct StatusOk {
    /// Always `ok`.
    pub status: String,
}

/// Who a token belongs to (`/login/test-token`); never includes the password hash.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenOwner {
    /// User id or guest UUID.
    pub user_id: UserRef,
    /// E-mail (registered users).
    pub email: Option<String>,
    /// Name (registered users).
    pub name: Option<String>,
    /// True for guests.
    pub is_guest_user: bool,
    /// Platform administrator.
    pub is_superuser: bool,
}

/// A tag.
#[derive(Debug, Serialize, ToSchema)]
pub struct TagInDB {
    /// Name.
    pub name: String,
}

/// A world without its map (`WorldInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorldInDB {
    /// Id.
    pub world_id: i64,
    /// Creator's user id.
    pub creator: Option<i64>,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Capacity (null: unlimited).
    pub max_users: Option<i32>,
    /// Listed publicly.
    pub public: bool,
    /// Guests may enter.
    pub allow_guests: bool,
    /// 0 normal, 1 banned, 2 deleted.
    pub status: Option<i32>,
    /// Image (data URL).
    pub profile_image: Option<String>,
    /// Tags.
    pub tags: Vec<TagInDB>,
    /// Creation time.
    pub creation_date: Option<String>,
    /// Last update.
    pub update_date: Option<String>,
    /// Users connected now.
    pub online_users: u64,
}

impl WorldInDB {
    /// Builds the shape from a row, its tags and its online count.
    pub fn new(w: World, tags: Vec<String>, online_users: u64) -> WorldInDB {
        WorldInDB {
            world_id: w.world_id,
            creator: w.creator,
            name: w.name,
            description: w.description,
            max_users: w.max_users,
            public: w.public,
            allow_guests: w.allow_guests,
            status: Some(w.status),
            profile_image: w.profile_image,
            tags: tags.into_iter().map(|name| TagInDB { name }).collect(),
            creation_date: Some(ts(w.creation_date)),
            update_date: w.update_date.map(ts),
            online_users,
        }
    }
}

/// A world with its map (`WorldMapInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorldMapInDB {
    /// The world.
    #[serde(flatten)]
    pub world: WorldInDB,
    /// Tiled JSON map, as a string.
    pub world_map: String,
}

/// A world with its map and what the caller may do there.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorldInDBWithUserPermissions {
    /// The world.
    #[serde(flatten)]
    pub world: WorldMapInDB,
    /// The caller created it.
    pub is_creator: bool,
    /// The caller may manage roles.
    pub can_manage: bool,
}

macro_rules! role_in_db {
    ($($(#[$doc:meta])* $flag:ident,)*) => {
        /// A role and its permission flags (`RoleInDB`).
        #[derive(Debug, Clone, Serialize, ToSchema)]
        pub struct RoleInDB {
            /// Id.
            pub role_id: i64,
            /// World.
            pub world_id: i64,
            /// Name, unique in the world.
            pub name: String,
            /// Given to new members and guests.
            pub is_default: bool,
            $($(#[$doc])* pub $flag: bool,)*
        }

        impl From<Role> for RoleInDB {
            fn from(r: Role) -> RoleInDB {
                RoleInDB {
                    role_id: r.role_id,
                    world_id: r.world_id,
                    name: r.name,
                    is_default: r.is_default,
                    $($flag: r.flags.$flag,)*
                }
            }
        }
    };
}

// One field per flag, as the API has always listed them (not a flattened `RoleFlags`, which
// utoipa would describe as an `allOf`).
crowdwire_world::for_each_role_flag!(role_in_db);

/// A membership (`World_UserInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorldUserInDB {
    /// Member.
    pub user_id: UserRef,
    /// World.
    pub world_id: i64,
    /// 0 normal, 1 banned.
    pub status: Option<i32>,
    /// Avatar.
    pub avatar: Option<String>,
    /// Display name in the world.
    pub username: Option<String>,
    /// Role.
    pub role_id: i64,
}

impl From<Member> for WorldUserInDB {
    fn from(m: Member) -> WorldUserInDB {
        WorldUserInDB {
            user_id: UserRef::Id(m.user_id),
            world_id: m.world_id,
            status: Some(m.status),
            avatar: m.avatar,
            username: m.username,
            role_id: m.role_id,
        }
    }
}

impl From<Guest> for WorldUserInDB {
    fn from(g: Guest) -> WorldUserInDB {
        let id = uuid::Uuid::parse_str(&g.guest_id)
            .map(UserRef::Guest)
            .unwrap_or(UserRef::Id(-1));
        WorldUserInDB {
            user_id: id,
            world_id: g.world_id,
            status: Some(g.status),
            avatar: g.avatar,
            username: g.username,
            role_id: g.role_id,
        }
    }
}

/// A position in pixels, or `{}` when unknown.
#[derive(Debug, Serialize, ToSchema, Default)]
pub struct LastPos {
    /// X.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub x: Option<f64>,
    /// Y.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub y: Option<f64>,
}

impl LastPos {
    fn of(x: Option<f64>, y: Option<f64>) -> LastPos {
        match (x, y) {
            (Some(x), Some(y)) => LastPos { x: Some(x), y: Some(y) },
            _ => LastPos::default(),
        }
    }
}

/// What a joining client needs: its profile, role, last position and the map
/// (`World_UserWithRoleAndMap`).
#[derive(Debug, Serialize, ToSchema)]
pub struct WorldUserWithRoleAndMap {
    /// The user.
    pub user_id: UserRef,
    /// The world.
    pub world_id: i64,
    /// Membership status.
    pub status: Option<i32>,
    /// Avatar.
    pub avatar: Option<String>,
    /// Display name.
    pub username: Option<String>,
    /// Role.
    pub role: RoleInDB,
    /// Last position.
    pub last_pos: LastPos,
    /// Tiled JSON map.
    pub world_map: String,
}

impl WorldUserWithRoleAndMap {
    /// For a registered member.
    pub fn member(m: Member, role: Role, world_map: String) -> WorldUserWithRoleAndMap {
        WorldUserWithRoleAndMap {
            user_id: UserRef::Id(m.user_id),
            world_id: m.world_id,
            status: Some(m.status),
            avatar: m.avatar,
            username: m.username,
            role: role.into(),
            last_pos: LastPos::of(m.last_x, m.last_y),
            world_map,
        }
    }

    /// For a guest.
    pub fn guest(g: Guest, role: Role, world_map: String) -> WorldUserWithRoleAndMap {
        let last_pos = LastPos::of(g.last_x, g.last_y);
        let base = WorldUserInDB::from(g);
        WorldUserWithRoleAndMap {
            user_id: base.user_id,
            world_id: base.world_id,
            status: base.status,
            avatar: base.avatar,
            username: base.username,
            role: role.into(),
            last_pos,
            world_map,
        }
    }
}

/// The result of assigning a role.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoleAssignment {
    /// User.
    pub user_id: UserRef,
    /// World.
    pub world_id: i64,
    /// New role.
    pub role_id: i64,
    /// Display name.
    pub username: Option<String>,
    /// Avatar.
    pub avatar: Option<String>,
}

/// A world report (`ReportWorldInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportWorldInDB {
    /// Reported world.
    pub reported: i64,
    /// Reporter.
    pub reporter: i64,
    /// When.
    pub timestamp: String,
    /// Free text.
    pub comment: Option<String>,
    /// Reviewed.
    pub reviewed: bool,
}

impl From<WorldReport> for ReportWorldInDB {
    fn from(r: WorldReport) -> ReportWorldInDB {
        ReportWorldInDB {
            reported: r.reported,
            reporter: r.reporter,
            timestamp: ts(r.timestamp),
            comment: r.comment,
            reviewed: r.reviewed,
        }
    }
}

/// A world report with e-mail and world name (`ReportWorldInDBWithEmail`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportWorldInDBWithEmail {
    /// The report.
    #[serde(flatten)]
    pub report: ReportWorldInDB,
    /// Reporter's e-mail.
    pub reporter_email: Option<String>,
    /// World name.
    pub world_name: Option<String>,
    /// World status.
    pub banned: i32,
}

impl From<WorldReportDetailed> for ReportWorldInDBWithEmail {
    fn from(r: WorldReportDetailed) -> ReportWorldInDBWithEmail {
        ReportWorldInDBWithEmail {
            report: r.report.into(),
            reporter_email: r.reporter_email,
            world_name: r.world_name,
            banned: r.banned,
        }
    }
}

/// A user report (`ReportUserInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportUserInDB {
    /// Reporter.
    pub reporter: i64,
    /// Reported.
    pub reported: i64,
    /// World.
    pub world_id: i64,
    /// Free text.
    pub comment: Option<String>,
    /// When.
    pub timestamp: String,
    /// Reviewed.
    pub reviewed: bool,
}

impl From<UserReport> for ReportUserInDB {
    fn from(r: UserReport) -> ReportUserInDB {
        ReportUserInDB {
            reporter: r.reporter,
            reported: r.reported,
            world_id: r.world_id,
            comment: r.comment,
            timestamp: ts(r.timestamp),
            reviewed: r.reviewed,
        }
    }
}

/// A user report with names and e-mails (`ReportUserInDBDetailed`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReportUserInDBDetailed {
    /// The report.
    #[serde(flatten)]
    pub report: ReportUserInDB,
    /// Reporter's name in the world.
    pub reporter_name: Option<String>,
    /// Reported user's name in the world.
    pub reported_name: Option<String>,
    /// Reporter's e-mail.
    pub reporter_email: Option<String>,
    /// Reported user's e-mail.
    pub reported_email: Option<String>,
    /// World name.
    pub world_name: Option<String>,
}

impl From<UserReportDetailed> for ReportUserInDBDetailed {
    fn from(r: UserReportDetailed) -> ReportUserInDBDetailed {
        ReportUserInDBDetailed {
            report: r.report.into(),
            reporter_name: r.reporter_name,
            reported_name: r.reported_name,
            reporter_email: r.reporter_email,
            reported_email: r.reported_email,
            world_name: r.world_name,
        }
    }
}

/// An activity-log entry (`EventInDB`).
#[derive(Debug, Serialize, ToSchema)]
pub struct EventInDB {
    /// `JOIN_PLAYER`, `LEAVE_PLAYER`, `JOIN_CONFERENCE` or `LEAVE_CONFERENCE`.
    pub event_type: String,
    /// When.
    pub timestamp: String,
    /// World.
    pub world_id: i64,
    /// User.
    pub user_id: i64,
}

impl From<Event> for EventInDB {
    fn from(e: Event) -> EventInDB {
        EventInDB {
            event_type: e.event_type,
            timestamp: ts(e.timestamp),
            world_id: e.world_id,
            user_id: e.user_id,
        }
    }
}

/// Platform counters.
#[derive(Debug, Serialize, ToSchema)]
pub struct GlobalStatistics {
    /// Accounts in good standing.
    pub users: i64,
    /// Worlds (any status).
    pub worlds: i64,
    /// Unreviewed user reports.
    pub user_reports: i64,
    /// Unreviewed reports on open worlds.
    pub world_reports: i64,
    /// Users connected now.
    pub online_users: u64,
}

/// One world's counters.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorldStatistics {
    /// World.
    pub world_id: i64,
    /// Members.
    pub total_users: i64,
    /// Users connected now.
    pub online_users: u64,
    /// User reports filed in the world.
    pub reports_users: i64,
    /// Sum of join counts.
    pub total_n_joins: i64,
}
