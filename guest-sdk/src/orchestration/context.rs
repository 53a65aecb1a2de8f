//! [`OrchestrationContext`]: everything an orchestrator may do, all of it replay-safe.
//!
//! Each method that starts work records an action in the shared [`ReplayState`] at once (taking
//! the next sequence id) and returns a task that the executor resolves when the matching history
//! event arrives. Time, ids and "am I replaying" come from the history the executor applied, never
//! from a real clock or random source. Composite tasks (retries, waits with a timeout) and
//! [`OrchestrationContext::spawn`] run as background futures (see `background.rs`).

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::rc::Rc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::background::Background;
use super::combinators;
use super::retry::{self, RetryPolicy};
use super::state::{Outcome, ReplayState};
use super::task::{ExternalEventSource, SequencedSource, SpawnedSource, Task, TimerTask};
use crate::bindings::wit_orch::{
    ActionKind, EntityLock, EntityOperation, ScheduleActivity, SendEvent, StartSubOrchestration,
    StartTimer,
};
use crate::bindings::wit_types;
use crate::failure::{Failure, INVALID_INPUT, TIMEOUT};
use crate::log::LogLevel;

/// Where orchestrator log lines go when not replaying (the host in a component, a buffer in
/// tests).
pub(crate) type LogSink = Rc<dyn Fn(LogLevel, &str)>;

/// The namespace Durable Functions derives its `new_uuid` namespace from.
const DURABLE_UUID_NAMESPACE: &str = "9e952958-5e33-4daf-827f-2fa12937b875";

/// The address of an entity: its entity name and its key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EntityId {
    /// The entity's name, e.g. `counter`.
    pub name: String,
    /// Which instance of it, e.g. `user-42`.
    pub key: String,
}

impl EntityId {
    /// The entity `name` with key `key`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        EntityId {
            name: name.into(),
            key: key.into(),
        }
    }
}

impl From<EntityId> for wit_types::EntityId {
    fn from(id: EntityId) -> Self {
        wit_types::EntityId {
            name: id.name,
            key: id.key,
        }
    }
}

/// The orchestrator's handle on its own execution. Cheap to clone; single-threaded.
#[derive(Clone)]
pub struct OrchestrationContext {
    state: Rc<RefCell<ReplayState>>,
    background: Rc<Background>,
    log_sink: LogSink,
}

impl fmt::Debug for OrchestrationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.borrow();
        f.debug_struct("OrchestrationContext")
            .field("instance_id", &state.instance_id)
            .field("current_time_ms", &state.current_time_ms)
            .field("is_replaying", &state.is_replaying)
            .finish()
    }
}

fn to_json(value: &impl Serialize, what: &str) -> Result<String, Failure> {
    serde_json::to_string(value).map_err(|err| {
        Failure::new(INVALID_INPUT, format!("{what} is not serialisable: {err}")).non_retriable()
    })
}

/// For fire-and-forget actions there is no task to fail, and skipping the action would hide the
/// bug, so an unserialisable payload traps the orchestration with this message.
fn to_json_or_panic(value: &impl Serialize, what: &str) -> String {
    match to_json(value, what) {
        Ok(json) => json,
        Err(failure) => panic!("{failure}"),
    }
}

/// Failure type of a call that breaks the rules of critical sections.
const LOCKING_RULES: &str = "LockingRulesViolation";

fn locking_rules(message: String) -> Failure {
    Failure::new(LOCKING_RULES, message).non_retriable()
}

/// Inside a critical section, a sub-orchestration could wait on the entities the section
/// holds, and the section on it: a deadlock. It is refused instead.
fn no_sub_orchestration_in_section() -> Failure {
    locking_rules(
        "a critical section cannot call a sub-orchestration; unlock its entities first".into(),
    )
}

/// Operation names starting with `$` belong to the host's lock protocol (`$lock`,
/// `$unlock`); they are refused from orchestrators as from clients.
fn reserved_operation(operation: &str) -> Option<String> {
    operation.starts_with('$').then(|| {
        format!(
            "entity operation names starting with `$` are reserved (`{operation}`); use \
             lock_entities for a critical section"
        )
    })
}

