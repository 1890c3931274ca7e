//! Aggregates for the statistics endpoints. Each is one SQL query, whatever the range.

use crate::{Db, Result, on_db};

/// Platform-wide counters (online users come from presence, not from here).
#[derive(Clone, Debug, Default)]
pub struct GlobalCounts {
    /// Accounts in good standing.
    pub users: i64,
    /// All worlds, whatever their status.
    pub worlds: i64,
    /// Unreviewed user reports.
    pub user_reports: i64,
    /// Unreviewed reports on open worlds.
    pub world_reports: i64,
}

/// Counters of one world.
#[derive(Clone, Debug, Default)]
pub struct WorldCounts {
    /// Members.
    pub total_users: i64,
    /// User reports filed in the world.
    pub reports_users: i64,
    /// Sum of members' join counts.
    pub total_n_joins: i64,
}

/// One hour in a chart series: the bucket index from the start and its value.
pub type Bucket = (i64, i64);

const HOUR_MICROS: i64 = 3_600_000_000;

impl Db {
    /// Platform counters.
    pub async fn global_counts(&self) -> Result<GlobalCounts> {
        let row: (i64, i64, i64, i64) = on_db!(self, p => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM users WHERE status = 0), (SELECT COUNT(*) FROM worlds), \
             (SELECT COUNT(*) FROM report_users WHERE NOT reviewed), \
             (SELECT COUNT(*) FROM report_worlds r JOIN worlds w ON w.world_id = r.reported WHERE NOT r.reviewed AND w.status = 0)")
            .fetch_one(p).await)?;
        Ok(GlobalCounts {
            users: row.0,
            worlds: row.1,
            user_reports: row.2,
            world_reports: row.3,
        })
    }

    /// Counters of one world.
    pub async fn world_counts(&self, world_id: i64) -> Result<WorldCounts> {
        let row: (i64, i64, i64) = on_db!(self, p => sqlx::query_as(
            "SELECT (SELECT COUNT(*) FROM world_users WHERE world_id = $1), \
             (SELECT COUNT(*) FROM report_users WHERE world_id = $1), \
             (SELECT CAST(COALESCE(SUM(n_joins), 0) AS BIGINT) FROM world_users WHERE world_id = $1)")
            .bind(world_id).fetch_one(p).await)?;
        Ok(WorldCounts {
            total_users: row.0,
            reports_users: row.1,
            total_n_joins: row.2,
        })
    }

    /// Distinct users who entered (`JOIN_PLAYER`) per hour from `start` to `end` (µs,
    /// inclusive), in one world or (`None`) the whole platform. Empty hours are absent.
    pub async fn hourly_active_users(&self, world_id: Option<i64>, start: i64, end: i64) -> Result<Vec<Bucket>> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT (timestamp - $1) / $3 AS bucket, COUNT(DISTINCT user_id) FROM events \
             WHERE event_type = 'JOIN_PLAYER' AND timestamp >= $1 AND timestamp <= $2 AND ($4 < 0 OR world_id = $4) \
             GROUP BY bucket ORDER BY bucket")
            .bind(start).bind(end).bind(HOUR_MICROS).bind(world_id.unwrap_or(-1)).fetch_all(p).await)?)
    }

    /// Accounts registered per hour from `start` to `end` (µs, inclusive).
    pub async fn hourly_new_users(&self, start: i64, end: i64) -> Result<Vec<Bucket>> {
        Ok(on_db!(self, p => sqlx::query_as(
            "SELECT (register_date - $1) / $3 AS bucket, COUNT(*) FROM users \
             WHERE register_date >= $1 AND register_date <= $2 GROUP BY bucket ORDER BY bucket")
            .bind(start).bind(end).bind(HOUR_MICROS).fetch_all(p).await)?)
    }
}
