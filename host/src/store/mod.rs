//! The storage contract the engine owns, and its backends.
//!
//! Work is shaped as work items (`docs/storage-and-dispatch.md`): a dispatcher *locks*
//! an orchestration instance together with its visible inbox messages (or an
//! activity task) under a lease, runs it, then *completes* it in one
//! transaction that also checks the lease is still held. A lease that has
//! expired, or whose host is gone ([`Store::release_dead_hosts`]), lets another host take
//! the work over; a completion whose lease was
//! lost fails with [`StoreError::LeaseLost`] and changes nothing, so two hosts
//! never both write a turn.
//!
//! A backend implements storage only: every decision about what a turn, a
//! batch or a rewind writes is made before it is called ([`crate::plan`]).
//! Backends: [`sqlite`] (embedded default) and [`postgres`] (many hosts on one
//! database). Every method documents its atomicity and which errors mean what; a
//! backend must honour them exactly.

pub mod postgres;
mod rows;
pub mod sqlite;
#[cfg(test)]
mod tests;
pub mod transfer;

use crate::types::{
    EntityId, EventKind, Failure, HistoryEvent, Json, ParentInstance, RuntimeStatus, Timestamp,
};
use serde::{Deserialize, Serialize};

pub use postgres::{PostgresStore, ScratchDatabase, client as postgres_client};
pub use sqlite::{Durability, SqliteStore};

/// Whether `db` names a PostgreSQL database (`postgres://...` or `postgresql://...`) rather
/// than a SQLite file.
pub fn is_postgres_url(db: &str) -> bool {
    db.starts_with("postgres://") || db.starts_with("postgresql://")
}

/// Opens the database `db` names, migrating its schema if it is older: a PostgreSQL URL, or
/// the path of a SQLite file (created if missing) written with `durability`. What the CLI's
/// `--db` and [`crate::host::Host::connect`] take.
pub async fn open(db: &str, durability: Durability) -> StoreResult<std::sync::Arc<dyn Store>> {
    if is_postgres_url(db) {
        Ok(std::sync::Arc::new(PostgresStore::connect(db).await?))
    } else {
        Ok(std::sync::Arc::new(SqliteStore::open(
            std::path::Path::new(db),
            durability,
        )?))
    }
}

/// Why a store operation failed; each [`Store`] method says which of these it returns.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An instance with this id exists and has not finished.
    #[error("an instance with id `{0}` already exists and is not finished")]
    InstanceExists(String),
    /// No instance has this id.
    #[error("no instance with id `{0}`")]
    InstanceNotFound(String),
    /// The operation needs a running instance.
    #[error("instance `{0}` has already finished ({1})")]
    InstanceFinished(String, RuntimeStatus),
    /// The operation needs a finished instance (purge, restart in place).
    #[error("instance `{0}` has not finished ({1}); terminate it first")]
    InstanceNotFinished(String, RuntimeStatus),
    /// Rewind needs a failed instance.
    #[error("instance `{0}` did not fail ({1}); only failed instances can be rewound")]
    InstanceNotFailed(String, RuntimeStatus),
    /// The lease on the work item expired and was possibly taken by another
    /// host: the caller must drop its results (they were not written).
    #[error("the lease on this work item was lost")]
    LeaseLost,
    /// The instance changed between reading it and writing a change planned
    /// from what was read; nothing was written, and planning again may succeed.
    #[error("instance `{0}` changed while the request was being prepared; try again")]
    Conflict(String),
    /// The backend failed; retrying later may help.
    #[error("storage failure: {0}")]
    Backend(String),
    /// Stored data could not be decoded: a bug or a corrupt store.
    #[error("corrupt stored data: {0}")]
    Corrupt(String),
    /// An import ([`Store::import`]) was refused: the target is not empty, or the records
    /// ended early or do not add up. Nothing was written.
    #[error("import refused: {0}")]
    ImportRefused(String),
}

impl From<serde_json::Error> for StoreError {
    fn from(e: serde_json::Error) -> Self {
        StoreError::Corrupt(e.to_string())
    }
}

/// What a store operation returns.
pub type StoreResult<T> = Result<T, StoreError>;

/// Which kinds of work [`Store::work_visible`] found ready to lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkVisible {
    /// An instance with a visible message that no lease holds.
    pub orchestrations: bool,
    /// A visible activity task that no lease holds.
    pub activities: bool,
    /// An entity with a visible message that no lease holds.
    pub entities: bool,
}

/// What opening a database did to its schema: migrated it from one version to another, or
/// found it current (`from == to`). Version 0 is a new, empty database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The version the database had.
    pub from: i64,
    /// The version it has now.
    pub to: i64,
}

/// Refuses a database whose schema version (`found`) is newer than the `known` one this build
/// reads: a newer durable migrated it, and this one would misread it. `elsewhere` says what
/// else the user can open.
fn check_schema_version(found: i64, known: i64, elsewhere: &str) -> StoreResult<()> {
    if found > known {
        return Err(StoreError::Corrupt(format!(
            "this database has schema version {found}, newer than this build of durable knows \
             (version {known}): a newer durable has migrated it; run that one, or use {elsewhere}"
        )));
    }
    Ok(())
}

