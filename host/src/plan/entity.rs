//! The entity side of a turn, decided without storage: the lock protocol of critical
//! sections, which messages a batch runs, the messages an orchestration turn sends to
//! entities, and the commit of a batch.
//!
//! **Critical sections.** An orchestration locks entities by sending a `$lock` request to the
//! first of its (sorted) entities. Each entity, once it has granted its lock to the caller,
//! forwards the request to the next; the last one answers the orchestration with
//! `EntityLockGranted`. The release (`$unlock`) follows the same path, so it never overtakes
//! the lock request and an entity is never left locked. While an entity is held, the store
//! returns only its holder's messages.

use crate::resolve::{FunctionKind, newest_offering};
use crate::store::{
    ComponentRecord, EntityCaller, EntityCommit, EntityInboxMessage, EntityMessage, EntityWorkItem,
    InstanceRecord, NewInstance, OutboundMessage,
};
use crate::types::{
    EntityEffect, EntityId, EntityOperationOutcome, EventKind, Failure, HistoryEvent, Json,
    Timestamp, is_reserved_operation,
};
use serde::{Deserialize, Serialize};

/// The inbox message asking for an entity's lock in a critical section (a reserved operation
/// name); its input is a lock request (the sorted entities and the
/// position on that path), its caller the orchestration.
pub const LOCK_OPERATION: &str = "$lock";
/// The inbox message releasing the lock the caller holds.
pub const UNLOCK_OPERATION: &str = "$unlock";

/// A lock (or unlock) request travelling along its sorted entities.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct LockRequest {
    entities: Vec<EntityId>,
    /// The entity it is addressed to, as an index into `entities`.
    index: usize,
}

impl LockRequest {
    /// The same request for the next entity on the path, if there is one.
    fn next(&self) -> Option<(EntityId, Json)> {
        let index = self.index + 1;
        let target = self.entities.get(index)?.clone();
        let request = LockRequest {
            entities: self.entities.clone(),
            index,
        };
        Some((target, request.to_json()))
    }

    fn to_json(&self) -> Json {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A batch's inbox, sorted: what the guest runs and what the lock protocol answers.
#[derive(Debug, Clone)]
pub struct EntityInbox<'a> {
    /// Message ids the batch deletes.
    pub consumed: Vec<i64>,
    /// The operations the guest runs, in order.
    pub operations: Vec<&'a EntityInboxMessage>,
    /// The critical section holding the entity after the batch.
    pub locked_by: Option<String>,
    /// `EntityLockGranted` answers to orchestrations.
    pub grants: Vec<OutboundMessage>,
    /// Lock and unlock requests forwarded along their path.
    pub forwards: Vec<EntityMessage>,
}

/// Sorts a locked entity's messages (oldest first). Operations run in order until a lock or
/// unlock message: it changes who may send messages here, so it ends the batch (later
/// messages wait for the next batch, which the store selects under the new holder).
pub fn sort_entity_inbox(item: &EntityWorkItem, now: Timestamp) -> EntityInbox<'_> {
    let mut inbox = EntityInbox {
        consumed: Vec::new(),
        operations: Vec::new(),
        locked_by: item.locked_by.clone(),
        grants: Vec::new(),
        forwards: Vec::new(),
    };
    for message in &item.messages {
        inbox.consumed.push(message.id);
        let is_lock = message.operation == LOCK_OPERATION;
        if !is_lock && message.operation != UNLOCK_OPERATION {
            inbox.operations.push(message);
            continue;
        }
        let Some(caller) = &message.caller else {
            continue; // only orchestrations lock
        };
        let request = serde_json::from_str::<LockRequest>(&message.input).ok();
        let forward = |(entity, input): (EntityId, Json), operation: &str| EntityMessage {
            entity,
            operation: operation.to_owned(),
            input,
            caller: Some(caller.clone()),
            sender: Some(caller.instance_id.clone()),
            visible_at: now,
        };
        if is_lock {
            let Some(request) = request else { break };
            inbox.locked_by = Some(caller.instance_id.clone());
            match request.next() {
                Some(next) => inbox.forwards.push(forward(next, LOCK_OPERATION)),
                None => inbox.grants.push(OutboundMessage {
                    instance_id: caller.instance_id.clone(),
                    execution_id: Some(caller.execution_id.clone()),
                    event: EventKind::EntityLockGranted {
                        task_id: caller.task_id,
                    },
                    visible_at: now,
                    timer_id: None,
                }),
            }
        } else {
            if inbox.locked_by.as_deref() == Some(caller.instance_id.as_str()) {
                inbox.locked_by = None;
            }
            if let Some(next) = request.and_then(|r| r.next()) {
                inbox.forwards.push(forward(next, UNLOCK_OPERATION));
            }
        }
        break;
    }
    inbox
}

