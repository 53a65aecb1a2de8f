// `DurableOrchestrationContext` (`context.df`): everything an orchestrator may do, all of it
// replay-safe.
//
// Each method that starts work records an action in the shared `ReplayState` at once (taking the
// next sequence id) and returns a task the executor resolves when the matching history event
// arrives. Time, ids and "am I replaying" come from the history, never from a clock.

import { Failure, TIMEOUT, TaskFailedError } from './failure.js';
import { runWithRetry } from './retry.js';
import { AnyTask, ExternalEventTask, SequencedTask, Task, TimerTask } from './tasks.js';
import { DURABLE_NAMESPACE, uuid5 } from './uuid.js';

/** JSON text as serde_json writes it (compact); `undefined` is `null`. */
export function toJson(value) {
  const text = JSON.stringify(value === undefined ? null : value);
  if (text === undefined) throw new TypeError(`${typeof value} is not JSON`);
  return text;
}

/** Payloads are JSON text; text that is not JSON is taken as a string. */
export function parseJson(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function toMillis(moment) {
  if (moment instanceof Date) return moment.getTime();
  if (typeof moment === 'number') return moment;
  throw new TypeError('createTimer takes a Date (or milliseconds since the epoch)');
}

export class DurableOrchestrationContext {
  constructor(state, background) {
    this._state = state;
    this._background = background;
    /** `Task.all` / `Task.any`, as `context.df.Task` in Durable Functions. */
    this.Task = Task;
  }

  // --- facts ---

  get instanceId() {
    return this._state.instanceId;
  }

  get parentInstanceId() {
    return this._state.parentInstanceId;
  }

  /** True while the code re-runs turns already in the history. */
  get isReplaying() {
    return this._state.isReplaying;
  }

  /** The replay-safe current time: when the current turn started. */
  get currentUtcDateTime() {
    return new Date(this._state.currentTimeMs);
  }

  getInput() {
    return this._state.input;
  }

  /**
   * A UUIDv5 that is the same on every replay: of `"{instanceId}_{turnTimeMs}_{counter}"` in
   * Durable Functions' namespace (the Rust and Python SDKs make the same ones). The argument, as
   * in Durable Functions, defaults to this instance's id.
   */
  newGuid(instanceId = undefined) {
    const state = this._state;
    const name = `${instanceId ?? state.instanceId}_${state.currentTimeMs}_${state.uuidCounter}`;
    state.uuidCounter += 1;
    return uuid5(DURABLE_NAMESPACE, name);
  }

  // --- work ---

  callActivity(name, input = null) {
    return new SequencedTask(this._state, this._state.schedule('ScheduleActivity', { name, input: toJson(input) }));
  }

  callActivityWithRetry(name, retryOptions, input = null) {
    const payload = toJson(input);
    const attempt = () => new SequencedTask(this._state, this._state.schedule('ScheduleActivity', { name, input: payload }));
    return this._background.spawn(runWithRetry(this._state, (ms) => this._createTimerAtMs(ms), retryOptions, attempt));
  }

  /**
   * Starts the orchestrator `name` as a child; with no `instanceId` the host derives one from
   * this instance's id and the sequence id.
   */
  callSubOrchestrator(name, input = null, instanceId = undefined) {
    const id = this._state.schedule('StartSubOrchestration', { name, instanceId: instanceId ?? '', input: toJson(input) });
    return new SequencedTask(this._state, id);
  }

  callSubOrchestratorWithRetry(name, retryOptions, input = null, instanceId = undefined) {
    const payload = toJson(input);
    const attempt = () =>
      new SequencedTask(this._state, this._state.schedule('StartSubOrchestration', { name, instanceId: instanceId ?? '', input: payload }));
    return this._background.spawn(runWithRetry(this._state, (ms) => this._createTimerAtMs(ms), retryOptions, attempt));
  }

  /** A durable timer that fires at `fireAt` (a `Date`); `cancel()` it when no longer needed. */
  createTimer(fireAt) {
    return this._createTimerAtMs(toMillis(fireAt));
  }

  _createTimerAtMs(fireAt) {
    return new TimerTask(this._state, this._state.schedule('StartTimer', { fireAt }));
  }

  /**
   * Waits for the event `name`. Waiters are served oldest first; an event that arrived before
   * anyone waited is kept and consumed by the next waiter, once. With `timeoutMs` (an extension
   * over Durable Functions), the task fails with a `Timeout` failure when its durable timer fires
   * first (the wait is then withdrawn, so a later event goes to the next waiter); when the event
   * wins the timer is cancelled.
   */
  waitForExternalEvent(name, timeoutMs = undefined) {
    const state = this._state;
    const waiter = state.newWaiter(name);
    const event = new ExternalEventTask(state, waiter);
    if (timeoutMs === undefined || timeoutMs === null || event.isCompleted) return event;
    const timer = this._createTimerAtMs(state.currentTimeMs + Math.floor(timeoutMs));
    function* wait() {
      const winner = yield new AnyTask([event, timer]);
      if (winner === event) {
        timer.cancel();
        return yield event;
      }
      state.removeWaiter(name, waiter);
      throw new TaskFailedError(new Failure(TIMEOUT, `the external event \`${name}\` did not arrive within ${timeoutMs} ms`));
    }
    return this._background.spawn(wait());
  }

  /** Raises the event `name` on another instance. */
  sendEvent(instanceId, name, input = null) {
    this._state.schedule('SendEvent', { instanceId, name, input: toJson(input) });
  }

  // --- status and lifetime ---

  /** Sets the custom status clients see; `null` clears it. */
  setCustomStatus(status) {
    this._state.record('SetCustomStatus', { status: status === null || status === undefined ? null : toJson(status) });
  }

  /**
   * Restarts this orchestration with `input` once the orchestrator returns (its return value is
   * then ignored). With `preserveUnprocessedEvents`, events that arrived and were not consumed
   * are carried into the new execution.
   */
  continueAsNew(input, preserveUnprocessedEvents = false) {
    this._state.continueAsNew = { input: toJson(input), preserve: Boolean(preserveUnprocessedEvents) };
  }
}
