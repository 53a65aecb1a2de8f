//! Turning what one orchestration turn decided into the commit that records it: the history
//! to append, the activities to queue, the timers and messages to send, the instances to
//! create, the status to set. Also the commit of an execution the host ends itself (a guest
//! failure, nondeterminism, termination).

use super::entity::{entity_messages, unlock_messages};
use crate::builtin_http::HTTP_ACTIVITY;
use crate::replay::{Outcome, ReplayState, TurnPlan};
use crate::resolve::{Callees, FunctionKind};
use crate::store::{
    InstanceRecord, NewActivity, NewInstance, OrchestrationCommit, OutboundMessage,
};
use crate::telemetry::ExecutionTrace;
use crate::types::{
    Action, ActionKind, EventKind, Failure, HistoryEvent, ParentInstance, RuntimeStatus, Timestamp,
    failure_types, payload_too_large,
};

/// The locked instance a commit is for.
#[derive(Debug, Clone, Copy)]
pub struct Locked<'a> {
    /// The instance, as it was when locked.
    pub instance: &'a InstanceRecord,
    /// The token its lock is held with.
    pub lock_token: &'a str,
}

/// How an execution ends outside the guest's own decision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ending {
    /// The guest trapped, broke a limit, or its code no longer matches its history.
    Failed(Failure),
    /// A client terminated it, with this reason.
    Terminated(Option<String>),
}

/// A commit that consumes `consumed`, sets `status` and changes nothing else.
pub fn base_commit(
    locked: Locked<'_>,
    consumed: Vec<i64>,
    status: RuntimeStatus,
    now: Timestamp,
) -> OrchestrationCommit {
    let instance = locked.instance;
    OrchestrationCommit {
        instance_id: instance.instance_id.clone(),
        lock_token: locked.lock_token.to_owned(),
        execution_id: instance.execution_id.clone(),
        new_history: Vec::new(),
        consumed,
        status,
        output: instance.output.clone(),
        failure: instance.failure.clone(),
        custom_status: None,
        activities: Vec::new(),
        messages: Vec::new(),
        cancelled_timers: Vec::new(),
        logs: Vec::new(),
        new_execution: None,
        new_instances: Vec::new(),
        entity_messages: Vec::new(),
        now,
    }
}

/// Gives a sub-orchestration started without an explicit id a deterministic one derived
/// from its parent and sequence id: `<parent>:<sequence id>`.
fn name_sub_orchestrations(parent_id: &str, actions: &mut [Action]) {
    for action in actions {
        if let ActionKind::StartSubOrchestration { instance_id, .. } = &mut action.kind
            && instance_id.is_empty()
        {
            *instance_id = format!("{parent_id}:{}", action.id);
        }
    }
}

/// Checks and plans what a guest decided on a new turn (`events`, then `actions`): names the
/// sub-orchestrations it starts, folds the actions into `replay`, and refuses a payload over
/// `max_payload`. A failure here ends the execution; `replay` is then left as it was before the
/// turn, as [`ending_commit`] needs it.
pub fn decide_turn(
    replay: &mut ReplayState,
    instance_id: &str,
    events: Vec<HistoryEvent>,
    mut actions: Vec<Action>,
    max_payload: usize,
    now: Timestamp,
) -> Result<TurnPlan, Box<Failure>> {
    name_sub_orchestrations(instance_id, &mut actions);
    let before = replay.clone();
    let failure = match replay.finish_turn(events, &actions, now) {
        Ok(plan) => match oversized_payload(&plan, max_payload) {
            None => return Ok(plan),
            Some(failure) => failure,
        },
        Err(nd) => nd.into_failure(),
    };
    *replay = before;
    Err(Box::new(failure))
}

/// The names a turn calls, for [`Callees::needs_deployments`] (`call_http` runs in the
/// host, not in a component).
pub fn calls(plan: &TurnPlan) -> impl Iterator<Item = (FunctionKind, &str)> {
    let activities = plan
        .activities
        .iter()
        .filter(|a| a.name != HTTP_ACTIVITY)
        .map(|a| (FunctionKind::Activity, a.name.as_str()));
    let subs = plan
        .sub_orchestrations
        .iter()
        .map(|s| (FunctionKind::Orchestrator, s.name.as_str()));
    activities.chain(subs)
}

