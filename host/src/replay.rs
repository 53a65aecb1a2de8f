//! Replay bookkeeping, as a pure function of history and actions.
//!
//! The guest SDK runs the user's code; this module is the host's side of the
//! replay contract (`docs/replay.md`). It knows neither wasmtime nor SQL:
//!
//! 1. [`ReplayState::from_history`] folds a committed history into what the
//!    host must remember: which work each sequence id scheduled, which timers
//!    are still open, which entities a critical section holds.
//! 2. While a fresh guest is fed the history again ([`split_turns`] gives the
//!    turns), [`ReplayState::check_replayed`] compares every action it
//!    decides with the recorded event at the same sequence id, and
//!    [`ReplayState::finish_replay`] checks it decided all of them.
//! 3. For a new turn, [`ReplayState::begin_turn`] numbers the new events and
//!    [`ReplayState::finish_turn`] turns the guest's new actions into a
//!    [`TurnPlan`]: the history to append and the work to enqueue, all of
//!    which storage commits in one transaction ([`crate::plan::turn`] turns it
//!    into the commit).
//!
//! The one loop that feeds a fresh guest a whole history with these checks is
//! [`crate::engine::cold_replay`].

use crate::types::{
    Action, ActionKind, CarriedEvent, EntityId, EventKind, Failure, HistoryEvent, Json, Timestamp,
    failure_types, is_reserved_operation,
};
use std::collections::BTreeMap;
use std::fmt;

/// The kind and name of the work a sequence id scheduled: what determinism
/// is checked on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scheduled {
    /// An activity, by name.
    Activity(String),
    /// A timer (its fire time is not compared).
    Timer,
    /// A sub-orchestration, by orchestrator name.
    SubOrchestration(String),
    /// An event sent to another instance.
    EventSent {
        /// The target instance's id.
        instance_id: String,
        /// The event's name.
        name: String,
    },
    /// A call to an entity operation.
    EntityCall {
        /// The entity called.
        entity: EntityId,
        /// The operation's name.
        operation: String,
    },
    /// A one-way operation sent to an entity.
    EntitySignal {
        /// The entity signalled.
        entity: EntityId,
        /// The operation's name.
        operation: String,
    },
    /// A lock on these entities for a critical section.
    EntityLock(Vec<EntityId>),
}

impl fmt::Display for Scheduled {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scheduled::Activity(name) => write!(f, "activity `{name}`"),
            Scheduled::Timer => write!(f, "a timer"),
            Scheduled::SubOrchestration(name) => write!(f, "sub-orchestration `{name}`"),
            Scheduled::EventSent { instance_id, name } => {
                write!(f, "event `{name}` to `{instance_id}`")
            }
            Scheduled::EntityCall { entity, operation } => {
                write!(
                    f,
                    "call `{operation}` on entity `{}@{}`",
                    entity.name, entity.key
                )
            }
            Scheduled::EntitySignal { entity, operation } => {
                write!(
                    f,
                    "signal `{operation}` to entity `{}@{}`",
                    entity.name, entity.key
                )
            }
            Scheduled::EntityLock(entities) => write!(f, "a lock on {} entities", entities.len()),
        }
    }
}

impl Scheduled {
    /// The scheduled work an action starts, if it starts any.
    pub fn of_action(kind: &ActionKind) -> Option<Scheduled> {
        Some(match kind {
            ActionKind::ScheduleActivity { name, .. } => Scheduled::Activity(name.clone()),
            ActionKind::StartTimer { .. } => Scheduled::Timer,
            ActionKind::StartSubOrchestration { name, .. } => {
                Scheduled::SubOrchestration(name.clone())
            }
            ActionKind::SendEvent {
                instance_id, name, ..
            } => Scheduled::EventSent {
                instance_id: instance_id.clone(),
                name: name.clone(),
            },
            ActionKind::CallEntity(op) => Scheduled::EntityCall {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
            },
            ActionKind::SignalEntity(op) => Scheduled::EntitySignal {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
            },
            ActionKind::LockEntities { entities } => Scheduled::EntityLock(entities.clone()),
            _ => return None,
        })
    }

