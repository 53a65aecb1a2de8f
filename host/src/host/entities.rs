//! The entity dispatch loop: the third kind of work beside orchestrations and activities.
//!
//! It locks entities that have visible messages (under a lease, like orchestrations), runs each
//! one's messages as one batch in a sandboxed store of the newest component offering the
//! entity's name, and commits in one transaction the new state, the consumed messages, the
//! answers to calling orchestrations (`EntityResponded`), the signals the operations sent and
//! the orchestrations they started. A batch the guest could not run (a trap, a missing
//! component) answers every call with the failure and keeps the state.

use super::*;
use crate::store::{EntityCaller, EntityCommit, EntityMessage, EntityWorkItem};
use crate::types::EntityId;
use crate::wasm::{EntityEffect, EntityOperationOutcome, EntityOperationRequest};

/// Operations run in one batch at most.
const ENTITY_BATCH: usize = 100;

/// The inbox message asking for an entity's lock in a critical section (a reserved operation
/// name); its input is a [`LockRequest`], its caller the orchestration.
pub(crate) const LOCK_OPERATION: &str = "$lock";
/// The inbox message releasing the lock the caller holds.
pub(crate) const UNLOCK_OPERATION: &str = "$unlock";

/// A lock request travels along its sorted entities: each one, once locked, forwards it to the
/// next; the last one answers the orchestration with `EntityLockGranted`.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
struct LockRequest {
    entities: Vec<EntityId>,
    index: usize,
}

