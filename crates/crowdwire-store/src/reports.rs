//! The `report_users` and `report_worlds` tables: reports on members and on worlds.

use crate::args::Filter;
use crate::{Arg, Db, Result, Timestamp, bind_args, on_db};

/// A row of `report_users`: `reporter` reported `reported` in `world_id`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserReport {
    /// Reported user.
    pub reported: i64,
    /// Reporting user.
    pub reporter: i64,
    /// World where it happened.
    pub world_id: i64,
    /// When (µs).
    pub timestamp: i64,
    /// Free text.
    pub comment: Option<String>,
    /// Reviewed by an administrator.
    pub reviewed: bool,
}

/// A user report with the names an administrator needs to read it.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct UserReportDetailed {
    /// The report.
    #[sqlx(flatten)]
    pub report: UserReport,
    /// Reporter's display name in the world (or account name).
    pub reporter_name: Option<String>,
    /// Reported user's display name in the world (or account name).
    pub reported_name: Option<String>,
    /// Reporter's e-mail.
    pub reporter_email: Option<String>,
    /// Reported user's e-mail.
    pub reported_email: Option<String>,
    /// World name.
    pub world_name: Option<String>,
}

/// A row of `report_worlds`.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WorldReport {
    /// Reported world.
    pub reported: i64,
    /// Reporting user.
    pub reporter: i64,
    /// When (µs).
    pub timestamp: i64,
    /// Free text.
    pub comment: Option<String>,
    /// Reviewed by an administrator.
    pub reviewed: bool,
}

/// A world report with the reporter's e-mail and the world's name and status.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct WorldReportDetailed {
    /// The report.
    #[sqlx(flatten)]
    pub report: WorldReport,
    /// Reporter's e-mail.
    pub reporter_email: Option<String>,
    /// World name.
    pub world_name: Option<String>,
    /// World status.
    pub banned: i32,
}

/// Filter for [`Db::search_user_reports`].
#[derive(Clone, Debug, Default)]
pub struct UserReportQuery {
    /// World.
    pub world_id: Option<i64>,
    /// Reporter.
    pub reporter: Option<i64>,
    /// Reported user.
    pub reported: Option<i64>,
    /// Reviewed flag to match.
    pub reviewed: bool,
    /// Order by timestamp (else unordered by key).
    pub by_timestamp: bool,
    /// Descending.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

/// Filter for [`Db::search_world_reports`].
#[derive(Clone, Debug, Default)]
pub struct WorldReportQuery {
    /// World.
    pub world_id: Option<i64>,
    /// Reporter.
    pub reporter: Option<i64>,
    /// Reviewed flag to match.
    pub reviewed: bool,
    /// Reports on banned worlds (else on open ones).
    pub banned: bool,
    /// Order by timestamp.
    pub by_timestamp: bool,
    /// Descending.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
}

const UCOLS: &str = "reported, reporter, world_id, timestamp, comment, reviewed";
const WCOLS: &str = "reported, reporter, timestamp, comment, reviewed";

impl Db {
    /// Files a user report. A second report of the same (reporter, reported, world) is a
    /// unique violation.
    pub async fn insert_user_report(
        &self,
        reporter: i64,
        reported: i64,
        world_id: i64,
        comment: Option<&str>,
    ) -> Result<UserReport> {
        let sql = format!(
            "INSERT INTO report_users (reported, reporter, world_id, timestamp, comment, reviewed) \
             VALUES ($1, $2, $3, $4, $5, FALSE) RETURNING {UCOLS}"
        );
        Ok(on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(reported).bind(reporter).bind(world_id).bind(Timestamp::now().0).bind(comment)
            .fetch_one(p).await)?)
    }

