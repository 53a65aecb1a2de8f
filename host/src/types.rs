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
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
}

/// A structured failure, kept typed from guest to caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Failure {
    #[serde(rename = "type")]
    pub error_type: String,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Json>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    #[serde(default)]
    pub non_retriable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<FailureCause>,
}

impl Failure {
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

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct EntityId {
    pub name: String,
    pub key: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParentInstance {
    pub instance_id: String,
    pub task_id: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityOperation {
    pub entity: EntityId,
    pub operation: String,
    pub input: Json,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduled_at: Option<Timestamp>,
}

/// One operation of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityOperationRequest {
    pub name: String,
    pub input: Json,
}

/// A message an operation sends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntityEffect {
    Signal {
        entity: EntityId,
        operation: String,
        input: Json,
        scheduled_at: Option<Timestamp>,
    },
    StartOrchestration {
        name: String,
        instance_id: String,
        input: Json,
    },
}

/// One operation's outcome; a failed operation's effects are already dropped by the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityOperationOutcome {
    pub result: Result<Json, Failure>,
    pub effects: Vec<EntityEffect>,
}

/// What happened, as recorded in an orchestration's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "PascalCase")]
pub enum EventKind {
    #[serde(rename_all = "camelCase")]
    ExecutionStarted {
        name: String,
        instance_id: String,
        execution_id: String,
        input: Json,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        parent: Option<ParentInstance>,
    },
    OrchestratorStarted,
    TaskScheduled {
        name: String,
        input: Json,
    },
    #[serde(rename_all = "camelCase")]
    TaskCompleted {
        task_id: u32,
        result: Json,
    },
    #[serde(rename_all = "camelCase")]
    TaskFailed {
        task_id: u32,
        failure: Failure,
    },
    #[serde(rename_all = "camelCase")]
    TimerCreated {
        fire_at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    TimerFired {
        timer_id: u32,
        fire_at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    TimerCancelled {
        timer_id: u32,
    },
    #[serde(rename_all = "camelCase")]
    SubOrchestrationCreated {
        name: String,
        instance_id: String,
        input: Json,
    },
    #[serde(rename_all = "camelCase")]
    SubOrchestrationCompleted {
        task_id: u32,
        result: Json,
    },
    #[serde(rename_all = "camelCase")]
    SubOrchestrationFailed {
        task_id: u32,
        failure: Failure,
    },
    EventRaised {
        name: String,
        input: Json,
    },
    #[serde(rename_all = "camelCase")]
    EventSent {
        instance_id: String,
        name: String,
        input: Json,
    },
    EntityCalled(EntityOperation),
    EntitySignalled(EntityOperation),
    EntityLockRequested {
        entities: Vec<EntityId>,
    },
    EntityUnlocked {
        entities: Vec<EntityId>,
    },
    #[serde(rename_all = "camelCase")]
    EntityResponded {
        task_id: u32,
        result: Result<Json, Failure>,
    },
    #[serde(rename_all = "camelCase")]
    EntityLockGranted {
        task_id: u32,
    },
    ExecutionSuspended {
        reason: Option<String>,
    },
    ExecutionResumed {
        reason: Option<String>,
    },
    ExecutionTerminated {
        reason: Option<String>,
    },
    ExecutionCompleted {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        result: Option<Json>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        failure: Option<Failure>,
    },
    ContinuedAsNew {
        input: Json,
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
        }
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
    pub timestamp: Timestamp,
    #[serde(flatten)]
    pub kind: EventKind,
}

/// What an orchestrator decided during a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "PascalCase")]
pub enum ActionKind {
    ScheduleActivity {
        name: String,
        input: Json,
    },
    #[serde(rename_all = "camelCase")]
    StartTimer {
        fire_at: Timestamp,
    },
    #[serde(rename_all = "camelCase")]
    CancelTimer {
        timer_id: u32,
    },
    #[serde(rename_all = "camelCase")]
    StartSubOrchestration {
        name: String,
        instance_id: String,
        input: Json,
    },
    #[serde(rename_all = "camelCase")]
    SendEvent {
        instance_id: String,
        name: String,
        input: Json,
    },
    CallEntity(EntityOperation),
    SignalEntity(EntityOperation),
    LockEntities {
        entities: Vec<EntityId>,
    },
    UnlockEntities {
        entities: Vec<EntityId>,
    },
    SetCustomStatus {
        status: Option<Json>,
    },
    Complete {
        result: Json,
    },
    Fail {
        failure: Failure,
    },
    #[serde(rename_all = "camelCase")]
    ContinueAsNew {
        input: Json,
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
    pub name: String,
    pub input: Json,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    pub id: u32,
    #[serde(flatten)]
    pub kind: ActionKind,
}

/// The lifecycle state of an orchestration instance. The names are Durable
/// Functions' `runtimeStatus` strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RuntimeStatus {
    Pending,
    Running,
    Completed,
    ContinuedAsNew,
    Failed,
    Canceled,
    Terminated,
    Suspended,
}

impl RuntimeStatus {
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
