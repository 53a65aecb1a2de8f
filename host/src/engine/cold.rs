//! Cold replay: a fresh guest fed a whole committed history, turn by turn, with every
//! decision checked against it. One function, used wherever a history is replayed: the
//! engine after a cache miss, [`crate::host::Host::replay_history`], `durable replay` and the
//! conformance runner ([`crate::inspect`]), and `durable bench`.

use super::EngineError;
use crate::replay::{ReplayState, split_turns, turn_time};
use crate::types::{Action, Failure, HistoryEvent};
use crate::wasm::{LiveOrchestration, LoadedComponent, WasmRuntime};

/// A fresh guest that has been fed a whole history and agrees with it, and the replay state
/// of that history: ready for the next turn.
pub struct ColdReplay {
    /// The guest instance, fed the whole history.
    pub guest: LiveOrchestration,
    /// The replay state of the history, with every recorded step decided.
    pub state: ReplayState,
}

/// Why a cold replay stopped.
#[derive(Debug)]
pub enum ColdReplayError {
    /// The code does not replay the history (nondeterminism, a trap, an unknown
    /// orchestrator): the instance must fail with `failure`. `state` is the history's replay
    /// state, for recording that ending.
    Failed {
        /// The failure the instance ends with.
        failure: Failure,
        /// The replay state of the whole history (boxed: the error stays small).
        state: Box<ReplayState>,
    },
    /// The engine failed outside the guest.
    Engine(EngineError),
}

impl From<EngineError> for ColdReplayError {
    fn from(e: EngineError) -> Self {
        ColdReplayError::Engine(e)
    }
}

/// The instance a history belongs to.
#[derive(Debug, Clone, Copy)]
pub struct Execution<'a> {
    /// The orchestrator's name.
    pub orchestrator: &'a str,
    /// The instance's id.
    pub instance_id: &'a str,
    /// The id of the execution the history records.
    pub execution_id: &'a str,
}

/// Starts `execution`'s orchestrator in a fresh sandbox and feeds it `history` one turn at a
/// time with `replaying = true`, each at the turn's recorded time, checking every action it
/// decides against the recorded event with the same sequence id and, at the end, that it
/// decided every recorded step. `on_turn` sees each turn's actions (before they are
/// checked).
pub async fn cold_replay(
    wasm: &WasmRuntime,
    component: &LoadedComponent,
    execution: Execution<'_>,
    history: &[HistoryEvent],
    mut on_turn: impl FnMut(&[Action]),
) -> Result<ColdReplay, ColdReplayError> {
    let mut state = ReplayState::from_history(history);
    let started = wasm
        .start_orchestration(
            component,
            execution.orchestrator,
            execution.instance_id,
            execution.execution_id,
        )
        .await
        .map_err(|e| ColdReplayError::Engine(EngineError::Runtime(e)))?;
    let mut guest = match started {
        Ok(guest) => guest,
        Err(failure) => {
            return Err(ColdReplayError::Failed {
                failure,
                state: Box::new(state),
            });
        }
    };
    for turn in split_turns(history) {
        let checked = match guest.step(turn, true, turn_time(turn)).await {
            Ok(out) => {
                on_turn(&out.actions);
                state
                    .check_replayed(&out.actions)
                    .map_err(|nd| nd.into_failure())
            }
            Err(failure) => Err(failure),
        };
        if let Err(failure) = checked {
            return Err(ColdReplayError::Failed {
                failure,
                state: Box::new(state),
            });
        }
    }
    if let Err(nd) = state.finish_replay() {
        let failure = nd.into_failure();
        return Err(ColdReplayError::Failed {
            failure,
            state: Box::new(state),
        });
    }
    Ok(ColdReplay { guest, state })
}
