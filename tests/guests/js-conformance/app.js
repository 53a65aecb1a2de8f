// The JavaScript implementation of the orchestrators the language-neutral conformance scenarios
// (`tests/conformance/`) run against. Each does what the doc comment of the function of the same
// name in `tests/guests/conformance/src/lib.rs` specifies. The functions at the end are for
// the end-to-end tests through the real host (`tests/e2e/js.rs`, `tests/e2e/durable_http.rs`,
// `tests/e2e/outbound.rs`).
import * as df from 'durable';

const { DurableError, RetryOptions, TaskFailedError } = df;

const millis = (context) => context.df.currentUtcDateTime.getTime();

function raceResult(tasks, winner) {
  const index = tasks.indexOf(winner);
  if (winner.isFaulted) return { winner: index, failure: winner.failure.type };
  return { winner: index, value: winner.result };
}

class InsufficientFunds extends DurableError {}

const orchestration = (name, fn) => df.app.orchestration(name, fn);

// --- Chaining, failures, awaiting ---

orchestration('chain', function* (context) {
  const results = [];
  for (let i = 0; i < context.df.getInput(); i++) results.push(yield context.df.callActivity('step', i));
  return results;
});

orchestration('fail_fast', function* (context) {
  yield context.df.callActivity('boom');
  return yield context.df.callActivity('unreachable');
});

orchestration('catch_failure', function* (context) {
  try {
    const value = yield context.df.callActivity('boom');
    return { caught: null, value };
  } catch (error) {
    if (!(error instanceof TaskFailedError)) throw error;
    const recovered = yield context.df.callActivity('recover', error.type);
    return { caught: error.type, message: error.message, recovered };
  }
});

orchestration('user_error', function* (context) {
  const balance = yield context.df.callActivity('balance');
  if (balance < 5) throw new InsufficientFunds(`balance is ${balance}, needed 5`, { details: { balance } });
  return balance;
});

orchestration('return_immediately', (context) => context.df.getInput());

orchestration('report_version', (context) => context.df.version);

orchestration('await_twice', function* (context) {
  const task = context.df.callActivity('once');
  const first = yield task;
  const second = yield task;
  return [first, second];
});

orchestration('never_awaited', function* (context) {
  context.df.callActivity('fire_and_forget', 1);
  context.df.callActivity('fire_and_forget', 2);
  return yield context.df.callActivity('awaited');
});

// --- Replay-safe observations ---

orchestration('time_per_turn', function* (context) {
  const times = [];
  const wall = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) yield context.df.callActivity('tick', i);
    times.push(millis(context));
    wall.push(Date.now());
  }
  return { times, wall };
});

orchestration('uuids', function* (context) {
  const ids = [context.df.newGuid(), context.df.newGuid()];
  context.df.setCustomStatus(ids);
  yield context.df.callActivity('tick');
  ids.push(context.df.newGuid());
  return ids;
});

orchestration('replaying_flags', function* (context) {
  const flags = [context.df.isReplaying];
  context.df.setCustomStatus(flags);
  for (let i = 1; i < 3; i++) {
    yield context.df.callActivity('tick', i);
    flags.push(context.df.isReplaying);
    context.df.setCustomStatus(flags);
  }
  return flags;
});

// --- Task.all / Task.any ---

orchestration('all_success', function* (context) {
  const tasks = [];
  for (let i = 0; i < context.df.getInput(); i++) tasks.push(context.df.callActivity('work', i));
  return yield context.df.Task.all(tasks);
});

orchestration('all_first_failure', function* (context) {
  try {
    const values = yield context.df.Task.all([0, 1, 2].map((i) => context.df.callActivity('work', i)));
    return { values };
  } catch (error) {
    return { failure: error.type, message: error.message };
  }
});

orchestration('all_empty', function* (context) {
  return yield context.df.Task.all([]);
});

