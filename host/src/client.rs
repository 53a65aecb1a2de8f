//! The client side: start instances, raise events, terminate, query and wait.
//!
//! A [`Client`] needs only a [`Store`]; it works in the same process as a
//! running [`crate::host::Host`] (which wakes waiters at once) or in another
//! process sharing the database (waiters poll). Its writes are single store
//! calls, except a rewind, which it plans from what it reads
//! ([`crate::plan::rewind`]) and the store writes only if nothing changed.

mod deployments;
mod entities;

pub use deployments::{Collected, Deployment, Retired};

use crate::clock::Clock;
use crate::plan::rewind::plan_rewind;
use crate::resolve::{FunctionKind, newest_offering};
use crate::store::{
    Claim, ComponentRecord, InstanceFilter, InstanceRecord, LogLine, NewInstance,
    OrchestrationWorkItem, RewindCommit, Store, StoreError,
};
use crate::types::{DEFAULT_MAX_PAYLOAD, EventKind, HistoryEvent, Json, RuntimeStatus, Timestamp};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, watch};

/// Errors a client can act on.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// No deployed component offers the orchestrator to start.
    #[error("unknown orchestrator `{name}`; {}", available_text(.available))]
    UnknownOrchestrator {
        /// The orchestrator asked for.
        name: String,
        /// Every orchestrator the deployed components offer, sorted.
        available: Vec<String>,
    },
    /// A payload the client was given is not one JSON value.
    #[error("{what} is not valid JSON: {reason}")]
    MalformedJson {
        /// Which payload it was (`the input`, `the event data`).
        what: String,
        /// The JSON parser's error.
        reason: String,
    },
    /// A request that cannot be carried out as asked (an empty instance id, resuming an
    /// instance that is not suspended); the message says why.
    #[error("{0}")]
    InvalidRequest(String),
    /// No deployment has the digest given (or the prefix given names several).
    #[error("{0}")]
    UnknownDeployment(String),
    /// [`Client::wait`] gave up before the instance finished.
    #[error("instance `{id}` did not finish within {timeout:?}")]
    Timeout {
        /// The instance waited for.
        id: String,
        /// How long it waited.
        timeout: Duration,
    },
    /// A payload is larger than the host's limit.
    #[error(
        "{what} is {size} bytes, more than the payload limit of {limit} bytes (--max-payload-mb)"
    )]
    PayloadTooLarge {
        /// Which payload it was (`the input`, `the event data`).
        what: String,
        /// Its size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// The store refused or failed the operation.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn available_text(available: &[String]) -> String {
    if available.is_empty() {
        "no component is deployed yet (deploy one with `durable serve --component` or `durable deploy`)"
            .to_owned()
    } else {
        format!("deployed components offer: {}", available.join(", "))
    }
}

/// Checks that `text` is one JSON value; `what` names it in the error.
pub fn parse_json(what: &str, text: &str) -> Result<Json, ClientError> {
    serde_json::from_str::<serde_json::Value>(text)
        .map(|_| text.to_owned())
        .map_err(|e| ClientError::MalformedJson {
            what: what.to_owned(),
            reason: e.to_string(),
        })
}

/// How to start an orchestration.
#[derive(Debug, Clone)]
pub struct StartRequest {
    /// The name of the orchestrator to start.
    pub orchestrator: String,
    /// JSON text; validated.
    pub input: Json,
    /// `None`: a new unique id.
    pub instance_id: Option<String>,
    /// Start on the newest deployment labelled with this version (`durable deploy
    /// --version`); `None`: the newest deployment. The instance runs as that version.
    pub version: Option<String>,
    /// The caller's W3C `traceparent`: the orchestration's span is its child. An invalid
    /// one is ignored.
    pub trace: Option<String>,
}

impl StartRequest {
    /// Starts `orchestrator` with the input `null`, under a new unique id.
    pub fn new(orchestrator: impl Into<String>) -> Self {
        StartRequest {
            orchestrator: orchestrator.into(),
            input: "null".into(),
            instance_id: None,
            version: None,
            trace: None,
        }
    }

    /// Sets the input, JSON text ([`Client::start`] checks it).
    pub fn input(mut self, input: impl Into<Json>) -> Self {
        self.input = input.into();
        self
    }

