//! The engine's domain types: history events, actions, failures and instance
//! status. These are what storage persists (as JSON) and what the replay
//! module reasons about; `wasm::convert` maps them to and from the WIT types.

use serde::{Deserialize, Serialize};
use std::fmt;

/// JSON text. Always a complete JSON value (`null` for nothing).
pub type Json = String;

/// Milliseconds since the Unix epoch, UTC.
pub type Timestamp = u64;

/// One cause in a failure's chain of inner failures.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureCause {
    /// The error's type name, e.g. `ValueError`.
    #[serde(rename = "type")]
    pub error_type: String,
    /// A message for people.
    pub message: String,
    /// Optional structured details, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
}

/// A structured failure, kept typed from guest to caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    /// The error's type name, e.g. `InsufficientFunds`; callers match on it. The host's own
    /// and the SDKs' are reserved ([`failure_types`]).
    #[serde(rename = "type")]
    pub error_type: String,
    /// A message for people.
    pub message: String,
    /// Optional structured details, as JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
    /// Optional stack trace or backtrace text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// True when retrying cannot help: retry policies stop at once.
    #[serde(default)]
    pub non_retriable: bool,
    /// The chain of inner failures, outermost first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<FailureCause>,
}

impl Failure {
    /// A retriable failure with this type and message and nothing else.
    pub fn new(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            error_type: error_type.into(),
            message: message.into(),
            details: None,
            stack: None,
            non_retriable: false,
            inner: Vec::new(),
        }
    }

    /// A failure retrying cannot fix.
    pub fn fatal(error_type: impl Into<String>, message: impl Into<String>) -> Self {
        Failure {
            non_retriable: true,
            ..Failure::new(error_type, message)
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_type, self.message)
    }
}

/// The failure types the host produces itself. Together with the SDKs' own
/// ([`SDK_TYPES`](failure_types::SDK_TYPES)) they are reserved: the WIT contract
/// (`wit/durable.wit`, `failure.error-type`) names them all and `docs/replay.md` says what
/// each means; a unit test keeps the three in step.
pub mod failure_types {
    /// The code's decisions no longer match the recorded history.
    pub const NON_DETERMINISM: &str = "NonDeterminism";
    /// The guest panicked or trapped.
    pub const TRAP: &str = "Trap";
    /// The guest went past a CPU or memory limit.
    pub const RESOURCE_LIMIT: &str = "ResourceLimit";
    /// Orchestrator or entity code called an interface the sandbox does not provide.
    pub const SANDBOX_VIOLATION: &str = "SandboxViolation";
    /// No deployed component offers the called name.
    pub const UNKNOWN_FUNCTION: &str = "UnknownFunction";
    /// A name called across components that several unrelated deployments offer
    /// (see [`crate::resolve`]).
    pub const AMBIGUOUS_FUNCTION: &str = "AmbiguousFunction";
    /// An input or result that does not decode; a malformed request.
    pub const INVALID_INPUT: &str = "InvalidInput";
    /// An activity ran past its timeout (retriable).
    pub const ACTIVITY_TIMEOUT: &str = "ActivityTimeout";
    /// What a parent sees when its sub-orchestration was terminated.
    pub const TERMINATED: &str = "Terminated";
    /// A sub-orchestration's instance id belongs to an unfinished instance.
    pub const INSTANCE_EXISTS: &str = "InstanceExists";
    /// `call_http` to a host the allow-list does not name.
    pub const HTTP_NOT_ALLOWED: &str = "HttpNotAllowed";
    /// `call_http` could not complete the request (retriable).
    pub const HTTP_ERROR: &str = "HttpError";

