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
        let operations: Vec<EntityOperationRequest> = item
            .messages
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
            consumed: item.messages.iter().map(|m| m.id).collect(),
            responses: Vec::new(),
            signals: Vec::new(),
            new_instances: Vec::new(),
            now,
        };
        for (message, outcome) in item.messages.iter().zip(outcomes) {
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
                let Some(digest) = self.component_offering("", &name).await? else {
                    tracing::error!(entity = %from.name, key = %from.key,
                        "cannot start orchestration `{name}`: no deployed component offers it");
                    return Ok(());
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
    new_history
        .iter()
        .filter_map(|event| match &event.kind {
            EventKind::EntityCalled(op) => Some(EntityMessage {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
                input: op.input.clone(),
                caller: Some(EntityCaller {
                    instance_id: instance.instance_id.clone(),
                    execution_id: instance.execution_id.clone(),
                    task_id: event.event_id,
                }),
                visible_at: now,
            }),
            EventKind::EntitySignalled(op) => Some(EntityMessage {
                entity: op.entity.clone(),
                operation: op.operation.clone(),
                input: op.input.clone(),
                caller: None,
                visible_at: op.scheduled_at.unwrap_or(now).max(now),
            }),
            _ => None,
        })
        .collect()
}
