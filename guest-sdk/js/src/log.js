// Logging through the host, as the Azure Functions v4 `InvocationContext`: `context.log(...)`
// (info) and `context.trace/debug/info/warn/error(...)` on the context of orchestrators,
// activities and entities. Lines go to the host's `log` import, which tags them with the running
// instance; orchestrators drop them while replaying, so each line is recorded once.

export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error'];

function text(arg) {
  if (typeof arg === 'string') return arg;
  if (arg instanceof Error) return `${arg.name}: ${arg.message}`;
  if (arg === undefined || typeof arg === 'function' || typeof arg === 'symbol') return String(arg);
  try {
    return JSON.stringify(arg) ?? String(arg);
  } catch {
    return String(arg);
  }
}

/** The arguments of one log call as one line: strings as they are, other values as JSON. */
export function formatLog(args) {
  return args.map(text).join(' ');
}

/**
 * `{log, trace, debug, info, warn, error}` writing to `sink(level, message)` (nothing when the
 * sink is null) while `enabled()` is true.
 */
export function logMethods(sink, enabled = () => true) {
  const write = (level) => (...args) => {
    if (sink !== null && enabled()) sink(level, formatLog(args));
  };
  const methods = { log: write('info') };
  for (const level of LOG_LEVELS) methods[level] = write(level);
  return methods;
}
