//! The Rust guest SDK of `durable`: write orchestrators and activities as plain Rust functions
//! and ship them as one `wasm32-wasip2` component.
//!
//! Authors mark functions with [`orchestrator`], [`activity`] and [`entity`] and list them once in
//! [`component!`] at the crate root. The host then drives the component through the WIT contract
//! (`wit/durable.wit`): `catalogue.describe` lists what it offers; each orchestration instance is
//! an `orchestration` resource whose `step` feeds history events to the replay executor
//! (the `orchestration` module), which runs the orchestrator against an [`OrchestrationContext`] and
//! returns the actions it decided; `activity.run` decodes JSON input, calls the activity and
//! encodes its output. Failures are structured ([`Failure`]) end to end.
//!
//! ```no_run
//! use durable_sdk::{Failure, OrchestrationContext};
//!
//! #[durable_sdk::orchestrator]
//! async fn greet(ctx: OrchestrationContext, name: String) -> Result<String, Failure> {
//!     ctx.call_activity("say_hello", name).await
//! }
//!
//! #[durable_sdk::activity]
//! fn say_hello(name: String) -> Result<String, Failure> {
//!     Ok(format!("Hello {name}!"))
//! }
//!
//! durable_sdk::component! { orchestrators: [greet], activities: [say_hello], entities: [] }
//! # fn main() {}
//! ```

#![deny(missing_docs)]

// The macros expand to `::durable_sdk::...` paths; this makes them work inside this crate too.
extern crate self as durable_sdk;

mod activity;
#[doc(hidden)]
pub mod bindings;
pub mod config;
mod entity;
mod export;
mod failure;
mod log;
mod orchestration;

pub use activity::ActivityContext;
pub use durable_macros::{activity, component, entity, orchestrator};
pub use entity::{EntityContext, UNKNOWN_OPERATION};
pub use failure::{Failure, FailureCause, GENERIC_ERROR, INVALID_INPUT, TIMEOUT, UNKNOWN_FUNCTION};
pub use log::{LogLevel, log};
pub use orchestration::{
    EntityId, HTTP_ACTIVITY, HttpRequest, HttpResponse, OrchestrationContext, RETRY_POLICY,
    RetryHandle, RetryPolicy, Task, TimerTask, task_all, task_any,
};

/// What the macros expand to. Not part of the API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::bindings;
    pub use crate::entity::{EntityRegistration, execute_batch, run_entity};
    pub use crate::export::*;
    pub use crate::orchestration::{OrchestratorEntry, OrchestratorFuture};
    pub use serde_json;
    pub use wit_bindgen;
}
