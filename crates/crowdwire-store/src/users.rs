//! The `users` table: registered accounts.

use crate::args::Filter;
use crate::{Arg, Db, Result, Timestamp, bind_args, on_db};

/// Account status values (`users.status`).
pub mod status {
    /// A usable account.
    pub const NORMAL: i32 = 0;
    /// Banned platform-wide.
    pub const BANNED: i32 = 1;
    /// Deleted.
    pub const DELETED: i32 = 2;
    /// Waiting for e-mail confirmation.
    pub const PENDING: i32 = 3;
}

/// A row of `users`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct User {
    /// Primary key.
    pub user_id: i64,
    /// Display name.
    pub name: String,
    /// Login e-mail, unique case-insensitively.
    pub email: String,
    /// Argon2id (or imported bcrypt) hash; `None` for accounts that only sign in with Google.
    pub hashed_password: Option<String>,
    /// Birth date, `YYYY-MM-DD`.
    pub birth: Option<String>,
    /// Registration time (µs).
    pub register_date: i64,
    /// See [`status`].
    pub status: i32,
    /// Platform administrator.
    pub is_superuser: bool,
    /// Google subject id, for Google sign-in.
    pub sub: Option<String>,
    /// Tokens minted at an older version are revoked.
    pub token_version: i64,
}

const COLS: &str =
    "user_id, name, email, hashed_password, birth, register_date, status, is_superuser, sub, token_version";

/// The fields of a new account.
#[derive(Clone, Debug)]
pub struct NewUser<'a> {
    /// Display name.
    pub name: &'a str,
    /// E-mail.
    pub email: &'a str,
    /// Password hash, if any.
    pub hashed_password: Option<&'a str>,
    /// Birth date.
    pub birth: Option<&'a str>,
    /// Initial status.
    pub status: i32,
    /// Superuser flag.
    pub is_superuser: bool,
    /// Google subject.
    pub sub: Option<&'a str>,
}

/// Changes to an account; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct UserChanges {
    /// New name.
    pub name: Option<String>,
    /// New e-mail.
    pub email: Option<String>,
    /// New birth date.
    pub birth: Option<String>,
    /// New status.
    pub status: Option<i32>,
    /// New registration date (superusers only).
    pub register_date: Option<i64>,
    /// New password hash.
    pub hashed_password: Option<String>,
    /// New superuser flag.
    pub is_superuser: Option<bool>,
    /// Revoke every token minted so far (raise the token version).
    pub revoke_tokens: bool,
}

