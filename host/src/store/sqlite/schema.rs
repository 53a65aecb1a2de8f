//! The tables, their numbered migrations and the connection settings.

use super::*;

/// The first release's tables (schema version 1); its entity tables are [`V1_ENTITY_TABLES`].
const V1_TABLES: &str = r#"
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

/// The first release's entity tables (schema version 1).
const V1_ENTITY_TABLES: &str = r#"
CREATE TABLE IF NOT EXISTS entities (
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    state TEXT,
    last_operation_at INTEGER NOT NULL DEFAULT 0,
    locked_by TEXT,
    lock_token TEXT,
    lock_expires INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (name, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS entity_inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    key TEXT NOT NULL,
    operation TEXT NOT NULL,
    input TEXT NOT NULL,
    caller TEXT,
    -- The sending orchestration instance (EntityMessage::sender), calls and signals alike.
    caller_id TEXT,
    visible_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS entity_inbox_entity ON entity_inbox(name, key, id);
CREATE INDEX IF NOT EXISTS entity_inbox_visible ON entity_inbox(visible_at);
"#;

/// The second migration: instances listed in (`created_at`, `instance_id`) order page by
/// index, and purging an instance finds its activity tasks by index.
const V2_INDEXES: &str = r#"
DROP INDEX IF EXISTS instances_created;
CREATE INDEX instances_created ON instances(created_at, instance_id);
CREATE INDEX activities_instance ON activities(instance_id);
"#;

/// The migrations, in order: the n-th (counting from 1) takes a database from schema version
/// n-1 to n. Forward only: a released migration is never edited, only followed by another.
/// The third migration: a component can be retired (`durable retire`) and carry a version
/// label (`durable deploy --version`).
const V3_RETIRED: &str = "ALTER TABLE components ADD COLUMN retired_at INTEGER; \
    ALTER TABLE components ADD COLUMN version TEXT;";

/// The fourth migration: an activity task carries its orchestration's trace context.
const V4_ACTIVITY_TRACE: &str = "ALTER TABLE activities ADD COLUMN trace TEXT;";

/// The fifth migration: a deployment names the app it belongs to (its activities' grants);
/// and everything but a component's bytes is in an index, read instead of the row (`INDEXED
/// BY components_summary`). A row's columns after `bytes` are reached by walking its overflow
/// pages, a thousand for a 4 MB component: 25 us a read with every page cached, read with
/// every activity task locked (its app) and every start (the deployments).
const V5_APP: &str = "ALTER TABLE components ADD COLUMN app TEXT; \
    CREATE INDEX components_summary ON components \
        (digest, app, deploy_seq, deployed_at, retired_at, version, catalogue);";

const MIGRATIONS: &[&[&str]] = &[
    &[V1_TABLES, V1_ENTITY_TABLES],
    &[V2_INDEXES],
    &[V3_RETIRED],
    &[V4_ACTIVITY_TRACE],
    &[V5_APP],
];

/// The layout this build reads and writes, kept in SQLite's `user_version`: the number of
/// [`MIGRATIONS`]. An older file is migrated when opened; a newer one is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Creates the tables in a new database, or migrates an existing one to [`SCHEMA_VERSION`].
/// One transaction: two processes opening a new file at once must not see each other's
/// half-made schema, and a failed migration leaves the file as it was.
pub(super) fn migrate(conn: &Connection) -> StoreResult<Migration> {
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = apply_migrations(conn, SCHEMA_VERSION);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)?;
    result
}

/// Applies the migrations that take the database to version `to`.
pub(super) fn apply_migrations(conn: &Connection, to: i64) -> StoreResult<Migration> {
    let from: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let has_tables: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'instances')",
        [],
        |r| r.get(0),
    )?;
    if from == 0 && has_tables {
        return Err(StoreError::Corrupt(
            "this database was made by an earlier development build of durable (before \
             schema versions); start from a new database file"
                .into(),
        ));
    }
    check_schema_version(from, SCHEMA_VERSION, "a new database file")?;
    for migration in MIGRATIONS.iter().take(to as usize).skip(from as usize) {
        for sql in *migration {
            conn.execute_batch(sql)?;
        }
    }
    if to > from {
        conn.pragma_update(None, "user_version", to)?;
    }
    Ok(Migration {
        from,
        to: to.max(from),
    })
}

pub(super) fn configure(conn: &Connection, durability: Durability) -> StoreResult<()> {
    conn.busy_timeout(std::time::Duration::from_secs(10))?;
    // Room for every statement a connection runs again and again (rusqlite keeps 16): one
    // evicted is parsed again at its next use.
    conn.set_prepared_statement_cache_capacity(128);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)?;
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    // No memory map: a connection unmaps all of it whenever it sees another connection's
    // commit, and faults the pages in again, which the reader did at nearly every read under
    // load (munmap and page faults were an eighth of the SQLite threads' time in a profile of
    // one chain at a time). A larger page cache keeps the hot read paths (history, inbox)
    // in memory instead.
    conn.pragma_update(None, "mmap_size", 0i64)?;
    conn.pragma_update(None, "cache_size", -65536i64)?;
    Ok(())
}
