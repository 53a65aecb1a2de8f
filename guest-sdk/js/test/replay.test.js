// Unit tests of the replay executor: histories built by hand, no WebAssembly.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DurableError, Failure, RetryOptions, Task, TaskFailedError } from '../src/index.js';
import { installVersionSource } from '../src/context.js';
import { Event, Executor } from '../src/replay.js';
import { SequencedTask } from '../src/tasks.js';
import { DURABLE_NAMESPACE, uuid5 } from '../src/uuid.js';

import { completed, describe, failed, raised, run, started, timerFired, turn } from '../test-support/history.js';

function* chain(context) {
  const results = [];
  for (let i = 0; i < context.df.getInput(); i++) results.push(yield context.df.callActivity('step', i));
  return results;
}

// --- chaining ---

test('chaining after 0..3 completions', () => {
  const history = [turn(1000, started(3))];
  assert.deepEqual(run(chain, history), ['ScheduleActivity#0 step(0)']);
  history.push(turn(2000, completed(0, 'r0')));
  assert.deepEqual(run(chain, history), ['ScheduleActivity#1 step(1)']);
  history.push(turn(3000, completed(1, 'r1')));
  assert.deepEqual(run(chain, history), ['ScheduleActivity#2 step(2)']);
  history.push(turn(4000, completed(2, 'r2')));
  assert.deepEqual(run(chain, history), ['Complete ["r0","r1","r2"]']);
});

test('a cached instance replays every action in one step', () => {
  const executor = new Executor(chain, 'test');
  const actions = executor.step([...turn(1000, started(2)), ...turn(2000, completed(0, 'a'))], true);
  assert.deepEqual(describe(actions), ['ScheduleActivity#0 step(0)', 'ScheduleActivity#1 step(1)']);
});

test('zero steps complete at once; a plain function completes too', () => {
  assert.deepEqual(run(chain, [turn(1000, started(0))]), ['Complete []']);
  assert.deepEqual(run((context) => context.df.getInput(), [turn(1000, started({ a: 1 }))]), ['Complete {"a":1}']);
});

// --- failures ---

test('an activity failure fails the orchestration unchanged, or is caught', () => {
  const failure = failed(0, 'ValueError', 'bad value', { details: { x: 1 } });
  function* uncaught(context) {
    return yield context.df.callActivity('boom');
  }
  assert.deepEqual(run(uncaught, [turn(1000, started()), turn(2000, failure)]), ['Fail ValueError: bad value']);
  function* caught(context) {
    try {
      yield context.df.callActivity('boom');
    } catch (error) {
      assert.ok(error instanceof TaskFailedError);
      return { type: error.type, message: error.message, details: error.details };
    }
  }
  assert.deepEqual(run(caught, [turn(1000, started()), turn(2000, failure)]), [
    'Complete {"type":"ValueError","message":"bad value","details":{"x":1}}',
  ]);
});

test('a thrown error is a structured failure typed by its class', () => {
  class InsufficientFunds extends DurableError {}
  function* orchestrator() {
    throw new InsufficientFunds('balance is 3', { details: { balance: 3 } });
  }
  const executor = new Executor(orchestrator, 'test');
  const [fail] = executor.step(turn(1000, started()), false);
  assert.equal(fail.kind, 'Fail');
  assert.equal(fail.data.failure.type, 'InsufficientFunds');
  assert.deepEqual(fail.data.failure.details, { balance: 3 });
  assert.match(fail.data.failure.stack, /orchestrator/);
  class Custom extends Error {}
  assert.equal(Failure.fromException(new Custom('x')).type, 'Custom');
  assert.equal(Failure.fromException(new RangeError('x')).type, 'RangeError');
});

test('yielding something that is not a task throws a TypeError in the orchestrator', () => {
  function* orchestrator() {
    yield 42;
  }
  assert.deepEqual(run(orchestrator, [turn(1000, started())]), ['Fail TypeError: an orchestrator must yield durable tasks, not Number']);
});

// --- Task.all / Task.any ---

