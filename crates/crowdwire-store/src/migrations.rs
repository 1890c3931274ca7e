//! The schema's migrations, written once for both backends.
//!
//! `migrations/*.sql` hold the SQL that SQLite and PostgreSQL share, with a placeholder
//! wherever their DDL differs ([`WORDS`]); [`migrator`] substitutes them for one backend and
//! hands the result to sqlx, which applies what a database has not run yet.
//!
//! Each database records the SHA-384 of every migration it applied (`_sqlx_migrations`) and
//! refuses to start if a known migration's text has changed since. So a released migration's
//! rendered text must never change: the files render, byte for byte, to what the former
//! per-backend folders (`migrations/sqlite`, `migrations/postgres`) held, and the test
//! `crates/crowdwire/tests/migrations.rs` opens a database carrying their checksums. A change
//! to the schema is a new file, listed in [`FILES`].

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, SqlSafeStr};

/// The SQL dialect a migration is rendered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// Each placeholder, and what SQLite and PostgreSQL write for it.
pub const WORDS: &[(&str, &str, &str)] = &[
    // A table's own id.
    ("{id}", "INTEGER PRIMARY KEY AUTOINCREMENT", "BIGSERIAL PRIMARY KEY"),
    // A column holding another table's id; PostgreSQL's is padded to the width of SQLite's,
    // as the columns were aligned in the former files.
    ("{id_ref}", "INTEGER", "BIGINT "),
    ("{true}", "1", "TRUE"),
    ("{blob}", "BLOB", "BYTEA"),
    // The first line of the former files, which named their flavour.
    (
        "{header}",
        "-- CrowdWire schema, SQLite flavour. Mirrors postgres/0001_initial.sql table for table.",
        "-- CrowdWire schema, PostgreSQL flavour. Mirrors sqlite/0001_initial.sql table for table.",
    ),
];

/// Every migration, in order: version, description (as sqlx derives it from the file name)
/// and text.
const FILES: &[(i64, &str, &str)] = &[
    (1, "initial", include_str!("../migrations/0001_initial.sql")),
    (
        2,
        "default role interacts",
        include_str!("../migrations/0002_default_role_interacts.sql"),
    ),
    (3, "token version", include_str!("../migrations/0003_token_version.sql")),
    (4, "images", include_str!("../migrations/0004_images.sql")),
    (5, "world blocks", include_str!("../migrations/0005_world_blocks.sql")),
];

/// `text` with every placeholder replaced by `dialect`'s words.
pub fn render(text: &str, dialect: Dialect) -> String {
    WORDS
        .iter()
        .fold(text.to_owned(), |sql, (placeholder, sqlite, postgres)| {
            let word = match dialect {
                Dialect::Sqlite => sqlite,
                Dialect::Postgres => postgres,
            };
            sql.replace(placeholder, word)
        })
}

/// The migrations of `dialect`, ready to run.
pub fn migrator(dialect: Dialect) -> Migrator {
    Migrator::with_migrations(
        FILES
            .iter()
            .map(|&(version, description, text)| {
                let sql = render(text, dialect);
                let no_tx = sql.starts_with("-- no-transaction");
                Migration::new(
                    version,
                    Cow::Borrowed(description),
                    MigrationType::Simple,
                    AssertSqlSafe(sql).into_sql_str(),
                    no_tx,
                )
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed_with_its_version_and_description() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        names.sort();
        let listed: Vec<String> = FILES
            .iter()
            .map(|(v, d, _)| format!("{v:04}_{}.sql", d.replace(' ', "_")))
            .collect();
        assert_eq!(names, listed);
    }

    #[test]
    fn every_placeholder_is_replaced() {
        for dialect in [Dialect::Sqlite, Dialect::Postgres] {
            for m in migrator(dialect).iter() {
                assert!(
                    !m.sql.as_str().contains('{'),
                    "{dialect:?} {}: {}",
                    m.version,
                    m.sql.as_str()
                );
            }
        }
    }
}
