//! The `roles` table: per-world roles and their permission flags.

use crate::{Db, Result, in_tx, on_db};

/// A row of `roles`.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow, serde::Serialize)]
pub struct Role {
    /// Primary key.
    pub role_id: i64,
    /// The world this role belongs to.
    pub world_id: i64,
    /// Unique within its world.
    pub name: String,
    /// Given to new members and guests; exactly one per world.
    pub is_default: bool,
    /// May use interactive objects.
    pub interact: bool,
    /// May move.
    pub walk: bool,
    /// May speak in proximity groups.
    pub talk: bool,
    /// Joins conferences as a speaker.
    pub talk_conference: bool,
    /// May mute others.
    pub world_mute: bool,
    /// May manage roles and list members.
    pub role_manage: bool,
    /// May grant the floor in conferences.
    pub conference_manage: bool,
    /// May chat.
    pub chat: bool,
    /// May create invite links.
    pub invite: bool,
    /// May ban members and read user reports of the world.
    pub ban: bool,
}

/// Name of the role every world's creator holds; it cannot be renamed or deleted.
pub const ADMIN_ROLE: &str = "Admin";
/// Name of the default role created with every world.
pub const DEFAULT_ROLE: &str = "default";

pub(crate) const COLS: &str = "role_id, world_id, name, is_default, interact, walk, talk, talk_conference, \
                               world_mute, role_manage, conference_manage, chat, invite, ban";
pub(crate) const INSERT_COLS: &str = "world_id, name, is_default, interact, walk, talk, talk_conference, \
                                      world_mute, role_manage, conference_manage, chat, invite, ban";
pub(crate) const INSERT_PARAMS: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13";

/// The fields of a role, without ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRole {
    /// Name.
    pub name: String,
    /// Default flag.
    pub is_default: bool,
    /// Flags, in column order.
    pub interact: bool,
    /// Walk.
    pub walk: bool,
    /// Talk.
    pub talk: bool,
    /// Talk in conferences.
    pub talk_conference: bool,
    /// Mute others.
    pub world_mute: bool,
    /// Manage roles.
    pub role_manage: bool,
    /// Manage conferences.
    pub conference_manage: bool,
    /// Chat.
    pub chat: bool,
    /// Invite.
    pub invite: bool,
    /// Ban.
    pub ban: bool,
}

impl NewRole {
    /// The `default` role of a new world: walk, talk, chat and interact (file boards).
    pub fn default_role() -> NewRole {
        NewRole {
            name: DEFAULT_ROLE.into(),
            is_default: true,
            interact: true,
            walk: true,
            talk: true,
            chat: true,
            ..NewRole::default()
        }
    }

    /// The `Admin` role of a new world: every permission.
    pub fn admin_role() -> NewRole {
        NewRole {
            name: ADMIN_ROLE.into(),
            is_default: false,
            interact: true,
            walk: true,
            talk: true,
            talk_conference: true,
            world_mute: true,
            role_manage: true,
            conference_manage: true,
            chat: true,
            invite: true,
            ban: true,
        }
    }

    /// Binds `world_id` and the fields, in [`INSERT_COLS`] order.
    pub(crate) fn bind_to<'q, DB, O>(
        &self,
        q: sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>,
        world_id: i64,
    ) -> sqlx::query::QueryAs<'q, DB, O, <DB as sqlx::Database>::Arguments>
    where
        DB: sqlx::Database,
        i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        bool: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
        String: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
    {
        q.bind(world_id)
            .bind(self.name.clone())
            .bind(self.is_default)
            .bind(self.interact)
            .bind(self.walk)
            .bind(self.talk)
            .bind(self.talk_conference)
            .bind(self.world_mute)
            .bind(self.role_manage)
            .bind(self.conference_manage)
            .bind(self.chat)
            .bind(self.invite)
            .bind(self.ban)
    }
}

impl Role {
    /// The role's fields without ids, for editing.
    pub fn fields(&self) -> NewRole {
        NewRole {
            name: self.name.clone(),
            is_default: self.is_default,
            interact: self.interact,
            walk: self.walk,
            talk: self.talk,
            talk_conference: self.talk_conference,
            world_mute: self.world_mute,
            role_manage: self.role_manage,
            conference_manage: self.conference_manage,
            chat: self.chat,
            invite: self.invite,
            ban: self.ban,
        }
    }
}

/// Outcome of deleting a role.
#[derive(Debug)]
pub enum RoleDeletion {
    /// Deleted; its holders now have the world's default role.
    Deleted(Role),
    /// No such role in that world.
    NotFound,
}

