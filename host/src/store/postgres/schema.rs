//! The tables, their schema (a PostgreSQL schema of their own, if one is named) and the
//! layout version.

use super::*;

/// The first release's tables (schema version 1). Ids and keys compare byte by byte
/// (`COLLATE "C"`), as in SQLite, so list order and keyset cursors do not depend on the
/// database's locale.
const V1_TABLES: &str = r#"
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

/// The second migration: the hosts that take leases, each alive while its session holds
/// the advisory lock `lock_key` ([`super::session`]), and the host each instance's last turn
/// ran on, which is offered its next turn first (cache affinity).
const V2_HOSTS: &str = r#"
CREATE TABLE hosts (
    nonce TEXT COLLATE "C" PRIMARY KEY,
    lock_key BIGINT NOT NULL,
    registered_at BIGINT NOT NULL
);
ALTER TABLE instances ADD COLUMN affinity TEXT COLLATE "C";
"#;

/// The migrations, in order: the n-th (counting from 1) takes a schema from version n-1 to n.
/// Forward only: a released migration is never edited, only followed by another.
/// The third migration: a component can be retired (`durable retire`) and carry a version
/// label (`durable deploy --version`).
const V3_RETIRED: &str = "ALTER TABLE components ADD COLUMN retired_at BIGINT; \
    ALTER TABLE components ADD COLUMN version TEXT;";

/// The fourth migration: an activity task carries its orchestration's trace context.
const V4_ACTIVITY_TRACE: &str = "ALTER TABLE activities ADD COLUMN trace TEXT;";

/// The fifth migration: a deployment names the app it belongs to (its activities' grants).
const V5_APP: &str = "ALTER TABLE components ADD COLUMN app TEXT;";

const MIGRATIONS: &[&str] = &[V1_TABLES, V2_HOSTS, V3_RETIRED, V4_ACTIVITY_TRACE, V5_APP];

/// The layout this build reads and writes, kept in the `durable_schema` table: the number of
/// [`MIGRATIONS`]. An older schema is migrated when opened; a newer one is refused.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

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

/// Creates the schema (if named) and the tables in a new database, or migrates an existing
/// one to [`SCHEMA_VERSION`]. One transaction, under an advisory lock: hosts starting at once
/// never both migrate, and a failed migration leaves the schema as it was.
pub(super) async fn migrate(client: &mut Client, schema: Option<&str>) -> StoreResult<Migration> {
    apply_migrations(client, schema, SCHEMA_VERSION).await
}

/// A statement of the setup failed: a refusal for want of privileges says which ones.
fn setup(e: tokio_postgres::Error) -> StoreError {
    if e.code() != Some(&tokio_postgres::error::SqlState::INSUFFICIENT_PRIVILEGE) {
        return e.into();
    }
    StoreError::Backend(format!(
        "{}; the database user needs the right to create tables in the schema (once: or let \
         one who has it run `durable migrate` first) and to read and write durable's tables",
        StoreError::from(e)
            .to_string()
            .trim_start_matches("storage failure: ")
    ))
}

/// Applies the migrations that take the schema to version `to`.
pub(super) async fn apply_migrations(
    client: &mut Client,
    schema: Option<&str>,
    to: i64,
) -> StoreResult<Migration> {
    let tx = client.transaction().await.map_err(setup)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SCHEMA_LOCK])
        .await
        .map_err(setup)?;
    if let Some(schema) = schema {
        tx.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {schema}"))
            .await
            .map_err(setup)?;
    }
    let exists = |table: &'static str| {
        let tx = &tx;
        async move {
            let row = tx
                .query_one("SELECT to_regclass($1) IS NOT NULL", &[&table])
                .await
                .map_err(setup)?;
            StoreResult::Ok(row.try_get::<_, bool>(0)?)
        }
    };
    let from = if exists("durable_schema").await? {
        let version: Option<i64> = tx
            .query_opt("SELECT version FROM durable_schema", &[])
            .await
            .map_err(setup)?
            .map(|r| r.try_get(0))
            .transpose()?;
        version.ok_or_else(|| {
            StoreError::Corrupt("this schema's durable_schema table has no version".into())
        })?
    } else if exists("instances").await? {
        return Err(StoreError::Corrupt(
            "this schema has durable's tables but no schema version; use another database or \
             schema"
                .into(),
        ));
    } else {
        0
    };
    check_schema_version(from, SCHEMA_VERSION, "another database or schema")?;
    for sql in MIGRATIONS.iter().take(to as usize).skip(from as usize) {
        tx.batch_execute(sql).await.map_err(setup)?;
    }
    if from == 0 {
        tx.execute("INSERT INTO durable_schema (version) VALUES ($1)", &[&to])
            .await
            .map_err(setup)?;
    } else if to > from {
        tx.execute("UPDATE durable_schema SET version = $1", &[&to])
            .await
            .map_err(setup)?;
    }
    tx.commit().await.map_err(setup)?;
    Ok(Migration {
        from,
        to: to.max(from),
    })
}