/// The first payload the guest produced in a turn that is larger than `limit`, as the
/// failure that ends the execution instead.
fn oversized_payload(plan: &TurnPlan, limit: usize) -> Option<Failure> {
    let produced = plan
        .new_history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskScheduled { name, input } => {
                Some((format!("the input of activity `{name}`"), input))
            }
            EventKind::SubOrchestrationCreated { name, input, .. } => {
                Some((format!("the input of sub-orchestration `{name}`"), input))
            }
            EventKind::EventSent { name, input, .. } => {
                Some((format!("the data of event `{name}`"), input))
            }
            EventKind::EntityCalled(op) | EventKind::EntitySignalled(op) => {
                let what = format!("the input of entity operation `{}`", op.operation);
                Some((what, &op.input))
            }
            EventKind::ExecutionCompleted {
                result: Some(result),
                ..
            } => Some(("the output".to_owned(), result)),
            EventKind::ContinuedAsNew { input } => {
                Some(("the continue-as-new input".to_owned(), input))
            }
            _ => None,
        });
    let status = plan
        .custom_status
        .iter()
        .flatten()
        .map(|status| ("the custom status".to_owned(), status));
    produced
        .chain(status)
        .find(|(_, payload)| payload.len() > limit)
        .map(|(what, payload)| payload_too_large(&what, payload.len(), limit))
}

/// The commit of a turn the guest decided. `callees` says where its calls run (a call no
/// component runs fails at once with the resolver's failure); `new_id` makes execution ids
/// for the sub-orchestrations it starts and for a continue-as-new.
pub fn plan_commit(
    locked: Locked<'_>,
    plan: TurnPlan,
    consumed: Vec<i64>,
    callees: &Callees<'_>,
    new_id: &mut dyn FnMut() -> String,
    now: Timestamp,
) -> OrchestrationCommit {
    let instance = locked.instance;
    let own = |event: EventKind, visible_at: Timestamp, timer_id: Option<u32>| OutboundMessage {
        instance_id: instance.instance_id.clone(),
        execution_id: Some(instance.execution_id.clone()),
        event,
        visible_at,
        timer_id,
    };
    let mut commit = base_commit(locked, consumed, RuntimeStatus::Running, now);
    commit.new_history = plan.new_history;
    commit.entity_messages = entity_messages(instance, &commit.new_history, now);
    commit.custom_status = plan.custom_status;
    commit.cancelled_timers = plan.cancelled_timers;
    for a in plan.activities {
        let digest = match a.name == HTTP_ACTIVITY {
            // Run by the host itself, not by a component.
            true => Ok(instance.digest.clone()),
            false => callees
                .resolve(FunctionKind::Activity, &a.name)
                .map_err(Failure::from),
        };
        match digest {
            Ok(digest) => commit.activities.push(NewActivity {
                task_id: a.task_id,
                name: a.name,
                input: a.input,
                digest,
                visible_at: now,
                trace: plan.trace.clone(),
            }),
            Err(failure) => commit.messages.push(own(
                EventKind::TaskFailed {
                    task_id: a.task_id,
                    failure,
                },
                now,
                None,
            )),
        }
    }
    for t in plan.timers {
        let fired = EventKind::TimerFired {
            timer_id: t.timer_id,
            fire_at: t.fire_at,
        };
        commit
            .messages
            .push(own(fired, t.fire_at, Some(t.timer_id)));
    }
    commit
        .messages
        .extend(plan.events_sent.into_iter().map(|e| OutboundMessage {
            instance_id: e.instance_id,
            execution_id: None,
            event: EventKind::EventRaised {
                name: e.name,
                input: e.input,
            },
            visible_at: now,
            timer_id: None,
        }));
    let version = plan.version;
    let own_trace = ExecutionTrace {
        instance_id: &instance.instance_id,
        execution_id: &instance.execution_id,
        caller: plan.trace.as_deref(),
    };
    for sub in plan.sub_orchestrations {
        match callees
            .resolve(FunctionKind::Orchestrator, &sub.name)
            .map_err(Failure::from)
        {
            Ok(digest) => commit.new_instances.push(NewInstance {
                instance_id: sub.instance_id,
                name: sub.name,
                execution_id: new_id(),
                digest,
                input: sub.input,
                parent: Some(ParentInstance {
                    instance_id: instance.instance_id.clone(),
                    task_id: sub.task_id,
                    execution_id: Some(instance.execution_id.clone()),
                }),
                created_at: now,
                version: version.clone(),
                trace: Some(own_trace.child_traceparent()),
            }),
            Err(failure) => commit.messages.push(own(
                EventKind::SubOrchestrationFailed {
                    task_id: sub.task_id,
                    failure,
                },
                now,
                None,
            )),
        }
    }
    match plan.outcome {
        None => {}
        Some(Outcome::Completed(result)) => {
            commit.status = RuntimeStatus::Completed;
            commit.messages.extend(notify_parent(
                instance,
                EventKind::SubOrchestrationCompleted {
                    task_id: 0,
                    result: result.clone(),
                },
                now,
            ));
            commit.output = Some(result);
        }
        Some(Outcome::Failed(failure)) => {
            commit.status = RuntimeStatus::Failed;
            commit.messages.extend(notify_parent(
                instance,
                EventKind::SubOrchestrationFailed {
                    task_id: 0,
                    failure: failure.clone(),
                },
                now,
            ));
            commit.failure = Some(failure);
        }
        Some(Outcome::ContinuedAsNew {
            input,
            carried_events,
        }) => {
            let execution_id = new_id();
            commit
                .messages
                .extend(carried_events.into_iter().map(|e| OutboundMessage {
                    instance_id: instance.instance_id.clone(),
                    execution_id: Some(execution_id.clone()),
                    event: EventKind::EventRaised {
                        name: e.name,
                        input: e.input,
                    },
                    visible_at: now,
                    timer_id: None,
                }));
            commit.new_execution = Some(EventKind::ExecutionStarted {
                name: instance.name.clone(),
                instance_id: instance.instance_id.clone(),
                execution_id,
                input,
                parent: instance.parent.clone(),
                version,
                trace: plan.trace,
            });
        }
    }
    commit
}

