// The conformance scenarios (`tests/conformance/*.json`) run natively against the JavaScript SDK.
//
// A small port of the host's side of `durable replay --scenario`, so a scenario checks the SDK
// in milliseconds instead of through a built component:
//
// - `scenarioHistory` builds the engine's history from a scenario exactly as
//   `host/src/inspect/scenario.rs` (`Scenario::history`, `written_event`) does;
// - `replayTurn` is `host/src/inspect.rs`'s `replay_turn`, with `HostReplay` porting the parts of
//   `ReplayState` (`host/src/replay.rs`) it uses: the kind and name scheduled per sequence id,
//   `check_replayed`, `finish_replay`, `begin_turn` and `finish_turn`'s checks and outcome;
// - `readable` and `compare` are `scenario.rs`'s, and `verdict` prints a failure as it does.
//
// Events and actions are objects in the engine's JSON form (`types::HistoryEvent`,
// `types::Action`: a `type`, camelCase fields, payloads as JSON text). The guest side is the real
// SDK, WIT glue included: the app and `src/component.js` are imported natively with the module
// resolution `durable build` gives them, and `eventToWit` / `actionFromWit` convert as
// `host/src/wasm/bindings.rs` does, in componentize-js's representation (variants as
// `{tag, val}`, u64 as BigInt, none as undefined).
import fs from 'node:fs';
import { register } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..', '..');
export const SCENARIO_DIR = path.join(REPO, 'tests', 'conformance');
const APP_FILE = path.join(REPO, 'tests', 'guests', 'js-conformance', 'app.js');
const SDK_DIR = path.resolve(HERE, '..', 'src');

// scenario.rs constants.
const DEFAULT_INSTANCE_ID = 'conformance';
const EXECUTION_ID = 'e1';
const TURN_SPACING_MS = 1000;
const SCENARIO_KEYS = ['name', 'description', 'orchestrator', 'input', 'instanceId', 'history', 'newEvents', 'expect'];
const EXPECT_KEYS = ['status', 'actions', 'output', 'failure', 'failedBy', 'newInput', 'customStatus', 'replayedActions'];
// types::failure_types that only the host produces (inspect.rs `is_host_type`).
const HOST_FAILURE_TYPES = ['NonDeterminism', 'Trap', 'ResourceLimit', 'SandboxViolation', 'UnknownFunction'];

// --- JSON as serde_json sees it ---

// The host's serde_json has no `preserve_order`: its maps are sorted by key.
const sortKeys = (v) =>
  Array.isArray(v)
    ? v.map(sortKeys)
    : v !== null && typeof v === 'object'
      ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys(v[k])]))
      : v;

/** JSON text as serde_json writes a `Value`: compact, keys sorted. */
const toText = (value) => JSON.stringify(sortKeys(value ?? null));

/** scenario.rs `decode`: JSON text as a value; text that is not JSON stays a string. */
function decode(text) {
  if (typeof text !== 'string') return text;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** serde_json `Value` equality (a missing value is `null`). */
function same(a, b) {
  a ??= null;
  b ??= null;
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => same(x, b[i]));
  }
  if (a !== null && b !== null && typeof a === 'object' && typeof b === 'object') {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => k in b && same(a[k], b[k]));
  }
  return a === b;
}

// --- scenarios ---

export function scenarioFiles() {
  return fs
    .readdirSync(SCENARIO_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => path.join(SCENARIO_DIR, f));
}

/** Reads a scenario and checks its keys as `Scenario::load` does. */
export function loadScenario(file) {
  const scenario = JSON.parse(fs.readFileSync(file, 'utf8'));
  const unknown = [
    ...Object.keys(scenario).filter((k) => !SCENARIO_KEYS.includes(k)),
    ...Object.keys(scenario.expect ?? {}).filter((k) => !EXPECT_KEYS.includes(k)),
  ];
  if (unknown.length > 0 || !scenario.name || !scenario.orchestrator || !scenario.expect) {
    throw new Error(`${file}: not a conformance scenario (unknown keys: ${unknown.join(', ')})`);
  }
  return scenario;
}

/** A turn is a list of events or `{time: MS, events: [...]}`. */
const splitTurn = (turn) => (Array.isArray(turn) ? { time: undefined, events: turn } : turn);

const DEFAULTS = {
  TaskScheduled: { input: null },
  EventRaised: { input: null },
  ContinuedAsNew: { input: null },
  EventSent: { input: null, instanceId: '' },
  SubOrchestrationCreated: { input: null, instanceId: '' },
  TaskCompleted: { result: null },
  SubOrchestrationCompleted: { result: null },
};