/// What a component offers, as its `catalogue` export says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Catalogue {
    /// The names of the orchestrators it offers.
    pub orchestrators: Vec<String>,
    /// The names of the activities it offers.
    pub activities: Vec<String>,
    /// The names of the entities it offers.
    pub entities: Vec<String>,
}

/// A stored component: what it offers and when it was last deployed (not its bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentRecord {
    /// `sha256:<hex>` of the component's bytes.
    pub digest: String,
    /// What it offers.
    pub catalogue: Catalogue,
    /// When it was last stored, ms since the epoch; storing it again moves it.
    pub deployed_at: Timestamp,
    /// When it was retired ([`Store::retire_component`]), ms since the epoch: it takes no new
    /// instances and no calls from other components; storing it again un-retires it.
    pub retired_at: Option<Timestamp>,
    /// The version label it was deployed with (`durable deploy --version`): instances
    /// started on it run as that version, and a start can ask for it.
    pub version: Option<String>,
    /// The app it belongs to (`durable deploy --app`): its activities run with the grants the
    /// operator gives that app ([`crate::grants`]).
    pub app: Option<String>,
}

/// What a deployment is labelled with ([`Store::put_component`]); a label left out keeps the
/// one the same component had.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Labels<'a> {
    /// The version label ([`ComponentRecord::version`]).
    pub version: Option<&'a str>,
    /// The app ([`ComponentRecord::app`]).
    pub app: Option<&'a str>,
}

/// A new orchestration instance.
#[derive(Debug, Clone)]
pub struct NewInstance {
    /// The instance's id; a finished instance with this id is replaced.
    pub instance_id: String,
    /// The orchestrator to run.
    pub name: String,
    /// The id of its first execution.
    pub execution_id: String,
    /// The component digest the instance is pinned to.
    pub digest: String,
    /// The orchestrator's input, JSON text.
    pub input: Json,
    /// The parent, for a sub-orchestration.
    pub parent: Option<ParentInstance>,
    /// The creation time, ms since the epoch; its `ExecutionStarted` is visible from then.
    pub created_at: Timestamp,
    /// The version it runs as (its `ExecutionStarted` records it).
    pub version: Option<String>,
    /// The caller's W3C `traceparent` (its `ExecutionStarted` records it).
    pub trace: Option<String>,
}

/// An instance's row, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstanceRecord {
    /// The instance's id.
    pub instance_id: String,
    /// The orchestrator's name.
    pub name: String,
    /// The current execution's id (continue-as-new changes it).
    pub execution_id: String,
    /// The component digest the instance is pinned to.
    pub digest: String,
    /// Its lifecycle state.
    pub status: RuntimeStatus,
    /// The input it was created with, JSON text (continue-as-new does not change it).
    pub input: Json,
    /// Its output, JSON text: the result once completed, the reason (a JSON string) once
    /// terminated.
    pub output: Option<Json>,
    /// Its failure, once failed.
    pub failure: Option<Failure>,
    /// The custom status the orchestrator last set, JSON text.
    pub custom_status: Option<Json>,
    /// When it was created, ms since the epoch.
    pub created_at: Timestamp,
    /// When it was created or last committed a turn or a rewind, ms since the epoch.
    pub updated_at: Timestamp,
    /// When it finished, ms since the epoch; `None` while it has not.
    pub completed_at: Option<Timestamp>,
    /// Set for sub-orchestrations.
    pub parent: Option<ParentInstance>,
}

/// Work waiting in one queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Queue {
    /// How many items are ready.
    pub count: u64,
    /// Since when the oldest ready item has been ready, ms since the epoch.
    pub oldest: Option<Timestamp>,
}

/// What the database holds and what waits in it, at one moment ([`Store::backlog`]), for
/// the metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Instances by status (statuses with none left out).
    pub instances: Vec<(RuntimeStatus, u64)>,
    /// Messages visible to orchestrations and not consumed (suspended instances left out).
    pub messages: Queue,
    /// Of those, the timers that fired (their oldest is the most overdue).
    pub timers: Queue,
    /// Activity tasks ready and not locked.
    pub activities: Queue,
    /// Activity tasks locked by a host.
    pub running_activities: u64,
    /// Entity operations ready.
    pub entity_messages: Queue,
}