    /// Starts the instance under this id instead of a new one.
    pub fn instance_id(mut self, id: impl Into<String>) -> Self {
        self.instance_id = Some(id.into());
        self
    }

    /// Traces the orchestration as a child of this W3C `traceparent` (an invalid one is
    /// ignored).
    pub fn traceparent(mut self, traceparent: impl Into<String>) -> Self {
        self.trace = Some(traceparent.into());
        self
    }

    /// Starts the instance on the newest deployment labelled `version`.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }
}

/// Wake-ups for the loops of an in-process engine, one per kind of work. Each is sent with
/// `notify_one`, which keeps it until the loop next waits, so a wake-up sent while its loop is
/// busy (locking, running work, reading the next timer) is never lost; and each loop has its
/// own, so a wake-up never goes to the wrong loop.
#[derive(Default)]
pub(crate) struct WorkSignals {
    /// The in-process engine's turns, once it runs: a start made here runs its first turn
    /// there at once ([`StartsTurns`]).
    pub turns: std::sync::OnceLock<Arc<dyn StartsTurns>>,
    /// The orchestration loop: messages for instances.
    pub orchestrations: Notify,
    /// The entity loop: messages for entities.
    pub entities: Notify,
    /// The activity loop: activity tasks.
    pub activities: Notify,
}

/// Runs the first turn of an instance started in this process on the in-process engine: the
/// start's commit locks the instance for the engine's host ([`Claim`]), which runs the turn
/// at once instead of finding it through a lock.
pub(crate) trait StartsTurns: Send + Sync {
    /// A place for one turn now, or `None` when the engine has no room (or is stopping).
    fn reserve(&self) -> Option<ReservedTurn>;
}

/// A place for one turn on the in-process engine ([`StartsTurns`]).
pub(crate) struct ReservedTurn {
    /// The engine's host, as it locks work.
    pub owner: String,
    /// Its orchestration lease, in ms.
    pub lease_ms: u64,
    /// Runs the claimed turn in the place; dropped unused, the place is given back.
    pub run: Box<dyn FnOnce(OrchestrationWorkItem) + Send>,
}

/// Starts, controls and queries orchestration instances and entities through a [`Store`].
/// Cheap to clone; clones share their state.
#[derive(Clone)]
pub struct Client {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    changes: watch::Sender<u64>,
    /// Wakes the loops of an in-process engine when new work is written.
    signals: Arc<WorkSignals>,
    ids: Arc<IdGenerator>,
    poll_interval: Duration,
    max_payload: usize,
}