/** scenario.rs `written_event`: defaults, and payloads written as values become JSON text.
 * `eventId` and `timestamp` stay as written (undefined when not). */
function writtenEvent(value, at) {
  const event = { ...DEFAULTS[value.type], ...(value.type === 'TimerFired' ? { fireAt: at } : {}), ...value };
  if (event.type !== 'EntityResponded') {
    // Its `result` is `{Ok: text}` or `{Err: failure}`.
    for (const key of ['input', 'result']) if (key in event) event[key] = toText(event[key]);
  }
  if (event.failure && 'details' in event.failure) {
    event.failure = { ...event.failure, details: toText(event.failure.details) };
  }
  return event;
}

function written(scenario, events, at, first) {
  const out = events.map((e) => writtenEvent(e, at));
  if (first && !out.some((e) => e.type === 'ExecutionStarted')) {
    out.unshift({
      type: 'ExecutionStarted',
      name: scenario.orchestrator,
      instanceId: scenario.instanceId ?? DEFAULT_INSTANCE_ID,
      executionId: EXECUTION_ID,
      input: toText(scenario.input),
    });
  }
  return out;
}

/** `Scenario::history`: the committed history (each turn opened by `OrchestratorStarted`,
 * scheduling events numbered by sequence id, the others by position), and the new turn's time
 * and events (without ids: `beginTurn` numbers them). */
export function scenarioHistory(scenario) {
  const history = [];
  let time = 0;
  let sequence = 0;
  const turns = scenario.history ?? [];
  turns.forEach((turn, index) => {
    const { time: writtenTime, events } = splitTurn(turn);
    time = writtenTime ?? time + TURN_SPACING_MS;
    history.push({ eventId: undefined, timestamp: time, type: 'OrchestratorStarted' });
    for (const event of written(scenario, events, time, index === 0)) {
      const isScheduled = scheduled(event) !== null;
      const eventId = event.eventId ?? (isScheduled ? sequence : undefined);
      if (isScheduled) sequence = eventId + 1;
      history.push({ ...event, eventId, timestamp: event.timestamp ?? time });
    }
  });
  const { time: writtenTime, events } = splitTurn(scenario.newEvents ?? []);
  const at = writtenTime ?? time + TURN_SPACING_MS;
  const newEvents = written(scenario, events, at, turns.length === 0).map(({ eventId, timestamp, ...kind }) => kind);
  return { history, at, newEvents };
}

// --- the host's replay checks (replay.rs) ---

/** replay.rs `Scheduled::of_action` and `of_event` in one (an action and the event recording
 * it have the same fields): `{key, text}`, where `key` is what determinism is checked on and
 * `text` how messages name it; null for anything else. */
function scheduled(item) {
  const { name, operation, entity } = item;
  switch (item.type) {
    case 'ScheduleActivity':
    case 'TaskScheduled':
      return { key: `activity ${name}`, text: `activity \`${name}\`` };
    case 'StartTimer':
    case 'TimerCreated':
      return TIMER;
    case 'StartSubOrchestration':
    case 'SubOrchestrationCreated':
      return { key: `sub ${name}`, text: `sub-orchestration \`${name}\`` };
    case 'SendEvent':
    case 'EventSent':
      return { key: JSON.stringify(['send', item.instanceId, name]), text: `event \`${name}\` to \`${item.instanceId}\`` };
    case 'CallEntity':
    case 'EntityCalled': {
      const text = `call \`${operation}\` on entity \`${entity.name}@${entity.key}\``;
      return { key: JSON.stringify(['call', entity, operation]), text };
    }
    case 'SignalEntity':
    case 'EntitySignalled': {
      const text = `signal \`${operation}\` to entity \`${entity.name}@${entity.key}\``;
      return { key: JSON.stringify(['signal', entity, operation]), text };
    }
    case 'LockEntities':
    case 'EntityLockRequested':
      return { key: JSON.stringify(['lock', item.entities]), text: `a lock on ${item.entities.length} entities` };
    default:
      return null;
  }
}

const TIMER = { key: 'timer', text: 'a timer' };