function* race(context) {
  const tasks = [context.df.callActivity('a'), context.df.callActivity('b')];
  return raceResult(tasks, yield context.df.Task.any(tasks));
}
orchestration('any_success', race);
orchestration('any_failed_winner', race);

orchestration('any_empty', function* (context) {
  yield context.df.Task.any([]);
});

orchestration('nested', function* (context) {
  const raceTasks = [context.df.callActivity('a'), context.df.callActivity('b')];
  const first = context.df.Task.any(raceTasks);
  const both = context.df.Task.all([context.df.callActivity('c'), context.df.callActivity('d')]);
  yield context.df.Task.all([first, both]);
  return { any: raceResult(raceTasks, first.result), all: both.result };
});

orchestration('nested_any_of_all', function* (context) {
  const both = context.df.Task.all([context.df.callActivity('a'), context.df.callActivity('b')]);
  const c = context.df.callActivity('c');
  return raceResult([both, c], yield context.df.Task.any([both, c]));
});

orchestration('reuse_pending_in_any', function* (context) {
  const [slow, fast1, fast2] = ['slow', 'fast1', 'fast2'].map((name) => context.df.callActivity(name));
  const first = raceResult([slow, fast1], yield context.df.Task.any([slow, fast1]));
  context.df.setCustomStatus(first);
  const second = raceResult([slow, fast2], yield context.df.Task.any([slow, fast2]));
  return { first, second };
});

// --- Timers ---

orchestration('timer_fire', function* (context) {
  yield context.df.createTimer(new Date(millis(context) + 30000));
  return millis(context);
});

orchestration('timer_cancel', function* (context) {
  const timer = context.df.createTimer(new Date(millis(context) + 60000));
  const result = yield context.df.callActivity('work');
  timer.cancel();
  return result;
});

orchestration('timer_vs_event', function* (context) {
  const timer = context.df.createTimer(new Date(millis(context) + 60000));
  const approve = context.df.waitForExternalEvent('approve');
  const winner = yield context.df.Task.any([approve, timer]);
  if (winner === approve) {
    timer.cancel();
    return { winner: 'event', value: approve.result };
  }
  return { winner: 'timer' };
});

// --- External events ---

orchestration('event_wait', function* (context) {
  return yield context.df.waitForExternalEvent('go');
});

orchestration('event_early', function* (context) {
  yield context.df.callActivity('prepare');
  const first = yield context.df.waitForExternalEvent('go');
  context.df.setCustomStatus({ first });
  const second = yield context.df.waitForExternalEvent('go');
  return [first, second];
});

orchestration('two_waiters', function* (context) {
  const waiters = [context.df.waitForExternalEvent('go'), context.df.waitForExternalEvent('go')];
  const first = waiters.indexOf(yield context.df.Task.any(waiters));
  context.df.setCustomStatus({ first });
  const values = yield context.df.Task.all(waiters);
  return { first, values };
});

orchestration('events_out_of_order', function* (context) {
  const a = yield context.df.waitForExternalEvent('a');
  const b = yield context.df.waitForExternalEvent('b');
  return [a, b];
});

// --- Custom status, continue-as-new, sub-orchestrations ---

orchestration('custom_status', function* (context) {
  context.df.setCustomStatus('started');
  yield context.df.callActivity('step', 1);
  context.df.setCustomStatus({ progress: 50 });
  yield context.df.callActivity('step', 2);
  context.df.setCustomStatus(null);
  return 'done';
});

orchestration('continue_as_new', function* (context) {
  const n = context.df.getInput();
  if (n >= 3) return n;
  yield context.df.callActivity('step', n);
  context.df.continueAsNew(n + 1);
  context.df.callActivity('after');
  return n;
});

orchestration('sub_orchestration', function* (context) {
  return { child: yield context.df.callSubOrchestrator('child', context.df.getInput()) };
});

// --- Entities ---

// `roll`: random values (different in every batch, the same when a batch runs again).
df.app.entity('dice', (context) => {
  context.df.return({ uuid: crypto.randomUUID(), random: Math.random() });
});

