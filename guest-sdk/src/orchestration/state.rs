//! The replay state one orchestration execution shares between its executor, its context and
//! its tasks.
//!
//! The executor writes into it as it applies history events (current time, task outcomes by
//! sequence id, external events delivered to waiters or buffered); the context writes the actions
//! the code decides (each work-starting action takes the next sequence id); the background
//! runner writes the outcomes of spawned futures; tasks only read outcomes. Every outcome carries
//! the ordinal at which it arrived, so combinators can pick the first in history order no matter
//! when they look.

use std::collections::{HashMap, HashSet, VecDeque};
use std::rc::Rc;

use serde_json::Value;

use crate::bindings::wit_orch::{Action, ActionKind};
use crate::failure::Failure;

/// What a finished task produced.
pub(crate) type Outcome = Result<Value, Failure>;

/// A finished task: its outcome and when it finished, as the number of outcomes that arrived
/// before it in this execution.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    pub order: u64,
    pub outcome: Rc<Outcome>,
}

/// Identifies one `wait_for_external_event` call. Waiting consumes no sequence id: it decides
/// no action, so it has its own counter.
pub(crate) type WaiterId = u64;

/// Identifies one spawned future (see `background.rs`), numbered in creation order.
pub(crate) type SpawnId = u64;

/// An external event nobody has consumed yet.
#[derive(Debug)]
struct BufferedEvent {
    /// How many events arrived before it in this execution (to recover arrival order across
    /// names).
    arrival: u64,
    value: Value,
}

#[derive(Debug, Default)]
pub(crate) struct ReplayState {
    pub instance_id: String,
    /// Milliseconds since the epoch of the current `orchestrator-started` event.
    pub current_time_ms: u64,
    /// False until an `orchestrator-started` event set `current_time_ms`.
    pub time_known: bool,
    pub is_replaying: bool,
    next_sequence: u32,
    pub uuid_counter: u32,
    next_order: u64,
    /// How many of the outcomes recorded were failures.
    failures: u64,
    actions: Vec<Action>,
    /// Outcomes of work-starting actions, by sequence id.
    /// Outcomes by sequence id (ids are dense, so a vector beats a map).
    completed: Vec<Option<Resolved>>,
    cancelled_timers: HashSet<u32>,
    next_waiter: WaiterId,
    /// Waiters per event name, oldest first.
    waiters: HashMap<String, VecDeque<WaiterId>>,
    /// Events handed to waiters.
    received: HashMap<WaiterId, Resolved>,
    /// Events that arrived while nobody waited, oldest first, each consumed once.
    buffered: HashMap<String, VecDeque<BufferedEvent>>,
    next_arrival: u64,
    /// Outcomes of spawned futures, by spawn id.
    spawned: HashMap<SpawnId, Resolved>,
    /// Set by `continue_as_new`: the next execution's input (JSON text) and whether to carry
    /// unconsumed events over.
    pub continue_as_new: Option<(String, bool)>,
    /// The entities of the critical section this execution holds (or has asked for).
    pub held_locks: Option<Vec<crate::bindings::wit_types::EntityId>>,
}

impl ReplayState {
    pub fn new(instance_id: String) -> Self {
        ReplayState {
            instance_id,
            ..ReplayState::default()
        }
    }

    /// Records a work-starting action under the next sequence id and returns that id. After
    /// `continue_as_new` the id is still taken (so replay numbers the same) but the action is
    /// dropped: the execution is ending and must not start new work.
    pub fn schedule(&mut self, kind: ActionKind) -> u32 {
        let id = self.next_sequence;
        self.next_sequence += 1;
        if self.continue_as_new.is_none() {
            self.actions.push(Action { id, kind });
        }
        id
    }

    /// Records an action that starts no work (its id is 0). After `continue_as_new` only the
    /// execution's final action is kept.
    pub fn record(&mut self, kind: ActionKind) {
        // Releasing a critical section is part of ending, so it is kept too.
        let ending = matches!(
            kind,
            ActionKind::Complete(_)
                | ActionKind::Fail(_)
                | ActionKind::ContinueAsNew(_)
                | ActionKind::UnlockEntities(_)
        );
        if self.continue_as_new.is_none() || ending {
            self.actions.push(Action { id: 0, kind });
        }
    }

    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    fn stamp(&mut self, outcome: Outcome) -> Resolved {
        let order = self.next_order;
        self.next_order += 1;
        self.failures += u64::from(outcome.is_err());
        Resolved {
            order,
            outcome: Rc::new(outcome),
        }
    }

