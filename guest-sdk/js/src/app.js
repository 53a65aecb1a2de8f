// The registry of a component's orchestrators, activities and entities, as Durable Functions' `df.app`
// (programming model v4): one JavaScript file registers everything the component offers.

class App {
  constructor() {
    this.orchestrators = new Map();
    this.activities = new Map();
    this.entities = new Map();
    // Durable Functions' client triggers (`df.app.client.http(...)`: an HTTP starter with a
    // durable client): accepted and kept out of the component, whose host serves Durable
    // Functions' HTTP API itself (see `functions.js`).
    this.client = new Proxy({}, { get: () => () => undefined });
  }

  /** Registers a generator function `function* (context) {...}` as the orchestrator `name`.
   * `handler` may also be given as `{ handler }`. */
  orchestration(name, handler) {
    register(this.orchestrators, 'orchestration', name, handler);
  }

  /** Registers a function `(input, context) => value` as the activity `name`; `handler` may
   * also be given as `{ handler }`. It may be `async` (return a Promise): the value the Promise
   * resolves to is the result, a rejection the activity's failure. */
  activity(name, handler) {
    register(this.activities, 'activity', name, handler);
  }

  /** Registers a function `(context) => {...}` as the entity `name`: it runs one operation,
   * dispatching on `context.df.operationName`; `handler` may also be given as `{ handler }`. It
   * may be `async`: the operation ends when its Promise settles (a rejection is its failure). */
  entity(name, handler) {
    register(this.entities, 'entity', name, handler);
  }
}

function register(table, what, name, handler) {
  if (typeof name !== 'string' || name === '') throw new TypeError(`an ${what} needs a name`);
  if (handler !== null && typeof handler === 'object') handler = handler.handler;
  if (typeof handler !== 'function') throw new TypeError(`the ${what} \`${name}\` needs a handler function`);
  if (table.has(name)) throw new Error(`\`${name}\` is registered twice`);
  table.set(name, handler);
}

/** The component's one registry: `df.app.orchestration(...)`, `df.app.activity(...)`,
 * `df.app.entity(...)`. */
export const app = new App();