impl Inner {
    pub(super) async fn entity_loop(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let lease = self.config.orchestration_lease.as_millis() as u64;
        let run = |inner: Arc<Inner>, item: EntityWorkItem| -> Boxed<'static, ()> {
            Box::pin(async move {
                let entity = item.entity.clone();
                let token = item.lock_token.clone();
                if let Err(e) = inner.run_entity_batch(item).await {
                    tracing::error!(entity = %entity.name, key = %entity.key,
                        "entity batch failed, will retry: {e:#}");
                    let retry_at = inner.clock.now() + 1_000;
                    let _ = inner.store.abandon_entity(&entity, &token, retry_at).await;
                }
            })
        };
        let kind = WorkKind {
            what: "entities",
            concurrency: self.config.orchestration_concurrency,
            lease,
            lock: |inner, free, lease| {
                let now = inner.clock.now();
                inner
                    .store
                    .lock_entities(&inner.config.owner, free, ENTITY_BATCH, lease, now)
            },
            run,
        };
        self.work_loop(kind, &self.wake_orchestrations, stopped)
            .await;
    }

    /// The newest deployment offering entity `name`.
    async fn component_offering_entity(&self, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .store
            .components()
            .await?
            .into_iter()
            .find(|c| c.catalogue.entities.iter().any(|e| e == name))
            .map(|c| c.digest))
    }

    async fn run_entity_batch(&self, item: EntityWorkItem) -> anyhow::Result<()> {
        let now = self.clock.now();
        let entity = &item.entity;
        let mut locked_by = item.locked_by.clone();
        let mut consumed = Vec::new();
        let mut taken = Vec::new();
        let mut lock_responses = Vec::new();
        let mut lock_forwards = Vec::new();
        for message in &item.messages {
            consumed.push(message.id);
            let is_lock = message.operation == LOCK_OPERATION;
            if !is_lock && message.operation != UNLOCK_OPERATION {
                taken.push(message);
                continue;
            }
            let Some(caller) = &message.caller else {
                continue; // only orchestrations lock
            };
            if !is_lock {
                if locked_by.as_deref() == Some(caller.instance_id.as_str()) {
                    locked_by = None;
                }
                // The release follows the lock request's path, so it never overtakes it.
                if let Ok(request) = serde_json::from_str::<LockRequest>(&message.input)
                    && let Some(target) = request.entities.get(request.index + 1)
                {
                    lock_forwards.push(EntityMessage {
                        entity: target.clone(),
                        operation: UNLOCK_OPERATION.to_owned(),
                        input: serde_json::to_string(&LockRequest {
                            entities: request.entities.clone(),
                            index: request.index + 1,
                        })?,
                        caller: Some(caller.clone()),
                        visible_at: now,
                    });
                }
            } else if let Ok(request) = serde_json::from_str::<LockRequest>(&message.input) {
                locked_by = Some(caller.instance_id.clone());
                let next = request.index + 1;
                match request.entities.get(next) {
                    Some(target) => lock_forwards.push(EntityMessage {
                        entity: target.clone(),
                        operation: LOCK_OPERATION.to_owned(),
                        input: serde_json::to_string(&LockRequest {
                            entities: request.entities.clone(),
                            index: next,
                        })?,
                        caller: Some(caller.clone()),
                        visible_at: now,
                    }),
                    None => lock_responses.push(OutboundMessage {
                        instance_id: caller.instance_id.clone(),
                        execution_id: Some(caller.execution_id.clone()),
                        event: EventKind::EntityLockGranted {
                            task_id: caller.task_id,
                        },
                        visible_at: now,
                        timer_id: None,
                    }),
                }
            }
            // Who may send changes here: later messages wait for the next batch, which
            // selects them under the new holder.
            break;
        }
        let operations: Vec<EntityOperationRequest> = taken
            .iter()
            .map(|m| EntityOperationRequest {
                name: m.operation.clone(),
                input: m.input.clone(),
            })
            .collect();
        let (outcomes, state) = match self.component_offering_entity(&entity.name).await? {
            None => {
                let failure = Failure::fatal(
                    failure_types::UNKNOWN_FUNCTION,
                    format!(
                        "no deployed component offers an entity named `{}`",
                        entity.name
                    ),
                );
                let outcome = EntityOperationOutcome {
                    result: Err(failure),
                    effects: Vec::new(),
                };
                (vec![outcome; operations.len()], item.state.clone())
            }
            Some(digest) => {
                let component = self.component(&digest).await?;
                self.execute(&component, entity, item.state.clone(), &operations, now)
                    .await
            }
        };
        let mut commit = EntityCommit {
            entity: entity.clone(),
            lock_token: item.lock_token.clone(),
            state,
            locked_by,
            consumed,
            responses: lock_responses,
            signals: lock_forwards,
            new_instances: Vec::new(),
            now,
        };
        for (message, outcome) in taken.into_iter().zip(outcomes) {
            match (&message.caller, &outcome.result) {
                (Some(caller), result) => commit.responses.push(respond(caller, result, now)),
                (None, Err(failure)) => {
                    tracing::error!(entity = %entity.name, key = %entity.key,
                        operation = %message.operation, "signalled operation failed: {failure}");
                }
                (None, Ok(_)) => {}
            }
            for effect in outcome.effects {
                self.apply_effect(entity, effect, now, &mut commit).await?;
            }
        }
        match self.store.complete_entity(commit).await {
            Ok(()) => {
                self.commit_done();
                Ok(())
            }
            Err(StoreError::LeaseLost) => {
                tracing::warn!("lost the lease on an entity; its batch was discarded");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs the operations as one batch. When the guest traps (a panic, a broken limit), the
    /// batch is run again one operation at a time, so only the operation that traps fails and
    /// the others keep their effects.
    async fn execute(
        &self,
        component: &LoadedComponent,
        entity: &EntityId,
        state: Option<String>,
        operations: &[EntityOperationRequest],
        now: u64,
    ) -> (Vec<EntityOperationOutcome>, Option<String>) {
        let log = |logs: &[crate::store::LogLine]| {
            for line in logs {
                tracing::info!(entity = %entity.name, key = %entity.key,
                    level = %line.level, "{}", line.message);
            }
        };
        let batch = self
            .wasm
            .run_entity_batch(component, entity, state.as_ref(), operations, now)
            .await;
        let failure = match batch {
            Ok(output) => {
                log(&output.logs);
                return (output.results, output.state);
            }
            Err(failure) if operations.len() > 1 => failure,
            Err(failure) => {
                let outcome = EntityOperationOutcome {
                    result: Err(failure),
                    effects: Vec::new(),
                };
                return (vec![outcome], state);
            }
        };
        tracing::warn!(entity = %entity.name, key = %entity.key,
            "entity batch trapped ({failure}); running its operations one at a time");
        let mut state = state;
        let mut outcomes = Vec::with_capacity(operations.len());
        for operation in operations {
            let single = std::slice::from_ref(operation);
            match self
                .wasm
                .run_entity_batch(component, entity, state.as_ref(), single, now)
                .await
            {
                Ok(mut output) => {
                    log(&output.logs);
                    state = output.state;
                    outcomes.append(&mut output.results);
                }
                Err(failure) => outcomes.push(EntityOperationOutcome {
                    result: Err(failure),
                    effects: Vec::new(),
                }),
            }
        }
        (outcomes, state)
    }

    async fn apply_effect(
        &self,
        from: &EntityId,
        effect: EntityEffect,
        now: u64,
        commit: &mut EntityCommit,
    ) -> anyhow::Result<()> {
        match effect {
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
                visible_at: scheduled_at.unwrap_or(now).max(now),
            }),
            EntityEffect::StartOrchestration {
                name,
                instance_id,
                input,
            } => {
                // A start, like a client's: the newest deployment offering the orchestrator.
                let digest = match self.client.component_for(&name).await {
                    Ok(component) => component.digest,
                    Err(crate::client::ClientError::UnknownOrchestrator { .. }) => {
                        tracing::error!(entity = %from.name, key = %from.key,
                            "cannot start orchestration `{name}`: no deployed component offers it");
                        return Ok(());
                    }
                    Err(e) => return Err(e.into()),
                };
                let instance_id = match instance_id.is_empty() {
                    true => self.client.new_id(),
                    false => instance_id,
                };
                commit.new_instances.push(NewInstance {
                    instance_id,
                    name,
                    execution_id: self.client.new_id(),
                    digest,
                    input,
                    parent: None,
                    created_at: now,
                });
            }
        }
        Ok(())
    }
}

