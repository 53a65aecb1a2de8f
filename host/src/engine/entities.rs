//! Entity batches: the loop that locks entities with visible messages (under a lease, like
//! orchestrations), and one batch of one entity: load (the work item, the deployments),
//! decide (sort the inbox by the lock protocol, run the operations in a sandboxed store of
//! the newest component offering the entity, plan the commit), commit (one transaction: the
//! new state, the consumed messages, the answers to calling orchestrations, the signals the
//! operations sent and the orchestrations they started). A batch the guest could not run (a
//! trap, a missing component) answers every call with the failure and keeps the state.

use super::loops::{Boxed, WorkKind};
use super::{Engine, EngineError};
use crate::metrics::{self, WorkOutcome};
use crate::plan::entity::{Dropped, batch_seed, plan_entity_commit, sort_entity_inbox};
use crate::resolve::{FunctionKind, newest_offering};
use crate::store::{EntityInboxMessage, EntityWorkItem, LogLine, StoreError};
use crate::telemetry;
use crate::types::{
    EntityEffect, EntityId, EntityOperationOutcome, EntityOperationRequest, Failure, Json,
    Timestamp, failure_types, payload_too_large,
};
use crate::wasm::{EntityBatchOutput, LoadedComponent};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::Instrument as _;

/// Operations run in one batch at most.
const ENTITY_BATCH: usize = 100;
/// Delay before a batch that failed outside the guest is tried again.
const RETRY_MS: u64 = 1_000;

impl Engine {
    pub(super) async fn entity_loop(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let kind = WorkKind {
            what: "entities",
            lease: self.config.orchestration_lease.as_millis() as u64,
            lock: |engine, free, lease, now| {
                let owner = &engine.config.owner;
                engine
                    .store
                    .lock_entities(owner, free, ENTITY_BATCH, lease, now)
            },
            run: run_or_abandon,
        };
        self.work_loop(
            kind,
            &self.lanes.entities,
            &self.signals().entities,
            stopped,
        )
        .await;
    }

    /// One batch of a locked entity.
    async fn run_entity_batch(&self, item: EntityWorkItem) -> Result<WorkOutcome, EngineError> {
        let now = self.clock.now();
        let entity = &item.entity;
        // Load: the deployments (where the entity runs, where the orchestrations its
        // operations start run).
        let deployed = self.store.components().await?;

        // Decide.
        let inbox = sort_entity_inbox(&item, now);
        let (outcomes, state) = match newest_offering(FunctionKind::Entity, &entity.name, &deployed)
        {
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
                (vec![outcome; inbox.operations.len()], item.state.clone())
            }
            Some(offering) => {
                let component = self.component(&offering.digest).await?;
                let operations = requests(&inbox.operations);
                self.execute(&component, entity, item.state.clone(), &operations, now)
                    .await
            }
        };
        let mut new_id = || self.client.new_id();
        let (commit, dropped) =
            plan_entity_commit(&item, inbox, outcomes, state, &deployed, &mut new_id, now);
        for dropped in dropped {
            match dropped {
                Dropped::FailedSignal { operation, failure } => {
                    tracing::error!(entity = %entity.name, key = %entity.key,
                        operation = %operation, "signalled operation failed: {failure}");
                }
                Dropped::ReservedOperation { operation } => {
                    tracing::error!(entity = %entity.name, key = %entity.key,
                        "dropped a signal of the reserved operation `{operation}`");
                }
                Dropped::UnknownOrchestrator { name } => {
                    tracing::error!(entity = %entity.name, key = %entity.key,
                        "cannot start orchestration `{name}`: no deployed component offers it");
                }
            }
        }