    /// Every type the host produces.
    pub const HOST_TYPES: &[&str] = &[
        NON_DETERMINISM,
        TRAP,
        RESOURCE_LIMIT,
        SANDBOX_VIOLATION,
        UNKNOWN_FUNCTION,
        AMBIGUOUS_FUNCTION,
        INVALID_INPUT,
        ACTIVITY_TIMEOUT,
        TERMINATED,
        INSTANCE_EXISTS,
        HTTP_NOT_ALLOWED,
        HTTP_ERROR,
    ];
    /// The types the guest SDKs produce: an operation an entity does not handle, a broken
    /// critical-section rule, a wait that timed out.
    pub const SDK_TYPES: &[&str] = &["UnknownOperation", "LockingRulesViolation", "Timeout"];

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The contract and the docs name every reserved type.
        #[test]
        fn the_wit_contract_and_the_docs_name_every_reserved_type() {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
            for file in ["wit/durable.wit", "docs/replay.md"] {
                let text = std::fs::read_to_string(root.join(file)).expect(file);
                for reserved in HOST_TYPES.iter().chain(SDK_TYPES) {
                    assert!(
                        text.contains(&format!("`{reserved}`")),
                        "{file} does not name the reserved failure type `{reserved}`"
                    );
                }
            }
        }
    }
}

/// The address of an entity: which entity it is, and which instance of it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId {
    /// The entity's name, as a component's catalogue offers it (e.g. `counter`).
    pub name: String,
    /// Which instance of that entity; any string, each key has its own state and inbox.
    pub key: String,
}

/// The parent of a sub-orchestration, which its ending is reported to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentInstance {
    /// The parent instance's id.
    pub instance_id: String,
    /// The parent's sequence id of the `SubOrchestrationCreated` that started the child.
    pub task_id: u32,
    /// The parent's execution that started the child: the child's result goes to it alone,
    /// never to a later execution (after a continue-as-new) that reused the sequence id.
    /// `None` in histories written before it was recorded: whichever execution is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_id: Option<String>,
}

/// A request to an entity from an orchestration: a call (expecting an answer) or a signal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityOperation {
    /// The entity addressed.
    pub entity: EntityId,
    /// The operation's name, e.g. `add`.
    pub operation: String,
    /// The operation's input, JSON text.
    pub input: Json,
    /// For signals: deliver at this time (ms since the epoch) instead of now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<Timestamp>,
}

/// The default of the payload limit: the largest input, output, event data, entity state or
/// custom status, in bytes.
pub const DEFAULT_MAX_PAYLOAD: usize = 16 << 20;

/// The `ResourceLimit` failure of a payload larger than the limit, naming both.
pub fn payload_too_large(what: &str, size: usize, limit: usize) -> Failure {
    Failure::fatal(
        failure_types::RESOURCE_LIMIT,
        format!(
            "{what} is {size} bytes, more than the payload limit of {limit} bytes \
             (--max-payload-mb)"
        ),
    )
}

/// Whether an entity operation name is reserved: names starting with `$` belong to the host's
/// lock protocol (`$lock`, `$unlock`), and clients, orchestrators and entities cannot send
/// them.
pub fn is_reserved_operation(operation: &str) -> bool {
    operation.starts_with('$')
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityOperationRequest {
    /// The operation's name, e.g. `add`.
    pub name: String,
    /// The operation's input, JSON text.
    pub input: Json,
}

/// A message an operation sends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityEffect {
    /// A one-way operation sent to an entity.
    Signal {
        /// The entity addressed.
        entity: EntityId,
        /// The operation's name.
        operation: String,
        /// The operation's input, JSON text.
        input: Json,
        /// Deliver at this time (ms since the epoch) instead of now.
        scheduled_at: Option<Timestamp>,
    },
    /// A new top-level orchestration instance to start (no parent is told how it ends).
    StartOrchestration {
        /// The orchestrator's name.
        name: String,
        /// The new instance's id; empty: the host generates one.
        instance_id: String,
        /// The orchestrator's input, JSON text.
        input: Json,
    },
}

/// One operation's outcome; a failed operation's effects are already dropped by the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityOperationOutcome {
    /// The operation's output (JSON text) or its failure; a caller gets it as
    /// `EntityResponded`.
    pub result: Result<Json, Failure>,
    /// The messages the operation sent, in order.
    pub effects: Vec<EntityEffect>,
}

