// Durable Functions' JavaScript programming model v3: function folders registered under their
// names, and v3's `context` (context.df, bindings, log, done) around orchestrators, activities
// and entities. Histories built by hand, no WebAssembly.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as df from '../src/durable-functions.js';
import { executeBatch } from '../src/entity.js';
import { Event } from '../src/replay.js';
import { durableTrigger, entryOf, registerFunctionFolders } from '../src/v3.js';

import { completed, raised, responded, run, started, timerFired, turn } from '../test-support/history.js';

/** A registry like `df.app`, fresh for each test. */
function registry() {
  const tables = { orchestrators: new Map(), activities: new Map(), entities: new Map() };
  return {
    ...tables,
    orchestration: (name, handler) => tables.orchestrators.set(name, handler),
    activity: (name, handler) => tables.activities.set(name, handler),
    entity: (name, handler) => tables.entities.set(name, handler),
  };
}

const trigger = (type, name = 'context') => ({ bindings: [{ name, type, direction: 'in' }] });

/** One folder's entry, its module as rolldown hands a CommonJS `module.exports` over. */
const folder = (name, functionJson, exported) => ({ name, functionJson, module: { default: exported } });

function register(...folders) {
  const target = registry();
  registerFunctionFolders(folders, target);
  return target;
}

const activityContext = (logs = []) => ({
  instanceId: 'i-1',
  taskId: 3,
  attempt: 1,
  log: (...args) => logs.push(['info', args.join(' ')]),
  info: (...args) => logs.push(['info', args.join(' ')]),
  warn: (...args) => logs.push(['warn', args.join(' ')]),
  error: (...args) => logs.push(['error', args.join(' ')]),
  debug: (...args) => logs.push(['debug', args.join(' ')]),
  trace: () => {},
});