// replay.rs `finish_turn`: the history event each action records.
const RECORDED = {
  ScheduleActivity: 'TaskScheduled',
  StartTimer: 'TimerCreated',
  CancelTimer: 'TimerCancelled',
  StartSubOrchestration: 'SubOrchestrationCreated',
  SendEvent: 'EventSent',
  CallEntity: 'EntityCalled',
  SignalEntity: 'EntitySignalled',
  LockEntities: 'EntityLockRequested',
  UnlockEntities: 'EntityUnlocked',
  Complete: 'ExecutionCompleted',
  Fail: 'ExecutionCompleted',
  ContinueAsNew: 'ContinuedAsNew',
};

class NonDeterminism extends Error {
  /** `NonDeterminism::into_failure`, in the engine's form. */
  failure() {
    const hint =
      "the orchestrator's code changed in a way that does not match its recorded history; deploy the change as " +
      'a new component (running instances stay pinned to the old one)';
    return { type: 'NonDeterminism', message: this.message, details: toText({ hint }), nonRetriable: true };
  }
}

/** The parts of replay.rs `ReplayState` that `replayTurn` needs. */
class HostReplay {
  constructor(history) {
    this.scheduled = []; // by sequence id
    this.openTimers = new Set();
    this.historyLen = 0;
    this.decided = 0; // one past the highest sequence id the guest decided
    this.finished = false;
    for (const event of history) this.observe(event);
  }

  observe(event) {
    this.historyLen += 1;
    const recorded = scheduled(event);
    if (recorded !== null) {
      while (this.scheduled.length <= event.eventId) this.scheduled.push(TIMER);
      this.scheduled[event.eventId] = recorded;
    }
    if (event.type === 'TimerCreated') this.openTimers.add(event.eventId);
    else if (event.type === 'TimerFired' || event.type === 'TimerCancelled') this.openTimers.delete(event.timerId);
    else if (['ExecutionCompleted', 'ContinuedAsNew', 'ExecutionTerminated'].includes(event.type)) this.finished = true;
  }

  checkReplayed(actions) {
    for (const action of actions) {
      const decided = scheduled(action);
      if (decided === null) continue;
      const step = action.id;
      const recorded = this.scheduled[step];
      if (recorded === undefined) {
        throw new NonDeterminism(
          `step ${step}: code scheduled ${decided.text}, history has nothing at this step ` +
            `(the recorded run scheduled ${this.scheduled.length} steps)`,
        );
      }
      if (recorded.key !== decided.key) {
        throw new NonDeterminism(`step ${step}: code scheduled ${decided.text}, history has ${recorded.text}`);
      }
      this.decided = Math.max(this.decided, step + 1);
    }
  }

  finishReplay() {
    const recorded = this.scheduled[this.decided];
    if (recorded !== undefined) {
      throw new NonDeterminism(`step ${this.decided}: history has ${recorded.text}, code did not schedule it`);
    }
  }

  beginTurn(now, messages) {
    const kinds = [{ type: 'OrchestratorStarted' }, ...messages];
    return kinds.map((kind) => ({ ...kind, eventId: undefined, timestamp: now }));
  }

  /** Returns `{customStatus, outcome}`: `customStatus` is `{status}` when the turn set or cleared
   * it, `outcome` is `{status, payload}` when the execution ended. */
  finishTurn(events, actions, now) {
    for (const event of events) this.observe(event);
    let customStatus = null;
    let outcome = null;
    for (const action of actions) {
      if (outcome !== null) break; // nothing after completion counts
      const { id: step, type, ...fields } = action;
      const decided = scheduled(action);
      if (decided !== null) {
        const recorded = this.scheduled[step];
        if (recorded !== undefined) {
          // Already recorded: a guest re-deciding old steps.
          if (recorded.key !== decided.key) {
            throw new NonDeterminism(`step ${step}: code scheduled ${decided.text}, history has ${recorded.text}`);
          }
          continue;
        }
        if (step !== this.scheduled.length) {
          throw new NonDeterminism(`step ${step}: code skipped sequence ids (expected step ${this.scheduled.length})`);
        }
        this.decided = Math.max(this.decided, step + 1);
      }
      if (type === 'SetCustomStatus') customStatus = { status: action.status };
      else if (type === 'Complete') outcome = { status: 'Completed', payload: action.result };
      else if (type === 'Fail') outcome = { status: 'Failed', payload: action.failure };
      else if (type === 'ContinueAsNew') outcome = { status: 'ContinuedAsNew', payload: action.input };
      if (!(type in RECORDED) || (type === 'CancelTimer' && !this.openTimers.has(action.timerId))) continue;
      const eventId = decided !== null ? step : undefined;
      this.observe({ ...fields, type: RECORDED[type], eventId, timestamp: now });
    }
    if (outcome !== null) this.openTimers.clear(); // outstanding timers die with the execution
    return { customStatus, outcome };
  }
}

