//! The glue between the WIT exports and the functions an author registered.
//!
//! `#[orchestrator]` and `#[activity]` wrap each function in a registration (name + a plain
//! `fn` that decodes JSON input, calls it and encodes its output); `component!` collects the
//! registrations into static tables and implements the generated `Guest` traits by calling the
//! dispatch functions here (`describe`, `OrchestrationInstance`, `run_activity`, and
//! `entity::execute_batch`), which convert between WIT records and SDK types.

use std::cell::RefCell;
use std::future::Future;
use std::rc::Rc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::activity::ActivityContext;
use crate::bindings::exports::durable::core::{activity as wit_activity, catalogue};
use crate::bindings::wit_orch::{HistoryEvent, StepResult};
use crate::bindings::wit_types;
use crate::failure::Failure;
use crate::orchestration::{Executor, OrchestrationContext, OrchestratorEntry, OrchestratorFuture};

/// An orchestrator as `component!` lists it.
#[derive(Debug, Clone, Copy)]
pub struct OrchestratorRegistration {
    /// The name the host knows it by: the function's, or `#[orchestrator(name = "...")]`.
    pub name: &'static str,
    /// Starts it from its JSON input.
    pub entry: OrchestratorEntry,
}

/// Runs an activity from its JSON input, returning JSON output.
pub type ActivityEntry = fn(&str, ActivityContext) -> Result<String, Failure>;

/// An activity as `component!` lists it.
#[derive(Debug, Clone, Copy)]
pub struct ActivityRegistration {
    /// The name the host knows it by: the function's, or `#[activity(name = "...")]`.
    pub name: &'static str,
    /// Runs it from its JSON input.
    pub entry: ActivityEntry,
}

/// Decodes a function's JSON input; a bad input is a non-retriable `InvalidInput` failure
/// naming the expected type. Empty text counts as `null`.
pub fn decode_input<T: DeserializeOwned>(json: &str, what: &str) -> Result<T, Failure> {
    let json = if json.trim().is_empty() { "null" } else { json };
    serde_json::from_str(json).map_err(|err| Failure::invalid_input::<T>(what, &err))
}

/// Encodes a function's result as JSON text.
pub fn encode_output<R: Serialize, E: Into<Failure>>(
    result: Result<R, E>,
) -> Result<String, Failure> {
    let value = result.map_err(Into::into)?;
    serde_json::to_string(&value).map_err(|err| {
        Failure::new(
            "InvalidOutput",
            format!("the output is not serialisable: {err}"),
        )
        .non_retriable()
    })
}

/// Entry for `async fn(ctx) -> Result<R, E>`.
pub fn start_orchestrator<F, Fut, R, E>(
    ctx: OrchestrationContext,
    _input: &str,
    f: F,
) -> Result<OrchestratorFuture, Failure>
where
    F: FnOnce(OrchestrationContext) -> Fut,
    Fut: Future<Output = Result<R, E>> + 'static,
    R: Serialize,
    E: Into<Failure>,
{
    let future = f(ctx);
    Ok(Box::pin(async move { encode_output(future.await) }))
}

/// Entry for `async fn(ctx, input: T) -> Result<R, E>`.
pub fn start_orchestrator_with_input<F, T, Fut, R, E>(
    ctx: OrchestrationContext,
    input: &str,
    f: F,
) -> Result<OrchestratorFuture, Failure>
where
    F: FnOnce(OrchestrationContext, T) -> Fut,
    T: DeserializeOwned,
    Fut: Future<Output = Result<R, E>> + 'static,
    R: Serialize,
    E: Into<Failure>,
{
    let input = decode_input::<T>(input, "orchestrator input")?;
    let future = f(ctx, input);
    Ok(Box::pin(async move { encode_output(future.await) }))
}

/// Entry for `fn() -> Result<R, E>`.
pub fn run_activity_plain<F, R, E>(
    _input: &str,
    _ctx: ActivityContext,
    f: F,
) -> Result<String, Failure>
where
    F: FnOnce() -> Result<R, E>,
    R: Serialize,
    E: Into<Failure>,
{
    encode_output(f())
}

/// Entry for `fn(input: T) -> Result<R, E>`.
pub fn run_activity_with_input<F, T, R, E>(
    input: &str,
    _ctx: ActivityContext,
    f: F,
) -> Result<String, Failure>
where
    F: FnOnce(T) -> Result<R, E>,
    T: DeserializeOwned,
    R: Serialize,
    E: Into<Failure>,
{
    encode_output(f(decode_input(input, "activity input")?))
}

/// Entry for `fn(ctx) -> Result<R, E>`.
pub fn run_activity_with_context<F, R, E>(
    _input: &str,
    ctx: ActivityContext,
    f: F,
) -> Result<String, Failure>
where
    F: FnOnce(ActivityContext) -> Result<R, E>,
    R: Serialize,
    E: Into<Failure>,
{
    encode_output(f(ctx))
}

/// Entry for `fn(ctx, input: T) -> Result<R, E>`.
pub fn run_activity_with_context_and_input<F, T, R, E>(
    input: &str,
    ctx: ActivityContext,
    f: F,
) -> Result<String, Failure>
where
    F: FnOnce(ActivityContext, T) -> Result<R, E>,
    T: DeserializeOwned,
    R: Serialize,
    E: Into<Failure>,
{
    let input = decode_input(input, "activity input")?;
    encode_output(f(ctx, input))
}

