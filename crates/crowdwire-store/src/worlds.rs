//! The `worlds`, `world_tags` and `tags` tables.

use std::collections::HashMap;

use crate::args::Filter;
use crate::roles::{NewRole, Role};
use crate::{Arg, Db, Result, Timestamp, bind_args, in_tx, on_db};

/// World status values (`worlds.status`).
pub mod status {
    /// Open.
    pub const NORMAL: i32 = 0;
    /// Banned by a platform administrator.
    pub const BANNED: i32 = 1;
    /// Soft-deleted by its creator.
    pub const DELETED: i32 = 2;
}

/// A row of `worlds`, without the (large) map.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct World {
    /// Primary key.
    pub world_id: i64,
    /// Creating user (NULL once that account is deleted).
    pub creator: Option<i64>,
    /// Name, unique among worlds that are not deleted.
    pub name: String,
    /// Creation time (µs).
    pub creation_date: i64,
    /// Last update (µs).
    pub update_date: Option<i64>,
    /// Free text.
    pub description: Option<String>,
    /// Capacity; `None` is unlimited.
    pub max_users: Option<i32>,
    /// Listed publicly.
    pub public: bool,
    /// Guests may enter.
    pub allow_guests: bool,
    /// Image as a data URL.
    pub profile_image: Option<String>,
    /// See [`status`].
    pub status: i32,
}

const RCOLS: &str = "world_id, creator, name, creation_date, update_date, description, \
                     max_users, public, allow_guests, profile_image, status";

const COLS: &str = "w.world_id, w.creator, w.name, w.creation_date, w.update_date, w.description, \
                    w.max_users, w.public, w.allow_guests, w.profile_image, w.status";

/// The fields of a new world.
#[derive(Clone, Debug)]
pub struct NewWorld {
    /// Creator's user id.
    pub creator: i64,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Capacity.
    pub max_users: Option<i32>,
    /// Public.
    pub public: bool,
    /// Guests allowed.
    pub allow_guests: bool,
    /// Tiled JSON map.
    pub world_map: String,
    /// Image.
    pub profile_image: Option<String>,
    /// Tag names (already validated).
    pub tags: Vec<String>,
}

/// Changes to a world; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default)]
pub struct WorldChanges {
    /// Name.
    pub name: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Capacity.
    pub max_users: Option<i32>,
    /// Public.
    pub public: Option<bool>,
    /// Guests allowed.
    pub allow_guests: Option<bool>,
    /// Status.
    pub status: Option<i32>,
    /// Image.
    pub profile_image: Option<String>,
    /// Map.
    pub world_map: Option<String>,
    /// Replacement tag set.
    pub tags: Option<Vec<String>>,
}

/// Which worlds a search may see.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Public, guest-enabled, open worlds (what a guest may list).
    GuestVisible,
    /// Public open worlds.
    Public,
    /// Worlds (not deleted) where this user has a membership.
    JoinedBy(i64),
    /// Worlds (not deleted) created by this user.
    OwnedBy(i64),
    /// Administrator view: worlds with these statuses, optionally of one creator.
    Admin {
        /// Statuses included.
        statuses: Vec<i32>,
        /// Creator filter.
        creator: Option<i64>,
    },
}

/// A world search.
#[derive(Clone, Debug)]
pub struct WorldQuery {
    /// Visibility scope.
    pub scope: Scope,
    /// Case-insensitive substring of name or description.
    pub search: String,
    /// Worlds having at least one of these tags.
    pub tags: Vec<String>,
    /// Order by creation date (else by id).
    pub by_creation: bool,
    /// Descending order.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// The `UPDATE` for `c`, given the world's current name and description (to recompute the
/// derived search columns).
fn world_update_sql(id: i64, c: &WorldChanges, old_name: &str, old_description: Option<&str>) -> (String, Vec<Arg>) {
    let mut f = Filter::new();
    let mut sets = vec![format!("update_date = {}", f.arg(Arg::I64(Timestamp::now().0)))];
    if let Some(v) = &c.name {
        sets.push(format!("name = {}", f.arg(Arg::Text(v.clone()))));
        sets.push(format!("name_key = {}", f.arg(Arg::Text(name_key(v)))));
    }
    if let Some(v) = &c.description {
        sets.push(format!("description = {}", f.arg(Arg::Text(v.clone()))));
    }
    if c.name.is_some() || c.description.is_some() {
        let name = c.name.as_deref().unwrap_or(old_name);
        let description = c.description.as_deref().or(old_description);
        sets.push(format!(
            "search_text = {}",
            f.arg(Arg::Text(search_text(name, description)))
        ));
    }
    if let Some(v) = c.max_users {
        sets.push(format!("max_users = {}", f.arg(Arg::I32(v))));
    }
    if let Some(v) = c.public {
        sets.push(format!("public = {}", f.arg(Arg::Bool(v))));
    }
    if let Some(v) = c.allow_guests {
        sets.push(format!("allow_guests = {}", f.arg(Arg::Bool(v))));
    }
    if let Some(v) = c.status {
        sets.push(format!("status = {}", f.arg(Arg::I32(v))));
    }
    if let Some(v) = &c.profile_image {
        sets.push(format!("profile_image = {}", f.arg(Arg::Text(v.clone()))));
    }
    if let Some(v) = &c.world_map {
        sets.push(format!("world_map = {}", f.arg(Arg::Text(v.clone()))));
    }
    let id_p = f.arg(Arg::I64(id));
    let sql = format!(
        "UPDATE worlds SET {} WHERE world_id = {id_p} RETURNING {RCOLS}",
        sets.join(", ")
    );
    (sql, f.args)
}

/// The key a world name is unique by: its Unicode lowercase form.
pub fn name_key(name: &str) -> String {
    name.to_lowercase()
}

/// What a world search matches against: name and description, Unicode-lowercased.
fn search_text(name: &str, description: Option<&str>) -> String {
    format!("{}\n{}", name, description.unwrap_or("")).to_lowercase()
}

impl Db {
    /// All tag names.
    pub async fn tags(&self) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            on_db!(self, p => sqlx::query_as("SELECT name FROM tags ORDER BY name").fetch_all(p).await)?;
        Ok(rows.into_iter().map(|r| r.0).collect())
    }

