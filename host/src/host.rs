//! The running engine: dispatch loops for orchestrations and activities.
//!
//! The orchestration loop locks instances that have visible messages and
//! runs one turn for each, concurrently up to a limit. A turn takes the live
//! guest from the cache (or starts a fresh one and replays the history into
//! it), feeds it the new events, plans the turn with [`crate::replay`] and
//! commits it in one transaction. The activity loop locks activity tasks,
//! runs them and delivers their results. Both loops sleep until notified by
//! a commit in this process, until the next timer is due (on the injected
//! [`Clock`]), or until the poll interval passes (work written by other
//! processes).

mod entities;

use crate::builtin_http::{HTTP_ACTIVITY, HttpActivity, HttpAllowList};
use crate::client::Client;
use crate::clock::Clock;
use crate::replay::{Outcome, ReplayState, TurnPlan, split_turns, turn_time};
use crate::resolve::{FunctionKind, resolve_deployed};
use crate::store::{
    ActivityWorkItem, ComponentRecord, InstanceRecord, NewActivity, NewInstance,
    OrchestrationCommit, OrchestrationWorkItem, OutboundMessage, Store, StoreError, StoreResult,
};
use crate::types::{
    ActionKind, EventKind, Failure, HistoryEvent, ParentInstance, RuntimeStatus, failure_types,
};
use crate::wasm::sandbox::{ActivityCapabilities, GuestLimits};
use crate::wasm::{ActivityRun, LiveOrchestration, LoadedComponent, WasmRuntime, digest_of};
use anyhow::Context as _;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, watch};
use tokio::task::JoinSet;

/// Settings of a host.
#[derive(Debug, Clone)]
pub struct HostConfig {
    /// Names this host in leases.
    pub owner: String,
    /// Orchestration turns run at once.
    pub orchestration_concurrency: usize,
    /// Activities run at once.
    pub activity_concurrency: usize,
    /// How long a lock on an orchestration is held before others may take it.
    pub orchestration_lease: Duration,
    /// How often to look for work written by other processes.
    pub poll_interval: Duration,
    /// Live orchestrator instances kept in memory.
    pub cache_capacity: usize,
    /// Where compiled components are cached (none: no disk cache).
    pub compile_cache: Option<PathBuf>,
    pub limits: GuestLimits,
    pub capabilities: ActivityCapabilities,
    /// Use wasmtime's pooling allocator (faster instantiation; reserves
    /// address space up front for every slot).
    pub pooling: bool,
}

impl Default for HostConfig {
    fn default() -> Self {
        HostConfig {
            owner: format!("host-{}", std::process::id()),
            orchestration_concurrency: 64,
            activity_concurrency: 64,
            orchestration_lease: Duration::from_secs(60),
            poll_interval: Duration::from_millis(200),
            cache_capacity: 2048,
            compile_cache: default_compile_cache(),
            limits: GuestLimits::default(),
            capabilities: ActivityCapabilities::default(),
            pooling: true,
        }
    }
}

/// `$XDG_CACHE_HOME/durable` or `~/.cache/durable`.
pub fn default_compile_cache() -> Option<PathBuf> {
    std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|dir| dir.join("durable"))
}

/// A live guest and what the host remembers of its history.
struct CachedInstance {
    guest: LiveOrchestration,
    replay: ReplayState,
    execution_id: String,
}

/// Live instances, evicting the least recently returned when full.
struct InstanceCache {
    capacity: usize,
    entries: HashMap<String, (u64, CachedInstance)>,
    order: VecDeque<(String, u64)>,
    generation: u64,
}

impl InstanceCache {
    fn take(&mut self, id: &str) -> Option<CachedInstance> {
        self.entries.remove(id).map(|(_, entry)| entry)
    }

    fn put(&mut self, id: String, entry: CachedInstance) {
        if self.capacity == 0 {
            return;
        }
        self.generation += 1;
        self.order.push_back((id.clone(), self.generation));
        self.entries.insert(id, (self.generation, entry));
        while self.entries.len() > self.capacity {
            let Some((old, generation)) = self.order.pop_front() else {
                break;
            };
            if self
                .entries
                .get(&old)
                .is_some_and(|(g, _)| *g == generation)
            {
                self.entries.remove(&old);
            }
        }
        // Drop stale order entries so the queue stays bounded.
        if self.order.len() > self.capacity * 4 + 16 {
            let entries = &self.entries;
            self.order
                .retain(|(id, g)| entries.get(id).is_some_and(|(current, _)| current == g));
        }
    }
}

