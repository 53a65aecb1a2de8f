//! Moving in-flight instances to newer code (`durable upgrade`, `durable deploy --upgrade`,
//! `POST /instances/{id}/upgrade`).
//!
//! An instance is moved only after its history replays against the target component, exactly
//! as the engine would replay it after a cache miss ([`super::verify::check`]); the move is
//! written only if the instance has not changed since (no turn ran, none is running:
//! [`crate::store::Store::upgrade`]), and is recorded in its history as an
//! `ExecutionUpgraded` event naming both digests, so its next turn runs the new code. An
//! instance whose history does not replay stays on the component it runs on and finishes
//! there. Works on a store alone (the CLI without a running host) and in a host.

use super::verify::{Verdict, check, list_all};
use crate::engine::EngineError;
use crate::resolve::{FunctionKind, newest_offering};
use crate::store::{
    ComponentRecord, InstanceFilter, InstanceRecord, Store, StoreError, UpgradeCommit,
};
use crate::types::{EventKind, HistoryEvent, RuntimeStatus, Timestamp};
use crate::wasm::{LoadedComponent, WasmRuntime, digest_of};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

/// What [`upgrade`] did with one instance.
#[derive(Debug, Clone, PartialEq)]
pub enum Upgrade {
    /// It moved from `from` to `to`; its next turn runs `to`. An instance that had recorded
    /// nothing yet moves without an event: it simply starts on `to`.
    Moved {
        /// The digest it ran on.
        from: String,
        /// The digest it runs on now.
        to: String,
    },
    /// It already runs on the target.
    AlreadyThere(String),
    /// Its history does not replay against the target (`Incompatible` or `Failed`): it
    /// stays on `on` and finishes there.
    Stays {
        /// The digest it stays on.
        on: String,
        /// The digest it was checked against.
        target: String,
        /// What the check found.
        verdict: Verdict,
    },
    /// It has finished; finished instances are never moved.
    Finished(RuntimeStatus),
    /// No deployment to move it to: none offers its orchestrator (or the one asked for
    /// does not).
    NoTarget,
    /// Turns kept running on it while it was being checked; asking again may succeed.
    Busy,
}

impl Upgrade {
    /// The outcome's name in JSON answers and summaries.
    pub fn label(&self) -> &'static str {
        match self {
            Upgrade::Moved { .. } => "moved",
            Upgrade::AlreadyThere(_) => "alreadyThere",
            Upgrade::Stays { .. } => "stays",
            Upgrade::Finished(_) => "finished",
            Upgrade::NoTarget => "noTarget",
            Upgrade::Busy => "busy",
        }
    }
}

/// One instance's outcome, as `durable upgrade --json` and the HTTP API answer it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpgradeReport {
    /// The instance's id.
    pub instance_id: String,
    /// `moved`, `alreadyThere`, `stays`, `finished`, `noTarget` or `busy`.
    pub outcome: &'static str,
    /// The digest it runs on after the request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub component: Option<String>,
    /// For `moved`: the digest it ran on before.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// For `stays`: the first divergence (or the replay's failure), as a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<crate::types::Failure>,
    /// A sentence for people.
    pub message: String,
}

impl UpgradeReport {
    /// The report of `outcome` for `instance_id`.
    pub fn new(instance_id: &str, outcome: &Upgrade) -> UpgradeReport {
        let mut report = UpgradeReport {
            instance_id: instance_id.to_owned(),
            outcome: outcome.label(),
            component: None,
            from: None,
            failure: None,
            message: String::new(),
        };
        report.message = match outcome {
            Upgrade::Moved { from, to } => {
                report.component = Some(to.clone());
                report.from = Some(from.clone());
                format!("moved from {from} to {to}")
            }
            Upgrade::AlreadyThere(on) => {
                report.component = Some(on.clone());
                format!("already runs on {on}")
            }
            Upgrade::Stays {
                on,
                target,
                verdict,
            } => {
                report.component = Some(on.clone());
                let why = match verdict {
                    Verdict::Incompatible(f) | Verdict::Failed(f) => {
                        report.failure = Some(f.clone());
                        format!("{}: {}", f.error_type, f.message)
                    }
                    _ => "its history does not replay".to_owned(),
                };
                format!("stays on {on}: its history does not replay against {target}: {why}")
            }
            Upgrade::Finished(status) => format!("has finished ({status}); nothing to move"),
            Upgrade::NoTarget => "no deployment to move it to offers its orchestrator".to_owned(),
            Upgrade::Busy => {
                "kept running turns while it was being checked; not moved, try again".to_owned()
            }
        };
        report
    }
}

