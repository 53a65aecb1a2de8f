//! Rewind planning: what a failed instance's history, activity queue and inbox become when it is
//! rewound. Storage only checks that the instance did not change meanwhile and writes the plan
//! ([`crate::store::Store::rewind`]).
//!
//! A rewind undoes the failure that ended the instance and nothing else. The turn that ended it
//! (the last one) holds the failures the code did not recover from: those activities run again,
//! and those sub-orchestrations are rewound too (the caller rewinds them after this instance).
//! Failures the code handled in earlier turns (caught, or retried: each attempt is its own task)
//! keep their recorded results, so the replay takes the same path as before. Work the failure
//! left without an answer (an activity whose result arrived after the instance failed, and was
//! dropped) runs again; a child that finished meanwhile has its result delivered.

use crate::store::{InstanceRecord, NewActivity};
use crate::types::{EventKind, Failure, HistoryEvent, RuntimeStatus, Timestamp, failure_types};
use std::collections::{BTreeMap, BTreeSet};

/// What a rewind writes.
#[derive(Debug, Clone)]
pub struct RewindPlan {
    /// The history that replaces the instance's history.
    pub history: Vec<HistoryEvent>,
    /// Activities queued again, on the instance's own component (the dispatcher resolves the
    /// name again when that component does not offer it).
    pub activities: Vec<NewActivity>,
    /// Messages for the instance, in order: the `ExecutionResumed` that wakes it, then the
    /// results of children that finished after it failed.
    pub messages: Vec<EventKind>,
    /// Failed children to rewind as well, after this instance.
    pub children: Vec<String>,
}

