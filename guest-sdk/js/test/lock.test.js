// Unit tests of critical sections (`context.df.lock`): the actions decided, the locking rules and
// their failures (the same as the Rust SDK's, `guest-sdk/src/orchestration/tests/entities.rs`),
// and releasing with `release()` and when the orchestration ends. No WebAssembly.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DurableLock, EntityId, LockState, RetryOptions, TaskFailedError } from '../src/index.js';
import { Action } from '../src/state.js';
import { loadConformanceApp } from '../test-support/conformance.js';
import { granted, responded, run, started, timerFired, turn } from '../test-support/history.js';

const [A, B, C] = ['a', 'b', 'c'].map((key) => new EntityId('account', key));
const RULES = 'LockingRulesViolation';

function* transfer(context) {
  const lock = yield context.df.lock([B, A, B]);
  const balance = yield context.df.callEntity(A, 'balance');
  yield context.df.Task.all([context.df.callEntity(A, 'add', -balance), context.df.callEntity(B, 'add', balance)]);
  const inside = context.df.isLocked();
  lock.release();
  return { moved: balance, inside: [inside.isLocked, inside.ownedLocks.map(String), lock.isHeld], after: context.df.isLocked().isLocked };
}

const first = turn(1000, started());
const grant = turn(2000, granted(0));

test('a lock request is sorted and duplicate-free, and the grant resumes the section', () => {
  assert.deepEqual(run(transfer, [first]), ['LockEntities#0 account@a,account@b']);
  assert.deepEqual(run(transfer, [first, grant]), ['CallEntity#1 account@a.balance(null)']);
  assert.deepEqual(run(transfer, [first, grant, turn(3000, responded(1, 7))]), [
    'CallEntity#2 account@a.add(-7)',
    'CallEntity#3 account@b.add(7)',
  ]);
});

test('release() records the unlock before completing; the lock is the yielded value', () => {
  const turns = [first, grant, turn(3000, responded(1, 7)), turn(4000, responded(2, 0), responded(3, 7))];
  assert.deepEqual(run(transfer, turns), [
    'UnlockEntities account@a,account@b',
    'Complete {"moved":7,"inside":[true,["@account@a","@account@b"],false],"after":false}',
  ]);
});

test('ending inside a section releases it: completing, failing, continuing as new', () => {
  function* hold(context) {
    const lock = yield context.df.lock(A); // the varargs form
    assert.ok(lock instanceof DurableLock);
    assert.deepEqual(lock.ownedLocks, [A]);
    if (context.df.getInput() === 'fail') throw new Error('broken');
    if (context.df.getInput() === 'again') {
      context.df.continueAsNew(1);
      context.df.callActivity('dropped');
    }
    return 'held';
  }
  const grantA = turn(2000, granted(0));
  assert.deepEqual(run(hold, [turn(1000, started()), grantA]), ['UnlockEntities account@a', 'Complete "held"']);
  assert.deepEqual(run(hold, [turn(1000, started('fail')), grantA]), ['UnlockEntities account@a', 'Fail Error: broken']);
  assert.deepEqual(run(hold, [turn(1000, started('again')), grantA]), ['UnlockEntities account@a', 'ContinueAsNew 1 []']);
});

test('a lock can be released before its grant, once', () => {
  function* giveUp(context) {
    const lock = context.df.lock([A]);
    const winner = yield context.df.Task.any([lock, context.df.createTimer(context.df.currentUtcDateTime)]);
    lock.release();
    lock.release();
    return [winner === lock, context.df.isLocked().isLocked];
  }
  assert.deepEqual(run(giveUp, [first, turn(2000, timerFired(1))]), ['UnlockEntities account@a', 'Complete [false,false]']);
});

function* rules(context) {
  yield context.df.lock([A]);
  const refused = [];
  const attempts = [
    () => context.df.callEntity(C, 'balance'),
    () => context.df.lock([C]),
    () => context.df.callSubOrchestrator('child'),
    () => context.df.callSubOrchestratorWithRetry('child', new RetryOptions(5000, 3)),
  ];
  for (const attempt of attempts) {
    try {
      yield attempt();
    } catch (error) {
      assert.ok(error instanceof TaskFailedError);
      refused.push([error.type, error.message, error.failure.nonRetriable]);
    }
  }
  context.df.signalEntity(C, 'ping');
  return refused;
}

test('refused calls fail with the Rust SDK messages and take no sequence id; signals are allowed', () => {
  const actions = run(rules, [first, grant]);
  assert.deepEqual(actions.slice(0, 2), ['SignalEntity#1 account@c.ping(null)', 'UnlockEntities account@a']);
  assert.deepEqual(JSON.parse(actions[2].slice('Complete '.length)), [
    [RULES, 'inside a critical section only the locked entities can be called, not `account@c`', true],
    [RULES, 'a critical section is already held; unlock it before locking again', true],
    [RULES, 'a critical section cannot call a sub-orchestration; unlock its entities first', true],
    [RULES, 'a critical section cannot call a sub-orchestration; unlock its entities first', true],
  ]);
});

test('a lock of no entities fails the orchestration; ids must be EntityIds', () => {
  function* none(context) {
    yield context.df.lock([]);
  }
  assert.deepEqual(run(none, [first]), [`Fail ${RULES}: lock_entities needs at least one entity`]);
  function* wrong(context) {
    yield context.df.lock(['account@a']);
  }
  assert.deepEqual(run(wrong, [first]), ['Fail TypeError: lock takes an EntityId (new df.EntityId(name, key))']);
});

test('the rules hold from the request on; a refused lock releases nothing', () => {
  function* pending(context) {
    const lock = context.df.lock([A]);
    const nested = context.df.lock([B]);
    nested.release();
    const call = context.df.callEntity(B, 'get');
    const state = context.df.isLocked();
    assert.ok(state instanceof LockState);
    return [state.isLocked, lock.isHeld, nested.isHeld, call.isFaulted];
    yield; // a generator
  }
  assert.deepEqual(run(pending, [first]), ['LockEntities#0 account@a', 'UnlockEntities account@a', 'Complete [true,true,false,true]']);
});

test('entities sort by code point, as the host and the Rust SDK sort them', () => {
  function* sorted(context) {
    yield context.df.lock([new EntityId('e', '\u{1F600}'), new EntityId('e', '\uFFFD'), new EntityId('d', 'z')]);
  }
  assert.deepEqual(run(sorted, [first]), ['LockEntities#0 d@z,e@\uFFFD,e@\u{1F600}']);
});

test('the glue turns lock actions and grants into WIT and back', async () => {
  await loadConformanceApp(); // registers how `component.js` resolves its imports natively
  const { actionToWit, eventFromWit } = await import('../src/component.js');
  const entities = [{ name: 'account', key: 'a' }];
  assert.deepEqual(actionToWit(new Action(3, 'LockEntities', { entities })), { id: 3, kind: { tag: 'lock-entities', val: { entities } } });
  assert.deepEqual(actionToWit(new Action(0, 'UnlockEntities', { entities })), { id: 0, kind: { tag: 'unlock-entities', val: { entities } } });
  const event = eventFromWit({ eventId: undefined, timestamp: 5n, kind: { tag: 'entity-lock-granted', val: { taskId: 3 } } });
  assert.deepEqual([event.kind, event.timestamp, event.data], ['EntityLockGranted', 5, { taskId: 3 }]);
});