/// How many times a check is made again when turns keep changing the instance.
const ATTEMPTS: u32 = 5;

/// A stored component by digest, loaded (compiled, or found in `runtime`'s caches).
pub async fn load_stored(
    store: &dyn Store,
    runtime: &WasmRuntime,
    digest: &str,
) -> Result<Arc<LoadedComponent>, EngineError> {
    if let Some(loaded) = runtime.loaded(digest) {
        return Ok(loaded);
    }
    let missing = |problem| EngineError::MissingComponent {
        digest: digest.to_owned(),
        problem,
    };
    let bytes = store
        .component_bytes(digest)
        .await?
        .ok_or_else(|| missing("is not in the store"))?;
    if digest_of(&bytes) != digest {
        return Err(missing("in the store does not match its digest"));
    }
    runtime.load(&bytes).await.map_err(EngineError::Runtime)
}

/// Moves the instance `instance_id` to `component` (a stored deployment) if its history
/// replays against it; see the module docs. `now` stamps the write.
pub async fn upgrade(
    store: &dyn Store,
    runtime: &WasmRuntime,
    component: &LoadedComponent,
    instance_id: &str,
    now: &(dyn Fn() -> Timestamp + Sync),
) -> Result<Upgrade, EngineError> {
    let to = &component.digest;
    for attempt in 0..ATTEMPTS {
        let instance = store
            .instance(instance_id)
            .await?
            .ok_or_else(|| StoreError::InstanceNotFound(instance_id.to_owned()))?;
        if instance.status.is_terminal() {
            return Ok(Upgrade::Finished(instance.status));
        }
        if &instance.digest == to {
            return Ok(Upgrade::AlreadyThere(to.clone()));
        }
        if !FunctionKind::Orchestrator.offered_by(&component.catalogue, &instance.name) {
            return Ok(Upgrade::NoTarget);
        }
        let history = store.history(instance_id).await?;
        let verdict = check(runtime, component, &instance.name, &history).await?;
        if !verdict.is_compatible() {
            return Ok(Upgrade::Stays {
                on: instance.digest,
                target: to.clone(),
                verdict,
            });
        }
        let at = now();
        let event = (!history.is_empty()).then(|| HistoryEvent {
            event_id: None,
            timestamp: at,
            kind: EventKind::ExecutionUpgraded {
                from: instance.digest.clone(),
                to: to.clone(),
            },
        });
        let commit = UpgradeCommit {
            instance_id: instance_id.to_owned(),
            execution_id: instance.execution_id.clone(),
            history_len: history.len() as u32,
            from: instance.digest.clone(),
            to: to.clone(),
            event,
            now: at,
        };
        match store.upgrade(commit).await {
            Ok(()) => {
                return Ok(Upgrade::Moved {
                    from: instance.digest,
                    to: to.clone(),
                });
            }
            // A turn ran or is running: check the history it leaves.
            Err(StoreError::Conflict(_)) => {
                let pause = std::time::Duration::from_millis(20 << attempt);
                tokio::time::sleep(pause).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Upgrade::Busy)
}

/// Where instances are moved to.
#[derive(Debug, Clone, Copy)]
pub enum Target<'a> {
    /// The newest deployment offering each instance's orchestrator.
    Newest,
    /// This deployment (a digest, or a prefix of one that names a single deployment).
    Deployment(&'a str),
}

/// Which instances to move.
#[derive(Debug, Clone)]
pub enum Instances {
    /// These, by id.
    Ids(Vec<String>),
    /// Every unfinished instance (of the orchestrators the targets offer).
    AllUnfinished,
}

/// Moves `instances` to `target`, one after another, handing each outcome to `on_done` as it
/// is known. An instance id that does not exist is an error before anything moves; of all
/// unfinished instances, those no target offers the orchestrator of are passed over.
pub async fn upgrade_instances(
    store: &dyn Store,
    runtime: &WasmRuntime,
    instances: Instances,
    target: Target<'_>,
    now: &(dyn Fn() -> Timestamp + Sync),
    mut on_done: impl FnMut(&str, &Upgrade),
) -> Result<(), EngineError> {
    let deployments = store.components().await?;
    let fixed = match target {
        Target::Newest => None,
        Target::Deployment(digest) => {
            Some(find_deployment(&deployments, digest).map_err(EngineError::UnknownDeployment)?)
        }
    };
    let all = matches!(instances, Instances::AllUnfinished);
    let records = match instances {
        Instances::Ids(ids) => {
            let mut records = Vec::with_capacity(ids.len());
            for id in ids {
                let record = store
                    .instance(&id)
                    .await?
                    .ok_or(StoreError::InstanceNotFound(id))?;
                records.push(record);
            }
            records
        }
        Instances::AllUnfinished => unfinished(store).await?,
    };
    let mut loaded: HashMap<String, Arc<LoadedComponent>> = HashMap::new();
    for instance in records {
        let chosen = match fixed {
            Some(record) => Some(record),
            None => newest_offering(FunctionKind::Orchestrator, &instance.name, &deployments),
        };
        let outcome = match chosen {
            // Of all unfinished instances, only those the target offers are its concern.
            None if all => continue,
            Some(record)
                if all
                    && !FunctionKind::Orchestrator
                        .offered_by(&record.catalogue, &instance.name) =>
            {
                continue;
            }
            None => Upgrade::NoTarget,
            Some(_) if instance.status.is_terminal() => Upgrade::Finished(instance.status),
            Some(record) => {
                let component = match loaded.get(&record.digest) {
                    Some(component) => component.clone(),
                    None => {
                        let component = load_stored(store, runtime, &record.digest).await?;
                        loaded.insert(record.digest.clone(), component.clone());
                        component
                    }
                };
                upgrade(store, runtime, &component, &instance.instance_id, now).await?
            }
        };
        on_done(&instance.instance_id, &outcome);
    }
    Ok(())
}

/// The deployment `digest` names: the full digest, or a prefix (with or without `sha256:`)
/// that only one deployment has.
pub fn find_deployment<'a>(
    deployments: &'a [ComponentRecord],
    digest: &str,
) -> Result<&'a ComponentRecord, String> {
    let wanted = digest.strip_prefix("sha256:").unwrap_or(digest);
    let matching: Vec<&ComponentRecord> = deployments
        .iter()
        .filter(|d| {
            d.digest
                .strip_prefix("sha256:")
                .unwrap_or(&d.digest)
                .starts_with(wanted)
        })
        .collect();
    match matching.as_slice() {
        [one] if !wanted.is_empty() => Ok(one),
        [] => Err(format!("no deployment has the digest {digest}")),
        _ => Err(format!(
            "{digest} names {} deployments; give more of the digest",
            matching.len()
        )),
    }
}

/// Every unfinished instance, in creation order.
async fn unfinished(store: &dyn Store) -> Result<Vec<InstanceRecord>, EngineError> {
    use RuntimeStatus::*;
    let filter = InstanceFilter {
        statuses: vec![Pending, Running, Suspended, ContinuedAsNew],
        ..Default::default()
    };
    Ok(list_all(store, filter).await?)
}
