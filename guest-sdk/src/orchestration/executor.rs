//! The replay executor: turns history events into the actions the orchestrator decides.
//!
//! `step` applies events one at a time, in order, to the shared [`ReplayState`] and polls the
//! orchestrator future after each one, so which task finishes first is always decided by history
//! order, and a fresh executor fed the whole history reaches exactly the state of one fed turn by
//! turn. Every action decided during a step is returned, replayed ones included (the host checks
//! them against the history). When the future finishes, one `complete`, `fail` or
//! `continue-as-new` action is emitted and later events are ignored.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Wake, Waker};

use serde_json::Value;

use super::context::{LogSink, OrchestrationContext};
use super::state::ReplayState;
use crate::bindings::wit_orch::{self, Action, ActionKind, EventKind, HistoryEvent};
use crate::failure::Failure;

/// The running orchestrator function: its output is JSON text.
pub type OrchestratorFuture = Pin<Box<dyn Future<Output = Result<String, Failure>>>>;

/// Starts an orchestrator function from its JSON input, or fails (bad input).
pub type OrchestratorEntry = fn(OrchestrationContext, &str) -> Result<OrchestratorFuture, Failure>;

/// Remembers whether anything woke the orchestrator while it was polled. Durable tasks never do
/// (the executor polls after every event anyway), but a future that yields by waking itself
/// must be polled again.
struct WakeFlag(AtomicBool);

impl Wake for WakeFlag {
    fn wake(self: Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// One execution of one orchestrator.
pub struct Executor {
    state: Rc<RefCell<ReplayState>>,
    context: OrchestrationContext,
    entry: OrchestratorEntry,
    future: Option<OrchestratorFuture>,
    started: bool,
    finished: bool,
}

impl Executor {
    pub(crate) fn new(entry: OrchestratorEntry, instance_id: String, log_sink: LogSink) -> Self {
        let state = Rc::new(RefCell::new(ReplayState::new(instance_id)));
        let context = OrchestrationContext::new(state.clone(), log_sink);
        Executor {
            state,
            context,
            entry,
            future: None,
            started: false,
            finished: false,
        }
    }

    /// Applies `events` in order, running the orchestrator after each, and returns the actions
    /// decided meanwhile in decision order.
    pub fn step(&mut self, events: Vec<HistoryEvent>, replaying: bool) -> Vec<Action> {
        self.state.borrow_mut().is_replaying = replaying;
        for event in events {
            if self.finished {
                break;
            }
            self.apply(event, replaying);
            self.poll();
        }
        self.state.borrow_mut().take_actions()
    }

    fn apply(&mut self, event: HistoryEvent, replaying: bool) {
        let mut state = self.state.borrow_mut();
        match event.kind {
            EventKind::OrchestratorStarted => {
                state.current_time_ms = event.timestamp;
                state.time_known = true;
                state.is_replaying = replaying;
            }
            EventKind::ExecutionStarted(started) => {
                if self.started {
                    return;
                }
                self.started = true;
                if !state.time_known {
                    // Histories normally open with `orchestrator-started`; if not, the
                    // execution's own timestamp is the best replay-safe time there is.
                    state.current_time_ms = event.timestamp;
                    state.time_known = true;
                }
                drop(state);
                match (self.entry)(self.context.clone(), &started.input) {
                    Ok(future) => self.future = Some(future),
                    Err(failure) => self.finish(Err(failure)),
                }
            }
            EventKind::TaskCompleted(done) => state.resolve(done.task_id, Ok(parse(done.result))),
            EventKind::TaskFailed(failed) => {
                state.resolve(failed.task_id, Err(failed.failure.into()));
            }
            EventKind::TimerFired(fired) => state.resolve(fired.timer_id, Ok(Value::Null)),
            EventKind::SubOrchestrationCompleted(done) => {
                state.resolve(done.task_id, Ok(parse(done.result)));
            }
            EventKind::SubOrchestrationFailed(failed) => {
                state.resolve(failed.task_id, Err(failed.failure.into()));
            }
            EventKind::EntityResponded(responded) => {
                let outcome = responded.result.map(parse).map_err(Failure::from);
                state.resolve(responded.task_id, outcome);
            }
            EventKind::EntityLockGranted(granted) => {
                state.resolve(granted.task_id, Ok(Value::Null))
            }
            EventKind::EventRaised(raised) => state.deliver_event(raised.name, parse(raised.input)),
            // Scheduling events echo actions (the host checks those), and suspension,
            // termination and completion are the host's business.
            _ => {}
        }
    }

    fn poll(&mut self) {
        let Some(future) = self.future.as_mut() else {
            return;
        };
        let flag = Arc::new(WakeFlag(AtomicBool::new(false)));
        let waker = Waker::from(flag.clone());
        let mut cx = Context::from_waker(&waker);
        loop {
            match future.as_mut().poll(&mut cx) {
                Poll::Ready(outcome) => {
                    self.future = None;
                    self.finish(outcome);
                    return;
                }
                Poll::Pending if flag.0.swap(false, Ordering::SeqCst) => continue,
                Poll::Pending => return,
            }
        }
    }

    fn finish(&mut self, outcome: Result<String, Failure>) {
        self.finished = true;
        let mut state = self.state.borrow_mut();
        let kind = match outcome {
            Ok(output) => match state.continue_as_new.take() {
                Some((input, preserve_unprocessed_events)) => {
                    ActionKind::ContinueAsNew(wit_orch::ContinueAsNew {
                        input,
                        preserve_unprocessed_events,
                    })
                }
                None => ActionKind::Complete(output),
            },
            Err(failure) => ActionKind::Fail(failure.into()),
        };
        state.record(kind);
    }
}

/// Payloads are JSON text; text that is not JSON is taken as a JSON string.
fn parse(json: String) -> Value {
    serde_json::from_str(&json).unwrap_or(Value::String(json))
}
