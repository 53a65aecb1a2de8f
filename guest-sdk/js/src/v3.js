// Durable Functions' JavaScript programming model v3 (the `durable-functions` 1.x and 2.x
// packages): an app is a set of function folders, each with a `function.json` naming its
// bindings and an `index.js` exporting the function:
//
//   HelloSequence/index.js   module.exports = df.orchestrator(function* (context) {...});
//   Counter/index.js         module.exports = df.entity(function (context) {...});
//   SayHello/index.js        module.exports = async function (context) {
//                              return `Hello ${context.bindings.name}!`;   // or (context, name)
//                            };
//
// `durable build` bundles every folder whose trigger is `orchestrationTrigger`,
// `activityTrigger` or `entityTrigger` and calls `registerFunctionFolders`, which registers each
// function on `df.app` under its folder's name, with the context the v3 model gives it:
// `context.df` (the orchestration or entity context, with v3's positional `callHttp`),
// `context.bindings`, `context.bindingData`, `context.log` (a function with `.error`, `.warn`,
// `.info` and `.verbose`), `context.invocationId`, `context.executionContext` and, for
// activities, `context.done(error, result)`. Folders of other triggers (HTTP starters with a
// `durableClient` binding, timers, queues) are left out, never imported: `durable serve` answers
// Durable Functions' HTTP API itself.
//
// Pure JavaScript: the unit tests run it against hand-built histories.

import { isThenable } from './activity.js';
import { app } from './app.js';
import { DurableError } from './failure.js';

const HANDLER = Symbol.for('durable.v3.handler');

/** The durable triggers, by the kind of function they make. */
const TRIGGERS = new Map([
  ['orchestrationtrigger', 'orchestrator'],
  ['activitytrigger', 'activity'],
  ['entitytrigger', 'entity'],
]);

function handledByTheHost(what) {
  return new DurableError(
    `${what} is run by durable's host, not called: \`durable build\` registers it under its function folder's name`,
    { nonRetriable: true },
  );
}

function wrap(kind, fn) {
  const handler = () => {
    throw handledByTheHost(`df.${kind}(...)`);
  };
  Object.defineProperty(handler, HANDLER, { value: { kind, fn } });
  return handler;
}

/**
 * Durable Functions v3's `df.orchestrator(function* (context) {...})`: the function a folder
 * with an `orchestrationTrigger` exports. Inside a component it is registered as the
 * orchestrator named after the folder.
 */
export function orchestrator(fn) {
  if (typeof fn !== 'function') throw new TypeError('df.orchestrator takes a generator function: function* (context) {...}');
  return wrap('orchestrator', fn);
}

/**
 * Durable Functions v3's `df.entity(function (context) {...})`: the function a folder with an
 * `entityTrigger` exports; registered as the entity named after the folder.
 */
export function entity(fn) {
  if (typeof fn !== 'function') throw new TypeError('df.entity takes a function of the entity context: function (context) {...}');
  return wrap('entity', fn);
}

/** An orchestration's runtime status, as Durable Functions names them. */
export const OrchestrationRuntimeStatus = Object.freeze({
  Running: 'Running',
  Completed: 'Completed',
  ContinuedAsNew: 'ContinuedAsNew',
  Failed: 'Failed',
  Canceled: 'Canceled',
  Terminated: 'Terminated',
  Pending: 'Pending',
  Suspended: 'Suspended',
});

/** Durable Functions' managed identity token source for `callHttp`: accepted, but a request
 * that carries one fails, for a component has no Azure managed identity. */
export class ManagedIdentityTokenSource {
  constructor(resource) {
    this.resource = resource;
    this.kind = 'AzureManagedIdentity';
  }
}

/** A durable HTTP request, as Durable Functions v3 describes one. */
export class DurableHttpRequest {
  constructor(method, uri, content = undefined, headers = undefined, tokenSource = undefined, asynchronousPatternEnabled = true) {
    this.method = method;
    this.uri = uri;
    this.content = content;
    this.headers = headers;
    this.tokenSource = tokenSource;
    this.asynchronousPatternEnabled = asynchronousPatternEnabled;
  }
}

/** A durable HTTP response, as Durable Functions v3 describes one. */
export class DurableHttpResponse {
  constructor(statusCode, content = undefined, headers = undefined) {
    this.statusCode = statusCode;
    this.content = content;
    this.headers = headers;
  }
}

