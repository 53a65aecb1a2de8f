// The WIT glue: the exports of world `durable-component` (catalogue, orchestrator, activity,
// entity) implemented over `df.app`, for componentize-js, and the `wasi:config` import of world
// `sdk-component` that activities' `config` reads.
//
// Only usable inside a component build (it imports the host's `log` and `wasi:config/store`): `durable build`
// bundles an app with this module as the entry's exports. Converts the host's records (variants
// as `{tag, val}`, u64 timestamps as BigInt) into the replay module's `Event`s and its `Action`s
// back, and JavaScript errors into structured failures. A function returning `result<_, failure>`
// fails by throwing the failure record (a plain object, as componentize-js expects).

import { log as hostLog, version as hostVersion } from 'durable:core/host@0.1.0';
import { get as configGet, getAll as configGetAll } from 'wasi:config/store@0.2.0-rc.1';

import { runActivity } from './activity.js';
import { app } from './app.js';
import { installConfigStore } from './config.js';
import { installVersionSource } from './context.js';
import { executeBatch } from './entity.js';
import { Failure, FailureCause, UNKNOWN_FUNCTION } from './failure.js';
import { parseJson, toJson } from './json.js';
import { logMethods } from './log.js';
import { Event, Executor } from './replay.js';

installVersionSource(() => hostVersion());
// Activities' `config` (world `sdk-component`: `wit/sdk/world.wit`).
installConfigStore({ get: configGet, getAll: configGetAll });

// --- failures ---

const none = (value) => (value === null || value === undefined ? undefined : value);
const detailsToWit = (details) => (details === null || details === undefined ? undefined : toJson(details));
const detailsFromWit = (text) => (text === null || text === undefined ? null : parseJson(text));

export function failureToWit(failure) {
  return {
    errorType: String(failure.type),
    message: String(failure.message),
    details: detailsToWit(failure.details),
    stack: none(failure.stack),
    nonRetriable: Boolean(failure.nonRetriable),
    inner: failure.inner.map((c) => ({ errorType: c.type, message: c.message, details: detailsToWit(c.details) })),
  };
}

export function failureFromWit(failure) {
  return new Failure(failure.errorType, failure.message, {
    details: detailsFromWit(failure.details),
    stack: failure.stack ?? null,
    nonRetriable: failure.nonRetriable,
    inner: (failure.inner ?? []).map((c) => new FailureCause(c.errorType, c.message, detailsFromWit(c.details))),
  });
}

function unknown(what, name) {
  return failureToWit(new Failure(UNKNOWN_FUNCTION, `this component has no ${what} \`${name}\``, { nonRetriable: true }));
}

// --- events and actions ---

const camel = (tag) => tag.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase());

export function eventFromWit(event) {
  const { tag, val } = event.kind;
  let data = {};
  switch (tag) {
    case 'execution-started':
      data = { input: val.input, parentInstanceId: val.parent ? val.parent.instanceId : null };
      break;
    case 'task-completed':
    case 'sub-orchestration-completed':
      data = { taskId: val.taskId, result: val.result };
      break;
    case 'task-failed':
    case 'sub-orchestration-failed':
      data = { taskId: val.taskId, failure: failureFromWit(val.failure) };
      break;
    case 'timer-fired':
      data = { timerId: val.timerId };
      break;
    case 'entity-lock-granted':
      data = { taskId: val.taskId };
      break;
    case 'event-raised':
      data = { name: val.name, input: val.input };
      break;
    case 'entity-responded':
      data =
        val.result.tag === 'ok'
          ? { taskId: val.taskId, result: val.result.val, failure: null }
          : { taskId: val.taskId, result: null, failure: failureFromWit(val.result.val) };
      break;
    default:
  }
  return new Event(camel(tag), { timestamp: Number(event.timestamp), eventId: event.eventId, data });
}

