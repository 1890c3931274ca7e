//! Durable storage for CrowdWire.
//!
//! One [`Db`] handle hides which SQL backend is in use: SQLite (embedded, the default) or
//! PostgreSQL (given a `postgres://` URL). Both speak the same SQL text with `$1` placeholders;
//! only the DDL differs, and the migrations are written once with placeholders where it does
//! (see [`migrations`]). Every query lives in
//! the module of the table it serves (`users`, `worlds`, `roles`, ...), written once and run on
//! either backend through [`on_db!`].
//!
//! Timestamps are stored as microseconds since the Unix epoch (UTC), see [`Timestamp`].

pub mod args;
pub mod blocks;
pub mod events;
pub mod guests;
pub mod images;
pub mod members;
pub mod migrations;
pub mod reports;
pub mod roles;
pub mod stats;
mod time;
pub mod users;
pub mod worlds;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

pub use args::Arg;
use migrations::Dialect;
pub use time::Timestamp;

/// Runs the same expression against whichever pool (or transaction) a [`Db`] holds.
///
/// The expression is compiled twice, once per backend, so it must be valid for both:
/// plain `sqlx::query*` calls with `$n` placeholders are.
#[macro_export]
macro_rules! on_db {
    ($db:expr, $pool:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite($pool) => $body,
            $crate::Db::Postgres($pool) => $body,
        }
    };
}

/// A connection pool to the configured SQL backend.
#[derive(Clone, Debug)]
pub enum Db {
    /// The embedded backend: one SQLite file in the data directory.
    Sqlite(SqlitePool),
    /// The distributed backend: a PostgreSQL server shared by every replica.
    Postgres(PgPool),
}

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is neither `sqlite:` nor `postgres:`.
    #[error("unsupported database URL (expected sqlite:… or postgres://…): {0}")]
    UnsupportedUrl(String),
    /// A query or connection failed.
    #[error(transparent)]
    Sql(#[from] sqlx::Error),
    /// Applying migrations failed.
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The SQLite file could not be created or made private.
    #[error("database file {0}: {1}")]
    File(String, std::io::Error),
}

impl StoreError {
    /// True when the failure is a foreign-key violation, i.e. the row referred to was deleted
    /// by a concurrent request.
    pub fn is_foreign_key_violation(&self) -> bool {
        match self {
            StoreError::Sql(e) => e.as_database_error().is_some_and(|d| d.is_foreign_key_violation()),
            _ => false,
        }
    }

    /// True when the failure is a unique-constraint violation, i.e. a lost race to insert
    /// the same key; callers turn it into the 4xx the rule calls for.
    pub fn is_unique_violation(&self) -> bool {
        match self {
            StoreError::Sql(e) => e.as_database_error().is_some_and(|d| d.is_unique_violation()),
            _ => false,
        }
    }
}

/// Result alias for storage calls.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl Db {
    /// Connects to `url` (`sqlite:<path>` or `postgres://…`) and applies pending migrations.
    pub async fn connect(url: &str) -> Result<Db> {
        let db = if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?;
            private_file(opts.get_filename())
                .map_err(|e| StoreError::File(opts.get_filename().display().to_string(), e))?;
            let opts = opts
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .foreign_keys(true)
                .busy_timeout(Duration::from_secs(10));
            let pool = SqlitePoolOptions::new().max_connections(8).connect_with(opts).await?;
            Db::Sqlite(pool)
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(url)?;
            let pool = PgPoolOptions::new()
                .max_connections(16)
                .acquire_timeout(Duration::from_secs(10))
                .connect_with(opts)
                .await?;
            Db::Postgres(pool)
        } else {
            return Err(StoreError::UnsupportedUrl(url.to_owned()));
        };
        db.migrate().await?;
        Ok(db)
    }

    /// Connects to `url` without applying migrations (administrative use, e.g. creating a
    /// schema for a test).
    pub async fn connect_raw(url: &str) -> Result<Db> {
        if url.starts_with("sqlite:") {
            Ok(Db::Sqlite(SqlitePool::connect(url).await?))
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Ok(Db::Postgres(PgPool::connect(url).await?))
        } else {
            Err(StoreError::UnsupportedUrl(url.to_owned()))
        }
    }

    /// Runs one SQL statement that takes no parameters (administrative use only).
    pub async fn execute_raw(&self, sql: &str) -> Result<u64> {
        Ok(
            on_db!(self, p => sqlx::query(sqlx::AssertSqlSafe(sql.to_owned())).execute(p).await.map(|r| r.rows_affected()))?,
        )
    }

    /// The default database URL for a data directory: `<dir>/crowdwire.db`.
    pub fn sqlite_url_in(data_dir: &Path) -> String {
        format!("sqlite://{}", data_dir.join("crowdwire.db").display())
    }

    /// Applies the migrations of this backend that have not run yet.
    pub async fn migrate(&self) -> Result<()> {
        match self {
            Db::Sqlite(p) => migrations::migrator(Dialect::Sqlite).run(p).await?,
            Db::Postgres(p) => migrations::migrator(Dialect::Postgres).run(p).await?,
        }
        Ok(())
    }

    /// The backend's name, as reported by the health endpoint.
    pub fn backend_name(&self) -> &'static str {
        match self {
            Db::Sqlite(_) => "sqlite",
            Db::Postgres(_) => "postgres",
        }
    }

    /// Cheap round trip to prove the database answers.
    pub async fn ping(&self) -> Result<()> {
        on_db!(self, p => sqlx::query("SELECT 1").execute(p).await.map(|_| ()))?;
        Ok(())
    }

    /// Closes every pooled connection (used on shutdown).
    pub async fn close(&self) {
        on_db!(self, p => p.close().await)
    }
}