/** replay.rs `split_turns`: each turn starts at an `OrchestratorStarted` event. */
function splitTurns(history) {
  const turns = [];
  history.forEach((event, i) => {
    if (turns.length === 0 || (i > 0 && event.type === 'OrchestratorStarted')) turns.push([]);
    turns.at(-1).push(event);
  });
  return turns;
}

// --- the guest: the SDK's component exports, fed as bindings.rs feeds them ---

const kebab = (type) => type.replace(/[A-Z]/g, (c, i) => (i > 0 ? '-' : '') + c.toLowerCase());
const pascal = (tag) => tag.replace(/(^|-)([a-z])/g, (_, __, c) => c.toUpperCase());
const optional = (value) => (value === null || value === undefined ? undefined : value);
const u64 = (value) => (value === null || value === undefined ? undefined : BigInt(value));

function failureToWit(f) {
  return {
    errorType: f.type,
    message: f.message,
    details: optional(f.details),
    stack: optional(f.stack),
    nonRetriable: f.nonRetriable ?? false,
    inner: (f.inner ?? []).map((c) => ({ errorType: c.type, message: c.message, details: optional(c.details) })),
  };
}

/** `types::Failure` as serde writes it (empty fields left out). */
function failureFromWit(f) {
  const details = (d) => (d === null || d === undefined ? {} : { details: d });
  const out = { type: f.errorType, message: f.message, ...details(f.details) };
  if (f.stack !== null && f.stack !== undefined) out.stack = f.stack;
  out.nonRetriable = f.nonRetriable;
  if (f.inner.length > 0) {
    out.inner = f.inner.map((c) => ({ type: c.errorType, message: c.message, ...details(c.details) }));
  }
  return out;
}

/** `From<&HistoryEvent> for wit::HistoryEvent`. */
function eventToWit({ eventId, timestamp, type, ...fields }) {
  let val;
  switch (type) {
    case 'OrchestratorStarted':
      val = undefined;
      break;
    case 'ExecutionSuspended':
    case 'ExecutionResumed':
    case 'ExecutionTerminated':
      val = optional(fields.reason);
      break;
    case 'ContinuedAsNew':
      val = fields.input;
      break;
    case 'EntityResponded': {
      const { Ok, Err } = fields.result;
      const result = Err === undefined ? { tag: 'ok', val: Ok } : { tag: 'err', val: failureToWit(Err) };
      val = { taskId: fields.taskId, result };
      break;
    }
    default:
      val = { ...fields };
      if (val.failure) val.failure = failureToWit(val.failure);
      if ('parent' in val) val.parent = optional(val.parent);
      if ('fireAt' in val) val.fireAt = u64(val.fireAt);
      if ('scheduledAt' in val) val.scheduledAt = u64(val.scheduledAt);
  }
  return { eventId, timestamp: BigInt(timestamp), kind: { tag: kebab(type), val } };
}

/** `From<wit::Action> for Action`, then serde's form. */
function actionFromWit({ id, kind: { tag, val } }) {
  let fields;
  switch (tag) {
    case 'start-timer':
      fields = { fireAt: Number(val.fireAt) };
      break;
    case 'cancel-timer':
      fields = { timerId: val };
      break;
    case 'set-custom-status':
      fields = { status: val ?? null };
      break;
    case 'complete':
      fields = { result: val };
      break;
    case 'fail':
      fields = { failure: failureFromWit(val) };
      break;
    case 'continue-as-new':
      fields = { input: val.input, preserveUnprocessedEvents: val.preserveUnprocessedEvents };
      if (val.carriedEvents.length > 0) {
        fields.carriedEvents = val.carriedEvents.map(({ name, input }) => ({ name, input }));
      }
      break;
    case 'call-entity':
    case 'signal-entity':
      fields = { entity: val.entity, operation: val.operation, input: val.input };
      if (val.scheduledAt !== null && val.scheduledAt !== undefined) fields.scheduledAt = Number(val.scheduledAt);
      break;
    default:
      fields = { ...val }; // schedule-activity, start-sub-orchestration, send-event, (un)lock-entities
  }
  return { id, type: pascal(tag), ...fields };
}