    /// The scheduled work a history event records, if it records any.
    pub fn of_event(kind: &EventKind) -> Option<Scheduled> {
        Some(match kind {
            EventKind::TaskScheduled { name, .. } => Scheduled::Activity(name.clone()),
            EventKind::TimerCreated { .. } => Scheduled::Timer,
            EventKind::SubOrchestrationCreated { name, .. } => {
                Scheduled::SubOrchestration(name.clone())
            }
            EventKind::EventSent {
                instance_id, name, ..
            } => Scheduled::EventSent {
                instance_id: instance_id.clone(),
                name: name.clone(),
            },
            EventKind::EntityCalled(op) => Scheduled::EntityCall {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
            },
            EventKind::EntitySignalled(op) => Scheduled::EntitySignal {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
            },
            EventKind::EntityLockRequested { entities } => Scheduled::EntityLock(entities.clone()),
            _ => return None,
        })
    }
}

/// The code and the history disagree: the instance must fail.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct NonDeterminism(pub String);

impl NonDeterminism {
    /// The non-retriable `NonDeterminism` failure the instance fails with, with a hint in
    /// its details.
    pub fn into_failure(self) -> Failure {
        let mut failure = Failure::fatal(failure_types::NON_DETERMINISM, self.0);
        failure.details = Some(
            serde_json::json!({
                "hint": "the orchestrator's code changed in a way that does not match its recorded history; \
                         deploy the change as a new component (running instances stay pinned to the old one)"
            })
            .to_string(),
        );
        failure
    }
}

/// Work requested by a turn, to be enqueued with its commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActivityRequest {
    /// The sequence id of its `TaskScheduled`.
    pub task_id: u32,
    /// The activity's name.
    pub name: String,
    /// The activity's input, JSON text.
    pub input: Json,
}

/// A timer a turn started; its fire message is enqueued with the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimerRequest {
    /// The sequence id of its `TimerCreated`.
    pub timer_id: u32,
    /// When it fires, ms since the epoch.
    pub fire_at: Timestamp,
}

/// A sub-orchestration a turn started, to be created with the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubOrchestrationRequest {
    /// The parent's sequence id of its `SubOrchestrationCreated`.
    pub task_id: u32,
    /// The child's orchestrator name.
    pub name: String,
    /// The child instance's id, as the action has it (the engine fills in an empty one
    /// before planning).
    pub instance_id: String,
    /// The child's input, JSON text.
    pub input: Json,
}

/// An event a turn sent to another instance, enqueued with the commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRequest {
    /// The target instance's id.
    pub instance_id: String,
    /// The event's name.
    pub name: String,
    /// The event's data, JSON text.
    pub input: Json,
}

/// How the execution ended, if it did this turn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The orchestrator completed with this output, JSON text.
    Completed(Json),
    /// The orchestrator failed with this failure.
    Failed(Failure),
    /// The orchestrator continued as new.
    ContinuedAsNew {
        /// The next execution's input, JSON text.
        input: Json,
        /// Events to deliver to the next execution (empty unless the code
        /// asked to preserve unprocessed events).
        carried_events: Vec<CarriedEvent>,
    },
}

/// Everything one turn changes; storage commits it in one transaction.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TurnPlan {
    /// Events to append to the history, in order.
    pub new_history: Vec<HistoryEvent>,
    /// Activity tasks to queue.
    pub activities: Vec<ActivityRequest>,
    /// Timers to start (their fire messages to enqueue).
    pub timers: Vec<TimerRequest>,
    /// Timers whose pending fire messages must be deleted.
    pub cancelled_timers: Vec<u32>,
    /// Sub-orchestrations to create.
    pub sub_orchestrations: Vec<SubOrchestrationRequest>,
    /// Events to raise on other instances.
    pub events_sent: Vec<EventRequest>,
    /// `Some` when the turn set or cleared the custom status.
    pub custom_status: Option<Option<Json>>,
    /// How the execution ended, if it did this turn.
    pub outcome: Option<Outcome>,
    /// The execution's version (from its `ExecutionStarted`): its sub-orchestrations and its
    /// next execution after a continue-as-new run as it too.
    pub version: Option<String>,
    /// The execution's trace (its caller's `traceparent`, from its `ExecutionStarted`): its
    /// activities and sub-orchestrations are traced as its children.
    pub trace: Option<String>,
}