/// The seed of a batch's random numbers: the entity and the ids of the messages it runs.
/// Different batches get different values; a batch that runs again (after a crash, or one
/// operation at a time after a trap) gets the same ones.
pub fn batch_seed(entity: &EntityId, message_ids: &[i64]) -> String {
    let ids: Vec<String> = message_ids.iter().map(i64::to_string).collect();
    format!("@{}@{}#{}", entity.name, entity.key, ids.join(","))
}

/// Something a batch's commit leaves out, for the engine to log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dropped {
    /// A signalled operation failed: there is no caller to tell.
    FailedSignal {
        /// The operation's name.
        operation: String,
        /// Why it failed.
        failure: Failure,
    },
    /// An operation signalled a reserved operation (`$...`), which only the host sends.
    ReservedOperation {
        /// The operation's name.
        operation: String,
    },
    /// An operation started an orchestration no deployment offers.
    UnknownOrchestrator {
        /// The orchestrator's name.
        name: String,
    },
}

/// The commit of a batch: the state after it, the consumed messages, the answers to
/// calling orchestrations, and what the operations sent (signals, started orchestrations,
/// resolved among `deployed`, newest first). `outcomes` are the operations' outcomes, in the
/// order of `inbox.operations`.
pub fn plan_entity_commit(
    item: &EntityWorkItem,
    inbox: EntityInbox<'_>,
    outcomes: Vec<EntityOperationOutcome>,
    state: Option<Json>,
    deployed: &[ComponentRecord],
    new_id: &mut dyn FnMut() -> String,
    now: Timestamp,
) -> (EntityCommit, Vec<Dropped>) {
    let mut dropped = Vec::new();
    let mut commit = EntityCommit {
        entity: item.entity.clone(),
        lock_token: item.lock_token.clone(),
        state,
        locked_by: inbox.locked_by,
        consumed: inbox.consumed,
        responses: inbox.grants,
        signals: inbox.forwards,
        new_instances: Vec::new(),
        now,
    };
    for (message, outcome) in inbox.operations.into_iter().zip(outcomes) {
        match (&message.caller, outcome.result) {
            (Some(caller), result) => commit.responses.push(respond(caller, result, now)),
            (None, Err(failure)) => dropped.push(Dropped::FailedSignal {
                operation: message.operation.clone(),
                failure,
            }),
            (None, Ok(_)) => {}
        }
        for effect in outcome.effects {
            match effect {
                EntityEffect::Signal { operation, .. } if is_reserved_operation(&operation) => {
                    dropped.push(Dropped::ReservedOperation { operation });
                }
                EntityEffect::Signal {
                    entity,
                    operation,
                    input,
                    scheduled_at,
                } => commit.signals.push(EntityMessage {
                    entity,
                    operation,
                    input,
                    caller: None,
                    sender: None,
                    visible_at: scheduled_at.unwrap_or(now).max(now),
                }),
                EntityEffect::StartOrchestration {
                    name,
                    instance_id,
                    input,
                } => {
                    // A start, like a client's: the newest deployment offering it.
                    let Some(component) =
                        newest_offering(FunctionKind::Orchestrator, &name, deployed)
                    else {
                        dropped.push(Dropped::UnknownOrchestrator { name });
                        continue;
                    };
                    let instance_id = match instance_id.is_empty() {
                        true => new_id(),
                        false => instance_id,
                    };
                    commit.new_instances.push(NewInstance {
                        instance_id,
                        name,
                        execution_id: new_id(),
                        digest: component.digest.clone(),
                        input,
                        parent: None,
                        created_at: now,
                        version: component.version.clone(),
                        trace: None,
                    });
                }
            }
        }
    }
    (commit, dropped)
}

