//! Entities: small stateful actors addressed by `(name, key)`.
//!
//! An entity is a function `fn(&mut EntityContext) -> Result<(), E>` marked `#[entity]` that
//! dispatches on [`EntityContext::operation_name`]. The host hands the component a batch of
//! operations with the entity's current state (`entity.execute-batch`); [`execute_batch`] runs
//! them one at a time against one [`EntityContext`]. Each operation is transactional: when it
//! fails, the state goes back to what it was before that operation and the messages it sent
//! are dropped; its result is the failure and later operations still run.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::bindings::exports::durable::core::entity as wit_entity;
use crate::bindings::wit_types;
use crate::failure::{Failure, INVALID_INPUT};
use crate::orchestration::EntityId;

/// Failure type of an operation the entity does not handle.
pub const UNKNOWN_OPERATION: &str = "UnknownOperation";

/// Runs one operation against the context.
pub type EntityEntry = fn(&mut EntityContext) -> Result<(), Failure>;

/// An entity as `component!` lists it.
#[derive(Debug, Clone, Copy)]
pub struct EntityRegistration {
    /// The name the host knows it by: the function's, or `#[entity(name = "...")]`.
    pub name: &'static str,
    /// Runs one operation of it.
    pub entry: EntityEntry,
}

/// The entity's view of the operation it is running: its id, the operation and its input, its
/// state, and the messages it sends.
#[derive(Debug)]
pub struct EntityContext {
    id: EntityId,
    operation: String,
    input: String,
    state: Option<Value>,
    /// Set by `delete_state` during the current operation.
    deleted: bool,
    result: Value,
    actions: Vec<wit_entity::EntityAction>,
}

impl EntityContext {
    fn new(id: EntityId, state: Option<Value>) -> Self {
        EntityContext {
            id,
            operation: String::new(),
            input: "null".into(),
            state,
            deleted: false,
            result: Value::Null,
            actions: Vec::new(),
        }
    }

    /// The entity's id (name and key).
    pub fn id(&self) -> &EntityId {
        &self.id
    }

    /// The entity's key.
    pub fn key(&self) -> &str {
        &self.id.key
    }

    /// The operation being run, e.g. `add`.
    pub fn operation_name(&self) -> &str {
        &self.operation
    }

    /// The operation's input; a bad input is a non-retriable `InvalidInput` failure.
    pub fn get_input<T: DeserializeOwned>(&self) -> Result<T, Failure> {
        crate::export::decode_input(&self.input, "entity operation input")
    }

    /// True when the entity has state (it was set and not deleted).
    pub fn has_state(&self) -> bool {
        self.state.is_some()
    }

    /// The current state, or `init()` when the entity has none yet.
    pub fn get_state<T: DeserializeOwned>(&self, init: impl FnOnce() -> T) -> Result<T, Failure> {
        match &self.state {
            None => Ok(init()),
            Some(value) => T::deserialize(value).map_err(|err| {
                Failure::new(
                    INVALID_INPUT,
                    format!(
                        "the state of entity `{}` is not a valid `{}`: {err}",
                        self.id.name,
                        std::any::type_name::<T>()
                    ),
                )
                .non_retriable()
            }),
        }
    }

    /// Replaces the state.
    pub fn set_state(&mut self, state: impl Serialize) -> Result<(), Failure> {
        self.state = Some(to_value(&state, "entity state")?);
        self.deleted = false;
        Ok(())
    }

    /// Deletes the entity's state: the entity no longer exists once the batch ends (unless a
    /// later operation sets it again).
    pub fn delete_state(&mut self) {
        self.state = None;
        self.deleted = true;
    }

    /// True when the running operation deleted the state (the struct style must not store it
    /// back then).
    #[doc(hidden)]
    pub fn __deleted(&self) -> bool {
        self.deleted
    }

    /// Sets the operation's result, returned to a caller (`call_entity`).
    pub fn set_result(&mut self, result: impl Serialize) -> Result<(), Failure> {
        self.result = to_value(&result, "entity operation result")?;
        Ok(())
    }