/// What happened, as recorded in an orchestration's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "PascalCase")]
pub enum EventKind {
    /// An execution started (a client's start, a sub-orchestration, a continue-as-new); the
    /// first event of every execution.
    #[serde(rename_all = "camelCase")]
    ExecutionStarted {
        /// The orchestrator's name.
        name: String,
        /// The instance's id.
        instance_id: String,
        /// A new id for every execution of the instance (continue-as-new starts a new one).
        execution_id: String,
        /// The orchestrator's input, JSON text.
        input: Json,
        /// The parent, when the instance is a sub-orchestration.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<ParentInstance>,
        /// The version the execution runs as (`host.version`): its deployment's label when it
        /// started, the one its client asked for, or its parent's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        /// The caller's W3C `traceparent` (an HTTP start request's, or the parent
        /// orchestration's): the execution's span is its child. A continue-as-new keeps it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        trace: Option<String>,
    },
    /// A turn begins; its timestamp is the turn's replay-safe "now".
    OrchestratorStarted,
    /// An activity was scheduled; the event id is the action's sequence id.
    TaskScheduled {
        /// The activity's name.
        name: String,
        /// The activity's input, JSON text.
        input: Json,
    },
    /// A scheduled activity returned a value.
    #[serde(rename_all = "camelCase")]
    TaskCompleted {
        /// The sequence id of the `TaskScheduled` this answers.
        task_id: u32,
        /// The activity's output, JSON text.
        result: Json,
    },
    /// A scheduled activity failed (or could not run: no component offers it, a timeout).
    #[serde(rename_all = "camelCase")]
    TaskFailed {
        /// The sequence id of the `TaskScheduled` this answers.
        task_id: u32,
        /// Why it failed.
        failure: Failure,
    },
    /// A durable timer was created; the event id is the action's sequence id.
    #[serde(rename_all = "camelCase")]
    TimerCreated {
        /// When the timer fires, ms since the epoch.
        fire_at: Timestamp,
    },
    /// A durable timer fired.
    #[serde(rename_all = "camelCase")]
    TimerFired {
        /// The sequence id of the `TimerCreated` this fires.
        timer_id: u32,
        /// The time it was set to fire at, ms since the epoch.
        fire_at: Timestamp,
    },
    /// A durable timer was cancelled before it fired.
    #[serde(rename_all = "camelCase")]
    TimerCancelled {
        /// The sequence id of the `TimerCreated` cancelled.
        timer_id: u32,
    },
    /// A sub-orchestration was started; the event id is the action's sequence id.
    #[serde(rename_all = "camelCase")]
    SubOrchestrationCreated {
        /// The child's orchestrator name.
        name: String,
        /// The child instance's id (the one given, or `<parent id>:<sequence id>`).
        instance_id: String,
        /// The child's input, JSON text.
        input: Json,
    },
    /// A sub-orchestration completed.
    #[serde(rename_all = "camelCase")]
    SubOrchestrationCompleted {
        /// The sequence id of the `SubOrchestrationCreated` this answers.
        task_id: u32,
        /// The child's output, JSON text.
        result: Json,
    },
    /// A sub-orchestration failed, was terminated (`Terminated`) or could not start.
    #[serde(rename_all = "camelCase")]
    SubOrchestrationFailed {
        /// The sequence id of the `SubOrchestrationCreated` this answers.
        task_id: u32,
        /// Why the child failed.
        failure: Failure,
    },
    /// An external event arrived: raised by a client, sent by another instance, or carried
    /// over by continue-as-new.
    EventRaised {
        /// The event's name, which the code waits for.
        name: String,
        /// The event's data, JSON text.
        input: Json,
    },
    /// This instance sent an event to another; the event id is the action's sequence id.
    #[serde(rename_all = "camelCase")]
    EventSent {
        /// The target instance's id.
        instance_id: String,
        /// The event's name.
        name: String,
        /// The event's data, JSON text.
        input: Json,
    },
    /// This instance called an entity operation and waits for `EntityResponded`; the event
    /// id is the action's sequence id.
    EntityCalled(EntityOperation),
    /// This instance sent an entity a one-way operation; the event id is the action's
    /// sequence id.
    EntitySignalled(EntityOperation),
    /// This instance asked to lock entities for a critical section and waits for
    /// `EntityLockGranted`; the event id is the action's sequence id.
    EntityLockRequested {
        /// The entities to lock, sorted and without duplicates (locked in this order).
        entities: Vec<EntityId>,
    },
    /// This instance released the entities its critical section held.
    EntityUnlocked {
        /// The entities released.
        entities: Vec<EntityId>,
    },
    /// An entity answered a call.
    #[serde(rename_all = "camelCase")]
    EntityResponded {
        /// The sequence id of the `EntityCalled` this answers.
        task_id: u32,
        /// The operation's output (JSON text) or its failure.
        result: Result<Json, Failure>,
    },
    /// Every entity of a lock request is now held by this instance.
    #[serde(rename_all = "camelCase")]
    EntityLockGranted {
        /// The sequence id of the `EntityLockRequested` this answers.
        task_id: u32,
    },
    /// A client suspended the instance; its other messages wait until it resumes.
    ExecutionSuspended {
        /// The reason the client gave, if any.
        reason: Option<String>,
    },
    /// The instance resumed: a client resumed it, or a rewind woke it.
    ExecutionResumed {
        /// The reason the client gave, if any (`rewound: ...` for a rewind).
        reason: Option<String>,
    },
    /// A client terminated the instance; the execution ends without running the guest.
    ExecutionTerminated {
        /// The reason the client gave, if any; also the instance's output, as a JSON string.
        reason: Option<String>,
    },
    /// The execution ended; exactly one of `result` and `failure` is set.
    ExecutionCompleted {
        /// The orchestration's output, JSON text, when it succeeded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Json>,
        /// Why it failed, when it failed (the guest's own failure or the host's).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<Failure>,
    },
    /// The execution restarted itself as a new execution of the same instance.
    ContinuedAsNew {
        /// The new execution's input, JSON text.
        input: Json,
    },
    /// The instance moved to another deployed component (`durable upgrade`, `deploy
    /// --upgrade`) after its history replayed against that component; the turns after this
    /// event run the new code. Recorded by the host between turns and never fed to the guest
    /// ([`EventKind::is_host_only`]).
    ExecutionUpgraded {
        /// The digest of the component the instance ran on until now.
        from: String,
        /// The digest of the component it runs on from now on.
        to: String,
    },
}

