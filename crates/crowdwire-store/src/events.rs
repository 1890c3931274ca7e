//! The `events` table: the activity log (joins and leaves of worlds and conferences).

use crate::args::Filter;
use crate::{Arg, Db, Result, Timestamp, bind_args, on_db};

/// Event type strings, as the WebSocket topics that cause them.
pub mod kind {
    /// Entered a world.
    pub const JOIN_PLAYER: &str = "JOIN_PLAYER";
    /// Left a world.
    pub const LEAVE_PLAYER: &str = "LEAVE_PLAYER";
    /// Entered a conference.
    pub const JOIN_CONFERENCE: &str = "JOIN_CONFERENCE";
    /// Left a conference.
    pub const LEAVE_CONFERENCE: &str = "LEAVE_CONFERENCE";
    /// All of them.
    pub const ALL: [&str; 4] = [JOIN_PLAYER, LEAVE_PLAYER, JOIN_CONFERENCE, LEAVE_CONFERENCE];
}

/// A row of `events`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Event {
    /// Primary key.
    pub event_id: i64,
    /// World.
    pub world_id: i64,
    /// User.
    pub user_id: i64,
    /// One of [`kind`].
    pub event_type: String,
    /// When (µs).
    pub timestamp: i64,
}

/// Filter for [`Db::search_events`].
#[derive(Clone, Debug, Default)]
pub struct EventQuery {
    /// World.
    pub world_id: i64,
    /// Types to include (all when empty).
    pub types: Vec<String>,
    /// One user.
    pub user_id: Option<i64>,
    /// Newest first.
    pub descending: bool,
    /// Inclusive lower bound (µs).
    pub start: Option<i64>,
    /// Inclusive upper bound (µs).
    pub end: Option<i64>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

impl Db {
    /// Appends an event at `at`.
    pub async fn insert_event(&self, world_id: i64, user_id: i64, event_type: &str, at: Timestamp) -> Result<()> {
        on_db!(self, p => sqlx::query("INSERT INTO events (world_id, user_id, event_type, timestamp) VALUES ($1, $2, $3, $4)")
            .bind(world_id).bind(user_id).bind(event_type).bind(at.0).execute(p).await.map(|r| r.rows_affected()))?;
        Ok(())
    }

    /// Events of a world matching the filter.
    pub async fn search_events(&self, q: &EventQuery) -> Result<Vec<Event>> {
        let mut f = Filter::new();
        f.push("world_id = {}", Arg::I64(q.world_id));
        if !q.types.is_empty() {
            let ps: Vec<String> = q.types.iter().map(|t| f.arg(Arg::Text(t.clone()))).collect();
            f.raw(format!("event_type IN ({})", ps.join(", ")));
        }
        if let Some(u) = q.user_id {
            f.push("user_id = {}", Arg::I64(u));
        }
        if let Some(s) = q.start {
            f.push("timestamp >= {}", Arg::I64(s));
        }
        if let Some(e) = q.end {
            f.push("timestamp <= {}", Arg::I64(e));
        }
        let dir = if q.descending { "DESC" } else { "ASC" };
        let lim = f.arg(Arg::I64(q.limit));
        let off = f.arg(Arg::I64(q.offset));
        let sql = format!(
            "SELECT event_id, world_id, user_id, event_type, timestamp FROM events {} \
             ORDER BY timestamp {dir}, event_id {dir} LIMIT {lim} OFFSET {off}",
            f.where_sql()
        );
        Ok(on_db!(self, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f.args).fetch_all(p).await)?)
    }
}
