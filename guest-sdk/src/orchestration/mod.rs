//! Orchestrations: the replay executor and the replay-safe API orchestrators are written
//! against.
//!
//! Data flows one way per step: the host's history events go into the [`executor`], which
//! applies each to the shared [`state`] and then polls the orchestrator future; the user code,
//! through [`OrchestrationContext`], records actions in the same state and gets [`Task`]s whose
//! outcomes the executor fills in as answering events arrive; [`combinators`] compose tasks;
//! [`background`] runs spawned futures (and the composite tasks of [`retry`] and timed waits)
//! alongside the orchestrator. The actions recorded during the step go back to the host.

pub(crate) mod background;
pub(crate) mod combinators;
pub(crate) mod context;
pub(crate) mod executor;
pub(crate) mod http;
pub(crate) mod retry;
pub(crate) mod state;
pub(crate) mod task;

#[cfg(test)]
mod tests;

pub use combinators::{task_all, task_any};
pub use context::{EntityId, OrchestrationContext};
pub(crate) use executor::Executor;
pub use executor::{OrchestratorEntry, OrchestratorFuture};
pub use http::{HTTP_ACTIVITY, HttpRequest, HttpResponse};
pub use retry::{RETRY_POLICY, RetryHandle, RetryPolicy};
pub use task::{Task, TimerTask};
