//! Orchestration turns: the loop that locks instances with visible messages, and one turn
//! of one instance, read the way its data flows: load, decide, commit.

use super::cache::CachedInstance;
use super::cold::{ColdReplayError, Execution, cold_replay_chunks};
use super::loops::{Boxed, WorkKind};
use super::{Engine, EngineError};
use crate::client::{ReservedTurn, StartsTurns};
use crate::metrics::{self, TurnOutcome};
use crate::plan::inbox::sort_inbox;
use crate::plan::turn::{Ending, Locked, calls, decide_turn, ending_commit, plan_commit};
use crate::replay::{ReplayState, TurnPlan};
use crate::resolve::Callees;
use crate::store::{
    Claim, ComponentRecord, InstanceRecord, OrchestrationCommit, OrchestrationWorkItem, StoreError,
};
use crate::telemetry::{self, ExecutionTrace};
use crate::types::{EventKind, RuntimeStatus, Timestamp};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::Instrument as _;

/// Delay before a turn that failed outside the guest (storage, the runtime) is tried again.
const RETRY_MS: u64 = 1_000;

impl Engine {
    pub(super) async fn orchestration_loop(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let kind = WorkKind {
            what: "orchestrations",
            lease: self.config.orchestration_lease.as_millis() as u64,
            lock: |engine, free, lease, now| {
                let owner = &engine.config.owner;
                engine.store.lock_orchestrations(owner, free, lease, now)
            },
            run: run_or_abandon,
        };
        self.work_loop(
            kind,
            &self.lanes.orchestrations,
            &self.signals().orchestrations,
            stopped,
        )
        .await;
    }

    /// One turn of a locked instance.
    async fn run_turn(
        self: &Arc<Self>,
        item: OrchestrationWorkItem,
    ) -> Result<TurnOutcome, EngineError> {
        let now = self.clock.now();
        let instance = &item.instance;
        let id = &instance.instance_id;
        let locked = Locked {
            instance,
            lock_token: &item.lock_token,
        };
        let inbox = sort_inbox(instance, &item.messages);
        if inbox.stale > 0 {
            tracing::info!(instance = %id, messages = inbox.stale,
                "dropped messages for an earlier execution");
        }
        if instance.status.is_terminal() {
            // Late messages for a finished instance (an activity result, an event that arrived
            // during its last turn) are dropped; the instance stays as it ended.
            tracing::info!(instance = %id, status = %instance.status, messages = inbox.consumed.len(),
                "dropped messages for a finished instance");
            return match self
                .store
                .drop_messages(id, &item.lock_token, &inbox.consumed)
                .await
            {
                Ok(()) => Ok(TurnOutcome::Dropped),
                Err(StoreError::LeaseLost) => Ok(TurnOutcome::Discarded),
                Err(e) => Err(e.into()),
            };
        }

        // Load: the live guest (from the cache, or a cold replay of the stored history).
        let cached = self.cache().take(id).filter(|c| {
            c.execution_id == instance.execution_id && c.replay.history_len() == item.history_len
        });
        if let Some(reason) = inbox.terminate {
            let replay = match cached {
                Some(c) => c.replay,
                None => ReplayState::from_history(&self.store.history(id).await?),
            };
            let events = replay.begin_turn(now, inbox.deliver);
            let traced = Traced::of(instance, &replay, &events);
            let ending = Ending::Terminated(reason);
            let commit = ending_commit(locked, &replay, events, inbox.consumed, ending, now);
            return self.end(instance, commit, traced).await;
        }
        let mut live = match cached {
            Some(live) => {
                metrics::cache_hit();
                live
            }
            None => match self.cold_start(instance).await {
                Ok(live) => live,
                Err(ColdReplayError::Failed { failure, state }) => {
                    let events = state.begin_turn(now, inbox.deliver);
                    let traced = Traced::of(instance, &state, &events);
                    let ending = Ending::Failed(*failure);
                    let commit = ending_commit(locked, &state, events, inbox.consumed, ending, now);
                    return self.end(instance, commit, traced).await;
                }
                Err(ColdReplayError::Engine(e)) => return Err(e),
            },
        };

        // Decide: the guest steps through the new events; its actions are checked against
        // history and planned.
        let events = live.replay.begin_turn(now, inbox.deliver);
        let traced = Traced::of(instance, &live.replay, &events);
        let output = match live.guest.step(&events, false, now).await {
            Ok(output) => output,
            Err(failure) => {
                let ending = Ending::Failed(failure);
                let commit =
                    ending_commit(locked, &live.replay, events, inbox.consumed, ending, now);
                return self.end(instance, commit, traced).await;
            }
        };
        let max_payload = self.config.max_payload;
        let decided = decide_turn(
            &mut live.replay,
            id,
            events.clone(),
            output.actions,
            max_payload,
            now,
        );
        let plan = match decided {
            Ok(plan) => plan,
            Err(failure) => {
                let ending = Ending::Failed(*failure);
                let commit =
                    ending_commit(locked, &live.replay, events, inbox.consumed, ending, now);
                return self.end(instance, commit, traced).await;
            }
        };
        let finished = plan.outcome.is_some();
        let (caller, deployed) = self.callees(instance, &plan).await?;
        let callees = Callees {
            caller_digest: &instance.digest,
            caller: caller.as_ref().map(|c| &c.catalogue),
            deployed: &deployed,
        };
        let mut new_id = || self.client.new_id();
        let mut commit = plan_commit(locked, plan, inbox.consumed, &callees, &mut new_id, now);
        if inbox.suspended && !finished {
            commit.status = RuntimeStatus::Suspended;
        }
        commit.logs = output.logs;

        // Commit; the live guest goes back to the cache unless the execution ended.
        let keep = (!finished).then(|| (id.clone(), live));
        self.commit(commit, keep, traced).await
    }

