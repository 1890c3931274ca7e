//! The `world_guests` table: per-world profiles of guests, who have no account.
//!
//! A guest profile expires a day after the guest's last join, like the original's Redis
//! profile; expired rows are ignored and purged lazily.

use crate::{Db, Result, Timestamp, on_db};

/// How long a guest profile outlives the guest's last join (µs).
pub const GUEST_PROFILE_TTL_MICROS: i64 = 24 * 3600 * 1_000_000;

/// A row of `world_guests`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Guest {
    /// The guest's UUID.
    pub guest_id: String,
    /// The world.
    pub world_id: i64,
    /// Role (the world's default one unless changed).
    pub role_id: i64,
    /// Avatar.
    pub avatar: Option<String>,
    /// Display name.
    pub username: Option<String>,
    /// Status (0 normal).
    pub status: i32,
    /// Last position, x.
    pub last_x: Option<f64>,
    /// Last position, y.
    pub last_y: Option<f64>,
    /// Expiry (µs).
    pub expires_at: i64,
}

const COLS: &str = "guest_id, world_id, role_id, avatar, username, status, last_x, last_y, expires_at";

impl Db {
    /// The live (unexpired) profile of a guest in a world.
    pub async fn guest(&self, world_id: i64, guest_id: &str) -> Result<Option<Guest>> {
        let sql = format!("SELECT {COLS} FROM world_guests WHERE world_id = $1 AND guest_id = $2 AND expires_at > $3");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(guest_id).bind(Timestamp::now().0).fetch_optional(p).await)?,
        )
    }

    /// Creates a guest profile, or renews an existing one's expiry. Returns the profile.
    pub async fn upsert_guest(
        &self,
        world_id: i64,
        guest_id: &str,
        role_id: i64,
        avatar: &str,
        username: &str,
    ) -> Result<Guest> {
        let now = Timestamp::now().0;
        on_db!(self, p => sqlx::query("DELETE FROM world_guests WHERE expires_at <= $1").bind(now).execute(p).await.map(|r| r.rows_affected()))?;
        let sql = format!(
            "INSERT INTO world_guests (guest_id, world_id, role_id, avatar, username, status, expires_at) \
             VALUES ($1, $2, $3, $4, $5, 0, $6) \
             ON CONFLICT (world_id, guest_id) DO UPDATE SET expires_at = excluded.expires_at RETURNING {COLS}"
        );
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(guest_id).bind(world_id).bind(role_id).bind(avatar).bind(username).bind(now + GUEST_PROFILE_TTL_MICROS)
            .fetch_one(p).await)?)
    }

    /// Changes a guest's display name, avatar or role.
    pub async fn update_guest(
        &self,
        world_id: i64,
        guest_id: &str,
        username: Option<&str>,
        avatar: Option<&str>,
        role_id: Option<i64>,
    ) -> Result<Option<Guest>> {
        let sql = format!(
            "UPDATE world_guests SET username = COALESCE($3, username), avatar = COALESCE($4, avatar), \
             role_id = COALESCE($5, role_id) WHERE world_id = $1 AND guest_id = $2 AND expires_at > $6 RETURNING {COLS}"
        );
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(world_id).bind(guest_id).bind(username).bind(avatar).bind(role_id).bind(Timestamp::now().0)
            .fetch_optional(p).await)?)
    }

    /// Stores a guest's last position.
    pub async fn save_guest_position(&self, world_id: i64, guest_id: &str, x: f64, y: f64) -> Result<()> {
        on_db!(self, p => sqlx::query("UPDATE world_guests SET last_x = $3, last_y = $4 WHERE world_id = $1 AND guest_id = $2")
            .bind(world_id).bind(guest_id).bind(x).bind(y).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }
}
