//! The embedding API: a [`Host`] runs the engine in a Rust program in a few lines.
//!
//! ```no_run
//! # async fn demo(bytes: &[u8]) -> Result<(), Box<dyn std::error::Error>> {
//! use durable_host::client::StartRequest;
//! use durable_host::host::Host;
//! use std::time::Duration;
//!
//! let host = Host::open("app.db")?;
//! host.deploy(bytes).await?;
//! let running = host.start();
//! let id = host.client().start(StartRequest::new("hello_sequence")).await?;
//! let done = host.client().wait(&id, Duration::from_secs(60)).await?;
//! println!("{:?}", done.output);
//! running.shutdown().await;
//! # Ok(()) }
//! ```
//!
//! `Host` is a thin facade over [`crate::engine`], which holds the dispatch loops.

pub use crate::engine::{
    DEFAULT_INSTANCE_IDLE_SECS, EngineError, HeldInstances, HostConfig, ReplayError, RunningHost,
    default_compile_cache,
};

use crate::client::Client;
use crate::clock::{Clock, SystemClock};
use crate::engine::{ColdReplayError, Engine, Execution, cold_replay};
use crate::inspect::upgrade::{Instances, Target, Upgrade};
use crate::inspect::verify::{Selection, Verdict};
use crate::replay::execution_ids;
use crate::store::{ComponentRecord, InstanceRecord, Labels, SqliteStore, Store};
use crate::types::{Action, HistoryEvent};
use std::path::Path;
use std::sync::Arc;

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    engine: Arc<Engine>,
}

impl Host {
    /// A host on a SQLite file (created if missing; work fsync'd before it is answered), the
    /// system clock and default settings: the shortest way to embed the engine. For a
    /// PostgreSQL URL, use [`Host::connect`].
    pub fn open(path: impl AsRef<Path>) -> Result<Host, EngineError> {
        let path = path.as_ref();
        if path.to_str().is_some_and(crate::store::is_postgres_url) {
            return Err(EngineError::Setup(
                "Host::open opens a SQLite file; connect to PostgreSQL with Host::connect".into(),
            ));
        }
        let store = SqliteStore::open(path, Default::default())?;
        Host::new(
            Arc::new(store),
            Arc::new(SystemClock),
            HostConfig::default(),
        )
    }

    /// A host on the database `db` names, as the CLI's `--db` does: a PostgreSQL URL
    /// (`postgres://user@host:5432/database`, shared with other hosts), or a SQLite file
    /// (created if missing; work fsync'd before it is answered); the system clock and default
    /// settings.
    pub async fn connect(db: &str) -> Result<Host, EngineError> {
        let store = crate::store::open(db, Default::default()).await?;
        Host::new(store, Arc::new(SystemClock), HostConfig::default())
    }

