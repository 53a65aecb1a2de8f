//! PostgreSQL backend: many hosts share one database.
//!
//! Every write method is one transaction at PostgreSQL's default isolation, READ COMMITTED,
//! with explicit row locks where a read decides a write: a turn's commit locks its instance
//! row (`FOR UPDATE`) after checking the lock token, a message to an instance holds the
//! instance (`FOR SHARE`) while checking it runs. Work is claimed in batches with
//! `FOR UPDATE SKIP LOCKED`, so hosts locking at once never wait on each other and never take
//! the same item. Connections come from a pool (`deadpool-postgres`); the tables live in the
//! schema the handle was opened on ([`PostgresStore::connect_in_schema`]), so several stores
//! can share a database.
//!
//! Every transaction that makes work ready (a start, a message, a turn, a result, an entity
//! batch, a deployment) is announced on the schema's channel once it has committed, by the
//! handle's [`session`], which also listens, so another host picks the work up at once
//! ([`Store::external_commits`]), and holds the advisory lock that says the host is alive
//! ([`Store::release_dead_hosts`]).

mod activities;
mod batch;
mod entities;
mod order;
mod prepared;
mod rows;
mod schema;
mod scratch;
mod session;
mod transfer;
mod turns;

use super::rows::*;
use super::*;
use activities::{ActivityResult, ActivityResults};
use batch::Batcher;
use deadpool_postgres::Transaction;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use order::KeyedQueues;
use prepared::Prepared;
use rows::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row};
use turns::*;

pub use schema::SCHEMA_VERSION;
pub use scratch::{ScratchDatabase, client};

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        match e.as_db_error() {
            Some(db) => StoreError::Backend(format!(
                "PostgreSQL: {} ({})",
                db.message(),
                db.code().code()
            )),
            None => match std::error::Error::source(&e) {
                Some(cause) => StoreError::Backend(format!("PostgreSQL: {e}: {cause}")),
                None => StoreError::Backend(format!("PostgreSQL: {e}")),
            },
        }
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        match e {
            deadpool_postgres::PoolError::Backend(e) => e.into(),
            e => StoreError::Backend(format!("PostgreSQL connection pool: {e}")),
        }
    }
}

/// Connections a handle keeps open at most.
const POOL_SIZE: usize = 16;

/// Connections a handle keeps open at most for lease writes ([`PostgresStore::lease`]): the
/// three loops' locks and the renewals of running activities.
const LEASE_POOL_SIZE: usize = 4;

/// How long an instance's next turn is offered only to the host its last turn ran on (which
/// likely holds its live guest, so the turn needs no replay), in ms: a chain's turns stay on
/// one host while it keeps up, and move to any host when it does not (busy, or gone).
pub(crate) const AFFINITY_MS: i64 = 50;