/// Filters for [`Store::list_instances`]; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct InstanceFilter {
    /// Only instances in one of these statuses.
    pub statuses: Vec<RuntimeStatus>,
    /// Only instances created at or after this time, ms since the epoch.
    pub created_from: Option<Timestamp>,
    /// Only instances created at or before this time, ms since the epoch.
    pub created_to: Option<Timestamp>,
    /// Only instances whose id starts with this.
    pub id_prefix: Option<String>,
    /// Only instances of the orchestrator with this name.
    pub name: Option<String>,
    /// Only instances running on the component with this digest.
    pub digest: Option<String>,
    /// At most this many instances.
    pub limit: Option<usize>,
    /// Keyset cursor for paging: only instances after this one in list
    /// order (`created_at`, then `instance_id`; reversed with `newest_first`). Unlike an
    /// offset it stays correct while instances are created or purged between pages.
    pub after: Option<ListCursor>,
    /// List newest first (`created_at`, then `instance_id`, both descending) instead of
    /// oldest first.
    pub newest_first: bool,
}

/// A position in list order: the last instance of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    /// That instance's creation time, ms since the epoch.
    pub created_at: Timestamp,
    /// That instance's id.
    pub instance_id: String,
}

/// A message waiting in an instance's inbox.
#[derive(Debug, Clone)]
pub struct InboxMessage {
    /// The message's id in the store; a commit's `consumed` names it.
    pub id: i64,
    /// The execution it is meant for; `None` for "whichever is current".
    pub execution_id: Option<String>,
    /// The event it delivers.
    pub event: EventKind,
}

/// A locked orchestration instance with its visible messages.
#[derive(Debug, Clone)]
pub struct OrchestrationWorkItem {
    /// The instance, as it was when locked.
    pub instance: InstanceRecord,
    /// The token the lock is held with; the commit must carry it.
    pub lock_token: String,
    /// Length of the committed history of the current execution.
    pub history_len: u32,
    /// Its visible messages, in the order they became visible.
    pub messages: Vec<InboxMessage>,
}

/// A message for another instance's inbox (or this one's, for timers).
#[derive(Debug, Clone)]
pub struct OutboundMessage {
    /// The instance whose inbox it goes to.
    pub instance_id: String,
    /// The execution it is meant for; `None` for "whichever is current".
    pub execution_id: Option<String>,
    /// The event it delivers.
    pub event: EventKind,
    /// When it becomes visible (a timer: when it fires), ms since the epoch.
    pub visible_at: Timestamp,
    /// Timers carry their id so they can be cancelled.
    pub timer_id: Option<u32>,
}

/// An activity task to queue.
#[derive(Debug, Clone)]
pub struct NewActivity {
    /// The sequence id of its `TaskScheduled`; its result answers it.
    pub task_id: u32,
    /// The activity's name.
    pub name: String,
    /// The activity's input, JSON text.
    pub input: Json,
    /// The component that runs it (the dispatcher resolves it: the calling
    /// instance's own component, or another deployment offering the name).
    pub digest: String,
    /// When a worker may lock it, ms since the epoch.
    pub visible_at: Timestamp,
    /// The scheduling execution's trace (its caller's `traceparent`): the attempt is traced
    /// as a child of the execution's span.
    pub trace: Option<String>,
}

/// A guest log line, recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LogLine {
    /// The time of the step, batch or activity run that logged it, ms since the epoch.
    pub timestamp: Timestamp,
    /// `trace`, `debug`, `info` (also the guest's stdout), `warn` (also its stderr) or
    /// `error`.
    pub level: String,
    /// The text of the line.
    pub message: String,
}

/// Everything one orchestration turn writes, committed atomically.
#[derive(Debug, Clone)]
pub struct OrchestrationCommit {
    /// The instance the turn ran on.
    pub instance_id: String,
    /// The token of its lock; another one means `LeaseLost`.
    pub lock_token: String,
    /// The execution the turn ran; its activity tasks are queued for it.
    pub execution_id: String,
    /// Events to append to the current execution's history, in order.
    pub new_history: Vec<HistoryEvent>,
    /// Inbox messages consumed by this turn (deleted).
    pub consumed: Vec<i64>,
    /// The instance's status after the turn.
    pub status: RuntimeStatus,
    /// The instance's output after the turn, JSON text.
    pub output: Option<Json>,
    /// The instance's failure after the turn.
    pub failure: Option<Failure>,
    /// `Some` to change the custom status.
    pub custom_status: Option<Option<Json>>,
    /// Activity tasks to queue.
    pub activities: Vec<NewActivity>,
    /// Inbox messages to enqueue: this instance's own (timers, calls that failed at once,
    /// carried events), events raised on others (dropped when the target is unknown or
    /// finished) and the answer to a parent.
    pub messages: Vec<OutboundMessage>,
    /// Pending timer messages of this instance to delete.
    pub cancelled_timers: Vec<u32>,
    /// The guest's log lines from the turn.
    pub logs: Vec<LogLine>,
    /// Continue-as-new: history is cleared and the new execution started
    /// with this `ExecutionStarted` event.
    pub new_execution: Option<EventKind>,
    /// Sub-orchestrations to create. One whose id belongs to an unfinished
    /// instance is not created; its parent gets a `SubOrchestrationFailed`.
    pub new_instances: Vec<NewInstance>,
    /// Calls and signals to entities.
    pub entity_messages: Vec<EntityMessage>,
    /// The commit time, ms since the epoch: `updated_at`, and `completed_at` when `status`
    /// is terminal.
    pub now: Timestamp,
}