/// The commit of an execution the host ends: `events` (the turn's numbered events, not yet
/// in `replay`) and the ending event are recorded, the parent is told, entities held in a
/// critical section are released and open timers cancelled.
pub fn ending_commit(
    locked: Locked<'_>,
    replay: &ReplayState,
    mut events: Vec<HistoryEvent>,
    consumed: Vec<i64>,
    ending: Ending,
    now: Timestamp,
) -> OrchestrationCommit {
    let instance = locked.instance;
    let (status, kind, output, failure) = match ending {
        Ending::Failed(failure) => (
            RuntimeStatus::Failed,
            EventKind::ExecutionCompleted {
                result: None,
                failure: Some(failure.clone()),
            },
            None,
            Some(failure),
        ),
        Ending::Terminated(reason) => {
            let output = serde_json::Value::String(reason.clone().unwrap_or_default());
            (
                RuntimeStatus::Terminated,
                EventKind::ExecutionTerminated { reason },
                Some(output.to_string()),
                None,
            )
        }
    };
    events.push(HistoryEvent {
        event_id: None,
        timestamp: now,
        kind,
    });
    let mut commit = base_commit(locked, consumed, status, now);
    let parent_failure = failure.clone().unwrap_or_else(|| {
        Failure::fatal(
            failure_types::TERMINATED,
            format!(
                "sub-orchestration `{}` was terminated",
                instance.instance_id
            ),
        )
    });
    commit.messages.extend(notify_parent(
        instance,
        EventKind::SubOrchestrationFailed {
            task_id: 0,
            failure: parent_failure,
        },
        now,
    ));
    if let Some(held) = replay.held_locks() {
        commit.entity_messages = unlock_messages(instance, held, now);
    }
    commit.new_history = events;
    commit.output = output;
    commit.failure = failure;
    commit.cancelled_timers = replay.open_timers().collect();
    commit
}