impl EventKind {
    /// The event's name as shown to people (`TaskScheduled`).
    pub fn label(&self) -> &'static str {
        match self {
            EventKind::ExecutionStarted { .. } => "ExecutionStarted",
            EventKind::OrchestratorStarted => "OrchestratorStarted",
            EventKind::TaskScheduled { .. } => "TaskScheduled",
            EventKind::TaskCompleted { .. } => "TaskCompleted",
            EventKind::TaskFailed { .. } => "TaskFailed",
            EventKind::TimerCreated { .. } => "TimerCreated",
            EventKind::TimerFired { .. } => "TimerFired",
            EventKind::TimerCancelled { .. } => "TimerCancelled",
            EventKind::SubOrchestrationCreated { .. } => "SubOrchestrationCreated",
            EventKind::SubOrchestrationCompleted { .. } => "SubOrchestrationCompleted",
            EventKind::SubOrchestrationFailed { .. } => "SubOrchestrationFailed",
            EventKind::EventRaised { .. } => "EventRaised",
            EventKind::EventSent { .. } => "EventSent",
            EventKind::EntityCalled(_) => "EntityCalled",
            EventKind::EntitySignalled(_) => "EntitySignalled",
            EventKind::EntityLockRequested { .. } => "EntityLockRequested",
            EventKind::EntityUnlocked { .. } => "EntityUnlocked",
            EventKind::EntityResponded { .. } => "EntityResponded",
            EventKind::EntityLockGranted { .. } => "EntityLockGranted",
            EventKind::ExecutionSuspended { .. } => "ExecutionSuspended",
            EventKind::ExecutionResumed { .. } => "ExecutionResumed",
            EventKind::ExecutionTerminated { .. } => "ExecutionTerminated",
            EventKind::ExecutionCompleted { .. } => "ExecutionCompleted",
            EventKind::ContinuedAsNew { .. } => "ContinuedAsNew",
            EventKind::ExecutionUpgraded { .. } => "ExecutionUpgraded",
        }
    }

    /// Whether the event records what the code decided in its turn (an action it took, or
    /// how its execution ended), rather than a message fed to it.
    pub fn is_decision(&self) -> bool {
        matches!(
            self,
            EventKind::TaskScheduled { .. }
                | EventKind::TimerCreated { .. }
                | EventKind::TimerCancelled { .. }
                | EventKind::SubOrchestrationCreated { .. }
                | EventKind::EventSent { .. }
                | EventKind::EntityCalled(_)
                | EventKind::EntitySignalled(_)
                | EventKind::EntityLockRequested { .. }
                | EventKind::EntityUnlocked { .. }
                | EventKind::ExecutionCompleted { .. }
                | EventKind::ContinuedAsNew { .. }
        )
    }

    /// Whether the event records something about the host's handling of the instance that
    /// the code has no part in: it stays in the history and is never fed to the guest, so a
    /// replay is the same with or without it.
    pub fn is_host_only(&self) -> bool {
        matches!(self, EventKind::ExecutionUpgraded { .. })
    }
}