    /// A host on any store and clock (tests drive a [`crate::clock::ManualClock`]).
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: HostConfig,
    ) -> Result<Host, EngineError> {
        Ok(Host {
            engine: Arc::new(Engine::new(store, clock, config)?),
        })
    }

    /// The client of this host's store; its waits are woken by this host's commits.
    pub fn client(&self) -> &Client {
        &self.engine.client
    }

    /// Loads a component, learns what it offers, and stores it as the newest deployment.
    /// New instances of its orchestrators run on it; running instances stay on the component
    /// they started with.
    pub async fn deploy(&self, bytes: &[u8]) -> Result<ComponentRecord, EngineError> {
        self.engine.deploy(bytes, Labels::default()).await
    }

    /// [`Host::deploy`], labelling the deployment `version`: the instances started on it run
    /// as that version (an orchestration reads it with `ctx.version()`), and a start can ask
    /// for it ([`crate::client::StartRequest::version`]).
    pub async fn deploy_version(
        &self,
        bytes: &[u8],
        version: &str,
    ) -> Result<ComponentRecord, EngineError> {
        let labels = Labels {
            version: Some(version),
            ..Labels::default()
        };
        self.engine.deploy(bytes, labels).await
    }

    /// [`Host::deploy`] with labels: a version ([`Host::deploy_version`]), and the app the
    /// deployment belongs to, whose grants its activities run with
    /// ([`crate::engine::HostConfig::app_grants`]). A label left out keeps the one the same
    /// component had. Fails with [`EngineError::InvalidApp`] for a malformed app name.
    pub async fn deploy_labelled(
        &self,
        bytes: &[u8],
        labels: Labels<'_>,
    ) -> Result<ComponentRecord, EngineError> {
        self.engine.deploy(bytes, labels).await
    }

    /// Replays the stored histories `selection` chooses against the component `bytes`, without
    /// deploying it: every chosen instance with its verdict (whether the code agrees with its
    /// history; [`crate::inspect::verify`]).
    pub async fn verify(
        &self,
        bytes: &[u8],
        selection: &Selection,
    ) -> Result<Vec<(InstanceRecord, Verdict)>, EngineError> {
        self.engine.verify(bytes, selection).await
    }

    /// Moves `instances` to `target` (a deployment, or the newest offering each one's
    /// orchestrator) where their histories replay against it; those that do not stay on the
    /// component they run on ([`crate::inspect::upgrade`]). Every instance with what happened
    /// to it.
    pub async fn upgrade(
        &self,
        instances: Instances,
        target: Target<'_>,
    ) -> Result<Vec<(String, Upgrade)>, EngineError> {
        self.engine.upgrade(instances, target).await
    }

    /// Starts the dispatch loops; they run until [`RunningHost::shutdown`].
    pub fn start(&self) -> RunningHost {
        RunningHost::start(&self.engine)
    }

    /// Drops every cached live instance (the next turn of each replays its history into a
    /// fresh guest).
    pub fn evict_all(&self) {
        self.engine.evict_all();
    }

    /// The guest instances this host keeps between work: live orchestrators in its cache and
    /// idle activity instances kept warm. Both give their memory back once unused for
    /// [`HostConfig::instance_idle`].
    pub fn held_instances(&self) -> HeldInstances {
        self.engine.held_instances()
    }

    /// Bytes the guest instance pool's free slots keep resident for their next instances (the
    /// gauge `durable_pool_free_slots_resident_bytes`).
    pub fn free_slots_resident_bytes(&self) -> usize {
        self.engine.wasm.free_slots_resident_bytes()
    }

    /// Replays `history` into a fresh instance of `orchestrator` from the given component and
    /// returns the actions it decides, turn after turn; [`ReplayError::Failed`] with the
    /// failure (nondeterminism, trap) the replay hits.
    pub async fn replay_history(
        &self,
        component: &[u8],
        orchestrator: &str,
        history: &[HistoryEvent],
    ) -> Result<Vec<Action>, ReplayError> {
        let wasm = &self.engine.wasm;
        let loaded = wasm
            .load(component)
            .await
            .map_err(EngineError::InvalidComponent)?;
        let (instance_id, execution_id) = execution_ids(history.iter().map(|e| &e.kind))
            .ok_or_else(|| {
                EngineError::InvalidHistory("the history has no ExecutionStarted event".into())
            })?;
        let execution = Execution {
            orchestrator,
            instance_id: &instance_id,
            execution_id: &execution_id,
        };
        let mut actions = Vec::new();
        let on_turn = |turn: &[Action]| actions.extend_from_slice(turn);
        match cold_replay(wasm, &loaded, execution, history, on_turn).await {
            Ok(_) => Ok(actions),
            Err(ColdReplayError::Failed { failure, .. }) => Err(ReplayError::Failed(*failure)),
            Err(ColdReplayError::Engine(e)) => Err(e.into()),
        }
    }
}

/// Checking and deploying components, for a front end that serves a host (the HTTP API's
/// `POST /deployments`).
#[async_trait::async_trait]
pub trait Deployer: Send + Sync {
    /// See [`Host::verify`].
    async fn verify(
        &self,
        bytes: &[u8],
        selection: &Selection,
    ) -> Result<Vec<(InstanceRecord, Verdict)>, EngineError>;

    /// See [`Host::deploy_labelled`].
    async fn deploy(
        &self,
        bytes: &[u8],
        labels: Labels<'_>,
    ) -> Result<ComponentRecord, EngineError>;

    /// See [`Host::upgrade`].
    async fn upgrade(
        &self,
        instances: Instances,
        target: Target<'_>,
    ) -> Result<Vec<(String, Upgrade)>, EngineError>;
}

#[async_trait::async_trait]
impl Deployer for Host {
    async fn verify(
        &self,
        bytes: &[u8],
        selection: &Selection,
    ) -> Result<Vec<(InstanceRecord, Verdict)>, EngineError> {
        Host::verify(self, bytes, selection).await
    }

    async fn deploy(
        &self,
        bytes: &[u8],
        labels: Labels<'_>,
    ) -> Result<ComponentRecord, EngineError> {
        self.engine.deploy(bytes, labels).await
    }

    async fn upgrade(
        &self,
        instances: Instances,
        target: Target<'_>,
    ) -> Result<Vec<(String, Upgrade)>, EngineError> {
        Host::upgrade(self, instances, target).await
    }
}
