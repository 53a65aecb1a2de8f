//! Running one orchestrator turn outside the engine, for `durable replay` and the conformance
//! suite (`tests/conformance/`).
//!
//! [`replay_turn`] needs no storage: it replays a committed history into the named
//! orchestrator of a loaded component with the engine's own cold replay
//! ([`crate::engine::cold_replay`]: a fresh sandbox, turn by turn, every decision checked),
//! exactly as the engine does after a cache miss. Then it feeds the new events as one live
//! turn ([`crate::replay::ReplayState::begin_turn`], `step(.., false)`,
//! [`crate::replay::ReplayState::finish_turn`]) and returns a
//! [`ReplayReport`]: the actions of that turn, the status it leaves the instance in, and the
//! custom status. A nondeterminism, trap or unknown orchestrator is a report too
//! (`Failed`, [`FailedBy::Host`]), not an error: errors are for what is wrong with the inputs.
//!
//! [`scenario`] reads the conformance scenario format and compares reports with expectations.

pub mod scenario;
pub mod turns;
pub mod upgrade;
pub mod verify;

use crate::engine::{ColdReplay, ColdReplayError, EngineError, Execution, cold_replay};
use crate::replay::{Outcome, execution_ids};
use crate::types::{Action, ActionKind, EventKind, Failure, HistoryEvent, Json, Timestamp};
use crate::wasm::{LoadedComponent, WasmRuntime};
use serde::{Deserialize, Serialize};

/// The live turn run after the history: its time and the messages it delivers (the
/// `OrchestratorStarted` event is added).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewTurn {
    /// The turn's time (its `OrchestratorStarted`'s), ms since the epoch.
    pub at: Timestamp,
    /// The messages it delivers, in order.
    pub events: Vec<EventKind>,
}

/// Where the instance stands after the turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReportStatus {
    /// The execution goes on, waiting for more messages.
    Running,
    /// The orchestrator completed (see `output`).
    Completed,
    /// The execution failed (see `failure` and `failed_by`).
    Failed,
    /// The orchestrator continued as new (see `new_input`).
    ContinuedAsNew,
    /// The history ends with a termination.
    Terminated,
}

/// Who ended the instance with a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum FailedBy {
    /// The orchestrator decided to fail (it returned an error, or an uncaught task failure).
    Orchestrator,
    /// The host failed it: nondeterminism, a trap, a resource limit, an unknown orchestrator.
    Host,
}

/// What one turn did. Payloads are JSON text, as in the engine's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplayReport {
    /// Where the instance stands after the turn.
    pub status: ReportStatus,
    /// The actions the guest decided in the new turn, in order (empty when no new turn ran:
    /// the replay failed, or the history had already ended).
    pub actions: Vec<Action>,
    /// `Completed`: the output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Json>,
    /// `Failed`: why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    /// `Failed`: who failed it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_by: Option<FailedBy>,
    /// `ContinuedAsNew`: the next execution's input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_input: Option<Json>,
    /// The custom status after the turn (`None`: never set, or cleared).
    pub custom_status: Option<Json>,
    /// How many actions the guest decided while replaying the history.
    pub replayed_actions: usize,
}

impl ReplayReport {
    fn host_failure(failure: Failure, custom_status: Option<Json>, replayed: usize) -> Self {
        ReplayReport {
            status: ReportStatus::Failed,
            actions: Vec::new(),
            output: None,
            failure: Some(failure),
            failed_by: Some(FailedBy::Host),
            new_input: None,
            custom_status,
            replayed_actions: replayed,
        }
    }

    /// True when the host failed the instance (the replay did not hold).
    pub fn is_host_failure(&self) -> bool {
        self.failed_by == Some(FailedBy::Host)
    }
}

