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
mod liveness;
mod rows;
mod schema;
mod transfer;
mod turns;
mod worker;

use super::rows::*;
use super::*;
use rows::*;
use rusqlite::{Connection, OptionalExtension, params};
use schema::*;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use tokio::sync::{oneshot, watch};
use turns::*;
use worker::*;

pub use schema::SCHEMA_VERSION;

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Backend(e.to_string())
    }
}

/// How hard a commit tries to reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// Work is fsync'd before it is answered (`synchronous=FULL`; lease writes, and a
    /// result whose claimed turn syncs it, ride on the next fsync): survives power loss.
    #[default]
    Full,
    /// WAL with `synchronous=NORMAL`: survives a process crash, may lose the
    /// last commits on power loss.
    Normal,
}

impl Durability {
    /// The setting in words: the SQLite modes and what a commit survives.
    pub fn describe(self) -> &'static str {
        match self {
            Durability::Full => {
                "WAL, synchronous=FULL (work fsync'd before it is answered; survives power loss)"
            }
            Durability::Normal => {
                "WAL, synchronous=NORMAL (survives a process crash, not power loss)"
            }
        }
    }
}

/// The SQLite implementation of [`Store`].
pub struct SqliteStore {
    writer: mpsc::Sender<Job>,
    reader: mpsc::Sender<Job>,
    lock_counter: AtomicU64,
    /// Makes this handle's lock tokens unique even among hosts that share
    /// an owner name; every token this handle makes starts with it.
    nonce: String,
    /// Moves when another connection commits ([`Store::external_commits`]).
    external: watch::Receiver<u64>,
    /// Where the hosts on this file register ([`liveness`]); none for a private database.
    hosts: Option<PathBuf>,
    /// This handle's registration, made when it first takes a lease (`None` inside: it
    /// could not register, and its leases only expire).
    registration: OnceLock<Option<liveness::Registration>>,
    /// What opening did to the file's schema.
    migration: Migration,
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
        // The writer runs every request of a group commit in its own savepoint, and SQLite
        // copies each page a savepoint changes first into a statement journal, which spills
        // to a temporary file past 64 KiB and then costs a `pwrite` a page, group after
        // group. Kept in memory (freed as each savepoint is released), that copy was a tenth
        // of the host's time and the writer thread is the bottleneck under load (`durable
        // bench --only a`: 1,692-1,791 orchestrations/s before, 1,862-1,954 after). A
        // request that rewrites many existing pages (purging a long history) holds their
        // old contents in memory until it ends. The readers' sorts stay on disk.
        writer.pragma_update(None, "temp_store", "MEMORY")?;
        let migration = migrate(&writer)?;
        let reader = open()?;
        let (external, external_commits) = watch::channel(0);
        Ok(SqliteStore {
            writer: spawn_worker(
                "durable-sqlite-writer",
                writer,
                Role::Writer {
                    external,
                    full: durability == Durability::Full,
                },
            ),
            reader: spawn_worker("durable-sqlite-reader", reader, Role::Reader),
            lock_counter: AtomicU64::new(0),
            nonce: store_nonce(),
            external: external_commits,
            hosts: Some(liveness::hosts_dir(path)),
            registration: OnceLock::new(),
            migration,
        })
    }

    /// A private in-memory database, for tests.
    pub fn open_in_memory() -> StoreResult<Self> {
        let conn = Connection::open_in_memory()?;
        let migration = migrate(&conn)?;
        let (external, external_commits) = watch::channel(0);
        let role = Role::Writer {
            external,
            full: false,
        };
        let writer = spawn_worker("durable-sqlite-memory", conn, role);
        Ok(SqliteStore {
            reader: writer.clone(),
            writer,
            lock_counter: AtomicU64::new(0),
            nonce: store_nonce(),
            external: external_commits,
            hosts: None,
            registration: OnceLock::new(),
            migration,
        })
    }

    /// Runs `f` on a worker. `durable`: its write is sure to need a sync ([`worker::Job`]);
    /// if not, `f` says with its result whether it turned out to.
    async fn run<T: Send + 'static>(
        channel: &mpsc::Sender<Job>,
        durable: bool,
        f: impl FnOnce(&Connection) -> StoreResult<(T, bool)> + Send + 'static,
    ) -> StoreResult<T> {
        let (tx, rx) = oneshot::channel();
        let run = Box::new(move |conn: &Connection| {
            let result = f(conn);
            Reply {
                ok: result.is_ok(),
                durable: durable || matches!(result, Ok((_, true))),
                deliver: Box::new(move |commit_error| {
                    let _ = tx.send(match commit_error {
                        Some(e) => Err(StoreError::Backend(e)),
                        None => result.map(|(value, _)| value),
                    });
                }),
            }
        });
        channel
            .send(Job { run, durable })
            .map_err(|_| StoreError::Backend("the SQLite worker has stopped".into()))?;
        rx.await
            .map_err(|_| StoreError::Backend("the SQLite worker dropped a request".into()))?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        Self::run(&self.writer, true, move |conn| Ok((f(conn)?, true))).await
    }

    /// A write that takes or renews a lease: it need not be synced to disk before it is
    /// answered ([`worker`]).
    async fn write_lease<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        Self::run(&self.writer, false, move |conn| Ok((f(conn)?, false))).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
    ) -> StoreResult<T> {
        Self::run(&self.reader, false, move |conn| Ok((f(conn)?, false))).await
    }

    /// A lock token no other holder has: this handle's prefix, then the owner's name and a
    /// count. The first one registers this handle as a live host.
    fn new_lock_token(&self, owner: &str) -> String {
        self.register();
        let n = self.lock_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}/{owner}/{n}", self.nonce)
    }

    /// Registers this handle as a live host on the file, once: from then on, while it lives,
    /// no other host releases its leases early.
    fn register(&self) {
        let Some(dir) = &self.hosts else { return };
        self.registration.get_or_init(|| {
            liveness::register(dir, &self.nonce)
                .inspect_err(|e| {
                    tracing::warn!(
                        "cannot register this host in {}: {e}; if it dies, its work is taken \
                         over only when its leases expire",
                        dir.display()
                    )
                })
                .ok()
        });
    }
}

