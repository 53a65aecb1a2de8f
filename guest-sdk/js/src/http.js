// Durable HTTP: `context.df.callHttp(...)`, Durable Functions' built-in HTTP activity.
//
// Each request is one run of the host's built-in activity `durable:http` with the JSON request
// the Rust SDK sends (`{method, uri, headers, content, asynchronousPatternEnabled}`), so it is
// checkpointed like any activity. When the answer is `202 Accepted` with a `Location` header (the
// asynchronous operation pattern), the orchestration waits on a durable timer for the
// `Retry-After` seconds (30 when missing) and polls the location with a `GET`, until the answer
// is something else: every poll and every wait is in the history.

/** The name of the host's built-in activity that performs one HTTP request. */
export const HTTP_ACTIVITY = 'durable:http';

/** Wait between polls when a 202 answer has no usable `Retry-After`. */
const DEFAULT_POLL_INTERVAL_MS = 30000;

/**
 * The host's request from Durable Functions' options `{method, url, body, headers,
 * asynchronousPatternEnabled}` (`uri` and `content` are accepted too). A body that is not a
 * string is sent as JSON; header values are strings (lists are joined with `, `).
 */
export function httpRequest(options) {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('callHttp takes options: { method, url, body, headers, asynchronousPatternEnabled }');
  }
  const uri = options.url ?? options.uri;
  if (typeof uri !== 'string' || uri === '') throw new TypeError('callHttp needs a `url`');
  const headers = {};
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    headers[name] = Array.isArray(value) ? value.map(String).join(', ') : String(value);
  }
  const request = { method: String(options.method ?? 'GET').toUpperCase(), uri, headers };
  const body = options.body ?? options.content;
  if (body !== undefined && body !== null) request.content = typeof body === 'string' ? body : JSON.stringify(body);
  request.asynchronousPatternEnabled = options.asynchronousPatternEnabled ?? true;
  return request;
}

/** The answer `{statusCode, headers, content}` (header names lower-case), with Durable
 * Functions' `body` as an alias of `content` (not enumerable, so not in JSON). */
export function httpResponse(value) {
  const response = {
    statusCode: value?.statusCode ?? 0,
    headers: value?.headers ?? {},
    content: value?.content ?? '',
  };
  Object.defineProperty(response, 'body', { get: () => response.content, enumerable: false });
  return response;
}

function header(response, name) {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(response.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value;
  }
  return undefined;
}

/** Where a `202 Accepted` says to poll and how long to wait first (ms), or null. */
export function pollLocation(response) {
  if (response.statusCode !== 202) return null;
  const location = header(response, 'location');
  if (location === undefined) return null;
  const retryAfter = String(header(response, 'retry-after') ?? '').trim();
  const waitMs = /^[0-9]+$/.test(retryAfter) ? Number(retryAfter) * 1000 : DEFAULT_POLL_INTERVAL_MS;
  return { location, waitMs };
}

/**
 * Resolves a `Location` against the URI it came from: absolute URLs as they are, `/path`
 * against the origin, anything else against the directory of the URI.
 */
export function resolveLocation(base, location) {
  if (location.includes('://')) return location;
  const scheme = base.indexOf('://');
  let originEnd = base.length;
  if (scheme >= 0) {
    const slash = base.indexOf('/', scheme + 3);
    if (slash >= 0) originEnd = slash;
  }
  const origin = base.slice(0, originEnd);
  if (location.startsWith('/')) return `${origin}${location}`;
  const path = base.slice(originEnd).split(/[?#]/)[0];
  const slash = path.lastIndexOf('/');
  const dir = slash >= 0 ? path.slice(0, slash + 1) : '/';
  return `${origin}${dir}${location}`;
}

/**
 * The generator behind `callHttp`: the request, then while the answer is a 202 with a
 * `Location` (and polling is enabled), a durable timer and a `GET` of the location.
 * `callActivity(name, input)` and `createTimerAtMs(ms)` start the durable work; `nowMs()` is the
 * replay-safe time.
 */
export function* runHttp(request, { callActivity, createTimerAtMs, nowMs }) {
  let response = yield callActivity(HTTP_ACTIVITY, request);
  for (;;) {
    const poll = request.asynchronousPatternEnabled ? pollLocation(response) : null;
    if (poll === null) return httpResponse(response);
    yield createTimerAtMs(nowMs() + poll.waitMs);
    const next = { method: 'GET', uri: resolveLocation(request.uri, poll.location), headers: request.headers, asynchronousPatternEnabled: true };
    response = yield callActivity(HTTP_ACTIVITY, next);
  }
}