impl Db {
    /// All roles of a world, by id.
    pub async fn roles_of_world(&self, world_id: i64) -> Result<Vec<Role>> {
        let sql = format!("SELECT {COLS} FROM roles WHERE world_id = $1 ORDER BY role_id");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).fetch_all(p).await)?)
    }

    /// The role with this id, only if it belongs to `world_id`.
    pub async fn role_in_world(&self, world_id: i64, role_id: i64) -> Result<Option<Role>> {
        let sql = format!("SELECT {COLS} FROM roles WHERE world_id = $1 AND role_id = $2");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(role_id).fetch_optional(p).await)?,
        )
    }

    /// The default role of a world.
    pub async fn default_role(&self, world_id: i64) -> Result<Option<Role>> {
        let sql = format!("SELECT {COLS} FROM roles WHERE world_id = $1 AND is_default");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).fetch_optional(p).await)?)
    }

    /// The role named `name` in a world.
    pub async fn role_by_name(&self, world_id: i64, name: &str) -> Result<Option<Role>> {
        let sql = format!("SELECT {COLS} FROM roles WHERE world_id = $1 AND name = $2");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(name).fetch_optional(p).await)?,
        )
    }

    /// Adds a role to a world. A duplicate name (or a second default) is a unique violation.
    pub async fn insert_role(&self, world_id: i64, r: &NewRole) -> Result<Role> {
        let sql = format!("INSERT INTO roles ({INSERT_COLS}) VALUES ({INSERT_PARAMS}) RETURNING {COLS}");
        Ok(on_db!(self, p => r.bind_to(sqlx::query_as(sqlx::AssertSqlSafe(sql)), world_id).fetch_one(p).await)?)
    }

    /// Replaces a role's fields. When it becomes the default, the previous default role
    /// stops being one, in the same transaction.
    pub async fn update_role(&self, world_id: i64, role_id: i64, r: &NewRole) -> Result<Option<Role>> {
        let sql = format!(
            "UPDATE roles SET name = $2, is_default = $3, interact = $4, walk = $5, talk = $6, \
             talk_conference = $7, world_mute = $8, role_manage = $9, conference_manage = $10, chat = $11, \
             invite = $12, ban = $13 WHERE world_id = $1 AND role_id = $14 RETURNING {COLS}"
        );
        let out = in_tx!(self, tx => {
            if r.is_default {
                // Lock the world row first, so concurrent switches of the default queue here
                // and each one clears the default committed before it (PostgreSQL; SQLite's
                // BEGIN IMMEDIATE already serialises them).
                sqlx::query("UPDATE worlds SET status = status WHERE world_id = $1")
                    .bind(world_id).execute(&mut *tx).await?;
                sqlx::query("UPDATE roles SET is_default = FALSE WHERE world_id = $1 AND is_default AND role_id <> $2")
                    .bind(world_id).bind(role_id).execute(&mut *tx).await?;
            }
            let role: Option<Role> = r.bind_to(sqlx::query_as(sqlx::AssertSqlSafe(sql)), world_id)
                .bind(role_id).fetch_optional(&mut *tx).await?;
            role
        });
        Ok(out)
    }

    /// Deletes a role of `world_id`, moving its holders (members and guests) to that world's
    /// default role first. The caller has checked it is neither the default nor `Admin`.
    pub async fn delete_role(&self, world_id: i64, role_id: i64) -> Result<RoleDeletion> {
        let sql = format!("SELECT {COLS} FROM roles WHERE world_id = $1 AND role_id = $2");
        let out = in_tx!(self, tx => {
            let role: Option<Role> = sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(role_id)
                .fetch_optional(&mut *tx).await?;
            match role {
                None => RoleDeletion::NotFound,
                Some(role) => {
                    for table in ["world_users", "world_guests"] {
                        let q = format!(
                            "UPDATE {table} SET role_id = (SELECT role_id FROM roles WHERE world_id = $1 AND is_default) \
                             WHERE world_id = $1 AND role_id = $2");
                        sqlx::query(sqlx::AssertSqlSafe(q)).bind(world_id).bind(role_id).execute(&mut *tx).await?;
                    }
                    sqlx::query("DELETE FROM roles WHERE role_id = $1").bind(role_id).execute(&mut *tx).await?;
                    RoleDeletion::Deleted(role)
                }
            }
        });
        Ok(out)
    }
}
