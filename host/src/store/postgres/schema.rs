//! The tables, their schema (a PostgreSQL schema of their own, if one is named) and the
//! layout version.

use super::*;

/// The tables. Ids and keys compare byte by byte (`COLLATE "C"`), as in SQLite, so list
/// order and keyset cursors do not depend on the database's locale.
const TABLES: &str = r#"
CREATE TABLE components (
    digest TEXT COLLATE "C" PRIMARY KEY,
    bytes BYTEA NOT NULL,
    catalogue TEXT NOT NULL,
    deployed_at BIGINT NOT NULL,
    deploy_seq BIGINT NOT NULL
);
CREATE SEQUENCE component_deploys;
CREATE TABLE instances (
    instance_id TEXT COLLATE "C" PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    digest TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT NOT NULL,
    output TEXT,
    failure TEXT,
    custom_status TEXT,
    parent TEXT,
    parent_id TEXT COLLATE "C",
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    completed_at BIGINT,
    history_len BIGINT NOT NULL DEFAULT 0,
    lock_token TEXT,
    lock_expires BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX instances_created ON instances(created_at, instance_id);
CREATE INDEX instances_parent ON instances(parent_id);
CREATE TABLE history (
    instance_id TEXT COLLATE "C" NOT NULL,
    position BIGINT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, position)
);
CREATE TABLE inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id TEXT COLLATE "C" NOT NULL,
    execution_id TEXT,
    timer_id BIGINT,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    visible_at BIGINT NOT NULL
);
CREATE INDEX inbox_instance ON inbox(instance_id, visible_at, id);
CREATE INDEX inbox_visible ON inbox(visible_at);
CREATE TABLE activities (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id TEXT COLLATE "C" NOT NULL,
    execution_id TEXT NOT NULL,
    task_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    input TEXT NOT NULL,
    digest TEXT NOT NULL,
    attempt BIGINT NOT NULL DEFAULT 0,
    visible_at BIGINT NOT NULL,
    lock_token TEXT,
    lock_expires BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX activities_visible ON activities(visible_at);
CREATE INDEX activities_instance ON activities(instance_id);
CREATE TABLE logs (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    instance_id TEXT COLLATE "C" NOT NULL,
    timestamp BIGINT NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX logs_instance ON logs(instance_id, id);
CREATE TABLE entities (
    name TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    state TEXT,
    last_operation_at BIGINT NOT NULL DEFAULT 0,
    locked_by TEXT,
    lock_token TEXT,
    lock_expires BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (name, key)
);
CREATE TABLE entity_inbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name TEXT COLLATE "C" NOT NULL,
    key TEXT COLLATE "C" NOT NULL,
    operation TEXT NOT NULL,
    input TEXT NOT NULL,
    caller TEXT,
    -- The sending orchestration instance (EntityMessage::sender), calls and signals alike.
    caller_id TEXT,
    visible_at BIGINT NOT NULL
);
CREATE INDEX entity_inbox_entity ON entity_inbox(name, key, visible_at, id);
CREATE INDEX entity_inbox_visible ON entity_inbox(visible_at);
CREATE TABLE durable_schema (version BIGINT NOT NULL);
"#;

/// The layout this build reads and writes, kept in the `durable_schema` table. A database
/// with another version is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

/// Any key of PostgreSQL's advisory locks that is this module's: held while a schema is
/// checked or created, so two hosts starting at once never both create it.
const SCHEMA_LOCK: i64 = 0x6475_7261_626c_6501;

/// A schema name used unquoted in SQL: lowercase letters, digits and `_`, not starting with
/// a digit.
pub(super) fn check_schema_name(schema: &str) -> StoreResult<()> {
    let mut chars = schema.chars();
    let valid = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && schema.len() <= 63;
    if valid {
        Ok(())
    } else {
        Err(StoreError::Backend(format!(
            "`{schema}` is not a usable PostgreSQL schema name (lowercase letters, digits and \
             `_`, at most 63)"
        )))
    }
}

/// Creates the schema (if named) and the tables in a new database, or checks an existing
/// one was made by a build with the same layout. One transaction.
pub(super) async fn create_schema(client: &mut Client, schema: Option<&str>) -> StoreResult<()> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await?;
    }
    let exists = |table: &'static str| {
        let tx = &tx;
        async move {
            let row = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await?;
            StoreResult::Ok(row.try_get::<_, bool>(0)?)
        }
    };
    if exists("durable_schema").await? {
        let version: Option<i64> = tx
            .query_opt("SELECT version FROM durable_schema", &[])
            .await?
            .map(|r| r.try_get(0))
            .transpose()?;
        if version != Some(SCHEMA_VERSION) {
            let found = version.map_or("none".to_owned(), |v| v.to_string());
            return Err(StoreError::Corrupt(format!(
                "this database has schema version {found}, and this build of durable reads \
                 version {SCHEMA_VERSION}; use the matching durable, or another database or schema"
            )));
        }
        return Ok(tx.commit().await?);
    }
    if exists("instances").await? {
        return Err(StoreError::Corrupt(
            "this schema has durable's tables but no schema version; use another database or \
             schema"
                .into(),
        ));
    }
    tx.batch_execute(TABLES).await?;
    tx.execute(
        "INSERT INTO durable_schema (version) VALUES ($1)",
        &[&SCHEMA_VERSION],
    )
    .await?;
    Ok(tx.commit().await?)
}