test('Task.all: values in order given; the first failure in history order; [] at once', () => {
  function* all(context) {
    try {
      return yield context.df.Task.all([0, 1, 2].map((i) => context.df.callActivity('work', i)));
    } catch (error) {
      return `failed: ${error.type}`;
    }
  }
  const first = turn(1000, started());
  assert.deepEqual(run(all, [first]), ['ScheduleActivity#0 work(0)', 'ScheduleActivity#1 work(1)', 'ScheduleActivity#2 work(2)']);
  assert.deepEqual(run(all, [first, turn(2000, completed(2, 'c'), completed(0, 'a'))]), []);
  assert.deepEqual(run(all, [first, turn(2000, completed(2, 'c'), completed(0, 'a')), turn(3000, completed(1, 'b'))]), ['Complete ["a","b","c"]']);
  assert.deepEqual(run(all, [first, turn(2000, failed(2, 'Second', 'x'), failed(1, 'First', 'y'))]), ['Complete "failed: Second"']);
  assert.deepEqual(run((c) => (function* () { return yield Task.all([]); })(), [turn(1000, started())]), ['Complete []']);
});

test('Task.any: the first in history order wins, a failed winner too; [] fails', () => {
  function* any(context) {
    const tasks = [context.df.callActivity('a'), context.df.callActivity('b')];
    const winner = yield context.df.Task.any(tasks);
    return { winner: tasks.indexOf(winner), faulted: winner.isFaulted, value: winner.result ?? null };
  }
  const first = turn(1000, started());
  assert.deepEqual(run(any, [first, turn(2000, completed(1, 'B'), completed(0, 'A'))]), ['Complete {"winner":1,"faulted":false,"value":"B"}']);
  assert.deepEqual(run(any, [first, turn(2000, failed(0, 'E', 'e'))]), ['Complete {"winner":0,"faulted":true,"value":null}']);
  function* empty(context) {
    yield context.df.Task.any([]);
  }
  assert.deepEqual(run(empty, [first]), ['Fail InvalidInput: Task.any needs at least one task']);
});

test('a task still pending in one race can win a later one by history order', () => {
  function* reuse(context) {
    const [slow, fast1, fast2] = ['slow', 'fast1', 'fast2'].map((n) => context.df.callActivity(n));
    const first = yield context.df.Task.any([slow, fast1]);
    const second = yield context.df.Task.any([slow, fast2]);
    return [first === slow ? 'slow' : 'fast1', second === slow ? 'slow' : 'fast2'];
  }
  const history = [turn(1000, started()), turn(2000, completed(1, 1)), turn(3000, completed(0, 0), completed(2, 2))];
  assert.deepEqual(run(reuse, history), ['Complete ["fast1","slow"]']);
});

test('Task.all and Task.any look at each child about once per outcome, not once per event', () => {
  // A fan-out of n results one event at a time: a look at every child after every event would
  // be n * n looks (a million for 1,000 activities, seconds in an interpreter).
  const n = 2000;
  const looks = { count: 0 };
  const original = SequencedTask.prototype._resolved;
  SequencedTask.prototype._resolved = function counted() {
    looks.count++;
    return original.call(this);
  };
  try {
    function* fanOut(context) {
      const tasks = [];
      for (let i = 0; i < n; i++) tasks.push(context.df.callActivity('work', i));
      const first = yield context.df.Task.any(tasks);
      const all = yield context.df.Task.all(tasks);
      return [first.result, all.length, all[n - 1]];
    }
    const executor = new Executor(fanOut, 'test');
    executor.step(turn(1000, started()), false);
    looks.count = 0;
    let actions = [];
    for (let i = n - 1; i >= 0; i--) actions = executor.step(turn(2000 + i, completed(i, i)), false);
    assert.deepEqual(describe(actions), [`Complete [${n - 1},${n},${n - 1}]`]);
    assert.ok(looks.count < 6 * n, `${looks.count} looks at ${n} children`);
  } finally {
    SequencedTask.prototype._resolved = original;
  }
});

// --- timers ---

