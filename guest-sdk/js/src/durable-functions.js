// `durable-functions` inside a durable component: what `require('durable-functions')` and
// `import * as df from 'durable-functions'` resolve to when `durable build` bundles a Durable
// Functions app. It is this SDK's Durable Functions names (`df.js`: `df.app`, `df.EntityId`,
// `df.RetryOptions`, ... of programming model v4; not `config`, which is this SDK's own) plus
// the names of programming model v3 (`durable-functions` 1.x and 2.x): `df.orchestrator(function*
// ...)` and `df.entity(...)`, which function folders export (see `v3.js`), and the classes those
// apps import.

export * from './df.js';
export {
  DurableHttpRequest,
  DurableHttpResponse,
  EntityStateResponse,
  ManagedIdentityTokenSource,
  OrchestrationRuntimeStatus,
  entity,
  orchestrator,
} from './v3.js';
