//! SQLite backend: one database file in WAL mode.
//!
//! All writes go through one writer thread that practises **group commit**:
//! it takes every request queued while the previous commit was syncing, runs
//! each inside its own savepoint (so one failing request rolls back alone),
//! and commits them together with a single fsync. That is how many small
//! turns per second survive power loss without paying one fsync each.
//! Reads of a file database run on a separate reader thread with its own
//! connection (WAL gives it a consistent snapshot without blocking writes).

mod entities;

use super::*;
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::oneshot;

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Durability {
    /// Every commit is fsync'd (`synchronous=FULL`): survives power loss.
    #[default]
    Full,
    /// WAL with `synchronous=NORMAL`: survives a process crash, may lose the
    /// last commits on power loss.
    Normal,
}

impl Durability {
    pub fn describe(self) -> &'static str {
        match self {
            Durability::Full => "WAL, synchronous=FULL (every commit fsync'd; survives power loss)",
            Durability::Normal => {
                "WAL, synchronous=NORMAL (survives a process crash, not power loss)"
            }
        }
    }
}

type Job = Box<dyn FnOnce(&Connection) -> Reply + Send>;

/// A request's outcome, held until its transaction commits.
struct Reply {
    ok: bool,
    deliver: Box<dyn FnOnce(Option<String>) + Send>,
}

/// Largest number of requests folded into one commit.
const MAX_GROUP: usize = 512;

const SCHEMA: &str = r#"
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

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    reader: mpsc::Sender<Job>,
    lock_counter: AtomicU64,
    /// Makes this handle's lock tokens unique even among hosts that share
    /// an owner name.
    nonce: String,
}

impl SqliteStore {
    /// Opens (creating if needed) a database file.
    pub fn open(path: &Path, durability: Durability) -> StoreResult<Self> {
        let open = || -> StoreResult<Connection> {
            let conn = Connection::open(path)?;
            configure(&conn, durability)?;
            Ok(conn)
        };
        let writer = open()?;
        create_schema(&writer)?;
        let reader = open()?;
        Ok(SqliteStore {
            writer: spawn_worker("durable-sqlite-writer", writer, true),
            reader: spawn_worker("durable-sqlite-reader", reader, false),
            lock_counter: AtomicU64::new(0),
            nonce: store_nonce(),
        })
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory()?;
        create_schema(&conn)?;
        let writer = spawn_worker("durable-sqlite-memory", conn, true);
        Ok(SqliteStore {
            reader: writer.clone(),
            writer,
            lock_counter: AtomicU64::new(0),
            nonce: store_nonce(),
        })
    }

    async fn run<T: Send + 'static>(
        channel: &mpsc::Sender<Job>,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn| {
            let result = f(conn);
            Reply {
                ok: result.is_ok(),
                deliver: Box::new(move |commit_error| {
                    let _ = tx.send(match commit_error {
                        Some(e) => Err(StoreError::Backend(e)),
                        None => result,
                    });
                }),
            }
        });
        channel
            .send(job)
            .map_err(|_| StoreError::Backend("the SQLite worker has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the SQLite worker dropped a request".into()))?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        Self::run(&self.writer, f).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        Self::run(&self.reader, f).await
    }

    fn new_lock_token(&self, owner: &str) -> String {
        let n = self.lock_counter.fetch_add(1, Ordering::Relaxed);
        format!("{owner}/{}/{n}", self.nonce)
    }
}

/// Process id, open time and a per-process count: owner names alone repeat
/// (`host-<pid>` is `host-1` in every container), and a token shared by two
/// holders would let one commit over the other's lease.
fn store_nonce() -> String {
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    format!("{}.{nanos:x}.{n}", std::process::id())
}

/// The layout this build reads and writes, kept in SQLite's `user_version`.
/// A file with another version is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 1;

/// Creates the tables in a new database, or checks an existing one was
/// made by a build with the same layout.
fn create_schema(conn: &Connection) -> StoreResult<()> {
    // One transaction: two processes opening a new file at once must not see
    // each other's half-made schema.
    conn.execute_batch("BEGIN IMMEDIATE")?;
    let result = check_and_create_schema(conn);
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    conn.execute_batch(end)?;
    result
}