test('timers: created at a Date, fire, and cancel', () => {
  function* timer(context) {
    yield context.df.createTimer(new Date(context.df.currentUtcDateTime.getTime() + 30000));
    return context.df.currentUtcDateTime.getTime();
  }
  assert.deepEqual(run(timer, [turn(1000, started())]), ['StartTimer#0 31000']);
  assert.deepEqual(run(timer, [turn(1000, started()), turn(31000, timerFired(0))]), ['Complete 31000']);

  function* cancel(context) {
    const t = context.df.createTimer(new Date(60000));
    const result = yield context.df.callActivity('work');
    t.cancel();
    t.cancel();
    return result;
  }
  assert.deepEqual(run(cancel, [turn(1000, started()), turn(2000, completed(1, 'w'))]), ['CancelTimer 0', 'Complete "w"']);
});

test('timer vs event: the event wins and the timer is cancelled', () => {
  function* race(context) {
    const timer = context.df.createTimer(new Date(61000));
    const approve = context.df.waitForExternalEvent('approve');
    const winner = yield context.df.Task.any([approve, timer]);
    if (winner === approve) {
      timer.cancel();
      return { winner: 'event', value: approve.result };
    }
    return { winner: 'timer' };
  }
  assert.deepEqual(run(race, [turn(1000, started()), turn(2000, raised('approve', true))]), ['CancelTimer 0', 'Complete {"winner":"event","value":true}']);
  assert.deepEqual(run(race, [turn(1000, started()), turn(61000, timerFired(0), raised('approve', true))]), ['Complete {"winner":"timer"}']);
});

// --- external events ---

test('events: buffered until waited for, served FIFO, one waiter each', () => {
  function* early(context) {
    yield context.df.callActivity('prepare');
    const first = yield context.df.waitForExternalEvent('go');
    const second = yield context.df.waitForExternalEvent('go');
    return [first, second];
  }
  const history = [turn(1000, started()), turn(2000, raised('go', 1), raised('go', 2)), turn(3000, completed(0, null))];
  assert.deepEqual(run(early, history), ['Complete [1,2]']);

  function* two(context) {
    const waiters = [context.df.waitForExternalEvent('go'), context.df.waitForExternalEvent('go')];
    return yield context.df.Task.all(waiters);
  }
  assert.deepEqual(run(two, [turn(1000, started()), turn(2000, raised('go', 'a'))]), []);
  assert.deepEqual(run(two, [turn(1000, started()), turn(2000, raised('go', 'a')), turn(3000, raised('go', 'b'))]), ['Complete ["a","b"]']);
});

test('a wait with a timeout fails with Timeout and withdraws the waiter', () => {
  function* timed(context) {
    try {
      return { event: yield context.df.waitForExternalEvent('approve', 30000) };
    } catch (error) {
      const later = yield context.df.waitForExternalEvent('approve');
      return { timedOut: error.type, later };
    }
  }
  assert.deepEqual(run(timed, [turn(1000, started())]), ['StartTimer#0 31000']);
  assert.deepEqual(run(timed, [turn(1000, started()), turn(2000, raised('approve', 1))]), ['CancelTimer 0', 'Complete {"event":1}']);
  assert.deepEqual(run(timed, [turn(1000, started()), turn(31000, timerFired(0)), turn(32000, raised('approve', 2))]), ['Complete {"timedOut":"Timeout","later":2}']);
});

// --- custom status, continue-as-new, sub-orchestrations, ids ---

test('custom status is recorded as an action, null clears it', () => {
  function* status(context) {
    context.df.setCustomStatus('started');
    yield context.df.callActivity('step');
    context.df.setCustomStatus({ progress: 50 });
    context.df.setCustomStatus(null);
    return 'done';
  }
  assert.deepEqual(run(status, [turn(1000, started())]), ['SetCustomStatus "started"', 'ScheduleActivity#0 step(null)']);
  assert.deepEqual(run(status, [turn(1000, started()), turn(2000, completed(0, 1))]), [
    'SetCustomStatus {"progress":50}',
    'SetCustomStatus null',
    'Complete "done"',
  ]);
});

test('continueAsNew ends the execution, drops later work and carries unconsumed events on request', () => {
  function* again(context) {
    const n = context.df.getInput();
    yield context.df.callActivity('step', n);
    context.df.continueAsNew(n + 1, n === 1);
    context.df.callActivity('after');
    return n;
  }
  assert.deepEqual(run(again, [turn(1000, started(0)), turn(2000, completed(0, null))]), ['ContinueAsNew 1 []']);
  assert.deepEqual(run(again, [turn(1000, started(1)), turn(2000, raised('x', 5), completed(0, null))]), ['ContinueAsNew 2 [["x","5"]]']);
});