/// One entry of an orchestration's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEvent {
    /// The sequence id of the action that recorded this event (`TaskScheduled`,
    /// `TimerCreated`, `SubOrchestrationCreated`, `EventSent`, the entity requests); `None`
    /// for every other event. (Histories written before this was so hold positions there.)
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event_id: Option<u32>,
    /// When the host recorded it: the time of the turn that appended it, ms since the epoch.
    pub timestamp: Timestamp,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an orchestrator decided during a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "PascalCase")]
pub enum ActionKind {
    /// Run an activity; recorded as `TaskScheduled`.
    ScheduleActivity {
        /// The activity's name.
        name: String,
        /// The activity's input, JSON text.
        input: Json,
    },
    /// Start a durable timer; recorded as `TimerCreated`.
    #[serde(rename_all = "camelCase")]
    StartTimer {
        /// When the timer fires, ms since the epoch.
        fire_at: Timestamp,
    },
    /// Cancel a timer; recorded as `TimerCancelled` while the timer is open, else a no-op.
    #[serde(rename_all = "camelCase")]
    CancelTimer {
        /// The sequence id of the `StartTimer` to cancel.
        timer_id: u32,
    },
    /// Start a sub-orchestration; recorded as `SubOrchestrationCreated`.
    #[serde(rename_all = "camelCase")]
    StartSubOrchestration {
        /// The child's orchestrator name.
        name: String,
        /// The child instance's id; empty: the host derives `<parent id>:<sequence id>`.
        instance_id: String,
        /// The child's input, JSON text.
        input: Json,
    },
    /// Raise an event on another instance; recorded as `EventSent`.
    #[serde(rename_all = "camelCase")]
    SendEvent {
        /// The target instance's id.
        instance_id: String,
        /// The event's name.
        name: String,
        /// The event's data, JSON text.
        input: Json,
    },
    /// Call an entity operation and wait for its answer; recorded as `EntityCalled`.
    CallEntity(EntityOperation),
    /// Send an entity a one-way operation; recorded as `EntitySignalled`.
    SignalEntity(EntityOperation),
    /// Enter a critical section on these entities; recorded as `EntityLockRequested`.
    LockEntities {
        /// The entities to lock, sorted and without duplicates.
        entities: Vec<EntityId>,
    },
    /// Leave the critical section; recorded as `EntityUnlocked`.
    UnlockEntities {
        /// The entities to release.
        entities: Vec<EntityId>,
    },
    /// Set or clear the instance's custom status; not recorded in the history.
    SetCustomStatus {
        /// The new custom status, JSON text; `None` clears it.
        status: Option<Json>,
    },
    /// The orchestration succeeded; recorded as `ExecutionCompleted`.
    Complete {
        /// Its output, JSON text.
        result: Json,
    },
    /// The orchestration failed; recorded as `ExecutionCompleted`.
    Fail {
        /// Why it failed.
        failure: Failure,
    },
    /// End this execution and start a new one of the same instance; recorded as
    /// `ContinuedAsNew`.
    #[serde(rename_all = "camelCase")]
    ContinueAsNew {
        /// The new execution's input, JSON text.
        input: Json,
        /// Whether `carried_events` are delivered to the new execution (else they are
        /// dropped).
        preserve_unprocessed_events: bool,
        /// Events the code received but did not consume, for the next
        /// execution.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        carried_events: Vec<CarriedEvent>,
    },
}

