//! Activities: the loop that locks queued activity tasks, runs each with the capabilities
//! granted, and delivers its result to the instance that scheduled it.

use super::loops::{Boxed, WorkKind};
use super::{Engine, EngineError};
use crate::builtin_http::HTTP_ACTIVITY;
use crate::metrics::{self, WorkOutcome};
use crate::resolve::{FunctionKind, resolve_deployed};
use crate::store::{ActivityWorkItem, Claim, StoreError};
use crate::telemetry::{self, ExecutionTrace};
use crate::types::{EventKind, Failure, payload_too_large};
use crate::wasm::{ActivityRun, LoadedComponent};
use std::sync::Arc;
use tokio::sync::watch;
use tracing::Instrument as _;

impl Engine {
    pub(super) async fn activity_loop(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let lease = self.config.activity_lease.as_millis() as u64;
        let kind = WorkKind {
            what: "activities",
            lease,
            lock: |engine, free, lease, now| {
                let owner = &engine.config.owner;
                engine.store.lock_activities(owner, free, lease, now)
            },
            run: run_or_leave,
        };
        self.work_loop(
            kind,
            &self.lanes.activities,
            &self.signals().activities,
            stopped,
        )
        .await;
    }

    /// Runs one attempt and delivers its result (a lost lease drops it: another host runs
    /// the task now).
    async fn run_activity(
        self: &Arc<Self>,
        task: &ActivityWorkItem,
    ) -> Result<WorkOutcome, EngineError> {
        let app = task.app.as_deref();
        let grants = self.grants.for_app(app);
        let run = async {
            if task.name == HTTP_ACTIVITY {
                let result = grants.http.run(&task.input, app).await;
                return Ok::<_, EngineError>((result, Vec::new()));
            }
            Ok(match self.activity_component(task).await? {
                Ok(component) => {
                    let run = ActivityRun {
                        instance_id: &task.instance_id,
                        task_id: task.task_id,
                        attempt: task.attempt,
                        now: self.clock.now(),
                        app,
                    };
                    self.wasm
                        .run_activity(&component, grants, &task.name, &task.input, run)
                        .await
                        .map_err(EngineError::Runtime)?
                }
                Err(failure) => (Err(failure), Vec::new()),
            })
        };
        let (result, logs) = self.renewing_lease(task, run).await?;
        let limit = self.config.max_payload;
        let result = match result {
            Ok(result) if result.len() > limit => {
                Err(payload_too_large("the result", result.len(), limit))
            }
            other => other,
        };
        let mut outcome = match result {
            Ok(_) => WorkOutcome::Completed,
            Err(_) => WorkOutcome::Failed,
        };
        let event = match result {
            Ok(result) => EventKind::TaskCompleted {
                task_id: task.task_id,
                result,
            },
            Err(failure) => EventKind::TaskFailed {
                task_id: task.task_id,
                failure,
            },
        };
        // The turn the result wakes runs here at once if this host has room for it: the
        // commit claims the instance ([`crate::store::Claim`]) unless someone holds it.
        let place = self.lanes.orchestrations.reserve(1).pop();
        let claim = place.as_ref().map(|_| Claim {
            owner: &self.config.owner,
            max: 1,
            lease_ms: self.config.orchestration_lease.as_millis() as u64,
        });
        let written = self
            .write_fenced(self.config.activity_lease, || {
                let now = self.clock.now();
                (self.store).complete_activity_claiming(
                    task,
                    event.clone(),
                    logs.clone(),
                    now,
                    claim,
                )
            })
            .await;
        match written {
            Ok(Some(turn)) => {
                metrics::claimed("orchestrations", 1);
                let place = place.expect("claimed with a place");
                let run = super::orchestrations::run_or_abandon(self.clone(), turn);
                self.lanes.orchestrations.spawn(place, run);
                return Ok(outcome);
            }
            Ok(None) => {}
            Err(StoreError::LeaseLost) => {
                tracing::warn!(activity = %task.name, "activity finished after its lease was lost; result dropped");
                outcome = WorkOutcome::Discarded;
            }
            Err(e) => return Err(e.into()),
        }
        self.signals().orchestrations.notify_one();
        Ok(outcome)
    }

    /// Runs `work` while renewing the task's lease every third of its length, so the lease
    /// stays short however long the activity runs. A renewal that finds the lease lost (the
    /// host was taken for dead, or stalled past its lease) lets the run finish; its result is
    /// then dropped at completion.
    async fn renewing_lease<T>(
        &self,
        task: &ActivityWorkItem,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let lease = self.config.activity_lease;
        let every = lease / 3;
        let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = renew.tick() => {
                    let now = self.clock.now();
                    match self.store.renew_activity_lease(task, lease.as_millis() as u64, now).await {
                        Ok(()) => {}
                        Err(e) => tracing::warn!(activity = %task.name, instance = %task.instance_id,
                            "cannot renew the activity's lease: {e}"),
                    }
                }
            }
        }
    }

    /// The component a task runs on: the one it was queued with, which offers it (the turn
    /// that scheduled it resolved the name), unless a rewind queued it again on its
    /// instance's component; then the name is resolved again among the deployments.
    async fn activity_component(
        &self,
        task: &ActivityWorkItem,
    ) -> Result<Result<Arc<LoadedComponent>, Failure>, EngineError> {
        let queued = self.component(&task.digest).await?;
        if FunctionKind::Activity.offered_by(&queued.catalogue, &task.name) {
            return Ok(Ok(queued));
        }
        let deployed = self.store.components().await?;
        match resolve_deployed(FunctionKind::Activity, &task.name, &deployed) {
            Ok(digest) => Ok(Ok(self.component(&digest).await?)),
            Err(unresolved) => Ok(Err(unresolved.into())),
        }
    }
}

/// Runs an activity; one that cannot run (storage, the runtime) stays locked, and runs again
/// when its lease expires.
pub(super) fn run_or_leave(engine: Arc<Engine>, task: ActivityWorkItem) -> Boxed<'static, ()> {
    Box::pin(async move {
        let started = std::time::Instant::now();
        metrics::activity_started();
        let span = tracing::info_span!(target: telemetry::TARGET, "activity",
            otel.name = %format_args!("activity {}", task.name),
            durable.instance_id = %task.instance_id, durable.activity = %task.name,
            durable.task_id = task.task_id, durable.attempt = task.attempt,
            durable.outcome = tracing::field::Empty, otel.status_code = tracing::field::Empty);
        let execution = ExecutionTrace {
            instance_id: &task.instance_id,
            execution_id: &task.execution_id,
            caller: task.trace.as_deref(),
        };
        execution.adopt(&span);
        let ran = engine.run_activity(&task).instrument(span.clone()).await;
        let outcome = *ran.as_ref().unwrap_or(&WorkOutcome::Retried);
        metrics::activity_finished(outcome, started.elapsed());
        telemetry::record_outcome(&span, outcome.label(), outcome != WorkOutcome::Completed);
        if let Err(e) = ran {
            tracing::error!(activity = %task.name, instance = %task.instance_id,
                "activity could not run, will retry after its lease: {e:#}");
        }
    })
}
