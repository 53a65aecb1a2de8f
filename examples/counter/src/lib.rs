//! A counter entity driven from the CLI and from an orchestrator.
//!
//! `counter` keeps an integer: `add` (input: the amount), `reset`, `get` (returns the value),
//! `delete`. An amount that would take it below zero fails the operation, which leaves the
//! value as it was. `increment_and_read` signals `add` to a counter and then calls `get`:
//! entity messages from one orchestration to one entity arrive in order, so the answer
//! includes the increment. `add_later` schedules an `add` for later.

use durable_sdk::{EntityContext, EntityId, Failure, OrchestrationContext};
use serde::Deserialize;

#[durable_sdk::entity]
fn counter(ctx: &mut EntityContext) -> Result<(), Failure> {
    let value: i64 = ctx.get_state(|| 0)?;
    match ctx.operation_name() {
        "add" => {
            let amount: i64 = ctx.get_input()?;
            let next = value + amount;
            if next < 0 {
                return Err(Failure::new(
                    "NegativeCounter",
                    format!("adding {amount} to {value} would go below zero"),
                )
                .non_retriable());
            }
            ctx.set_state(next)?;
            ctx.set_result(next)?;
        }
        "reset" => ctx.set_state(0)?,
        "get" => ctx.set_result(value)?,
        "delete" => ctx.delete_state(),
        _ => return Err(ctx.unknown_operation()),
    }
    Ok(())
}

/// Input of `increment_and_read`.
#[derive(Debug, Deserialize)]
pub struct Increment {
    pub key: String,
    pub amount: i64,
}

#[durable_sdk::orchestrator]
async fn increment_and_read(ctx: OrchestrationContext, input: Increment) -> Result<i64, Failure> {
    let id = EntityId::new("counter", input.key);
    ctx.signal_entity(&id, "add", input.amount);
    ctx.call_entity(&id, "get", ()).await
}

/// Input of `add_later`.
#[derive(Debug, Deserialize)]
pub struct AddLater {
    pub key: String,
    pub amount: i64,
    pub delay_secs: u64,
}

/// Schedules an `add` for later (a scheduled signal) and finishes at once.
#[durable_sdk::orchestrator]
async fn add_later(ctx: OrchestrationContext, input: AddLater) -> Result<(), Failure> {
    let at = ctx.current_utc_datetime() + std::time::Duration::from_secs(input.delay_secs);
    let id = EntityId::new("counter", input.key);
    ctx.signal_entity_at(&id, "add", input.amount, at);
    Ok(())
}

/// Input of `call_counter`: any operation, for trying errors out.
#[derive(Debug, Deserialize)]
pub struct Call {
    pub entity: String,
    pub key: String,
    pub operation: String,
    pub input: serde_json::Value,
}

#[durable_sdk::orchestrator]
async fn call_counter(
    ctx: OrchestrationContext,
    input: Call,
) -> Result<serde_json::Value, Failure> {
    let id = EntityId::new(input.entity, input.key);
    ctx.call_entity(&id, &input.operation, input.input).await
}

durable_sdk::component! {
    orchestrators: [increment_and_read, add_later, call_counter],
    activities: [],
    entities: [counter],
}