    /// One user report.
    pub async fn user_report(&self, reporter: i64, world_id: i64, reported: i64) -> Result<Option<UserReport>> {
        let sql = format!("SELECT {UCOLS} FROM report_users WHERE reporter = $1 AND world_id = $2 AND reported = $3");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(reporter).bind(world_id).bind(reported).fetch_optional(p).await)?,
        )
    }

    /// Deletes one user report, returning it.
    pub async fn delete_user_report(&self, reporter: i64, world_id: i64, reported: i64) -> Result<Option<UserReport>> {
        let sql = format!(
            "DELETE FROM report_users WHERE reporter = $1 AND world_id = $2 AND reported = $3 RETURNING {UCOLS}"
        );
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(reporter).bind(world_id).bind(reported).fetch_optional(p).await)?,
        )
    }

    /// Sets the reviewed flag of a user report.
    pub async fn review_user_report(
        &self,
        reporter: i64,
        world_id: i64,
        reported: i64,
        reviewed: bool,
    ) -> Result<Option<UserReport>> {
        let sql = format!(
            "UPDATE report_users SET reviewed = $4 WHERE reporter = $1 AND world_id = $2 AND reported = $3 RETURNING {UCOLS}"
        );
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(reporter).bind(world_id).bind(reported).bind(reviewed).fetch_optional(p).await)?,
        )
    }

    /// Reports filed by `reporter`, newest first.
    pub async fn user_reports_sent(&self, reporter: i64, offset: i64, limit: i64) -> Result<Vec<UserReport>> {
        let sql = format!(
            "SELECT {UCOLS} FROM report_users WHERE reporter = $1 ORDER BY timestamp DESC, world_id, reported LIMIT $2 OFFSET $3"
        );
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(reporter).bind(limit).bind(offset).fetch_all(p).await)?,
        )
    }

    /// Reports received by `reported`, optionally in one world, newest first.
    pub async fn user_reports_received(
        &self,
        reported: i64,
        world_id: Option<i64>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<UserReport>> {
        let sql = format!(
            "SELECT {UCOLS} FROM report_users WHERE reported = $1 AND ($2 < 0 OR world_id = $2) \
             ORDER BY timestamp DESC, world_id, reporter LIMIT $3 OFFSET $4"
        );
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(reported).bind(world_id.unwrap_or(-1)).bind(limit).bind(offset).fetch_all(p).await)?,
        )
    }

    /// User reports with names, for moderators.
    pub async fn search_user_reports(&self, q: &UserReportQuery) -> Result<Vec<UserReportDetailed>> {
        let mut f = Filter::new();
        f.push("r.reviewed = {}", Arg::Bool(q.reviewed));
        if let Some(v) = q.world_id {
            f.push("r.world_id = {}", Arg::I64(v));
        }
        if let Some(v) = q.reporter {
            f.push("r.reporter = {}", Arg::I64(v));
        }
        if let Some(v) = q.reported {
            f.push("r.reported = {}", Arg::I64(v));
        }
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = if q.by_timestamp {
            format!("r.timestamp {dir}, r.world_id, r.reporter, r.reported")
        } else {
            "r.world_id, r.reporter, r.reported".to_owned()
        };
        let lim = f.arg(Arg::I64(q.limit));
        let off = f.arg(Arg::I64(q.offset));
        let sql = format!(
            "SELECT r.reported, r.reporter, r.world_id, r.timestamp, r.comment, r.reviewed, \
             COALESCE(mr.username, ur.name) AS reporter_name, COALESCE(md.username, ud.name) AS reported_name, \
             ur.email AS reporter_email, ud.email AS reported_email, w.name AS world_name \
             FROM report_users r \
             LEFT JOIN users ur ON ur.user_id = r.reporter \
             LEFT JOIN users ud ON ud.user_id = r.reported \
             LEFT JOIN world_users mr ON mr.user_id = r.reporter AND mr.world_id = r.world_id \
             LEFT JOIN world_users md ON md.user_id = r.reported AND md.world_id = r.world_id \
             LEFT JOIN worlds w ON w.world_id = r.world_id \
             {} ORDER BY {order} LIMIT {lim} OFFSET {off}",
            f.where_sql()
        );
        Ok(on_db!(self, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f.args).fetch_all(p).await)?)
    }

    /// Files a world report; a second one by the same user is a unique violation.
    pub async fn insert_world_report(&self, world_id: i64, reporter: i64, comment: &str) -> Result<WorldReport> {
        let sql = format!(
            "INSERT INTO report_worlds (reported, reporter, timestamp, comment, reviewed) VALUES ($1, $2, $3, $4, FALSE) RETURNING {WCOLS}"
        );
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(reporter).bind(Timestamp::now().0).bind(comment).fetch_one(p).await)?,
        )
    }

    /// One world report.
    pub async fn world_report(&self, world_id: i64, reporter: i64) -> Result<Option<WorldReport>> {
        let sql = format!("SELECT {WCOLS} FROM report_worlds WHERE reported = $1 AND reporter = $2");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(reporter).fetch_optional(p).await)?,
        )
    }

    /// Withdraws a world report, returning it.
    pub async fn delete_world_report(&self, world_id: i64, reporter: i64) -> Result<Option<WorldReport>> {
        let sql = format!("DELETE FROM report_worlds WHERE reported = $1 AND reporter = $2 RETURNING {WCOLS}");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(reporter).fetch_optional(p).await)?,
        )
    }

    /// Sets the reviewed flag of a world report.
    pub async fn review_world_report(
        &self,
        world_id: i64,
        reporter: i64,
        reviewed: bool,
    ) -> Result<Option<WorldReport>> {
        let sql =
            format!("UPDATE report_worlds SET reviewed = $3 WHERE reported = $1 AND reporter = $2 RETURNING {WCOLS}");
        Ok(
            on_db!(self, p => sqlx::query_as(sqlx::AssertSqlSafe(sql)).bind(world_id).bind(reporter).bind(reviewed).fetch_optional(p).await)?,
        )
    }

    /// World reports with e-mail and world name, for administrators.
    pub async fn search_world_reports(&self, q: &WorldReportQuery) -> Result<Vec<WorldReportDetailed>> {
        let mut f = Filter::new();
        f.push("r.reviewed = {}", Arg::Bool(q.reviewed));
        f.push("w.status = {}", Arg::I32(if q.banned { 1 } else { 0 }));
        if let Some(v) = q.world_id {
            f.push("r.reported = {}", Arg::I64(v));
        }
        if let Some(v) = q.reporter {
            f.push("r.reporter = {}", Arg::I64(v));
        }
        let dir = if q.descending { "DESC" } else { "ASC" };
        let order = if q.by_timestamp {
            format!("r.timestamp {dir}, r.reported, r.reporter")
        } else {
            "r.reported, r.reporter".to_owned()
        };
        let lim = f.arg(Arg::I64(q.limit));
        let off = f.arg(Arg::I64(q.offset));
        let sql = format!(
            "SELECT r.reported, r.reporter, r.timestamp, r.comment, r.reviewed, u.email AS reporter_email, \
             w.name AS world_name, w.status AS banned \
             FROM report_worlds r JOIN worlds w ON w.world_id = r.reported LEFT JOIN users u ON u.user_id = r.reporter \
             {} ORDER BY {order} LIMIT {lim} OFFSET {off}",
            f.where_sql()
        );
        Ok(on_db!(self, p => bind_args!(sqlx::query_as(sqlx::AssertSqlSafe(sql)), f.args).fetch_all(p).await)?)
    }
}
