// Unit tests of the executor's entity calls and signals, durable HTTP and logging: histories
// built by hand, no WebAssembly.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { EntityId, Failure, TaskFailedError } from '../src/index.js';
import { resolveLocation } from '../src/http.js';
import { Event, Executor } from '../src/replay.js';

import { completed, describe, failed, run, started, timerFired, turn } from '../test-support/history.js';

const responded = (taskId, result) => new Event('EntityResponded', { data: { taskId, result: JSON.stringify(result), failure: null } });
const refused = (taskId, type, message) => new Event('EntityResponded', { data: { taskId, result: null, failure: new Failure(type, message) } });

// --- entities ---

function* counter(context) {
  const id = new EntityId('counter', context.df.getInput());
  context.df.signalEntity(id, 'add', 1);
  return yield context.df.callEntity(id, 'get');
}

test('signalEntity and callEntity take the next sequence ids, inputs as JSON', () => {
  assert.deepEqual(run(counter, [turn(1000, started('k'))]), ['SignalEntity#0 counter@k.add(1)', 'CallEntity#1 counter@k.get(null)']);
});

test('an entity response resumes the call with its result', () => {
  assert.deepEqual(run(counter, [turn(1000, started('k')), turn(2000, responded(1, 7))]), ['Complete 7']);
});

test('a failed entity call throws a TaskFailedError with the failure, or fails the orchestration', () => {
  assert.deepEqual(run(counter, [turn(1000, started('k')), turn(2000, refused(1, 'CounterBroken', 'no count'))]), ['Fail CounterBroken: no count']);
  function* caught(context) {
    try {
      return yield context.df.callEntity({ name: 'counter', key: 'k' }, 'get');
    } catch (error) {
      assert.ok(error instanceof TaskFailedError);
      return { type: error.type, message: error.message };
    }
  }
  assert.deepEqual(run(caught, [turn(1000, started()), turn(2000, refused(0, 'UnknownOperation', 'no get'))]), [
    'Complete {"type":"UnknownOperation","message":"no get"}',
  ]);
});

test('sendEvent raises an event on another instance and takes a sequence id', () => {
  function* ping(context) {
    context.df.sendEvent('other', 'ping', { from: context.df.instanceId });
    return yield context.df.callActivity('work');
  }
  assert.deepEqual(
    run(ping, [turn(1000, started())]).map((a) => a.split(' ')[0]),
    ['SendEvent', 'ScheduleActivity#1'],
  );
  const executor = new Executor(ping, 'me');
  const [sent] = executor.step(turn(1000, started()), false);
  assert.deepEqual([sent.id, sent.kind, sent.data], [0, 'SendEvent', { instanceId: 'other', name: 'ping', input: '{"from":"me"}' }]);
});

test('entity calls race with other tasks by history order; a scheduled signal carries its time', () => {
  function* race(context) {
    const a = new EntityId('counter', 'a');
    context.df.signalEntity(a, 'add', 5, new Date(context.df.currentUtcDateTime.getTime() + 60000));
    const call = context.df.callEntity(a, 'get');
    const work = context.df.callActivity('work');
    const winner = yield context.df.Task.any([call, work]);
    return winner === call ? ['entity', call.result] : ['activity', work.result];
  }
  const first = turn(1000, started());
  assert.deepEqual(run(race, [first]), ['SignalEntity#0 counter@a.add(5) at 61000', 'CallEntity#1 counter@a.get(null)', 'ScheduleActivity#2 work(null)']);
  assert.deepEqual(run(race, [first, turn(2000, completed(2, 'w'), responded(1, 3))]), ['Complete ["activity","w"]']);
  assert.deepEqual(run(race, [first, turn(2000, responded(1, 3), completed(2, 'w'))]), ['Complete ["entity",3]']);
});

test('callEntity without an EntityId is a TypeError in the orchestrator', () => {
  function* bad(context) {
    yield context.df.callEntity('counter', 'get');
  }
  const [fail] = run(bad, [turn(1000, started())]);
  assert.match(fail, /^Fail TypeError: callEntity takes an EntityId/);
});

test('reserved operation names are refused in the orchestrator', () => {
  function* locking(context) {
    yield context.df.callEntity(new EntityId('counter', 'k'), '$lock');
  }
  function* signalling(context) {
    context.df.signalEntity(new EntityId('counter', 'k'), '$unlock');
    yield context.df.callEntity(new EntityId('counter', 'k'), 'get');
  }
  for (const orchestrator of [locking, signalling]) {
    const actions = run(orchestrator, [turn(1000, started())]);
    assert.equal(actions.length, 1, actions.join('\n'));
    assert.match(actions[0], /^Fail RangeError: entity operation names starting with `\$` are reserved/);
  }
});

// --- durable HTTP ---

const http = (statusCode, headers = {}, content = '') => ({ statusCode, headers, content });