fn check_and_create_schema(conn: &Connection) -> StoreResult<()> {
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

fn configure(conn: &Connection, durability: Durability) -> StoreResult<()> {
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

/// Runs jobs; a writer groups them into transactions.
fn spawn_worker(name: &str, conn: Connection, transactional: bool) -> mpsc::Sender<Job> {
    let (tx, rx) = mpsc::channel::<Job>();
    std::thread::Builder::new()
        .name(name.into())
        .spawn(move || {
            while let Ok(first) = rx.recv() {
                if !transactional {
                    (first(&conn).deliver)(None);
                    continue;
                }
                let mut jobs = vec![first];
                while jobs.len() < MAX_GROUP {
                    match rx.try_recv() {
                        Ok(job) => jobs.push(job),
                        Err(_) => break,
                    }
                }
                run_group(&conn, jobs);
            }
        })
        .expect("spawning the SQLite worker thread");
    tx
}

fn run_group(conn: &Connection, jobs: Vec<Job>) {
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        // Run nothing: dropping a job drops its reply channel, and its
        // caller gets a backend error.
        tracing::error!("cannot begin a SQLite transaction: {e}");
        return;
    }
    let mut replies = Vec::with_capacity(jobs.len());
    let mut failed = None;
    for job in jobs {
        // Without its savepoint a failing request could not roll back
        // alone, so the whole group is abandoned instead.
        if let Err(e) = conn.execute_batch("SAVEPOINT job") {
            failed = Some(format!("cannot open a SQLite savepoint: {e}"));
            break;
        }
        let reply = job(conn);
        let end = if reply.ok {
            "RELEASE job"
        } else {
            "ROLLBACK TO job; RELEASE job"
        };
        replies.push(reply);
        if let Err(e) = conn.execute_batch(end) {
            failed = Some(format!("cannot close a SQLite savepoint: {e}"));
            break;
        }
    }
    let outcome = match failed {
        Some(error) => Some(error),
        None => conn.execute_batch("COMMIT").err().map(|e| e.to_string()),
    };
    if let Some(error) = &outcome {
        tracing::error!("SQLite group commit failed: {error}");
        let _ = conn.execute_batch("ROLLBACK");
    }
    for reply in replies {
        (reply.deliver)(outcome.clone());
    }
}

fn status_of(s: &str) -> StoreResult<RuntimeStatus> {
    RuntimeStatus::parse(s).ok_or_else(|| StoreError::Corrupt(format!("unknown status `{s}`")))
}

const INSTANCE_COLUMNS: &str = "instance_id, name, execution_id, digest, status, input, output, \
     failure, custom_status, created_at, updated_at, completed_at, parent";

/// A row of `instances` before its JSON and enum columns are decoded
/// (rusqlite's row closure cannot return our errors).
struct RawInstance {
    record: InstanceRecord,
    status: String,
    failure: Option<String>,
    parent: Option<String>,
}

fn instance_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<RawInstance> {
    Ok(RawInstance {
        record: InstanceRecord {
            instance_id: row.get(0)?,
            name: row.get(1)?,
            execution_id: row.get(2)?,
            digest: row.get(3)?,
            status: RuntimeStatus::Pending,
            input: row.get(5)?,
            output: row.get(6)?,
            failure: None,
            custom_status: row.get(8)?,
            created_at: row.get::<_, i64>(9)? as Timestamp,
            updated_at: row.get::<_, i64>(10)? as Timestamp,
            completed_at: row.get::<_, Option<i64>>(11)?.map(|t| t as Timestamp),
            parent: None,
        },
        status: row.get(4)?,
        failure: row.get(7)?,
        parent: row.get(12)?,
    })
}

fn finish_instance(raw: RawInstance) -> StoreResult<InstanceRecord> {
    let mut record = raw.record;
    record.status = status_of(&raw.status)?;
    record.failure = raw.failure.map(|f| serde_json::from_str(&f)).transpose()?;
    record.parent = raw.parent.map(|p| serde_json::from_str(&p)).transpose()?;
    Ok(record)
}

/// The `WHERE` clause and arguments of an instance filter (without limit).
fn filter_sql(filter: &InstanceFilter) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut sql = String::from("1 = 1");
    let mut args: Vec<Value> = Vec::new();
    if !filter.statuses.is_empty() {
        let marks = vec!["?"; filter.statuses.len()].join(", ");
        sql.push_str(&format!(" AND status IN ({marks})"));
        args.extend(
            filter
                .statuses
                .iter()
                .map(|s| Value::Text(s.as_str().into())),
        );
    }
    if let Some(from) = filter.created_from {
        sql.push_str(" AND created_at >= ?");
        args.push(Value::Integer(from as i64));
    }
    if let Some(to) = filter.created_to {
        sql.push_str(" AND created_at <= ?");
        args.push(Value::Integer(to as i64));
    }
    if let Some(prefix) = &filter.id_prefix {
        // SQLite's substr counts characters, not bytes.
        sql.push_str(" AND substr(instance_id, 1, ?) = ?");
        args.push(Value::Integer(prefix.chars().count() as i64));
        args.push(Value::Text(prefix.clone()));
    }
    if let Some(after) = &filter.after {
        sql.push_str(" AND (created_at > ? OR (created_at = ? AND instance_id > ?))");
        args.push(Value::Integer(after.created_at as i64));
        args.push(Value::Integer(after.created_at as i64));
        args.push(Value::Text(after.instance_id.clone()));
    }
    (sql, args)
}

