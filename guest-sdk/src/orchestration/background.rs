//! Background futures: `async` blocks an orchestrator runs as tasks of their own
//! ([`OrchestrationContext::spawn`](super::OrchestrationContext::spawn)), and the SDK's own
//! composite tasks (retries, waits with a timeout) built on them.
//!
//! A spawned future is polled once when it is created, so the work it schedules first is
//! scheduled at once, like `call_activity`. After that the executor polls every pending spawned
//! future after each history event, together with the orchestrator's main future, in creation
//! order, until a round records no new outcome. A spawned future that finishes records its
//! outcome in the [`ReplayState`] at that moment, so it takes its place in history order and
//! `task_any` / `task_all` over it stay deterministic.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use super::state::{Outcome, ReplayState, SpawnId};

/// A spawned future; its output is the task's outcome as JSON.
pub(crate) type BackgroundFuture = Pin<Box<dyn Future<Output = Outcome>>>;

/// Remembers whether anything woke a future while it was polled. Durable tasks never do (the
/// executor polls after every event anyway), but a future that yields by waking itself must be
/// polled again.
pub(crate) struct WakeFlag(AtomicBool);

impl WakeFlag {
    /// True if something woke a future since the last call.
    pub fn take(&self) -> bool {
        self.0.swap(false, Ordering::SeqCst)
    }
}

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// The pending spawned futures of one execution.
pub(crate) struct Background {
    state: Rc<RefCell<ReplayState>>,
    /// Pending futures by spawn id. A future being polled is out of the map, so it can spawn
    /// others (which go in) without a double borrow.
    pending: RefCell<BTreeMap<SpawnId, BackgroundFuture>>,
    next_spawn: RefCell<SpawnId>,
    flag: Arc<WakeFlag>,
    waker: Waker,
}

impl Background {
    pub fn new(state: Rc<RefCell<ReplayState>>) -> Self {
        let flag = Arc::new(WakeFlag(AtomicBool::new(false)));
        Background {
            state,
            pending: RefCell::default(),
            next_spawn: RefCell::new(0),
            waker: Waker::from(flag.clone()),
            flag,
        }
    }

    /// The waker every future of this execution is polled with.
    pub fn waker(&self) -> &Waker {
        &self.waker
    }

    /// True if something woke a future since the last call.
    pub fn woken(&self) -> bool {
        self.flag.take()
    }

    /// Takes a spawn id, polls `future` once and keeps it if it is still pending.
    pub fn spawn(&self, future: BackgroundFuture) -> SpawnId {
        let id = {
            let mut next = self.next_spawn.borrow_mut();
            let id = *next;
            *next += 1;
            id
        };
        self.poll_one(id, future);
        id
    }

    fn poll_one(&self, id: SpawnId, mut future: BackgroundFuture) {
        let mut cx = Context::from_waker(&self.waker);
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(outcome) => self.state.borrow_mut().resolve_spawned(id, outcome),
            Poll::Pending => {
                self.pending.borrow_mut().insert(id, future);
            }
        }
    }

    /// Polls every pending future once, in creation order (futures spawned meanwhile included).
    pub fn poll_all(&self) {
        let mut from = 0;
        loop {
            let next = self
                .pending
                .borrow_mut()
                .range(from..)
                .next()
                .map(|(&id, _)| id);
            let Some(id) = next else { return };
            let future = self.pending.borrow_mut().remove(&id);
            if let Some(future) = future {
                self.poll_one(id, future);
            }
            from = id + 1;
        }
    }

    /// Drops every pending future (the execution finished). They hold contexts that hold this
    /// runner, so this also breaks the reference cycle.
    pub fn clear(&self) {
        let pending = std::mem::take(&mut *self.pending.borrow_mut());
        drop(pending);
    }
}