impl Client {
    /// A client of `store` that takes the time from `clock`. Its waiters poll the store
    /// every 100 ms, and wake at once when a host in the same process commits.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Client {
            store,
            clock,
            changes: watch::Sender::new(0),
            signals: Arc::default(),
            ids: Arc::new(IdGenerator::new()),
            poll_interval: Duration::from_millis(100),
            max_payload: DEFAULT_MAX_PAYLOAD,
        }
    }

    /// Refuses payloads larger than `bytes` (default [`DEFAULT_MAX_PAYLOAD`]).
    pub fn with_max_payload(mut self, bytes: usize) -> Self {
        self.max_payload = bytes;
        self
    }

    /// A payload the client was given: within the limit, and one JSON value.
    fn payload(&self, what: &str, text: &str) -> Result<Json, ClientError> {
        if text.len() > self.max_payload {
            return Err(ClientError::PayloadTooLarge {
                what: what.to_owned(),
                size: text.len(),
                limit: self.max_payload,
            });
        }
        parse_json(what, text)
    }

    /// The store it reads and writes.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// The clock it takes the time from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Wakes in-process waiters ([`Client::wait`]): the host calls it after a commit that
    /// finished an instance, or one by another process (which may have).
    pub(crate) fn notify_changed(&self) {
        self.changes.send_modify(|n| *n += 1);
    }

    /// The wake-ups of the engine sharing this client's store in this process.
    pub(crate) fn signals(&self) -> &WorkSignals {
        &self.signals
    }

    /// This client wrote work for an orchestration (a start, an event, a control message), or
    /// tried to: a refused write wakes the loop too, because on PostgreSQL the attempt held
    /// the instance's row for a moment, and a lock call that ran meanwhile skipped the row
    /// (`SKIP LOCKED`) with its ready work, and would otherwise wait for the next poll. No
    /// instance has finished yet: the waiters sleep on.
    fn notify_work(&self) {
        self.signals.orchestrations.notify_one();
    }

    pub(crate) fn new_id(&self) -> String {
        self.ids.next(self.clock.now())
    }

    /// The newest deployed component offering `orchestrator`.
    pub async fn component_for(&self, orchestrator: &str) -> Result<ComponentRecord, ClientError> {
        self.component_of_version(orchestrator, None).await
    }

    /// The newest deployment (not retired) offering `orchestrator`, labelled `version` when
    /// one is given.
    async fn component_of_version(
        &self,
        orchestrator: &str,
        version: Option<&str>,
    ) -> Result<ComponentRecord, ClientError> {
        let mut components = self.store.components().await?;
        if let Some(version) = version {
            let offering: Vec<&ComponentRecord> = components
                .iter()
                .filter(|c| c.retired_at.is_none())
                .filter(|c| FunctionKind::Orchestrator.offered_by(&c.catalogue, orchestrator))
                .collect();
            if !offering.is_empty()
                && !offering
                    .iter()
                    .any(|c| c.version.as_deref() == Some(version))
            {
                let mut versions: Vec<&str> = offering
                    .iter()
                    .filter_map(|c| c.version.as_deref())
                    .collect();
                versions.sort();
                versions.dedup();
                let known = match versions.is_empty() {
                    true => "none of the deployments offering it has a version (durable deploy \
                             --version)"
                        .to_owned(),
                    false => format!("the versions offering it: {}", versions.join(", ")),
                };
                return Err(ClientError::InvalidRequest(format!(
                    "no deployment of version `{version}` offers orchestrator `{orchestrator}`; \
                     {known}"
                )));
            }
            components.retain(|c| c.version.as_deref() == Some(version));
        }
        if let Some(found) = newest_offering(FunctionKind::Orchestrator, orchestrator, &components)
        {
            return Ok(found.clone());
        }
        let mut available: Vec<String> = components
            .into_iter()
            .filter(|c| c.retired_at.is_none())
            .flat_map(|c| c.catalogue.orchestrators)
            .collect();
        available.sort();
        available.dedup();
        Err(ClientError::UnknownOrchestrator {
            name: orchestrator.to_owned(),
            available,
        })
    }

    /// Starts an instance on the newest component offering the orchestrator
    /// and returns its id.
    pub async fn start(&self, request: StartRequest) -> Result<String, ClientError> {
        let input = self.payload("the input", &request.input)?;
        let version = request.version.as_deref();
        let component = self
            .component_of_version(&request.orchestrator, version)
            .await?;
        let instance_id = match request.instance_id {
            Some(id) if id.trim().is_empty() => {
                return Err(ClientError::InvalidRequest(
                    "an instance id cannot be empty".into(),
                ));
            }
            Some(id) => id,
            None => self.new_id(),
        };
        let reserved = self.signals.turns.get().and_then(|turns| turns.reserve());
        let claim = reserved.as_ref().map(|turn| Claim {
            owner: &turn.owner,
            max: 1,
            lease_ms: turn.lease_ms,
        });
        let created = self
            .store
            .create_instance_claiming(
                NewInstance {
                    instance_id: instance_id.clone(),
                    name: request.orchestrator,
                    execution_id: self.new_id(),
                    digest: component.digest,
                    input,
                    parent: None,
                    created_at: self.clock.now(),
                    version: request.version.or(component.version),
                    trace: crate::telemetry::valid_traceparent(request.trace),
                },
                claim,
            )
            .await;
        let created = match (created, reserved) {
            (Ok(Some(turn)), Some(reserved)) => {
                (reserved.run)(turn);
                return Ok(instance_id);
            }
            (created, _) => created,
        };
        // Also when refused (a duplicate id): see `notify_work`.
        self.notify_work();
        created?;
        Ok(instance_id)
    }

    /// Delivers an external event to a running instance.
    pub async fn raise_event(
        &self,
        instance_id: &str,
        name: &str,
        data: &str,
    ) -> Result<(), ClientError> {
        let input = self.payload("the event data", data)?;
        let now = self.clock.now();
        let event = EventKind::EventRaised {
            name: name.to_owned(),
            input,
        };
        let sent = self.store.send_message(instance_id, event, now, now).await;
        // Also when refused: see `notify_work`.
        self.notify_work();
        Ok(sent?)
    }

    /// Asks a running instance to stop; it ends `Terminated` at its next
    /// turn. With `recursive`, its unfinished sub-orchestrations (and
    /// theirs) are terminated too.
    pub async fn terminate(
        &self,
        instance_id: &str,
        reason: Option<&str>,
        recursive: bool,
    ) -> Result<(), ClientError> {
        self.control(
            instance_id,
            EventKind::ExecutionTerminated {
                reason: reason.map(str::to_owned),
            },
        )
        .await?;
        if recursive {
            let mut pending = vec![instance_id.to_owned()];
            while let Some(parent) = pending.pop() {
                for child in self.store.children(&parent).await? {
                    if child.status.is_terminal() {
                        continue;
                    }
                    let event = EventKind::ExecutionTerminated {
                        reason: Some(format!("parent `{parent}` was terminated")),
                    };
                    match self.control(&child.instance_id, event).await {
                        // It finished meanwhile: nothing to stop.
                        Err(ClientError::Store(StoreError::InstanceFinished(..))) => {}
                        other => other?,
                    }
                    pending.push(child.instance_id);
                }
            }
        }
        Ok(())
    }

    /// Suspends a running instance: it stops at its next turn; events that
    /// arrive meanwhile are kept and delivered on resume.
    pub async fn suspend(
        &self,
        instance_id: &str,
        reason: Option<&str>,
    ) -> Result<(), ClientError> {
        let event = EventKind::ExecutionSuspended {
            reason: reason.map(str::to_owned),
        };
        self.control(instance_id, event).await
    }

    /// Resumes a suspended instance.
    pub async fn resume(&self, instance_id: &str, reason: Option<&str>) -> Result<(), ClientError> {
        let status = self.status(instance_id).await?.status;
        if status != RuntimeStatus::Suspended {
            return Err(ClientError::InvalidRequest(format!(
                "instance `{instance_id}` is not suspended (it is {status})"
            )));
        }
        let event = EventKind::ExecutionResumed {
            reason: reason.map(str::to_owned),
        };
        self.control(instance_id, event).await
    }

    /// Rewinds a failed instance: the failures that ended it are undone (those activities run
    /// again, those failed sub-orchestrations are rewound too, recursively), every result it
    /// recorded before is kept, and it continues from there ([`crate::plan::rewind`]).
    pub async fn rewind(&self, instance_id: &str, reason: Option<&str>) -> Result<(), ClientError> {
        let now = self.clock.now();
        let instance = self.status(instance_id).await?;
        if instance.status != RuntimeStatus::Failed {
            let id = instance_id.to_owned();
            return Err(StoreError::InstanceNotFailed(id, instance.status).into());
        }
        let history = self.store.history(instance_id).await?;
        let has_children = history
            .iter()
            .any(|e| matches!(e.kind, EventKind::SubOrchestrationCreated { .. }));
        let children = match has_children {
            true => self.store.children(instance_id).await?,
            false => Vec::new(),
        };
        let reason = reason.unwrap_or("rewind requested");
        let plan = plan_rewind(&instance, &history, &children, reason, now);
        self.store
            .rewind(RewindCommit {
                instance_id: instance.instance_id,
                execution_id: instance.execution_id,
                history_len: history.len() as u32,
                history: plan.history,
                activities: plan.activities,
                messages: plan.messages,
                now,
            })
            .await?;
        // The rewound activities are queued: wake the activity loop too.
        self.signals.activities.notify_one();
        self.notify_work();
        // The children after their parent: a child's result then finds it running again.
        for child in plan.children {
            Box::pin(self.rewind(&child, Some(reason))).await?;
        }
        Ok(())
    }

    /// Starts a finished instance again with the same orchestrator and
    /// input, under the same id or (with `new_instance_id`) a new one, on
    /// the newest deployment. Returns the id.
    pub async fn restart(
        &self,
        instance_id: &str,
        new_instance_id: bool,
    ) -> Result<String, ClientError> {
        let record = self.status(instance_id).await?;
        if !new_instance_id && !record.status.is_terminal() {
            let id = instance_id.to_owned();
            return Err(StoreError::InstanceNotFinished(id, record.status).into());
        }
        let mut request = StartRequest::new(record.name).input(record.input);
        if !new_instance_id {
            request.instance_id = Some(instance_id.to_owned());
        }
        self.start(request).await
    }

    /// Deletes a finished instance and all it stored.
    pub async fn purge(&self, instance_id: &str) -> Result<(), ClientError> {
        self.store.purge_instance(instance_id).await?;
        self.notify_changed();
        Ok(())
    }

    /// Deletes every finished instance matching `filter`, a batch per
    /// transaction, and returns how many.
    pub async fn purge_matching(&self, filter: &InstanceFilter) -> Result<usize, ClientError> {
        const BATCH: usize = 500;
        let mut deleted = 0;
        loop {
            let n = self.store.purge_batch(filter, BATCH).await?;
            deleted += n;
            if n < BATCH {
                break;
            }
        }
        self.notify_changed();
        Ok(deleted)
    }

    async fn control(&self, instance_id: &str, event: EventKind) -> Result<(), ClientError> {
        let now = self.clock.now();
        let sent = self.store.send_message(instance_id, event, now, now).await;
        // Also when refused: see `notify_work`.
        self.notify_work();
        Ok(sent?)
    }

    /// An instance's record; `InstanceNotFound` if no instance has this id.
    pub async fn status(&self, instance_id: &str) -> Result<InstanceRecord, ClientError> {
        self.store
            .instance(instance_id)
            .await?
            .ok_or_else(|| StoreError::InstanceNotFound(instance_id.to_owned()).into())
    }

    /// The history of an instance's current execution.
    pub async fn history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, ClientError> {
        self.status(instance_id).await?;
        Ok(self.store.history(instance_id).await?)
    }

    /// An instance's guest log lines, in the order they were recorded.
    pub async fn logs(&self, instance_id: &str) -> Result<Vec<LogLine>, ClientError> {
        self.status(instance_id).await?;
        Ok(self.store.logs(instance_id).await?)
    }

    /// An instance's sub-orchestrations (its direct children), oldest first;
    /// `InstanceNotFound` if no instance has this id.
    pub async fn children(&self, instance_id: &str) -> Result<Vec<InstanceRecord>, ClientError> {
        self.status(instance_id).await?;
        Ok(self.store.children(instance_id).await?)
    }

    /// Instances matching `filter`, in list order (`created_at`, then `instance_id`).
    pub async fn list(&self, filter: &InstanceFilter) -> Result<Vec<InstanceRecord>, ClientError> {
        Ok(self.store.list_instances(filter).await?)
    }

    /// Waits until the instance has finished (completed, failed,
    /// terminated) and returns its final record.
    pub async fn wait(
        &self,
        instance_id: &str,
        timeout: Duration,
    ) -> Result<InstanceRecord, ClientError> {
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let record = self.status(instance_id).await?;
            if record.status.is_terminal() {
                return Ok(record);
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = tokio::time::sleep(self.poll_interval) => {}
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(ClientError::Timeout { id: instance_id.to_owned(), timeout });
                }
            }
        }
    }
}

/// Unique ids without an RNG: a hash of the process, the time and a counter.
struct IdGenerator {
    process: String,
    counter: AtomicU64,
}

impl IdGenerator {
    fn new() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        IdGenerator {
            process: format!("{}-{nanos}", std::process::id()),
            counter: AtomicU64::new(0),
        }
    }

    fn next(&self, now: Timestamp) -> String {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let hash = Sha256::new()
            .chain_update(self.process.as_bytes())
            .chain_update(now.to_le_bytes())
            .chain_update(n.to_le_bytes())
            .finalize();
        hash[..16].iter().map(|b| format!("{b:02x}")).collect()
    }
}