/// The `EntityResponded` message answering a call.
fn respond(
    caller: &EntityCaller,
    result: Result<Json, Failure>,
    now: Timestamp,
) -> OutboundMessage {
    OutboundMessage {
        instance_id: caller.instance_id.clone(),
        execution_id: Some(caller.execution_id.clone()),
        event: EventKind::EntityResponded {
            task_id: caller.task_id,
            result,
        },
        visible_at: now,
        timer_id: None,
    }
}

/// The entity messages an orchestration turn sends: its new `EntityCalled`,
/// `EntitySignalled`, `EntityLockRequested` and `EntityUnlocked` events (their event id is
/// the action's sequence id).
pub fn entity_messages(
    instance: &InstanceRecord,
    new_history: &[HistoryEvent],
    now: Timestamp,
) -> Vec<EntityMessage> {
    let caller = |event: &HistoryEvent| Some(caller_of(instance, event.event_id.unwrap_or(0)));
    let mut messages = Vec::new();
    for event in new_history {
        match &event.kind {
            EventKind::EntityCalled(op) => messages.push(EntityMessage {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
                input: op.input.clone(),
                caller: caller(event),
                sender: Some(instance.instance_id.clone()),
                visible_at: now,
            }),
            EventKind::EntitySignalled(op) => messages.push(EntityMessage {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
                input: op.input.clone(),
                caller: None,
                sender: Some(instance.instance_id.clone()),
                visible_at: op.scheduled_at.unwrap_or(now).max(now),
            }),
            EventKind::EntityLockRequested { entities } => {
                let Some(first) = entities.first() else {
                    continue;
                };
                let request = LockRequest {
                    entities: entities.clone(),
                    index: 0,
                };
                messages.push(EntityMessage {
                    entity: first.clone(),
                    operation: LOCK_OPERATION.to_owned(),
                    input: request.to_json(),
                    caller: caller(event),
                    sender: Some(instance.instance_id.clone()),
                    visible_at: now,
                });
            }
            EventKind::EntityUnlocked { entities } => {
                messages.extend(unlock_messages(instance, entities, now));
            }
            _ => {}
        }
    }
    messages
}

/// The message releasing `entities` held by `instance`: like the lock request, it goes to
/// the first entity, and each one forwards it to the next after releasing itself, so it
/// reaches every entity after the lock request did.
pub fn unlock_messages(
    instance: &InstanceRecord,
    entities: &[EntityId],
    now: Timestamp,
) -> Vec<EntityMessage> {
    let Some(first) = entities.first() else {
        return Vec::new();
    };
    let request = LockRequest {
        entities: entities.to_vec(),
        index: 0,
    };
    vec![EntityMessage {
        entity: first.clone(),
        operation: UNLOCK_OPERATION.to_owned(),
        input: request.to_json(),
        caller: Some(caller_of(instance, 0)),
        sender: Some(instance.instance_id.clone()),
        visible_at: now,
    }]
}

