// The replay state one orchestration execution shares between its executor, its context and
// its tasks.
//
// The executor writes into it as it applies history events (current time, task outcomes by
// sequence id, external events handed to waiters or buffered); the context writes the actions
// the code decides (each work-starting action takes the next sequence id); tasks only read
// outcomes. Every outcome carries the ordinal at which it arrived, so `Task.all` / `Task.any`
// pick the first in history order no matter when they look.

export const ENDING_ACTIONS = ['Complete', 'Fail', 'ContinueAsNew'];
// Actions still recorded after `continueAsNew`: the ending, and releasing a critical section
// (part of ending).
const KEPT_WHEN_ENDING = [...ENDING_ACTIONS, 'UnlockEntities'];

/** What the orchestrator decided: `id` is the sequence id of work-starting actions (0 for the
 * others); `data` holds the kind's fields, payloads as JSON text. */
export class Action {
  constructor(id, kind, data = {}) {
    this.id = id;
    this.kind = kind;
    this.data = data;
  }
}

/** A finished task: when it finished (order of arrival in this execution) and how. */
export class Resolved {
  constructor(order, ok, value = null, failure = null) {
    this.order = order;
    this.ok = ok;
    this.value = value;
    this.failure = failure;
  }
}

export class ReplayState {
  constructor(instanceId) {
    this.instanceId = instanceId;
    this.parentInstanceId = null;
    this.input = null;
    this.currentTimeMs = 0;
    this.timeKnown = false;
    this.isReplaying = false;
    this.uuidCounter = 0;
    // {input: JSON text, preserve: bool} once `continueAsNew` was called.
    this.continueAsNew = null;
    // Set once the orchestrator ended: spawned generators closed afterwards (their `finally`
    // blocks) decide nothing but the release of a critical section.
    this.ended = false;
    this._nextSequence = 0;
    this._nextOrder = 0;
    this._failures = 0;
    this._actions = [];
    this._completed = new Map();
    this._cancelledTimers = new Set();
    this._nextWaiter = 0;
    this._waiters = new Map(); // name -> [waiter ids], oldest first
    this._received = new Map();
    this._buffered = new Map(); // name -> [{arrival, value}]
    this._nextArrival = 0;
    this._spawned = new Map();
    // The entities of the critical section this execution holds (or has asked for), sorted
    // `{name, key}`s, and the `DurableLock` that asked for them.
    this.heldLocks = null;
    this.heldSection = null;
  }

  // --- actions ---

  /** Records a work-starting action under the next sequence id and returns the id. After
   * `continueAsNew` the id is still taken (so replay numbers the same) but the action is
   * dropped: the execution is ending and must not start new work. */
  schedule(kind, data) {
    const id = this._nextSequence++;
    if (this.continueAsNew === null && !this.ended) this._actions.push(new Action(id, kind, data));
    return id;
  }

  /** Records an action that starts no work. After `continueAsNew` only the final one (and the
   * release of a critical section, which is part of ending). */
  record(kind, data) {
    if ((this.continueAsNew === null && !this.ended) || KEPT_WHEN_ENDING.includes(kind)) {
      this._actions.push(new Action(0, kind, data));
    }
  }

  takeActions() {
    const actions = this._actions;
    this._actions = [];
    return actions;
  }

  // --- outcomes ---

  _stamp(ok, value = null, failure = null) {
    if (!ok) this._failures++;
    return new Resolved(this._nextOrder++, ok, value, failure);
  }

  /** Resolves the task with this sequence id; a duplicate event is ignored. */
  resolve(id, ok, value = null, failure = null) {
    if (!this._completed.has(id)) this._completed.set(id, this._stamp(ok, value, failure));
  }

  outcome(id) {
    return this._completed.get(id) ?? null;
  }

  /** Marks a timer cancelled; false when it already fired or was cancelled. */
  cancelTimer(id) {
    if (this._completed.has(id) || this._cancelledTimers.has(id)) return false;
    this._cancelledTimers.add(id);
    return true;
  }

  /** Grows whenever an outcome is recorded: unchanged means polling cannot progress. */
  progress() {
    return this._nextOrder;
  }

  /** Grows whenever a failed outcome is recorded: unchanged means no task failed since. */
  failures() {
    return this._failures;
  }

  // --- external events ---

  /** The oldest waiter for `name` gets the event, or it is buffered for the next one. */
  deliverEvent(name, value) {
    const arrival = this._nextArrival++;
    const waiters = this._waiters.get(name);
    if (waiters && waiters.length > 0) {
      this._received.set(waiters.shift(), this._stamp(true, value));
    } else {
      if (!this._buffered.has(name)) this._buffered.set(name, []);
      this._buffered.get(name).push({ arrival, value });
    }
  }

  /** Registers a waiter for `name`; a buffered event is consumed at once (once). */
  newWaiter(name) {
    const waiter = this._nextWaiter++;
    const buffered = this._buffered.get(name);
    if (buffered && buffered.length > 0) {
      this._received.set(waiter, this._stamp(true, buffered.shift().value));
    } else {
      if (!this._waiters.has(name)) this._waiters.set(name, []);
      this._waiters.get(name).push(waiter);
    }
    return waiter;
  }

  received(waiter) {
    return this._received.get(waiter) ?? null;
  }

  /** Withdraws a waiter that timed out, so the next event goes to the next waiter. */
  removeWaiter(name, waiter) {
    const waiters = this._waiters.get(name);
    const index = waiters ? waiters.indexOf(waiter) : -1;
    if (index < 0) return false;
    waiters.splice(index, 1);
    return true;
  }

  /** Every buffered event, in arrival order across names: [[name, value], ...]. */
  takeUnconsumedEvents() {
    const events = [];
    for (const [name, queue] of this._buffered) {
      for (const { arrival, value } of queue) events.push({ arrival, name, value });
    }
    this._buffered.clear();
    events.sort((a, b) => a.arrival - b.arrival);
    return events.map((e) => [e.name, e.value]);
  }

  // --- spawned generators ---

  resolveSpawned(id, ok, value = null, failure = null) {
    if (!this._spawned.has(id)) this._spawned.set(id, this._stamp(ok, value, failure));
  }

  spawnedOutcome(id) {
    return this._spawned.get(id) ?? null;
  }

  // --- critical sections ---

  /** Leaves the critical section, if any: records `UnlockEntities` with its entities. */
  releaseLocks() {
    if (this.heldLocks === null) return;
    const entities = this.heldLocks;
    this.heldLocks = null;
    this.heldSection = null;
    this.record('UnlockEntities', { entities });
  }
}
