// `context.df.spawn`: sub-flows (generators) run beside the orchestrator, scheduled eagerly,
// polled after every event after the orchestrator and in creation order, and placed in history
// order when they finish (the Rust SDK's `guest-sdk/src/orchestration/tests/spawn.rs`, ported).
// No WebAssembly.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DurableError, EntityId, TaskFailedError } from '../src/index.js';

import { completed, failed, granted, run, started, turn } from '../test-support/history.js';

const first = turn(1000, started());

function* chainBesideActivity(context) {
  const flow = context.df.spawn(
    (function* () {
      const a = yield context.df.callActivity('a');
      const b = yield context.df.callActivity('b', a);
      return [a, b];
    })(),
  );
  const other = context.df.callActivity('c');
  return { chain: yield flow, other: yield other };
}

test('spawned work is scheduled at creation and runs alongside', () => {
  const history = [first];
  assert.deepEqual(run(chainBesideActivity, history), ['ScheduleActivity#0 a(null)', 'ScheduleActivity#1 c(null)']);
  history.push(turn(2000, completed(0, 'A')));
  assert.deepEqual(run(chainBesideActivity, history), ['ScheduleActivity#2 b("A")']);
  history.push(turn(3000, completed(1, 'C')));
  assert.deepEqual(run(chainBesideActivity, history), []);
  history.push(turn(4000, completed(2, 'B')));
  assert.deepEqual(run(chainBesideActivity, history), ['Complete {"chain":["A","B"],"other":"C"}']);
});

test('a spawned task takes its place in history order', () => {
  function* race(context) {
    const spawned = context.df.spawn(
      (function* () {
        return `${yield context.df.callActivity('a')}!`;
      })(),
    );
    const tasks = [spawned, context.df.callActivity('b')];
    return tasks.indexOf(yield context.df.Task.any(tasks));
  }
  assert.deepEqual(run(race, [first, turn(2000, completed(0, 'A'), completed(1, 'B'))]), ['Complete 0']);
  assert.deepEqual(run(race, [first, turn(2000, completed(1, 'B'), completed(0, 'A'))]), ['Complete 1']);
});

test('nested spawns schedule in creation order', () => {
  function* nested(context) {
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
  }
  assert.deepEqual(run(nested, [first]), ['ScheduleActivity#0 inner(null)', 'ScheduleActivity#1 outer(null)', 'ScheduleActivity#2 main(null)']);
  const done = turn(2000, completed(2, 'M'), completed(0, 'I'), completed(1, 'O'));
  assert.deepEqual(run(nested, [first, done]), ['Complete ["O","I","M"]']);
});

test('the orchestrator runs before spawned flows and sees one finish only in the next round', () => {
  function* orchestrator(context) {
    const gate = context.df.callActivity('gate');
    const firstFlow = context.df.spawn(
      (function* () {
        return yield gate;
      })(),
    );
    const secondFlow = context.df.spawn(
      (function* () {
        yield gate;
        return yield context.df.callActivity('second');
      })(),
    );
    yield gate;
    const afterGate = context.df.callActivity('main_after_gate');
    yield firstFlow;
    const afterFirst = context.df.callActivity('main_after_first');
    return [yield afterGate, yield secondFlow, yield afterFirst];
  }
  assert.deepEqual(run(orchestrator, [first, turn(2000, completed(0, 'g'))]), [
    'ScheduleActivity#1 main_after_gate(null)',
    'ScheduleActivity#2 second(null)',
    'ScheduleActivity#3 main_after_first(null)',
  ]);
});

test('a flow that never waits is done at creation', () => {
  function* orchestrator(context) {
    const task = context.df.spawn(
      (function* () {
        return 5;
      })(),
    );
    const done = task.isCompleted;
    return [done, yield task];
  }
  assert.deepEqual(run(orchestrator, [first]), ['Complete [true,5]']);
});

test('the error a flow throws is its failure; an uncaught failed task keeps its failure', () => {
  class Negative extends DurableError {}
  function* caught(context) {
    try {
      yield context.df.spawn(
        (function* () {
          const v = yield context.df.callActivity('check');
          throw new Negative(`${v} is negative`);
        })(),
      );
    } catch (error) {
      assert.ok(error instanceof TaskFailedError);
      return { caught: error.type, message: error.message };
    }
  }
  assert.deepEqual(run(caught, [first, turn(2000, completed(0, -3))]), ['Complete {"caught":"Negative","message":"-3 is negative"}']);
  function* uncaught(context) {
    const flow = context.df.spawn(
      (function* () {
        return yield context.df.callActivity('check');
      })(),
    );
    return yield context.df.Task.all([flow, context.df.callActivity('side')]);
  }
  assert.deepEqual(run(uncaught, [first, turn(2000, failed(0, 'ValueError', 'bad value'))]), ['Fail ValueError: bad value']);
});

test('spawned flows stop when the orchestration ends; their finally blocks start no work', () => {
  function* orchestrator(context) {
    context.df.spawn(
      (function* () {
        try {
          yield context.df.callActivity('first');
          yield context.df.callActivity('never');
        } finally {
          context.df.callActivity('cleanup');
          context.df.setCustomStatus('cleaned');
        }
      })(),
    );
    return null;
  }
  assert.deepEqual(run(orchestrator, [first]), ['ScheduleActivity#0 first(null)', 'Complete null']);
  assert.deepEqual(run(orchestrator, [first, turn(2000, completed(0, null))]), []);
});

test('a flow holding a critical section when the orchestration ends releases it once', () => {
  const account = new EntityId('account', 'a');
  function* orchestrator(context) {
    context.df.spawn(
      (function* () {
        const lock = yield context.df.lock([account]);
        try {
          yield context.df.callActivity('never');
        } finally {
          lock.release();
        }
      })(),
    );
    yield context.df.callActivity('main');
    return 'done';
  }
  const turns = [first, turn(2000, granted(0)), turn(3000, completed(1, 'm'))];
  assert.deepEqual(run(orchestrator, turns), ['UnlockEntities account@a', 'Complete "done"']);
});

test('spawn takes a generator object', () => {
  function* orchestrator(context) {
    function* flow() {
      yield context.df.callActivity('a');
    }
    try {
      context.df.spawn(flow);
    } catch (error) {
      return `${error.name}: ${error.message}`;
    }
  }
  const [result] = run(orchestrator, [first]);
  assert.match(result, /TypeError: .*call the generator function/);
});