test('callHttp sends the Rust SDK request shape and returns the response', () => {
  function* get(context) {
    const response = yield context.df.callHttp({
      method: 'post',
      url: 'http://api/items',
      body: { name: 'x' },
      headers: { accept: ['a', 'b'] },
    });
    return { status: response.statusCode, content: response.content, body: response.body, json: response };
  }
  const executor = new Executor(get, 'test');
  const [schedule] = executor.step(turn(1000, started()), false);
  assert.equal(schedule.data.name, 'durable:http');
  assert.deepEqual(JSON.parse(schedule.data.input), {
    method: 'POST',
    uri: 'http://api/items',
    headers: { accept: 'a, b' },
    content: '{"name":"x"}',
    asynchronousPatternEnabled: true,
  });
  const [complete] = executor.step(turn(2000, completed(0, http(201, { 'content-type': 'text/plain' }, 'made'))), false);
  assert.deepEqual(JSON.parse(complete.data.result), {
    status: 201,
    content: 'made',
    body: 'made',
    json: { statusCode: 201, headers: { 'content-type': 'text/plain' }, content: 'made' },
  });
});

test('callHttp polls a 202 Location on durable timers, Retry-After seconds or 30 s', () => {
  function* job(context) {
    const response = yield context.df.callHttp({ method: 'POST', url: 'http://h:1/jobs/new', body: 'go', headers: { auth: 't' } });
    return [response.statusCode, response.content];
  }
  const history = [turn(1000, started())];
  assert.deepEqual(run(job, history), ['ScheduleActivity#0 durable:http({"method":"POST","uri":"http://h:1/jobs/new","headers":{"auth":"t"},"content":"go","asynchronousPatternEnabled":true})']);
  history.push(turn(2000, completed(0, http(202, { location: 'status/7', 'retry-after': '10' }))));
  assert.deepEqual(run(job, history), ['StartTimer#1 12000']);
  history.push(turn(12000, timerFired(1)));
  assert.deepEqual(run(job, history), ['ScheduleActivity#2 durable:http({"method":"GET","uri":"http://h:1/jobs/status/7","headers":{"auth":"t"},"asynchronousPatternEnabled":true})']);
  history.push(turn(13000, completed(2, http(202, { Location: '/jobs/7' }))));
  assert.deepEqual(run(job, history), ['StartTimer#3 43000'], 'no Retry-After: 30 s');
  history.push(turn(43000, timerFired(3)));
  assert.deepEqual(run(job, history), ['ScheduleActivity#4 durable:http({"method":"GET","uri":"http://h:1/jobs/7","headers":{"auth":"t"},"asynchronousPatternEnabled":true})']);
  history.push(turn(44000, completed(4, http(200, {}, 'done'))));
  assert.deepEqual(run(job, history), ['Complete [200,"done"]']);
});

test('callHttp without polling returns the 202; a failed request fails the task', () => {
  function* once(context) {
    const response = yield context.df.callHttp({ method: 'GET', url: 'http://h/x', asynchronousPatternEnabled: false });
    return response.statusCode;
  }
  assert.deepEqual(run(once, [turn(1000, started()), turn(2000, completed(0, http(202, { location: '/y' })))]), ['Complete 202']);
  assert.deepEqual(run(once, [turn(1000, started()), turn(2000, failed(0, 'HttpRefused', 'host not allowed'))]), ['Fail HttpRefused: host not allowed']);
});

test('Location headers resolve against the request URI as in the Rust SDK', () => {
  assert.equal(resolveLocation('http://h:1/a/b', 'https://x/y'), 'https://x/y');
  assert.equal(resolveLocation('http://h:1/a/b?q=1', '/s/7'), 'http://h:1/s/7');
  assert.equal(resolveLocation('http://h:1/a/b', 's/7'), 'http://h:1/a/s/7');
  assert.equal(resolveLocation('http://h:1', 's'), 'http://h:1/s');
});

// --- logging ---

test('orchestrator log lines are dropped while replaying, so each is recorded once', () => {
  function* chatty(context) {
    context.log('starting', context.df.getInput());
    const value = yield context.df.callActivity('work');
    context.warn('got', { value });
    context.error(new RangeError('late'));
    return value;
  }
  const lines = [];
  const log = (level, line) => lines.push(`${level} ${line}`);
  const history = [turn(1000, started(3)), turn(2000, completed(0, 5))];

  // A cached instance: turn 1 live, turn 2 live.
  const cached = new Executor(chatty, 'test', { log });
  cached.step(history[0], false);
  assert.deepEqual(lines, ['info starting 3']);
  cached.step(history[1], false);
  assert.deepEqual(lines, ['info starting 3', 'warn got {"value":5}', 'error RangeError: late']);

  // A fresh instance replaying turn 1 and running turn 2: only turn 2's lines.
  lines.length = 0;
  const cold = new Executor(chatty, 'test', { log });
  cold.step(history[0], true);
  cold.step(history[1], false);
  assert.deepEqual(lines, ['warn got {"value":5}', 'error RangeError: late']);

  // Everything replayed: nothing.
  lines.length = 0;
  new Executor(chatty, 'test', { log }).step(history.flat(), true);
  assert.deepEqual(lines, []);
  assert.deepEqual(describe(new Executor(chatty, 'test').step(history.flat(), false)), ['ScheduleActivity#0 work(null)', 'Complete 5']);
});