/// Replays `history` against the orchestrator `orchestrator` of `component`, then runs
/// `new_turn` live, unless the history has already ended. `Err` means the inputs are unusable
/// (no `ExecutionStarted` anywhere) or the engine failed outside the guest.
pub async fn replay_turn(
    runtime: &WasmRuntime,
    component: &LoadedComponent,
    orchestrator: &str,
    history: &[HistoryEvent],
    new_turn: Option<NewTurn>,
) -> Result<ReplayReport, EngineError> {
    let new_events = new_turn.iter().flat_map(|t| t.events.iter());
    let Some((instance_id, execution_id)) =
        execution_ids(history.iter().map(|e| &e.kind).chain(new_events))
    else {
        return Err(EngineError::InvalidHistory(
            "neither the history nor the new events have an ExecutionStarted event".into(),
        ));
    };
    let execution = Execution {
        orchestrator,
        instance_id: &instance_id,
        execution_id: &execution_id,
    };
    let mut custom_status = None;
    let mut replayed = 0;
    let on_turn = |actions: &[Action]| {
        replayed += actions.len();
        fold_custom_status(&mut custom_status, actions);
    };
    let ColdReplay {
        mut guest,
        state: mut replay,
    } = match cold_replay(runtime, component, execution, history, on_turn).await {
        Ok(replayed) => replayed,
        Err(ColdReplayError::Failed { failure, .. }) => {
            return Ok(ReplayReport::host_failure(
                *failure,
                custom_status,
                replayed,
            ));
        }
        Err(ColdReplayError::Engine(e)) => return Err(e),
    };
    if replay.is_finished() {
        // The engine drops messages for an ended execution; report how it ended.
        return Ok(ended(history, custom_status, replayed));
    }
    let Some(turn) = new_turn else {
        return Ok(running(Vec::new(), custom_status, replayed));
    };
    let events = replay.begin_turn(turn.at, turn.events);
    let out = match guest.step(&events, false, turn.at).await {
        Ok(out) => out,
        Err(failure) => return Ok(ReplayReport::host_failure(failure, custom_status, replayed)),
    };
    let plan = match replay.finish_turn(events, &out.actions, turn.at) {
        Ok(plan) => plan,
        Err(nd) => {
            let mut report = ReplayReport::host_failure(nd.into_failure(), custom_status, replayed);
            report.actions = out.actions;
            return Ok(report);
        }
    };
    if let Some(status) = plan.custom_status {
        custom_status = status;
    }
    let mut report = running(out.actions, custom_status, replayed);
    match plan.outcome {
        None => {}
        Some(Outcome::Completed(output)) => {
            report.status = ReportStatus::Completed;
            report.output = Some(output);
        }
        Some(Outcome::Failed(failure)) => {
            report.status = ReportStatus::Failed;
            report.failure = Some(failure);
            report.failed_by = Some(FailedBy::Orchestrator);
        }
        Some(Outcome::ContinuedAsNew { input, .. }) => {
            report.status = ReportStatus::ContinuedAsNew;
            report.new_input = Some(input);
        }
    }
    Ok(report)
}

fn running(actions: Vec<Action>, custom_status: Option<Json>, replayed: usize) -> ReplayReport {
    ReplayReport {
        status: ReportStatus::Running,
        actions,
        output: None,
        failure: None,
        failed_by: None,
        new_input: None,
        custom_status,
        replayed_actions: replayed,
    }
}

fn fold_custom_status(custom_status: &mut Option<Json>, actions: &[Action]) {
    for action in actions {
        if let ActionKind::SetCustomStatus { status } = &action.kind {
            custom_status.clone_from(status);
        }
    }
}

/// The report for a history that already holds its execution's end.
fn ended(history: &[HistoryEvent], custom_status: Option<Json>, replayed: usize) -> ReplayReport {
    let mut report = running(Vec::new(), custom_status, replayed);
    for event in history.iter().rev() {
        match &event.kind {
            EventKind::ExecutionCompleted {
                failure: Some(failure),
                ..
            } => {
                report.status = ReportStatus::Failed;
                report.failed_by = Some(if failure.non_retriable && is_host_type(failure) {
                    FailedBy::Host
                } else {
                    FailedBy::Orchestrator
                });
                report.failure = Some(failure.clone());
            }
            EventKind::ExecutionCompleted { result, .. } => {
                report.status = ReportStatus::Completed;
                report.output = Some(result.clone().unwrap_or_else(|| "null".into()));
            }
            EventKind::ContinuedAsNew { input } => {
                report.status = ReportStatus::ContinuedAsNew;
                report.new_input = Some(input.clone());
            }
            EventKind::ExecutionTerminated { .. } => report.status = ReportStatus::Terminated,
            _ => continue,
        }
        break;
    }
    report
}

/// Failure types only the host produces.
fn is_host_type(failure: &Failure) -> bool {
    use crate::types::failure_types::*;
    [
        NON_DETERMINISM,
        TRAP,
        RESOURCE_LIMIT,
        SANDBOX_VIOLATION,
        UNKNOWN_FUNCTION,
    ]
    .contains(&failure.error_type.as_str())
}