/// The PostgreSQL implementation of [`Store`].
pub struct PostgresStore {
    pool: Pool,
    /// Connections whose commits do not wait for the WAL to reach the disk, for lease writes
    /// alone ([`PostgresStore::lease`]).
    leases: Pool,
    /// Counts this handle's lock calls; with `nonce`, makes every lock token unique.
    lock_counter: AtomicU64,
    /// Makes this handle's lock tokens unique among all hosts; every token starts with it.
    nonce: String,
    /// Orders this handle's writes to one instance or entity ([`order`]).
    order: KeyedQueues,
    /// Hears other handles' commits and holds this one's liveness lock.
    session: session::Session,
    /// What connecting did to the schema.
    migration: Migration,
    /// Writes activity results in batches.
    activity_results: Batcher<ActivityResults>,
    /// Writes most orchestration turns in batches.
    plain_turns: Batcher<PlainTurns>,
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/database`) and creates
    /// the tables in its default schema if they are not there, or checks their version.
    pub async fn connect(url: &str) -> StoreResult<Self> {
        Self::connect_in_schema(url, None).await
    }

    /// Like [`PostgresStore::connect`], with the tables in the schema `schema` (created if
    /// missing): lowercase letters, digits and `_`.
    pub async fn connect_in_schema(url: &str, schema: Option<&str>) -> StoreResult<Self> {
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| StoreError::Backend(format!("invalid PostgreSQL URL: {e}")))?;
        if let Some(schema) = schema {
            schema::check_schema_name(schema)?;
            config.options(format!("-c search_path={schema}"));
        }
        let pool = pool_of(config.clone(), POOL_SIZE)?;
        let mut lease_config = config.clone();
        let options = [config.get_options(), Some("-c synchronous_commit=off")];
        lease_config.options(options.into_iter().flatten().collect::<Vec<_>>().join(" "));
        let leases = pool_of(lease_config, LEASE_POOL_SIZE)?;
        let mut client = pool.get().await.map_err(|e| {
            StoreError::Backend(format!(
                "cannot connect to PostgreSQL at {}: {}",
                server_of(&config),
                StoreError::from(e)
                    .to_string()
                    .trim_start_matches("storage failure: ")
                    .trim_start_matches("PostgreSQL: ")
            ))
        })?;
        let migration = schema::migrate(&mut client, schema).await?;
        let current: String = client
            .query_one("SELECT current_schema()", &[])
            .await?
            .try_get(0)?;
        let channel = session::channel_name(&current);
        let nonce = store_nonce();
        let session = session::Session::start(config, channel, nonce.clone()).await?;
        Ok(PostgresStore {
            activity_results: Batcher::start(pool.clone(), ActivityResults),
            plain_turns: Batcher::start(pool.clone(), PlainTurns),
            pool,
            leases,
            lock_counter: AtomicU64::new(0),
            nonce,
            order: KeyedQueues::default(),
            session,
            migration,
        })
    }

    /// A lock token no other holder has: this handle's prefix, the owner's name and a count.
    /// One lock call's items share it (each item is named by its key as well). The first
    /// registers this handle as a live host.
    async fn new_lock_token(&self, owner: &str) -> String {
        self.session.register().await;
        let n = self.lock_counter.fetch_add(1, Ordering::Relaxed);
        format!("{}/{owner}/{n}", self.nonce)
    }

    /// Runs `f` in a transaction, committed if it succeeds and rolled back if not; a commit
    /// is announced to the other hosts (work may be ready).
    async fn write<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.transaction(&self.pool, true, f).await
    }

    /// Like [`PostgresStore::write_quiet`], for a transaction that only takes or renews
    /// leases, on a [`PostgresStore::lease`] connection.
    async fn write_lease<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.transaction(&self.leases, false, f).await
    }

    /// Like [`PostgresStore::write`], for a transaction that makes no work ready (dropped
    /// messages, purges; locks and renewals take [`PostgresStore::write_lease`]): nobody is
    /// notified.
    async fn write_quiet<T>(
        &self,
        f: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.transaction(&self.pool, false, f).await
    }

    async fn transaction<T>(
        &self,
        pool: &Pool,
        notify: bool,
        f: impl AsyncFnOnce(&Transaction<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut client = pool.get().await?;
        let started = std::time::Instant::now();
        let tx = client.transaction().await?;
        match f(&tx).await {
            Ok(value) => {
                let committed = tx.commit().await;
                crate::metrics::store_commit("postgres", 1, committed.is_ok(), started.elapsed());
                committed?;
                if notify {
                    self.session.announce();
                }
                Ok(value)
            }
            Err(e) => {
                // The request's own error is the answer; a failed rollback leaves nothing
                // either (the server rolls back when the connection goes).
                let _ = tx.rollback().await;
                Err(e)
            }
        }
    }

    /// A pooled connection for reads (each statement sees what was committed when it began).
    pub(in crate::store) async fn read(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// A pooled connection for lease writes (taking and renewing leases), whose commits do
    /// not wait for the WAL flush (`synchronous_commit=off`), as SQLite's lease writes are not
    /// synced: a server crash may lose the last of them, which is as if the lease had never
    /// been taken (the holder's commit then finds its token gone: `LeaseLost`). It cannot
    /// lose one that a later synchronous commit depends on: the WAL is flushed in order, so
    /// that commit's flush carries every record before it.
    pub(in crate::store) async fn lease(&self) -> StoreResult<deadpool_postgres::Object> {
        Ok(self.leases.get().await?)
    }
}

/// A connection pool of at most `size` connections to `config`.
fn pool_of(config: tokio_postgres::Config, size: usize) -> StoreResult<Pool> {
    let manager = Manager::from_config(
        config,
        NoTls,
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(size)
        .build()
        .map_err(|e| StoreError::Backend(format!("PostgreSQL connection pool: {e}")))
}

/// Where `config` connects, for messages: hosts and ports, never the password.
fn server_of(config: &tokio_postgres::Config) -> String {
    use tokio_postgres::config::Host;
    let hosts = config.get_hosts().iter().map(|host| match host {
        Host::Tcp(name) => name.clone(),
        Host::Unix(path) => path.display().to_string(),
    });
    let ports = config.get_ports();
    let servers: Vec<String> = hosts
        .enumerate()
        .map(|(i, host)| match ports.get(i).or(ports.first()) {
            Some(port) => format!("{host}:{port}"),
            None => host,
        })
        .collect();
    servers.join(", ")
}

/// The order key of an instance's writes.
fn instance_key(instance_id: &str) -> String {
    format!("i/{instance_id}")
}

#[async_trait::async_trait]
impl Store for PostgresStore {
    async fn put_component(
        &self,
        digest: &str,
        bytes: &[u8],
        catalogue: &Catalogue,
        now: Timestamp,
        labels: Labels<'_>,
    ) -> StoreResult<()> {
        let catalogue = serde_json::to_string(catalogue)?;
        let Labels { version, app } = labels;
        self.write(async |tx| {
            tx.execute_prepared(
                "INSERT INTO components (digest, bytes, catalogue, deployed_at, deploy_seq, \
                 version, app) VALUES ($1, $2, $3, $4, nextval('component_deploys'), $5, $6) \
                 ON CONFLICT (digest) DO UPDATE \
                 SET deployed_at = EXCLUDED.deployed_at, deploy_seq = EXCLUDED.deploy_seq, \
                 retired_at = NULL, version = COALESCE(EXCLUDED.version, components.version), \
                 app = COALESCE(EXCLUDED.app, components.app)",
                &[&digest, &bytes, &catalogue, &(now as i64), &version, &app],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn component_bytes(&self, digest: &str) -> StoreResult<Option<Vec<u8>>> {
        let client = self.read().await?;
        let row = client
            .query_opt_prepared("SELECT bytes FROM components WHERE digest = $1", &[&digest])
            .await?;
        Ok(row.map(|r| r.try_get(0)).transpose()?)
    }

    async fn components(&self) -> StoreResult<Vec<ComponentRecord>> {
        let client = self.read().await?;
        let rows = client
            .query_prepared(
                "SELECT digest, catalogue, deployed_at, retired_at, version, app FROM components \
                 ORDER BY deploy_seq DESC",
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let catalogue: String = r.try_get(1)?;
                Ok(ComponentRecord {
                    digest: r.try_get(0)?,
                    catalogue: serde_json::from_str(&catalogue)?,
                    deployed_at: r.try_get::<_, i64>(2)? as Timestamp,
                    retired_at: r.try_get::<_, Option<i64>>(3)?.map(|t| t as Timestamp),
                    version: r.try_get(4)?,
                    app: r.try_get(5)?,
                })
            })
            .collect()
    }

    async fn pinned_counts(&self) -> StoreResult<Vec<(String, u64)>> {
        let sql = format!(
            "SELECT digest, COUNT(*) FROM instances WHERE status NOT IN ({TERMINAL_STATUSES}) \
             GROUP BY digest ORDER BY digest"
        );
        let rows = self.read().await?.query_prepared(&sql, &[]).await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get::<_, i64>(1)? as u64)))
            .collect()
    }

    async fn backlog(&self, now: Timestamp) -> StoreResult<Backlog> {
        let rows = self
            .read()
            .await?
            .query_prepared(&backlog_sql("$1"), &[&(now as i64)])
            .await?;
        let rows = rows
            .iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?)))
            .collect::<StoreResult<Vec<_>>>()?;
        backlog_from_rows(rows)
    }

    async fn retire_component(&self, digest: &str, now: Timestamp) -> StoreResult<bool> {
        self.write(async |tx| {
            let changed = tx
                .execute_prepared(
                    "UPDATE components SET retired_at = COALESCE(retired_at, $2) \
                     WHERE digest = $1",
                    &[&digest, &(now as i64)],
                )
                .await?;
            Ok(changed > 0)
        })
        .await
    }

    async fn collect_components(
        &self,
        retired_by: Timestamp,
        dry_run: bool,
    ) -> StoreResult<Vec<String>> {
        let sql = collect_components_sql("$1", dry_run);
        self.write(async |tx| {
            let rows = tx.query_prepared(&sql, &[&(retired_by as i64)]).await?;
            rows.iter()
                .map(|r| Ok(r.try_get(0)?))
                .collect::<StoreResult<Vec<String>>>()
        })
        .await
    }

    /// Claims nothing: the loop locks the first turn.
    async fn create_instance_claiming(
        &self,
        instance: NewInstance,
        _claim: Option<Claim<'_>>,
    ) -> StoreResult<Option<OrchestrationWorkItem>> {
        let key = instance_key(&instance.instance_id);
        let write = self.write(async |tx| insert_instance(tx, &instance).await);
        self.order.in_order(key, write).await?;
        Ok(None)
    }

    async fn send_message(
        &self,
        instance_id: &str,
        event: EventKind,
        visible_at: Timestamp,
        _now: Timestamp,
    ) -> StoreResult<()> {
        let write = self.write(async |tx| {
            requires_running(tx, instance_id).await?;
            insert_message(tx, instance_id, None, None, &event, visible_at).await
        });
        self.order.in_order(instance_key(instance_id), write).await
    }

    async fn lock_orchestrations(
        &self,
        owner: &str,
        max: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<OrchestrationWorkItem>> {
        let token = self.new_lock_token(owner).await;
        let now = now as i64;
        // One statement (its own transaction): lock a batch, and read each locked instance's
        // visible messages, in order, a row per message. The instances are found from the
        // visible messages, oldest first, each looked up by its key (`OFFSET 0` keeps the
        // lookup a nested loop): the cost follows the ready work, not every instance ever
        // run. `= ANY(ARRAY(..))` updates the rows locked by their keys.
        let sql = format!(
            "WITH locked AS ( \
                 UPDATE instances SET lock_token = $1, lock_expires = $2 \
                 WHERE instance_id = ANY(ARRAY( \
                     SELECT i.instance_id \
                     FROM (SELECT instance_id FROM inbox WHERE visible_at <= $3 \
                           GROUP BY instance_id ORDER BY min(visible_at)) ready \
                     CROSS JOIN LATERAL ( \
                         SELECT i.instance_id FROM instances i \
                         WHERE i.instance_id = ready.instance_id AND i.lock_expires <= $3 \
                         AND EXISTS ( \
                             SELECT 1 FROM inbox m WHERE m.instance_id = i.instance_id \
                             AND m.visible_at <= $3 AND (i.status <> 'Suspended' \
                                 OR m.kind IN ('ExecutionResumed', 'ExecutionTerminated')) \
                             AND (i.affinity IS NULL OR i.affinity = $5 \
                                 OR m.visible_at <= $6)) \
                         OFFSET 0 FOR UPDATE SKIP LOCKED) i \
                     LIMIT $4)) \
                 RETURNING {INSTANCE_COLUMNS}, history_len) \
             SELECT locked.*, m.id, m.execution_id, m.event FROM locked \
             LEFT JOIN LATERAL ( \
                 SELECT id, execution_id, event, visible_at FROM inbox \
                 WHERE inbox.instance_id = locked.instance_id AND inbox.visible_at <= $3 \
                 ORDER BY visible_at, id LIMIT 1000) m ON true \
             ORDER BY locked.instance_id, m.visible_at, m.id"
        );
        let offered_to_others_until = now - AFFINITY_MS;
        let rows = self
            .lease()
            .await?
            .query_prepared(
                &sql,
                &[
                    &token,
                    &(now + lease_ms as i64),
                    &now,
                    &(max as i64),
                    &self.nonce,
                    &offered_to_others_until,
                ],
            )
            .await?;
        let mut items: Vec<OrchestrationWorkItem> = Vec::new();
        for row in &rows {
            let instance_id: &str = row.try_get(0)?;
            if items
                .last()
                .is_none_or(|item| item.instance.instance_id != instance_id)
            {
                items.push(OrchestrationWorkItem {
                    instance: instance_from_row(row)?,
                    lock_token: token.clone(),
                    history_len: row.try_get::<_, i64>(13)? as u32,
                    messages: Vec::new(),
                });
            }
            let Some(id) = row.try_get::<_, Option<i64>>(14)? else {
                continue;
            };
            let event: &str = row.try_get(16)?;
            let item = items.last_mut().expect("pushed above");
            item.messages.push(InboxMessage {
                id,
                execution_id: row.try_get(15)?,
                event: serde_json::from_str(event)?,
            });
        }
        Ok(items)
    }

    async fn history_chunks(&self, instance_id: &str) -> StoreResult<HistoryChunks> {
        use futures_util::TryStreamExt;
        let client = self.read().await?;
        let statement = client
            .prepare_cached("SELECT event FROM history WHERE instance_id = $1 ORDER BY position")
            .await?;
        let (mut chunks, rx) = ChunkSender::new();
        let instance_id = instance_id.to_owned();
        // The rows are read on a task of their own, so the replay runs beside the read.
        tokio::spawn(async move {
            let read = async {
                let params: [&(dyn ToSql + Sync); 1] = [&instance_id];
                let rows = client.query_raw(&statement, params).await?;
                let mut rows = std::pin::pin!(rows);
                while let Some(row) = rows.try_next().await? {
                    if !chunks.push(serde_json::from_str(row.try_get::<_, &str>(0)?)?) {
                        break; // the replay stopped listening
                    }
                }
                StoreResult::Ok(())
            };
            let read = read.await;
            chunks.finish(read);
        });
        Ok(rx)
    }

    /// Claims nothing: the turns are written in batches ([`turns`]), and the loops lock
    /// what they queued.
    async fn complete_orchestration_claiming(
        &self,
        commit: OrchestrationCommit,
        _claim: Option<Claim<'_>>,
    ) -> StoreResult<Vec<ActivityWorkItem>> {
        if is_plain(&commit) {
            self.plain_turns.write(commit).await?;
            self.session.announce();
            return Ok(Vec::new());
        }
        self.write(async |tx| write_turn(tx, &commit).await).await?;
        Ok(Vec::new())
    }

    async fn drop_messages(
        &self,
        instance_id: &str,
        lock_token: &str,
        consumed: &[i64],
    ) -> StoreResult<()> {
        self.write_quiet(async |tx| {
            let released = tx
                .execute_prepared(
                    "UPDATE instances SET lock_token = NULL, lock_expires = 0 \
                     WHERE instance_id = $1 AND lock_token = $2",
                    &[&instance_id, &lock_token],
                )
                .await?;
            if released == 0 {
                return Err(StoreError::LeaseLost);
            }
            tx.execute_prepared("DELETE FROM inbox WHERE id = ANY($1)", &[&consumed])
                .await?;
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
        self.write(async |tx| {
            tx.execute_prepared(
                "UPDATE instances SET lock_token = NULL, lock_expires = $3 \
                 WHERE instance_id = $1 AND lock_token = $2",
                &[&instance_id, &lock_token, &(retry_at as i64)],
            )
            .await?;
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
        let token = self.new_lock_token(owner).await;
        let now = now as i64;
        // One statement, its own transaction.
        let rows = self
            .lease()
            .await?
            .query_prepared(
                "UPDATE activities SET lock_token = $1, lock_expires = $2, \
                 attempt = attempt + 1 \
                 WHERE id IN (SELECT id FROM activities \
                              WHERE visible_at <= $3 AND lock_expires <= $3 \
                              ORDER BY id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                 RETURNING id, instance_id, execution_id, task_id, name, input, digest, \
                 attempt, trace, \
                 (SELECT app FROM components WHERE components.digest = activities.digest)",
                &[&token, &(now + lease_ms as i64), &now, &(max as i64)],
            )
            .await?;
        let mut items = rows
            .iter()
            .map(|r| {
                Ok(ActivityWorkItem {
                    id: r.try_get(0)?,
                    lock_token: token.clone(),
                    instance_id: r.try_get(1)?,
                    execution_id: r.try_get(2)?,
                    task_id: r.try_get::<_, i64>(3)? as u32,
                    name: r.try_get(4)?,
                    input: r.try_get(5)?,
                    digest: r.try_get(6)?,
                    attempt: r.try_get::<_, i64>(7)? as u32,
                    trace: r.try_get(8)?,
                    app: r.try_get(9)?,
                })
            })
            .collect::<StoreResult<Vec<_>>>()?;
        items.sort_by_key(|item| item.id);
        Ok(items)
    }

    /// Claims nothing: the results are written in batches ([`activities`]), and the loop
    /// locks the turns they wake.
    async fn complete_activity_claiming(
        &self,
        task: &ActivityWorkItem,
        result: EventKind,
        logs: Vec<LogLine>,
        now: Timestamp,
        _claim: Option<Claim<'_>>,
    ) -> StoreResult<Option<OrchestrationWorkItem>> {
        let result = ActivityResult {
            id: task.id,
            lock_token: task.lock_token.clone(),
            event: result,
            logs,
            now,
        };
        self.activity_results.write(result).await?;
        self.session.announce();
        Ok(None)
    }

    async fn renew_activity_lease(
        &self,
        task: &ActivityWorkItem,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.write_lease(async |tx| {
            let renewed = tx
                .execute_prepared(
                    "UPDATE activities SET lock_expires = $3 WHERE id = $1 AND lock_token = $2",
                    &[&task.id, &task.lock_token, &((now + lease_ms) as i64)],
                )
                .await?;
            if renewed == 0 {
                return Err(StoreError::LeaseLost);
            }
            Ok(())
        })
        .await
    }

    async fn release_dead_hosts(&self) -> StoreResult<usize> {
        session::release_dead_hosts(self, &self.nonce).await
    }

    fn external_commits(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        Some(self.session.commits())
    }

    fn migration(&self) -> Migration {
        self.migration
    }

    async fn next_wakeup(&self, now: Timestamp) -> StoreResult<Option<Timestamp>> {
        let client = self.read().await?;
        // LEAST ignores NULLs: the earliest of whichever kinds have one. Locked instances and
        // entities are found from their messages (`OFFSET 0` keeps each a lookup by key), so
        // the cost follows the pending messages, not every instance and entity there is.
        let row = client
            .query_one_prepared(
                "SELECT LEAST( \
                     (SELECT MIN(visible_at) FROM inbox WHERE visible_at > $1), \
                     (SELECT MIN(GREATEST(visible_at, lock_expires)) FROM activities \
                      WHERE visible_at > $1 OR lock_expires > $1), \
                     (SELECT MIN(i.lock_expires) \
                      FROM (SELECT DISTINCT instance_id FROM inbox) m \
                      CROSS JOIN LATERAL (SELECT lock_expires FROM instances i \
                          WHERE i.instance_id = m.instance_id AND i.lock_expires > $1 \
                          OFFSET 0) i), \
                     (SELECT MIN(m.visible_at + $2) FROM inbox m \
                      JOIN instances i ON i.instance_id = m.instance_id \
                      WHERE i.affinity <> $3 AND m.visible_at <= $1 \
                      AND m.visible_at + $2 > $1), \
                     (SELECT MIN(visible_at) FROM entity_inbox WHERE visible_at > $1), \
                     (SELECT MIN(e.lock_expires) \
                      FROM (SELECT DISTINCT name, key FROM entity_inbox) m \
                      CROSS JOIN LATERAL (SELECT lock_expires FROM entities e \
                          WHERE e.name = m.name AND e.key = m.key AND e.lock_expires > $1 \
                          OFFSET 0) e))",
                &[&(now as i64), &AFFINITY_MS, &self.nonce],
            )
            .await?;
        Ok(row.try_get::<_, Option<i64>>(0)?.map(|t| t as Timestamp))
    }

    async fn work_visible(&self, now: Timestamp) -> StoreResult<WorkVisible> {
        // The lock queries' conditions, less the ones that can only narrow them (suspension,
        // affinity, critical sections): one query where the loops would make three.
        let row = self
            .read()
            .await?
            .query_one_prepared(
                "SELECT \
                     EXISTS (SELECT 1 FROM inbox m JOIN instances i \
                             ON i.instance_id = m.instance_id \
                             WHERE m.visible_at <= $1 AND i.lock_expires <= $1), \
                     EXISTS (SELECT 1 FROM activities \
                             WHERE visible_at <= $1 AND lock_expires <= $1), \
                     EXISTS (SELECT 1 FROM entity_inbox m JOIN entities e \
                             ON e.name = m.name AND e.key = m.key \
                             WHERE m.visible_at <= $1 AND e.lock_expires <= $1)",
                &[&(now as i64)],
            )
            .await?;
        Ok(WorkVisible {
            orchestrations: row.try_get(0)?,
            activities: row.try_get(1)?,
            entities: row.try_get(2)?,
        })
    }

    async fn instance(&self, instance_id: &str) -> StoreResult<Option<InstanceRecord>> {
        load_instance(&*self.read().await?, instance_id, "").await
    }

    async fn list_instances(&self, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>> {
        let (filter_sql, args) = instance_filter_sql(filter, &pg_mark);
        let mut sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE {filter_sql}{}",
            instance_order_sql(filter)
        );
        if let Some(limit) = filter.limit {
            sql.push_str(&format!(" LIMIT {limit}"));
        }
        let args: Vec<_> = args.into_iter().map(pg_value).collect();
        let client = self.read().await?;
        let rows = client.query_prepared(&sql, &borrowed(&args)).await?;
        rows.iter().map(instance_from_row).collect()
    }

    async fn logs(&self, instance_id: &str) -> StoreResult<Vec<LogLine>> {
        let client = self.read().await?;
        let rows = client
            .query_prepared(
                "SELECT timestamp, level, message FROM logs WHERE instance_id = $1 ORDER BY id",
                &[&instance_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LogLine {
                    timestamp: r.try_get::<_, i64>(0)? as Timestamp,
                    level: r.try_get(1)?,
                    message: r.try_get(2)?,
                })
            })
            .collect()
    }

    async fn children(&self, instance_id: &str) -> StoreResult<Vec<InstanceRecord>> {
        let sql = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE parent_id = $1 \
             ORDER BY created_at, instance_id"
        );
        let client = self.read().await?;
        let rows = client.query_prepared(&sql, &[&instance_id]).await?;
        rows.iter().map(instance_from_row).collect()
    }

    async fn purge_instance(&self, instance_id: &str) -> StoreResult<()> {
        self.write_quiet(async |tx| {
            let instance = load_instance(tx, instance_id, "FOR UPDATE").await?;
            require_finished(instance_id, instance)?;
            delete_instances(tx, &[instance_id.to_owned()]).await
        })
        .await
    }

    async fn purge_batch(&self, filter: &InstanceFilter, batch: usize) -> StoreResult<usize> {
        let (filter_sql, mut args) = instance_filter_sql(filter, &pg_mark);
        args.push(SqlArg::BigInt(batch as i64));
        let sql = format!(
            "SELECT instance_id FROM instances WHERE {filter_sql} \
             AND status IN ('Completed', 'Failed', 'Canceled', 'Terminated') \
             LIMIT ${} FOR UPDATE SKIP LOCKED",
            args.len()
        );
        let args: Vec<_> = args.into_iter().map(pg_value).collect();
        self.write_quiet(async |tx| {
            let ids = tx
                .query_prepared(&sql, &borrowed(&args))
                .await?
                .iter()
                .map(|r| r.try_get(0))
                .collect::<Result<Vec<String>, _>>()?;
            delete_instances(tx, &ids).await?;
            Ok(ids.len())
        })
        .await
    }

    async fn rewind(&self, rewind: RewindCommit) -> StoreResult<()> {
        self.write(async |tx| write_rewind(tx, &rewind).await).await
    }

    async fn upgrade(&self, upgrade: UpgradeCommit) -> StoreResult<()> {
        self.write(async |tx| write_upgrade(tx, &upgrade).await)
            .await
    }

    async fn send_entity_message(&self, message: EntityMessage) -> StoreResult<()> {
        let EntityId { name, key } = &message.entity;
        let key = format!("e/{}/{name}/{key}", name.len());
        let write = self.write(async |tx| entities::insert_entity_message(tx, &message).await);
        self.order.in_order(key, write).await
    }

    async fn lock_entities(
        &self,
        owner: &str,
        max: usize,
        batch: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<EntityWorkItem>> {
        let token = self.new_lock_token(owner).await;
        self.write_lease(async |tx| {
            entities::lock_entities(tx, &token, max, batch, lease_ms, now).await
        })
        .await
    }

    async fn complete_entity(&self, commit: EntityCommit) -> StoreResult<()> {
        self.write(async |tx| entities::write_batch(tx, &commit).await)
            .await
    }

    async fn abandon_entity(
        &self,
        entity: &EntityId,
        lock_token: &str,
        retry_at: Timestamp,
    ) -> StoreResult<()> {
        self.write(async |tx| {
            tx.execute_prepared(
                "UPDATE entities SET lock_token = NULL, lock_expires = $4 \
                 WHERE name = $1 AND key = $2 AND lock_token = $3",
                &[&entity.name, &entity.key, &lock_token, &(retry_at as i64)],
            )
            .await?;
            Ok(())
        })
        .await
    }

    async fn entity(&self, entity: &EntityId) -> StoreResult<Option<EntityRecord>> {
        let sql =
            format!("SELECT {ENTITY_COLUMNS} FROM entities e WHERE e.name = $1 AND e.key = $2");
        let client = self.read().await?;
        let row = client
            .query_opt_prepared(&sql, &[&entity.name, &entity.key])
            .await?;
        Ok(row.as_ref().map(entity_record).transpose()?)
    }

    async fn list_entities(&self, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>> {
        let (sql, args) = entity_list_sql(filter, &pg_mark);
        let args: Vec<_> = args.into_iter().map(pg_value).collect();
        let client = self.read().await?;
        let rows = client.query_prepared(&sql, &borrowed(&args)).await?;
        Ok(rows.iter().map(entity_record).collect::<Result<_, _>>()?)
    }

    async fn export(
        &self,
        sink: tokio::sync::mpsc::Sender<super::transfer::Record>,
    ) -> StoreResult<super::transfer::Counts> {
        transfer::export(&mut self.read().await?, &sink).await
    }

    async fn import(
        &self,
        mut source: tokio::sync::mpsc::Receiver<super::transfer::ImportItem>,
    ) -> StoreResult<super::transfer::Counts> {
        self.write(async |tx| transfer::import(tx, &mut source).await)
            .await
    }

    async fn delete_empty_entities(&self, now: Timestamp) -> StoreResult<usize> {
        self.write_quiet(async |tx| {
            let deleted = tx
                .execute_prepared(
                    "DELETE FROM entities e WHERE state IS NULL AND locked_by IS NULL \
                     AND lock_expires <= $1 \
                     AND NOT EXISTS (SELECT 1 FROM entity_inbox m \
                                     WHERE m.name = e.name AND m.key = e.key)",
                    &[&(now as i64)],
                )
                .await?;
            Ok(deleted as usize)
        })
        .await
    }
}