// Calls `roll` on `dice@<input>` and returns what it rolled.
orchestration('roll_dice', function* (context) {
  return yield context.df.callEntity(new df.EntityId('dice', context.df.getInput()), 'roll');
});

orchestration('entity_counter', function* (context) {
  const counter = new df.EntityId('counter', context.df.getInput());
  context.df.signalEntity(counter, 'add', 1);
  return yield context.df.callEntity(counter, 'get');
});

// --- Critical sections ---

const account = (key) => new df.EntityId('account', key);

orchestration('lock_transfer', function* (context) {
  const n = context.df.getInput();
  const [a, b] = [account('a'), account('b')];
  const lock = yield context.df.lock([b, a, b]);
  const balance = yield context.df.callEntity(a, 'balance');
  if (balance < n) throw new InsufficientFunds(`balance is ${balance}, needed ${n}`);
  yield context.df.Task.all([context.df.callEntity(a, 'add', -n), context.df.callEntity(b, 'add', n)]);
  lock.release();
  return { transferred: n, locked: context.df.isLocked().isLocked };
});

orchestration('lock_rules', function* (context) {
  const [a, c] = [account('a'), account('c')];
  yield context.df.lock([a]);
  const attempts = [
    () => context.df.callEntity(c, 'balance'),
    () => context.df.lock([c]),
    () => context.df.callSubOrchestrator('child'),
    () => context.df.callSubOrchestratorWithRetry('child', THREE_ATTEMPTS),
  ];
  const refused = [];
  for (const attempt of attempts) {
    try {
      yield attempt();
    } catch (error) {
      if (!(error instanceof TaskFailedError)) throw error;
      refused.push({ type: error.type, message: error.message });
    }
  }
  context.df.signalEntity(c, 'ping');
  return { refused, locked: context.df.isLocked().isLocked };
});

orchestration('lock_none', function* (context) {
  yield context.df.lock([]);
});

// --- Retries, timed waits, carried events ---

const THREE_ATTEMPTS = new RetryOptions(5000, 3);

orchestration('retry_activity', function* (context) {
  return yield context.df.callActivityWithRetry('flaky', THREE_ATTEMPTS);
});

orchestration('retry_parallel', function* (context) {
  const first = context.df.callActivityWithRetry('flaky', THREE_ATTEMPTS, 1);
  const second = context.df.callActivityWithRetry('flaky', THREE_ATTEMPTS, 2);
  return yield context.df.Task.all([first, second]);
});

orchestration('event_timeout', function* (context) {
  try {
    return { event: yield context.df.waitForExternalEvent('approve', 30000) };
  } catch (error) {
    context.df.setCustomStatus({ timedOut: error.type });
    const later = yield context.df.waitForExternalEvent('approve');
    return { timedOut: error.type, later };
  }
});

orchestration('carry_events', function* (context) {
  const data = context.df.getInput() ?? {};
  const round = data.round ?? 0;
  const preserve = data.preserve ?? false;
  yield context.df.callActivity('work', round);
  const item = yield context.df.waitForExternalEvent('item');
  if (round < 2) context.df.continueAsNew({ round: round + 1, preserve }, preserve);
  return item;
});

// --- Spawned sub-flows ---

orchestration('spawn_chain', function* (context) {
  const flow = context.df.spawn(
    (function* () {
      const a = yield context.df.callActivity('a');
      const b = yield context.df.callActivity('b', a);
      return [a, b];
    })(),
  );
  const other = context.df.callActivity('c');
  const chain = yield flow;
  return { chain, other: yield other };
});

orchestration('spawn_poll_order', function* (context) {
  const gate = context.df.callActivity('gate');
  const first = context.df.spawn(
    (function* () {
      return yield gate;
    })(),
  );
  const second = context.df.spawn(
    (function* () {
      yield gate;
      return yield context.df.callActivity('second');
    })(),
  );
  yield gate;
  const afterGate = context.df.callActivity('main_after_gate');
  yield first;
  const afterFirst = context.df.callActivity('main_after_first');
  return [yield afterGate, yield second, yield afterFirst];
});

