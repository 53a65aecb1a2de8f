// Durable entities: small stateful actors addressed by `(name, key)`, as Durable Functions'
// `df.app.entity(name, handler)`.
//
// Pure JavaScript, no WebAssembly: the component glue (`component.js`) converts the host's
// `entity.execute-batch` call into `executeBatch` and its result back. `executeBatch` runs the
// operations one at a time, each against a fresh `DurableEntityContext` (`context.df`) over the
// state the previous ones left. Each operation is transactional: when the handler throws, the
// state goes back to what it was before that operation, the messages it sent are dropped, its
// result is the failure (typed by the error's name or class) and later operations still run.
// State is kept as JSON text between operations, so `getState` hands out a copy and only
// `setState` (or `destructOnExit`) changes it.

import { parseJson, toJson } from './json.js';
import { DurableError, Failure, INVALID_INPUT, UNKNOWN_FUNCTION } from './failure.js';
import { isThenable } from './activity.js';
import { logMethods } from './log.js';

/** Failure type of an operation the entity does not handle (`context.df.unknownOperation()`). */
export const UNKNOWN_OPERATION = 'UnknownOperation';

/** The address of an entity: its entity name and its key, as Durable Functions' `EntityId`. */
export class EntityId {
  constructor(name, key) {
    if (typeof name !== 'string' || name === '') throw new TypeError('an EntityId needs a name');
    if (key === undefined || key === null) throw new TypeError('an EntityId needs a key');
    this.name = name;
    this.key = String(key);
  }

  /** `@name@key`, as Durable Functions writes entity ids. */
  toString() {
    return `@${this.name}@${this.key}`;
  }
}

/** The `{name, key}` of an `EntityId` (or of any object with those fields). */
export function entityIdOf(entityId, what) {
  if (entityId === null || typeof entityId !== 'object' || typeof entityId.name !== 'string' || entityId.key === undefined) {
    throw new TypeError(`${what} takes an EntityId (new df.EntityId(name, key))`);
  }
  return { name: entityId.name, key: String(entityId.key) };
}

/** An entity operation name to send: names starting with `$` belong to the host's lock protocol
 * and are refused. */
export function operationNameOf(operationName) {
  const name = String(operationName);
  if (name.startsWith('$')) {
    throw new RangeError(`entity operation names starting with \`$\` are reserved (\`${name}\`)`);
  }
  return name;
}

/** Thrown by an operation the entity does not handle: `throw context.df.unknownOperation()`. */
export class UnknownOperation extends DurableError {
  constructor(message) {
    super(message, { nonRetriable: true });
    // Set by hand: a bundler may rename the class.
    this.name = UNKNOWN_OPERATION;
  }
}

/** A payload that is not JSON: the operation fails with a non-retriable `InvalidInput`. */
class InvalidInput extends DurableError {
  constructor(message) {
    super(message, { nonRetriable: true });
    this.name = INVALID_INPUT;
  }
}

/** JSON text of `value`, or an `InvalidInput` error naming `what`. */
function json(value, what) {
  try {
    return toJson(value);
  } catch (error) {
    throw new InvalidInput(`${what} is not JSON: ${error.message}`);
  }
}

/**
 * `context.df` inside an entity operation: the operation, its input, the entity's state and the
 * messages it sends. An action is `{kind: 'SignalEntity', entity, operation, input, scheduledAt}`
 * or `{kind: 'StartOrchestration', name, instanceId, input}`, payloads as JSON text.
 */
export class DurableEntityContext {
  constructor(id, operation, input, state) {
    this._id = id;
    this._operation = operation;
    this._input = input;
    // JSON text, or null when the entity has no state.
    this._state = state;
    this._result = 'null';
    this._actions = [];
  }

  /** The entity's id, an `EntityId`. */
  get entityId() {
    return new EntityId(this._id.name, this._id.key);
  }

  get entityName() {
    return this._id.name;
  }

  get entityKey() {
    return this._id.key;
  }

  /** The operation being run, e.g. `add`. */
  get operationName() {
    return this._operation;
  }