/// A finished sub-orchestration's message to the parent execution that started it
/// (`task_id` is filled in from the parent link); `None` for a top-level instance.
fn notify_parent(
    instance: &InstanceRecord,
    mut event: EventKind,
    now: Timestamp,
) -> Option<OutboundMessage> {
    let parent = instance.parent.as_ref()?;
    match &mut event {
        EventKind::SubOrchestrationCompleted { task_id, .. }
        | EventKind::SubOrchestrationFailed { task_id, .. } => *task_id = parent.task_id,
        _ => {}
    }
    Some(OutboundMessage {
        instance_id: parent.instance_id.clone(),
        execution_id: parent.execution_id.clone(),
        event,
        visible_at: now,
        timer_id: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::instance;
    use crate::replay::{ActivityRequest, SubOrchestrationRequest, TimerRequest};
    use crate::store::{Catalogue, ComponentRecord};
    use crate::types::{CarriedEvent, EntityId};

    const NOW: Timestamp = 100;

    #[test]
    fn a_payload_the_guest_produced_over_the_limit_is_named() {
        let event = |kind| HistoryEvent {
            event_id: None,
            timestamp: NOW,
            kind,
        };
        let mut plan = TurnPlan {
            new_history: vec![
                // Incoming data was checked where it came from.
                event(EventKind::EventRaised {
                    name: "big".into(),
                    input: "x".repeat(50),
                }),
                event(EventKind::TaskScheduled {
                    name: "a".into(),
                    input: "1".into(),
                }),
            ],
            ..TurnPlan::default()
        };
        assert_eq!(oversized_payload(&plan, 10), None);
        plan.custom_status = Some(Some("y".repeat(11)));
        let failure = oversized_payload(&plan, 10).expect("too large");
        assert_eq!(failure.error_type, failure_types::RESOURCE_LIMIT);
        assert_eq!(
            failure.message,
            "the custom status is 11 bytes, more than the payload limit of 10 bytes \
             (--max-payload-mb)"
        );
        plan.new_history.push(event(EventKind::TaskScheduled {
            name: "b".into(),
            input: "z".repeat(12),
        }));
        let failure = oversized_payload(&plan, 10).expect("too large");
        assert!(
            failure
                .message
                .starts_with("the input of activity `b` is 12 bytes")
        );
    }

    fn catalogue(activities: &[&str], orchestrators: &[&str]) -> Catalogue {
        Catalogue {
            orchestrators: orchestrators.iter().map(|s| s.to_string()).collect(),
            activities: activities.iter().map(|s| s.to_string()).collect(),
            entities: Vec::new(),
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("new-{n}")
        }
    }

    fn child_of(parent: &str, task_id: u32) -> InstanceRecord {
        InstanceRecord {
            parent: Some(ParentInstance {
                instance_id: parent.into(),
                task_id,
                execution_id: Some("parent-e".into()),
            }),
            ..instance(RuntimeStatus::Running)
        }
    }

    #[test]
    fn calls_run_where_they_resolve_and_unknown_ones_fail_at_once() {
        let running = instance(RuntimeStatus::Running);
        let own = catalogue(&["mine"], &["sub"]);
        let elsewhere = [ComponentRecord {
            digest: "sha256:other".into(),
            catalogue: catalogue(&["theirs"], &[]),
            deployed_at: 0,
            retired_at: None,
            version: None,
            app: None,
        }];
        let callees = Callees {
            caller_digest: &running.digest,
            caller: Some(&own),
            deployed: &elsewhere,
        };
        let activity = |task_id, name: &str| ActivityRequest {
            task_id,
            name: name.into(),
            input: "1".into(),
        };
        let plan = TurnPlan {
            activities: vec![
                activity(0, "mine"),
                activity(1, "theirs"),
                activity(2, HTTP_ACTIVITY),
                activity(3, "nobody"),
            ],
            sub_orchestrations: vec![
                SubOrchestrationRequest {
                    task_id: 4,
                    name: "sub".into(),
                    instance_id: "i:4".into(),
                    input: "null".into(),
                },
                SubOrchestrationRequest {
                    task_id: 5,
                    name: "missing".into(),
                    instance_id: "i:5".into(),
                    input: "null".into(),
                },
            ],
            timers: vec![TimerRequest {
                timer_id: 6,
                fire_at: 500,
            }],
            ..TurnPlan::default()
        };
        let names: Vec<_> = calls(&plan).map(|(_, n)| n).collect();
        assert_eq!(names, ["mine", "theirs", "nobody", "sub", "missing"]);
        let locked = Locked {
            instance: &running,
            lock_token: "t",
        };
        let commit = plan_commit(locked, plan, vec![7], &callees, &mut ids(), NOW);
        let queued: Vec<_> = commit
            .activities
            .iter()
            .map(|a| (a.task_id, a.digest.as_str()))
            .collect();
        assert_eq!(
            queued,
            [(0, "sha256:d"), (1, "sha256:other"), (2, "sha256:d")]
        );
        assert_eq!(commit.consumed, [7]);
        assert_eq!(commit.status, RuntimeStatus::Running);
        let failed: Vec<_> = commit
            .messages
            .iter()
            .map(|m| {
                (
                    m.instance_id.as_str(),
                    m.execution_id.as_deref(),
                    m.event.label(),
                )
            })
            .collect();
        assert_eq!(
            failed,
            [
                ("i", Some("e1"), "TaskFailed"),
                ("i", Some("e1"), "TimerFired"),
                ("i", Some("e1"), "SubOrchestrationFailed"),
            ]
        );
        assert_eq!(commit.messages[1].visible_at, 500);
        assert_eq!(commit.messages[1].timer_id, Some(6));
        let [child] = commit.new_instances.as_slice() else {
            panic!("one child: {:?}", commit.new_instances);
        };
        assert_eq!(
            (child.instance_id.as_str(), child.execution_id.as_str()),
            ("i:4", "new-1")
        );
        assert_eq!(
            child.parent,
            Some(ParentInstance {
                instance_id: "i".into(),
                task_id: 4,
                execution_id: Some("e1".into()),
            })
        );
    }

    #[test]
    fn a_completed_sub_orchestration_answers_its_parent() {
        let child = child_of("parent", 3);
        let plan = TurnPlan {
            outcome: Some(Outcome::Completed("42".into())),
            ..TurnPlan::default()
        };
        let callees = Callees {
            caller_digest: &child.digest,
            caller: None,
            deployed: &[],
        };
        let locked = Locked {
            instance: &child,
            lock_token: "t",
        };
        let commit = plan_commit(locked, plan, Vec::new(), &callees, &mut ids(), NOW);
        assert_eq!(commit.status, RuntimeStatus::Completed);
        assert_eq!(commit.output.as_deref(), Some("42"));
        let [answer] = commit.messages.as_slice() else {
            panic!("one message: {:?}", commit.messages);
        };
        assert_eq!(answer.instance_id, "parent");
        assert_eq!(answer.execution_id.as_deref(), Some("parent-e"));
        assert_eq!(
            answer.event,
            EventKind::SubOrchestrationCompleted {
                task_id: 3,
                result: "42".into()
            }
        );
    }

    /// A traced execution's activity tasks carry its caller's context, its children name its
    /// own span as theirs, and its next execution keeps the caller.
    #[test]
    fn a_trace_passes_to_tasks_children_and_the_next_execution() {
        const CALLER: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let running = instance(RuntimeStatus::Running);
        let own = catalogue(&["work"], &["sub"]);
        let callees = Callees {
            caller_digest: &running.digest,
            caller: Some(&own),
            deployed: &[],
        };
        let plan = TurnPlan {
            activities: vec![ActivityRequest {
                task_id: 0,
                name: "work".into(),
                input: "1".into(),
            }],
            sub_orchestrations: vec![SubOrchestrationRequest {
                task_id: 1,
                name: "sub".into(),
                instance_id: "i:1".into(),
                input: "null".into(),
            }],
            outcome: Some(Outcome::ContinuedAsNew {
                input: "2".into(),
                carried_events: Vec::new(),
            }),
            trace: Some(CALLER.into()),
            ..TurnPlan::default()
        };
        let locked = Locked {
            instance: &running,
            lock_token: "t",
        };
        let commit = plan_commit(locked, plan, Vec::new(), &callees, &mut ids(), NOW);
        assert_eq!(commit.activities[0].trace.as_deref(), Some(CALLER));
        let own_span = ExecutionTrace {
            instance_id: &running.instance_id,
            execution_id: &running.execution_id,
            caller: Some(CALLER),
        };
        let child = commit.new_instances[0].trace.as_deref().expect("a trace");
        assert_eq!(child, own_span.child_traceparent());
        assert!(child.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"));
        assert!(matches!(
            &commit.new_execution,
            Some(EventKind::ExecutionStarted { trace: Some(t), .. }) if t == CALLER
        ));
    }

    #[test]
    fn continue_as_new_carries_events_into_the_next_execution() {
        let running = instance(RuntimeStatus::Running);
        let plan = TurnPlan {
            outcome: Some(Outcome::ContinuedAsNew {
                input: "2".into(),
                carried_events: vec![CarriedEvent {
                    name: "go".into(),
                    input: "true".into(),
                }],
            }),
            ..TurnPlan::default()
        };
        let callees = Callees {
            caller_digest: &running.digest,
            caller: None,
            deployed: &[],
        };
        let locked = Locked {
            instance: &running,
            lock_token: "t",
        };
        let commit = plan_commit(locked, plan, Vec::new(), &callees, &mut ids(), NOW);
        assert_eq!(commit.status, RuntimeStatus::Running);
        let Some(EventKind::ExecutionStarted {
            execution_id,
            input,
            ..
        }) = &commit.new_execution
        else {
            panic!("a new execution: {:?}", commit.new_execution);
        };
        assert_eq!((execution_id.as_str(), input.as_str()), ("new-1", "2"));
        assert_eq!(commit.messages[0].execution_id.as_deref(), Some("new-1"));
    }

    #[test]
    fn a_terminated_execution_releases_its_locks_timers_and_parent() {
        let child = child_of("parent", 2);
        let entities = vec![EntityId {
            name: "counter".into(),
            key: "a".into(),
        }];
        let mut replay = ReplayState::new();
        let events = replay.begin_turn(
            0,
            vec![EventKind::ExecutionStarted {
                name: "o".into(),
                instance_id: "i".into(),
                execution_id: "e1".into(),
                input: "null".into(),
                parent: None,
                version: None,
                trace: None,
            }],
        );
        let actions = [
            Action {
                id: 0,
                kind: ActionKind::StartTimer { fire_at: 900 },
            },
            Action {
                id: 1,
                kind: ActionKind::LockEntities {
                    entities: entities.clone(),
                },
            },
        ];
        replay.finish_turn(events, &actions, 0).unwrap();
        let events = replay.begin_turn(NOW, Vec::new());
        let locked = Locked {
            instance: &child,
            lock_token: "t",
        };
        let ending = Ending::Terminated(Some("stop".into()));
        let commit = ending_commit(locked, &replay, events, vec![1], ending, NOW);
        assert_eq!(commit.status, RuntimeStatus::Terminated);
        assert_eq!(commit.output.as_deref(), Some(r#""stop""#));
        let last = commit.new_history.last().unwrap();
        assert_eq!(
            commit.new_history.len(),
            2,
            "OrchestratorStarted and the ending"
        );
        assert_eq!(
            last.kind,
            EventKind::ExecutionTerminated {
                reason: Some("stop".into())
            }
        );
        assert_eq!(commit.cancelled_timers, [0]);
        let [unlock] = commit.entity_messages.as_slice() else {
            panic!("one unlock: {:?}", commit.entity_messages);
        };
        assert_eq!(
            (unlock.entity.key.as_str(), unlock.operation.as_str()),
            ("a", "$unlock")
        );
        let [answer] = commit.messages.as_slice() else {
            panic!("one message: {:?}", commit.messages);
        };
        let EventKind::SubOrchestrationFailed {
            task_id: 2,
            failure,
        } = &answer.event
        else {
            panic!("the parent is told: {answer:?}");
        };
        assert_eq!(failure.error_type, failure_types::TERMINATED);
    }

    #[test]
    fn sub_orchestrations_without_an_id_get_one_from_their_parent() {
        let mut actions = vec![
            Action {
                id: 3,
                kind: ActionKind::StartSubOrchestration {
                    name: "s".into(),
                    instance_id: String::new(),
                    input: "null".into(),
                },
            },
            Action {
                id: 4,
                kind: ActionKind::StartSubOrchestration {
                    name: "s".into(),
                    instance_id: "given".into(),
                    input: "null".into(),
                },
            },
        ];
        name_sub_orchestrations("p", &mut actions);
        let ids: Vec<_> = actions
            .iter()
            .map(|a| match &a.kind {
                ActionKind::StartSubOrchestration { instance_id, .. } => instance_id.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(ids, ["p:3", "given"]);
    }
}
