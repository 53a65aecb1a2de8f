// Critical sections: `context.df.lock(entityIds)` and what it yields, as in Durable Functions'
// JavaScript SDK (`DurableLock`, `LockState`), with the rules and failures of the Rust SDK.
//
// The lock request is an action with a sequence id (`LockEntities`, its entities sorted and
// without duplicates); `EntityLockGranted` answers it. From the moment the lock is asked for, the
// orchestration is inside the section: only the locked entities can be called, and no other lock
// and no sub-orchestration can be started (each fails with `LockingRulesViolation`, scheduling
// nothing). `release()` (or the end of the orchestration) records `UnlockEntities`.

import { EntityId } from './entity.js';
import { Failure } from './failure.js';
import { Resolved } from './state.js';
import { ReadyTask, Task } from './tasks.js';

/** Failure type of a call that breaks the rules of critical sections. */
export const LOCKING_RULES = 'LockingRulesViolation';

/** A task that has already failed with `LockingRulesViolation` (nothing was scheduled). */
export function lockingRules(message) {
  return new ReadyTask(new Resolved(0, false, null, new Failure(LOCKING_RULES, message, { nonRetriable: true })));
}

/** Inside a critical section a sub-orchestration could wait on the entities the section holds,
 * and the section on it: a deadlock. It is refused instead. */
export const noSubOrchestrationInSection = () =>
  lockingRules('a critical section cannot call a sub-orchestration; unlock its entities first');

/** Compares strings by code point (UTF-8 byte order, as the Rust SDK and the host sort), not by
 * UTF-16 code unit. */
function compareCodePoints(a, b) {
  const x = Array.from(a, (c) => c.codePointAt(0));
  const y = Array.from(b, (c) => c.codePointAt(0));
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
  }
  return x.length - y.length;
}

/** `{name, key}` entities sorted by name then key, without duplicates. */
export function sortedEntities(entities) {
  const sorted = [...entities].sort((a, b) => compareCodePoints(a.name, b.name) || compareCodePoints(a.key, b.key));
  return sorted.filter((e, i) => i === 0 || e.name !== sorted[i - 1].name || e.key !== sorted[i - 1].key);
}

/** What `context.df.isLocked()` returns, as Durable Functions' `LockState`. */
export class LockState {
  constructor(isLocked, ownedLocks) {
    /** Whether the orchestration is inside a critical section. */
    this.isLocked = isLocked;
    /** The entities it holds (`EntityId`s, sorted). */
    this.ownedLocks = ownedLocks;
  }
}

/**
 * A critical section over entities, and the task of acquiring it: `yield` it to wait until every
 * entity is locked; the value is the lock itself. `release()` leaves the section. A lock that
 * breaks the rules (a second section while one is held, no entities) fails at its `yield` with
 * `LockingRulesViolation` and holds nothing.
 */
export class DurableLock extends Task {
  constructor(state, id, entities, refused = null) {
    super();
    this._state = state;
    this.id = id;
    this._entities = entities;
    this._refused = refused;
  }

  _resolved() {
    if (this._refused !== null) return new Resolved(0, false, null, this._refused);
    const r = this._state.outcome(this.id);
    if (r === null || !r.ok) return r;
    return new Resolved(r.order, true, this);
  }

  /** The locked entities (`EntityId`s, sorted; none for a refused lock). */
  get ownedLocks() {
    return this._entities.map((e) => new EntityId(e.name, e.key));
  }

  /** True until the section is released (false for a refused lock). */
  get isHeld() {
    return this._refused === null && this._state.heldSection === this;
  }

  /** Leaves the critical section, releasing its entities; does nothing once released, or for a
   * refused lock. */
  release() {
    if (this.isHeld) this._state.releaseLocks();
  }
}

// `using lock = yield context.df.lock(...)` where the engine has explicit resource management.
if (typeof Symbol.dispose === 'symbol') {
  DurableLock.prototype[Symbol.dispose] = function dispose() {
    this.release();
  };
}
