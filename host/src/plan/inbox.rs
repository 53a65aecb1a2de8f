//! Sorting a turn's inbox: which messages the guest sees, which wait, and whether the turn
//! suspends, resumes or terminates the instance.

use crate::store::{InboxMessage, InstanceRecord};
use crate::types::{EventKind, RuntimeStatus};

/// The messages of a turn, sorted into what the guest sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbox {
    /// Message ids the turn deletes.
    pub consumed: Vec<i64>,
    /// Events fed to the guest (and recorded), in order.
    pub deliver: Vec<EventKind>,
    /// `Some(reason)` when the instance is to be terminated.
    pub terminate: Option<Option<String>>,
    /// Whether the instance is suspended at the end of the turn.
    pub suspended: bool,
    /// Messages consumed unseen because they were for an earlier execution (a result of a
    /// sub-orchestration the execution that continued as new had started, say).
    pub stale: usize,
}

/// Sorts an instance's visible messages (oldest first). Stale messages (for another
/// execution) and messages for a finished instance are consumed unseen. While suspended,
/// ordinary messages stay in the inbox; on resume they are delivered after the
/// `ExecutionResumed` event. A termination consumes everything.
pub fn sort_inbox(instance: &InstanceRecord, messages: &[InboxMessage]) -> Inbox {
    let mut inbox = Inbox {
        consumed: Vec::with_capacity(messages.len()),
        deliver: Vec::with_capacity(messages.len()),
        terminate: None,
        suspended: instance.status == RuntimeStatus::Suspended,
        stale: 0,
    };
    let mut kept: Vec<(i64, EventKind)> = Vec::new();
    for message in messages {
        let stale = message
            .execution_id
            .as_deref()
            .is_some_and(|e| e != instance.execution_id);
        if instance.status.is_terminal() || stale {
            inbox.consumed.push(message.id);
            inbox.stale += usize::from(stale);
            continue;
        }
        match &message.event {
            EventKind::ExecutionTerminated { reason } => {
                inbox.consumed.push(message.id);
                inbox.terminate = Some(reason.clone());
            }
            EventKind::ExecutionSuspended { .. } => {
                inbox.consumed.push(message.id);
                if !inbox.suspended {
                    inbox.suspended = true;
                    inbox.deliver.push(message.event.clone());
                }
            }
            EventKind::ExecutionResumed { .. } => {
                inbox.consumed.push(message.id);
                inbox.suspended = false;
                inbox.deliver.push(message.event.clone());
                for (id, event) in kept.drain(..) {
                    inbox.consumed.push(id);
                    inbox.deliver.push(event);
                }
            }
            event if inbox.suspended => kept.push((message.id, event.clone())),
            event => {
                inbox.consumed.push(message.id);
                inbox.deliver.push(event.clone());
            }
        }
    }
    if inbox.terminate.is_some() {
        // Termination takes everything with it.
        inbox.consumed.extend(kept.into_iter().map(|(id, _)| id));
    }
    inbox
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::{instance, raised};

    fn message(id: i64, execution: Option<&str>, event: EventKind) -> InboxMessage {
        InboxMessage {
            id,
            execution_id: execution.map(str::to_owned),
            event,
        }
    }

    fn suspend() -> EventKind {
        EventKind::ExecutionSuspended { reason: None }
    }

    fn resume() -> EventKind {
        EventKind::ExecutionResumed { reason: None }
    }

    #[test]
    fn ordinary_messages_are_delivered_in_order() {
        let running = instance(RuntimeStatus::Running);
        let inbox = sort_inbox(
            &running,
            &[
                message(1, None, raised("a")),
                message(2, Some("e1"), raised("b")),
            ],
        );
        assert_eq!(inbox.consumed, [1, 2]);
        assert_eq!(inbox.deliver, [raised("a"), raised("b")]);
        assert_eq!(inbox.terminate, None);
        assert!(!inbox.suspended);
    }

    #[test]
    fn messages_for_another_execution_are_consumed_unseen() {
        let running = instance(RuntimeStatus::Running);
        let inbox = sort_inbox(
            &running,
            &[
                message(1, Some("old"), raised("a")),
                message(2, None, raised("b")),
            ],
        );
        assert_eq!(inbox.consumed, [1, 2]);
        assert_eq!(inbox.deliver, [raised("b")]);
        assert_eq!(inbox.stale, 1);
    }

    #[test]
    fn a_finished_instance_consumes_everything_unseen() {
        let done = instance(RuntimeStatus::Completed);
        let inbox = sort_inbox(
            &done,
            &[message(1, None, raised("late")), message(2, None, resume())],
        );
        assert_eq!(inbox.consumed, [1, 2]);
        assert!(inbox.deliver.is_empty());
    }

    #[test]
    fn while_suspended_messages_wait_and_follow_the_resume() {
        let running = instance(RuntimeStatus::Running);
        let inbox = sort_inbox(
            &running,
            &[
                message(1, None, suspend()),
                message(2, None, raised("kept")),
                message(3, None, suspend()),
            ],
        );
        assert_eq!(inbox.consumed, [1, 3], "the kept event stays in the inbox");
        assert_eq!(
            inbox.deliver,
            [suspend()],
            "a second suspend records nothing"
        );
        assert!(inbox.suspended);

        let suspended = instance(RuntimeStatus::Suspended);
        let inbox = sort_inbox(
            &suspended,
            &[message(2, None, raised("kept")), message(4, None, resume())],
        );
        assert_eq!(inbox.consumed, [4, 2]);
        assert_eq!(inbox.deliver, [resume(), raised("kept")]);
        assert!(!inbox.suspended);
    }

    #[test]
    fn termination_takes_the_kept_messages_with_it() {
        let suspended = instance(RuntimeStatus::Suspended);
        let inbox = sort_inbox(
            &suspended,
            &[
                message(1, None, raised("kept")),
                message(
                    2,
                    None,
                    EventKind::ExecutionTerminated {
                        reason: Some("stop".into()),
                    },
                ),
            ],
        );
        assert_eq!(inbox.consumed, [2, 1]);
        assert_eq!(inbox.terminate, Some(Some("stop".into())));
        assert!(inbox.deliver.is_empty());
    }
}
