// `DurableOrchestrationContext` (`context.df`): everything an orchestrator may do, all of it
// replay-safe.
//
// Each method that starts work records an action in the shared `ReplayState` at once (taking the
// next sequence id) and returns a task the executor resolves when the matching history event
// arrives. Time, ids and "am I replaying" come from the history, never from a clock.

import { EntityId, entityIdOf, operationNameOf } from './entity.js';
import { Failure, TIMEOUT, TaskFailedError } from './failure.js';
import { httpRequest, runHttp } from './http.js';
import { toJson } from './json.js';
import { DurableLock, LOCKING_RULES, LockState, lockingRules, noSubOrchestrationInSection, sortedEntities } from './lock.js';
import { runWithRetry } from './retry.js';
import { AnyTask, ExternalEventTask, SequencedTask, Task, TimerTask, isGenerator } from './tasks.js';
import { DURABLE_NAMESPACE, uuid5 } from './uuid.js';

export { parseJson, toJson } from './json.js';

// Where `version` comes from: the host's `version` import inside a component (the component glue
// installs it); outside one, nothing unless a test installs a source.
let versionSource = () => null;

/** Installs where `context.df.version` reads the running orchestration's version from. */
export function installVersionSource(source) {
  versionSource = source;
}

function toMillis(moment) {
  if (moment instanceof Date) return moment.getTime();
  if (typeof moment === 'number') return moment;
  throw new TypeError('a time is a Date (or milliseconds since the epoch)');
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

  /**
   * The version this orchestration runs as: the label of the deployment it started on (`durable
   * deploy --version`), the one its client asked for (`durable start --version`), or its
   * parent's; null when there is none. Moving the instance to new code does not change it, so
   * code may branch on it and replay the same.
   */
  get version() {
    return versionSource() ?? null;
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
   * this instance's id and the sequence id. Refused (`LockingRulesViolation`) inside a critical
   * section.
   */
  callSubOrchestrator(name, input = null, instanceId = undefined) {
    if (this._state.heldLocks !== null) return noSubOrchestrationInSection();
    const id = this._state.schedule('StartSubOrchestration', { name, instanceId: instanceId ?? '', input: toJson(input) });
    return new SequencedTask(this._state, id);
  }

  callSubOrchestratorWithRetry(name, retryOptions, input = null, instanceId = undefined) {
    if (this._state.heldLocks !== null) return noSubOrchestrationInSection();
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

  /**
   * Runs `flow`, a generator object (the call of a `function*`: `context.df.spawn(step(context,
   * x))`), beside the orchestrator as a task of its own: a sub-flow (a chain of `yield`s) the
   * orchestrator can `yield`, or put in `Task.all` / `Task.any`. Its value is the generator's
   * return value; its failure is the error it threw (a failed task it did not catch keeps its
   * failure). The generator runs at once up to its first pending task, so the work it starts
   * first is scheduled now, like `callActivity`; afterwards it runs after every history event,
   * after the orchestrator and before spawned flows created later, exactly as the Rust SDK's
   * `ctx.spawn`. It stops (is closed with `return()`) when the orchestration ends; its `finally`
   * blocks then start no work. Only replay-safe code belongs in it, as in the orchestrator.
   */
  spawn(flow) {
    if (!isGenerator(flow)) {
      const what = flow === null ? 'null' : typeof flow === 'function' ? 'a function (call the generator function)' : typeof flow;
      throw new TypeError(`spawn takes a generator object, not ${what}`);
    }
    return this._background.spawn(flow);
  }

  /** Raises the event `name` on another instance. */
  sendEvent(instanceId, name, input = null) {
    this._state.schedule('SendEvent', { instanceId, name, input: toJson(input) });
  }

  // --- entities ---

  /**
   * Calls `operationName` on the entity `entityId` (a `df.EntityId`): a task with the value the
   * operation passed to `context.df.return` (null when none), or failing with its failure.
   * Inside a critical section only the locked entities can be called (others fail with
   * `LockingRulesViolation`).
   */
  callEntity(entityId, operationName, operationInput = null) {
    const entity = entityIdOf(entityId, 'callEntity');
    const data = { entity, operation: operationNameOf(operationName), input: toJson(operationInput), scheduledAt: null };
    const held = this._state.heldLocks;
    if (held !== null && !held.some((e) => e.name === entity.name && e.key === entity.key)) {
      return lockingRules(`inside a critical section only the locked entities can be called, not \`${entity.name}@${entity.key}\``);
    }
    return new SequencedTask(this._state, this._state.schedule('CallEntity', data));
  }

  /**
   * Signals `operationName` on the entity `entityId` without waiting for it. With
   * `scheduledTime` (a `Date`, an extension over Durable Functions) the host delivers the signal
   * at that time.
   */
  signalEntity(entityId, operationName, operationInput = null, scheduledTime = undefined) {
    const entity = entityIdOf(entityId, 'signalEntity');
    const scheduledAt = scheduledTime === undefined || scheduledTime === null ? null : toMillis(scheduledTime);
    this._state.schedule('SignalEntity', { entity, operation: operationNameOf(operationName), input: toJson(operationInput), scheduledAt });
  }

  // --- critical sections ---

  /**
   * Enters a critical section: locks the entities (`lock([a, b])` or `lock(a, b)`), acquired one
   * at a time in sorted order so two orchestrations locking the same entities never deadlock.
   * Returns a task; `yield` it to wait until all are held. Its value is a `DurableLock`:
   * `release()` it to leave the section (ending the orchestration releases it too).
   *
   *   const lock = yield context.df.lock([source, target]);
   *   const balance = yield context.df.callEntity(source, 'balance');
   *   ...
   *   lock.release();
   *
   * Inside the section only the locked entities can be called, no other lock can be taken and
   * no sub-orchestration started (each fails with `LockingRulesViolation`); activities, timers,
   * events and signals are allowed.
   */
  lock(first = undefined, ...rest) {
    const given = Array.isArray(first) ? first : first === undefined ? rest : [first, ...rest];
    const entities = given.map((entityId) => entityIdOf(entityId, 'lock'));
    const state = this._state;
    const refuse = (message) => new DurableLock(state, null, [], new Failure(LOCKING_RULES, message, { nonRetriable: true }));
    if (state.heldLocks !== null) return refuse('a critical section is already held; unlock it before locking again');
    const sorted = sortedEntities(entities);
    if (sorted.length === 0) return refuse('lock_entities needs at least one entity');
    state.heldLocks = sorted;
    const section = new DurableLock(state, state.schedule('LockEntities', { entities: sorted }), sorted);
    state.heldSection = section;
    return section;
  }

  /** Whether the orchestration is inside a critical section (from the moment the lock is asked
   * for) and which entities it holds: a `LockState` `{isLocked, ownedLocks}`. */
  isLocked() {
    const held = this._state.heldLocks;
    return new LockState(held !== null, (held ?? []).map((e) => new EntityId(e.name, e.key)));
  }

  // --- durable HTTP ---

  /**
   * Makes an HTTP request through the host's built-in activity `durable:http` (the host must
   * allow the destination): `{method, url, body, headers, asynchronousPatternEnabled}`. A task
   * with `{statusCode, headers, content}` (`body` is an alias of `content`); any HTTP status is a
   * response, a refused or unreachable host a failure. Unless `asynchronousPatternEnabled` is
   * false, a `202 Accepted` with a `Location` is polled with `GET` after waiting `Retry-After`
   * seconds (30 when missing) on a durable timer, until the answer is something else.
   */
  callHttp(options) {
    const request = httpRequest(options);
    const state = this._state;
    return this._background.spawn(
      runHttp(request, {
        callActivity: (name, input) => this.callActivity(name, input),
        createTimerAtMs: (ms) => this._createTimerAtMs(ms),
        nowMs: () => state.currentTimeMs,
      }),
    );
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