/// The orchestration waiting for an entity's answer to a call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityCaller {
    /// The calling instance's id.
    pub instance_id: String,
    /// The calling execution; an answer is dropped once the instance has moved on.
    pub execution_id: String,
    /// The caller's sequence id of the `EntityCalled` (or `EntityLockRequested`) the answer
    /// goes to.
    pub task_id: u32,
}

/// A message for an entity's inbox: a call (with its caller) or a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityMessage {
    /// The entity whose inbox it goes to (created, without state, if new).
    pub entity: EntityId,
    /// The operation's name, or the lock protocol's `$lock` / `$unlock`.
    pub operation: String,
    /// The operation's input, JSON text.
    pub input: Json,
    /// The orchestration to answer (a call, a lock request); `None` for a signal.
    pub caller: Option<EntityCaller>,
    /// The orchestration instance that sent it (its calls, signals and lock requests), if an
    /// orchestration did: an entity in a critical section takes only its holder's messages,
    /// signals included, so they run in the order the holder sent them.
    pub sender: Option<String>,
    /// Scheduled signals become visible later.
    pub visible_at: Timestamp,
}

/// A message waiting in an entity's inbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityInboxMessage {
    /// The message's id in the store; a commit's `consumed` names it.
    pub id: i64,
    /// The operation's name, or the lock protocol's `$lock` / `$unlock`.
    pub operation: String,
    /// The operation's input, JSON text.
    pub input: Json,
    /// The orchestration to answer; `None` for a signal.
    pub caller: Option<EntityCaller>,
}

/// A locked entity with its state and visible messages, oldest first.
#[derive(Debug, Clone)]
pub struct EntityWorkItem {
    /// The locked entity.
    pub entity: EntityId,
    /// Its state, JSON text; `None` when it has none.
    pub state: Option<Json>,
    /// The orchestration holding the entity in a critical section; while one does, only its
    /// messages are returned.
    pub locked_by: Option<String>,
    /// The token the lock is held with; the commit must carry it.
    pub lock_token: String,
    /// Its visible messages, oldest first (at most the `batch` asked for).
    pub messages: Vec<EntityInboxMessage>,
}

/// Everything one entity batch writes, committed atomically.
#[derive(Debug, Clone)]
pub struct EntityCommit {
    /// The entity the batch ran on.
    pub entity: EntityId,
    /// The token of its lock; another one means `LeaseLost`.
    pub lock_token: String,
    /// The state after the batch; `None`: the entity has no state (deleted).
    pub state: Option<Json>,
    /// The critical section holding the entity after the batch.
    pub locked_by: Option<String>,
    /// Inbox messages processed by the batch (deleted).
    pub consumed: Vec<i64>,
    /// Answers to callers: `EntityResponded` messages for orchestration
    /// inboxes (dropped when the caller has finished).
    pub responses: Vec<OutboundMessage>,
    /// Signals to entities sent by the batch's operations.
    pub signals: Vec<EntityMessage>,
    /// Orchestrations started by the batch's operations.
    pub new_instances: Vec<NewInstance>,
    /// The commit time, ms since the epoch: the entity's new last operation time.
    pub now: Timestamp,
}

/// An entity's row, as clients see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRecord {
    /// The entity's name.
    pub name: String,
    /// The entity's key.
    pub key: String,
    /// `None` when the entity has no state (never set, or deleted).
    pub state: Option<Json>,
    /// When its last batch ran; 0 if it never ran.
    pub last_operation_at: Timestamp,
    /// Messages waiting in its inbox.
    pub pending: u64,
    /// The orchestration instance whose critical section holds it locked, if any.
    pub locked_by: Option<String>,
}

/// Filters for [`Store::list_entities`]; empty fields match everything.
#[derive(Debug, Clone, Default)]
pub struct EntityFilter {
    /// Only entities with this name.
    pub name: Option<String>,
    /// Only entities whose last batch ran at or after this time, ms since the epoch.
    pub last_operation_from: Option<Timestamp>,
    /// Only entities whose last batch ran at or before this time, ms since the epoch.
    pub last_operation_to: Option<Timestamp>,
    /// Include entities without state.
    pub include_empty: bool,
    /// At most this many entities.
    pub limit: Option<usize>,
    /// Keyset cursor: only entities after this one in (name, key) order.
    pub after: Option<EntityId>,
}

/// A rewind planned by [`crate::plan::rewind`], written if the instance has not
/// changed since it was read.
#[derive(Debug, Clone)]
pub struct RewindCommit {
    /// The failed instance to rewind.
    pub instance_id: String,
    /// The failed execution the plan was made from.
    pub execution_id: String,
    /// The length of the history the plan was made from.
    pub history_len: u32,
    /// The history that replaces it.
    pub history: Vec<HistoryEvent>,
    /// Activities queued again (for `execution_id`).
    pub activities: Vec<NewActivity>,
    /// Messages for `execution_id`, in order (the first wakes the instance).
    pub messages: Vec<EventKind>,
    /// The write time, ms since the epoch: `updated_at`, and when the messages become visible.
    pub now: Timestamp,
}