class GuestFailed extends Error {
  constructor(failure) {
    super(failure.message);
    this.failure = failure;
  }
}

/** One orchestration instance of the conformance app, through the component's exports. */
class Guest {
  constructor(handle) {
    this.handle = handle;
  }

  /** `Orchestration.create`: a thrown failure record is the result's `err` (an unknown name). */
  static start(Orchestration, name, instanceId) {
    try {
      return new Guest(Orchestration.create(name, instanceId));
    } catch (error) {
      throw error instanceof Error ? trap(error) : new GuestFailed(failureFromWit(error));
    }
  }

  step(events, replaying, now) {
    // In the sandbox the wall clock is the turn's time (host/src/wasm/sandbox.rs).
    const realNow = Date.now;
    Date.now = () => now;
    try {
      return this.handle.step(events.map(eventToWit), replaying).actions.map(actionFromWit);
    } catch (error) {
      throw trap(error);
    } finally {
      Date.now = realNow;
    }
  }
}

/** An exception escaping an export traps the component (wasm/mod.rs `classify`). */
function trap(error) {
  const message = `the guest trapped: ${error}`;
  return new GuestFailed({ type: 'Trap', message, stack: String(error?.stack), nonRetriable: true });
}

// How `durable build` resolves imports (build/bundle.mjs): `durable` is this SDK. The host's
// `durable:core/host@0.1.0` (`log` and `version`, used by component.js) becomes a module that
// drops lines and has no version, and `wasi:config/store@0.2.0-rc.1` one with no values.
const HOOKS = `
const SDK = ${JSON.stringify(pathToFileURL(path.join(SDK_DIR, 'index.js')).href)};
const HOST = 'data:text/javascript,export function log() {} export function version() {}';
const CONFIG = 'data:text/javascript,export function get() {} export function getAll() { return []; }';
export async function resolve(specifier, context, next) {
  if (specifier === 'durable') return { url: SDK, shortCircuit: true };
  if (specifier === 'durable:core/host@0.1.0') return { url: HOST, shortCircuit: true };
  if (specifier === 'wasi:config/store@0.2.0-rc.1') return { url: CONFIG, shortCircuit: true };
  return next(specifier, context);
}`;

/** Imports the conformance app and the component glue natively; returns the glue's
 * `Orchestration` resource (the app's registrations are in the same `app`). */
export async function loadConformanceApp() {
  register(`data:text/javascript,${encodeURIComponent(HOOKS)}`);
  await import(pathToFileURL(APP_FILE).href);
  const { orchestrator } = await import(pathToFileURL(path.join(SDK_DIR, 'component.js')).href);
  return orchestrator.Orchestration;
}

// --- inspect.rs `replay_turn` ---

/** `ReplayReport` as serde writes it (absent fields left out, except `customStatus`). */
function report(status, actions, customStatus, replayed, extra = {}) {
  return { status, actions, ...extra, customStatus, replayedActions: replayed };
}

const hostFailure = (failure, customStatus, replayed, actions = []) =>
  report('Failed', actions, customStatus, replayed, { failure, failedBy: 'host' });

/** inspect.rs `ended`: the report for a history that already holds its execution's end. */
function ended(history, customStatus, replayed) {
  for (const event of [...history].reverse()) {
    if (event.type === 'ExecutionCompleted' && event.failure) {
      const byHost = event.failure.nonRetriable && HOST_FAILURE_TYPES.includes(event.failure.type);
      const failedBy = byHost ? 'host' : 'orchestrator';
      return report('Failed', [], customStatus, replayed, { failure: event.failure, failedBy });
    }
    const end = (status, extra) => report(status, [], customStatus, replayed, extra);
    if (event.type === 'ExecutionCompleted') return end('Completed', { output: event.result ?? 'null' });
    if (event.type === 'ContinuedAsNew') return end('ContinuedAsNew', { newInput: event.input });
    if (event.type === 'ExecutionTerminated') return end('Terminated');
  }
  return report('Running', [], customStatus, replayed);
}

/** Replays `history` with `replaying = true`, checking every decision as the engine does after a
 * restart, then runs the new turn live, unless the history has already ended. */