    /// Loads the instance's component and history and replays the history into a fresh
    /// guest.
    async fn cold_start(
        &self,
        instance: &InstanceRecord,
    ) -> Result<CachedInstance, ColdReplayError> {
        metrics::cache_miss();
        let component = self.component(&instance.digest).await?;
        let started = std::time::Instant::now();
        // The guest replays the first turns while the rest of the history is read.
        let history = self
            .store
            .history_chunks(&instance.instance_id)
            .await
            .map_err(EngineError::from)?;
        let execution = Execution {
            orchestrator: &instance.name,
            instance_id: &instance.instance_id,
            execution_id: &instance.execution_id,
        };
        let replayed = cold_replay_chunks(&self.wasm, &component, execution, history, |_| {}).await;
        let events = match &replayed {
            Ok(replayed) => replayed.state.history_len(),
            Err(ColdReplayError::Failed { state, .. }) => state.history_len(),
            Err(ColdReplayError::Engine(_)) => 0,
        };
        metrics::cold_replay(events as usize, started.elapsed());
        let replayed = replayed?;
        Ok(CachedInstance {
            guest: replayed.guest,
            replay: replayed.state,
            execution_id: instance.execution_id.clone(),
        })
    }

    /// What the turn's calls need to be resolved: the caller's component (loaded: the turn
    /// just ran on it) and, only when it does not offer every name called, the deployments.
    async fn callees(
        &self,
        instance: &InstanceRecord,
        plan: &TurnPlan,
    ) -> Result<
        (
            Option<Arc<crate::wasm::LoadedComponent>>,
            Vec<ComponentRecord>,
        ),
        EngineError,
    > {
        if calls(plan).next().is_none() {
            return Ok((None, Vec::new()));
        }
        let caller = self.component(&instance.digest).await.ok();
        let catalogue = caller.as_ref().map(|c| &c.catalogue);
        let deployed = match Callees::needs_deployments(catalogue, calls(plan)) {
            true => self.store.components().await?,
            false => Vec::new(),
        };
        Ok((caller, deployed))
    }

    /// Commits the ending of an execution the host ended (the guest failed, termination).
    async fn end(
        self: &Arc<Self>,
        instance: &InstanceRecord,
        commit: OrchestrationCommit,
        traced: Traced,
    ) -> Result<TurnOutcome, EngineError> {
        if let Some(failure) = &commit.failure {
            tracing::info!(instance = %instance.instance_id, "orchestration failed: {failure}");
        }
        self.commit(commit, None, traced).await
    }