/// An instance moved to another component ([`Store::upgrade`]), written if the instance has
/// not changed since its history was checked against that component.
#[derive(Debug, Clone)]
pub struct UpgradeCommit {
    /// The unfinished instance to move.
    pub instance_id: String,
    /// Its execution whose history was checked.
    pub execution_id: String,
    /// The length of the history that was checked.
    pub history_len: u32,
    /// The digest it was on when checked.
    pub from: String,
    /// The digest it moves to.
    pub to: String,
    /// The `ExecutionUpgraded` event appended to its history; `None` for an instance that has
    /// recorded nothing yet (it simply starts on the new code).
    pub event: Option<HistoryEvent>,
    /// The write time, ms since the epoch: `updated_at`. A lease that has not expired by then
    /// (a turn in progress) is a `Conflict`.
    pub now: Timestamp,
}

/// Work a commit locks, in its own transaction, for the host that makes it: the next step of
/// the same instance (the activities a turn queued, the turn an activity's result wakes),
/// which that host then runs at once instead of finding it through a lock of its own.
#[derive(Debug, Clone, Copy)]
pub struct Claim<'a> {
    /// The host that locks it, as [`Store::lock_activities`]'s `owner`.
    pub owner: &'a str,
    /// The most items to lock: what the host has room to run now.
    pub max: usize,
    /// Lease length in ms, from the commit's `now`.
    pub lease_ms: u64,
}

/// A locked activity task.
#[derive(Debug, Clone)]
pub struct ActivityWorkItem {
    /// The task's id in the store.
    pub id: i64,
    /// The token the lock is held with; completing the task needs it.
    pub lock_token: String,
    /// The instance that scheduled it, which its result is delivered to.
    pub instance_id: String,
    /// The execution that scheduled it; its result is addressed to it.
    pub execution_id: String,
    /// The sequence id of its `TaskScheduled`.
    pub task_id: u32,
    /// The activity's name.
    pub name: String,
    /// The activity's input, JSON text.
    pub input: Json,
    /// The component it was queued on (see [`NewActivity::digest`]).
    pub digest: String,
    /// How many times it has been locked, this time included: 1 on the first attempt, one
    /// more each time an expired lease lets it run again.
    pub attempt: u32,
    /// See [`NewActivity::trace`].
    pub trace: Option<String>,
    /// The app of the component it was queued on ([`ComponentRecord::app`]), read as the
    /// task is locked: the grants it runs with.
    pub app: Option<String>,
}

/// Process id, open time and a per-process count: owner names alone repeat
/// (`host-<pid>` is `host-1` in every container), and a token shared by two
/// holders would let one commit over the other's lease. Every backend's handles start their
/// lock tokens with one.
fn store_nonce() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static OPENED: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let n = OPENED.fetch_add(1, Ordering::Relaxed);
    format!("{}.{nanos:x}.{n}", std::process::id())
}

/// A history read in chunks, in order ([`Store::history_chunks`]).
pub type HistoryChunks = tokio::sync::mpsc::UnboundedReceiver<StoreResult<Vec<HistoryEvent>>>;

/// Sends a history in chunks as a backend reads it ([`Store::history_chunks`]). The channel is
/// unbounded, so the read never waits for the replay. Dropped before [`ChunkSender::finish`]
/// (the read was abandoned: its job never ran, its task panicked), it ends the chunks with an
/// error, so a partial history is never taken for a whole one.
pub(crate) struct ChunkSender {
    tx: tokio::sync::mpsc::UnboundedSender<StoreResult<Vec<HistoryEvent>>>,
    chunk: Vec<HistoryEvent>,
    finished: bool,
}

impl ChunkSender {
    /// Events per chunk: the first turns reach the guest after reading this many.
    const CHUNK: usize = 256;

    pub(crate) fn new() -> (Self, HistoryChunks) {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let chunk = Vec::with_capacity(Self::CHUNK);
        let finished = false;
        (
            ChunkSender {
                tx,
                chunk,
                finished,
            },
            rx,
        )
    }

    /// Adds the next event, sending a full chunk; false once no one listens (the read may
    /// stop).
    pub(crate) fn push(&mut self, event: HistoryEvent) -> bool {
        self.chunk.push(event);
        if self.chunk.len() < Self::CHUNK {
            return true;
        }
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(Self::CHUNK));
        self.tx.send(Ok(full)).is_ok()
    }

    /// Ends the chunks: sends what is left, then the error that ended the read, if one did.
    pub(crate) fn finish(mut self, read: StoreResult<()>) {
        self.finished = true;
        if !self.chunk.is_empty() {
            let _ = self.tx.send(Ok(std::mem::take(&mut self.chunk)));
        }
        if let Err(e) = read {
            let _ = self.tx.send(Err(e));
        }
    }
}