fn load_instance(conn: &Connection, instance_id: &str) -> StoreResult<Option<InstanceRecord>> {
    let sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1");
    conn.query_row(&sql, [instance_id], instance_from_row)
        .optional()?
        .map(finish_instance)
        .transpose()
}

fn insert_message(
    conn: &Connection,
    instance_id: &str,
    execution_id: Option<&str>,
    timer_id: Option<u32>,
    event: &EventKind,
    visible_at: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO inbox (instance_id, execution_id, timer_id, kind, event, visible_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        instance_id,
        execution_id,
        timer_id,
        event.label(),
        serde_json::to_string(event)?,
        visible_at as i64
    ])?;
    Ok(())
}

/// Creates an instance and enqueues its `ExecutionStarted`; replaces a
/// finished instance with the same id, refuses an unfinished one.
fn insert_instance(conn: &Connection, instance: NewInstance) -> StoreResult<()> {
    if let Some(existing) = load_instance(conn, &instance.instance_id)? {
        if !existing.status.is_terminal() {
            return Err(StoreError::InstanceExists(instance.instance_id));
        }
        delete_instance(conn, &instance.instance_id)?;
    }
    let parent = instance
        .parent
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let parent_id = instance.parent.as_ref().map(|p| p.instance_id.clone());
    conn.prepare_cached(
        "INSERT INTO instances (instance_id, name, execution_id, digest, status, input, \
         parent, parent_id, created_at, updated_at) \
         VALUES (?1, ?2, ?3, ?4, 'Pending', ?5, ?6, ?7, ?8, ?8)",
    )?
    .execute(params![
        instance.instance_id,
        instance.name,
        instance.execution_id,
        instance.digest,
        instance.input,
        parent,
        parent_id,
        instance.created_at as i64
    ])?;
    let started = EventKind::ExecutionStarted {
        name: instance.name,
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        input: instance.input,
        parent: instance.parent,
    };
    insert_message(
        conn,
        &instance.instance_id,
        Some(&instance.execution_id),
        None,
        &started,
        instance.created_at,
    )
}

/// Deletes an instance and everything stored for it.
fn delete_instance(conn: &Connection, instance_id: &str) -> StoreResult<()> {
    for table in ["history", "inbox", "activities", "logs", "instances"] {
        conn.prepare_cached(&format!("DELETE FROM {table} WHERE instance_id = ?1"))?
            .execute([instance_id])?;
    }
    Ok(())
}

