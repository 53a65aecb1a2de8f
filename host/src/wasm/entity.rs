//! Running a batch of entity operations: one call to `entity.execute-batch` in a fresh
//! sandboxed store (entities are deterministic like orchestrators: no clock but the batch's
//! time, seeded randomness, no I/O), with the orchestrator's CPU and memory limits.

use super::bindings::exports::durable::core::entity as wit_entity;
use super::*;
use crate::types::{EntityEffect, EntityId, EntityOperationOutcome, EntityOperationRequest};

/// What a batch produced.
#[derive(Debug, Clone)]
pub struct EntityBatchOutput {
    /// One outcome per operation, in order.
    pub results: Vec<EntityOperationOutcome>,
    /// The state after the batch, JSON text; `None` when the entity has none (it deleted
    /// itself, or never set one).
    pub state: Option<Json>,
    /// The guest's log lines and output from the batch.
    pub logs: Vec<LogLine>,
}

impl From<wit_entity::EntityAction> for EntityEffect {
    fn from(action: wit_entity::EntityAction) -> Self {
        match action {
            wit_entity::EntityAction::SignalEntity(signal) => EntityEffect::Signal {
                entity: signal.entity.into(),
                operation: signal.operation.name,
                input: signal.operation.input,
                scheduled_at: signal.scheduled_at,
            },
            wit_entity::EntityAction::StartOrchestration(start) => {
                EntityEffect::StartOrchestration {
                    name: start.name,
                    instance_id: start.instance_id,
                    input: start.input,
                }
            }
        }
    }
}

impl WasmRuntime {
    /// Runs `operations` against `state`, with random bytes from a generator seeded by `seed`
    /// (the same seed gives the same values). `Err(failure)`: the guest trapped (or broke a
    /// limit), the whole batch failed and the state is unchanged.
    pub async fn run_entity_batch(
        &self,
        component: &LoadedComponent,
        entity: &EntityId,
        seed: &str,
        state: Option<&String>,
        operations: &[EntityOperationRequest],
        now: Timestamp,
    ) -> Result<EntityBatchOutput, Failure> {
        let mut store = self.sandboxed_store(seed, "");
        store.data().time.set(now);
        let instantiated = self.instantiate(&component.sandboxed, &mut store, "entity");
        let instance = match instantiated.await {
            Ok(instance) => instance,
            Err(e) => return Err(classify(e, &store, self.orchestrator_limits())),
        };
        let id = entity.clone().into();
        let ops: Vec<wit_entity::Operation> = operations
            .iter()
            .map(|op| wit_entity::Operation {
                name: op.name.clone(),
                input: op.input.clone(),
            })
            .collect();
        let exports = instance.durable_core_entity();
        let out = waiting_for_a_slot!(
            self.slots,
            exports
                .call_execute_batch(&mut store, &id, state, &ops)
                .await
        )
        .map_err(|e| classify(e, &store, self.orchestrator_limits()))?;
        let logs = store.data_mut().take_logs(now);
        Ok(EntityBatchOutput {
            results: out
                .results
                .into_iter()
                .map(|r| EntityOperationOutcome {
                    result: r.result.map_err(Failure::from),
                    effects: r.actions.into_iter().map(Into::into).collect(),
                })
                .collect(),
            state: out.state,
            logs,
        })
    }
}