/// What the host remembers about an execution's history between turns.
#[derive(Debug, Clone, Default)]
pub struct ReplayState {
    /// Indexed by sequence id.
    scheduled: Vec<Scheduled>,
    open_timers: BTreeMap<u32, Timestamp>,
    /// The entities held in a critical section (locked and not yet unlocked).
    held_locks: Option<Vec<EntityId>>,
    history_len: u32,
    /// One past the highest sequence id the live guest has decided.
    decided: u32,
    finished: bool,
    version: Option<String>,
    trace: Option<String>,
    /// When the execution's `ExecutionStarted` was recorded, ms since the epoch.
    started_at: Timestamp,
}

impl ReplayState {
    /// The state of an empty history.
    pub fn new() -> Self {
        ReplayState::default()
    }

    /// Folds a committed history.
    pub fn from_history(history: &[HistoryEvent]) -> Self {
        let mut state = ReplayState::new();
        state.extend(history);
        state
    }

    /// Folds the next events of a committed history, in order: after `from_history(a)` and
    /// `extend(b)` the state is that of `a` followed by `b`.
    pub fn extend(&mut self, events: &[HistoryEvent]) {
        for event in events {
            self.observe(event);
        }
    }

    /// Number of events in the committed history.
    pub fn history_len(&self) -> u32 {
        self.history_len
    }

    /// Number of sequence ids the history has scheduled.
    pub fn scheduled_len(&self) -> u32 {
        self.scheduled.len() as u32
    }

    /// True once the history holds a completion, failure or continue-as-new.
    pub fn is_finished(&self) -> bool {
        self.finished
    }