export function replayTurn(Orchestration, orchestrator, history, at, newEvents) {
  const started = [...history, ...newEvents].find((e) => e.type === 'ExecutionStarted');
  if (!started) throw new Error('neither the history nor the new events have an ExecutionStarted event');
  const replay = new HostReplay(history);
  let customStatus = null;
  let replayed = 0;
  let guest;
  try {
    guest = Guest.start(Orchestration, orchestrator, started.instanceId);
  } catch (error) {
    if (error instanceof GuestFailed) return hostFailure(error.failure, null, 0);
    throw error;
  }
  try {
    for (const turn of splitTurns(history)) {
      const actions = guest.step(turn, true, turn[0].type === 'OrchestratorStarted' ? turn[0].timestamp : 0);
      replayed += actions.length;
      for (const action of actions) if (action.type === 'SetCustomStatus') customStatus = action.status;
      replay.checkReplayed(actions);
    }
    replay.finishReplay();
  } catch (error) {
    if (error instanceof NonDeterminism) return hostFailure(error.failure(), customStatus, replayed);
    if (error instanceof GuestFailed) return hostFailure(error.failure, customStatus, replayed);
    throw error;
  }
  // The engine drops messages for an ended execution.
  if (replay.finished) return ended(history, customStatus, replayed);
  const events = replay.beginTurn(at, newEvents);
  let actions;
  try {
    actions = guest.step(events, false, at);
  } catch (error) {
    if (error instanceof GuestFailed) return hostFailure(error.failure, customStatus, replayed);
    throw error;
  }
  let plan;
  try {
    plan = replay.finishTurn(events, actions, at);
  } catch (error) {
    if (error instanceof NonDeterminism) return hostFailure(error.failure(), customStatus, replayed, actions);
    throw error;
  }
  if (plan.customStatus !== null) customStatus = plan.customStatus.status;
  const { outcome } = plan;
  if (outcome === null) return report('Running', actions, customStatus, replayed);
  const extra = {
    Completed: { output: outcome.payload },
    Failed: { failure: outcome.payload, failedBy: 'orchestrator' },
    ContinuedAsNew: { newInput: outcome.payload },
  }[outcome.status];
  return report(outcome.status, actions, customStatus, replayed, extra);
}

// --- scenario.rs `readable`, `compare` ---

/** The report with payloads as JSON values: what `expect` is compared with. */
export function readable(engineReport) {
  const out = structuredClone(engineReport);
  for (const key of ['output', 'newInput', 'customStatus']) if (key in out) out[key] = decode(out[key]);
  if (out.failure && 'details' in out.failure) out.failure.details = decode(out.failure.details);
  for (const action of out.actions) {
    for (const key of ['input', 'result', 'status']) if (key in action) action[key] = decode(action[key]);
    if (action.failure && 'details' in action.failure) action.failure.details = decode(action.failure.details);
    for (const carried of action.carriedEvents ?? []) carried.input = decode(carried.input);
  }
  return out;
}

/** `actions` must have as many entries as expected, each holding at least the keys given;
 * `failure` must hold at least the keys given; every other key must be equal. */
export function compare(expect, actual) {
  const mismatches = [];
  for (const [key, expected] of Object.entries(expect)) {
    if (key === 'actions' || key === 'failure') contains(expected, actual[key], key, mismatches);
    else if (!same(expected, actual[key])) mismatches.push(mismatch(key, expected, actual[key]));
  }
  return mismatches;
}

function contains(expected, actual, where, out) {
  const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
  if (isObject(expected) && isObject(actual)) {
    for (const [key, value] of Object.entries(expected)) contains(value, actual[key], `${where}.${key}`, out);
  } else if (Array.isArray(expected) && Array.isArray(actual) && expected.length === actual.length) {
    expected.forEach((want, i) => contains(want, actual[i], `${where}[${i}]`, out));
  } else if (!same(expected, actual)) {
    out.push(mismatch(where, expected, actual));
  }
}

const mismatch = (where, expected, actual) => `${where}: expected ${toText(expected)}, got ${toText(actual)}`;

/** Runs a scenario: `{mismatches, actual}` (no mismatches when it passes; the readable report). */
export function runScenario(Orchestration, scenario) {
  const { history, at, newEvents } = scenarioHistory(scenario);
  const actual = readable(replayTurn(Orchestration, scenario.orchestrator, history, at, newEvents));
  return { mismatches: compare(scenario.expect, actual), actual };
}

/** `ScenarioResult`'s display: what failed, and the whole report. */
export function verdict(name, mismatches, actual) {
  const lines = mismatches.map((m) => `  ${m}\n`).join('');
  return `FAIL ${name}\n${lines}  actual report:\n    ${JSON.stringify(actual, null, 2).replaceAll('\n', '\n    ')}`;
}
