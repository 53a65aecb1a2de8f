//! The tables, the schema version and the connection settings.

use super::*;

pub(super) const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS components (
    digest TEXT PRIMARY KEY,
    bytes BLOB NOT NULL,
    catalogue TEXT NOT NULL,
    deployed_at INTEGER NOT NULL,
    deploy_seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    failure TEXT,
    custom_status TEXT,
    parent TEXT,
    parent_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER,
    history_len INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    lock_expires INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS instances_created ON instances(created_at);
CREATE INDEX IF NOT EXISTS instances_parent ON instances(parent_id);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    timer_id INTEGER,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    visible_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS inbox_instance ON inbox(instance_id, id);
CREATE INDEX IF NOT EXISTS inbox_visible ON inbox(visible_at);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT NOT NULL,
    digest TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    visible_at INTEGER NOT NULL,
    lock_token TEXT,
    lock_expires INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS activities_visible ON activities(visible_at);
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    timestamp INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS logs_instance ON logs(instance_id, id);
"#;

/// The layout this build reads and writes, kept in SQLite's `user_version`.
/// A file with another version is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

/// Creates the tables in a new database, or checks an existing one was
/// made by a build with the same layout.
pub(super) fn create_schema(conn: &Connection) -> StoreResult<()> {
    // One transaction: two processes opening a new file at once must not see
    // each other's half-made schema.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = check_and_create_schema(conn);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)?;
    result
}

pub(super) fn check_and_create_schema(conn: &Connection) -> StoreResult<()> {
    let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_tables: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instances')",
        [],
        |r| r.get(0),
    )?;
    match (version, has_tables) {
        (SCHEMA_VERSION, _) | (0, false) => {}
        (0, true) => {
            return Err(StoreError::Corrupt(
                "this database was made by an earlier development build of durable (before \
                 schema versions); start from a new database file"
                    .into(),
            ));
        }
        (other, _) => {
            return Err(StoreError::Corrupt(format!(
                "this database has schema version {other}, and this build of durable reads \
                 version {SCHEMA_VERSION}; use the matching durable, or a new database file"
            )));
        }
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute_batch(entities::ENTITY_SCHEMA)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

pub(super) fn configure(conn: &Connection, durability: Durability) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // Read through a memory map and keep a larger page cache: fewer
    // syscalls on the hot read paths (history, inbox).
    conn.pragma_update(None, "mmap_size", 256i64 << 20)?;
    conn.pragma_update(None, "cache_size", -65536i64)?;
    Ok(())
}
