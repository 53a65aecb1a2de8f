//! The work loop every kind of work shares: lock items while permits are free, run each in
//! its own task, and idle until woken when there is none.

use super::Engine;
use crate::resolve::newest_for;
use crate::store::StoreResult;
use crate::types::Timestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, watch};
use tokio::task::JoinSet;
use tokio_util::task::TaskTracker;

/// How often, at least, a host looks for hosts on its database that are gone
/// ([`crate::store::Store::release_dead_hosts`]): the longest a dead peer's work waits. A
/// longer poll interval (PostgreSQL's default, 2 s) makes it that.
const HOST_CHECK: std::time::Duration = std::time::Duration::from_millis(500);

/// How often, at most, a host looks for deployments it has not loaded yet
/// ([`Engine::prepare_deployments`]) when other processes commit (a deploy is a commit): a
/// component deployed by any process is compiled on every host within this (plus the compile),
/// before the first instance needs it.
const DEPLOYMENT_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

/// How often a host looks for new deployments when nothing else tells it to: the fallback, as
/// the poll is for work.
const DEPLOYMENT_FALLBACK: std::time::Duration = std::time::Duration::from_secs(10);

pub(super) type Boxed<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Locks up to `free` work items visible at `now` under a lease of the given length (ms).
pub(super) type LockWork<W> =
    for<'a> fn(&'a Engine, usize, u64, Timestamp) -> Boxed<'a, StoreResult<Vec<W>>>;

/// Runs one locked work item to its commit (or abandons it).
pub(super) type RunWork<W> = fn(Arc<Engine>, W) -> Boxed<'static, ()>;

/// Where one kind of work runs: how many items may run at once, and the tasks running them
/// (shutdown waits for them). Its loop locks work into it; a commit that claimed work for
/// this host ([`crate::store::Claim`]) hands that in directly.
pub(super) struct Lane {
    permits: Arc<Semaphore>,
    tasks: TaskTracker,
}

impl Lane {
    pub(super) fn new(concurrency: usize) -> Lane {
        Lane {
            permits: Arc::new(Semaphore::new(concurrency)),
            tasks: TaskTracker::new(),
        }
    }

    /// Up to `n` places free now; none while the lane's loop is not running (not started, or
    /// shutting down), so nothing is claimed that no one would wait for.
    pub(super) fn reserve(&self, n: usize) -> Vec<OwnedSemaphorePermit> {
        if self.tasks.is_closed() {
            return Vec::new();
        }
        (0..n)
            .map_while(|_| self.permits.clone().try_acquire_owned().ok())
            .collect()
    }

    /// Runs `work` in a place [`Lane::reserve`] gave.
    pub(super) fn spawn(
        &self,
        place: OwnedSemaphorePermit,
        work: impl Future<Output = ()> + Send + 'static,
    ) {
        self.tasks.spawn(async move {
            work.await;
            drop(place);
        });
    }
}

/// One kind of work a dispatch loop runs.
pub(super) struct WorkKind<W> {
    /// What the items are, for log lines.
    pub what: &'static str,
    /// Lease length in ms.
    pub lease: u64,
    pub lock: LockWork<W>,
    pub run: RunWork<W>,
}

