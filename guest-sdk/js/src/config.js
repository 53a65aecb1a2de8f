// Configuration and secrets for activities: values the operator gives the host (`durable serve
// --config KEY=VALUE`, `--config KEY` from the host's environment, `--config-file FILE`), read
// through `wasi:config/store`. They live in the host's memory only: never in history, logs or the
// dashboard, unless the code puts them there (an activity's result is history).
//
//   import { config } from 'durable';
//
//   df.app.activity('charge', async (order) => {
//     const key = config.get('payments_api_key');
//     if (key === undefined) throw new Misconfigured('no payments_api_key is configured');
//     ...
//   });
//
// Activities only: orchestrators and entities must decide the same things on every replay, so
// their sandbox does not provide `wasi:config`, and reading a value there fails the orchestration
// (or the entity operation) with a `SandboxViolation`.
//
// The store is `wasi:config/store@0.2.0-rc.1` (world `sdk-component`, `wit/sdk/world.wit`):
// `component.js`, which only a component build loads, installs it.

import { DurableError } from './failure.js';

/** The host could not give the values (`wasi:config`'s `upstream` or `io` error), with its
 * message. Thrown out of an activity, it fails the activity with the type `ConfigError`, as the
 * Rust SDK's `config::get` does. */
export class ConfigError extends DurableError {}

let store = null;

/** Installs `wasi:config/store`'s `get` and `getAll` (the component glue does, and tests). */
export function installConfigStore(imports) {
  store = imports;
}

function theStore() {
  if (store === null) throw new Error('config works in an activity of a component built by `durable build`');
  return store;
}

/** `wasi:config/store`'s `error` (`{tag: 'upstream' | 'io', val: message}`, thrown by the
 * bindings as an error whose `payload` it is) as a `ConfigError`. */
export function configError(thrown) {
  const payload = thrown !== null && typeof thrown === 'object' && 'payload' in thrown ? thrown.payload : thrown;
  const message = payload !== null && typeof payload === 'object' && 'val' in payload ? payload.val : String(payload?.message ?? payload);
  return new ConfigError(String(message));
}

function read(call) {
  const imports = theStore();
  try {
    return call(imports);
  } catch (thrown) {
    throw configError(thrown);
  }
}

/** The operator's configuration, for activities. */
export const config = {
  /** The value of `key` (a string), or `undefined` when the operator gave none. */
  get(key) {
    return read((s) => s.get(String(key))) ?? undefined;
  },

  /** Every key the operator gave, with its value: `{key: value, ...}`. */
  getAll() {
    return Object.fromEntries(read((s) => s.getAll()));
  },
};
