//! The `world_users` table: registered members of worlds, their role and per-world profile.

use crate::roles::Role;
use crate::{Db, Result, Timestamp, on_db};

/// Membership status values (`world_users.status`).
pub mod status {
    /// A member in good standing.
    pub const NORMAL: i32 = 0;
    /// Banned from this world.
    pub const BANNED: i32 = 1;
}

/// A row of `world_users`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Member {
    /// The member.
    pub user_id: i64,
    /// The world.
    pub world_id: i64,
    /// The member's role in the world.
    pub role_id: i64,
    /// Avatar name.
    pub avatar: Option<String>,
    /// First join (µs).
    pub join_date: i64,
    /// Number of joins.
    pub n_joins: i32,
    /// Last join (µs).
    pub last_join: i64,
    /// See [`status`].
    pub status: i32,
    /// Display name in this world.
    pub username: Option<String>,
    /// Last known position, x.
    pub last_x: Option<f64>,
    /// Last known position, y.
    pub last_y: Option<f64>,
}

const COLS: &str =
    "user_id, world_id, role_id, avatar, join_date, n_joins, last_join, status, username, last_x, last_y";

/// Changes to a membership; `None` leaves a field unchanged.
#[derive(Clone, Debug, Default)]
pub struct MemberChanges {
    /// Display name.
    pub username: Option<String>,
    /// Avatar.
    pub avatar: Option<String>,
    /// Status.
    pub status: Option<i32>,
    /// Role.
    pub role_id: Option<i64>,
}

impl Db {
    /// The membership of `user_id` in `world_id`.
    pub async fn member(&self, world_id: i64, user_id: i64) -> Result<Option<Member>> {
        let sql = format!("SELECT {COLS} FROM world_users WHERE world_id = $1 AND user_id = $2");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(user_id).fetch_optional(p).await)?,
        )
    }

    /// The membership and the role it holds.
    pub async fn member_with_role(&self, world_id: i64, user_id: i64) -> Result<Option<(Member, Role)>> {
        let Some(m) = self.member(world_id, user_id).await? else {
            return Ok(None);
        };
        let role = self.role_in_world(world_id, m.role_id).await?;
        Ok(role.map(|r| (m, r)))
    }

    /// Every member of a world, by user id.
    pub async fn members_of_world(&self, world_id: i64) -> Result<Vec<Member>> {
        let sql = format!("SELECT {COLS} FROM world_users WHERE world_id = $1 ORDER BY user_id");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).fetch_all(p).await)?)
    }

    /// Records a join: creates the membership with `role_id`, `avatar` and `username` on the
    /// first join, or counts one more join. Atomic, so concurrent joins of the same user
    /// produce one row and the right count.
    pub async fn record_join(
        &self,
        world_id: i64,
        user_id: i64,
        role_id: i64,
        avatar: &str,
        username: &str,
    ) -> Result<Member> {
        let sql = format!(
            "INSERT INTO world_users (user_id, world_id, role_id, avatar, join_date, n_joins, last_join, status, username) \
             VALUES ($1, $2, $3, $4, $5, 1, $5, 0, $6) \
             ON CONFLICT (user_id, world_id) DO UPDATE SET n_joins = world_users.n_joins + 1, last_join = excluded.last_join \
             RETURNING {COLS}"
        );
        let now = Timestamp::now().0;
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(user_id).bind(world_id).bind(role_id).bind(avatar).bind(now).bind(username)
            .fetch_one(p).await)?)
    }

    /// Applies changes to a membership and returns the new row.
    pub async fn update_member(&self, world_id: i64, user_id: i64, c: &MemberChanges) -> Result<Option<Member>> {
        let sql = format!(
            "UPDATE world_users SET username = COALESCE($3, username), avatar = COALESCE($4, avatar), \
             status = COALESCE($5, status), role_id = COALESCE($6, role_id) \
             WHERE world_id = $1 AND user_id = $2 RETURNING {COLS}"
        );
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(world_id).bind(user_id).bind(&c.username).bind(&c.avatar).bind(c.status).bind(c.role_id)
            .fetch_optional(p).await)?)
    }

    /// Stores a member's last position (written by the realtime layer on leave).
    pub async fn save_member_position(&self, world_id: i64, user_id: i64, x: f64, y: f64) -> Result<()> {
        on_db!(self, p => sqlx::query("UPDATE world_users SET last_x = $3, last_y = $4 WHERE world_id = $1 AND user_id = $2")
            .bind(world_id).bind(user_id).bind(x).bind(y).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