/// Handle to running dispatch loops.
pub struct RunningHost {
    stop: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl RunningHost {
    /// Starts the orchestration, entity and activity loops.
    pub(crate) fn start(engine: &Arc<Engine>) -> RunningHost {
        let first_turns = super::orchestrations::FirstTurns(Arc::downgrade(engine));
        let _ = engine.signals().turns.set(Arc::new(first_turns));
        let (stop, stopped) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let (e, rx) = (engine.clone(), stopped.clone());
        tasks.spawn(async move { e.orchestration_loop(rx).await });
        let (e, rx) = (engine.clone(), stopped.clone());
        tasks.spawn(async move { e.entity_loop(rx).await });
        let (e, rx) = (engine.clone(), stopped.clone());
        tasks.spawn(async move { e.activity_loop(rx).await });
        let (e, rx) = (engine.clone(), stopped.clone());
        tasks.spawn(async move { e.take_over_dead_hosts(rx).await });
        let (e, rx) = (engine.clone(), stopped.clone());
        tasks.spawn(async move { e.poll(rx).await });
        let (e, rx) = (engine.clone(), stopped.clone());
        tasks.spawn(async move { e.prepare_deployments(rx).await });
        if let Some(commits) = engine.store.external_commits() {
            let e = engine.clone();
            tasks.spawn(async move { e.wake_on_external_commits(commits, stopped).await });
        }
        RunningHost { stop, tasks }
    }

    /// Stops taking new work and waits for the work in flight to finish.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

impl Engine {
    /// Locks work while `lane` has room, runs each item in its own task, and idles when
    /// there is none; on shutdown, waits for the work in flight.
    pub(super) async fn work_loop<W: Send + 'static>(
        self: &Arc<Self>,
        kind: WorkKind<W>,
        lane: &Lane,
        wake: &Notify,
        mut stopped: watch::Receiver<bool>,
    ) {
        lane.tasks.reopen();
        while !*stopped.borrow() {
            let free = lane.permits.available_permits();
            if free == 0 {
                tokio::select! {
                    _ = lane.permits.acquire() => {}
                    _ = stopped.changed() => {}
                }
                continue;
            }
            let now = self.clock.now();
            let items = match (kind.lock)(self, free, kind.lease, now).await {
                Ok(items) => items,
                Err(e) => {
                    tracing::error!("cannot lock {}: {e}", kind.what);
                    Vec::new()
                }
            };
            // Fewer items than asked for: nothing else is ready now, so wait for a wake-up
            // (a commit that made work visible while the lock ran has left one) instead of
            // asking the store again at once.
            let exhausted = items.len() < free;
            for item in items {
                // A place a claim took while the lock ran is given back when its work ends.
                let place = lane.permits.clone().acquire_owned().await;
                let place = place.expect("a lane's permits are never closed");
                lane.spawn(place, (kind.run)(self.clone(), item));
            }
            if exhausted {
                self.idle(wake, now, &mut stopped).await;
            }
        }
        lane.tasks.close();
        lane.tasks.wait().await;
    }

    /// Wakes every loop (and the client's waiters) when another process commits to the
    /// database: its starts, events, signals and results are picked up at once, not at the
    /// next poll.
    async fn wake_on_external_commits(
        &self,
        mut commits: watch::Receiver<u64>,
        mut stopped: watch::Receiver<bool>,
    ) {
        loop {
            tokio::select! {
                changed = commits.changed() => {
                    if changed.is_err() {
                        return; // the store is gone: polling is all there is
                    }
                    self.wake_all();
                }
                _ = stopped.changed() => return,
            }
        }
    }

    /// Releases the leases of hosts on this database that are gone, at start (a restart after
    /// a crash resumes the dead process's work at once) and every [`HOST_CHECK`] after (a
    /// surviving host takes over a dead peer's), and wakes the loops when it did.
    async fn take_over_dead_hosts(&self, mut stopped: watch::Receiver<bool>) {
        loop {
            match self.store.release_dead_hosts().await {
                Ok(0) => {}
                Ok(released) => {
                    tracing::info!("took over {released} leases of hosts that are gone");
                    self.wake_all();
                }
                Err(e) => tracing::warn!("cannot check which hosts are alive: {e}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(HOST_CHECK.max(self.config.poll_interval)) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    /// Loads (compiles, or reads from the compile cache) every current deployment (the newest
    /// offer of some name, not retired) this host has not loaded yet: at start, then within
    /// [`DEPLOYMENT_CHECK`] of a commit by another process (a deploy is one), at most that
    /// often, and every [`DEPLOYMENT_FALLBACK`] regardless. New code deployed anywhere is
    /// ready on every host before its first instance arrives, instead of that instance waiting
    /// for the compile; a deploy on this host loads it here at once. An idle host reads the
    /// deployments once in [`DEPLOYMENT_FALLBACK`].
    async fn prepare_deployments(self: &Arc<Self>, mut stopped: watch::Receiver<bool>) {
        let mut commits = self.store.external_commits();
        loop {
            if self.load_current_deployments(&stopped).await.is_break() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(DEPLOYMENT_CHECK) => {}
                _ = stopped.changed() => return,
            }
            let committed = async {
                let gone = match commits.as_mut() {
                    Some(commits) => commits.changed().await.is_err(),
                    None => true,
                };
                if gone {
                    std::future::pending::<()>().await;
                }
            };
            tokio::select! {
                _ = committed => {}
                _ = tokio::time::sleep(DEPLOYMENT_FALLBACK) => {}
                _ = stopped.changed() => return,
            }
        }
    }

    /// See [`Engine::prepare_deployments`]; `Break` when the host is stopping.
    async fn load_current_deployments(
        self: &Arc<Self>,
        stopped: &watch::Receiver<bool>,
    ) -> std::ops::ControlFlow<()> {
        let deployments = match self.store.components().await {
            Ok(deployments) => deployments,
            Err(e) => {
                tracing::warn!("cannot read the deployments: {e}");
                return std::ops::ControlFlow::Continue(());
            }
        };
        let missing = deployments
            .iter()
            .filter(|d| !newest_for(d, &deployments).is_empty())
            .filter(|d| self.wasm.loaded(&d.digest).is_none());
        for deployment in missing {
            let (engine, digest) = (self.clone(), deployment.digest.clone());
            let handle = tokio::runtime::Handle::current();
            let started = std::time::Instant::now();
            let loaded = tokio::task::spawn_blocking(move || {
                handle.block_on(engine.component(&digest)).map(|_| ())
            })
            .await;
            let digest = &deployment.digest;
            match loaded {
                Ok(Ok(())) => {
                    tracing::info!(%digest, elapsed = ?started.elapsed(), "loaded a new deployment")
                }
                Ok(Err(e)) => tracing::warn!(%digest, "cannot load a deployment: {e}"),
                Err(e) => tracing::warn!(%digest, "loading a deployment failed: {e}"),
            }
            if *stopped.borrow() {
                return std::ops::ControlFlow::Break(());
            }
        }
        std::ops::ControlFlow::Continue(())
    }

    /// Every poll interval, drops the guest instances idle too long, sets the gauge of what the
    /// pool's free slots keep resident, and asks the store which
    /// kinds of work are ready and wakes those loops: work written by another process whose
    /// wake-up was missed is found then. One query a poll for the three loops
    /// ([`crate::store::Store::work_visible`]), so an idle host costs its database little.
    async fn poll(&self, mut stopped: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.config.poll_interval) => {}
                _ = stopped.changed() => return,
            }
            self.drop_idle_instances();
            crate::metrics::free_slots_resident(self.wasm.free_slots_resident_bytes());
            match self.store.work_visible(self.clock.now()).await {
                Ok(visible) => {
                    let signals = self.signals();
                    for (ready, wake) in [
                        (visible.orchestrations, &signals.orchestrations),
                        (visible.activities, &signals.activities),
                        (visible.entities, &signals.entities),
                    ] {
                        if ready {
                            wake.notify_one();
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!("cannot look for work: {e}");
                    self.wake_all();
                }
            }
        }
    }

    /// Drops the cached orchestrators and warm activity instances unused for
    /// [`super::HostConfig::instance_idle`] (none when that is zero).
    fn drop_idle_instances(&self) {
        let idle = self.config.instance_idle.as_millis() as u64;
        if idle == 0 {
            return;
        }
        let before = self.clock.now().saturating_sub(idle);
        let orchestrators = self.cache().evict_idle(before);
        let activities = self.wasm.drop_idle_activities(before);
        if orchestrators + activities > 0 {
            tracing::debug!(orchestrators, activities, "dropped idle guest instances");
        }
    }

    /// Wakes every loop and the client's waiters: work may be ready anywhere.
    fn wake_all(&self) {
        self.signals().orchestrations.notify_one();
        self.signals().activities.notify_one();
        self.signals().entities.notify_one();
        self.client.notify_changed();
    }

    /// Sleeps until notified (a commit here or elsewhere, or the poll found work), the next
    /// stored wake-up time, or shutdown.
    /// `looked` is the time the loop last looked for work: the next wake-up is the first after
    /// it, so work that became due since (the clock moved on meanwhile) wakes the loop at once
    /// instead of being skipped as already past.
    async fn idle(&self, wake: &Notify, looked: Timestamp, stopped: &mut watch::Receiver<bool>) {
        let next = self.store.next_wakeup(looked).await.ok().flatten();
        let due = async {
            match next {
                Some(at) => self.clock.sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = wake.notified() => {}
            _ = due => {}
            _ = stopped.changed() => {}
        }
    }
}
