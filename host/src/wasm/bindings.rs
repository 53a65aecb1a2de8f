//! The WIT bindings, generated once, and the conversions between their
//! types and the engine's domain types ([`crate::types`]).

use crate::types::{
    Action, ActionKind, CarriedEvent, EntityId, EntityOperation, EventKind, Failure, FailureCause,
    HistoryEvent, ParentInstance,
};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "durable-component",
    imports: { default: trappable },
    exports: { default: async },
});

use durable::core::orchestration_types as wit;
use durable::core::types as wit_types;

impl durable::core::types::Host for super::sandbox::GuestState {}
impl durable::core::orchestration_types::Host for super::sandbox::GuestState {}

pub use exports::durable::core::activity::ActivityContext;

impl From<wit_types::Failure> for Failure {
    fn from(f: wit_types::Failure) -> Self {
        Failure {
            error_type: f.error_type,
            message: f.message,
            details: f.details,
            stack: f.stack,
            non_retriable: f.non_retriable,
            inner: f
                .inner
                .into_iter()
                .map(|c| FailureCause {
                    error_type: c.error_type,
                    message: c.message,
                    details: c.details,
                })
                .collect(),
        }
    }
}

impl From<Failure> for wit_types::Failure {
    fn from(f: Failure) -> Self {
        wit_types::Failure {
            error_type: f.error_type,
            message: f.message,
            details: f.details,
            stack: f.stack,
            non_retriable: f.non_retriable,
            inner: f
                .inner
                .into_iter()
                .map(|c| wit_types::FailureCause {
                    error_type: c.error_type,
                    message: c.message,
                    details: c.details,
                })
                .collect(),
        }
    }
}

impl From<wit_types::EntityId> for EntityId {
    fn from(e: wit_types::EntityId) -> Self {
        EntityId {
            name: e.name,
            key: e.key,
        }
    }
}

impl From<EntityId> for wit_types::EntityId {
    fn from(e: EntityId) -> Self {
        wit_types::EntityId {
            name: e.name,
            key: e.key,
        }
    }
}

impl From<wit::EntityOperation> for EntityOperation {
    fn from(o: wit::EntityOperation) -> Self {
        EntityOperation {
            entity: o.entity.into(),
            operation: o.operation,
            input: o.input,
            scheduled_at: o.scheduled_at,
        }
    }
}

impl From<EntityOperation> for wit::EntityOperation {
    fn from(o: EntityOperation) -> Self {
        wit::EntityOperation {
            entity: o.entity.into(),
            operation: o.operation,
            input: o.input,
            scheduled_at: o.scheduled_at,
        }
    }
}

fn entities(list: Vec<EntityId>) -> Vec<wit_types::EntityId> {
    list.into_iter().map(Into::into).collect()
}

