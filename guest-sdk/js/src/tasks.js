// Durable tasks: what an orchestrator `yield`s.
//
// A task reads its outcome from the shared `ReplayState`: by sequence id (activities, timers,
// sub-orchestrations), by waiter id (external events) or by spawn id (generators run as tasks of
// their own: `context.df.spawn`, retries, waits with a timeout). `Task.all` / `Task.any` compose
// other tasks and decide from the arrival order of their outcomes, never from when they are
// looked at, so a cold replay agrees with a live run. The action behind a task is recorded when
// the task is created, so tasks that are never yielded still run.

import { Failure, INVALID_INPUT, TaskFailedError } from './failure.js';
import { Resolved } from './state.js';

/**
 * A handle on work the orchestrator started. `yield` it to get its value (or have its failure
 * thrown as a `TaskFailedError`); yielding it twice gives the same outcome twice.
 */
export class Task {
  _resolved() {
    throw new Error('not implemented');
  }

  get isCompleted() {
    return this._resolved() !== null;
  }

  get isFaulted() {
    const r = this._resolved();
    return r !== null && !r.ok;
  }

  /** The value once completed successfully, else undefined. */
  get result() {
    const r = this._resolved();
    return r !== null && r.ok ? r.value : undefined;
  }

  /** The structured failure once failed, else null. */
  get failure() {
    const r = this._resolved();
    return r !== null && !r.ok ? r.failure : null;
  }

  /** The `TaskFailedError` once failed, else null. */
  get exception() {
    const failure = this.failure;
    return failure ? new TaskFailedError(failure) : null;
  }

  /**
   * Completes with every value in the order given, or fails with the failure that came first in
   * history order, as soon as it arrives. `Task.all([])` is `[]` at once.
   */
  static all(tasks) {
    tasks = checkTasks(tasks, 'Task.all');
    if (tasks.length === 0) return new ReadyTask(new Resolved(0, true, []));
    return new AllTask(tasks);
  }

  /**
   * The first task to finish in history order (the task itself, as in Durable Functions; check
   * `isFaulted`): a failed task can win and `Task.any` does not fail. `Task.any([])` fails with
   * `InvalidInput`.
   */
  static any(tasks) {
    tasks = checkTasks(tasks, 'Task.any');
    if (tasks.length === 0) {
      const failure = new Failure(INVALID_INPUT, 'Task.any needs at least one task', { nonRetriable: true });
      return new ReadyTask(new Resolved(0, false, null, failure));
    }
    return new AnyTask(tasks);
  }
}

function checkTasks(tasks, what) {
  const list = Array.from(tasks);
  for (const task of list) {
    if (!(task instanceof Task)) throw new TypeError(`${what} takes durable tasks, not ${typeof task}`);
  }
  return list;
}

/** The task started by the action with this sequence id. */
export class SequencedTask extends Task {
  constructor(state, id) {
    super();
    this._state = state;
    this.id = id;
  }

  _resolved() {
    return this._state.outcome(this.id);
  }
}

/** A durable timer; `cancel()` cancels it (a cancelled timer never completes). */
export class TimerTask extends SequencedTask {
  get isCanceled() {
    return this._state._cancelledTimers.has(this.id);
  }

  cancel() {
    if (this._state.cancelTimer(this.id)) this._state.record('CancelTimer', { timerId: this.id });
  }
}

export class ExternalEventTask extends Task {
  constructor(state, waiter) {
    super();
    this._state = state;
    this._waiter = waiter;
  }

  _resolved() {
    return this._state.received(this._waiter);
  }
}

export class SpawnedTask extends Task {
  constructor(state, spawnId) {
    super();
    this._state = state;
    this._spawnId = spawnId;
  }

  _resolved() {
    return this._state.spawnedOutcome(this._spawnId);
  }
}

/** A task finished when it was created (`Task.all([])`, `Task.any([])`). */
export class ReadyTask extends Task {
  constructor(resolved) {
    super();
    this._done = resolved;
  }

  _resolved() {
    return this._done;
  }
}

/** The replay state of the first of `tasks` that has one (a `ReadyTask` has none). */
function stateOf(tasks) {
  for (const task of tasks) {
    if (task._state) return task._state;
  }
  return null;
}

// `Task.all` and `Task.any` are looked at after every history event, so each look must cost
// about the news, not the number of children: a fan-out of 1,000 activities would otherwise take
// a million looks at children over its results (seconds in an interpreter).

export class AllTask extends Task {
  constructor(children) {
    super();
    this._children = children;
    this._cache = null;
    this._state = stateOf(children);
    // The children before this index finished successfully, the latest at order `_last`.
    this._done = 0;
    this._last = 0;
    // The state's count of failed outcomes when the children were last searched for one.
    this._failuresSeen = -1;
  }

