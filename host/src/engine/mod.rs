//! The engine: three dispatch loops that run orchestration turns, activities and entity
//! batches against the store.
//!
//! Every kind of work flows the same way (`loops`): lock work items under a lease, run each
//! in its own task, commit its result in one transaction, and sleep until a commit in this
//! process, the next due timer (on the injected [`crate::clock::Clock`]) or the poll interval
//! (work written by other processes) wakes the loop.
//!
//! An orchestration turn (`orchestrations`) reads the way its data flows:
//!
//! 1. **load**: the locked instance and its visible messages; the live guest from the
//!    `cache`, or a fresh guest fed the stored history by [`cold_replay`];
//! 2. **decide**: sort the inbox ([`crate::plan::inbox`]), step the guest through the new
//!    events, check its actions against history and plan the turn ([`crate::replay`]), and
//!    turn that plan into a commit ([`crate::plan::turn`]);
//! 3. **commit**: one transaction; the live guest goes back to the cache.
//!
//! Activities (`activities`) run on the component the turn that queued them resolved; entity
//! batches (`entities`) run on the newest component offering the entity. The embedding API
//! over all this is [`crate::host::Host`].

mod activities;
mod cache;
mod cold;
mod config;
mod entities;
mod error;
mod loops;
mod orchestrations;

pub use cold::{ColdReplay, ColdReplayError, Execution, cold_replay, cold_replay_chunks};
pub use config::{DEFAULT_INSTANCE_IDLE_SECS, HostConfig, default_compile_cache};
pub use error::{EngineError, ReplayError};
pub use loops::RunningHost;

use crate::client::{Client, WorkSignals};
use crate::clock::Clock;
use crate::grants::{GrantTable, check_app_name};
use crate::inspect::upgrade::{Instances, Target, Upgrade, load_stored, upgrade_instances};
use crate::inspect::verify::{Selection, Verdict, check_instances, instances_to_check};
use crate::store::{ComponentRecord, InstanceRecord, Labels, Store, StoreError};
use crate::wasm::{LoadedComponent, WasmRuntime};
use cache::InstanceCache;
use loops::Lane;
use std::sync::{Arc, Mutex};

impl AsRef<WasmRuntime> for Engine {
    fn as_ref(&self) -> &WasmRuntime {
        &self.wasm
    }
}

/// The engine's parts, shared by its loops and the [`crate::host::Host`] facade.
pub(crate) struct Engine {
    pub(crate) client: Client,
    pub(crate) store: Arc<dyn Store>,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) wasm: WasmRuntime,
    /// What each app's activities (and `call_http` requests) may reach.
    grants: GrantTable,
    config: HostConfig,
    cache: Arc<Mutex<InstanceCache>>,
    lanes: Lanes,
}

/// Where each kind of work runs ([`Lane`]).
struct Lanes {
    orchestrations: Lane,
    activities: Lane,
    entities: Lane,
}