    /// Timers created and not yet fired or cancelled.
    pub fn open_timers(&self) -> impl Iterator<Item = u32> + '_ {
        self.open_timers.keys().copied()
    }

    /// The execution's caller's `traceparent`, from its `ExecutionStarted`.
    pub fn trace(&self) -> Option<&str> {
        self.trace.as_deref()
    }

    /// When the execution started: its `ExecutionStarted`'s time, ms since the epoch.
    pub fn started_at(&self) -> Timestamp {
        self.started_at
    }

    /// The entities the execution holds in a critical section: requested with
    /// `EntityLockRequested` and not yet released with `EntityUnlocked`.
    pub fn held_locks(&self) -> Option<&[EntityId]> {
        self.held_locks.as_deref()
    }

    fn observe(&mut self, event: &HistoryEvent) {
        self.history_len += 1;
        let sequence_id = event.event_id.unwrap_or(self.scheduled.len() as u32);
        if let Some(scheduled) = Scheduled::of_event(&event.kind) {
            // Scheduling events carry their sequence id, which is dense.
            let id = sequence_id as usize;
            if id >= self.scheduled.len() {
                self.scheduled.resize(id + 1, Scheduled::Timer);
            }
            self.scheduled[id] = scheduled;
        }
        match &event.kind {
            EventKind::TimerCreated { fire_at } => {
                self.open_timers.insert(sequence_id, *fire_at);
            }
            EventKind::TimerFired { timer_id, .. } | EventKind::TimerCancelled { timer_id } => {
                self.open_timers.remove(timer_id);
            }
            EventKind::EntityLockRequested { entities } => {
                self.held_locks = Some(entities.clone());
            }
            EventKind::EntityUnlocked { .. } => self.held_locks = None,
            EventKind::ExecutionStarted { version, trace, .. } => {
                self.version = version.clone();
                self.trace = trace.clone();
                self.started_at = event.timestamp;
            }
            EventKind::ExecutionCompleted { .. }
            | EventKind::ContinuedAsNew { .. }
            | EventKind::ExecutionTerminated { .. } => self.finished = true,
            _ => {}
        }
    }

    /// Checks the actions a guest decided while being fed committed history.
    pub fn check_replayed(&mut self, actions: &[Action]) -> Result<(), NonDeterminism> {
        for action in actions {
            let Some(decided) = Scheduled::of_action(&action.kind) else {
                continue;
            };
            match self.scheduled.get(action.id as usize) {
                Some(recorded) if *recorded == decided => {}
                Some(recorded) => {
                    return Err(NonDeterminism(format!(
                        "step {}: code scheduled {decided}, history has {recorded}",
                        action.id
                    )));
                }
                None => {
                    return Err(NonDeterminism(format!(
                        "step {}: code scheduled {decided}, history has nothing at this step \
                         (the recorded run scheduled {} steps)",
                        action.id,
                        self.scheduled.len()
                    )));
                }
            }
            self.decided = self.decided.max(action.id + 1);
        }
        Ok(())
    }

    /// After a fresh guest has been fed the whole history: it must have
    /// decided every step the history recorded.
    pub fn finish_replay(&self) -> Result<(), NonDeterminism> {
        match self.scheduled.get(self.decided as usize) {
            Some(recorded) => Err(NonDeterminism(format!(
                "step {}: history has {recorded}, code did not schedule it",
                self.decided
            ))),
            None => Ok(()),
        }
    }

    /// The events of a new turn: an `OrchestratorStarted` at `now` followed by the
    /// delivered messages.
    pub fn begin_turn(&self, now: Timestamp, messages: Vec<EventKind>) -> Vec<HistoryEvent> {
        std::iter::once(EventKind::OrchestratorStarted)
            .chain(messages)
            .map(|kind| HistoryEvent {
                event_id: None,
                timestamp: now,
                kind,
            })
            .collect()
    }

    /// Turns the actions a guest decided on a new turn into the plan to
    /// commit, and advances the state as if that plan were committed.
    pub fn finish_turn(
        &mut self,
        turn_events: Vec<HistoryEvent>,
        actions: &[Action],
        now: Timestamp,
    ) -> Result<TurnPlan, NonDeterminism> {
        let mut plan = TurnPlan::default();
        for event in turn_events {
            self.observe(&event);
            plan.new_history.push(event);
        }
        plan.version = self.version.clone();
        plan.trace = self.trace.clone();
        for action in actions {
            if plan.outcome.is_some() {
                break; // nothing after completion counts
            }
            if let Some(decided) = Scheduled::of_action(&action.kind) {
                let id = action.id as usize;
                if id < self.scheduled.len() {
                    // Already recorded (a guest re-deciding old steps).
                    if self.scheduled[id] != decided {
                        return Err(NonDeterminism(format!(
                            "step {id}: code scheduled {decided}, history has {}",
                            self.scheduled[id]
                        )));
                    }
                    continue;
                }
                if id != self.scheduled.len() {
                    return Err(NonDeterminism(format!(
                        "step {id}: code skipped sequence ids (expected step {})",
                        self.scheduled.len()
                    )));
                }
                self.decided = self.decided.max(action.id + 1);
            }
            // A reserved entity operation would break the lock protocol: it ends the execution.
            let refused;
            let kind = match &action.kind {
                ActionKind::CallEntity(op) | ActionKind::SignalEntity(op)
                    if is_reserved_operation(&op.operation) =>
                {
                    let message = format!(
                        "step {}: entity operation names starting with `$` are reserved (`{}`)",
                        action.id, op.operation
                    );
                    refused = ActionKind::Fail {
                        failure: Failure::fatal(failure_types::INVALID_INPUT, message),
                    };
                    &refused
                }
                kind => kind,
            };
            let recorded = match kind {
                ActionKind::ScheduleActivity { name, input } => {
                    plan.activities.push(ActivityRequest {
                        task_id: action.id,
                        name: name.clone(),
                        input: input.clone(),
                    });
                    Some(EventKind::TaskScheduled {
                        name: name.clone(),
                        input: input.clone(),
                    })
                }
                ActionKind::StartTimer { fire_at } => {
                    plan.timers.push(TimerRequest {
                        timer_id: action.id,
                        fire_at: *fire_at,
                    });
                    Some(EventKind::TimerCreated { fire_at: *fire_at })
                }
                ActionKind::CancelTimer { timer_id } => {
                    if self.open_timers.contains_key(timer_id) {
                        plan.cancelled_timers.push(*timer_id);
                        plan.timers.retain(|t| t.timer_id != *timer_id);
                        Some(EventKind::TimerCancelled {
                            timer_id: *timer_id,
                        })
                    } else {
                        None
                    }
                }
                ActionKind::StartSubOrchestration {
                    name,
                    instance_id,
                    input,
                } => {
                    plan.sub_orchestrations.push(SubOrchestrationRequest {
                        task_id: action.id,
                        name: name.clone(),
                        instance_id: instance_id.clone(),
                        input: input.clone(),
                    });
                    Some(EventKind::SubOrchestrationCreated {
                        name: name.clone(),
                        instance_id: instance_id.clone(),
                        input: input.clone(),
                    })
                }
                ActionKind::SendEvent {
                    instance_id,
                    name,
                    input,
                } => {
                    plan.events_sent.push(EventRequest {
                        instance_id: instance_id.clone(),
                        name: name.clone(),
                        input: input.clone(),
                    });
                    Some(EventKind::EventSent {
                        instance_id: instance_id.clone(),
                        name: name.clone(),
                        input: input.clone(),
                    })
                }
                ActionKind::CallEntity(op) => Some(EventKind::EntityCalled(op.clone())),
                ActionKind::SignalEntity(op) => Some(EventKind::EntitySignalled(op.clone())),
                ActionKind::LockEntities { entities } => Some(EventKind::EntityLockRequested {
                    entities: entities.clone(),
                }),
                ActionKind::UnlockEntities { entities } => Some(EventKind::EntityUnlocked {
                    entities: entities.clone(),
                }),
                ActionKind::SetCustomStatus { status } => {
                    plan.custom_status = Some(status.clone());
                    None
                }
                ActionKind::Complete { result } => {
                    plan.outcome = Some(Outcome::Completed(result.clone()));
                    Some(EventKind::ExecutionCompleted {
                        result: Some(result.clone()),
                        failure: None,
                    })
                }
                ActionKind::Fail { failure } => {
                    plan.outcome = Some(Outcome::Failed(failure.clone()));
                    Some(EventKind::ExecutionCompleted {
                        result: None,
                        failure: Some(failure.clone()),
                    })
                }
                ActionKind::ContinueAsNew {
                    input,
                    preserve_unprocessed_events,
                    carried_events,
                } => {
                    let carried_events = match preserve_unprocessed_events {
                        true => carried_events.clone(),
                        false => Vec::new(),
                    };
                    plan.outcome = Some(Outcome::ContinuedAsNew {
                        input: input.clone(),
                        carried_events,
                    });
                    Some(EventKind::ContinuedAsNew {
                        input: input.clone(),
                    })
                }
            };
            if let Some(kind) = recorded {
                let event = HistoryEvent {
                    event_id: Scheduled::of_event(&kind).map(|_| action.id),
                    timestamp: now,
                    kind,
                };
                self.observe(&event);
                plan.new_history.push(event);
            }
        }
        if plan.outcome.is_some() {
            // Outstanding timers die with the execution.
            let open: Vec<u32> = self.open_timers.keys().copied().collect();
            plan.cancelled_timers.extend(open);
            plan.timers.clear();
            self.open_timers.clear();
        }
        Ok(plan)
    }
}