/// The `EntityResponded` message answering a call.
fn respond(caller: &EntityCaller, result: &Result<String, Failure>, now: u64) -> OutboundMessage {
    OutboundMessage {
        instance_id: caller.instance_id.clone(),
        execution_id: Some(caller.execution_id.clone()),
        event: EventKind::EntityResponded {
            task_id: caller.task_id,
            result: result.clone(),
        },
        visible_at: now,
        timer_id: None,
    }
}

/// The entity messages an orchestration turn sends: its new `EntityCalled` and
/// `EntitySignalled` events (their event id is the action's sequence id).
pub(super) fn entity_messages(
    instance: &InstanceRecord,
    new_history: &[HistoryEvent],
    now: u64,
) -> Vec<EntityMessage> {
    let caller = |task_id| {
        Some(EntityCaller {
            instance_id: instance.instance_id.clone(),
            execution_id: instance.execution_id.clone(),
            task_id,
        })
    };
    let mut messages = Vec::new();
    for event in new_history {
        match &event.kind {
            EventKind::EntityCalled(op) => messages.push(EntityMessage {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
                input: op.input.clone(),
                caller: caller(event.event_id),
                visible_at: now,
            }),
            EventKind::EntitySignalled(op) => messages.push(EntityMessage {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
                input: op.input.clone(),
                caller: None,
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
                    input: serde_json::to_string(&request).unwrap_or_default(),
                    caller: caller(event.event_id),
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

/// An execution ended by the host (a failure, termination) inside a critical section: the
/// messages releasing its entities.
pub(super) fn release_locks(
    instance: &InstanceRecord,
    history: &[HistoryEvent],
    new_events: &[HistoryEvent],
    now: u64,
) -> Vec<EntityMessage> {
    let mut held: Option<&Vec<EntityId>> = None;
    for event in history.iter().chain(new_events) {
        match &event.kind {
            EventKind::EntityLockRequested { entities } => held = Some(entities),
            EventKind::EntityUnlocked { .. } => held = None,
            _ => {}
        }
    }
    held.map_or_else(Vec::new, |entities| {
        unlock_messages(instance, entities, now)
    })
}

/// The message releasing `entities` held by `instance`: like the lock request, it goes to
/// the first entity, and each one forwards it to the next after releasing itself, so it
/// reaches every entity after the lock request did.
pub(super) fn unlock_messages(
    instance: &InstanceRecord,
    entities: &[EntityId],
    now: u64,
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
        input: serde_json::to_string(&request).unwrap_or_default(),
        caller: Some(EntityCaller {
            instance_id: instance.instance_id.clone(),
            execution_id: instance.execution_id.clone(),
            task_id: 0,
        }),
        visible_at: now,
    }]
}