/// Search criteria for the admin user list.
#[derive(Clone, Debug)]
pub struct UserQuery {
    /// Case-insensitive e-mail prefix.
    pub email_prefix: Option<String>,
    /// Statuses to include.
    pub statuses: Vec<i32>,
    /// Newest first when true.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// What the configured superuser's bootstrap did.
#[derive(Debug)]
pub enum Bootstrap {
    /// The superuser exists (created, or already a superuser: its password and status were
    /// set from the configuration).
    Ready(User),
    /// An ordinary account holds the configured address; it was left as it is.
    Refused(User),
}

impl Db {
    /// Creates an account and returns it.
    pub async fn insert_user(&self, u: &NewUser<'_>) -> Result<User> {
        let sql = format!(
            "INSERT INTO users (name, email, hashed_password, birth, register_date, status, is_superuser, sub) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLS}"
        );
        let now = Timestamp::now().0;
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(u.name).bind(u.email).bind(u.hashed_password).bind(u.birth).bind(now)
            .bind(u.status).bind(u.is_superuser).bind(u.sub)
            .fetch_one(p).await)?)
    }

    /// The account with this id.
    pub async fn user_by_id(&self, id: i64) -> Result<Option<User>> {
        let sql = format!("SELECT {COLS} FROM users WHERE user_id = $1");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(id).fetch_optional(p).await)?)
    }

    /// The account with this e-mail, compared case-insensitively.
    pub async fn user_by_email(&self, email: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {COLS} FROM users WHERE lower(email) = lower($1)");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(email).fetch_optional(p).await)?)
    }

    /// The account linked to this Google subject.
    pub async fn user_by_sub(&self, sub: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {COLS} FROM users WHERE sub = $1");
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(sub).fetch_optional(p).await)?)
    }

    /// Applies `changes` to an account and returns the new row (`None` if it does not exist).
    pub async fn update_user(&self, id: i64, changes: &UserChanges) -> Result<Option<User>> {
        let mut f = Filter::new();
        let mut sets = Vec::new();
        if let Some(v) = &changes.name {
            sets.push(format!("name = {}", f.arg(Arg::Text(v.clone()))));
        }
        if let Some(v) = &changes.email {
            sets.push(format!("email = {}", f.arg(Arg::Text(v.clone()))));
        }
        if let Some(v) = &changes.birth {
            sets.push(format!("birth = {}", f.arg(Arg::Text(v.clone()))));
        }
        if let Some(v) = changes.status {
            sets.push(format!("status = {}", f.arg(Arg::I32(v))));
        }
        if let Some(v) = changes.register_date {
            sets.push(format!("register_date = {}", f.arg(Arg::I64(v))));
        }
        if let Some(v) = &changes.hashed_password {
            sets.push(format!("hashed_password = {}", f.arg(Arg::Text(v.clone()))));
        }
        if let Some(v) = changes.is_superuser {
            sets.push(format!("is_superuser = {}", f.arg(Arg::Bool(v))));
        }
        if changes.revoke_tokens {
            sets.push("token_version = token_version + 1".to_owned());
        }
        if sets.is_empty() {
            return self.user_by_id(id).await;
        }
        let id_p = f.arg(Arg::I64(id));
        let sql = format!(
            "UPDATE users SET {} WHERE user_id = {id_p} RETURNING {COLS}",
            sets.join(", ")
        );
        Ok(on_db!(self, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f.args).fetch_optional(p).await)?)
    }

    /// Deletes an account (used to undo a registration whose confirmation mail failed).
    pub async fn delete_user(&self, id: i64) -> Result<()> {
        on_db!(self, p => sqlx::query("DELETE FROM users WHERE user_id = $1").bind(id).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Admin user search, ordered by registration date; returns up to `limit` rows.
    pub async fn search_users(&self, q: &UserQuery) -> Result<Vec<User>> {
        if q.statuses.is_empty() {
            return Ok(Vec::new());
        }
        let mut f = Filter::new();
        if let Some(prefix) = &q.email_prefix {
            f.push(
                "lower(email) LIKE {} ESCAPE '\\'",
                Arg::Text(format!("{}%", crate::escape_like(&prefix.to_lowercase()))),
            );
        }
        let statuses: Vec<String> = q.statuses.iter().map(|s| s.to_string()).collect();
        f.raw(format!("status IN ({})", statuses.join(", ")));
        let dir = if q.descending { "DESC" } else { "ASC" };
        let lim = f.arg(Arg::I64(q.limit));
        let off = f.arg(Arg::I64(q.offset));
        let sql = format!(
            "SELECT {COLS} FROM users {} ORDER BY register_date {dir}, user_id {dir} LIMIT {lim} OFFSET {off}",
            f.where_sql()
        );
        Ok(on_db!(self, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f.args).fetch_all(p).await)?)
    }

    /// Creates the platform superuser with this e-mail, or resets its password and flag.
    pub async fn upsert_superuser(&self, email: &str, name: &str, hashed_password: &str) -> Result<Bootstrap> {
        if let Some(existing) = self.user_by_email(email).await? {
            // Never promote an account that is not already a superuser: anyone may have
            // changed their address to the configured one.
            if !existing.is_superuser {
                return Ok(Bootstrap::Refused(existing));
            }
            let changes = UserChanges {
                hashed_password: Some(hashed_password.to_owned()),
                is_superuser: Some(true),
                status: Some(status::NORMAL),
                ..UserChanges::default()
            };
            let updated = self.update_user(existing.user_id, &changes).await?;
            return Ok(Bootstrap::Ready(updated.unwrap_or(existing)));
        }
        self.insert_user(&NewUser {
            name,
            email,
            hashed_password: Some(hashed_password),
            birth: None,
            status: status::NORMAL,
            is_superuser: true,
            sub: None,
        })
        .await
        .map(Bootstrap::Ready)
    }
}