fn millis_since_epoch(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

impl OrchestrationContext {
    pub(crate) fn new(
        state: Rc<RefCell<ReplayState>>,
        background: Rc<Background>,
        log_sink: LogSink,
    ) -> Self {
        OrchestrationContext {
            state,
            background,
            log_sink,
        }
    }

    /// The replay-safe current time in milliseconds since the epoch.
    pub(crate) fn current_time_ms(&self) -> u64 {
        self.state.borrow().current_time_ms
    }

    /// Runs `future` in the background and returns its task (see [`OrchestrationContext::spawn`]).
    fn spawn_outcome<T>(&self, future: impl Future<Output = Outcome> + 'static) -> Task<T> {
        let spawn = self.background.spawn(Box::pin(future));
        Task::from_source(Rc::new(SpawnedSource {
            state: self.state.clone(),
            spawn,
        }))
    }

    fn sequenced<T>(&self, kind: ActionKind) -> (u32, Task<T>) {
        let sequence_id = self.state.borrow_mut().schedule(kind);
        let source = SequencedSource {
            state: self.state.clone(),
            sequence_id,
        };
        (sequence_id, Task::from_source(Rc::new(source)))
    }

    /// This orchestration's instance id.
    pub fn instance_id(&self) -> String {
        self.state.borrow().instance_id.clone()
    }

    /// The version this orchestration runs as: the label of the deployment it started on
    /// (`durable deploy --version`), the one its client asked for (`durable start --version`),
    /// or its parent's; `None` when there is none. It does not change when the instance is
    /// moved to new code, so code that branches on it (`if ctx.version().as_deref() ==
    /// Some("1.0") { ... }`) replays the same.
    pub fn version(&self) -> Option<String> {
        crate::bindings::host_version()
    }

    /// True while the code re-runs turns already in the history; false for the new turn.
    pub fn is_replaying(&self) -> bool {
        self.state.borrow().is_replaying
    }

    /// The replay-safe current time: when the current turn started.
    pub fn current_utc_datetime(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.state.borrow().current_time_ms)
    }

    /// A new UUID (v5, text form) that is the same on every replay: derived from the instance
    /// id, the current turn's time and how many UUIDs this execution made before, as Durable
    /// Functions does.
    pub fn new_uuid(&self) -> String {
        let mut state = self.state.borrow_mut();
        let name = format!(
            "{}_{}_{}",
            state.instance_id, state.current_time_ms, state.uuid_counter
        );
        state.uuid_counter += 1;
        let namespace = uuid::Uuid::new_v5(
            &uuid::Uuid::NAMESPACE_OID,
            DURABLE_UUID_NAMESPACE.as_bytes(),
        );
        uuid::Uuid::new_v5(&namespace, name.as_bytes()).to_string()
    }

    /// Logs through the host, except while replaying (so each line is recorded once).
    pub fn log(&self, level: LogLevel, message: impl AsRef<str>) {
        if !self.is_replaying() {
            (self.log_sink)(level, message.as_ref());
        }
    }

    /// [`OrchestrationContext::log`] at `Info`.
    pub fn info(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Info, message);
    }

    /// [`OrchestrationContext::log`] at `Warn`.
    pub fn warn(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Warn, message);
    }

    /// [`OrchestrationContext::log`] at `Error`.
    pub fn error(&self, message: impl AsRef<str>) {
        self.log(LogLevel::Error, message);
    }

    /// Schedules the activity `name` with `input` and returns its task.
    pub fn call_activity<O: DeserializeOwned>(&self, name: &str, input: impl Serialize) -> Task<O> {
        let input = match to_json(&input, "activity input") {
            Ok(input) => input,
            Err(failure) => return Task::failed(failure),
        };
        let kind = ActionKind::ScheduleActivity(ScheduleActivity {
            name: name.to_owned(),
            input,
        });
        self.sequenced(kind).1
    }

    /// Starts the orchestrator `name` as a child and returns its task. With `instance_id` `None`
    /// the host derives the child's id from this instance's id and the sequence id.
    pub fn call_sub_orchestrator<O: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        input: impl Serialize,
    ) -> Task<O> {
        if self.is_locked() {
            return Task::failed(no_sub_orchestration_in_section());
        }
        let input = match to_json(&input, "sub-orchestration input") {
            Ok(input) => input,
            Err(failure) => return Task::failed(failure),
        };
        let kind = ActionKind::StartSubOrchestration(StartSubOrchestration {
            name: name.to_owned(),
            instance_id: instance_id.unwrap_or_default().to_owned(),
            input,
        });
        self.sequenced(kind).1
    }

    /// Starts a durable timer that fires at `fire_at`.
    pub fn create_timer(&self, fire_at: SystemTime) -> TimerTask {
        self.create_timer_at_ms(millis_since_epoch(fire_at))
    }

    pub(crate) fn create_timer_at_ms(&self, fire_at: u64) -> TimerTask {
        let kind = ActionKind::StartTimer(StartTimer { fire_at });
        let timer_id = self.state.borrow_mut().schedule(kind);
        TimerTask::new(self.state.clone(), timer_id)
    }

    /// Starts a durable timer that fires `delay` after the current (replay-safe) time.
    pub fn create_timer_after(&self, delay: Duration) -> TimerTask {
        self.create_timer(self.current_utc_datetime() + delay)
    }

    /// Waits for the external event `name`. Events are handed out oldest waiter first; an event
    /// that arrived before anyone waited is kept and consumed by the next waiter, once.
    pub fn wait_for_external_event<T: DeserializeOwned>(&self, name: &str) -> Task<T> {
        let waiter = self.state.borrow_mut().new_waiter(name);
        Task::from_source(Rc::new(ExternalEventSource {
            state: self.state.clone(),
            waiter,
        }))
    }

    /// Waits for the external event `name`, at most `timeout` (replay-safe time): the task fails
    /// with a `Timeout` failure ([`crate::TIMEOUT`]) when its durable timer fires first. When the
    /// event wins, the timer is cancelled; when the timer wins, the wait is withdrawn, so a later
    /// event `name` goes to the next waiter (or is kept for one) instead of being lost. An event
    /// kept from earlier is taken at once and starts no timer.
    pub fn wait_for_external_event_with_timeout<T: DeserializeOwned>(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Task<T> {
        let waiter = self.state.borrow_mut().new_waiter(name);
        let event: Task<Value> = Task::from_source(Rc::new(ExternalEventSource {
            state: self.state.clone(),
            waiter,
        }));
        if event.is_complete() {
            return Task::from_source(event.source);
        }
        let timer = self.create_timer_after(timeout);
        let state = self.state.clone();
        let name = name.to_owned();
        self.spawn_outcome(async move {
            let (winner, _) = combinators::task_any(vec![event.clone(), timer.untyped()]).await?;
            if winner == 0 {
                timer.cancel();
                return event.await;
            }
            state.borrow_mut().remove_waiter(&name, waiter);
            Err(Failure::new(
                TIMEOUT,
                format!("the external event `{name}` did not arrive within {timeout:?}"),
            ))
        })
    }

    /// Raises the event `name` with `input` on another instance.
    pub fn send_event(&self, instance_id: &str, name: &str, input: impl Serialize) {
        let kind = ActionKind::SendEvent(SendEvent {
            instance_id: instance_id.to_owned(),
            name: name.to_owned(),
            input: to_json_or_panic(&input, "event payload"),
        });
        self.state.borrow_mut().schedule(kind);
    }

    /// Sets the custom status clients see.
    pub fn set_custom_status(&self, status: impl Serialize) {
        let json = to_json_or_panic(&status, "custom status");
        self.state
            .borrow_mut()
            .record(ActionKind::SetCustomStatus(Some(json)));
    }

    /// Clears the custom status.
    pub fn clear_custom_status(&self) {
        self.state
            .borrow_mut()
            .record(ActionKind::SetCustomStatus(None));
    }

    /// Restarts this orchestration with `input` once the orchestrator function returns `Ok`
    /// (its value is then ignored): return right after calling this. With
    /// `preserve_unprocessed_events`, events that arrived but were not consumed (kept for a
    /// waiter that never came) are handed to the host in arrival order, and it delivers them to
    /// the new execution.
    pub fn continue_as_new(&self, input: impl Serialize, preserve_unprocessed_events: bool) {
        let json = to_json_or_panic(&input, "continue-as-new input");
        self.state.borrow_mut().continue_as_new = Some((json, preserve_unprocessed_events));
    }

    /// Calls `operation` on an entity and returns its task: the operation's result, or its
    /// failure. A reserved operation name (starting with `$`) fails the task with
    /// `InvalidInput`.
    pub fn call_entity<O: DeserializeOwned>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Task<O> {
        if let Some(message) = reserved_operation(operation) {
            return Task::failed(Failure::new("InvalidInput", message).non_retriable());
        }
        let input = match to_json(&input, "entity operation input") {
            Ok(input) => input,
            Err(failure) => return Task::failed(failure),
        };
        let id: wit_types::EntityId = entity.clone().into();
        if let Some(held) = &self.state.borrow().held_locks
            && !held.contains(&id)
        {
            return Task::failed(locking_rules(format!(
                "inside a critical section only the locked entities can be called, not `{}@{}`",
                entity.name, entity.key
            )));
        }
        let kind = ActionKind::CallEntity(EntityOperation {
            entity: entity.clone().into(),
            operation: operation.to_owned(),
            input,
            scheduled_at: None,
        });
        self.sequenced(kind).1
    }

    /// Signals `operation` on an entity without waiting.
    pub fn signal_entity(&self, entity: &EntityId, operation: &str, input: impl Serialize) {
        self.signal_entity_scheduled(entity, operation, input, None);
    }

    /// Signals `operation` on an entity, delivered at `at` (a scheduled signal).
    pub fn signal_entity_at(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
        at: SystemTime,
    ) {
        self.signal_entity_scheduled(entity, operation, input, Some(millis_since_epoch(at)));
    }

    fn signal_entity_scheduled(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
        scheduled_at: Option<u64>,
    ) {
        // A signal has no task to fail, and dropping it would hide the bug.
        if let Some(message) = reserved_operation(operation) {
            panic!("{message}");
        }
        let kind = ActionKind::SignalEntity(EntityOperation {
            entity: entity.clone().into(),
            operation: operation.to_owned(),
            input: to_json_or_panic(&input, "entity operation input"),
            scheduled_at,
        });
        self.state.borrow_mut().schedule(kind);
    }

    /// Enters a critical section: locks `entities` (acquired one at a time in sorted order, so
    /// two orchestrations locking the same entities never deadlock) and resolves once all are
    /// held. Inside it, only the locked entities can be called, and no other lock can be taken;
    /// [`OrchestrationContext::unlock_entities`] (or the end of the orchestration) releases
    /// them.
    pub fn lock_entities(&self, entities: &[EntityId]) -> Task<()> {
        if self.state.borrow().held_locks.is_some() {
            return Task::failed(locking_rules(
                "a critical section is already held; unlock it before locking again".into(),
            ));
        }
        let mut sorted: Vec<EntityId> = entities.to_vec();
        sorted.sort();
        sorted.dedup();
        if sorted.is_empty() {
            return Task::failed(locking_rules(
                "lock_entities needs at least one entity".into(),
            ));
        }
        let entities: Vec<wit_types::EntityId> = sorted.into_iter().map(Into::into).collect();
        self.state.borrow_mut().held_locks = Some(entities.clone());
        self.sequenced(ActionKind::LockEntities(EntityLock { entities }))
            .1
    }

    /// Leaves the critical section, releasing its entities. Does nothing outside one.
    pub fn unlock_entities(&self) {
        let mut state = self.state.borrow_mut();
        if let Some(entities) = state.held_locks.take() {
            state.record(ActionKind::UnlockEntities(EntityLock { entities }));
        }
    }

    /// True inside a critical section.
    pub fn is_locked(&self) -> bool {
        self.state.borrow().held_locks.is_some()
    }

    /// Runs `future` as a background task and returns its [`Task`]: its outcome once it
    /// finishes, placed in history order at the moment it finished, so `task_any` / `task_all`
    /// over it stay deterministic.
    ///
    /// The future is polled once at once, so the work it starts first is scheduled now, like
    /// `call_activity`; afterwards the executor polls it after every history event, together
    /// with the orchestrator and other spawned futures (in creation order). It stops when the
    /// orchestration ends. Only replay-safe work belongs in it, as in the orchestrator itself.
    ///
    /// ```no_run
    /// # use durable_sdk::{Failure, OrchestrationContext, Task};
    /// # async fn f(ctx: OrchestrationContext) -> Result<(), Failure> {
    /// let c = ctx.clone();
    /// let pair: Task<(u32, u32)> = ctx.spawn(async move {
    ///     let a: u32 = c.call_activity("a", ()).await?;
    ///     let b: u32 = c.call_activity("b", a).await?;
    ///     Ok((a, b))
    /// });
    /// let other: Task<u32> = ctx.call_activity("c", ()); // runs alongside the chain
    /// let (pair, other) = (pair.await?, other.await?);
    /// # Ok(()) }
    /// ```
    pub fn spawn<T: Serialize>(
        &self,
        future: impl Future<Output = Result<T, Failure>> + 'static,
    ) -> Task<T> {
        self.spawn_outcome(async move {
            let value = future.await?;
            serde_json::to_value(value).map_err(|err| {
                Failure::new(
                    "InvalidOutput",
                    format!("the spawned task's output is not serialisable: {err}"),
                )
                .non_retriable()
            })
        })
    }

    /// Like [`OrchestrationContext::call_activity`], retrying failed attempts as `policy` says.
    /// Attempt 1 is scheduled at once; each retry waits on a durable timer and is scheduled as
    /// an activity of its own (so each attempt has its own sequence id and history events). The
    /// task fails with the last attempt's failure, with a `RetryPolicy` cause added to its
    /// `inner` chain when there was more than one attempt.
    pub fn call_activity_with_retry<O: DeserializeOwned>(
        &self,
        name: &str,
        policy: &RetryPolicy,
        input: impl Serialize,
    ) -> Task<O> {
        let input = match to_json(&input, "activity input") {
            Ok(input) => input,
            Err(failure) => return Task::failed(failure),
        };
        let (ctx, name) = (self.clone(), name.to_owned());
        let attempt = move || {
            let kind = ActionKind::ScheduleActivity(ScheduleActivity {
                name: name.clone(),
                input: input.clone(),
            });
            ctx.sequenced(kind).1
        };
        self.spawn_outcome(retry::run_with_retry(self.clone(), policy.clone(), attempt))
    }

    /// Like [`OrchestrationContext::call_sub_orchestrator`], retrying failed attempts as
    /// `policy` says (see [`OrchestrationContext::call_activity_with_retry`]). Every attempt
    /// starts a new child; with `instance_id` `None` each gets its own derived id, with an
    /// explicit id each attempt reuses it.
    pub fn call_sub_orchestrator_with_retry<O: DeserializeOwned>(
        &self,
        name: &str,
        instance_id: Option<&str>,
        policy: &RetryPolicy,
        input: impl Serialize,
    ) -> Task<O> {
        if self.is_locked() {
            return Task::failed(no_sub_orchestration_in_section());
        }
        let input = match to_json(&input, "sub-orchestration input") {
            Ok(input) => input,
            Err(failure) => return Task::failed(failure),
        };
        let (ctx, name) = (self.clone(), name.to_owned());
        let instance_id = instance_id.unwrap_or_default().to_owned();
        let attempt = move || {
            let kind = ActionKind::StartSubOrchestration(StartSubOrchestration {
                name: name.clone(),
                instance_id: instance_id.clone(),
                input: input.clone(),
            });
            ctx.sequenced(kind).1
        };
        self.spawn_outcome(retry::run_with_retry(self.clone(), policy.clone(), attempt))
    }

    /// See [`combinators::task_all`].
    pub fn task_all<T>(&self, tasks: Vec<Task<T>>) -> Task<Vec<T>> {
        combinators::task_all(tasks)
    }

    /// See [`combinators::task_any`].
    pub fn task_any<T>(&self, tasks: Vec<Task<T>>) -> Task<(usize, Result<T, Failure>)> {
        combinators::task_any(tasks)
    }
}