test('each durable folder registers under its name; HTTP starters and other triggers are left out', () => {
  const hello = df.orchestrator(function* (context) {
    return yield context.df.callActivity('SayHello', 'Tokyo');
  });
  const counter = df.entity((context) => context.df.return(1));
  const sayHello = async (context) => `Hello ${context.bindings.city}!`;
  const target = register(
    folder('Hello', trigger('orchestrationTrigger'), hello),
    folder('SayHello', trigger('activityTrigger', 'city'), sayHello),
    folder('Counter', trigger('entityTrigger'), counter),
    folder('HttpStart', { bindings: [{ type: 'httpTrigger', name: 'req' }, { type: 'durableClient', name: 'starter' }] }, () => {}),
    folder('Nightly', trigger('timerTrigger', 'timer'), () => {}),
    folder('Off', { disabled: true, ...trigger('activityTrigger') }, () => {}),
  );
  assert.deepEqual([...target.orchestrators.keys()], ['Hello']);
  assert.deepEqual([...target.activities.keys()], ['SayHello']);
  assert.deepEqual([...target.entities.keys()], ['Counter']);
  assert.equal(durableTrigger(trigger('OrchestrationTrigger')).kind, 'orchestrator');
  assert.equal(durableTrigger({ bindings: [{ type: 'httpTrigger' }] }).kind, null);
  // Outside a component nothing calls the handlers `df.orchestrator` and `df.entity` return.
  assert.throws(() => hello({}), /run by durable's host/);
});

test('the entry point is picked as the Azure Functions worker picks it', () => {
  const run = () => 'run';
  const other = () => 'other';
  assert.equal(entryOf({ default: run }, undefined, 'f'), run);
  assert.equal(entryOf({ default: { run, other } }, undefined, 'f'), run);
  assert.equal(entryOf({ default: { other } }, undefined, 'f'), other);
  assert.equal(entryOf({ other, default: { other } }, 'other', 'f'), other);
  assert.equal(entryOf({ handler: other }, undefined, 'f'), other); // an ES module's one named export
  assert.throws(() => entryOf({ default: {} }, undefined, 'f'), /exports no function/);
  assert.throws(() => entryOf({ default: { a: other, b: () => 1 } }, undefined, 'f'), /several functions/);
  assert.throws(() => entryOf({ default: run }, 'missing', 'f'), /no function `missing` \(its entryPoint\)/);
});

test('a folder exporting the wrong kind of function fails naming it', () => {
  const entity = df.entity(() => {});
  assert.throws(() => register(folder('O', trigger('orchestrationTrigger'), entity)), /`O` has an orchestrationTrigger but exports df.entity/);
  assert.throws(() => register(folder('O', trigger('orchestrationTrigger'), () => 1)), /export df.orchestrator\(function\*/);
  assert.throws(() => register(folder('A', trigger('activityTrigger'), entity)), /`A` has an activityTrigger but exports df.entity/);
  assert.throws(() => df.orchestrator('nope'), TypeError);
  // A bare generator function is an orchestrator too.
  const target = register(folder('G', trigger('orchestrationTrigger'), function* () {
    return 1;
  }));
  assert.deepEqual(run(target.orchestrators.get('G'), [turn(1000, started())]), ['Complete 1']);
});

test('a v3 orchestrator chains, fans out, races an event against a timer and calls entities', () => {
  const seen = [];
  const orchestrator = df.orchestrator(function* (context) {
    const input = context.df.getInput();
    seen.push({
      binding: context.bindings.context.input,
      instanceId: context.df.instanceId,
      replaying: context.df.isReplaying,
      now: context.df.currentUtcDateTime.getTime(),
      guid: context.df.newGuid(context.df.instanceId),
    });
    context.log.info('started');
    const first = yield context.df.callActivity('A', input.n);
    const retried = yield context.df.callActivityWithRetry('B', new df.RetryOptions(1000, 2), first);
    const child = yield context.df.callSubOrchestrator('Child', retried, 'child-1');
    const both = yield context.df.Task.all([context.df.callActivity('X', 1), context.df.callActivity('Y', 2)]);
    const timer = context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 60000));
    const approval = context.df.waitForExternalEvent('Approval');
    const winner = yield context.df.Task.any([approval, timer]);
    if (winner === approval) timer.cancel();
    const counter = new df.EntityId('Counter', 'k');
    context.df.signalEntity(counter, 'add', 1);
    const count = yield context.df.callEntity(counter, 'get');
    context.df.setCustomStatus({ count });
    if (input.n > 1) {
      context.df.continueAsNew({ n: input.n - 1 });
      return null;
    }
    return [first, retried, child, both, winner === approval ? approval.result : 'timeout', count];
  });
  const target = register(folder('Everything', trigger('orchestrationTrigger'), orchestrator));
  const handler = target.orchestrators.get('Everything');
  const history = [turn(1000, started({ n: 1 }))];
  assert.deepEqual(run(handler, history), ['ScheduleActivity#0 A(1)']);
  history.push(turn(2000, completed(0, 'a')));
  assert.deepEqual(run(handler, history), ['ScheduleActivity#1 B("a")']);
  history.push(turn(3000, completed(1, 'b')));
  assert.deepEqual(run(handler, history), ['StartSubOrchestration#2 Child("b")']);
  history.push(turn(4000, new Event('SubOrchestrationCompleted', { data: { taskId: 2, result: '"c"' } })));
  assert.deepEqual(run(handler, history), ['ScheduleActivity#3 X(1)', 'ScheduleActivity#4 Y(2)']);
  history.push(turn(5000, completed(4, 'y'), completed(3, 'x')));
  assert.deepEqual(run(handler, history), ['StartTimer#5 65000']);
  history.push(turn(6000, raised('Approval', true)));
  assert.deepEqual(run(handler, history), ['CancelTimer 5', 'SignalEntity#6 Counter@k.add(1)', 'CallEntity#7 Counter@k.get(null)']);
  history.push(turn(7000, responded(7, 1)));
  assert.deepEqual(run(handler, history), ['SetCustomStatus {"count":1}', 'Complete ["a","b","c",["x","y"],true,1]']);
  const first = seen[0];
  assert.deepEqual({ ...first, guid: undefined }, { binding: { n: 1 }, instanceId: 'test', replaying: false, now: 1000, guid: undefined });
  assert.match(first.guid, /^[0-9a-f-]{36}$/);
  assert.ok(seen.some((s) => s.replaying), 'replays see isReplaying');

  const timedOut = [turn(1000, started({ n: 2 })), turn(2000, completed(0, 'a')), turn(3000, completed(1, 'b'))];
  timedOut.push(turn(4000, new Event('SubOrchestrationCompleted', { data: { taskId: 2, result: '"c"' } })));
  timedOut.push(turn(5000, completed(3, 'x'), completed(4, 'y')), turn(65000, timerFired(5)), turn(66000, responded(7, 5)));
  assert.deepEqual(run(handler, timedOut), ['SetCustomStatus {"count":5}', 'ContinueAsNew {"n":1} []']);
});

