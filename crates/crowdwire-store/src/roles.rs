//! The `roles` table: per-world roles and their permission flags (one column per
//! [`RoleFlags`] field, named as the field).

use std::sync::LazyLock;

pub use crowdwire_world::roles::RoleFlags;

use crate::{Db, Result, in_tx, on_db};

/// A row of `roles`. Serialises with the flags beside the other fields.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Role {
    /// Primary key.
    pub role_id: i64,
    /// The world this role belongs to.
    pub world_id: i64,
    /// Unique within its world.
    pub name: String,
    /// Given to new members and guests; exactly one per world.
    pub is_default: bool,
    /// What holders may do.
    #[serde(flatten)]
    pub flags: RoleFlags,
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for Role
where
    &'static str: sqlx::ColumnIndex<R>,
    i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    bool: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
{
    fn from_row(row: &'r R) -> std::result::Result<Role, sqlx::Error> {
        let mut flags = [false; RoleFlags::COUNT];
        for (value, column) in flags.iter_mut().zip(RoleFlags::NAMES) {
            *value = row.try_get(column)?;
        }
        Ok(Role {
            role_id: row.try_get("role_id")?,
            world_id: row.try_get("world_id")?,
            name: row.try_get("name")?,
            is_default: row.try_get("is_default")?,
            flags: RoleFlags::from_array(flags),
        })
    }
}

/// Name of the role every world's creator holds; it cannot be renamed or deleted.
pub const ADMIN_ROLE: &str = "Admin";
/// Name of the default role created with every world.
pub const DEFAULT_ROLE: &str = "default";

/// The columns [`NewRole::bind_to`] binds after `world_id`, in its order.
fn field_cols() -> impl Iterator<Item = &'static str> {
    ["name", "is_default"].into_iter().chain(RoleFlags::NAMES)
}

/// The columns a [`Role`] is read from.
pub(crate) static COLS: LazyLock<String> = LazyLock::new(|| {
    ["role_id", "world_id"]
        .into_iter()
        .chain(field_cols())
        .collect::<Vec<_>>()
        .join(", ")
});

/// Inserts a role and returns it; [`NewRole::bind_to`] binds its parameters.
pub(crate) static INSERT: LazyLock<String> = LazyLock::new(|| {
    let cols: Vec<&str> = std::iter::once("world_id").chain(field_cols()).collect();
    let params: Vec<String> = (1..=cols.len()).map(|i| format!("${i}")).collect();
    format!(
        "INSERT INTO roles ({}) VALUES ({}) RETURNING {}",
        cols.join(", "),
        params.join(", "),
        *COLS
    )
});

/// Replaces a role's fields and returns it: [`NewRole::bind_to`], then the role id.
static UPDATE: LazyLock<String> = LazyLock::new(|| {
    let set: Vec<String> = field_cols()
        .enumerate()
        .map(|(i, c)| format!("{c} = ${}", i + 2))
        .collect();
    format!(
        "UPDATE roles SET {} WHERE world_id = $1 AND role_id = ${} RETURNING {}",
        set.join(", "),
        set.len() + 2,
        *COLS
    )
});

/// The fields of a role, without ids.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NewRole {
    /// Name.
    pub name: String,
    /// Default flag.
    pub is_default: bool,
    /// Permission flags.
    pub flags: RoleFlags,
}

impl NewRole {
    /// The `default` role of a new world: walk, talk, chat and interact (file boards).
    pub fn default_role() -> NewRole {
        NewRole {
            name: DEFAULT_ROLE.into(),
            is_default: true,
            flags: RoleFlags {
                interact: true,
                walk: true,
                talk: true,
                chat: true,
                ..RoleFlags::default()
            },
        }
    }

    /// The `Admin` role of a new world: every permission.
    pub fn admin_role() -> NewRole {
        NewRole {
            name: ADMIN_ROLE.into(),
            is_default: false,
            flags: RoleFlags::ALL,
        }
    }

    /// Binds `world_id` and the fields, in [`INSERT`]'s order.
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
        let q = q.bind(world_id).bind(self.name.clone()).bind(self.is_default);
        self.flags.to_array().into_iter().fold(q, |q, value| q.bind(value))
    }
}

impl Role {
    /// The role's fields without ids, for editing.
    pub fn fields(&self) -> NewRole {
        NewRole {
            name: self.name.clone(),
            is_default: self.is_default,
            flags: self.flags,
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
        let sql = format!("SELECT {} FROM roles WHERE world_id = $1 ORDER BY role_id", *COLS);
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).fetch_all(p).await)?)
    }

    /// The role with this id, only if it belongs to `world_id`.
    pub async fn role_in_world(&self, world_id: i64, role_id: i64) -> Result<Option<Role>> {
        let sql = format!("SELECT {} FROM roles WHERE world_id = $1 AND role_id = $2", *COLS);
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(role_id).fetch_optional(p).await)?,
        )
    }

    /// The default role of a world.
    pub async fn default_role(&self, world_id: i64) -> Result<Option<Role>> {
        let sql = format!("SELECT {} FROM roles WHERE world_id = $1 AND is_default", *COLS);
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).fetch_optional(p).await)?)
    }

    /// The role named `name` in a world.
    pub async fn role_by_name(&self, world_id: i64, name: &str) -> Result<Option<Role>> {
        let sql = format!("SELECT {} FROM roles WHERE world_id = $1 AND name = $2", *COLS);
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(name).fetch_optional(p).await)?,
        )
    }

    /// Adds a role to a world. A duplicate name (or a second default) is a unique violation.
    pub async fn insert_role(&self, world_id: i64, r: &NewRole) -> Result<Role> {
        Ok(
            on_db!(self, p => r.bind_to(sqlx::query_as(sqlx::AssertSqlSafe(INSERT.as_str())), world_id).fetch_one(p).await)?,
        )
    }

    /// Replaces a role's fields. When it becomes the default, the previous default role
    /// stops being one, in the same transaction.
    pub async fn update_role(&self, world_id: i64, role_id: i64, r: &NewRole) -> Result<Option<Role>> {
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
            let role: Option<Role> = r.bind_to(sqlx::query_as(sqlx::AssertSqlSafe(UPDATE.as_str())), world_id)
                .bind(role_id).fetch_optional(&mut *tx).await?;
            role
        });
        Ok(out)
    }

    /// Deletes a role of `world_id`, moving its holders (members and guests) to that world's
    /// default role first. The caller has checked it is neither the default nor `Admin`.
    pub async fn delete_role(&self, world_id: i64, role_id: i64) -> Result<RoleDeletion> {
        let sql = format!("SELECT {} FROM roles WHERE world_id = $1 AND role_id = $2", *COLS);
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
