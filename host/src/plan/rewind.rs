//! Rewind planning: what a failed instance's history and activity queue become when it is
//! rewound. Storage only checks that the instance did not change meanwhile and writes the
//! plan ([`crate::store::Store::rewind`]).

use crate::store::{InstanceRecord, NewActivity};
use crate::types::{EventKind, HistoryEvent, Timestamp};

/// What a rewind writes.
#[derive(Debug, Clone)]
pub struct RewindPlan {
    /// The history that replaces the instance's history.
    pub history: Vec<HistoryEvent>,
    /// Activities queued again, on the instance's own component (the dispatcher resolves the
    /// name again when that component does not offer it).
    pub activities: Vec<NewActivity>,
    /// The message that wakes the instance.
    pub wake: EventKind,
}

/// Plans the rewind of a failed instance: the failure and the failed activity results leave
/// its history, those activities are queued again, and completed activities keep their
/// results. `reason` is recorded in the waking `ExecutionResumed` event.
pub fn plan_rewind(
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    reason: &str,
    now: Timestamp,
) -> RewindPlan {
    let failed: Vec<u32> = history
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TaskFailed { task_id, .. } => Some(*task_id),
            _ => None,
        })
        .collect();
    let kept = history
        .iter()
        .filter(|e| {
            !matches!(
                e.kind,
                EventKind::TaskFailed { .. } | EventKind::ExecutionCompleted { .. }
            )
        })
        .cloned()
        .collect();
    let activities = history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::TaskScheduled { name, input }
                if event.event_id.is_some_and(|id| failed.contains(&id)) =>
            {
                Some(NewActivity {
                    task_id: event.event_id.unwrap_or_default(),
                    name: name.clone(),
                    input: input.clone(),
                    digest: instance.digest.clone(),
                    visible_at: now,
                })
            }
            _ => None,
        })
        .collect();
    RewindPlan {
        history: kept,
        activities,
        wake: EventKind::ExecutionResumed {
            reason: Some(format!("rewound: {reason}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::instance;
    use crate::replay::Scheduled;
    use crate::types::{Failure, RuntimeStatus};

    fn at(event_id: u32, kind: EventKind) -> HistoryEvent {
        HistoryEvent {
            event_id: Scheduled::of_event(&kind).map(|_| event_id),
            timestamp: 5,
            kind,
        }
    }

    #[test]
    fn failed_activities_run_again_and_completed_ones_keep_their_results() {
        let scheduled = |name: &str| EventKind::TaskScheduled {
            name: name.into(),
            input: "null".into(),
        };
        let failure = Failure::new("Boom", "it broke");
        let history = vec![
            at(0, EventKind::OrchestratorStarted),
            at(0, scheduled("ok")),
            at(1, scheduled("bad")),
            at(3, EventKind::OrchestratorStarted),
            at(
                4,
                EventKind::TaskCompleted {
                    task_id: 0,
                    result: "1".into(),
                },
            ),
            at(
                5,
                EventKind::TaskFailed {
                    task_id: 1,
                    failure: failure.clone(),
                },
            ),
            at(
                6,
                EventKind::ExecutionCompleted {
                    result: None,
                    failure: Some(failure),
                },
            ),
        ];
        let failed = instance(RuntimeStatus::Failed);
        let plan = plan_rewind(&failed, &history, "fixed", 9);
        let labels: Vec<_> = plan.history.iter().map(|e| e.kind.label()).collect();
        assert_eq!(
            labels,
            [
                "OrchestratorStarted",
                "TaskScheduled",
                "TaskScheduled",
                "OrchestratorStarted",
                "TaskCompleted"
            ]
        );
        assert_eq!(plan.activities.len(), 1);
        let again = &plan.activities[0];
        assert_eq!((again.task_id, again.name.as_str()), (1, "bad"));
        assert_eq!((again.digest.as_str(), again.visible_at), ("sha256:d", 9));
        assert_eq!(
            plan.wake,
            EventKind::ExecutionResumed {
                reason: Some("rewound: fixed".into())
            }
        );
    }
}