export function actionToWit(action) {
  const d = action.data;
  let kind;
  switch (action.kind) {
    case 'ScheduleActivity':
      kind = { tag: 'schedule-activity', val: { name: d.name, input: d.input } };
      break;
    case 'StartTimer':
      kind = { tag: 'start-timer', val: { fireAt: BigInt(Math.max(0, Math.floor(d.fireAt))) } };
      break;
    case 'CancelTimer':
      kind = { tag: 'cancel-timer', val: d.timerId };
      break;
    case 'StartSubOrchestration':
      kind = { tag: 'start-sub-orchestration', val: { name: d.name, instanceId: d.instanceId, input: d.input } };
      break;
    case 'SendEvent':
      kind = { tag: 'send-event', val: { instanceId: d.instanceId, name: d.name, input: d.input } };
      break;
    case 'CallEntity':
      kind = { tag: 'call-entity', val: entityOperationToWit(d) };
      break;
    case 'SignalEntity':
      kind = { tag: 'signal-entity', val: entityOperationToWit(d) };
      break;
    case 'LockEntities':
      kind = { tag: 'lock-entities', val: { entities: d.entities.map((e) => ({ name: e.name, key: e.key })) } };
      break;
    case 'UnlockEntities':
      kind = { tag: 'unlock-entities', val: { entities: d.entities.map((e) => ({ name: e.name, key: e.key })) } };
      break;
    case 'SetCustomStatus':
      kind = { tag: 'set-custom-status', val: none(d.status) };
      break;
    case 'Complete':
      kind = { tag: 'complete', val: d.result };
      break;
    case 'Fail':
      kind = { tag: 'fail', val: failureToWit(d.failure) };
      break;
    case 'ContinueAsNew':
      kind = {
        tag: 'continue-as-new',
        val: {
          input: d.input,
          preserveUnprocessedEvents: d.preserveUnprocessedEvents,
          carriedEvents: d.carriedEvents.map(([name, input]) => ({ name, input })),
        },
      };
      break;
    default:
      throw new Error(`unknown action ${action.kind}`);
  }
  return { id: action.id, kind };
}

const timestampToWit = (ms) => (ms === null || ms === undefined ? undefined : BigInt(Math.max(0, Math.floor(ms))));

function entityOperationToWit(d) {
  return {
    entity: { name: d.entity.name, key: d.entity.key },
    operation: d.operation,
    input: d.input,
    scheduledAt: timestampToWit(d.scheduledAt),
  };
}

function entityActionToWit(action) {
  if (action.kind === 'SignalEntity') {
    const operation = { name: action.operation, input: action.input };
    return {
      tag: 'signal-entity',
      val: { entity: action.entity, operation, scheduledAt: timestampToWit(action.scheduledAt) },
    };
  }
  return {
    tag: 'start-orchestration',
    val: { name: action.name, instanceId: action.instanceId, input: action.input },
  };
}

function log(level, message) {
  try {
    hostLog(level, message);
  } catch {
    // Logging never fails an orchestration.
  }
}

// --- exports ---

class Orchestration {
  constructor(executor) {
    this._executor = executor;
  }

  static create(name, instanceId) {
    const orchestrator = app.orchestrators.get(name);
    if (orchestrator === undefined) throw unknown('orchestrator', name);
    return new Orchestration(new Executor(orchestrator, instanceId, { log }));
  }

  step(events, replaying) {
    const actions = this._executor.step(events.map(eventFromWit), replaying);
    return { actions: actions.map(actionToWit) };
  }
}

export const orchestrator = { Orchestration };

// An `async` activity (or entity operation) makes its export return a Promise. componentize-js
// awaits whatever an export returns and drives the component's event loop until it settles (a
// rejection of a `result<_, failure>` export with a failure record is its `err`), so the export
// stays synchronous for the host.
export const activity = {
  run(name, input, context) {
    const handler = app.activities.get(name);
    if (handler === undefined) throw unknown('activity', name);
    const activityContext = {
      instanceId: context.instanceId,
      taskId: context.taskId,
      attempt: context.attempt,
      ...logMethods(log),
    };
    let output;
    try {
      output = runActivity(handler, input, activityContext);
    } catch (failure) {
      throw failureToWit(failure);
    }
    if (typeof output === 'string') return output;
    return output.then(undefined, (failure) => {
      throw failureToWit(failure);
    });
  },
};

function batchToWit(batch) {
  return {
    results: batch.results.map((r) => ({
      result: r.ok ? { tag: 'ok', val: r.value } : { tag: 'err', val: failureToWit(r.failure) },
      actions: r.actions.map(entityActionToWit),
    })),
    state: none(batch.state),
  };
}

export const entity = {
  executeBatch(id, state, operations) {
    const batch = executeBatch(app.entities, { name: id.name, key: id.key }, state ?? null, operations, { log });
    return batch instanceof Promise ? batch.then(batchToWit) : batchToWit(batch);
  },
};

export const catalogue = {
  describe() {
    return {
      orchestrators: [...app.orchestrators.keys()],
      activities: [...app.activities.keys()],
      entities: [...app.entities.keys()],
    };
  },
};