  /** True when the entity has no state yet (or it was deleted). */
  get isNewlyConstructed() {
    return this._state === null;
  }

  /** The operation's input (null when none was given). */
  getInput() {
    return parseJson(this._input);
  }

  /** A copy of the current state, or `initializer()` when the entity has none (undefined
   * without an initializer). */
  getState(initializer = undefined) {
    if (this._state === null) return typeof initializer === 'function' ? initializer() : undefined;
    return parseJson(this._state);
  }

  /** Replaces the state (any JSON value). */
  setState(state) {
    this._state = json(state === undefined ? null : state, 'the entity state');
  }

  /** Deletes the state: the entity no longer exists after this operation (unless a later
   * `setState` creates it again). */
  destructOnExit() {
    this._state = null;
  }

  /** Sets the operation's result, returned to a caller (`context.df.callEntity`). */
  return(value) {
    this._result = json(value, 'the entity operation result');
  }

  /** Signals `operationName` on another entity (sent when this operation succeeds). */
  signalEntity(entityId, operationName, operationInput = null) {
    const entity = entityIdOf(entityId, 'signalEntity');
    const input = json(operationInput, 'the entity operation input');
    this._actions.push({ kind: 'SignalEntity', entity, operation: operationNameOf(operationName), input, scheduledAt: null });
  }

  /** Starts the orchestrator `name` (when this operation succeeds); without `instanceId` the
   * host generates one. */
  startNewOrchestration(name, input = null, instanceId = undefined) {
    const payload = json(input, 'the orchestration input');
    this._actions.push({ kind: 'StartOrchestration', name: String(name), instanceId: instanceId ?? '', input: payload });
  }

  /** The error for an operation this entity does not handle: `throw context.df.unknownOperation()`. */
  unknownOperation() {
    return new UnknownOperation(`entity \`${this._id.name}\` has no operation named \`${this._operation}\``);
  }
}

function unknownEntity(name) {
  return new Failure(UNKNOWN_FUNCTION, `this component has no entity \`${name}\``, { nonRetriable: true });
}

/**
 * Runs `operations` (`[{name, input}]`, inputs as JSON text) of the entity `id` (`{name, key}`)
 * against `state` (JSON text, or null when the entity does not exist) with the handler
 * registered in `entities` (a Map). Returns `{results, state}`: one `{ok, value, failure,
 * actions}` per operation (`value` JSON text when ok, else `failure` a `Failure`), and the
 * state after the batch (null when the entity deleted itself). `log(level, message)` receives
 * the operations' log lines. A handler may be `async` (return a Promise): the operation ends when
 * it settles (a rejection is its failure), and once one does, the batch is returned as a Promise.
 */
export function executeBatch(entities, id, state, operations, { log = null } = {}) {
  const handler = entities.get(id.name);
  if (handler === undefined) {
    const results = operations.map(() => ({ ok: false, value: null, failure: unknownEntity(id.name), actions: [] }));
    return { results, state };
  }
  const results = [];
  const succeeded = (df) => {
    state = df._state;
    results.push({ ok: true, value: df._result, failure: null, actions: df._actions });
  };
  // The state stays what it was before a failed operation; its messages are dropped.
  const failed = (error) => results.push({ ok: false, value: null, failure: Failure.fromException(error), actions: [] });
  // Runs the operations from `first` on; an `async` one makes the rest wait for it (a Promise of
  // the batch is returned), so operations still run one at a time, in order.
  const runFrom = (first) => {
    for (let i = first; i < operations.length; i++) {
      const operation = operations[i];
      const df = new DurableEntityContext(id, operation.name, operation.input, state);
      const context = { df, ...logMethods(log) };
      let returned;
      try {
        returned = handler(context);
      } catch (error) {
        failed(error);
        continue;
      }
      if (isThenable(returned)) {
        return Promise.resolve(returned)
          .then(() => succeeded(df), failed)
          .then(() => runFrom(i + 1));
      }
      succeeded(df);
    }
    return { results, state };
  };
  return runFrom(0);
}