class Negative extends DurableError {}

orchestration('spawn_failure', function* (context) {
  const flow = context.df.spawn(
    (function* () {
      const v = yield context.df.callActivity('check');
      if (v < 0) throw new Negative(`${v} is negative`);
      return v;
    })(),
  );
  const side = context.df.callActivity('side');
  return yield context.df.Task.all([flow, side]);
});

orchestration('spawn_vs_timer', function* (context) {
  const flow = context.df.spawn(
    (function* () {
      const a = yield context.df.callActivity('a');
      return yield context.df.callActivity('b', a);
    })(),
  );
  const timer = context.df.createTimer(new Date(millis(context) + 60000));
  const tasks = [flow, timer];
  const winner = yield context.df.Task.any(tasks);
  if (winner === flow) timer.cancel();
  return raceResult(tasks, winner);
});

orchestration('spawn_nested', function* (context) {
  function* inner() {
    return yield context.df.callActivity('inner');
  }
  function* outer() {
    const innerFlow = context.df.spawn(inner());
    const mine = yield context.df.callActivity('outer');
    return [mine, yield innerFlow];
  }
  const outerFlow = context.df.spawn(outer());
  const last = yield context.df.callActivity('main');
  return [...(yield outerFlow), last];
});

// --- For the end-to-end tests (not conformance scenarios) ---

class OutOfStock extends DurableError {}

df.app.activity('reserve', function reserve(item) {
  throw new OutOfStock(`no ${item} left`, { details: { item } });
});

// Calls `reserve` with the input: a caught failure is returned as `{type, message, details}`;
// with input "uncaught" it is not caught.
orchestration('reserve_or_report', function* (context) {
  const item = context.df.getInput();
  if (item === 'uncaught') return yield context.df.callActivity('reserve', item);
  try {
    return yield context.df.callActivity('reserve', item);
  } catch (error) {
    return { type: error.type, message: error.message, details: error.details };
  }
});

// POSTs to the input URL with `callHttp` and returns the final status and body (following
// 202 + Location polling), as `fetch` of the Rust probe guest.
orchestration('fetch', function* (context) {
  const response = yield context.df.callHttp({ method: 'POST', url: context.df.getInput(), body: '{"job":1}' });
  return { status: response.statusCode, content: response.content };
});

// GETs the input URL from an activity with `fetch` (wasi:http, under the host's `--allow-http`)
// and returns the status and body, as `fetch_via_activity` of the Rust outbound guest
// (`tests/e2e/outbound.rs`).
df.app.activity('fetch_url', async (url) => {
  const response = await fetch(url);
  return { status: response.status, body: await response.text() };
});

orchestration('fetch_via_activity', function* (context) {
  return yield context.df.callActivity('fetch_url', context.df.getInput());
});

class Misconfigured extends DurableError {}

// POSTs to the input URL with the operator's `api_key` (`config`, wasi:config: `durable serve
// --config`) in the `x-api-key` header and returns the status alone, as `call_with_key` of the
// Rust outbound guest.
df.app.activity('call_with_key', async (url) => {
  const key = df.config.get('api_key');
  if (key === undefined) throw new Misconfigured('no api_key is configured');
  const response = await fetch(url, { method: 'POST', headers: { 'x-api-key': key } });
  return response.status;
});

orchestration('call_with_key_via_activity', function* (context) {
  return yield context.df.callActivity('call_with_key', context.df.getInput());
});

// Reads the configured `api_key` from the orchestrator itself: the sandbox must refuse.
orchestration('config_in_orchestrator', function* () {
  return df.config.get('api_key');
});

// --- Async activities and entity operations (`tests/e2e/examples.rs`) ---

// Settles on microtasks only.
df.app.activity('async_greet', async (city) => {
  await null;
  return `Hello ${city}!`;
});