  _resolved() {
    if (this._cache !== null) return this._cache;
    const children = this._children;
    // A failure fails the whole at once, the first in history order; search only when a task
    // failed since the last search (a child finished fine stays fine).
    const failures = this._state === null ? 0 : this._state.failures();
    if (failures !== this._failuresSeen) {
      this._failuresSeen = failures;
      let first = null;
      for (const child of children) {
        const r = child._resolved();
        if (r !== null && !r.ok && (first === null || r.order < first.order)) first = r;
      }
      if (first !== null) return (this._cache = first);
    }
    // Otherwise it completes once every child has: each is checked until it has finished,
    // in the order given, and not again.
    for (; this._done < children.length; this._done++) {
      const r = children[this._done]._resolved();
      if (r === null) return null;
      if (!r.ok) return (this._cache = r);
      if (r.order > this._last) this._last = r.order;
    }
    this._cache = new Resolved(this._last, true, children.map((c) => c._resolved().value));
    return this._cache;
  }
}

export class AnyTask extends Task {
  constructor(children) {
    super();
    this._children = children;
    this._cache = null;
    this._state = stateOf(children);
    // The state's count of outcomes when the children were last searched.
    this._progressSeen = -1;
  }

  _resolved() {
    if (this._cache !== null) return this._cache;
    // Nothing finished since the last search: nothing can have won.
    const progress = this._state === null ? 0 : this._state.progress();
    if (progress === this._progressSeen) return null;
    this._progressSeen = progress;
    let best = null;
    this._children.forEach((child, index) => {
      const r = child._resolved();
      if (r !== null && (best === null || r.order < best.order)) best = { order: r.order, index };
    });
    if (best !== null) this._cache = new Resolved(best.order, true, this._children[best.index]);
    return this._cache;
  }
}

// --- running generators ---

function isGenerator(value) {
  return value !== null && typeof value === 'object' && typeof value.next === 'function' && typeof value.throw === 'function';
}

export { isGenerator };

/**
 * Drives one generator: sends it the outcome of the task it yielded once that task has finished,
 * until it yields a task still pending, returns, or throws.
 */
export class GeneratorRunner {
  constructor(generator) {
    this._generator = generator;
    this._started = false;
    this._waiting = null;
  }

  /** null while pending; otherwise how the generator ended (a `Resolved`, order 0). */
  poll() {
    let send;
    let thrown = null;
    if (this._started) {
      const r = this._waiting._resolved();
      if (r === null) return null;
      [send, thrown] = outcome(r);
    }
    this._started = true;
    for (;;) {
      let step;
      try {
        step = thrown !== null ? this._generator.throw(thrown) : this._generator.next(send);
      } catch (error) {
        return new Resolved(0, false, null, Failure.fromException(error));
      }
      if (step.done) return new Resolved(0, true, step.value === undefined ? null : step.value);
      send = undefined;
      thrown = null;
      const yielded = step.value;
      if (!(yielded instanceof Task)) {
        const what = yielded === null ? 'null' : yielded?.constructor?.name ?? typeof yielded;
        thrown = new TypeError(`an orchestrator must yield durable tasks, not ${what}`);
        continue;
      }
      const r = yielded._resolved();
      if (r === null) {
        this._waiting = yielded;
        return null;
      }
      [send, thrown] = outcome(r);
    }
  }

  close() {
    try {
      this._generator.return(undefined);
    } catch {
      // A generator that throws while closing is already finished.
    }
  }
}

function outcome(r) {
  return r.ok ? [r.value, null] : [undefined, new TaskFailedError(r.failure)];
}

/**
 * Generators run beside the orchestrator (`context.df.spawn`, and the SDK's own: retries, timed
 * waits, durable HTTP). Each is polled once when spawned, so the work it starts first is scheduled
 * at once; afterwards after every history event, after the orchestrator, in creation order (as
 * the Rust SDK's executor). A finished one records its outcome in the state at that moment, so
 * it takes its place in history order.
 */
export class Background {
  constructor(state) {
    this._state = state;
    this._pending = new Map();
    this._nextSpawn = 0;
  }

  spawn(generator) {
    const id = this._nextSpawn++;
    this._pollOne(id, new GeneratorRunner(generator));
    return new SpawnedTask(this._state, id);
  }

  _pollOne(id, runner) {
    const done = runner.poll();
    if (done === null) {
      this._pending.set(id, runner);
    } else {
      this._pending.delete(id);
      this._state.resolveSpawned(id, done.ok, done.value, done.failure);
    }
  }

  pollAll() {
    // A Map iterates in insertion order, which is spawn order (ids only grow, and a generator
    // still pending keeps its place); one spawned meanwhile comes after, and is polled in turn.
    for (const [id, runner] of this._pending) this._pollOne(id, runner);
  }

  clear() {
    for (const runner of this._pending.values()) runner.close();
    this._pending.clear();
  }
}