        // Commit.
        let written = self
            .write_fenced(self.config.orchestration_lease, || {
                self.store.complete_entity(commit.clone())
            })
            .await;
        match written {
            Ok(()) => {
                self.commit_done(false, true);
                Ok(WorkOutcome::Completed)
            }
            Err(StoreError::LeaseLost) => {
                tracing::warn!(entity = %commit.entity.name, key = %commit.entity.key,
                    "lost the lease on an entity; its batch was discarded");
                Ok(WorkOutcome::Discarded)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Runs the operations (with the ids of their messages) as one batch. When the guest traps
    /// (a panic, a broken limit) or produces a payload over the limit, the batch is run again
    /// one operation at a time, so only the operation at fault fails and the others keep their
    /// effects. Each run's random numbers
    /// are seeded by the messages it runs ([`batch_seed`]).
    async fn execute(
        &self,
        component: &LoadedComponent,
        entity: &EntityId,
        state: Option<Json>,
        batch: &[(i64, EntityOperationRequest)],
        now: Timestamp,
    ) -> (Vec<EntityOperationOutcome>, Option<Json>) {
        let log = |logs: &[LogLine]| {
            for line in logs {
                tracing::info!(entity = %entity.name, key = %entity.key,
                    level = %line.level, "{}", line.message);
            }
        };
        let ids: Vec<i64> = batch.iter().map(|(id, _)| *id).collect();
        let operations: Vec<EntityOperationRequest> =
            batch.iter().map(|(_, op)| op.clone()).collect();
        let seed = batch_seed(entity, &ids);
        let run = self
            .run_batch(component, entity, &seed, state.as_ref(), &operations, now)
            .await;
        let failure = match run {
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
            "entity batch failed ({failure}); running its operations one at a time");
        let mut state = state;
        let mut outcomes = Vec::with_capacity(operations.len());
        for (id, operation) in batch {
            let single = std::slice::from_ref(operation);
            let seed = batch_seed(entity, &[*id]);
            match self
                .run_batch(component, entity, &seed, state.as_ref(), single, now)
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

    /// One run of `operations`; a result, state, signal input or orchestration input larger
    /// than the payload limit fails the run as a whole, like a trap (then each operation runs
    /// alone, and only the one that produced it fails).
    async fn run_batch(
        &self,
        component: &LoadedComponent,
        entity: &EntityId,
        seed: &str,
        state: Option<&Json>,
        operations: &[EntityOperationRequest],
        now: Timestamp,
    ) -> Result<EntityBatchOutput, Failure> {
        let output = self
            .wasm
            .run_entity_batch(component, entity, seed, state, operations, now)
            .await?;
        let limit = self.config.max_payload;
        let results = output.results.iter().filter_map(|o| o.result.as_ref().ok());
        if let Some(result) = results.map(String::len).find(|len| *len > limit) {
            return Err(payload_too_large("an operation's result", result, limit));
        }
        let sent = output.results.iter().flat_map(|o| &o.effects);
        for effect in sent {
            let (what, input) = match effect {
                EntityEffect::Signal {
                    entity,
                    operation,
                    input,
                    ..
                } => (
                    format!(
                        "the input of signal `{operation}` to `{}@{}`",
                        entity.name, entity.key
                    ),
                    input,
                ),
                EntityEffect::StartOrchestration { name, input, .. } => {
                    (format!("the input of orchestration `{name}`"), input)
                }
            };
            if input.len() > limit {
                return Err(payload_too_large(&what, input.len(), limit));
            }
        }
        match &output.state {
            Some(state) if state.len() > limit => {
                Err(payload_too_large("the entity state", state.len(), limit))
            }
            _ => Ok(output),
        }
    }
}

/// The operations of a batch, with the ids of their messages.
fn requests(messages: &[&EntityInboxMessage]) -> Vec<(i64, EntityOperationRequest)> {
    messages
        .iter()
        .map(|m| {
            let request = EntityOperationRequest {
                name: m.operation.clone(),
                input: m.input.clone(),
            };
            (m.id, request)
        })
        .collect()
}

/// Runs a batch; one that fails outside the guest is abandoned and retried shortly.
fn run_or_abandon(engine: Arc<Engine>, item: EntityWorkItem) -> Boxed<'static, ()> {
    Box::pin(async move {
        let entity = item.entity.clone();
        let token = item.lock_token.clone();
        let started = std::time::Instant::now();
        metrics::entity_batch_started(item.messages.len());
        // Its own trace: a batch serves many callers.
        let span = tracing::info_span!(target: telemetry::TARGET, "entity batch",
            otel.name = %format_args!("entity {}", entity.name),
            durable.entity = %entity.name, durable.entity_key = %entity.key,
            durable.operations = item.messages.len(),
            durable.outcome = tracing::field::Empty, otel.status_code = tracing::field::Empty);
        let ran = engine.run_entity_batch(item).instrument(span.clone()).await;
        let outcome = *ran.as_ref().unwrap_or(&WorkOutcome::Retried);
        metrics::entity_batch_finished(outcome, started.elapsed());
        telemetry::record_outcome(&span, outcome.label(), outcome != WorkOutcome::Completed);
        if let Err(e) = ran {
            tracing::error!(entity = %entity.name, key = %entity.key,
                "entity batch failed, will retry: {e:#}");
            let retry_at = engine.clock.now() + RETRY_MS;
            let lease = engine.config.orchestration_lease;
            let _ = engine
                .write_fenced(lease, || {
                    engine.store.abandon_entity(&entity, &token, retry_at)
                })
                .await;
        }
    })
}