// Settles on a timer: the component's event loop waits on the real clock (activities have one).
df.app.activity('async_wait', {
  handler: (ms, context) =>
    new Promise((resolve) => {
      setTimeout(() => resolve({ waitedMs: ms, attempt: context.attempt }), ms);
    }),
});

df.app.activity('async_out_of_stock', async (item) => {
  await new Promise((resolve) => setTimeout(resolve, 1));
  throw new OutOfStock(`no ${item} left`, { details: { item } });
});

// Never settles: nothing is left for the event loop to wait on, so the activity traps.
df.app.activity('async_never', () => new Promise(() => {}));

// An entity whose operations are async: `add` awaits before changing the state, `fail` rejects,
// `sleep` waits on a timer, which the deterministic sandbox refuses.
df.app.entity('async_counter', async (context) => {
  const value = context.df.getState(() => 0);
  await null;
  switch (context.df.operationName) {
    case 'sleep':
      await new Promise((resolve) => setTimeout(resolve, 10));
      break;
    case 'add':
      context.df.setState(value + context.df.getInput());
      break;
    case 'get':
      context.df.return(value);
      break;
    case 'fail':
      context.df.setState(-1);
      throw new InsufficientFunds('async operations roll back too');
    default:
      throw context.df.unknownOperation();
  }
});

// The failure `task` ends with, `{type, message, details, stack}` (null when it succeeds).
function* failureOf(task) {
  try {
    yield task;
    return null;
  } catch (error) {
    const { type, message, details, stack } = error.failure;
    return { type, message, details, stack };
  }
}

// Calls the async activities and the async entity (key: the input): `{greeting, waited,
// failure, never, counter, entityFailure, sleep}`, failures as `{type, message, details}`.
orchestration('async_functions', function* (context) {
  const greeting = yield context.df.callActivity('async_greet', 'Tokyo');
  const waited = yield context.df.callActivity('async_wait', 20);
  const failure = yield* failureOf(context.df.callActivity('async_out_of_stock', 'socks'));
  const never = yield* failureOf(context.df.callActivity('async_never'));
  const counter = new df.EntityId('async_counter', context.df.getInput());
  yield context.df.callEntity(counter, 'add', 2);
  const entityFailure = yield* failureOf(context.df.callEntity(counter, 'fail'));
  const sleep = yield* failureOf(context.df.callEntity(counter, 'sleep'));
  yield context.df.callEntity(counter, 'add', 3);
  return { greeting, waited, failure, never, counter: yield context.df.callEntity(counter, 'get'), entityFailure, sleep };
});

// --- A critical section through the host (`tests/e2e/entities.rs`, as `examples/bank-transfer`) ---

// State `{balance}`: `deposit` and `withdraw` return the new balance, `balance` reads it.
df.app.entity('account', (context) => {
  const { balance } = context.df.getState(() => ({ balance: 0 }));
  const amount = context.df.getInput();
  switch (context.df.operationName) {
    case 'deposit':
      context.df.setState({ balance: balance + amount });
      context.df.return(balance + amount);
      break;
    case 'withdraw':
      if (amount > balance) throw new InsufficientFunds(`balance is ${balance}, needed ${amount}`);
      context.df.setState({ balance: balance - amount });
      context.df.return(balance - amount);
      break;
    case 'balance':
      context.df.return(balance);
      break;
    default:
      throw context.df.unknownOperation();
  }
});

// Input `{from, to, amount}`: locks both accounts, moves the amount if the source has it, and
// returns whether it moved.
orchestration('transfer', function* (context) {
  const { from, to, amount } = context.df.getInput();
  const [source, target] = [account(from), account(to)];
  const lock = yield context.df.lock([source, target]);
  const balance = yield context.df.callEntity(source, 'balance');
  const moved = balance >= amount;
  if (moved) {
    yield context.df.Task.all([context.df.callEntity(source, 'withdraw', amount), context.df.callEntity(target, 'deposit', amount)]);
  }
  lock.release();
  return moved;
});