/// An external event carried into the next execution by continue-as-new.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedEvent {
    /// The event's name.
    pub name: String,
    /// The event's data, JSON text.
    pub input: Json,
}

/// One decision of an orchestrator, as a step returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// The sequence id, for actions that start work (activities, timers, sub-orchestrations,
    /// events sent, entity requests); 0 and ignored for the others.
    pub id: u32,
    /// What was decided.
    #[serde(flatten)]
    pub kind: ActionKind,
}

/// The lifecycle state of an orchestration instance. The names are Durable
/// Functions' `runtimeStatus` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    /// Created; no turn has run yet.
    Pending,
    /// Started and not finished (continue-as-new keeps an instance `Running`).
    Running,
    /// Finished with an output.
    Completed,
    /// A Durable Functions status this host never sets (continue-as-new stays `Running`);
    /// filters may still name it.
    ContinuedAsNew,
    /// Finished with a failure (the guest's, or the host's: a trap, a nondeterminism...).
    Failed,
    /// A Durable Functions status this host never sets; filters may still name it, and it
    /// counts as finished.
    Canceled,
    /// Ended by a client's terminate request.
    Terminated,
    /// Suspended by a client: its messages wait in the inbox until it resumes.
    Suspended,
}

impl RuntimeStatus {
    /// Every status, in declaration order.
    pub const ALL: [RuntimeStatus; 8] = [
        RuntimeStatus::Pending,
        RuntimeStatus::Running,
        RuntimeStatus::Completed,
        RuntimeStatus::ContinuedAsNew,
        RuntimeStatus::Failed,
        RuntimeStatus::Canceled,
        RuntimeStatus::Terminated,
        RuntimeStatus::Suspended,
    ];

    /// The status's name (`Running`), as stored, filtered on and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            RuntimeStatus::Pending => "Pending",
            RuntimeStatus::Running => "Running",
            RuntimeStatus::Completed => "Completed",
            RuntimeStatus::ContinuedAsNew => "ContinuedAsNew",
            RuntimeStatus::Failed => "Failed",
            RuntimeStatus::Canceled => "Canceled",
            RuntimeStatus::Terminated => "Terminated",
            RuntimeStatus::Suspended => "Suspended",
        }
    }

    /// Parses a status name, ignoring ASCII case.
    pub fn parse(s: &str) -> Option<RuntimeStatus> {
        RuntimeStatus::ALL
            .into_iter()
            .find(|status| status.as_str().eq_ignore_ascii_case(s))
    }

    /// True once the instance can make no more progress.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RuntimeStatus::Completed
                | RuntimeStatus::Failed
                | RuntimeStatus::Canceled
                | RuntimeStatus::Terminated
        )
    }
}

impl fmt::Display for RuntimeStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