    /// Commits a turn and returns the live guest to the cache; a commit that ends the
    /// execution exports its span. A lost lease discards the turn: another host holds the
    /// instance now. The activities it queued run here at once where this host has room:
    /// the commit claims them ([`crate::store::Claim`]); the rest wait for the activity loop.
    async fn commit(
        self: &Arc<Self>,
        commit: OrchestrationCommit,
        keep: Option<(String, CachedInstance)>,
        traced: Traced,
    ) -> Result<TurnOutcome, EngineError> {
        let outcome = TurnOutcome::committed(commit.status);
        let ready = commit.activities.iter();
        let places =
            (self.lanes.activities).reserve(ready.filter(|a| a.visible_at <= commit.now).count());
        let claim = (!places.is_empty()).then(|| Claim {
            owner: &self.config.owner,
            max: places.len(),
            lease_ms: self.config.activity_lease.as_millis() as u64,
        });
        let written = self
            .write_fenced(self.config.orchestration_lease, || {
                self.store
                    .complete_orchestration_claiming(commit.clone(), claim)
            })
            .await;
        match written {
            Ok(claimed) => {
                if let Some((id, live)) = keep {
                    self.cache().put(id, live, self.clock.now());
                }
                if claimed.len() < commit.activities.len() {
                    self.signals().activities.notify_one();
                }
                metrics::claimed("activities", claimed.len());
                for (task, place) in claimed.into_iter().zip(places) {
                    let run = super::activities::run_or_leave(self.clone(), task);
                    self.lanes.activities.spawn(place, run);
                }
                // A turn's only entity work is the calls, signals and unlocks it sends.
                let to_entities = !commit.entity_messages.is_empty();
                self.commit_done(commit.status.is_terminal(), to_entities);
                traced.committed(&commit);
                Ok(outcome)
            }
            Err(StoreError::LeaseLost) => {
                tracing::warn!(instance = %commit.instance_id,
                    "lost the lease on an orchestration; its turn was discarded");
                Ok(TurnOutcome::Discarded)
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// The engine's side of [`StartsTurns`]: a start made through this engine's client runs its
/// first turn here, in a place of the orchestration lane.
pub(super) struct FirstTurns(pub std::sync::Weak<Engine>);

impl StartsTurns for FirstTurns {
    fn reserve(&self) -> Option<ReservedTurn> {
        let engine = self.0.upgrade()?;
        let place = engine.lanes.orchestrations.reserve(1).pop()?;
        Some(ReservedTurn {
            owner: engine.config.owner.clone(),
            lease_ms: engine.config.orchestration_lease.as_millis() as u64,
            run: Box::new(move |turn| {
                metrics::claimed("orchestrations", 1);
                let run = run_or_abandon(engine.clone(), turn);
                engine.lanes.orchestrations.spawn(place, run);
            }),
        })
    }
}

/// Runs a turn; one that fails outside the guest is abandoned and retried shortly.
pub(super) fn run_or_abandon(
    engine: Arc<Engine>,
    item: OrchestrationWorkItem,
) -> Boxed<'static, ()> {
    Box::pin(async move {
        let id = item.instance.instance_id.clone();
        let token = item.lock_token.clone();
        let started = std::time::Instant::now();
        metrics::turn_started();
        let span = tracing::info_span!(target: telemetry::TARGET, "turn",
            otel.name = %format_args!("turn {}", item.instance.name),
            durable.instance_id = %id, durable.orchestrator = %item.instance.name,
            durable.outcome = tracing::field::Empty, otel.status_code = tracing::field::Empty);
        let ran = engine.run_turn(item).instrument(span.clone()).await;
        let outcome = *ran.as_ref().unwrap_or(&TurnOutcome::Retried);
        metrics::turn_finished(outcome, started.elapsed());
        let failed = matches!(outcome, TurnOutcome::Failed | TurnOutcome::Retried);
        telemetry::record_outcome(&span, outcome.label(), failed);
        if let Err(e) = ran {
            tracing::error!(instance = %id, "turn failed, will retry: {e:#}");
            let retry_at = engine.clock.now() + RETRY_MS;
            let lease = engine.config.orchestration_lease;
            let _ = engine
                .write_fenced(lease, || {
                    engine.store.abandon_orchestration(&id, &token, retry_at)
                })
                .await;
        }
    })
}

/// The trace of the execution a turn runs: the turn's span is made its child as soon as the
/// turn knows it, and the execution's span is exported by the commit that ends it.
struct Traced {
    name: String,
    caller: Option<String>,
    /// When the execution started, ms since the epoch.
    started_at: Timestamp,
}

impl Traced {
    /// The execution of `instance` as `replay` knows it, or as this turn's `events` start
    /// it (its first turn brings its `ExecutionStarted`). Adopts the current (turn) span.
    fn of(
        instance: &InstanceRecord,
        replay: &ReplayState,
        events: &[crate::types::HistoryEvent],
    ) -> Traced {
        let started = events.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionStarted { trace, .. } => Some((trace.clone(), e.timestamp)),
            _ => None,
        });
        let (caller, started_at) =
            started.unwrap_or_else(|| (replay.trace().map(str::to_owned), replay.started_at()));
        let traced = Traced {
            name: instance.name.clone(),
            caller,
            started_at,
        };
        traced
            .execution(&instance.instance_id, &instance.execution_id)
            .adopt(&tracing::Span::current());
        traced
    }

    fn execution<'a>(&'a self, instance_id: &'a str, execution_id: &'a str) -> ExecutionTrace<'a> {
        ExecutionTrace {
            instance_id,
            execution_id,
            caller: self.caller.as_deref(),
        }
    }

    /// Exports the execution's span if `commit` (written) ended it.
    fn committed(&self, commit: &OrchestrationCommit) {
        let status = match &commit.new_execution {
            Some(_) => "ContinuedAsNew",
            None if commit.status.is_terminal() => commit.status.as_str(),
            None => return,
        };
        self.execution(&commit.instance_id, &commit.execution_id)
            .end(
                &self.name,
                status,
                commit.failure.as_ref(),
                // A start time the turn could not learn: the span is as long as the turn.
                match self.started_at {
                    0 => commit.now,
                    at => at,
                },
                commit.now,
            );
    }
}