/// The engine. Cheap to clone.
#[derive(Clone)]
pub struct Host {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    wasm: WasmRuntime,
    http: HttpActivity,
    config: HostConfig,
    cache: Mutex<InstanceCache>,
    /// Shared with the client, so starts and events wake the loop at once.
    wake_orchestrations: Arc<Notify>,
    wake_activities: Notify,
}

type Boxed<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// Locks up to `free` work items under a lease of the given length.
type LockWork<W> = for<'a> fn(&'a Inner, usize, u64) -> Boxed<'a, StoreResult<Vec<W>>>;

/// One kind of work a dispatch loop runs.
struct WorkKind<W, R> {
    what: &'static str,
    concurrency: usize,
    lease: u64,
    lock: LockWork<W>,
    run: R,
}

/// How an execution ends outside the guest's own decision.
enum Ending {
    Failed(Failure),
    Terminated(Option<String>),
}

impl Host {
    /// A host on a SQLite file (created if missing; every commit fsync'd),
    /// the system clock and default settings: the shortest way to embed the
    /// engine.
    pub fn open(path: impl AsRef<std::path::Path>) -> anyhow::Result<Host> {
        let store = crate::store::SqliteStore::open(path.as_ref(), Default::default())?;
        Host::new(
            Arc::new(store),
            Arc::new(crate::clock::SystemClock),
            HostConfig::default(),
        )
    }

    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        config: HostConfig,
    ) -> anyhow::Result<Host> {
        let slots = config.cache_capacity
            + config.orchestration_concurrency
            + config.activity_concurrency
            + 64;
        let wasm = WasmRuntime::new(
            config.compile_cache.clone(),
            config.limits.clone(),
            config.capabilities.clone(),
            if config.pooling { slots as u32 } else { 0 },
        )?;
        let client = Client::new(store.clone(), clock.clone());
        let http = HttpActivity::new(
            HttpAllowList::new(config.capabilities.http_hosts.clone()),
            config.limits.activity_timeout,
        )?;
        Ok(Host {
            inner: Arc::new(Inner {
                wake_orchestrations: client.work_added().clone(),
                client,
                store,
                clock,
                wasm,
                http,
                cache: Mutex::new(InstanceCache {
                    capacity: config.cache_capacity,
                    entries: HashMap::new(),
                    order: VecDeque::new(),
                    generation: 0,
                }),
                config,
                wake_activities: Notify::new(),
            }),
        })
    }

    /// The client of this host's store; waits are woken by its commits.
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// Loads a component, learns what it offers, and stores it as the newest
    /// deployment. New instances of its orchestrators run on it; running
    /// instances stay on the component they started with.
    pub async fn deploy(&self, bytes: &[u8]) -> anyhow::Result<ComponentRecord> {
        let loaded = self.inner.wasm.load(bytes).await?;
        let now = self.inner.clock.now();
        self.inner
            .store
            .put_component(&loaded.digest, bytes, &loaded.catalogue, now)
            .await?;
        Ok(ComponentRecord {
            digest: loaded.digest.clone(),
            catalogue: loaded.catalogue.clone(),
            deployed_at: now,
        })
    }

    /// Starts the dispatch loops; they run until [`RunningHost::shutdown`].
    pub fn start(&self) -> RunningHost {
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let inner = self.inner.clone();
        let rx = stopped.clone();
        tasks.spawn(async move { inner.orchestration_loop(rx).await });
        let inner = self.inner.clone();
        let rx = stopped.clone();
        tasks.spawn(async move { inner.entity_loop(rx).await });
        let inner = self.inner.clone();
        tasks.spawn(async move { inner.activity_loop(stopped).await });
        RunningHost { stop, tasks }
    }

    /// Drops every cached live instance (the next turn of each replays its
    /// history into a fresh guest).
    pub fn evict_all(&self) {
        let mut cache = self.inner.cache.lock().unwrap_or_else(|e| e.into_inner());
        cache.entries.clear();
        cache.order.clear();
    }

    /// Replays `history` into a fresh instance of `orchestrator` from the
    /// given component and returns the actions it decides on each turn, or
    /// the failure (nondeterminism, trap) that replay hits.
    pub async fn replay_history(
        &self,
        component: &[u8],
        orchestrator: &str,
        history: &[HistoryEvent],
    ) -> anyhow::Result<Result<Vec<crate::types::Action>, Failure>> {
        let loaded = self.inner.wasm.load(component).await?;
        let (instance_id, execution_id) = match history.iter().find_map(|e| match &e.kind {
            EventKind::ExecutionStarted {
                instance_id,
                execution_id,
                ..
            } => Some((instance_id.clone(), execution_id.clone())),
            _ => None,
        }) {
            Some(ids) => ids,
            None => anyhow::bail!("the history has no ExecutionStarted event"),
        };
        let mut guest = match self
            .inner
            .wasm
            .start_orchestration(&loaded, orchestrator, &instance_id, &execution_id)
            .await?
        {
            Ok(guest) => guest,
            Err(failure) => return Ok(Err(failure)),
        };
        let mut replay = ReplayState::from_history(history);
        let mut actions = Vec::new();
        for turn in split_turns(history) {
            let out = match guest.step(turn, true, turn_time(turn).unwrap_or(0)).await {
                Ok(out) => out,
                Err(failure) => return Ok(Err(failure)),
            };
            if let Err(nd) = replay.check_replayed(&out.actions) {
                return Ok(Err(nd.into_failure()));
            }
            actions.extend(out.actions);
        }
        if let Err(nd) = replay.finish_replay() {
            return Ok(Err(nd.into_failure()));
        }
        Ok(Ok(actions))
    }
}