/// Plans the rewind of a failed instance from its history and its children's records.
/// `reason` is recorded in the waking `ExecutionResumed` event.
pub fn plan_rewind(
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    children: &[InstanceRecord],
    reason: &str,
    now: Timestamp,
) -> RewindPlan {
    let last_turn = history
        .iter()
        .rposition(|e| matches!(e.kind, EventKind::OrchestratorStarted))
        .unwrap_or(0);
    let child = |id: &str| children.iter().find(|c| c.instance_id == id);
    let mut activities_scheduled = BTreeMap::new();
    let mut children_created = BTreeMap::new();
    for event in history {
        let Some(id) = event.event_id else { continue };
        match &event.kind {
            EventKind::TaskScheduled { name, input } => {
                activities_scheduled.insert(id, (name, input));
            }
            EventKind::SubOrchestrationCreated { instance_id, .. } => {
                children_created.insert(id, instance_id.as_str());
            }
            _ => {}
        }
    }

    // The failures of the last turn ended the instance: undo them.
    let mut rerun = BTreeSet::new();
    let mut dropped = vec![false; history.len()];
    for (position, event) in history.iter().enumerate() {
        let ended_it = position > last_turn;
        match &event.kind {
            EventKind::ExecutionCompleted { .. } => dropped[position] = true,
            EventKind::TaskFailed { task_id, .. } if ended_it => {
                rerun.insert(*task_id);
                dropped[position] = true;
            }
            EventKind::SubOrchestrationFailed { task_id, .. } if ended_it => {
                // Rewound with the parent if it failed; a child that was terminated, or never
                // created, keeps failing the parent.
                let child_failed = children_created
                    .get(task_id)
                    .and_then(|id| child(id))
                    .is_some_and(|c| c.status == RuntimeStatus::Failed);
                dropped[position] = child_failed;
            }
            _ => {}
        }
    }
    let kept: Vec<HistoryEvent> = history
        .iter()
        .zip(&dropped)
        .filter(|(_, dropped)| !**dropped)
        .map(|(event, _)| event.clone())
        .collect();

    // What still has no answer after that: activities whose result never made it into the
    // history run again; children answer, or are rewound.
    let mut answered = BTreeSet::new();
    for event in &kept {
        match &event.kind {
            EventKind::TaskCompleted { task_id, .. }
            | EventKind::TaskFailed { task_id, .. }
            | EventKind::SubOrchestrationCompleted { task_id, .. }
            | EventKind::SubOrchestrationFailed { task_id, .. } => {
                answered.insert(*task_id);
            }
            _ => {}
        }
    }
    rerun.extend(
        activities_scheduled
            .keys()
            .filter(|id| !answered.contains(*id)),
    );
    let mut messages = vec![EventKind::ExecutionResumed {
        reason: Some(format!("rewound: {reason}")),
    }];
    let mut children_to_rewind = Vec::new();
    for (task_id, child_id) in &children_created {
        if answered.contains(task_id) {
            continue;
        }
        let Some(record) = child(child_id) else {
            continue;
        };
        match record.status {
            RuntimeStatus::Failed => children_to_rewind.push(record.instance_id.clone()),
            RuntimeStatus::Completed => messages.push(EventKind::SubOrchestrationCompleted {
                task_id: *task_id,
                result: record.output.clone().unwrap_or_else(|| "null".into()),
            }),
            RuntimeStatus::Terminated | RuntimeStatus::Canceled => {
                messages.push(EventKind::SubOrchestrationFailed {
                    task_id: *task_id,
                    failure: Failure::fatal(
                        failure_types::TERMINATED,
                        format!("sub-orchestration `{child_id}` was terminated"),
                    ),
                })
            }
            // Still running: it answers this execution when it ends.
            _ => {}
        }
    }
    let trace = kept.iter().find_map(|event| match &event.kind {
        EventKind::ExecutionStarted { trace, .. } => trace.clone(),
        _ => None,
    });
    let activities = rerun
        .iter()
        .filter_map(|task_id| {
            let (name, input) = activities_scheduled.get(task_id)?;
            Some(NewActivity {
                task_id: *task_id,
                name: (*name).clone(),
                input: (*input).clone(),
                digest: instance.digest.clone(),
                visible_at: now,
                trace: trace.clone(),
            })
        })
        .collect();
    RewindPlan {
        history: kept,
        activities,
        messages,
        children: children_to_rewind,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::instance;
    use crate::replay::Scheduled;
    use crate::types::ParentInstance;

    /// A history written by hand: `(sequence id of a scheduling event, event)`.
    fn history(events: Vec<EventKind>) -> Vec<HistoryEvent> {
        let mut sequence = 0;
        events
            .into_iter()
            .map(|kind| {
                let event_id = Scheduled::of_event(&kind).map(|_| {
                    sequence += 1;
                    sequence - 1
                });
                HistoryEvent {
                    event_id,
                    timestamp: 5,
                    kind,
                }
            })
            .collect()
    }

    fn scheduled(name: &str) -> EventKind {
        EventKind::TaskScheduled {
            name: name.into(),
            input: "null".into(),
        }
    }

    fn failed(task_id: u32) -> EventKind {
        EventKind::TaskFailed {
            task_id,
            failure: Failure::new("Boom", "it broke"),
        }
    }

    fn completed(task_id: u32) -> EventKind {
        EventKind::TaskCompleted {
            task_id,
            result: "1".into(),
        }
    }

    fn ended() -> EventKind {
        EventKind::ExecutionCompleted {
            result: None,
            failure: Some(Failure::new("Boom", "it broke")),
        }
    }

    fn turn() -> EventKind {
        EventKind::OrchestratorStarted
    }

    fn child(id: &str, status: RuntimeStatus, output: Option<&str>) -> InstanceRecord {
        InstanceRecord {
            instance_id: id.into(),
            output: output.map(str::to_owned),
            parent: Some(ParentInstance {
                instance_id: "i".into(),
                task_id: 0,
                execution_id: Some("e1".into()),
            }),
            ..instance(status)
        }
    }

    fn labels(history: &[HistoryEvent]) -> Vec<&'static str> {
        history.iter().map(|e| e.kind.label()).collect()
    }

    fn rerun(plan: &RewindPlan) -> Vec<(u32, &str)> {
        plan.activities
            .iter()
            .map(|a| (a.task_id, a.name.as_str()))
            .collect()
    }

    #[test]
    fn only_the_failure_that_ended_it_runs_again() {
        let failed_instance = instance(RuntimeStatus::Failed);
        let history = history(vec![
            turn(),
            scheduled("caught"),
            turn(),
            failed(0),
            scheduled("ok"),
            turn(),
            completed(1),
            scheduled("last"),
            turn(),
            failed(2),
            ended(),
        ]);
        let plan = plan_rewind(&failed_instance, &history, &[], "fixed", 9);
        assert_eq!(rerun(&plan), [(2, "last")]);
        assert_eq!(
            labels(&plan.history),
            [
                "OrchestratorStarted",
                "TaskScheduled",
                "OrchestratorStarted",
                "TaskFailed",
                "TaskScheduled",
                "OrchestratorStarted",
                "TaskCompleted",
                "TaskScheduled",
                "OrchestratorStarted",
            ],
            "the handled failure and the completed step keep their results"
        );
        let again = &plan.activities[0];
        assert_eq!((again.digest.as_str(), again.visible_at), ("sha256:d", 9));
        assert_eq!(
            plan.messages,
            [EventKind::ExecutionResumed {
                reason: Some("rewound: fixed".into())
            }]
        );
        assert!(plan.children.is_empty());
    }

    #[test]
    fn a_retried_activity_runs_its_last_attempt_again() {
        let history = history(vec![
            turn(),
            scheduled("flaky"),
            turn(),
            failed(0),
            EventKind::TimerCreated { fire_at: 10 },
            turn(),
            EventKind::TimerFired {
                timer_id: 1,
                fire_at: 10,
            },
            scheduled("flaky"),
            turn(),
            failed(2),
            ended(),
        ]);
        let plan = plan_rewind(&instance(RuntimeStatus::Failed), &history, &[], "r", 9);
        assert_eq!(rerun(&plan), [(2, "flaky")]);
        assert_eq!(plan.history.len(), history.len() - 2);
    }

    #[test]
    fn work_the_failure_left_unanswered_runs_again() {
        // A fan-out: the first failure ended the instance; the other result never arrived.
        let history = history(vec![
            turn(),
            scheduled("a"),
            scheduled("b"),
            scheduled("c"),
            turn(),
            completed(0),
            failed(1),
            ended(),
        ]);
        let plan = plan_rewind(&instance(RuntimeStatus::Failed), &history, &[], "r", 9);
        assert_eq!(rerun(&plan), [(1, "b"), (2, "c")]);
    }

    #[test]
    fn a_failed_child_is_rewound_and_a_finished_one_answers() {
        let created = |id: &str| EventKind::SubOrchestrationCreated {
            name: "sub".into(),
            instance_id: id.into(),
            input: "null".into(),
        };
        let child_failed = EventKind::SubOrchestrationFailed {
            task_id: 0,
            failure: Failure::new("Boom", "it broke"),
        };
        let history = history(vec![
            turn(),
            created("i:0"),
            created("i:1"),
            created("i:2"),
            turn(),
            child_failed,
            ended(),
        ]);
        let children = [
            child("i:0", RuntimeStatus::Failed, None),
            child("i:1", RuntimeStatus::Completed, Some("7")),
            child("i:2", RuntimeStatus::Running, None),
        ];
        let plan = plan_rewind(
            &instance(RuntimeStatus::Failed),
            &history,
            &children,
            "r",
            9,
        );
        assert_eq!(plan.children, ["i:0"]);
        assert!(!labels(&plan.history).contains(&"SubOrchestrationFailed"));
        assert_eq!(
            plan.messages[1..],
            [EventKind::SubOrchestrationCompleted {
                task_id: 1,
                result: "7".into()
            }],
            "the finished child's dropped answer is delivered; the running one will answer"
        );
    }

    #[test]
    fn a_child_that_cannot_be_rewound_keeps_failing_its_parent() {
        let history = history(vec![
            turn(),
            EventKind::SubOrchestrationCreated {
                name: "sub".into(),
                instance_id: "taken".into(),
                input: "null".into(),
            },
            turn(),
            EventKind::SubOrchestrationFailed {
                task_id: 0,
                failure: Failure::fatal(failure_types::INSTANCE_EXISTS, "taken"),
            },
            ended(),
        ]);
        let plan = plan_rewind(&instance(RuntimeStatus::Failed), &history, &[], "r", 9);
        assert!(labels(&plan.history).contains(&"SubOrchestrationFailed"));
        assert!(plan.children.is_empty() && plan.activities.is_empty());
    }
}