    /// Signals `operation` on another entity (sent when this operation succeeds).
    pub fn signal_entity(
        &mut self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Result<(), Failure> {
        let input = to_value(&input, "entity operation input")?.to_string();
        self.actions.push(wit_entity::EntityAction::SignalEntity(
            wit_entity::EntitySignal {
                entity: entity.clone().into(),
                operation: wit_entity::Operation {
                    name: operation.to_owned(),
                    input,
                },
                scheduled_at: None,
            },
        ));
        Ok(())
    }

    /// Starts an orchestration (when this operation succeeds); the host generates its id.
    pub fn start_orchestration(
        &mut self,
        name: &str,
        input: impl Serialize,
    ) -> Result<(), Failure> {
        let input = to_value(&input, "orchestration input")?.to_string();
        self.actions
            .push(wit_entity::EntityAction::StartOrchestration(
                wit_entity::OrchestrationStart {
                    name: name.to_owned(),
                    instance_id: String::new(),
                    input,
                },
            ));
        Ok(())
    }

    /// The failure for an operation this entity does not handle: return it from the `_` arm.
    pub fn unknown_operation(&self) -> Failure {
        Failure::new(
            UNKNOWN_OPERATION,
            format!(
                "entity `{}` has no operation named `{}`",
                self.id.name, self.operation
            ),
        )
        .non_retriable()
    }
}

fn to_value(value: &impl Serialize, what: &str) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|err| {
        Failure::new(INVALID_INPUT, format!("{what} is not serialisable: {err}")).non_retriable()
    })
}

/// Entry for `fn(ctx: &mut EntityContext) -> Result<(), E>`.
pub fn run_entity<F, E>(ctx: &mut EntityContext, f: F) -> Result<(), Failure>
where
    F: FnOnce(&mut EntityContext) -> Result<(), E>,
    E: Into<Failure>,
{
    f(ctx).map_err(Into::into)
}

