//! Durable tasks: handles to the outcome of work an orchestrator started.
//!
//! A [`Task<T>`] is a typed view over an untyped [`TaskSource`]: a leaf reads the shared
//! [`ReplayState`] by sequence id (activities, timers, sub-orchestrations, entity calls), by
//! waiter id (external events) or by spawn id (spawned futures, see `background.rs`); a combinator (see `combinators.rs`) composes other sources. The
//! action behind a task is recorded when the task is created, not when it is first polled, so
//! tasks that are never awaited still run and combinators can take tasks created earlier.
//! Polling never wakes anything: the executor polls the orchestrator after every history event.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use serde::de::DeserializeOwned;
use serde_json::Value;

use super::state::{ReplayState, Resolved, SpawnId, WaiterId};
use crate::bindings::wit_orch::ActionKind;
use crate::failure::Failure;

/// Anything that can report whether a task finished, and how.
pub(crate) trait TaskSource {
    /// The outcome and its arrival order once finished. Once `Some`, it never changes.
    fn resolved(&self) -> Option<Resolved>;

    /// The replay state it reads outcomes from (a combinator: its children's); `None` for a
    /// task that finished when it was made.
    fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
        None
    }
}

/// The task started by the action with this sequence id.
pub(crate) struct SequencedSource {
    pub state: Rc<RefCell<ReplayState>>,
    pub sequence_id: u32,
}

impl TaskSource for SequencedSource {
    fn resolved(&self) -> Option<Resolved> {
        self.state.borrow().outcome(self.sequence_id)
    }

    fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
        Some(self.state.clone())
    }
}

/// One `wait_for_external_event` call.
pub(crate) struct ExternalEventSource {
    pub state: Rc<RefCell<ReplayState>>,
    pub waiter: WaiterId,
}

impl TaskSource for ExternalEventSource {
    fn resolved(&self) -> Option<Resolved> {
        self.state.borrow().received(self.waiter)
    }

    fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
        Some(self.state.clone())
    }
}

/// One spawned future.
pub(crate) struct SpawnedSource {
    pub state: Rc<RefCell<ReplayState>>,
    pub spawn: SpawnId,
}

impl TaskSource for SpawnedSource {
    fn resolved(&self) -> Option<Resolved> {
        self.state.borrow().spawned_outcome(self.spawn)
    }

    fn state(&self) -> Option<Rc<RefCell<ReplayState>>> {
        Some(self.state.clone())
    }
}

/// A task that finished when it was created (e.g. `task_all(vec![])`).
pub(crate) struct ReadySource(pub Resolved);

impl TaskSource for ReadySource {
    fn resolved(&self) -> Option<Resolved> {
        Some(self.0.clone())
    }
}

/// A durable task whose outcome is a `T` or a [`Failure`].
///
/// Await it to get the outcome. Clones are handles to the same task: awaiting a task (or a
/// clone) twice yields the same outcome twice.
pub struct Task<T> {
    pub(crate) source: Rc<dyn TaskSource>,
    _output: PhantomData<fn() -> T>,
}

impl<T> Task<T> {
    pub(crate) fn from_source(source: Rc<dyn TaskSource>) -> Self {
        Task {
            source,
            _output: PhantomData,
        }
    }

    /// A task that has already failed (nothing was scheduled).
    pub(crate) fn failed(failure: Failure) -> Self {
        Task::from_source(Rc::new(ReadySource(Resolved {
            order: 0,
            outcome: Rc::new(Err(failure)),
        })))
    }

    /// True once the task has finished (successfully or not).
    pub fn is_complete(&self) -> bool {
        self.source.resolved().is_some()
    }

    /// The same task with its output left as JSON, so tasks of different output types can go
    /// into one `task_any` / `task_all`. Await the typed task afterwards to get its typed value.
    pub fn untyped(&self) -> Task<Value> {
        Task::from_source(self.source.clone())
    }
}

impl<T> Clone for Task<T> {
    fn clone(&self) -> Self {
        Task::from_source(self.source.clone())
    }
}

impl<T> fmt::Debug for Task<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("output", &std::any::type_name::<T>())
            .field("complete", &self.is_complete())
            .finish()
    }
}

impl<T: DeserializeOwned> Future for Task<T> {
    type Output = Result<T, Failure>;

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.source.resolved() {
            None => Poll::Pending,
            Some(resolved) => Poll::Ready(match &*resolved.outcome {
                Ok(value) => T::deserialize(value)
                    .map_err(|err| Failure::invalid_input::<T>("task result", &err)),
                Err(failure) => Err(failure.clone()),
            }),
        }
    }
}

/// A durable timer. Await it like a [`Task<()>`]; [`TimerTask::cancel`] cancels it. A cancelled
/// timer never completes.
#[derive(Clone)]
pub struct TimerTask {
    task: Task<()>,
    state: Rc<RefCell<ReplayState>>,
    timer_id: u32,
}

impl TimerTask {
    pub(crate) fn new(state: Rc<RefCell<ReplayState>>, timer_id: u32) -> Self {
        let source = Rc::new(SequencedSource {
            state: state.clone(),
            sequence_id: timer_id,
        });
        TimerTask {
            task: Task::from_source(source),
            state,
            timer_id,
        }
    }

    /// The timer's sequence id.
    pub fn id(&self) -> u32 {
        self.timer_id
    }

    /// Cancels the timer: records a `cancel-timer` action unless it already fired or was
    /// cancelled.
    pub fn cancel(&self) {
        let mut state = self.state.borrow_mut();
        if state.cancel_timer(self.timer_id) {
            state.record(ActionKind::CancelTimer(self.timer_id));
        }
    }

    /// True once the timer has fired.
    pub fn is_complete(&self) -> bool {
        self.task.is_complete()
    }

    /// The timer as a plain task.
    pub fn task(&self) -> Task<()> {
        self.task.clone()
    }

    /// See [`Task::untyped`].
    pub fn untyped(&self) -> Task<Value> {
        self.task.untyped()
    }
}

impl From<TimerTask> for Task<()> {
    fn from(timer: TimerTask) -> Self {
        timer.task
    }
}

impl fmt::Debug for TimerTask {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerTask")
            .field("id", &self.timer_id)
            .field("fired", &self.is_complete())
            .finish()
    }
}

impl Future for TimerTask {
    type Output = Result<(), Failure>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.task).poll(cx)
    }
}