    /// The tags among `names` that do not exist.
    pub async fn unknown_tags(&self, names: &[String]) -> Result<Vec<String>> {
        let known = self.tags().await?;
        Ok(names.iter().filter(|n| !known.contains(n)).cloned().collect())
    }

    /// The world with this id, whatever its status.
    pub async fn world_by_id(&self, id: i64) -> Result<Option<World>> {
        let sql = format!("SELECT {COLS} FROM worlds w WHERE w.world_id = $1");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)?)
    }

    /// The Tiled JSON map of a world.
    pub async fn world_map(&self, id: i64) -> Result<Option<String>> {
        let row: Option<(String,)> = on_db!(self, p => sqlx::query_as("SELECT world_map FROM worlds WHERE world_id = $1").bind(id).fetch_optional(p).await)?;
        Ok(row.map(|r| r.0))
    }

    /// Tag names of each of these worlds.
    pub async fn tags_of(&self, ids: &[i64]) -> Result<HashMap<i64, Vec<String>>> {
        let mut out: HashMap<i64, Vec<String>> = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let list: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        let sql = format!(
            "SELECT world_id, tag_name FROM world_tags WHERE world_id IN ({}) ORDER BY tag_name",
            list.join(", ")
        );
        let rows: Vec<(i64, String)> = on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).fetch_all(p).await)?;
        for (w, t) in rows {
            out.entry(w).or_default().push(t);
        }
        Ok(out)
    }

    /// True when a world that is not deleted already uses this name (case-insensitively),
    /// other than `except`.
    pub async fn world_name_taken(&self, name: &str, except: Option<i64>) -> Result<bool> {
        let row: Option<(i64,)> = on_db!(self, p => sqlx::query_as(
            "SELECT world_id FROM worlds WHERE name_key = $1 AND status <> 2 AND world_id <> $2")
            .bind(name_key(name)).bind(except.unwrap_or(-1)).fetch_optional(p).await)?;
        Ok(row.is_some())
    }

    /// How many worlds this user created that are not deleted.
    pub async fn worlds_created_by(&self, user_id: i64) -> Result<i64> {
        let row: (i64,) = on_db!(self, p => sqlx::query_as(
            "SELECT COUNT(*) FROM worlds WHERE creator = $1 AND status <> 2")
            .bind(user_id).fetch_one(p).await)?;
        Ok(row.0)
    }

    /// Creates a world with its `default` and `Admin` roles and makes the creator a member
    /// holding `Admin`, all in one transaction. Returns the world and the Admin role.
    pub async fn create_world(&self, w: &NewWorld, creator_avatar: &str, creator_name: &str) -> Result<(World, Role)> {
        let now = Timestamp::now().0;
        let insert = format!(
            "INSERT INTO worlds (creator, name, creation_date, update_date, description, max_users, public, \
             allow_guests, world_map, profile_image, status, name_key, search_text) \
             VALUES ($1, $2, $3, $3, $4, $5, $6, $7, $8, $9, 0, $10, $11) RETURNING {RCOLS}"
        );
        let roles = [NewRole::default_role(), NewRole::admin_role()];
        let out = in_tx!(self, tx => {
            let world: World = sqlx::query_as(sqlx::AssertSqlSafe(insert))
                .bind(w.creator).bind(&w.name).bind(now).bind(&w.description).bind(w.max_users)
                .bind(w.public).bind(w.allow_guests).bind(&w.world_map).bind(&w.profile_image)
                .bind(name_key(&w.name)).bind(search_text(&w.name, w.description.as_deref()))
                .fetch_one(&mut *tx).await?;
            for t in &w.tags {
                sqlx::query("INSERT INTO world_tags (world_id, tag_name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                    .bind(world.world_id).bind(t).execute(&mut *tx).await?;
            }
            let mut admin: Option<Role> = None;
            for r in &roles {
                let role: Role = r.bind_to(sqlx::query_as(sqlx::AssertSqlSafe(crate::roles::INSERT.as_str())), world.world_id)
                    .fetch_one(&mut *tx).await?;
                if !role.is_default {
                    admin = Some(role);
                }
            }
            let admin = admin.expect("the admin role is inserted just above");
            sqlx::query("INSERT INTO world_users (user_id, world_id, role_id, avatar, join_date, n_joins, last_join, status, username) \
                         VALUES ($1, $2, $3, $4, $5, 1, $5, 0, $6)")
                .bind(w.creator).bind(world.world_id).bind(admin.role_id).bind(creator_avatar).bind(now).bind(creator_name)
                .execute(&mut *tx).await?;
            (world, admin)
        });
        Ok(out)
    }

    /// Applies changes to a world (and its tag set) and bumps `update_date`.
    pub async fn update_world(&self, id: i64, c: &WorldChanges) -> Result<Option<World>> {
        let tags = c.tags.clone();
        let out = in_tx!(self, tx => {
            let current: Option<(String, Option<String>)> =
                sqlx::query_as("SELECT name, description FROM worlds WHERE world_id = $1")
                    .bind(id).fetch_optional(&mut *tx).await?;
            match current {
                None => None,
                Some((old_name, old_description)) => {
                    let (sql, args) = world_update_sql(id, c, &old_name, old_description.as_deref());
                    let world: Option<World> = bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), args)
                        .fetch_optional(&mut *tx).await?;
                    if let (Some(_), Some(tags)) = (&world, &tags) {
                        sqlx::query("DELETE FROM world_tags WHERE world_id = $1").bind(id).execute(&mut *tx).await?;
                        for t in tags {
                            sqlx::query("INSERT INTO world_tags (world_id, tag_name) VALUES ($1, $2) ON CONFLICT DO NOTHING")
                                .bind(id).bind(t).execute(&mut *tx).await?;
                        }
                    }
                    world
                }
            }
        });
        Ok(out)
    }

    /// World search; returns up to `limit` rows.
    pub async fn search_worlds(&self, q: &WorldQuery) -> Result<Vec<World>> {
        let mut f = Filter::new();
        match &q.scope {
            Scope::GuestVisible => f.raw("w.public AND w.allow_guests AND w.status = 0"),
            Scope::Public => f.raw("w.public AND w.status = 0"),
            Scope::JoinedBy(u) => {
                f.push(
                    "EXISTS (SELECT 1 FROM world_users m WHERE m.world_id = w.world_id AND m.user_id = {})",
                    Arg::I64(*u),
                );
                f.raw("w.status <> 2");
            }
            Scope::OwnedBy(u) => {
                f.push("w.creator = {}", Arg::I64(*u));
                f.raw("w.status <> 2");
            }
            Scope::Admin { statuses, creator } => {
                if statuses.is_empty() {
                    return Ok(Vec::new());
                }
                let s: Vec<String> = statuses.iter().map(|s| s.to_string()).collect();
                f.raw(format!("w.status IN ({})", s.join(", ")));
                if let Some(c) = creator {
                    f.push("w.creator = {}", Arg::I64(*c));
                }
            }
        }
        if !q.search.is_empty() {
            let pat = format!("%{}%", crate::escape_like(&q.search.to_lowercase()));
            let p = f.arg(Arg::Text(pat));
            f.raw(format!("w.search_text LIKE {p} ESCAPE '\\'"));
        }
        if !q.tags.is_empty() {
            let ps: Vec<String> = q.tags.iter().map(|t| f.arg(Arg::Text(t.clone()))).collect();
            // `IN (SELECT …)` rather than a correlated `EXISTS`: SQLite 3.51 miscounts OFFSET
            // when such an EXISTS matches several tags of one world, shortening later pages.
            f.raw(format!(
                "w.world_id IN (SELECT t.world_id FROM world_tags t WHERE t.tag_name IN ({}))",
                ps.join(", ")
            ));
        }
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = if q.by_creation {
            format!("w.creation_date {dir}, w.world_id {dir}")
        } else {
            format!("w.world_id {dir}")
        };
        let lim = f.arg(Arg::I64(q.limit));
        let off = f.arg(Arg::I64(q.offset));
        let sql = format!(
            "SELECT {COLS} FROM worlds w {} ORDER BY {order} LIMIT {lim} OFFSET {off}",
            f.where_sql()
        );
        Ok(on_db!(self, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f.args).fetch_all(p).await)?)
    }
}