/// Splits a committed history into turns: each starts at an
/// `OrchestratorStarted` event. Events before the first (none, normally)
/// form a turn of their own.
pub fn split_turns(history: &[HistoryEvent]) -> Vec<&[HistoryEvent]> {
    let mut turns = Vec::new();
    let mut start = 0;
    for (i, event) in history.iter().enumerate() {
        if i > start && matches!(event.kind, EventKind::OrchestratorStarted) {
            turns.push(&history[start..i]);
            start = i;
        }
    }
    if start < history.len() {
        turns.push(&history[start..]);
    }
    turns
}

/// The replay-safe time of a committed turn: the timestamp of its first event, the
/// `OrchestratorStarted` that opens it (a turn of events before the first
/// `OrchestratorStarted`, which the engine never writes, takes its first event's time).
pub fn turn_time(turn: &[HistoryEvent]) -> Timestamp {
    turn.first().map_or(0, |e| e.timestamp)
}

/// The instance and execution ids of the first `ExecutionStarted` among `events`.
pub fn execution_ids<'a>(
    mut events: impl Iterator<Item = &'a EventKind>,
) -> Option<(String, String)> {
    events.find_map(|kind| match kind {
        EventKind::ExecutionStarted {
            instance_id,
            execution_id,
            ..
        } => Some((instance_id.clone(), execution_id.clone())),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::EntityOperation;

    fn activity(id: u32, name: &str) -> Action {
        Action {
            id,
            kind: ActionKind::ScheduleActivity {
                name: name.into(),
                input: "null".into(),
            },
        }
    }

    fn started(name: &str) -> EventKind {
        EventKind::ExecutionStarted {
            name: name.into(),
            instance_id: "i".into(),
            execution_id: "e".into(),
            input: "null".into(),
            parent: None,
            version: None,
            trace: None,
        }
    }

    /// Runs turns against a state the way the dispatcher does and returns
    /// the committed history.
    fn run(turns: Vec<(Vec<EventKind>, Vec<Action>)>) -> (ReplayState, Vec<HistoryEvent>) {
        let mut state = ReplayState::new();
        let mut history = Vec::new();
        for (i, (messages, actions)) in turns.into_iter().enumerate() {
            let events = state.begin_turn(i as u64 * 10, messages);
            let plan = state.finish_turn(events, &actions, i as u64 * 10).unwrap();
            history.extend(plan.new_history);
        }
        (state, history)
    }

    #[test]
    fn a_turn_records_its_events_and_scheduled_work() {
        let (state, history) = run(vec![(vec![started("o")], vec![activity(0, "a")])]);
        let labels: Vec<_> = history.iter().map(|e| e.kind.label()).collect();
        assert_eq!(
            labels,
            ["OrchestratorStarted", "ExecutionStarted", "TaskScheduled"]
        );
        assert_eq!(
            history[2].event_id,
            Some(0),
            "scheduled events carry the sequence id"
        );
        assert_eq!(history[1].event_id, None, "others carry none");
        assert_eq!(state.history_len(), 3);
        assert_eq!(state.scheduled_len(), 1);
    }

    #[test]
    fn a_reserved_entity_operation_ends_the_execution_and_is_never_sent() {
        let lock = Action {
            id: 0,
            kind: ActionKind::SignalEntity(EntityOperation {
                entity: EntityId {
                    name: "counter".into(),
                    key: "k".into(),
                },
                operation: "$lock".into(),
                input: "null".into(),
                scheduled_at: None,
            }),
        };
        let (_, history) = run(vec![(vec![started("o")], vec![lock, activity(1, "a")])]);
        let labels: Vec<_> = history.iter().map(|e| e.kind.label()).collect();
        assert_eq!(
            labels,
            [
                "OrchestratorStarted",
                "ExecutionStarted",
                "ExecutionCompleted"
            ]
        );
        let EventKind::ExecutionCompleted {
            failure: Some(failure),
            ..
        } = &history[2].kind
        else {
            panic!("the execution fails: {history:#?}");
        };
        assert_eq!(failure.error_type, failure_types::INVALID_INPUT);
        assert!(failure.message.contains("`$lock`"), "{}", failure.message);
    }

    #[test]
    fn replay_accepts_the_same_decisions() {
        let (_, history) = run(vec![
            (vec![started("o")], vec![activity(0, "a")]),
            (
                vec![EventKind::TaskCompleted {
                    task_id: 0,
                    result: "1".into(),
                }],
                vec![activity(1, "b")],
            ),
        ]);
        let mut state = ReplayState::from_history(&history);
        assert_eq!(split_turns(&history).len(), 2);
        state.check_replayed(&[activity(0, "a")]).unwrap();
        state.check_replayed(&[activity(1, "b")]).unwrap();
        state.finish_replay().unwrap();
    }

    #[test]
    fn a_changed_activity_name_is_nondeterminism_naming_both_sides() {
        let (_, history) = run(vec![
            (vec![started("o")], vec![activity(0, "A")]),
            (
                vec![EventKind::TaskCompleted {
                    task_id: 0,
                    result: "1".into(),
                }],
                vec![activity(1, "A2")],
            ),
        ]);
        let mut state = ReplayState::from_history(&history);
        state.check_replayed(&[activity(0, "A")]).unwrap();
        let err = state.check_replayed(&[activity(1, "B")]).unwrap_err();
        assert_eq!(
            err.0,
            "step 1: code scheduled activity `B`, history has activity `A2`"
        );
        assert_eq!(
            err.into_failure().error_type,
            failure_types::NON_DETERMINISM
        );
    }

    #[test]
    fn a_timer_where_history_has_an_activity_is_nondeterminism() {
        let (_, history) = run(vec![(vec![started("o")], vec![activity(0, "A")])]);
        let mut state = ReplayState::from_history(&history);
        let timer = Action {
            id: 0,
            kind: ActionKind::StartTimer { fire_at: 5 },
        };
        let err = state.check_replayed(&[timer]).unwrap_err();
        assert_eq!(
            err.0,
            "step 0: code scheduled a timer, history has activity `A`"
        );
    }

    #[test]
    fn code_that_no_longer_schedules_a_recorded_step_is_nondeterminism() {
        let (_, history) = run(vec![(
            vec![started("o")],
            vec![activity(0, "A"), activity(1, "B")],
        )]);
        let mut state = ReplayState::from_history(&history);
        state.check_replayed(&[activity(0, "A")]).unwrap();
        let err = state.finish_replay().unwrap_err();
        assert_eq!(
            err.0,
            "step 1: history has activity `B`, code did not schedule it"
        );
    }

    #[test]
    fn extra_steps_while_replaying_are_nondeterminism() {
        let (_, history) = run(vec![(vec![started("o")], vec![activity(0, "A")])]);
        let mut state = ReplayState::from_history(&history);
        let err = state
            .check_replayed(&[activity(0, "A"), activity(1, "B")])
            .unwrap_err();
        assert!(
            err.0
                .starts_with("step 1: code scheduled activity `B`, history has nothing")
        );
    }

    #[test]
    fn completing_cancels_open_timers_and_ignores_later_actions() {
        let mut state = ReplayState::new();
        let events = state.begin_turn(0, vec![started("o")]);
        let timer = Action {
            id: 0,
            kind: ActionKind::StartTimer { fire_at: 100 },
        };
        let plan = state.finish_turn(events, &[timer], 0).unwrap();
        assert_eq!(
            plan.timers,
            [TimerRequest {
                timer_id: 0,
                fire_at: 100
            }]
        );

        let events = state.begin_turn(
            1,
            vec![EventKind::EventRaised {
                name: "go".into(),
                input: "true".into(),
            }],
        );
        let done = Action {
            id: 0,
            kind: ActionKind::Complete {
                result: "\"ok\"".into(),
            },
        };
        let plan = state
            .finish_turn(events, &[done, activity(1, "late")], 1)
            .unwrap();
        assert_eq!(plan.outcome, Some(Outcome::Completed("\"ok\"".into())));
        assert_eq!(plan.cancelled_timers, [0]);
        assert!(
            plan.activities.is_empty(),
            "actions after completion are dropped"
        );
        assert!(state.is_finished());
    }

    #[test]
    fn cancelling_a_fired_timer_records_nothing() {
        let mut state = ReplayState::new();
        let events = state.begin_turn(0, vec![started("o")]);
        let timer = Action {
            id: 0,
            kind: ActionKind::StartTimer { fire_at: 5 },
        };
        state.finish_turn(events, &[timer], 0).unwrap();
        let events = state.begin_turn(
            5,
            vec![EventKind::TimerFired {
                timer_id: 0,
                fire_at: 5,
            }],
        );
        let cancel = Action {
            id: 0,
            kind: ActionKind::CancelTimer { timer_id: 0 },
        };
        let plan = state.finish_turn(events, &[cancel], 5).unwrap();
        assert!(plan.cancelled_timers.is_empty());
        assert_eq!(plan.new_history.len(), 2);
    }

    #[test]
    fn custom_status_is_the_last_one_set() {
        let mut state = ReplayState::new();
        let events = state.begin_turn(0, vec![started("o")]);
        let set = |s: Option<&str>| Action {
            id: 0,
            kind: ActionKind::SetCustomStatus {
                status: s.map(str::to_owned),
            },
        };
        let plan = state
            .finish_turn(events, &[set(Some("1")), set(None)], 0)
            .unwrap();
        assert_eq!(plan.custom_status, Some(None));
    }
}
