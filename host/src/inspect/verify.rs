//! Checking a component against stored histories, without a running host: what
//! `durable replay --db` does, so a project can gate its pipeline on real histories.
//!
//! [`instances_to_check`] chooses the instances (every unfinished instance of an orchestrator
//! the component offers, and the finished ones created since a time), [`check`] replays one
//! instance's history cold into the component, exactly as the engine does after a cache miss
//! ([`crate::engine::cold_replay`]), and says whether the code agrees with it, and
//! [`check_instances`] does that for many, several at once.

use super::replay_turn;
use crate::engine::EngineError;
use crate::store::{Catalogue, InstanceFilter, InstanceRecord, ListCursor, Store, StoreResult};
use crate::types::{Failure, HistoryEvent, RuntimeStatus, Timestamp, failure_types};
use crate::wasm::{LoadedComponent, WasmRuntime};
use std::ops::ControlFlow;
use std::sync::Arc;

/// What a component makes of one instance's history.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The code replays the whole history: the instance could run on it.
    Compatible,
    /// The code decides differently from the history; the failure names the first
    /// divergence (the step, what the code did, what history has).
    Incompatible(Failure),
    /// The code cannot replay the history for another reason: a trap, a resource limit.
    Failed(Failure),
    /// Nothing is recorded yet (the instance has not run a turn): nothing to disagree with.
    NotStarted,
}

impl Verdict {
    /// Whether the instance could move to the component.
    pub fn is_compatible(&self) -> bool {
        matches!(self, Verdict::Compatible | Verdict::NotStarted)
    }
}

/// Which stored instances to check.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    /// Only instances of this orchestrator (else every one the component offers).
    pub orchestrator: Option<String>,
    /// Also the finished instances created at or after this time, ms since the epoch.
    pub finished_since: Option<Timestamp>,
}

/// How many instances a listing page holds.
const PAGE: usize = 500;

/// The instances `selection` chooses among those of orchestrators `catalogue` offers, in
/// creation order: the unfinished ones, then the finished ones created since
/// `selection.finished_since`.
pub async fn instances_to_check(
    store: &dyn Store,
    catalogue: &Catalogue,
    selection: &Selection,
) -> StoreResult<Vec<InstanceRecord>> {
    use RuntimeStatus::*;
    let offered = |name: &str| {
        catalogue.orchestrators.iter().any(|o| o == name)
            && selection.orchestrator.as_deref().is_none_or(|o| o == name)
    };
    let mut groups = vec![(vec![Pending, Running, Suspended, ContinuedAsNew], None)];
    if let Some(since) = selection.finished_since {
        groups.push((vec![Completed, Failed, Terminated, Canceled], Some(since)));
    }
    let mut chosen = Vec::new();
    for (statuses, created_from) in groups {
        let filter = InstanceFilter {
            statuses,
            created_from,
            ..Default::default()
        };
        chosen.extend(
            list_all(store, filter)
                .await?
                .into_iter()
                .filter(|i| offered(&i.name)),
        );
    }
    Ok(chosen)
}

/// Every instance `filter` matches (its `limit` and `after` aside), in list order, read a
/// page at a time.
pub async fn list_all(
    store: &dyn Store,
    mut filter: InstanceFilter,
) -> StoreResult<Vec<InstanceRecord>> {
    filter.limit = Some(PAGE);
    filter.after = None;
    let mut all = Vec::new();
    loop {
        let page = store.list_instances(&filter).await?;
        let full = page.len() == PAGE;
        if let Some(last) = page.last() {
            filter.after = Some(ListCursor {
                created_at: last.created_at,
                instance_id: last.instance_id.clone(),
            });
        }
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

/// Replays `history`, the instance's current execution, into `orchestrator` of `component`.
pub async fn check(
    runtime: &WasmRuntime,
    component: &LoadedComponent,
    orchestrator: &str,
    history: &[HistoryEvent],
) -> Result<Verdict, EngineError> {
    if history.is_empty() {
        return Ok(Verdict::NotStarted);
    }
    let report = replay_turn(runtime, component, orchestrator, history, None).await?;
    let by_host = report.is_host_failure();
    Ok(match report.failure.filter(|_| by_host) {
        None => Verdict::Compatible,
        Some(failure) if failure.error_type == failure_types::NON_DETERMINISM => {
            Verdict::Incompatible(failure)
        }
        Some(failure) => Verdict::Failed(failure),
    })
}

/// Checks `instances` against `component`, `parallel` at a time, and hands each verdict to
/// `on_checked` as it is known (in no set order); stops early when it says `Break`.
pub async fn check_instances<R: AsRef<WasmRuntime> + Send + Sync + 'static>(
    store: Arc<dyn Store>,
    runtime: Arc<R>,
    component: Arc<LoadedComponent>,
    instances: Vec<InstanceRecord>,
    parallel: usize,
    mut on_checked: impl FnMut(InstanceRecord, Verdict) -> ControlFlow<()>,
) -> Result<(), EngineError> {
    let mut queued = instances.into_iter();
    let mut running = tokio::task::JoinSet::new();
    loop {
        while running.len() < parallel.max(1)
            && let Some(instance) = queued.next()
        {
            let (store, runtime, component) = (store.clone(), runtime.clone(), component.clone());
            running.spawn(async move {
                let history = store.history(&instance.instance_id).await?;
                let runtime = (*runtime).as_ref();
                let verdict = check(runtime, &component, &instance.name, &history).await?;
                Ok::<_, EngineError>((instance, verdict))
            });
        }
        let Some(joined) = running.join_next().await else {
            return Ok(());
        };
        let (instance, verdict) =
            joined.map_err(|e| EngineError::Runtime(anyhow::anyhow!("a replay task: {e}")))??;
        if on_checked(instance, verdict).is_break() {
            return Ok(());
        }
    }
}

impl AsRef<WasmRuntime> for WasmRuntime {
    fn as_ref(&self) -> &WasmRuntime {
        self
    }
}
