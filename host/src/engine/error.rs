//! The engine's errors: what went wrong outside guest code. A guest's own failure (a trap,
//! nondeterminism, an unknown orchestrator) is not an error here but a [`Failure`] the
//! instance ends with.

use crate::store::StoreError;
use crate::types::Failure;

/// Why the engine could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// Storage failed. Work that hit it is retried (`StoreError::Backend`) or is refused
    /// (the other variants: a missing instance, a duplicate id, ...).
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The bytes are not a component this host can run (not a component, not valid, or it
    /// does not fit the durable world). Fatal for that component.
    #[error("invalid component: {0:#}")]
    InvalidComponent(anyhow::Error),
    /// An instance is pinned to a component the store does not hold, or holds corrupted.
    #[error("component {digest} {problem}")]
    MissingComponent {
        /// The digest the instance is pinned to.
        digest: String,
        /// What is wrong, as the end of the message (`is not in the store`).
        problem: &'static str,
    },
    /// The WebAssembly runtime failed outside guest code (instantiation machinery, the
    /// compile cache): not the guest's fault, so the work is retried.
    #[error("the WebAssembly runtime failed: {0:#}")]
    Runtime(anyhow::Error),
    /// A history given to replay cannot be replayed.
    #[error("invalid history: {0}")]
    InvalidHistory(String),
    /// A deployment named by digest is not stored, or the prefix given names several.
    #[error("{0}")]
    UnknownDeployment(String),
    /// A deployment's app name is not one ([`crate::grants::check_app_name`]).
    #[error("{0}")]
    InvalidApp(String),
    /// The engine could not be set up (its settings, the HTTP client of `call_http`).
    #[error("cannot set up the engine: {0}")]
    Setup(String),
}

impl EngineError {
    /// Whether trying the same work again later may succeed.
    pub fn is_retriable(&self) -> bool {
        match self {
            EngineError::Store(e) => matches!(e, StoreError::Backend(_)),
            EngineError::Runtime(_) | EngineError::MissingComponent { .. } => true,
            EngineError::InvalidComponent(_)
            | EngineError::InvalidHistory(_)
            | EngineError::UnknownDeployment(_)
            | EngineError::InvalidApp(_)
            | EngineError::Setup(_) => false,
        }
    }
}

/// Why replaying a history against a component did not produce its actions.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The code does not replay the history: nondeterminism, a trap, an unknown
    /// orchestrator. The failure is the one the instance would fail with.
    #[error("the replay failed: {0}")]
    Failed(Failure),
    /// The engine failed outside the guest.
    #[error(transparent)]
    Engine(#[from] EngineError),
}