/** An entity's state as a client reads it. */
export class EntityStateResponse {
  constructor(entityExists, entityState = undefined) {
    this.entityExists = entityExists;
    this.entityState = entityState;
  }
}

/** The kind of function a folder's `function.json` makes (`orchestrator`, `activity`,
 * `entity`), and its trigger binding; `{kind: null}` for other triggers. */
export function durableTrigger(functionJson) {
  const bindings = Array.isArray(functionJson?.bindings) ? functionJson.bindings : [];
  for (const binding of bindings) {
    const kind = TRIGGERS.get(String(binding?.type ?? '').toLowerCase());
    if (kind !== undefined) return { kind, binding };
  }
  return { kind: null, binding: null };
}

/**
 * The function a folder's module exports, as the Azure Functions Node.js worker picks it: the
 * export named by `entryPoint`; else `module.exports` (the default export) when it is a
 * function; else the only exported function; else one named `run` or `index`.
 */
export function entryOf(moduleNamespace, entryPoint, name) {
  const namespace = moduleNamespace ?? {};
  const exported = namespace.default;
  const scopes = [namespace];
  if (exported !== null && (typeof exported === 'object' || typeof exported === 'function')) scopes.push(exported);
  const lookup = (key) => {
    for (const scope of scopes) {
      if (typeof scope[key] === 'function') return scope[key];
    }
    return undefined;
  };
  if (entryPoint) {
    const found = lookup(entryPoint);
    if (found === undefined) throw new TypeError(`function \`${name}\`: its module exports no function \`${entryPoint}\` (its entryPoint)`);
    return found;
  }
  if (typeof exported === 'function') return exported;
  const functions = new Set();
  for (const scope of scopes) {
    for (const [key, value] of Object.entries(scope)) {
      if (key !== 'default' && typeof value === 'function') functions.add(value);
    }
  }
  if (functions.size === 1) return [...functions][0];
  const named = lookup('run') ?? lookup('index');
  if (named !== undefined) return named;
  throw new TypeError(
    `function \`${name}\`: its module exports ${functions.size === 0 ? 'no function' : 'several functions'}; export one (module.exports = ...) or name it with entryPoint in function.json`,
  );
}

/** `context.log` as Azure Functions v3 has it: a function (info) with `.error`, `.warn`,
 * `.info` and `.verbose`. */
function v3Log(context) {
  const log = (...args) => context.log(...args);
  log.error = (...args) => context.error(...args);
  log.warn = (...args) => context.warn(...args);
  log.info = (...args) => context.info(...args);
  log.verbose = (...args) => context.debug(...args);
  return log;
}

function invocation(name, invocationId) {
  return {
    invocationId,
    executionContext: { invocationId, functionName: name, functionDirectory: name, retryContext: null },
    traceContext: { traceparent: null, tracestate: null, attributes: {} },
  };
}

/** `context.df` of a v3 orchestrator: the orchestration context, with v3's positional
 * `callHttp(method, uri, content, headers, tokenSource, asynchronousPatternEnabled)`. */
function v3OrchestrationContext(df) {
  const v3 = Object.create(df);
  v3.callHttp = (method, uri, content = undefined, headers = undefined, tokenSource = undefined, asynchronousPatternEnabled = true) => {
    if (method !== null && typeof method === 'object') return df.callHttp(method);
    if (tokenSource !== undefined && tokenSource !== null) {
      throw new DurableError('callHttp with a tokenSource: a durable component has no Azure managed identity; send the token in `headers`', {
        nonRetriable: true,
      });
    }
    return df.callHttp({ method, url: uri, body: content, headers, asynchronousPatternEnabled });
  };
  return v3;
}

/** The orchestrator `fn` (a v3 generator function) as `df.app` runs orchestrators. */
function v3Orchestrator(name, fn, triggerName) {
  return (context) => {
    const df = v3OrchestrationContext(context.df);
    const binding = {
      get input() {
        return df.getInput();
      },
      get instanceId() {
        return df.instanceId;
      },
      get parentInstanceId() {
        return df.parentInstanceId;
      },
      get isReplaying() {
        return df.isReplaying;
      },
    };
    const v3 = {
      ...context,
      ...invocation(name, df.instanceId),
      df,
      log: v3Log(context),
      bindings: { [triggerName]: binding },
      bindingData: { instanceId: df.instanceId },
      done() {},
    };
    return fn(v3);
  };
}