/// Escapes `%`, `_` and `\` so a user's search text matches literally inside `LIKE`
/// (used with `ESCAPE '\'`).
pub fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Runs `$body` inside a transaction on whichever backend a [`Db`] holds, committing when the
/// body finishes and rolling back if it returns early with `?`.
///
/// SQLite transactions start with `BEGIN IMMEDIATE`, taking the write lock up front, so two
/// concurrent writers queue on the busy timeout instead of failing on a lock upgrade.
#[macro_export]
#[doc(hidden)]
macro_rules! in_tx {
    ($db:expr, $tx:ident => $body:expr) => {
        match $db {
            $crate::Db::Sqlite(p) => {
                let mut $tx = p.begin_with("BEGIN IMMEDIATE").await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
            $crate::Db::Postgres(p) => {
                let mut $tx = p.begin().await?;
                let out = $body;
                $tx.commit().await?;
                out
            }
        }
    };
}

/// The SQLite database holds password hashes and e-mail addresses: its file (and the WAL and
/// shared-memory files SQLite makes with the same mode) is readable by the server's user only.
/// A new file is created 0600; an existing one readable by others is narrowed, with a warning.
#[cfg(unix)]
fn private_file(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let name = path.as_os_str();
    if name.is_empty() || name == ":memory:" {
        return Ok(());
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    for suffix in ["", "-wal", "-shm"] {
        let mut file = name.to_owned();
        file.push(suffix);
        let Ok(meta) = std::fs::metadata(&file) else { continue };
        let mode = meta.permissions().mode();
        if mode & 0o077 != 0 {
            tracing::warn!(file = %Path::new(&file).display(), mode = format!("{:o}", mode & 0o777), "database file was readable by others; setting it to 0600");
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

#[cfg(not(unix))]
fn private_file(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[tokio::test]
    async fn the_sqlite_files_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("crowdwire-perm-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mode = |f: &str| std::fs::metadata(dir.join(f)).unwrap().permissions().mode() & 0o777;
        // A new database (security review F14: it was 0644).
        let db = Db::connect(&format!("sqlite://{}", dir.join("new.db").display()))
            .await
            .unwrap();
        db.execute_raw("CREATE TABLE t (x INTEGER)").await.unwrap();
        assert_eq!(mode("new.db"), 0o600);
        assert_eq!(mode("new.db-wal"), 0o600);
        drop(db);
        // An existing one readable by others is narrowed.
        std::fs::write(dir.join("old.db"), b"").unwrap();
        std::fs::set_permissions(dir.join("old.db"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let db = Db::connect(&format!("sqlite://{}", dir.join("old.db").display()))
            .await
            .unwrap();
        assert_eq!(mode("old.db"), 0o600);
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(escape_like("50%_off\\"), "50\\%\\_off\\\\");
        assert_eq!(escape_like("plain"), "plain");
    }
}