    /// Resolves the task with this sequence id. A second outcome for the same id (a duplicate
    /// event) is ignored: the first one counts.
    pub fn resolve(&mut self, sequence_id: u32, outcome: Outcome) {
        let index = sequence_id as usize;
        if self.completed.len() <= index {
            self.completed.resize(index + 1, None);
        }
        if self.completed[index].is_none() {
            let resolved = self.stamp(outcome);
            self.completed[index] = Some(resolved);
        }
    }

    pub fn outcome(&self, sequence_id: u32) -> Option<Resolved> {
        self.completed.get(sequence_id as usize).cloned().flatten()
    }

    /// Marks a timer cancelled; returns false when it already fired or was cancelled.
    pub fn cancel_timer(&mut self, timer_id: u32) -> bool {
        self.outcome(timer_id).is_none() && self.cancelled_timers.insert(timer_id)
    }

    /// An external event arrived: the oldest waiter for its name gets it, or it is buffered.
    pub fn deliver_event(&mut self, name: String, value: Value) {
        let arrival = self.next_arrival;
        self.next_arrival += 1;
        let waiter = self.waiters.get_mut(&name).and_then(VecDeque::pop_front);
        match waiter {
            Some(waiter) => {
                let resolved = self.stamp(Ok(value));
                self.received.insert(waiter, resolved);
            }
            None => self
                .buffered
                .entry(name)
                .or_default()
                .push_back(BufferedEvent { arrival, value }),
        }
    }

    /// Registers a waiter for `name`; a buffered event is consumed at once.
    pub fn new_waiter(&mut self, name: &str) -> WaiterId {
        let waiter = self.next_waiter;
        self.next_waiter += 1;
        let buffered = self.buffered.get_mut(name).and_then(VecDeque::pop_front);
        match buffered {
            Some(BufferedEvent { value, .. }) => {
                let resolved = self.stamp(Ok(value));
                self.received.insert(waiter, resolved);
            }
            None => self
                .waiters
                .entry(name.to_owned())
                .or_default()
                .push_back(waiter),
        }
        waiter
    }

    pub fn received(&self, waiter: WaiterId) -> Option<Resolved> {
        self.received.get(&waiter).cloned()
    }

    /// Withdraws a waiter that has not received its event (it timed out), so the next event of
    /// that name goes to the next waiter or the buffer instead of a dead waiter. Returns false
    /// when the waiter already had its event.
    pub fn remove_waiter(&mut self, name: &str, waiter: WaiterId) -> bool {
        let Some(queue) = self.waiters.get_mut(name) else {
            return false;
        };
        let before = queue.len();
        queue.retain(|&w| w != waiter);
        before != queue.len()
    }

    /// Takes every buffered (unconsumed) event, in arrival order across names.
    pub fn take_unconsumed_events(&mut self) -> Vec<(String, Value)> {
        let mut events: Vec<(u64, String, Value)> = self
            .buffered
            .drain()
            .flat_map(|(name, queue)| {
                queue
                    .into_iter()
                    .map(move |event| (event.arrival, name.clone(), event.value))
            })
            .collect();
        events.sort_by_key(|(arrival, _, _)| *arrival);
        events
            .into_iter()
            .map(|(_, name, value)| (name, value))
            .collect()
    }

    /// Records the outcome of a spawned future; it takes the next arrival order, i.e. it
    /// finished after every outcome already recorded.
    pub fn resolve_spawned(&mut self, spawn: SpawnId, outcome: Outcome) {
        if !self.spawned.contains_key(&spawn) {
            let resolved = self.stamp(outcome);
            self.spawned.insert(spawn, resolved);
        }
    }

    pub fn spawned_outcome(&self, spawn: SpawnId) -> Option<Resolved> {
        self.spawned.get(&spawn).cloned()
    }

    /// A number that grows whenever any outcome is recorded: when it has not moved, no task
    /// finished and polling again cannot make progress.
    pub fn progress(&self) -> u64 {
        self.next_order
    }

    /// A number that grows whenever a failure is recorded: when it has not moved, no task
    /// failed.
    pub fn failures(&self) -> u64 {
        self.failures
    }
}