/// `catalogue.describe`.
pub fn describe(
    orchestrators: &[OrchestratorRegistration],
    activities: &[ActivityRegistration],
    entities: &[crate::entity::EntityRegistration],
) -> catalogue::CatalogueInfo {
    catalogue::CatalogueInfo {
        orchestrators: orchestrators.iter().map(|o| o.name.to_owned()).collect(),
        activities: activities.iter().map(|a| a.name.to_owned()).collect(),
        entities: entities.iter().map(|e| e.name.to_owned()).collect(),
    }
}

/// The representation of the `orchestration` resource: one executor.
pub struct OrchestrationInstance(RefCell<Executor>);

impl OrchestrationInstance {
    /// `orchestration.create`.
    #[allow(
        clippy::result_large_err,
        reason = "the generated WIT trait returns the failure record unboxed"
    )]
    pub fn create(
        orchestrators: &[OrchestratorRegistration],
        name: String,
        instance_id: String,
    ) -> Result<Self, wit_types::Failure> {
        let registration = orchestrators
            .iter()
            .find(|o| o.name == name)
            .ok_or_else(|| Failure::unknown_function("orchestrator", &name))?;
        let log_sink = Rc::new(crate::bindings::host_log);
        let executor = Executor::new(registration.entry, instance_id, log_sink);
        Ok(OrchestrationInstance(RefCell::new(executor)))
    }

    /// `orchestration.step`.
    pub fn step(&self, events: Vec<HistoryEvent>, replaying: bool) -> StepResult {
        StepResult {
            actions: self.0.borrow_mut().step(events, replaying),
        }
    }
}

/// `activity.run`.
#[allow(
    clippy::result_large_err,
    reason = "the generated WIT trait returns the failure record unboxed"
)]
pub fn run_activity(
    activities: &[ActivityRegistration],
    name: String,
    input: String,
    context: wit_activity::ActivityContext,
) -> Result<String, wit_types::Failure> {
    let registration = activities
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| Failure::unknown_function("activity", &name))?;
    (registration.entry)(&input, context.into()).map_err(Into::into)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::exports::durable::core::activity::ActivityContext as WitActivityContext;

    #[crate::activity]
    fn plain() -> Result<u32, String> {
        Ok(1)
    }

    #[crate::activity(name = "Double")]
    fn double(n: u32) -> Result<u32, Failure> {
        Ok(n * 2)
    }

    #[crate::activity]
    fn who(ctx: ActivityContext) -> Result<String, Failure> {
        Ok(format!(
            "{}#{} try {}",
            ctx.instance_id(),
            ctx.task_id(),
            ctx.attempt()
        ))
    }

    #[crate::activity]
    fn both(ctx: ActivityContext, suffix: String) -> Result<String, &'static str> {
        if suffix.is_empty() {
            return Err("empty suffix");
        }
        Ok(format!("{}{suffix}", ctx.attempt()))
    }

    const ACTIVITIES: &[ActivityRegistration] = &[
        plain::__DURABLE_ACTIVITY,
        double::__DURABLE_ACTIVITY,
        who::__DURABLE_ACTIVITY,
        both::__DURABLE_ACTIVITY,
    ];

    fn run(name: &str, input: &str) -> Result<String, Failure> {
        let context = WitActivityContext {
            instance_id: "i".into(),
            task_id: 3,
            attempt: 2,
        };
        run_activity(ACTIVITIES, name.into(), input.into(), context).map_err(Failure::from)
    }

    #[test]
    fn activities_of_every_shape_run_by_name() {
        assert_eq!(run("plain", "null").unwrap(), "1");
        assert_eq!(run("Double", "21").unwrap(), "42");
        assert_eq!(run("who", "null").unwrap(), "\"i#3 try 2\"");
        assert_eq!(run("both", "\"x\"").unwrap(), "\"2x\"");
        let failure = run("both", "\"\"").unwrap_err();
        assert_eq!(
            (failure.error_type.as_str(), failure.message.as_str()),
            ("Error", "empty suffix")
        );
    }

    #[test]
    fn bad_input_and_unknown_names_fail_non_retriably() {
        let failure = run("Double", "\"x\"").unwrap_err();
        assert_eq!(failure.error_type, crate::INVALID_INPUT);
        assert!(failure.message.contains("u32"), "{}", failure.message);
        assert!(failure.non_retriable);
        let failure = run("double", "1").unwrap_err();
        assert_eq!(failure.error_type, crate::UNKNOWN_FUNCTION);
        assert!(failure.non_retriable);
        let missing = OrchestrationInstance::create(&[], "nope".into(), "i".into());
        assert_eq!(missing.err().unwrap().error_type, crate::UNKNOWN_FUNCTION);
    }

    #[test]
    fn catalogue_lists_registered_names() {
        let info = describe(&[], ACTIVITIES, &[]);
        assert_eq!(info.activities, vec!["plain", "Double", "who", "both"]);
        assert!(info.orchestrators.is_empty() && info.entities.is_empty());
    }
}