#[async_trait::async_trait]
impl Store for SqliteStore {
    async fn put_component(
        &self,
        digest: &str,
        bytes: &[u8],
        catalogue: &Catalogue,
        now: Timestamp,
        labels: Labels<'_>,
    ) -> StoreResult<()> {
        let digest = digest.to_owned();
        let bytes = bytes.to_vec();
        let catalogue = serde_json::to_string(catalogue)?;
        let version = labels.version.map(str::to_owned);
        let app = labels.app.map(str::to_owned);
        self.write(move |conn| {
            let seq: i64 = conn.query_row(
                "SELECT COALESCE(MAX(deploy_seq), 0) + 1 FROM components",
                [],
                |r| r.get(0),
            )?;
            conn.execute(
                "INSERT INTO components (digest, bytes, catalogue, deployed_at, deploy_seq, \
                 version, app) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) \
                 ON CONFLICT(digest) DO UPDATE SET deployed_at = ?4, deploy_seq = ?5, \
                 retired_at = NULL, version = COALESCE(?6, version), app = COALESCE(?7, app)",
                params![digest, bytes, catalogue, now as i64, seq, version, app],
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
                "SELECT digest, catalogue, deployed_at, retired_at, version, app FROM components \
                 INDEXED BY components_summary ORDER BY deploy_seq DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<String>>(5)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (digest, catalogue, deployed_at, retired_at, version, app) = row?;
                out.push(ComponentRecord {
                    digest,
                    catalogue: serde_json::from_str(&catalogue)?,
                    deployed_at: deployed_at as Timestamp,
                    retired_at: retired_at.map(|t| t as Timestamp),
                    version,
                    app,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn pinned_counts(&self) -> StoreResult<Vec<(String, u64)>> {
        self.read(|conn| {
            let mut stmt = conn.prepare(&format!(
                "SELECT digest, COUNT(*) FROM instances WHERE status NOT IN ({}) \
                 GROUP BY digest ORDER BY digest",
                TERMINAL_STATUSES
            ))?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn backlog(&self, now: Timestamp) -> StoreResult<Backlog> {
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(&backlog_sql("?1"))?;
            let rows = stmt.query_map([now as i64], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            backlog_from_rows(rows.collect::<Result<Vec<_>, _>>()?)
        })
        .await
    }

    async fn retire_component(&self, digest: &str, now: Timestamp) -> StoreResult<bool> {
        let digest = digest.to_owned();
        self.write(move |conn| {
            let changed = conn.execute(
                "UPDATE components SET retired_at = COALESCE(retired_at, ?2) WHERE digest = ?1",
                params![digest, now as i64],
            )?;
            Ok(changed > 0)
        })
        .await
    }

    async fn collect_components(
        &self,
        retired_by: Timestamp,
        dry_run: bool,
    ) -> StoreResult<Vec<String>> {
        let sql = collect_components_sql("?1", dry_run);
        self.write(move |conn| {
            let mut stmt = conn.prepare(&sql)?;
            let rows = stmt.query_map([retired_by as i64], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn create_instance_claiming(
        &self,
        instance: NewInstance,
        claim: Option<Claim<'_>>,
    ) -> StoreResult<Option<OrchestrationWorkItem>> {
        let now = instance.created_at;
        let claim = claim
            .filter(|c| c.max > 0)
            .map(|c| (self.new_lock_token(c.owner), now + c.lease_ms));
        self.write(move |conn| {
            let id = instance.instance_id.clone();
            insert_instance(conn, instance)?;
            match claim {
                Some((token, expires)) => lock_instance(conn, &id, token, expires, now),
                None => Ok(None),
            }
        })
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
        self.write_lease(move |conn| {
            let now_i = now as i64;
            let ids: Vec<String> = {
                let mut stmt = conn.prepare_cached(&format!(
                    "SELECT DISTINCT m.instance_id FROM inbox m \
                     JOIN instances i ON i.instance_id = m.instance_id \
                     WHERE {LOCKABLE} LIMIT ?2"
                ))?;
                stmt.query_map(params![now_i, max as i64], |r| r.get(0))?
                    .collect::<Result<_, _>>()?
            };
            let mut items = Vec::with_capacity(ids.len());
            for (instance_id, token) in ids.into_iter().zip(tokens) {
                items.extend(lock_instance(
                    conn,
                    &instance_id,
                    token,
                    now + lease_ms,
                    now,
                )?);
            }
            Ok(items)
        })
        .await
    }

    async fn history_chunks(&self, instance_id: &str) -> StoreResult<HistoryChunks> {
        let (mut chunks, rx) = ChunkSender::new();
        let instance_id = instance_id.to_owned();
        // Sent to the reader without waiting for its answer: the chunks are the answer.
        let run = Box::new(move |conn: &Connection| {
            let read = (|| -> StoreResult<()> {
                let mut stmt = conn.prepare_cached(
                    "SELECT event FROM history WHERE instance_id = ?1 ORDER BY position",
                )?;
                let mut rows = stmt.query([instance_id])?;
                while let Some(row) = rows.next()? {
                    let event: String = row.get(0)?;
                    if !chunks.push(serde_json::from_str(&event)?) {
                        break; // the replay stopped listening
                    }
                }
                Ok(())
            })();
            chunks.finish(read);
            Reply {
                ok: true,
                durable: false,
                deliver: Box::new(|_| {}),
            }
        });
        self.reader
            .send(Job {
                run,
                durable: false,
            })
            .map_err(|_| StoreError::Backend("the SQLite worker has stopped".into()))?;
        Ok(rx)
    }

    async fn complete_orchestration_claiming(
        &self,
        commit: OrchestrationCommit,
        claim: Option<Claim<'_>>,
    ) -> StoreResult<Vec<ActivityWorkItem>> {
        let claim = claim.filter(|c| c.max > 0 && !commit.activities.is_empty());
        let token = claim.map(|c| self.new_lock_token(c.owner));
        let (max, lease_ms) = claim.map_or((0, 0), |c| (c.max, c.lease_ms));
        self.write(move |conn| {
            let now = commit.now;
            let queued = write_turn(conn, commit)?;
            let Some(token) = token else {
                return Ok(Vec::new());
            };
            let mut claim = conn.prepare_cached(&format!(
                "UPDATE activities SET lock_token = ?2, lock_expires = ?3, attempt = attempt + 1 \
                 WHERE id = ?1 AND visible_at <= ?4 AND lock_expires <= ?4 \
                 RETURNING {ACTIVITY_ITEM}"
            ))?;
            let mut claimed = Vec::new();
            for id in queued {
                if claimed.len() == max {
                    break;
                }
                let expires = (now + lease_ms) as i64;
                let item = claim
                    .query_row(params![id, token, expires, now as i64], |r| {
                        activity_item(r, &token)
                    })
                    .optional()?;
                claimed.extend(item);
            }
            Ok(claimed)
        })
        .await
    }

    async fn drop_messages(
        &self,
        instance_id: &str,
        lock_token: &str,
        consumed: &[i64],
    ) -> StoreResult<()> {
        let (instance_id, lock_token) = (instance_id.to_owned(), lock_token.to_owned());
        let consumed = consumed.to_vec();
        self.write(move |conn| {
            let released = conn
                .prepare_cached(
                    "UPDATE instances SET lock_token = NULL, lock_expires = 0 \
                     WHERE instance_id = ?1 AND lock_token = ?2",
                )?
                .execute(params![instance_id, lock_token])?;
            if released == 0 {
                return Err(StoreError::LeaseLost);
            }
            let mut delete = conn.prepare_cached("DELETE FROM inbox WHERE id = ?1")?;
            for message in consumed {
                delete.execute([message])?;
            }
            Ok(())
        })
        .await
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
        self.write_lease(move |conn| {
            let mut stmt = conn.prepare_cached(&format!(
                "UPDATE activities SET lock_token = ?1, lock_expires = ?2, attempt = attempt + 1 \
                 WHERE id IN (SELECT id FROM activities WHERE visible_at <= ?3 AND lock_expires <= ?3 \
                              ORDER BY id LIMIT ?4) \
                 RETURNING {ACTIVITY_ITEM}"
            ))?;
            let rows = stmt.query_map(
                params![token, (now + lease_ms) as i64, now as i64, max as i64],
                |r| activity_item(r, &token),
            )?;
            let mut items: Vec<ActivityWorkItem> = rows.collect::<Result<_, _>>()?;
            items.sort_by_key(|item| item.id);
            Ok(items)
        })
        .await
    }

    async fn complete_activity_claiming(
        &self,
        task: &ActivityWorkItem,
        result: EventKind,
        logs: Vec<LogLine>,
        now: Timestamp,
        claim: Option<Claim<'_>>,
    ) -> StoreResult<Option<OrchestrationWorkItem>> {
        let (id, token) = (task.id, task.lock_token.clone());
        let (instance_id, execution_id) = (task.instance_id.clone(), task.execution_id.clone());
        let claim = claim
            .filter(|c| c.max > 0)
            .map(|c| (self.new_lock_token(c.owner), now + c.lease_ms));
        // With the turn claimed, the result needs no fsync of its own: the turn's commit
        // (or its abandonment, also durable) syncs it. A power cut before then loses both, and
        // the activity runs again, as if they had been one transaction ([`worker`]).
        Self::run(&self.writer, claim.is_none(), move |conn| {
            let deleted = conn
                .prepare_cached("DELETE FROM activities WHERE id = ?1 AND lock_token = ?2")?
                .execute(params![id, token])?;
            if deleted == 0 {
                return Err(StoreError::LeaseLost);
            }
            insert_logs(conn, &instance_id, &logs)?;
            insert_message(conn, &instance_id, Some(&execution_id), None, &result, now)?;
            let Some((token, expires)) = claim else {
                return Ok((None, true));
            };
            let ready = conn
                .prepare_cached(&format!(
                    "SELECT 1 FROM inbox m JOIN instances i ON i.instance_id = m.instance_id \
                     WHERE m.instance_id = ?2 AND {LOCKABLE}"
                ))?
                .exists(params![now as i64, instance_id])?;
            let turn = match ready {
                true => lock_instance(conn, &instance_id, token, expires, now)?,
                false => None,
            };
            let durable = turn.is_none();
            Ok((turn, durable))
        })
        .await
    }

    fn migration(&self) -> Migration {
        self.migration
    }

    fn external_commits(&self) -> Option<watch::Receiver<u64>> {
        Some(self.external.clone())
    }

    async fn next_wakeup(&self, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        // MIN ignores NULLs: the earliest of whichever kinds have one. Locked instances and
        // entities are found from their messages, so the cost follows the pending messages,
        // not every instance and entity there is (scanning every instance made each idle
        // loop slower as the file filled).
        self.read(move |conn| {
            let next: Option<i64> = conn
                .prepare_cached(
                    "SELECT MIN(t) FROM ( \
                     SELECT MIN(visible_at) AS t FROM inbox WHERE visible_at > ?1 \
                     UNION ALL SELECT MIN(MAX(visible_at, lock_expires)) FROM activities \
                         WHERE visible_at > ?1 OR lock_expires > ?1 \
                     UNION ALL SELECT MIN(lock_expires) FROM instances \
                         WHERE instance_id IN (SELECT instance_id FROM inbox) \
                         AND lock_expires > ?1 \
                     UNION ALL SELECT MIN(visible_at) FROM entity_inbox WHERE visible_at > ?1 \
                     UNION ALL SELECT MIN(lock_expires) FROM entities \
                         WHERE (name, key) IN (SELECT name, key FROM entity_inbox) \
                         AND lock_expires > ?1)",
                )?
                .query_row([now as i64], |r| r.get(0))?;
            Ok(next.map(|t| t as Timestamp))
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
            let (filter_sql, args) = instance_filter_sql(&filter, &sqlite_mark);
            let mut sql = format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE {filter_sql}");
            sql.push_str(instance_order_sql(&filter));
            if let Some(limit) = filter.limit {
                sql.push_str(&format!(" LIMIT {limit}"));
            }
            let mut stmt = conn.prepare(&sql)?;
            let args = args.into_iter().map(sqlite_value);
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
            require_finished(&instance_id, load_instance(conn, &instance_id)?)?;
            delete_instance(conn, &instance_id)
        })
        .await
    }

    async fn purge_batch(&self, filter: &InstanceFilter, batch: usize) -> StoreResult<usize> {
        let filter = filter.clone();
        self.write(move |conn| {
            let (filter_sql, mut args) = instance_filter_sql(&filter, &sqlite_mark);
            args.push(SqlArg::BigInt(batch as i64));
            let sql = format!(
                "SELECT instance_id FROM instances WHERE {filter_sql} \
                 AND status IN ('Completed', 'Failed', 'Canceled', 'Terminated') LIMIT ?{}",
                args.len()
            );
            let args = args.into_iter().map(sqlite_value);
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

    async fn rewind(&self, rewind: RewindCommit) -> StoreResult<()> {
        self.write(move |conn| write_rewind(conn, rewind)).await
    }

    async fn upgrade(&self, upgrade: UpgradeCommit) -> StoreResult<()> {
        self.write(move |conn| turns::write_upgrade(conn, upgrade))
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
        self.write_lease(move |conn| entities::lock_entities(conn, tokens, batch, lease_ms, now))
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

    async fn export(
        &self,
        sink: tokio::sync::mpsc::Sender<super::transfer::Record>,
    ) -> StoreResult<super::transfer::Counts> {
        self.read(move |conn| transfer::export(conn, &sink)).await
    }

    async fn import(
        &self,
        source: tokio::sync::mpsc::Receiver<super::transfer::ImportItem>,
    ) -> StoreResult<super::transfer::Counts> {
        self.write(move |conn| transfer::import(conn, source)).await
    }

    async fn release_dead_hosts(&self) -> StoreResult<usize> {
        let Some(dir) = &self.hosts else {
            return Ok(0);
        };
        let dead = liveness::dead_hosts(dir, Some(&self.nonce)).map_err(|e| {
            StoreError::Backend(format!("looking for dead hosts in {}: {e}", dir.display()))
        })?;
        let mut released = 0;
        for host in dead {
            let prefix = format!("{}/", host.prefix);
            released += self
                .write(move |conn| release_leases(conn, &prefix))
                .await?;
            tracing::info!(host = %host.prefix, "a host on this database is gone; its leases are released");
            host.forget();
        }
        Ok(released)
    }

    async fn renew_activity_lease(
        &self,
        task: &ActivityWorkItem,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (id, token) = (task.id, task.lock_token.clone());
        self.write_lease(move |conn| {
            let renewed = conn
                .prepare_cached(
                    "UPDATE activities SET lock_expires = ?3 WHERE id = ?1 AND lock_token = ?2",
                )?
                .execute(params![id, token, (now + lease_ms) as i64])?;
            if renewed == 0 {
                return Err(StoreError::LeaseLost);
            }
            Ok(())
        })
        .await
    }
}

/// Releases every lease whose token starts with `prefix` (instances, activities, entities):
/// the work becomes lockable at once. Returns how many were released.
/// When an instance `i` may be locked for its inbox message `m` at `?1`: the message is
/// visible, no one holds the instance, and a suspended instance only for a resume or a
/// terminate. The rule of [`Store::lock_orchestrations`] and of a result's claim.
const LOCKABLE: &str = "m.visible_at <= ?1 AND i.lock_expires <= ?1 \
     AND (i.status != 'Suspended' OR m.kind IN ('ExecutionResumed', 'ExecutionTerminated'))";

/// The columns of an [`ActivityWorkItem`] after its lock token, read by [`activity_item`]
/// (a statement's `RETURNING` over `activities`).
const ACTIVITY_ITEM: &str = "id, instance_id, execution_id, task_id, name, input, digest, \
     attempt, trace, \
     (SELECT app FROM components INDEXED BY components_summary \
      WHERE components.digest = activities.digest)";

/// An activity task locked with `token`, from the columns [`ACTIVITY_ITEM`] names.
fn activity_item(r: &rusqlite::Row<'_>, token: &str) -> rusqlite::Result<ActivityWorkItem> {
    Ok(ActivityWorkItem {
        id: r.get(0)?,
        lock_token: token.to_owned(),
        instance_id: r.get(1)?,
        execution_id: r.get(2)?,
        task_id: r.get(3)?,
        name: r.get(4)?,
        input: r.get(5)?,
        digest: r.get(6)?,
        attempt: r.get(7)?,
        trace: r.get(8)?,
        app: r.get(9)?,
    })
}

/// Locks an instance with `token` until `expires` and reads it with its messages visible at
/// `now`: the caller has checked that no one holds it. `None` if it is gone.
fn lock_instance(
    conn: &Connection,
    instance_id: &str,
    token: String,
    expires: Timestamp,
    now: Timestamp,
) -> StoreResult<Option<OrchestrationWorkItem>> {
    // One statement locks it and reads it with its history length, where three did: the
    // writer runs this for every turn.
    let locked = conn
        .prepare_cached(&format!(
            "UPDATE instances SET lock_token = ?2, lock_expires = ?3 WHERE instance_id = ?1 \
             RETURNING {INSTANCE_COLUMNS}, history_len"
        ))?
        .query_row(params![instance_id, token, expires as i64], |r| {
            Ok((instance_from_row(r)?, r.get::<_, i64>(13)?))
        })
        .optional()?;
    let Some((raw, history_len)) = locked else {
        return Ok(None);
    };
    let instance = finish_instance(raw)?;
    let mut stmt = conn.prepare_cached(
        "SELECT id, execution_id, event FROM inbox \
         WHERE instance_id = ?1 AND visible_at <= ?2 \
         ORDER BY visible_at, id LIMIT 1000",
    )?;
    let messages = stmt
        .query_map(params![instance_id, now as i64], |r| {
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
    Ok(Some(OrchestrationWorkItem {
        instance,
        lock_token: token,
        history_len: history_len as u32,
        messages,
    }))
}

fn release_leases(conn: &Connection, prefix: &str) -> StoreResult<usize> {
    let mut released = 0;
    for table in ["instances", "activities", "entities"] {
        released += conn.execute(
            &format!(
                "UPDATE {table} SET lock_token = NULL, lock_expires = 0 \
                 WHERE substr(lock_token, 1, length(?1)) = ?1"
            ),
            [prefix],
        )?;
    }
    Ok(released)
}