fn caller_of(instance: &InstanceRecord, task_id: u32) -> EntityCaller {
    EntityCaller {
        instance_id: instance.instance_id.clone(),
        execution_id: instance.execution_id.clone(),
        task_id,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::instance;
    use crate::store::Catalogue;
    use crate::types::{EntityOperation, RuntimeStatus};

    const NOW: Timestamp = 50;

    fn entity(key: &str) -> EntityId {
        EntityId {
            name: "counter".into(),
            key: key.into(),
        }
    }

    fn caller(id: &str) -> EntityCaller {
        EntityCaller {
            instance_id: id.into(),
            execution_id: format!("{id}-e"),
            task_id: 4,
        }
    }

    fn op(id: i64, operation: &str, caller: Option<EntityCaller>) -> EntityInboxMessage {
        EntityInboxMessage {
            id,
            operation: operation.into(),
            input: "1".into(),
            caller,
        }
    }

    fn lock(
        id: i64,
        holder: &str,
        operation: &str,
        keys: &[&str],
        index: usize,
    ) -> EntityInboxMessage {
        let request = LockRequest {
            entities: keys.iter().map(|k| entity(k)).collect(),
            index,
        };
        EntityInboxMessage {
            id,
            operation: operation.into(),
            input: request.to_json(),
            caller: Some(caller(holder)),
        }
    }

    fn item(locked_by: Option<&str>, messages: Vec<EntityInboxMessage>) -> EntityWorkItem {
        EntityWorkItem {
            entity: entity("a"),
            state: Some("3".into()),
            locked_by: locked_by.map(str::to_owned),
            lock_token: "t".into(),
            messages,
        }
    }

    #[test]
    fn a_batch_seed_is_its_own_and_the_same_when_it_runs_again() {
        let seed = batch_seed(&entity("a"), &[4, 5]);
        assert_eq!(seed, batch_seed(&entity("a"), &[4, 5]));
        assert_ne!(seed, batch_seed(&entity("a"), &[6]));
        assert_ne!(seed, batch_seed(&entity("b"), &[4, 5]));
    }

    #[test]
    fn a_lock_request_ends_the_batch_and_travels_to_the_next_entity() {
        let work = item(
            None,
            vec![
                op(1, "add", None),
                lock(2, "o", LOCK_OPERATION, &["a", "b"], 0),
                op(3, "add", None),
            ],
        );
        let inbox = sort_entity_inbox(&work, NOW);
        assert_eq!(inbox.consumed, [1, 2], "the message after the lock waits");
        assert_eq!(inbox.operations.len(), 1);
        assert_eq!(inbox.locked_by.as_deref(), Some("o"));
        assert!(inbox.grants.is_empty());
        let [forward] = inbox.forwards.as_slice() else {
            panic!("one forward: {:?}", inbox.forwards);
        };
        assert_eq!(
            (forward.entity.key.as_str(), forward.operation.as_str()),
            ("b", LOCK_OPERATION)
        );
        let next: LockRequest = serde_json::from_str(&forward.input).unwrap();
        assert_eq!(next.index, 1);
    }

    #[test]
    fn the_last_entity_grants_the_lock() {
        let work = item(None, vec![lock(1, "o", LOCK_OPERATION, &["x", "a"], 1)]);
        let inbox = sort_entity_inbox(&work, NOW);
        assert!(inbox.forwards.is_empty());
        let [grant] = inbox.grants.as_slice() else {
            panic!("one grant: {:?}", inbox.grants);
        };
        assert_eq!(grant.instance_id, "o");
        assert_eq!(grant.execution_id.as_deref(), Some("o-e"));
        assert_eq!(grant.event, EventKind::EntityLockGranted { task_id: 4 });
    }

    #[test]
    fn only_the_holder_releases_and_the_release_follows_the_path() {
        let by_holder = item(
            Some("o"),
            vec![lock(1, "o", UNLOCK_OPERATION, &["a", "b"], 0)],
        );
        let inbox = sort_entity_inbox(&by_holder, NOW);
        assert_eq!(inbox.locked_by, None);
        assert_eq!(inbox.forwards[0].operation, UNLOCK_OPERATION);
        assert_eq!(inbox.forwards[0].entity.key, "b");

        let by_other = item(Some("o"), vec![lock(1, "x", UNLOCK_OPERATION, &["a"], 0)]);
        let inbox = sort_entity_inbox(&by_other, NOW);
        assert_eq!(inbox.locked_by.as_deref(), Some("o"));
        assert!(inbox.forwards.is_empty());
    }

    #[test]
    fn a_batch_answers_callers_and_sends_what_its_operations_sent() {
        let work = item(
            None,
            vec![op(1, "add", Some(caller("o"))), op(2, "boom", None)],
        );
        let inbox = sort_entity_inbox(&work, NOW);
        let deployed = [ComponentRecord {
            digest: "sha256:app".into(),
            catalogue: Catalogue {
                orchestrators: vec!["report".into()],
                ..Catalogue::default()
            },
            deployed_at: 0,
            retired_at: None,
            version: None,
            app: None,
        }];
        let outcomes = vec![
            EntityOperationOutcome {
                result: Ok("4".into()),
                effects: vec![
                    EntityEffect::Signal {
                        entity: entity("b"),
                        operation: "add".into(),
                        input: "1".into(),
                        scheduled_at: Some(10),
                    },
                    EntityEffect::StartOrchestration {
                        name: "report".into(),
                        instance_id: String::new(),
                        input: "null".into(),
                    },
                    EntityEffect::StartOrchestration {
                        name: "nowhere".into(),
                        instance_id: "x".into(),
                        input: "null".into(),
                    },
                ],
            },
            EntityOperationOutcome {
                result: Err(Failure::new("Boom", "no")),
                effects: Vec::new(),
            },
        ];
        let mut n = 0;
        let mut new_id = || {
            n += 1;
            format!("id-{n}")
        };
        let (commit, dropped) = plan_entity_commit(
            &work,
            inbox,
            outcomes,
            Some("4".into()),
            &deployed,
            &mut new_id,
            NOW,
        );
        assert_eq!(commit.consumed, [1, 2]);
        assert_eq!(commit.state.as_deref(), Some("4"));
        let [answer] = commit.responses.as_slice() else {
            panic!("one answer: {:?}", commit.responses);
        };
        assert_eq!(
            answer.event,
            EventKind::EntityResponded {
                task_id: 4,
                result: Ok("4".into())
            }
        );
        assert_eq!(
            commit.signals[0].visible_at, NOW,
            "a signal is never in the past"
        );
        let [started] = commit.new_instances.as_slice() else {
            panic!("one start: {:?}", commit.new_instances);
        };
        assert_eq!(
            (started.instance_id.as_str(), started.digest.as_str()),
            ("id-1", "sha256:app")
        );
        assert_eq!(
            dropped,
            [
                Dropped::UnknownOrchestrator {
                    name: "nowhere".into()
                },
                Dropped::FailedSignal {
                    operation: "boom".into(),
                    failure: Failure::new("Boom", "no")
                }
            ]
        );
    }

    #[test]
    fn a_turn_sends_its_entity_requests() {
        let running = instance(RuntimeStatus::Running);
        let operation = EntityOperation {
            entity: entity("a"),
            operation: "get".into(),
            input: "null".into(),
            scheduled_at: None,
        };
        let later = EntityOperation {
            scheduled_at: Some(90),
            ..operation.clone()
        };
        let history = [
            HistoryEvent {
                event_id: Some(2),
                timestamp: NOW,
                kind: EventKind::EntityCalled(operation),
            },
            HistoryEvent {
                event_id: Some(3),
                timestamp: NOW,
                kind: EventKind::EntitySignalled(later),
            },
            HistoryEvent {
                event_id: Some(4),
                timestamp: NOW,
                kind: EventKind::EntityLockRequested {
                    entities: vec![entity("a"), entity("b")],
                },
            },
        ];
        let messages = entity_messages(&running, &history, NOW);
        let summary: Vec<_> = messages
            .iter()
            .map(|m| {
                (
                    m.operation.as_str(),
                    m.caller.as_ref().map(|c| c.task_id),
                    m.visible_at,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                ("get", Some(2), NOW),
                ("get", None, 90),
                (LOCK_OPERATION, Some(4), NOW)
            ]
        );
    }
}