/// `entity.execute-batch`: runs the operations one at a time, rolling back each failed one.
pub fn execute_batch(
    entities: &[EntityRegistration],
    entity: wit_types::EntityId,
    state: Option<String>,
    operations: Vec<wit_entity::Operation>,
) -> wit_entity::BatchResult {
    let Some(registration) = entities.iter().find(|e| e.name == entity.name) else {
        let results = operations
            .iter()
            .map(|_| wit_entity::OperationResult {
                result: Err(Failure::unknown_function("entity", &entity.name).into()),
                actions: Vec::new(),
            })
            .collect();
        return wit_entity::BatchResult { results, state };
    };
    let id = EntityId::new(entity.name, entity.key);
    // State that is not JSON cannot come from this SDK; treat it as JSON text.
    let state = state.map(|text| serde_json::from_str(&text).unwrap_or(Value::String(text)));
    let mut ctx = EntityContext::new(id, state);
    let mut results = Vec::with_capacity(operations.len());
    for operation in operations {
        let before = ctx.state.clone();
        ctx.operation = operation.name;
        ctx.input = operation.input;
        ctx.result = Value::Null;
        ctx.deleted = false;
        ctx.actions.clear();
        let outcome = (registration.entry)(&mut ctx);
        let actions = std::mem::take(&mut ctx.actions);
        results.push(match outcome {
            Ok(()) => wit_entity::OperationResult {
                result: Ok(ctx.result.to_string()),
                actions,
            },
            Err(failure) => {
                ctx.state = before;
                wit_entity::OperationResult {
                    result: Err(failure.into()),
                    actions: Vec::new(),
                }
            }
        });
    }
    wit_entity::BatchResult {
        results,
        state: ctx.state.map(|value| value.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[crate::entity]
    fn counter(ctx: &mut EntityContext) -> Result<(), Failure> {
        let value: i64 = ctx.get_state(|| 0)?;
        match ctx.operation_name() {
            "add" => {
                let amount: i64 = ctx.get_input()?;
                ctx.set_state(value + amount)?;
                ctx.signal_entity(&EntityId::new("log", "k"), "added", amount)?;
                if value + amount > 100 {
                    return Err(Failure::new("TooBig", "over 100"));
                }
            }
            "get" => ctx.set_result(value)?,
            "delete" => ctx.delete_state(),
            _ => return Err(ctx.unknown_operation()),
        }
        Ok(())
    }

    #[derive(Debug, Default, serde::Serialize, serde::Deserialize)]
    struct BankAccount {
        balance: i64,
    }

    #[crate::entity]
    impl BankAccount {
        fn deposit(&mut self, amount: i64) -> Result<i64, Failure> {
            self.balance += amount;
            Ok(self.balance)
        }

        fn withdraw(&mut self, amount: i64) -> Result<(), Failure> {
            self.balance -= amount;
            if self.balance < 0 {
                return Err(Failure::new("InsufficientFunds", "not enough money"));
            }
            Ok(())
        }

        fn balance(&self) -> Result<i64, Failure> {
            Ok(self.balance)
        }

        fn close(&mut self, ctx: &mut EntityContext) -> Result<(), Failure> {
            ctx.signal_entity(&EntityId::new("audit", "k"), "closed", self.balance)?;
            ctx.delete_state();
            Ok(())
        }
    }

    const ENTITIES: &[EntityRegistration] =
        &[counter::__DURABLE_ENTITY, BankAccount::__DURABLE_ENTITY];

    #[test]
    fn struct_entities_dispatch_to_methods() {
        let id = wit_types::EntityId {
            name: "bank_account".into(),
            key: "a".into(),
        };
        let result = execute_batch(
            ENTITIES,
            id.clone(),
            None,
            vec![
                op("deposit", "10"),
                op("withdraw", "30"),
                op("balance", "null"),
                op("deposit", "\"x\""),
                op("nope", "null"),
            ],
        );
        let results: Vec<_> = result.results.iter().map(|r| &r.result).collect();
        assert_eq!(results[0].as_deref(), Ok("10"));
        assert_eq!(
            results[1].as_ref().unwrap_err().error_type,
            "InsufficientFunds"
        );
        assert_eq!(results[2].as_deref(), Ok("10"));
        assert_eq!(results[3].as_ref().unwrap_err().error_type, INVALID_INPUT);
        assert_eq!(
            results[4].as_ref().unwrap_err().error_type,
            UNKNOWN_OPERATION
        );
        assert_eq!(result.state.as_deref(), Some(r#"{"balance":10}"#));
        let closed = execute_batch(
            ENTITIES,
            id.clone(),
            result.state,
            vec![op("close", "null")],
        );
        assert_eq!(closed.results[0].actions.len(), 1);
        assert_eq!(closed.state, None);
        let deleted = execute_batch(
            ENTITIES,
            id,
            Some("{\"balance\":1}".into()),
            vec![op("delete", "null")],
        );
        assert_eq!(deleted.state, None);
    }

    fn op(name: &str, input: &str) -> wit_entity::Operation {
        wit_entity::Operation {
            name: name.into(),
            input: input.into(),
        }
    }

    fn run(state: Option<&str>, ops: Vec<wit_entity::Operation>) -> wit_entity::BatchResult {
        let id = wit_types::EntityId {
            name: "counter".into(),
            key: "k".into(),
        };
        execute_batch(ENTITIES, id, state.map(Into::into), ops)
    }

    #[test]
    fn a_failing_operation_rolls_back_only_itself() {
        let result = run(
            Some("5"),
            vec![
                op("add", "10"),
                op("add", "1000"),
                op("get", "null"),
                op("add", "\"x\""),
                op("add", "1"),
                op("get", "null"),
            ],
        );
        let results = &result.results;
        assert_eq!(results.len(), 6);
        assert_eq!(results[0].result.as_deref(), Ok("null"));
        assert_eq!(results[0].actions.len(), 1);
        let failed = results[1].result.as_ref().unwrap_err();
        assert_eq!(failed.error_type, "TooBig");
        assert!(
            results[1].actions.is_empty(),
            "a failed operation sends nothing"
        );
        assert_eq!(results[2].result.as_deref(), Ok("15"));
        let bad = results[3].result.as_ref().unwrap_err();
        assert_eq!(bad.error_type, INVALID_INPUT);
        assert_eq!(results[5].result.as_deref(), Ok("16"));
        assert_eq!(result.state.as_deref(), Some("16"));
    }

    #[test]
    fn delete_removes_the_state_and_a_new_operation_starts_fresh() {
        let result = run(Some("7"), vec![op("delete", "null")]);
        assert_eq!(result.state, None);
        let result = run(
            Some("7"),
            vec![op("delete", "null"), op("add", "2"), op("get", "null")],
        );
        assert_eq!(result.results[2].result.as_deref(), Ok("2"));
        assert_eq!(result.state.as_deref(), Some("2"));
    }

    #[test]
    fn unknown_entities_and_operations_fail_clearly() {
        let result = run(None, vec![op("nope", "null")]);
        let failure = result.results[0].result.as_ref().unwrap_err();
        assert_eq!(failure.error_type, UNKNOWN_OPERATION);
        assert!(failure.message.contains("`nope`"), "{}", failure.message);
        assert_eq!(result.state, None);
        let id = wit_types::EntityId {
            name: "other".into(),
            key: "k".into(),
        };
        let result = execute_batch(ENTITIES, id, Some("1".into()), vec![op("add", "1")]);
        let failure = result.results[0].result.as_ref().unwrap_err();
        assert_eq!(failure.error_type, crate::UNKNOWN_FUNCTION);
        assert_eq!(result.state.as_deref(), Some("1"));
    }
}