/** The entity `fn` (a v3 entity function) as `df.app` runs entities. */
function v3Entity(name, fn, triggerName) {
  return (context) => {
    const df = context.df;
    const v3 = {
      ...context,
      ...invocation(name, `${df.entityName}@${df.entityKey}`),
      df,
      log: v3Log(context),
      bindings: { [triggerName]: { self: df.entityId, exists: !df.isNewlyConstructed } },
      bindingData: {},
      done() {},
    };
    return fn(v3);
  };
}

/**
 * The activity `fn` (`(context, input) => result`, or `async`, or calling
 * `context.done(error, result)`) as `df.app` runs activities: its input is the second argument
 * and `context.bindings[<trigger binding name>]`; its result is what it returns (or resolves to),
 * or else what it passes to `context.done`.
 */
function v3Activity(name, fn, triggerName) {
  return (input, context) => {
    let done = null;
    let settle = null;
    const context3 = {
      ...context,
      ...invocation(name, `${context.instanceId}:${context.taskId}:${context.attempt}`),
      log: v3Log(context),
      bindings: { [triggerName]: input },
      bindingData: { [triggerName]: input, instanceId: context.instanceId },
      done(error = null, result = undefined) {
        if (done !== null) return;
        done = { error, result };
        if (settle !== null) settle(done);
      },
    };
    const returned = fn(context3, input);
    const outcome = ({ error, result }) => {
      if (error !== null && error !== undefined) throw error;
      return result;
    };
    if (isThenable(returned)) {
      return Promise.resolve(returned).then((value) => (value === undefined && done !== null ? outcome(done) : value));
    }
    if (returned !== undefined) return returned;
    if (done !== null) return outcome(done);
    // Not `async` and not done yet: it calls `context.done` later (after a timer, say).
    return new Promise((resolve) => {
      settle = resolve;
    }).then(outcome);
  };
}

/**
 * Registers function folders on `df.app`: `folders` is `[{name, functionJson, module}]`, where
 * `module` is the namespace of the folder's script (`import * as module`; a CommonJS
 * `module.exports` is its `default`). Each orchestrator, activity and entity is registered under
 * its folder's name; folders of other triggers are skipped. Returns what was registered:
 * `[{name, kind}]`.
 */
export function registerFunctionFolders(folders, target = app) {
  const registered = [];
  for (const { name, functionJson, module } of folders) {
    if (functionJson?.disabled === true) continue;
    const { kind, binding } = durableTrigger(functionJson);
    if (kind === null) continue;
    const exported = entryOf(module, functionJson?.entryPoint, name);
    const wrapped = exported[HANDLER];
    const triggerName = String(binding.name ?? (kind === 'activity' ? 'input' : 'context'));
    if (kind === 'orchestrator') {
      if (wrapped !== undefined && wrapped.kind !== 'orchestrator') {
        throw new TypeError(`function \`${name}\` has an orchestrationTrigger but exports df.${wrapped.kind}(...); export df.orchestrator(function* (context) {...})`);
      }
      const fn = wrapped?.fn ?? exported;
      if (wrapped === undefined && fn.constructor?.name !== 'GeneratorFunction') {
        throw new TypeError(`function \`${name}\` has an orchestrationTrigger: export df.orchestrator(function* (context) {...})`);
      }
      target.orchestration(name, v3Orchestrator(name, fn, triggerName));
    } else if (kind === 'entity') {
      if (wrapped !== undefined && wrapped.kind !== 'entity') {
        throw new TypeError(`function \`${name}\` has an entityTrigger but exports df.${wrapped.kind}(...); export df.entity(function (context) {...})`);
      }
      target.entity(name, v3Entity(name, wrapped?.fn ?? exported, triggerName));
    } else {
      if (wrapped !== undefined) {
        throw new TypeError(`function \`${name}\` has an activityTrigger but exports df.${wrapped.kind}(...); export the activity function itself`);
      }
      target.activity(name, v3Activity(name, exported, triggerName));
    }
    registered.push({ name, kind });
  }
  return registered;
}
