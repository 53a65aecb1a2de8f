// Durable Functions' programming model (v4): what both `durable` (`index.js`) and
// `durable-functions` (`durable-functions.js`, with programming model v3's names) export.

import { DurableError } from './failure.js';

export { app } from './app.js';
export { EntityId, UnknownOperation } from './entity.js';
export { Task } from './tasks.js';
export { DurableLock, LockState } from './lock.js';
export { RetryOptions } from './retry.js';
export { DurableError, Failure, FailureCause, TaskFailedError } from './failure.js';

/** Durable Functions' client input binding (`extraInputs: [df.input.durableClient()]` on an
 * HTTP starter): accepted, for the starter is kept out of the component. */
export const input = {
  durableClient: (options = {}) => ({ ...options, type: 'durableClient', name: 'durableClient' }),
};

/** Durable Functions' orchestration client. A component has none: `durable serve` answers Durable
 * Functions' HTTP API itself, and the official clients (or `durable start`) drive it. */
export function getClient() {
  throw new DurableError(
    'getClient: a durable component has no orchestration client; start and manage instances '
      + 'through the HTTP API of `durable serve` (/runtime/webhooks/durabletask) or the '
      + '`durable` CLI, which HTTP starter functions are replaced by',
    { nonRetriable: true },
  );
}