impl Engine {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: HostConfig,
    ) -> Result<Engine, EngineError> {
        let slots = if config.pooling {
            config.instance_slots()
        } else {
            0
        };
        let wasm = WasmRuntime::new(config.compile_cache.clone(), config.limits.clone(), slots)
            .map_err(EngineError::Runtime)?;
        // When work finds every guest instance slot taken, give back some held only to save
        // replays: the least recently used live orchestrators.
        let cache = Arc::new(Mutex::new(InstanceCache::new(
            config.cache_capacity,
            config.cache_memory,
        )));
        let relief = Arc::downgrade(&cache);
        wasm.on_pool_full(move || {
            if let Some(cache) = relief.upgrade() {
                let mut cache = cache.lock().unwrap_or_else(|e| e.into_inner());
                let evicted = cache.evict_oldest_share(8);
                tracing::debug!("guest instance pool full: evicted {evicted} cached instances");
            }
        });
        let client = Client::new(store.clone(), clock.clone()).with_max_payload(config.max_payload);
        let grants = GrantTable::new(
            &config.capabilities,
            &config.app_grants,
            config.limits.activity_timeout,
        )
        .map_err(|e| EngineError::Setup(format!("{e:#}")))?;
        let lanes = Lanes {
            orchestrations: Lane::new(config.orchestration_concurrency),
            activities: Lane::new(config.activity_concurrency),
            entities: Lane::new(config.orchestration_concurrency),
        };
        Ok(Engine {
            client,
            store,
            clock,
            wasm,
            grants,
            cache,
            config,
            lanes,
        })
    }

    /// Loads a component, learns what it offers, and stores it as the newest deployment,
    /// with the labels given (one left out keeps what the same component had). The record as
    /// stored.
    pub(crate) async fn deploy(
        &self,
        bytes: &[u8],
        labels: Labels<'_>,
    ) -> Result<ComponentRecord, EngineError> {
        if let Some(app) = labels.app {
            check_app_name(app).map_err(EngineError::InvalidApp)?;
        }
        let loaded = self
            .wasm
            .load(bytes)
            .await
            .map_err(EngineError::InvalidComponent)?;
        let now = self.clock.now();
        self.store
            .put_component(&loaded.digest, bytes, &loaded.catalogue, now, labels)
            .await?;
        let stored = self.store.components().await?;
        let record = stored.into_iter().find(|r| r.digest == loaded.digest);
        Ok(record.unwrap_or_else(|| ComponentRecord {
            digest: loaded.digest.clone(),
            catalogue: loaded.catalogue.clone(),
            deployed_at: now,
            retired_at: None,
            version: labels.version.map(str::to_owned),
            app: labels.app.map(str::to_owned),
        }))
    }

    /// A stored component, loaded (compiled, or from the disk cache) on first use.
    async fn component(&self, digest: &str) -> Result<Arc<LoadedComponent>, EngineError> {
        load_stored(&*self.store, &self.wasm, digest).await
    }

    /// The wake-ups of the loops, shared with the client so its starts, events and signals
    /// wake them at once.
    fn signals(&self) -> &WorkSignals {
        self.client.signals()
    }

    /// A commit released a lock and may have sent messages to instances: wake the
    /// orchestration loop (messages that came while the lock was held wait for it), the entity
    /// loop when the commit sent `to_entities` or released an entity's lock, and the client's
    /// waiters when it `finished` an instance (all they wait for).
    fn commit_done(&self, finished: bool, to_entities: bool) {
        self.signals().orchestrations.notify_one();
        if to_entities {
            self.signals().entities.notify_one();
        }
        if finished {
            self.client.notify_changed();
        }
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, InstanceCache> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs a write that ends a work item (its commit, or giving it back), again and again
    /// while the store is unreachable (`StoreError::Backend`: a database restarting, a
    /// connection cut), with back-off, for up to `lease` (after that another host may hold the work, and the write
    /// would be refused anyway). Such writes are fenced by the item's lock token, so one that
    /// reached the database before the answer was lost is refused when tried again
    /// (`LeaseLost`), never applied twice; and the work done (a turn, an activity's result) is
    /// not thrown away because the database was away for a moment.
    async fn write_fenced<T, F>(
        &self,
        lease: std::time::Duration,
        mut write: impl FnMut() -> F,
    ) -> Result<T, StoreError>
    where
        F: std::future::Future<Output = Result<T, StoreError>>,
    {
        let give_up = tokio::time::Instant::now() + lease;
        let mut backoff = std::time::Duration::from_millis(50);
        loop {
            match write().await {
                Err(StoreError::Backend(e)) if tokio::time::Instant::now() + backoff < give_up => {
                    tracing::warn!("cannot write to the store ({e}); trying again");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    /// Replays the stored histories `selection` chooses against the component `bytes`
    /// ([`crate::inspect::verify`]), one at a time per core: every instance with its verdict.
    pub(crate) async fn verify(
        self: &Arc<Self>,
        bytes: &[u8],
        selection: &Selection,
    ) -> Result<Vec<(InstanceRecord, Verdict)>, EngineError> {
        let component = self
            .wasm
            .load(bytes)
            .await
            .map_err(EngineError::InvalidComponent)?;
        let instances = instances_to_check(&*self.store, &component.catalogue, selection).await?;
        let parallel = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut checked = Vec::with_capacity(instances.len());
        let store = self.store.clone();
        check_instances(
            store,
            self.clone(),
            component,
            instances,
            parallel,
            |i, v| {
                checked.push((i, v));
                std::ops::ControlFlow::Continue(())
            },
        )
        .await?;
        Ok(checked)
    }

    /// Moves `instances` to `target` where their histories replay against it
    /// ([`crate::inspect::upgrade`]): every instance with what happened to it.
    pub(crate) async fn upgrade(
        &self,
        instances: Instances,
        target: Target<'_>,
    ) -> Result<Vec<(String, Upgrade)>, EngineError> {
        let now = || self.clock.now();
        let mut done = Vec::new();
        let on_done = |id: &str, outcome: &Upgrade| done.push((id.to_owned(), outcome.clone()));
        upgrade_instances(&*self.store, &self.wasm, instances, target, &now, on_done).await?;
        Ok(done)
    }

    /// Drops every cached live instance.
    pub(crate) fn evict_all(&self) {
        self.cache().clear();
    }

    /// See [`crate::host::Host::held_instances`].
    pub(crate) fn held_instances(&self) -> HeldInstances {
        HeldInstances {
            orchestrators: self.cache().len(),
            activities: self.wasm.warm_activities(),
        }
    }
}

/// Guest instances a host keeps between work ([`crate::host::Host::held_instances`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldInstances {
    /// Live orchestrator instances in the cache.
    pub orchestrators: usize,
    /// Idle activity instances kept warm for the next call.
    pub activities: usize,
}
