// `@azure/functions` inside a durable component. A Durable Functions app registers its HTTP
// starters and other triggers with `app.http(...)`, `app.timer(...)` and the like, beside its
// orchestrations, activities and entities. In a durable component there are no such triggers:
// `durable serve` answers Durable Functions' HTTP API itself (start, status, raise event,
// terminate, ... at /runtime/webhooks/durabletask), so these registrations are accepted and kept
// out of the component, and the app's source builds unchanged. `registeredTriggers()` says what
// was left out.

const triggers = [];

function accept(kind) {
  return (name, options) => {
    triggers.push({ kind, name });
    return options;
  };
}

/** Trigger registrations: accepted, never run (the host serves the HTTP API itself). */
export const app = {
  http: accept('http'),
  get: accept('http'),
  put: accept('http'),
  post: accept('http'),
  patch: accept('http'),
  deleteRequest: accept('http'),
  timer: accept('timer'),
  storageBlob: accept('storageBlob'),
  storageQueue: accept('storageQueue'),
  serviceBusQueue: accept('serviceBusQueue'),
  serviceBusTopic: accept('serviceBusTopic'),
  eventHub: accept('eventHub'),
  eventGrid: accept('eventGrid'),
  cosmosDB: accept('cosmosDB'),
  sql: accept('sql'),
  mySql: accept('mySql'),
  webPubSub: accept('webPubSub'),
  warmup: accept('warmup'),
  generic: accept('generic'),
  setup() {},
  hook: { appStart() {}, appTerminate() {}, preInvocation() {}, postInvocation() {} },
};

// Binding descriptors, as the real package builds them; nothing reads them here.
const binding = (type) => (options = {}) => ({ ...options, type });
const bindings = new Proxy({}, { get: (_, type) => (typeof type === 'string' ? binding(type) : undefined) });
export const input = bindings;
export const output = bindings;
export const trigger = bindings;

/** An HTTP response as handlers build them; never sent from a component. */
export class HttpResponse {
  constructor(init = {}) {
    Object.assign(this, init);
  }
}

/** An HTTP request as handlers receive them; never received in a component. */
export class HttpRequest {
  constructor(init = {}) {
    Object.assign(this, init);
  }
}

/** The trigger registrations left out of the component, in order: `{ kind, name }`. */
export function registeredTriggers() {
  return triggers.slice();
}
