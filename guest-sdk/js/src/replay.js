// The replay executor: turns history events into the actions the orchestrator decides.
//
// Pure JavaScript, no WebAssembly: the component glue (`component.js`) converts the host's WIT
// records into `Event`s and the resulting `Action`s back, and the unit tests build histories by
// hand. `Executor.step` applies events one at a time, in order, to the shared `ReplayState` and
// runs the orchestrator generator after each one (together with the SDK's background
// generators: retries, timed waits) until nothing more can progress, so which task finishes
// first is always decided by history order, and a fresh executor fed the whole history reaches
// exactly the state of one fed turn by turn. Every action decided during a step is returned,
// replayed ones included (the host checks them against the history). When the orchestrator ends,
// one `Complete`, `Fail` or `ContinueAsNew` action is emitted (after an `UnlockEntities` when it
// ends inside a critical section) and later events are ignored.

import { DurableOrchestrationContext, parseJson, toJson } from './context.js';
import { Failure } from './failure.js';
import { logMethods } from './log.js';
import { Action, ReplayState, Resolved } from './state.js';
import { Background, GeneratorRunner, isGenerator } from './tasks.js';

export { Action };

/**
 * One history event. `kind` is the WIT variant's name in CamelCase (`TaskCompleted`); `data`
 * holds its fields (camelCase), payloads as JSON text (`result`, `input`) and failures as
 * `Failure` (`EntityResponded` has `result` when the operation succeeded, else `failure`).
 * `timestamp` is milliseconds since the epoch (a number).
 */
export class Event {
  constructor(kind, { timestamp = 0, eventId = undefined, data = {} } = {}) {
    this.kind = kind;
    this.timestamp = timestamp;
    this.eventId = eventId;
    this.data = data;
  }
}

/** One execution of one orchestrator function (`function* (context) {...}`). */
export class Executor {
  constructor(orchestrator, instanceId, { log = null } = {}) {
    this._orchestrator = orchestrator;
    this.state = new ReplayState(instanceId);
    this._background = new Background(this.state);
    const df = new DurableOrchestrationContext(this.state, this._background);
    const state = this.state;
    // `context.log(...)` and `context.info/warn/...(...)`: recorded once (not while replaying).
    this.context = { df, ...logMethods(log, () => !state.isReplaying) };
    this._runner = null;
    this._started = false;
    this.finished = false;
  }

  /** Applies `events` in order, running the orchestrator after each, and returns the actions
   * decided meanwhile in decision order. */
  step(events, replaying) {
    this.state.isReplaying = replaying;
    for (const event of events) {
      if (this.finished) break;
      this._apply(event, replaying);
      this._poll();
    }
    return this.state.takeActions();
  }

  _apply(event, replaying) {
    const state = this.state;
    const data = event.data;
    switch (event.kind) {
      case 'OrchestratorStarted':
        state.currentTimeMs = event.timestamp;
        state.timeKnown = true;
        state.isReplaying = replaying;
        break;
      case 'ExecutionStarted':
        if (this._started) return;
        this._started = true;
        if (!state.timeKnown) {
          state.currentTimeMs = event.timestamp;
          state.timeKnown = true;
        }
        state.input = parseJson(data.input ?? 'null');
        state.parentInstanceId = data.parentInstanceId ?? null;
        this._start();
        break;
      case 'TaskCompleted':
      case 'SubOrchestrationCompleted':
        state.resolve(data.taskId, true, parseJson(data.result));
        break;
      case 'TaskFailed':
      case 'SubOrchestrationFailed':
        state.resolve(data.taskId, false, null, data.failure);
        break;
      case 'EntityResponded':
        if (data.failure) state.resolve(data.taskId, false, null, data.failure);
        else state.resolve(data.taskId, true, parseJson(data.result));
        break;
      case 'TimerFired':
        state.resolve(data.timerId, true, null);
        break;
      case 'EntityLockGranted':
        state.resolve(data.taskId, true, null);
        break;
      case 'EventRaised':
        state.deliverEvent(data.name, parseJson(data.input));
        break;
      default:
      // Scheduling events echo actions (the host checks those); suspension, termination and
      // completion are the host's business.
    }
  }

  _start() {
    let result;
    try {
      result = this._orchestrator(this.context);
    } catch (error) {
      this._finish(new Resolved(0, false, null, Failure.fromException(error)));
      return;
    }
    if (isGenerator(result)) {
      this._runner = new GeneratorRunner(result);
    } else if (result !== null && typeof result === 'object' && typeof result.then === 'function') {
      // An `async` function: its awaits would not be replayed. Orchestrators yield tasks.
      result.then(undefined, () => {}); // its own failure is not the point
      const failure = new Failure(
        'TypeError',
        'the orchestrator returned a Promise: orchestrators are generator functions (`function*`) that `yield` durable tasks, not `async` functions',
        { nonRetriable: true },
      );
      this._finish(new Resolved(0, false, null, failure));
    } else {
      this._finish(new Resolved(0, true, result === undefined ? null : result));
    }
  }

  _poll() {
    if (this._runner === null) return;
    for (;;) {
      const before = this.state.progress();
      const done = this._runner.poll();
      if (done !== null) {
        this._runner = null;
        this._finish(done);
        return;
      }
      this._background.pollAll();
      if (this.state.progress() === before) return;
    }
  }

  _finish(done) {
    this.finished = true;
    this.state.ended = true;
    this._background.clear();
    const state = this.state;
    // Ending inside a critical section releases it.
    state.releaseLocks();
    if (!done.ok) {
      state.record('Fail', { failure: done.failure });
      return;
    }
    if (state.continueAsNew !== null) {
      const { input, preserve } = state.continueAsNew;
      const carried = preserve ? state.takeUnconsumedEvents().map(([name, value]) => [name, toJson(value)]) : [];
      state.record('ContinueAsNew', { input, preserveUnprocessedEvents: preserve, carriedEvents: carried });
      return;
    }
    let output;
    try {
      output = toJson(done.value);
    } catch (error) {
      const failure = new Failure('InvalidOutput', `the orchestrator's output is not JSON: ${error.message}`, { nonRetriable: true });
      state.record('Fail', { failure });
      return;
    }
    state.record('Complete', { result: output });
  }
}