test('a v3 orchestrator calls HTTP with positional arguments', () => {
  const orchestrator = df.orchestrator(function* (context) {
    const response = yield context.df.callHttp('POST', 'https://example.com/x', { a: 1 }, { 'x-k': 'v' }, undefined, false);
    return response.statusCode;
  });
  const handler = register(folder('Http', trigger('orchestrationTrigger'), orchestrator)).orchestrators.get('Http');
  const [scheduled] = run(handler, [turn(1000, started())]);
  assert.match(scheduled, /^ScheduleActivity#0 durable:http\(/);
  const request = JSON.parse(scheduled.slice(scheduled.indexOf('(') + 1, -1));
  assert.deepEqual(request, { method: 'POST', uri: 'https://example.com/x', headers: { 'x-k': 'v' }, content: '{"a":1}', asynchronousPatternEnabled: false });
  const tokens = df.orchestrator(function* (context) {
    return yield context.df.callHttp('GET', 'https://example.com', undefined, undefined, new df.ManagedIdentityTokenSource('r'));
  });
  const failing = register(folder('T', trigger('orchestrationTrigger'), tokens)).orchestrators.get('T');
  assert.match(run(failing, [turn(1000, started())])[0], /^Fail DurableError: callHttp with a tokenSource/);
});

test('v3 activities: async, context.done now or later, input as binding and argument', async () => {
  const logs = [];
  const target = register(
    folder('Async', trigger('activityTrigger', 'name'), async (context, name) => `${context.bindings.name}/${name}/${context.bindingData.name}`),
    folder('Done', trigger('activityTrigger', 'n'), (context, n) => {
      context.log.warn('doubling', n);
      context.done(null, n * 2);
    }),
    folder('Later', trigger('activityTrigger', 'n'), (context, n) => {
      setTimeout(() => context.done(null, n + 1), 1);
    }),
    folder('Fails', trigger('activityTrigger', 'n'), (context) => {
      context.done(new RangeError('too big'));
    }),
    folder('Plain', trigger('activityTrigger', 'n'), function (context) {
      return context.executionContext.functionName;
    }),
  );
  const call = (name, input) => target.activities.get(name)(input, activityContext(logs));
  assert.equal(await call('Async', 'x'), 'x/x/x');
  assert.equal(call('Done', 4), 8);
  assert.deepEqual(logs, [['warn', 'doubling 4']]);
  assert.equal(await call('Later', 4), 5);
  assert.throws(() => call('Fails', 1), RangeError);
  assert.equal(call('Plain', 1), 'Plain');
});

test('v3 entities run with context.df and context.bindings', () => {
  const counter = df.entity(function (context) {
    const value = context.df.getState(() => 0);
    switch (context.df.operationName) {
      case 'add':
        context.df.setState(value + context.df.getInput());
        break;
      case 'get':
        context.log.info(`read by ${context.bindings.context.self}`);
        context.df.return(value);
        break;
      default:
        throw new Error(`unknown operation ${context.df.operationName}`);
    }
  });
  const target = register(folder('Counter', trigger('entityTrigger'), counter));
  const logs = [];
  const batch = executeBatch(target.entities, { name: 'Counter', key: 'k' }, null, [
    { name: 'add', input: '5' },
    { name: 'get', input: 'null' },
    { name: 'nope', input: 'null' },
  ], { log: (level, message) => logs.push(message) });
  assert.deepEqual(batch.results.map((r) => (r.ok ? r.value : r.failure.message)), ['null', '5', 'unknown operation nope']);
  assert.equal(batch.state, '5');
  assert.deepEqual(logs, ['read by @Counter@k']);
});

test('durable-functions has the v4 names and the v3 ones', () => {
  assert.equal(typeof df.app.orchestration, 'function');
  assert.equal(typeof df.orchestrator, 'function');
  assert.equal(typeof df.entity, 'function');
  assert.equal(df.OrchestrationRuntimeStatus.Completed, 'Completed');
  assert.equal(new df.EntityStateResponse(true, 3).entityState, 3);
  assert.equal(new df.DurableHttpRequest('GET', 'https://x').uri, 'https://x');
  assert.equal(typeof df.getClient, 'function');
});
