//! Databases created before the SQLite and PostgreSQL migrations were merged into one set of
//! files (`crates/crowdwire-store/migrations`) keep opening: each records the SHA-384 of every
//! migration it applied, and sqlx refuses to start when a known migration's text differs.

mod common;

use common::{Backend, fresh_database};
use crowdwire_store::Db;

db_tests!(a_database_migrated_by_the_former_files_opens);

/// SHA-384 of the former `migrations/sqlite/*.sql` and `migrations/postgres/*.sql`, as
/// `_sqlx_migrations` of every database they migrated records them (versions 1 to 5).
const FORMER_CHECKSUMS: [(i64, &str, &str); 5] = [
    (
        1,
        "53da280d60750c802f9bfce65768212661cc92ddb0d663f0886d6eddabfb5690d3b8f466c2a59682adbc0318084ed5d4",
        "060b572d54e742a88a918cb5893f8e40f9077440a50907f65259eeef1acdc6a32e87ddbfd30fe135206fc61afd05d5b7",
    ),
    (
        2,
        "c7b88d74ee07c56a94109a6c354a925cc13132757d874cebadefa57507c24d7da8722557f06830dbb9d99f2b12df4d07",
        "8f4b71f22a3f1682ceb2995cb6609f9f8d850d79b675945bca6687efdd05f70eab197af4d82e8122f667e1fc55d8b6d2",
    ),
    (
        3,
        "8baaa96e8941310de0530b890153d5c19734f0c8aaffd1a7907a137f1cb2ba6c059095b4aa32664afc2ff23360a1189b",
        "8baaa96e8941310de0530b890153d5c19734f0c8aaffd1a7907a137f1cb2ba6c059095b4aa32664afc2ff23360a1189b",
    ),
    (
        4,
        "eab42b695241c33816fd840bb42068a9243b3e15007620ff33a5c13a88735e1a5a8ff75e5d0459037299d56b9cdaa587",
        "67ea765bd481a1a97f59c8c655eab01f1034a73f28766f8944a373d1bbbbd99bd2b1c2ef98dbf4176d4b46d6b7b8d5f5",
    ),
    (
        5,
        "4c999f672031f74094a59b51fd1458d5971a3fc34acf1de52c49095f8bd56f5e5b643acbba58bbfa4a64ec5e437d1eec",
        "4c999f672031f74094a59b51fd1458d5971a3fc34acf1de52c49095f8bd56f5e5b643acbba58bbfa4a64ec5e437d1eec",
    ),
];

/// `hex` as a binary literal of `b`'s SQL.
fn bytes(b: Backend, hex: &str) -> String {
    match b {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// Sets the recorded checksum of `version`; returns how many rows it changed.
async fn record(db: &Db, b: Backend, version: i64, hex: &str) -> u64 {
    let sql = format!(
        "UPDATE _sqlx_migrations SET checksum = {} WHERE version = {version}",
        bytes(b, hex)
    );
    db.execute_raw(&sql).await.unwrap()
}

async fn a_database_migrated_by_the_former_files_opens(b: Backend) {
    let (url, _dir) = fresh_database(b).await;
    // A database in the state the former files left: their schema (the shared files render
    // to the same text) and their checksums recorded, with a row in it.
    let db = Db::connect(&url).await.unwrap();
    for (version, sqlite, postgres) in FORMER_CHECKSUMS {
        let hex = if b == Backend::Sqlite { sqlite } else { postgres };
        assert_eq!(record(&db, b, version, hex).await, 1, "version {version} was applied");
    }
    db.execute_raw("INSERT INTO tags (name) VALUES ('Before')")
        .await
        .unwrap();
    db.close().await;

    // It opens, runs nothing again, and keeps its data.
    let db = Db::connect(&url)
        .await
        .expect("a database migrated by the former files opens");
    assert_eq!(
        db.execute_raw("DELETE FROM tags WHERE name = 'Before'").await.unwrap(),
        1
    );
    for (version, sqlite, postgres) in FORMER_CHECKSUMS {
        let hex = if b == Backend::Sqlite { sqlite } else { postgres };
        let unchanged = format!(
            "UPDATE _sqlx_migrations SET success = success WHERE version = {version} AND checksum = {}",
            bytes(b, hex)
        );
        assert_eq!(
            db.execute_raw(&unchanged).await.unwrap(),
            1,
            "version {version} recorded once, as before"
        );
    }

    // The check is real: a recorded checksum that differs is refused.
    record(&db, b, 1, &"00".repeat(48)).await;
    db.close().await;
    let err = Db::connect(&url).await.expect_err("a changed migration is refused");
    assert!(
        err.to_string().contains("previously applied but has been modified"),
        "{err}"
    );
}