impl Drop for ChunkSender {
    fn drop(&mut self) {
        if !self.finished {
            let stopped = "the history read stopped before its end";
            let _ = self.tx.send(Err(StoreError::Backend(stopped.into())));
        }
    }
}

/// The storage contract. All methods are safe to call concurrently.
#[async_trait::async_trait]
pub trait Store: Send + Sync + 'static {
    /// Stores a component by digest with its catalogue and marks it the
    /// newest deployment. Idempotent: storing the same digest again only
    /// refreshes its deployment time.
    /// `labels` label it (a label left out keeps the one it had, if stored before).
    async fn put_component(
        &self,
        digest: &str,
        bytes: &[u8],
        catalogue: &Catalogue,
        now: Timestamp,
        labels: Labels<'_>,
    ) -> StoreResult<()>;

    /// The bytes of a stored component, `None` if unknown.
    async fn component_bytes(&self, digest: &str) -> StoreResult<Option<Vec<u8>>>;

    /// All stored components, newest deployment first.
    async fn components(&self) -> StoreResult<Vec<ComponentRecord>>;

    /// Instances by status and the work ready at `now`, read in one statement. A read; it
    /// counts whole tables, so it is for occasional callers (a metrics scrape).
    async fn backlog(&self, now: Timestamp) -> StoreResult<Backlog>;

    /// How many unfinished instances each component holds pinned (runs them), by digest;
    /// components pinning none are left out.
    async fn pinned_counts(&self) -> StoreResult<Vec<(String, u64)>>;

    /// Retires a stored component at `now` (a retired one keeps its first retirement time);
    /// `false` when no component has the digest.
    async fn retire_component(&self, digest: &str, now: Timestamp) -> StoreResult<bool>;

    /// Deletes the components retired at or before `retired_by` that nothing needs: no
    /// instance that has not finished, or failed (a rewind runs it again), is pinned to it and
    /// no activity task is queued on it. One statement, so an instance pinned meanwhile keeps
    /// its component. With `dry_run` deletes nothing. The digests (to be) deleted.
    async fn collect_components(
        &self,
        retired_by: Timestamp,
        dry_run: bool,
    ) -> StoreResult<Vec<String>>;

    /// Creates an instance and enqueues its `ExecutionStarted` message,
    /// atomically. Fails with `InstanceExists` if an unfinished instance has
    /// the id; a finished one is replaced (its history is deleted).
    async fn create_instance(&self, instance: NewInstance) -> StoreResult<()> {
        self.create_instance_claiming(instance, None)
            .await
            .map(drop)
    }

    /// [`Store::create_instance`], and with a `claim` (its `max` is 1 or more), in the same
    /// transaction, locks the new instance for the claim's owner with its `ExecutionStarted`,
    /// visible at its `created_at`: its first turn. The instance locked, if it was. A backend
    /// may lock none.
    async fn create_instance_claiming(
        &self,
        instance: NewInstance,
        claim: Option<Claim<'_>>,
    ) -> StoreResult<Option<OrchestrationWorkItem>>;

    /// Appends a message to a running instance's inbox. `InstanceNotFound`
    /// or `InstanceFinished` otherwise; nothing is written then.
    async fn send_message(
        &self,
        instance_id: &str,
        event: EventKind,
        visible_at: Timestamp,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Locks up to `max` unlocked instances that have visible messages, for
    /// `lease_ms`, and returns them with those messages in the order they
    /// became visible (a timer when it fired, anything else when sent).
    /// Suspended instances are skipped unless a resume or terminate waits.
    async fn lock_orchestrations(
        &self,
        owner: &str,
        max: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<OrchestrationWorkItem>>;

    /// The committed history of an instance's current execution: its chunks
    /// ([`Store::history_chunks`]) gathered.
    async fn history(&self, instance_id: &str) -> StoreResult<Vec<HistoryEvent>> {
        let mut chunks = self.history_chunks(instance_id).await?;
        let mut history = Vec::new();
        while let Some(chunk) = chunks.recv().await {
            history.extend(chunk?);
        }
        Ok(history)
    }

    /// The committed history of an instance's current execution in chunks of 256 events, in
    /// order, sent as they are read, so a cold replay can feed the guest the first turns
    /// while the rest is read ([`crate::engine::cold_replay_chunks`]). A read error, or a
    /// read that stopped before its end, ends the chunks with an error ([`ChunkSender`]).
    async fn history_chunks(&self, instance_id: &str) -> StoreResult<HistoryChunks>;

    /// Commits a turn atomically if the instance is still locked with this
    /// token (else `LeaseLost` and nothing is written), and releases the
    /// lock. A lease that expired but was not taken over by anyone is still
    /// good: tokens are unique, so a matching token means no one else wrote.
    async fn complete_orchestration(&self, commit: OrchestrationCommit) -> StoreResult<()> {
        self.complete_orchestration_claiming(commit, None)
            .await
            .map(drop)
    }

    /// [`Store::complete_orchestration`], and with a `claim`, in the same transaction, locks
    /// for the claim's owner up to `claim.max` of the activity tasks the turn queued that are
    /// visible at the commit's `now`, in the order queued, as [`Store::lock_activities`]
    /// would. Those locked. A backend may lock fewer, or none: the rest wait for a lock.
    async fn complete_orchestration_claiming(
        &self,
        commit: OrchestrationCommit,
        claim: Option<Claim<'_>>,
    ) -> StoreResult<Vec<ActivityWorkItem>>;

    /// Deletes `consumed` inbox messages of an instance locked with this token
    /// and releases the lock, writing nothing else: the instance's status,
    /// output and times stay as they are. How messages that reach a finished
    /// instance are dropped. `LeaseLost` if the lock is no longer held (nothing
    /// is deleted then).
    async fn drop_messages(
        &self,
        instance_id: &str,
        lock_token: &str,
        consumed: &[i64],
    ) -> StoreResult<()>;

    /// Releases a lock without writing anything; messages stay and become
    /// visible again at `retry_at`. Idempotent.
    async fn abandon_orchestration(
        &self,
        instance_id: &str,
        lock_token: &str,
        retry_at: Timestamp,
    ) -> StoreResult<()>;

    /// Locks up to `max` visible, unlocked activity tasks for `lease_ms`.
    async fn lock_activities(
        &self,
        owner: &str,
        max: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<ActivityWorkItem>>;

    /// Deletes a finished activity task, delivers its result (a
    /// `TaskCompleted` / `TaskFailed` event) to its instance and records the
    /// activity's log lines, atomically. `LeaseLost` if the task is gone or
    /// locked by someone else; nothing is written then.
    async fn complete_activity(
        &self,
        task: &ActivityWorkItem,
        result: EventKind,
        logs: Vec<LogLine>,
        now: Timestamp,
    ) -> StoreResult<()> {
        self.complete_activity_claiming(task, result, logs, now, None)
            .await
            .map(drop)
    }

    /// [`Store::complete_activity`], and with a `claim` (its `max` is 1 or more), in the same
    /// transaction, locks the task's instance for the claim's owner when
    /// [`Store::lock_orchestrations`] would lock it at `now` (it is not locked, and not
    /// suspended unless a resume or terminate waits), with its visible messages. The instance
    /// locked, if it was. A backend may lock none. With the instance locked, the backend may
    /// leave the commit to be made durable by the next durable one (the claimed turn's
    /// commit or abandonment is): a loss before it is a loss of both, after which the task
    /// runs again.
    async fn complete_activity_claiming(
        &self,
        task: &ActivityWorkItem,
        result: EventKind,
        logs: Vec<LogLine>,
        now: Timestamp,
        claim: Option<Claim<'_>>,
    ) -> StoreResult<Option<OrchestrationWorkItem>>;

    /// Extends the lease on an activity task this handle still holds to `now + lease_ms`,
    /// so a long activity keeps a short lease. `LeaseLost` if the task is gone or locked by
    /// someone else (nothing is written then).
    async fn renew_activity_lease(
        &self,
        task: &ActivityWorkItem,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<()>;

    /// Releases every lease held by a host that is gone (its process ended, however it
    /// ended), so its work is taken over now rather than when the leases expire, and returns
    /// how many were released. A live host's leases are never released. A backend that
    /// cannot tell returns 0, and dead hosts' leases expire as usual.
    async fn release_dead_hosts(&self) -> StoreResult<usize> {
        Ok(0)
    }

    /// Earliest time after `now` at which a message or task becomes
    /// visible, to know when to wake up.
    async fn next_wakeup(&self, now: Timestamp) -> StoreResult<Option<Timestamp>>;

    /// Which kinds of work may be ready to lock at `now`: what an idle host asks once per poll
    /// instead of trying to lock each kind. It may say yes where a lock finds nothing (work
    /// another host holds, a suspended instance), never no where a lock would find something.
    /// The default says yes to all, so every poll tries every lock.
    async fn work_visible(&self, now: Timestamp) -> StoreResult<WorkVisible> {
        let _ = now;
        Ok(WorkVisible {
            orchestrations: true,
            activities: true,
            entities: true,
        })
    }

    /// A counter that moves soon after another process (or another handle on the same
    /// database) commits, so a host picks up work written elsewhere at once instead of at its
    /// next poll. `None`: the backend cannot tell, and hosts find such work by polling.
    fn external_commits(&self) -> Option<tokio::sync::watch::Receiver<u64>> {
        None
    }

    /// What opening the database did to its schema.
    fn migration(&self) -> Migration;

    /// One instance, `None` if no instance has this id.
    async fn instance(&self, instance_id: &str) -> StoreResult<Option<InstanceRecord>>;

    /// Instances matching `filter`, in list order (`created_at`, then `instance_id`).
    async fn list_instances(&self, filter: &InstanceFilter) -> StoreResult<Vec<InstanceRecord>>;

    /// An instance's guest log lines, in the order they were recorded.
    async fn logs(&self, instance_id: &str) -> StoreResult<Vec<LogLine>>;

    /// Instances started as sub-orchestrations of `instance_id`.
    async fn children(&self, instance_id: &str) -> StoreResult<Vec<InstanceRecord>>;

    /// Deletes a finished instance and everything stored for it.
    /// `InstanceNotFound`, or `InstanceNotFinished` (nothing deleted).
    async fn purge_instance(&self, instance_id: &str) -> StoreResult<()>;

    /// Deletes up to `batch` finished instances matching `filter` (statuses
    /// that are not finished are ignored) in one transaction and returns how
    /// many; callers repeat until it returns less than `batch`, so a large
    /// purge never holds the database for long.
    async fn purge_batch(&self, filter: &InstanceFilter, batch: usize) -> StoreResult<usize>;

    /// Writes a rewind atomically: replaces the instance's history with the
    /// plan's, queues its activities, clears the output, failure and
    /// completion time, marks it Running and enqueues its messages.
    /// `InstanceNotFound` or `InstanceNotFailed`; `Conflict` when its
    /// execution or history length is no longer the plan's. Nothing is
    /// written on an error.
    async fn rewind(&self, rewind: RewindCommit) -> StoreResult<()>;

    /// Moves an unfinished instance to another component: its digest becomes `upgrade.to`
    /// and the event, if any, is appended to its history; a stale lease is fenced (its holder
    /// can no longer commit). `InstanceNotFound`; `Conflict` when the instance has finished,
    /// its execution, digest or history length is no longer the one checked, or a turn holds
    /// it. Nothing is written on an error.
    async fn upgrade(&self, upgrade: UpgradeCommit) -> StoreResult<()>;

    /// Appends a message to an entity's inbox, creating the entity (without
    /// state) if it is new. Atomic; not idempotent (each call is a message).
    async fn send_entity_message(&self, message: EntityMessage) -> StoreResult<()>;

    /// Locks up to `max` unlocked entities that have visible messages, for
    /// `lease_ms`, and returns each with its state and up to `batch`
    /// visible messages in the order they became visible. An entity held
    /// in a critical section counts only the holder's messages.
    async fn lock_entities(
        &self,
        owner: &str,
        max: usize,
        batch: usize,
        lease_ms: u64,
        now: Timestamp,
    ) -> StoreResult<Vec<EntityWorkItem>>;

    /// Commits a batch atomically if the entity is still locked with this
    /// token (else `LeaseLost` and nothing is written), and releases the
    /// lock: new state and last operation time, consumed messages deleted,
    /// responses delivered to running callers, signals enqueued, instances
    /// created (one whose id is taken by an unfinished instance is skipped).
    async fn complete_entity(&self, commit: EntityCommit) -> StoreResult<()>;

    /// Releases an entity's lock without writing; its messages become
    /// visible again at `retry_at`. Idempotent.
    async fn abandon_entity(
        &self,
        entity: &EntityId,
        lock_token: &str,
        retry_at: Timestamp,
    ) -> StoreResult<()>;

    /// One entity, `None` if it was never addressed (or was deleted).
    async fn entity(&self, entity: &EntityId) -> StoreResult<Option<EntityRecord>>;

    /// Entities matching `filter`, in (name, key) order.
    async fn list_entities(&self, filter: &EntityFilter) -> StoreResult<Vec<EntityRecord>>;

    /// Deletes entities that have no state, no messages and no lock, and
    /// returns how many. Atomic.
    async fn delete_empty_entities(&self, now: Timestamp) -> StoreResult<usize>;

    /// Sends every row of every table to `sink` as [`transfer::Record`]s (components first,
    /// then instances, history, inbox, activities, logs, entities, entity inbox; each table in
    /// the order its rows were written) and returns how many of each kind it sent. Reads one
    /// consistent snapshot (SQLite: one read transaction; PostgreSQL: one `REPEATABLE READ`
    /// read-only transaction), so writers may go on meanwhile and are not seen; leases are
    /// not copied, so items locked at that moment are copied as unlocked. Streams: holds no
    /// more than a few rows at a time. `Backend` if `sink` is closed before the end.
    async fn export(
        &self,
        sink: tokio::sync::mpsc::Sender<transfer::Record>,
    ) -> StoreResult<transfer::Counts>;

    /// Writes the records `source` sends into this store in one transaction, committed only
    /// when `source` sends [`transfer::ImportItem::End`] and the store then holds exactly the
    /// counts it carries; returns them. Rows get new ids, in the order they come. Refuses
    /// with `ImportRefused`, writing nothing, if the store holds any row when the import
    /// starts, if `source` closes without an `End`, or if the counts differ.
    async fn import(
        &self,
        source: tokio::sync::mpsc::Receiver<transfer::ImportItem>,
    ) -> StoreResult<transfer::Counts>;
}
