//! The replay executor: turns history events into the actions the orchestrator decides.
//!
//! `step` applies events one at a time, in order, to the shared [`ReplayState`] and polls the
//! orchestrator future after each one, together with the spawned futures of the [`Background`]
//! runner (main future first, then spawned ones in creation order, again until a round records no
//! new outcome), so which task finishes first is always decided by history order, and a fresh
//! executor fed the whole history reaches exactly the state of one fed turn by turn. Every action
//! decided during a step is returned, replayed ones included (the host checks them against the
//! history). When the main future finishes, one `complete`, `fail` or `continue-as-new` action is
//! emitted, spawned futures are dropped and later events are ignored.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};

use serde_json::Value;

use super::background::Background;
use super::context::{LogSink, OrchestrationContext};
use super::state::ReplayState;
use crate::bindings::wit_orch::{self, Action, ActionKind, EventKind, EventRaised, HistoryEvent};
use crate::failure::Failure;

/// The running orchestrator function: its output is JSON text.
pub type OrchestratorFuture = Pin<Box<dyn Future<Output = Result<String, Failure>>>>;

/// Starts an orchestrator function from its JSON input, or fails (bad input).
pub type OrchestratorEntry = fn(OrchestrationContext, &str) -> Result<OrchestratorFuture, Failure>;

/// One execution of one orchestrator.
pub struct Executor {
    state: Rc<RefCell<ReplayState>>,
    background: Rc<Background>,
    context: OrchestrationContext,
    entry: OrchestratorEntry,
    future: Option<OrchestratorFuture>,
    started: bool,
    finished: bool,
}

impl Executor {
    pub(crate) fn new(entry: OrchestratorEntry, instance_id: String, log_sink: LogSink) -> Self {
        let state = Rc::new(RefCell::new(ReplayState::new(instance_id)));
        let background = Rc::new(Background::new(state.clone()));
        let context = OrchestrationContext::new(state.clone(), background.clone(), log_sink);
        Executor {
            state,
            background,
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

    /// Polls the main future, then the spawned ones, and again while a round recorded a new
    /// outcome (a finished spawned future, an event taken from the buffer) or woke a future:
    /// someone may be waiting for it.
    fn poll(&mut self) {
        let Some(future) = self.future.as_mut() else {
            return;
        };
        let waker = self.background.waker().clone();
        let mut cx = Context::from_waker(&waker);
        loop {
            let before = self.state.borrow().progress();
            if let Poll::Ready(outcome) = future.as_mut().poll(&mut cx) {
                self.future = None;
                self.finish(outcome);
                return;
            }
            self.background.poll_all();
            let woken = self.background.woken();
            if !woken && self.state.borrow().progress() == before {
                return;
            }
        }
    }

    fn finish(&mut self, outcome: Result<String, Failure>) {
        self.finished = true;
        self.background.clear();
        let mut state = self.state.borrow_mut();
        let kind = match outcome {
            Ok(output) => match state.continue_as_new.take() {
                Some((input, preserve_unprocessed_events)) => {
                    let carried_events = if preserve_unprocessed_events {
                        state
                            .take_unconsumed_events()
                            .into_iter()
                            .map(|(name, value)| EventRaised {
                                name,
                                input: value.to_string(),
                            })
                            .collect()
                    } else {
                        Vec::new()
                    };
                    ActionKind::ContinueAsNew(wit_orch::ContinueAsNew {
                        input,
                        preserve_unprocessed_events,
                        carried_events,
                    })
                }
                None => ActionKind::Complete(output),
            },
            Err(failure) => ActionKind::Fail(failure.into()),
        };
        // Ending inside a critical section releases it.
        if let Some(entities) = state.held_locks.take() {
            state.record(ActionKind::UnlockEntities(wit_orch::EntityLock {
                entities,
            }));
        }
        state.record(kind);
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        // Spawned futures hold contexts that hold the runner: drop them to break the cycle.
        self.background.clear();
    }
}

/// Payloads are JSON text; text that is not JSON is taken as a JSON string.
fn parse(json: String) -> Value {
    serde_json::from_str(&json).unwrap_or(Value::String(json))
}