fn insert_logs(conn: &Connection, instance_id: &str, logs: &[LogLine]) -> StoreResult<()> {
    if logs.is_empty() {
        return Ok(());
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO logs (instance_id, timestamp, level, message) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for line in logs {
        insert.execute(params![
            instance_id,
            line.timestamp as i64,
            line.level,
            line.message
        ])?;
    }
    Ok(())
}

fn requires_running(conn: &Connection, instance_id: &str) -> StoreResult<InstanceRecord> {
    let instance = load_instance(conn, instance_id)?
        .ok_or_else(|| StoreError::InstanceNotFound(instance_id.to_owned()))?;
    if instance.status.is_terminal() {
        return Err(StoreError::InstanceFinished(
            instance_id.to_owned(),
            instance.status,
        ));
    }
    Ok(instance)
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn put_component(
        &self,
        digest: &str,
        bytes: &[u8],
        catalogue: &Catalogue,
        now: Timestamp,
    ) -> StoreResult<()> {
        let digest = digest.to_owned();
        let bytes = bytes.to_vec();
        let catalogue = serde_json::to_string(catalogue)?;
        self.write(move |conn| {
            let seq: i64 = conn.query_row(
                "SELECT COALESCE(MAX(deploy_seq), 0) + 1 FROM components",
                [],
                |r| r.get(0),
            )?;
            conn.execute(
                "INSERT INTO components (digest, bytes, catalogue, deployed_at, deploy_seq) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT(digest) DO UPDATE SET deployed_at = ?4, deploy_seq = ?5",
                params![digest, bytes, catalogue, now as i64, seq],
            )?;
            Ok(())
        })
        .await
    }

    async fn component_bytes(&self, digest: &str) -> StoreResult<Option<Vec<u8>>> {
        let digest = digest.to_owned();
        self.read(move |conn| {
            Ok(conn
                .query_row(
                    "SELECT bytes FROM components WHERE digest = ?1",
                    [digest],
                    |r| r.get(0),
                )
                .optional()?)
        })
        .await
    }

    async fn components(&self) -> StoreResult<Vec<ComponentRecord>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(
                "SELECT digest, catalogue, deployed_at FROM components ORDER BY deploy_seq DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, catalogue, deployed_at) = row?;
                out.push(ComponentRecord {
                    digest,
                    catalogue: serde_json::from_str(&catalogue)?,
                    deployed_at: deployed_at as Timestamp,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn create_instance(&self, instance: NewInstance) -> StoreResult<()> {
        self.write(move |conn| insert_instance(conn, instance))
            .await
    }

    async fn send_message(
        &self,
        instance_id: &str,
        event: EventKind,
        visible_at: Timestamp,
        _now: Timestamp,
    ) -> StoreResult<()> {
        let instance_id = instance_id.to_owned();
        self.write(move |conn| {
            requires_running(conn, &instance_id)?;
            insert_message(conn, &instance_id, None, None, &event, visible_at)
        })
        .await
    }

    async fn lock_orchestrations(
        &self,
        owner: &str,
        max: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<OrchestrationWorkItem>> {
        let tokens: Vec<String> = (0..max).map(|_| self.new_lock_token(owner)).collect();
        self.write(move |conn| {
            let now_i = now as i64;
            let ids: Vec<String> = {
                let mut stmt = conn.prepare_cached(
                    "SELECT DISTINCT m.instance_id FROM inbox m \
                     JOIN instances i ON i.instance_id = m.instance_id \
                     WHERE m.visible_at <= ?1 AND i.lock_expires <= ?1 \
                     AND (i.status != 'Suspended' \
                          OR m.kind IN ('ExecutionResumed', 'ExecutionTerminated')) \
                     LIMIT ?2",
                )?;
                stmt.query_map(params![now_i, max as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            let mut items = Vec::with_capacity(ids.len());
            for (instance_id, token) in ids.into_iter().zip(tokens) {
                conn.prepare_cached(
                    "UPDATE instances SET lock_token = ?2, lock_expires = ?3 WHERE instance_id = ?1",
                )?
                .execute(params![instance_id, token, (now + lease_ms) as i64])?;
                let Some(instance) = load_instance(conn, &instance_id)? else {
                    continue;
                };
                let history_len: i64 = conn
                    .prepare_cached("SELECT history_len FROM instances WHERE instance_id = ?1")?
                    .query_row([&instance_id], |r| r.get(0))?;
                let mut stmt = conn.prepare_cached(
                    "SELECT id, execution_id, event FROM inbox \
                     WHERE instance_id = ?1 AND visible_at <= ?2 \
                     ORDER BY visible_at, id LIMIT 1000",
                )?;
                let messages = stmt
                    .query_map(params![instance_id, now_i], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Option<String>>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    })?
                    .map(|row| {
                        let (id, execution_id, event) = row?;
                        Ok(InboxMessage {
                            id,
                            execution_id,
                            event: serde_json::from_str(&event)?,
                        })
                    })
                    .collect::<StoreResult<Vec<_>>>()?;
                items.push(OrchestrationWorkItem {
                    instance,
                    lock_token: token,
                    history_len: history_len as u32,
                    messages,
                });
            }
            Ok(items)
        })
        .await
    }

    async fn history(&self, instance_id: &str) -> StoreResult<Vec<HistoryEvent>> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT event FROM history WHERE instance_id = ?1 ORDER BY position",
            )?;
            let rows = stmt.query_map([instance_id], |r| r.get::<_, String>(0))?;
            rows.map(|row| Ok(serde_json::from_str(&row?)?)).collect()
        })
        .await
    }

    async fn complete_orchestration(&self, commit: OrchestrationCommit) -> StoreResult<()> {
        self.write(move |conn| write_turn(conn, commit)).await
    }

    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        lock_token: &str,
        retry_at: Timestamp,
    ) -> StoreResult<()> {
        let instance_id = instance_id.to_owned();
        let lock_token = lock_token.to_owned();
        self.write(move |conn| {
            conn.execute(
                "UPDATE instances SET lock_token = NULL, lock_expires = ?3 \
                 WHERE instance_id = ?1 AND lock_token = ?2",
                params![instance_id, lock_token, retry_at as i64],
            )?;
            Ok(())
        })
        .await
    }

    async fn lock_activities(
        &self,
        owner: &str,
        max: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<ActivityWorkItem>> {
        let token = self.new_lock_token(owner);
        self.write(move |conn| {
            let mut stmt = conn.prepare_cached(
                "UPDATE activities SET lock_token = ?1, lock_expires = ?2, attempt = attempt + 1 \
                 WHERE id IN (SELECT id FROM activities WHERE visible_at <= ?3 AND lock_expires <= ?3 \
                              ORDER BY id LIMIT ?4) \
                 RETURNING id, instance_id, execution_id, task_id, name, input, digest, attempt",
            )?;
            let rows = stmt.query_map(
                params![token, (now + lease_ms) as i64, now as i64, max as i64],
                |r| {
                    Ok(ActivityWorkItem {
                        id: r.get(0)?,
                        lock_token: token.clone(),
                        instance_id: r.get(1)?,
                        execution_id: r.get(2)?,
                        task_id: r.get(3)?,
                        name: r.get(4)?,
                        input: r.get(5)?,
                        digest: r.get(6)?,
                        attempt: r.get(7)?,
                    })
                },
            )?;
            let mut items: Vec<ActivityWorkItem> = rows.collect::<Result<_, _>>()?;
            items.sort_by_key(|item| item.id);
            Ok(items)
        })
        .await
    }

    async fn complete_activity(
        &self,
        task: &ActivityWorkItem,
        result: EventKind,
        logs: Vec<LogLine>,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (id, token) = (task.id, task.lock_token.clone());
        let (instance_id, execution_id) = (task.instance_id.clone(), task.execution_id.clone());
        self.write(move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM activities WHERE id = ?1 AND lock_token = ?2")?
                .execute(params![id, token])?;
            if deleted == 0 {
                return Err(StoreError::LeaseLost);
            }
            insert_logs(conn, &instance_id, &logs)?;
            insert_message(conn, &instance_id, Some(&execution_id), None, &result, now)
        })
        .await
    }

    async fn next_wakeup(&self, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        self.read(move |conn| {
            let now = now as i64;
            let inbox: Option<i64> = conn.query_row(
                "SELECT MIN(visible_at) FROM inbox WHERE visible_at > ?1",
                [now],
                |r| r.get(0),
            )?;
            let activities: Option<i64> = conn.query_row(
                "SELECT MIN(MAX(visible_at, lock_expires)) FROM activities \
                 WHERE visible_at > ?1 OR lock_expires > ?1",
                [now],
                |r| r.get(0),
            )?;
            let locks: Option<i64> = conn.query_row(
                "SELECT MIN(i.lock_expires) FROM instances i WHERE i.lock_expires > ?1 \
                 AND EXISTS (SELECT 1 FROM inbox m WHERE m.instance_id = i.instance_id)",
                [now],
                |r| r.get(0),
            )?;
            let entity_inbox: Option<i64> = conn.query_row(
                "SELECT MIN(visible_at) FROM entity_inbox WHERE visible_at > ?1",
                [now],
                |r| r.get(0),
            )?;
            let entity_locks: Option<i64> = conn.query_row(
                "SELECT MIN(e.lock_expires) FROM entities e WHERE e.lock_expires > ?1 \
                 AND EXISTS (SELECT 1 FROM entity_inbox m WHERE m.name = e.name AND m.key = e.key)",
                [now],
                |r| r.get(0),
            )?;
            Ok([inbox, activities, locks, entity_inbox, entity_locks]
                .into_iter()
                .flatten()
                .min()
                .map(|t| t as Timestamp))
        })
        .await
    }

    async fn instance(&self, instance_id: &str) -> StoreResult<Option<InstanceRecord>> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| load_instance(conn, &instance_id))
            .await
    }

    async fn list_instances(&self, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>> {
        let filter = filter.clone();
        self.read(move |conn| {
            let (filter_sql, args) = filter_sql(&filter);
            let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE {filter_sql}");
            sql.push_str(" ORDER BY created_at, instance_id");
            if let Some(limit) = filter.limit {
                sql.push_str(&format!(" LIMIT {limit}"));
            }
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map(rusqlite::params_from_iter(args), instance_from_row)?;
            rows.map(|row| finish_instance(row?)).collect()
        })
        .await
    }

    async fn logs(&self, instance_id: &str) -> StoreResult<Vec<LogLine>> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| {
            let mut stmt = conn.prepare(
                "SELECT timestamp, level, message FROM logs WHERE instance_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([instance_id], |r| {
                Ok(LogLine {
                    timestamp: r.get::<_, i64>(0)? as Timestamp,
                    level: r.get(1)?,
                    message: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
    async fn children(&self, instance_id: &str) -> StoreResult<Vec<InstanceRecord>> {
        let instance_id = instance_id.to_owned();
        self.read(move |conn| {
            let sql = format!(
                "SELECT {INSTANCE_COLUMNS} FROM instances WHERE parent_id = ?1 ORDER BY created_at"
            );
            let mut stmt = conn.prepare_cached(&sql)?;
            let rows = stmt.query_map([instance_id], instance_from_row)?;
            rows.map(|row| finish_instance(row?)).collect()
        })
        .await
    }

    async fn purge_instance(&self, instance_id: &str) -> StoreResult<()> {
        let instance_id = instance_id.to_owned();
        self.write(move |conn| {
            let instance = load_instance(conn, &instance_id)?
                .ok_or_else(|| StoreError::InstanceNotFound(instance_id.clone()))?;
            if !instance.status.is_terminal() {
                return Err(StoreError::InstanceNotFinished(
                    instance_id,
                    instance.status,
                ));
            }
            delete_instance(conn, &instance_id)
        })
        .await
    }

    async fn purge_batch(&self, filter: &InstanceFilter, batch: usize) -> StoreResult<usize> {
        let filter = filter.clone();
        self.write(move |conn| {
            let (filter_sql, mut args) = filter_sql(&filter);
            let sql = format!(
                "SELECT instance_id FROM instances WHERE {filter_sql} \
                 AND status IN ('Completed', 'Failed', 'Canceled', 'Terminated') LIMIT ?"
            );
            args.push(rusqlite::types::Value::Integer(batch as i64));
            let ids: Vec<String> = {
                let mut stmt = conn.prepare(&sql)?;
                stmt.query_map(rusqlite::params_from_iter(args), |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            for id in &ids {
                delete_instance(conn, id)?;
            }
            Ok(ids.len())
        })
        .await
    }

    async fn rewind(&self, instance_id: &str, reason: &str, now: Timestamp) -> StoreResult<()> {
        let instance_id = instance_id.to_owned();
        let reason = reason.to_owned();
        self.write(move |conn| rewind_instance(conn, &instance_id, &reason, now))
            .await
    }

    async fn send_entity_message(&self, message: EntityMessage) -> StoreResult<()> {
        self.write(move |conn| entities::insert_entity_message(conn, &message))
            .await
    }

    async fn lock_entities(
        &self,
        owner: &str,
        max: usize,
        batch: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<EntityWorkItem>> {
        let tokens: Vec<String> = (0..max).map(|_| self.new_lock_token(owner)).collect();
        self.write(move |conn| entities::lock_entities(conn, tokens, batch, lease_ms, now))
            .await
    }

    async fn complete_entity(&self, commit: EntityCommit) -> StoreResult<()> {
        self.write(move |conn| entities::write_batch(conn, commit))
            .await
    }

    async fn abandon_entity(
        &self,
        entity: &EntityId,
        lock_token: &str,
        retry_at: Timestamp,
    ) -> StoreResult<()> {
        let (entity, lock_token) = (entity.clone(), lock_token.to_owned());
        self.write(move |conn| entities::abandon(conn, &entity, &lock_token, retry_at))
            .await
    }

    async fn entity(&self, entity: &EntityId) -> StoreResult<Option<EntityRecord>> {
        let entity = entity.clone();
        self.read(move |conn| entities::load_entity(conn, &entity))
            .await
    }

    async fn list_entities(&self, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>> {
        let filter = filter.clone();
        self.read(move |conn| entities::list(conn, &filter)).await
    }

    async fn delete_empty_entities(&self, now: Timestamp) -> StoreResult<usize> {
        self.write(move |conn| entities::delete_empty(conn, now))
            .await
    }
}

/// See [`Store::rewind`].
fn rewind_instance(
    conn: &Connection,
    instance_id: &str,
    reason: &str,
    now: Timestamp,
) -> StoreResult<()> {
    let instance = load_instance(conn, instance_id)?
        .ok_or_else(|| StoreError::InstanceNotFound(instance_id.to_owned()))?;
    if instance.status != RuntimeStatus::Failed {
        return Err(StoreError::InstanceNotFailed(
            instance_id.to_owned(),
            instance.status,
        ));
    }
    let history: Vec<HistoryEvent> = {
        let mut stmt = conn
            .prepare_cached("SELECT event FROM history WHERE instance_id = ?1 ORDER BY position")?;
        let rows = stmt.query_map([instance_id], |r| r.get::<_, String>(0))?;
        rows.map(|row| Ok(serde_json::from_str(&row?)?))
            .collect::<StoreResult<_>>()?
    };
    let failed: Vec<u32> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskFailed { task_id, .. } => Some(*task_id),
            _ => None,
        })
        .collect();
    let kept: Vec<&HistoryEvent> = history
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                EventKind::TaskFailed { .. } | EventKind::ExecutionCompleted { .. }
            )
        })
        .collect();
    conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
        .execute([instance_id])?;
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO history (instance_id, position, event) VALUES (?1, ?2, ?3)",
        )?;
        for (position, event) in kept.iter().enumerate() {
            insert.execute(params![
                instance_id,
                position as i64,
                serde_json::to_string(event)?
            ])?;
        }
    }
    let mut insert = conn.prepare_cached(
        "INSERT INTO activities (instance_id, execution_id, task_id, name, input, digest, visible_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for event in &history {
        if let EventKind::TaskScheduled { name, input } = &event.kind
            && failed.contains(&event.event_id)
        {
            insert.execute(params![
                instance_id,
                instance.execution_id,
                event.event_id,
                name,
                input,
                instance.digest,
                now as i64
            ])?;
        }
    }
    let wake = EventKind::ExecutionResumed {
        reason: Some(format!("rewound: {reason}")),
    };
    insert_message(
        conn,
        instance_id,
        Some(&instance.execution_id),
        None,
        &wake,
        now,
    )?;
    conn.prepare_cached(
        "UPDATE instances SET status = 'Running', output = NULL, failure = NULL, \
         completed_at = NULL, updated_at = ?2, history_len = ?3 WHERE instance_id = ?1",
    )?
    .execute(params![instance_id, now as i64, kept.len() as i64])?;
    Ok(())
}

/// Writes one orchestration turn. Runs inside the group transaction's
/// savepoint, so an error leaves nothing behind.
fn write_turn(conn: &Connection, commit: OrchestrationCommit) -> StoreResult<()> {
    let now = commit.now as i64;
    let id = &commit.instance_id;
    let history_len: i64 = match conn
        .prepare_cached(
            "SELECT history_len FROM instances WHERE instance_id = ?1 AND lock_token = ?2",
        )?
        .query_row(params![id, commit.lock_token], |r| r.get(0))
        .optional()?
    {
        Some(len) => len,
        None => return Err(StoreError::LeaseLost),
    };
    let mut position = history_len;
    {
        let mut insert = conn.prepare_cached(
            "INSERT INTO history (instance_id, position, event) VALUES (?1, ?2, ?3)",
        )?;
        for event in &commit.new_history {
            insert.execute(params![id, position, serde_json::to_string(event)?])?;
            position += 1;
        }
    }
    {
        let mut delete = conn.prepare_cached("DELETE FROM inbox WHERE id = ?1")?;
        for message in &commit.consumed {
            delete.execute([message])?;
        }
    }
    if !commit.cancelled_timers.is_empty() {
        let mut delete =
            conn.prepare_cached("DELETE FROM inbox WHERE instance_id = ?1 AND timer_id = ?2")?;
        for timer in &commit.cancelled_timers {
            delete.execute(params![id, timer])?;
        }
    }
    if !commit.activities.is_empty() {
        let mut insert = conn.prepare_cached(
            "INSERT INTO activities (instance_id, execution_id, task_id, name, input, digest, visible_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        )?;
        for activity in &commit.activities {
            insert.execute(params![
                id,
                commit.execution_id,
                activity.task_id,
                activity.name,
                activity.input,
                activity.digest,
                activity.visible_at as i64
            ])?;
        }
    }
    if let Some(started @ EventKind::ExecutionStarted { execution_id, .. }) = &commit.new_execution
    {
        // Before the messages: events carried into the new execution must
        // follow its start.
        insert_message(conn, id, Some(execution_id), None, started, commit.now)?;
    }
    for message in &commit.messages {
        if message.instance_id != *id {
            // Messages to other instances are dropped when the target is
            // unknown or finished, as in Durable Functions.
            match load_instance(conn, &message.instance_id)? {
                Some(target) if !target.status.is_terminal() => {}
                _ => continue,
            }
        }
        insert_message(
            conn,
            &message.instance_id,
            message.execution_id.as_deref(),
            message.timer_id,
            &message.event,
            message.visible_at,
        )?;
    }
    insert_logs(conn, id, &commit.logs)?;
    for message in &commit.entity_messages {
        entities::insert_entity_message(conn, message)?;
    }
    for child in commit.new_instances {
        match load_instance(conn, &child.instance_id)? {
            Some(existing) if !existing.status.is_terminal() => {
                let task_id = child.parent.as_ref().map_or(0, |p| p.task_id);
                let failure = Failure::fatal(
                    "InstanceExists",
                    format!(
                        "cannot start sub-orchestration `{}`: instance `{}` exists and is {}",
                        child.name, child.instance_id, existing.status
                    ),
                );
                let event = EventKind::SubOrchestrationFailed { task_id, failure };
                insert_message(
                    conn,
                    id,
                    Some(&commit.execution_id),
                    None,
                    &event,
                    commit.now,
                )?;
            }
            _ => insert_instance(conn, child)?,
        }
    }
    let failure = commit
        .failure
        .as_ref()
        .map(serde_json::to_string)
        .transpose()?;
    let completed_at = commit.status.is_terminal().then_some(now);
    let mut execution_id = commit.execution_id.clone();
    if let Some(started) = &commit.new_execution {
        conn.prepare_cached("DELETE FROM history WHERE instance_id = ?1")?
            .execute([id])?;
        position = 0;
        if let EventKind::ExecutionStarted {
            execution_id: next, ..
        } = started
        {
            execution_id = next.clone();
        }
    }
    conn.prepare_cached(
        "UPDATE instances SET status = ?2, output = ?3, failure = ?4, \
         custom_status = CASE WHEN ?5 THEN ?6 ELSE custom_status END, \
         updated_at = ?7, completed_at = ?8, history_len = ?9, execution_id = ?10, \
         lock_token = NULL, lock_expires = 0 WHERE instance_id = ?1",
    )?
    .execute(params![
        id,
        commit.status.as_str(),
        commit.output,
        failure,
        commit.custom_status.is_some(),
        commit.custom_status.clone().flatten(),
        now,
        completed_at,
        position,
        execution_id,
    ])?;
    Ok(())
}