test('sub-orchestrations are scheduled and resolved by sequence id', () => {
  function* parent(context) {
    return { child: yield context.df.callSubOrchestrator('child', context.df.getInput()) };
  }
  assert.deepEqual(run(parent, [turn(1000, started(7))]), ['StartSubOrchestration#0 child(7)']);
  const done = new Event('SubOrchestrationCompleted', { data: { taskId: 0, result: '"c"' } });
  assert.deepEqual(run(parent, [turn(1000, started(7)), turn(2000, done)]), ['Complete {"child":"c"}']);
});

test('newGuid is UUIDv5 of instance, turn time and counter, as in the other SDKs', () => {
  assert.equal(DURABLE_NAMESPACE, '5bf3dc27-d91d-5ea7-9c3e-9f1f2ae7c309');
  assert.equal(uuid5(DURABLE_NAMESPACE, 'conformance_1000_0'), 'f446421a-a909-51b4-a2bc-afedaff868d6');
  const executor = new Executor((context) => [context.df.newGuid(), context.df.newGuid()], 'conformance');
  const [complete] = executor.step(turn(1000, started()), false);
  assert.deepEqual(JSON.parse(complete.data.result), ['f446421a-a909-51b4-a2bc-afedaff868d6', 'ca9b9443-8c7e-5f3e-9f2d-15fff1e471d2']);
});

test('isReplaying follows the step flag per turn', () => {
  function* flags(context) {
    const seen = [context.df.isReplaying];
    yield context.df.callActivity('tick');
    seen.push(context.df.isReplaying);
    return seen;
  }
  const executor = new Executor(flags, 'test');
  executor.step(turn(1000, started()), true);
  const [complete] = executor.step(turn(2000, completed(0, null)), false);
  assert.equal(complete.data.result, '[true,false]');
});

// --- retries ---

test('callActivityWithRetry waits on durable timers between attempts and gives up with a cause', () => {
  const options = new RetryOptions(5000, 3);
  function* retry(context) {
    return yield context.df.callActivityWithRetry('flaky', options);
  }
  const history = [turn(1000, started())];
  assert.deepEqual(run(retry, history), ['ScheduleActivity#0 flaky(null)']);
  history.push(turn(2000, failed(0, 'Flaky', 'f1')));
  assert.deepEqual(run(retry, history), ['StartTimer#1 7000']);
  history.push(turn(7000, timerFired(1)));
  assert.deepEqual(run(retry, history), ['ScheduleActivity#2 flaky(null)']);
  history.push(turn(8000, completed(2, 'ok')));
  assert.deepEqual(run(retry, history), ['Complete "ok"']);

  const failing = [turn(1000, started()), turn(2000, failed(0, 'Flaky', 'f1')), turn(7000, timerFired(1)), turn(8000, failed(2, 'Flaky', 'f2'))];
  assert.deepEqual(run(retry, failing), ['StartTimer#3 13000']);
  failing.push(turn(13000, timerFired(3)), turn(14000, failed(4, 'Flaky', 'f3')));
  const executor = new Executor(retry, 'test');
  const actions = executor.step(failing.flat(), false);
  const fail = actions.at(-1).data.failure;
  assert.equal(fail.type, 'Flaky');
  assert.equal(fail.message, 'f3');
  assert.deepEqual(fail.inner.map((c) => c.type), ['RetryPolicy']);

  assert.deepEqual(run(retry, [turn(1000, started()), turn(2000, failed(0, 'Fatal', 'no', { nonRetriable: true }))]), ['Fail Fatal: no']);
  assert.equal(new RetryOptions(1000, 10, { backoffCoefficient: 2, maxRetryIntervalInMilliseconds: 5000 }).delayAfter(4), 5000);
});

test('the version comes from the host', () => {
  const version = (context) => context.df.version;
  assert.deepEqual(run(version, [turn(1000, started(null))]), ['Complete null']);
  installVersionSource(() => '2.0');
  try {
    assert.deepEqual(run(version, [turn(1000, started(null))]), ['Complete "2.0"']);
  } finally {
    installVersionSource(() => null);
  }
});
