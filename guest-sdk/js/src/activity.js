// Running one activity: its input parsed, its result as JSON text, its error as a `Failure`.
//
// Pure JavaScript, no WebAssembly: the component glue (`component.js`) calls `runActivity` from
// the `activity.run` export. A handler may be a plain function or an `async` one (any function
// returning a Promise or another thenable): then `runActivity` returns a Promise, which the
// export returns as it is. componentize-js awaits what an export returns, running the component's
// event loop (microtasks, and timers on the real clock: activities have one) until it settles, so
// the value the Promise resolves to is the activity's result and a rejection its failure.

import { Failure } from './failure.js';
import { parseJson, toJson } from './json.js';

/** Whether `value` is a Promise or another thenable. */
export function isThenable(value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') && typeof value.then === 'function';
}

function output(value) {
  try {
    return toJson(value);
  } catch (error) {
    throw Failure.fromException(error);
  }
}

/**
 * Runs `handler(input, context)` with `input` parsed from JSON text. Returns the result as JSON
 * text, or, when the handler returns a thenable, a Promise of it. A thrown error (or a rejection)
 * is thrown (or rejected) as a `Failure`, typed by the error's name or class.
 */
export function runActivity(handler, input, context) {
  let result;
  try {
    result = handler(parseJson(input), context);
  } catch (error) {
    throw Failure.fromException(error);
  }
  if (!isThenable(result)) return output(result);
  return Promise.resolve(result).then(output, (error) => {
    throw Failure.fromException(error);
  });
}