/// Handle to running dispatch loops.
pub struct RunningHost {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningHost {
    /// Stops taking new work and waits for the work in flight to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Inner {
    async fn component(&self, digest: &str) -> anyhow::Result<Arc<LoadedComponent>> {
        if let Some(loaded) = self.wasm.loaded(digest) {
            return Ok(loaded);
        }
        let bytes = self
            .store
            .component_bytes(digest)
            .await?
            .with_context(|| format!("component {digest} is not in the store"))?;
        anyhow::ensure!(
            digest_of(&bytes) == digest,
            "stored component {digest} does not match its digest"
        );
        self.wasm.load(&bytes).await
    }

    fn commit_done(&self) {
        // The orchestration and entity loops both wait on this.
        self.wake_orchestrations.notify_waiters();
        self.wake_orchestrations.notify_one();
        self.client.notify_changed();
    }

    /// Sleeps until notified, the next stored wake-up time, the poll
    /// interval, or shutdown.
    async fn idle(&self, wake: &Notify, stopped: &mut watch::Receiver<bool>) {
        let now = self.clock.now();
        let next = self.store.next_wakeup(now).await.ok().flatten();
        let due = async {
            match next {
                Some(at) => self.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = due => {}
            _ = tokio::time::sleep(self.config.poll_interval) => {}
            _ = stopped.changed() => {}
        }
    }

    /// Locks work while permits are free, runs each item in its own task,
    /// and idles when there is none; on shutdown, waits for work in flight.
    async fn work_loop<W: Send + 'static>(
        self: &Arc<Self>,
        kind: WorkKind<W, impl Fn(Arc<Inner>, W) -> Boxed<'static, ()>>,
        wake: &Notify,
        mut stopped: watch::Receiver<bool>,
    ) {
        let WorkKind {
            what,
            concurrency,
            lease,
            lock,
            run,
        } = kind;
        let permits = Arc::new(Semaphore::new(concurrency));
        let mut running = JoinSet::new();
        while !*stopped.borrow() {
            while running.try_join_next().is_some() {}
            let free = permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = running.join_next() => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let items = match lock(self, free, lease).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!("cannot lock {what}: {e}");
                    Vec::new()
                }
            };
            if items.is_empty() {
                self.idle(wake, &mut stopped).await;
                continue;
            }
            for item in items {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    break;
                };
                let work = run(self.clone(), item);
                running.spawn(async move {
                    work.await;
                    drop(permit);
                });
            }
        }
        while running.join_next().await.is_some() {}
    }

    async fn orchestration_loop(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        let lease = self.config.orchestration_lease.as_millis() as u64;
        let run = |inner: Arc<Inner>, item: OrchestrationWorkItem| -> Boxed<'static, ()> {
            Box::pin(async move {
                let id = item.instance.instance_id.clone();
                let token = item.lock_token.clone();
                if let Err(e) = inner.run_turn(item).await {
                    tracing::error!(instance = %id, "turn failed, will retry: {e:#}");
                    let retry_at = inner.clock.now() + 1_000;
                    let _ = inner
                        .store
                        .abandon_orchestration(&id, &token, retry_at)
                        .await;
                }
            })
        };
        let kind = WorkKind {
            what: "orchestrations",
            concurrency: self.config.orchestration_concurrency,
            lease,
            lock: |inner, free, lease| {
                let now = inner.clock.now();
                inner
                    .store
                    .lock_orchestrations(&inner.config.owner, free, lease, now)
            },
            run,
        };
        self.work_loop(kind, &self.wake_orchestrations, stopped)
            .await;
    }

    async fn activity_loop(self: Arc<Self>, stopped: watch::Receiver<bool>) {
        // An activity's lease outlives its timeout, so a live host never
        // loses a task it is still running; the margin (time to record the
        // result) is capped by the timeout itself, so with a short timeout a
        // crashed host's task is retried soon rather than 30 s later.
        let timeout = self.config.limits.activity_timeout;
        let lease = (timeout + timeout.min(Duration::from_secs(30))).as_millis() as u64;
        let run = |inner: Arc<Inner>, task: ActivityWorkItem| -> Boxed<'static, ()> {
            Box::pin(async move {
                if let Err(e) = inner.run_activity(&task).await {
                    // Left locked: the lease expires and it runs again.
                    tracing::error!(activity = %task.name, instance = %task.instance_id,
                        "activity could not run, will retry after its lease: {e:#}");
                }
            })
        };
        let kind = WorkKind {
            what: "activities",
            concurrency: self.config.activity_concurrency,
            lease,
            lock: |inner, free, lease| {
                let now = inner.clock.now();
                inner
                    .store
                    .lock_activities(&inner.config.owner, free, lease, now)
            },
            run,
        };
        self.work_loop(kind, &self.wake_activities, stopped).await;
    }

    async fn run_activity(&self, task: &ActivityWorkItem) -> anyhow::Result<()> {
        let (result, logs) = if task.name == HTTP_ACTIVITY {
            (self.http.run(&task.input).await, Vec::new())
        } else {
            match self.activity_component(task).await? {
                Ok(component) => {
                    let run = ActivityRun {
                        instance_id: &task.instance_id,
                        task_id: task.task_id,
                        attempt: task.attempt,
                        now: self.clock.now(),
                    };
                    self.wasm
                        .run_activity(&component, &task.name, &task.input, run)
                        .await?
                }
                Err(failure) => (Err(failure), Vec::new()),
            }
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
        match self
            .store
            .complete_activity(task, event, logs, self.clock.now())
            .await
        {
            Ok(()) => {}
            Err(StoreError::LeaseLost) => {
                tracing::warn!(activity = %task.name, "activity finished after its lease was lost; result dropped");
            }
            Err(e) => return Err(e.into()),
        }
        self.wake_orchestrations.notify_one();
        Ok(())
    }

    /// The component a task runs on: the one it was queued with, which offers it (the turn
    /// that scheduled it resolved the name), unless a rewind queued it again on its instance's
    /// component; then the name is resolved again among the deployments.
    async fn activity_component(
        &self,
        task: &ActivityWorkItem,
    ) -> anyhow::Result<Result<Arc<LoadedComponent>, Failure>> {
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

    fn cache_take(&self, id: &str) -> Option<CachedInstance> {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take(id)
    }

    fn cache_put(&self, id: String, entry: CachedInstance) {
        self.cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(id, entry);
    }

    /// Starts a fresh guest and replays the committed history into it.
    /// `Err((state, failure))`: the instance must fail.
    async fn cold_start(
        &self,
        item: &OrchestrationWorkItem,
    ) -> anyhow::Result<Result<CachedInstance, (ReplayState, Failure)>> {
        let instance = &item.instance;
        let component = self.component(&instance.digest).await?;
        let history = self.store.history(&instance.instance_id).await?;
        let mut replay = ReplayState::from_history(&history);
        let mut guest = match self
            .wasm
            .start_orchestration(
                &component,
                &instance.name,
                &instance.instance_id,
                &instance.execution_id,
            )
            .await?
        {
            Ok(guest) => guest,
            Err(failure) => return Ok(Err((replay, failure))),
        };
        for turn in split_turns(&history) {
            let at = turn_time(turn).unwrap_or(instance.created_at);
            let out = match guest.step(turn, true, at).await {
                Ok(out) => out,
                Err(failure) => return Ok(Err((replay, failure))),
            };
            if let Err(nd) = replay.check_replayed(&out.actions) {
                return Ok(Err((replay, nd.into_failure())));
            }
        }
        if let Err(nd) = replay.finish_replay() {
            return Ok(Err((replay, nd.into_failure())));
        }
        Ok(Ok(CachedInstance {
            guest,
            replay,
            execution_id: instance.execution_id.clone(),
        }))
    }

    async fn run_turn(&self, item: OrchestrationWorkItem) -> anyhow::Result<()> {
        let now = self.clock.now();
        let instance = &item.instance;
        let id = instance.instance_id.clone();
        let Inbox {
            consumed,
            deliver,
            terminate,
            suspended,
        } = sort_inbox(&item);
        if instance.status.is_terminal() {
            // Late messages for a finished instance are dropped.
            let commit = self.base_commit(&item, consumed, instance.status, now);
            return self.commit(commit, None).await;
        }
        let cached = self.cache_take(&id).filter(|c| {
            c.execution_id == instance.execution_id && c.replay.history_len() == item.history_len
        });
        if let Some(reason) = terminate {
            let replay = match cached {
                Some(c) => c.replay,
                None => ReplayState::from_history(&self.store.history(&id).await?),
            };
            let events = replay.begin_turn(now, deliver);
            return self
                .end(
                    &item,
                    &replay,
                    events,
                    consumed,
                    Ending::Terminated(reason),
                    now,
                )
                .await;
        }
        let mut live = match cached {
            Some(live) => live,
            None => match self.cold_start(&item).await? {
                Ok(live) => live,
                Err((replay, failure)) => {
                    let events = replay.begin_turn(now, deliver);
                    return self
                        .end(
                            &item,
                            &replay,
                            events,
                            consumed,
                            Ending::Failed(failure),
                            now,
                        )
                        .await;
                }
            },
        };
        let events = live.replay.begin_turn(now, deliver);
        let output = match live.guest.step(&events, false, now).await {
            Ok(output) => output,
            Err(failure) => {
                return self
                    .end(
                        &item,
                        &live.replay,
                        events,
                        consumed,
                        Ending::Failed(failure),
                        now,
                    )
                    .await;
            }
        };
        let mut actions = output.actions;
        for action in &mut actions {
            // A sub-orchestration without an explicit id gets a
            // deterministic one derived from its parent and sequence id.
            if let ActionKind::StartSubOrchestration { instance_id, .. } = &mut action.kind
                && instance_id.is_empty()
            {
                *instance_id = format!("{id}:{}", action.id);
            }
        }
        let before = live.replay.clone();
        let plan = match live.replay.finish_turn(events.clone(), &actions, now) {
            Ok(plan) => plan,
            Err(nd) => {
                let failure = nd.into_failure();
                return self
                    .end(
                        &item,
                        &before,
                        events,
                        consumed,
                        Ending::Failed(failure),
                        now,
                    )
                    .await;
            }
        };
        let finished = plan.outcome.is_some();
        let mut commit = self.plan_commit(&item, plan, consumed, now).await?;
        if suspended && !finished {
            commit.status = RuntimeStatus::Suspended;
        }
        commit.logs = output.logs;
        let keep = (!finished).then_some(live);
        self.commit(commit, keep.map(|live| (id, live))).await
    }

    fn base_commit(
        &self,
        item: &OrchestrationWorkItem,
        consumed: Vec<i64>,
        status: RuntimeStatus,
        now: u64,
    ) -> OrchestrationCommit {
        let instance = &item.instance;
        OrchestrationCommit {
            instance_id: instance.instance_id.clone(),
            lock_token: item.lock_token.clone(),
            execution_id: instance.execution_id.clone(),
            new_history: Vec::new(),
            consumed,
            status,
            output: instance.output.clone(),
            failure: instance.failure.clone(),
            custom_status: None,
            activities: Vec::new(),
            messages: Vec::new(),
            cancelled_timers: Vec::new(),
            logs: Vec::new(),
            new_execution: None,
            new_instances: Vec::new(),
            entity_messages: Vec::new(),
            now,
        }
    }

    async fn plan_commit(
        &self,
        item: &OrchestrationWorkItem,
        plan: TurnPlan,
        consumed: Vec<i64>,
        now: u64,
    ) -> anyhow::Result<OrchestrationCommit> {
        let instance = &item.instance;
        let mut commit = self.base_commit(item, consumed, RuntimeStatus::Running, now);
        commit.new_history = plan.new_history;
        commit.entity_messages = entities::entity_messages(instance, &commit.new_history, now);
        commit.custom_status = plan.custom_status;
        commit.cancelled_timers = plan.cancelled_timers;
        let calls = !plan.activities.is_empty() || !plan.sub_orchestrations.is_empty();
        let mut callees = Callees::new(self, &instance.digest, calls).await;
        for a in plan.activities {
            let digest = if a.name == HTTP_ACTIVITY {
                // Run by the host itself, not by a component.
                Ok(instance.digest.clone())
            } else {
                callees.resolve(FunctionKind::Activity, &a.name).await?
            };
            match digest {
                Ok(digest) => commit.activities.push(NewActivity {
                    task_id: a.task_id,
                    name: a.name,
                    input: a.input,
                    digest,
                    visible_at: now,
                }),
                Err(failure) => commit.messages.push(OutboundMessage {
                    instance_id: instance.instance_id.clone(),
                    execution_id: Some(instance.execution_id.clone()),
                    event: EventKind::TaskFailed {
                        task_id: a.task_id,
                        failure,
                    },
                    visible_at: now,
                    timer_id: None,
                }),
            }
        }
        commit
            .messages
            .extend(plan.timers.into_iter().map(|t| OutboundMessage {
                instance_id: instance.instance_id.clone(),
                execution_id: Some(instance.execution_id.clone()),
                event: EventKind::TimerFired {
                    timer_id: t.timer_id,
                    fire_at: t.fire_at,
                },
                visible_at: t.fire_at,
                timer_id: Some(t.timer_id),
            }));
        commit
            .messages
            .extend(plan.events_sent.into_iter().map(|e| OutboundMessage {
                instance_id: e.instance_id,
                execution_id: None,
                event: EventKind::EventRaised {
                    name: e.name,
                    input: e.input,
                },
                visible_at: now,
                timer_id: None,
            }));
        for sub in plan.sub_orchestrations {
            let parent = ParentInstance {
                instance_id: instance.instance_id.clone(),
                task_id: sub.task_id,
            };
            match callees
                .resolve(FunctionKind::Orchestrator, &sub.name)
                .await?
            {
                Ok(digest) => commit.new_instances.push(NewInstance {
                    instance_id: sub.instance_id,
                    name: sub.name,
                    execution_id: self.client.new_id(),
                    digest,
                    input: sub.input,
                    parent: Some(parent),
                    created_at: now,
                }),
                Err(failure) => commit.messages.push(OutboundMessage {
                    instance_id: instance.instance_id.clone(),
                    execution_id: Some(instance.execution_id.clone()),
                    event: EventKind::SubOrchestrationFailed {
                        task_id: sub.task_id,
                        failure,
                    },
                    visible_at: now,
                    timer_id: None,
                }),
            }
        }
        match plan.outcome {
            None => {}
            Some(Outcome::Completed(result)) => {
                commit.status = RuntimeStatus::Completed;
                commit.messages.extend(notify_parent(
                    instance,
                    EventKind::SubOrchestrationCompleted {
                        task_id: 0,
                        result: result.clone(),
                    },
                    now,
                ));
                commit.output = Some(result);
            }
            Some(Outcome::Failed(failure)) => {
                commit.status = RuntimeStatus::Failed;
                commit.messages.extend(notify_parent(
                    instance,
                    EventKind::SubOrchestrationFailed {
                        task_id: 0,
                        failure: failure.clone(),
                    },
                    now,
                ));
                commit.failure = Some(failure);
            }
            Some(Outcome::ContinuedAsNew {
                input,
                carried_events,
            }) => {
                commit.status = RuntimeStatus::Running;
                let execution_id = self.client.new_id();
                commit
                    .messages
                    .extend(carried_events.into_iter().map(|e| OutboundMessage {
                        instance_id: instance.instance_id.clone(),
                        execution_id: Some(execution_id.clone()),
                        event: EventKind::EventRaised {
                            name: e.name,
                            input: e.input,
                        },
                        visible_at: now,
                        timer_id: None,
                    }));
                commit.new_execution = Some(EventKind::ExecutionStarted {
                    name: instance.name.clone(),
                    instance_id: instance.instance_id.clone(),
                    execution_id,
                    input,
                    parent: instance.parent.clone(),
                });
            }
        }
        Ok(commit)
    }

    /// Ends the execution without the guest's decision (failure, trap,
    /// nondeterminism, termination).
    async fn end(
        &self,
        item: &OrchestrationWorkItem,
        replay: &ReplayState,
        mut events: Vec<HistoryEvent>,
        consumed: Vec<i64>,
        ending: Ending,
        now: u64,
    ) -> anyhow::Result<()> {
        let position = replay.history_len() + events.len() as u32;
        let (status, kind, output, failure) = match ending {
            Ending::Failed(failure) => {
                tracing::info!(instance = %item.instance.instance_id, "orchestration failed: {failure}");
                (
                    RuntimeStatus::Failed,
                    EventKind::ExecutionCompleted {
                        result: None,
                        failure: Some(failure.clone()),
                    },
                    None,
                    Some(failure),
                )
            }
            Ending::Terminated(reason) => (
                RuntimeStatus::Terminated,
                EventKind::ExecutionTerminated {
                    reason: reason.clone(),
                },
                Some(serde_json::to_string(&reason.unwrap_or_default())?),
                None,
            ),
        };
        events.push(HistoryEvent {
            event_id: position,
            timestamp: now,
            kind,
        });
        let mut commit = self.base_commit(item, consumed, status, now);
        let parent_failure = failure.clone().unwrap_or_else(|| {
            Failure::fatal(
                failure_types::TERMINATED,
                format!(
                    "sub-orchestration `{}` was terminated",
                    item.instance.instance_id
                ),
            )
        });
        commit.messages.extend(notify_parent(
            &item.instance,
            EventKind::SubOrchestrationFailed {
                task_id: 0,
                failure: parent_failure,
            },
            now,
        ));
        let history = self.store.history(&item.instance.instance_id).await?;
        commit.entity_messages = entities::release_locks(&item.instance, &history, &events, now);
        commit.new_history = events;
        commit.output = output;
        commit.failure = failure;
        commit.cancelled_timers = replay.open_timers().collect();
        self.commit(commit, None).await
    }

    async fn commit(
        &self,
        commit: OrchestrationCommit,
        keep: Option<(String, CachedInstance)>,
    ) -> anyhow::Result<()> {
        let wakes_activities = !commit.activities.is_empty();
        match self.store.complete_orchestration(commit).await {
            Ok(()) => {
                if let Some((id, live)) = keep {
                    self.cache_put(id, live);
                }
                if wakes_activities {
                    self.wake_activities.notify_one();
                }
                self.commit_done();
                Ok(())
            }
            Err(StoreError::LeaseLost) => {
                tracing::warn!("lost the lease on an orchestration; its turn was discarded");
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

/// Where the activities and sub-orchestrations one turn calls run (the rule is
/// [`crate::resolve`]'s). The common case, a name the calling orchestration's own component
/// offers, is answered from that component's catalogue in memory, without a store read; the
/// deployments are read from the store only for a name it does not offer, and then once per
/// turn.
struct Callees<'a> {
    inner: &'a Inner,
    caller_digest: &'a str,
    /// The calling component's catalogue (loaded: the turn just ran on it).
    caller: Option<Arc<LoadedComponent>>,
    deployed: Option<Vec<ComponentRecord>>,
}

impl<'a> Callees<'a> {
    /// `calls`: whether the turn calls anything (else nothing is looked up).
    async fn new(inner: &'a Inner, caller_digest: &'a str, calls: bool) -> Callees<'a> {
        let caller = match calls {
            true => inner.component(caller_digest).await.ok(),
            false => None,
        };
        Callees {
            inner,
            caller_digest,
            caller,
            deployed: None,
        }
    }

    /// The digest `name` runs on, or the failure (`UnknownFunction`, `AmbiguousFunction`) the
    /// call fails with. `Err` only when the store cannot be read.
    async fn resolve(
        &mut self,
        kind: FunctionKind,
        name: &str,
    ) -> anyhow::Result<Result<String, Failure>> {
        if let Some(caller) = &self.caller
            && kind.offered_by(&caller.catalogue, name)
        {
            return Ok(Ok(self.caller_digest.to_owned()));
        }
        if self.deployed.is_none() {
            self.deployed = Some(self.inner.store.components().await?);
        }
        let deployed = self.deployed.as_deref().unwrap_or_default();
        Ok(resolve_deployed(kind, name, deployed).map_err(Failure::from))
    }
}

/// A finished sub-orchestration's message to its parent (`task_id` is
/// filled in from the parent link).
fn notify_parent(
    instance: &InstanceRecord,
    mut event: EventKind,
    now: u64,
) -> Option<OutboundMessage> {
    let parent = instance.parent.as_ref()?;
    match &mut event {
        EventKind::SubOrchestrationCompleted { task_id, .. }
        | EventKind::SubOrchestrationFailed { task_id, .. } => *task_id = parent.task_id,
        _ => {}
    }
    Some(OutboundMessage {
        instance_id: parent.instance_id.clone(),
        execution_id: None,
        event,
        visible_at: now,
        timer_id: None,
    })
}

/// The messages of a turn, sorted into what the guest sees.
struct Inbox {
    /// Message ids the turn deletes.
    consumed: Vec<i64>,
    /// Events fed to the guest (and recorded), in order.
    deliver: Vec<EventKind>,
    /// `Some(reason)` when the instance is to be terminated.
    terminate: Option<Option<String>>,
    /// Whether the instance is suspended at the end of the turn.
    suspended: bool,
}

/// Sorts a work item's messages. Stale messages (another execution) and
/// messages for a finished instance are consumed unseen. While suspended,
/// ordinary messages stay in the inbox; on resume they are delivered after
/// the `ExecutionResumed` event.
fn sort_inbox(item: &OrchestrationWorkItem) -> Inbox {
    let instance = &item.instance;
    let mut inbox = Inbox {
        consumed: Vec::with_capacity(item.messages.len()),
        deliver: Vec::with_capacity(item.messages.len()),
        terminate: None,
        suspended: instance.status == RuntimeStatus::Suspended,
    };
    let mut kept: Vec<(i64, EventKind)> = Vec::new();
    for message in &item.messages {
        let stale = message
            .execution_id
            .as_deref()
            .is_some_and(|e| e != instance.execution_id);
        if instance.status.is_terminal() || stale {
            inbox.consumed.push(message.id);
            continue;
        }
        match &message.event {
            EventKind::ExecutionTerminated { reason } => {
                inbox.consumed.push(message.id);
                inbox.terminate = Some(reason.clone());
            }
            EventKind::ExecutionSuspended { .. } => {
                inbox.consumed.push(message.id);
                if !inbox.suspended {
                    inbox.suspended = true;
                    inbox.deliver.push(message.event.clone());
                }
            }
            EventKind::ExecutionResumed { .. } => {
                inbox.consumed.push(message.id);
                inbox.suspended = false;
                inbox.deliver.push(message.event.clone());
                for (id, event) in kept.drain(..) {
                    inbox.consumed.push(id);
                    inbox.deliver.push(event);
                }
            }
            event if inbox.suspended => kept.push((message.id, event.clone())),
            event => {
                inbox.consumed.push(message.id);
                inbox.deliver.push(event.clone());
            }
        }
    }
    if inbox.terminate.is_some() {
        // Termination takes everything with it.
        inbox.consumed.extend(kept.into_iter().map(|(id, _)| id));
    }
    inbox
}
