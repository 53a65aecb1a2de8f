//! Cold replay: a fresh guest fed a whole committed history, turn by turn, with every
//! decision checked against it. One function, used wherever a history is replayed: the
//! engine after a cache miss, [`crate::host::Host::replay_history`], `durable replay` and the
//! conformance runner ([`crate::inspect`]), and `durable bench`.

use super::EngineError;
use crate::replay::{ReplayState, split_turns, turn_time};
use crate::store::HistoryChunks;
use crate::types::{Action, EventKind, Failure, HistoryEvent};
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
        /// The failure the instance ends with (boxed, as the state: the error stays small).
        failure: Box<Failure>,
        /// The replay state of the whole history.
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
    on_turn: impl FnMut(&[Action]),
) -> Result<ColdReplay, ColdReplayError> {
    let state = ReplayState::from_history(history);
    let mut replay = Replay::start(wasm, component, execution, state, on_turn).await?;
    for turn in split_turns(history) {
        replay.step(turn, true).await;
    }
    replay.finish()
}

/// [`cold_replay`] of a history that arrives in `chunks` while it is read: each turn is fed
/// to the guest as soon as its last event has arrived, so reading the history and replaying
/// it overlap. The outcome is the one [`cold_replay`] of the whole history has: the actions
/// are checked once all of it has arrived (an action may be recorded in a later turn than
/// the one that decided it), in the order they were decided, and a guest that failed stops
/// being fed.
pub async fn cold_replay_chunks(
    wasm: &WasmRuntime,
    component: &LoadedComponent,
    execution: Execution<'_>,
    mut chunks: HistoryChunks,
    on_turn: impl FnMut(&[Action]),
) -> Result<ColdReplay, ColdReplayError> {
    let mut replay = Replay::start(wasm, component, execution, ReplayState::new(), on_turn).await?;
    // The events of the turn being read; it is complete when the next one opens.
    let mut pending: Vec<HistoryEvent> = Vec::new();
    while let Some(chunk) = chunks.recv().await {
        let chunk = chunk.map_err(|e| ColdReplayError::Engine(e.into()))?;
        replay.state.extend(&chunk);
        pending.extend(chunk);
        let mut start = 0;
        for i in 1..pending.len() {
            if matches!(pending[i].kind, EventKind::OrchestratorStarted) {
                replay.step(&pending[start..i], false).await;
                start = i;
            }
        }
        pending.drain(..start);
    }
    if !pending.is_empty() {
        replay.step(&pending, false).await;
    }
    replay.check_deferred();
    replay.finish()
}

/// A cold replay under way: the guest, the replay state of the history fed so far, and the
/// decided actions not yet checked.
struct Replay<F> {
    guest: LiveOrchestration,
    state: ReplayState,
    on_turn: F,
    /// Each turn's actions, when they are checked only once the whole history is known.
    deferred: Vec<Vec<Action>>,
    /// Why the replay stopped: the guest failed or decided against the history.
    failure: Option<Failure>,
}

impl<F: FnMut(&[Action])> Replay<F> {
    /// A fresh guest for `execution`; `Failed` if it cannot start (an unknown orchestrator).
    async fn start(
        wasm: &WasmRuntime,
        component: &LoadedComponent,
        execution: Execution<'_>,
        state: ReplayState,
        on_turn: F,
    ) -> Result<Self, ColdReplayError> {
        let started = wasm
            .start_orchestration(
                component,
                execution.orchestrator,
                execution.instance_id,
                execution.execution_id,
            )
            .await
            .map_err(|e| ColdReplayError::Engine(EngineError::Runtime(e)))?;
        match started {
            Ok(guest) => Ok(Replay {
                guest,
                state,
                on_turn,
                deferred: Vec::new(),
                failure: None,
            }),
            Err(failure) => Err(ColdReplayError::Failed {
                failure: Box::new(failure),
                state: Box::new(state),
            }),
        }
    }

    /// Feeds the guest one recorded turn, unless the replay has stopped. Its actions are
    /// checked at once when `check` (the state holds the whole history), or kept for
    /// [`Replay::check_deferred`].
    async fn step(&mut self, turn: &[HistoryEvent], check: bool) {
        if self.failure.is_some() {
            return;
        }
        let actions = match self.guest.step(turn, true, turn_time(turn)).await {
            Ok(out) => out.actions,
            Err(failure) => {
                self.failure = Some(failure);
                return;
            }
        };
        (self.on_turn)(&actions);
        match check {
            true => self.check(&actions),
            false => self.deferred.push(actions),
        }
    }

    fn check(&mut self, actions: &[Action]) {
        if let Err(nd) = self.state.check_replayed(actions) {
            self.failure = Some(nd.into_failure());
        }
    }

    /// Checks the deferred turns in order, as they would have been checked one by one: a
    /// turn that decided against the history comes before a guest failure in a later turn.
    fn check_deferred(&mut self) {
        for actions in std::mem::take(&mut self.deferred) {
            if let Err(nd) = self.state.check_replayed(&actions) {
                self.failure = Some(nd.into_failure());
                break;
            }
        }
    }

    /// The outcome: the guest ready for the next turn, or why the replay failed.
    fn finish(self) -> Result<ColdReplay, ColdReplayError> {
        let failure = match self.failure {
            Some(failure) => Some(failure),
            None => self.state.finish_replay().err().map(|nd| nd.into_failure()),
        };
        match failure {
            Some(failure) => Err(ColdReplayError::Failed {
                failure: Box::new(failure),
                state: Box::new(self.state),
            }),
            None => Ok(ColdReplay {
                guest: self.guest,
                state: self.state,
            }),
        }
    }
}