/// The event as the guest sees it; `None` for the events the guest is never fed
/// ([`EventKind::is_host_only`]).
pub fn wit_event(e: &HistoryEvent) -> Option<wit::HistoryEvent> {
    use wit::EventKind as W;
    let kind = match e.kind.clone() {
        EventKind::ExecutionStarted {
            name,
            instance_id,
            execution_id,
            input,
            parent,
            version: _,
            trace: _,
        } => W::ExecutionStarted(wit::ExecutionStarted {
            name,
            instance_id,
            execution_id,
            input,
            parent: parent.map(Into::into),
        }),
        EventKind::OrchestratorStarted => W::OrchestratorStarted,
        EventKind::TaskScheduled { name, input } => {
            W::TaskScheduled(wit::TaskScheduled { name, input })
        }
        EventKind::TaskCompleted { task_id, result } => {
            W::TaskCompleted(wit::TaskCompleted { task_id, result })
        }
        EventKind::TaskFailed { task_id, failure } => W::TaskFailed(wit::TaskFailed {
            task_id,
            failure: failure.into(),
        }),
        EventKind::TimerCreated { fire_at } => W::TimerCreated(wit::TimerCreated { fire_at }),
        EventKind::TimerFired { timer_id, fire_at } => {
            W::TimerFired(wit::TimerFired { timer_id, fire_at })
        }
        EventKind::TimerCancelled { timer_id } => {
            W::TimerCancelled(wit::TimerCancelled { timer_id })
        }
        EventKind::SubOrchestrationCreated {
            name,
            instance_id,
            input,
        } => W::SubOrchestrationCreated(wit::SubOrchestrationCreated {
            name,
            instance_id,
            input,
        }),
        EventKind::SubOrchestrationCompleted { task_id, result } => {
            W::SubOrchestrationCompleted(wit::SubOrchestrationCompleted { task_id, result })
        }
        EventKind::SubOrchestrationFailed { task_id, failure } => {
            W::SubOrchestrationFailed(wit::SubOrchestrationFailed {
                task_id,
                failure: failure.into(),
            })
        }
        EventKind::EventRaised { name, input } => W::EventRaised(wit::EventRaised { name, input }),
        EventKind::EventSent {
            instance_id,
            name,
            input,
        } => W::EventSent(wit::EventSent {
            instance_id,
            name,
            input,
        }),
        EventKind::EntityCalled(op) => W::EntityCalled(op.into()),
        EventKind::EntitySignalled(op) => W::EntitySignalled(op.into()),
        EventKind::EntityLockRequested { entities: list } => {
            W::EntityLockRequested(wit::EntityLock {
                entities: entities(list),
            })
        }
        EventKind::EntityUnlocked { entities: list } => W::EntityUnlocked(wit::EntityLock {
            entities: entities(list),
        }),
        EventKind::EntityResponded { task_id, result } => {
            W::EntityResponded(wit::EntityResponded {
                task_id,
                result: result.map_err(Into::into),
            })
        }
        EventKind::EntityLockGranted { task_id } => {
            W::EntityLockGranted(wit::EntityLockGranted { task_id })
        }
        EventKind::ExecutionSuspended { reason } => W::ExecutionSuspended(reason),
        EventKind::ExecutionResumed { reason } => W::ExecutionResumed(reason),
        EventKind::ExecutionTerminated { reason } => W::ExecutionTerminated(reason),
        EventKind::ExecutionCompleted { result, failure } => {
            W::ExecutionCompleted(wit::ExecutionCompleted {
                result,
                failure: failure.map(Into::into),
            })
        }
        EventKind::ContinuedAsNew { input } => W::ContinuedAsNew(input),
        EventKind::ExecutionUpgraded { .. } => return None,
    };
    Some(wit::HistoryEvent {
        event_id: e.event_id,
        timestamp: e.timestamp,
        kind,
    })
}

impl From<wit::Action> for Action {
    fn from(a: wit::Action) -> Self {
        use wit::ActionKind as W;
        let kind = match a.kind {
            W::ScheduleActivity(s) => ActionKind::ScheduleActivity {
                name: s.name,
                input: s.input,
            },
            W::StartTimer(t) => ActionKind::StartTimer { fire_at: t.fire_at },
            W::CancelTimer(timer_id) => ActionKind::CancelTimer { timer_id },
            W::StartSubOrchestration(s) => ActionKind::StartSubOrchestration {
                name: s.name,
                instance_id: s.instance_id,
                input: s.input,
            },
            W::SendEvent(s) => ActionKind::SendEvent {
                instance_id: s.instance_id,
                name: s.name,
                input: s.input,
            },
            W::CallEntity(op) => ActionKind::CallEntity(op.into()),
            W::SignalEntity(op) => ActionKind::SignalEntity(op.into()),
            W::LockEntities(lock) => ActionKind::LockEntities {
                entities: lock.entities.into_iter().map(Into::into).collect(),
            },
            W::UnlockEntities(lock) => ActionKind::UnlockEntities {
                entities: lock.entities.into_iter().map(Into::into).collect(),
            },
            W::SetCustomStatus(status) => ActionKind::SetCustomStatus { status },
            W::Complete(result) => ActionKind::Complete { result },
            W::Fail(failure) => ActionKind::Fail {
                failure: failure.into(),
            },
            W::ContinueAsNew(c) => ActionKind::ContinueAsNew {
                input: c.input,
                preserve_unprocessed_events: c.preserve_unprocessed_events,
                carried_events: c
                    .carried_events
                    .into_iter()
                    .map(|e| CarriedEvent {
                        name: e.name,
                        input: e.input,
                    })
                    .collect(),
            },
        };
        Action { id: a.id, kind }
    }
}

impl From<ParentInstance> for wit::ParentInstance {
    fn from(p: ParentInstance) -> Self {
        wit::ParentInstance {
            instance_id: p.instance_id,
            task_id: p.task_id,
        }
    }
}
