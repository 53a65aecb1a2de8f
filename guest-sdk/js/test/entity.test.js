// Unit tests of entity batches (`executeBatch`): results, rollback, messages, deletion.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { DurableError, EntityId } from '../src/index.js';
import { UNKNOWN_OPERATION, executeBatch } from '../src/entity.js';

class TooBig extends Error {}
class Overdrawn extends DurableError {}

function counter(context) {
  const value = context.df.getState(() => 0);
  switch (context.df.operationName) {
    case 'add': {
      const amount = context.df.getInput();
      context.df.setState(value + amount);
      context.df.signalEntity(new EntityId('log', 'k'), 'added', amount);
      if (value + amount > 100) throw new TooBig('over 100');
      break;
    }
    case 'mutate': {
      // In-place changes to what getState returned are not the state until setState.
      const copy = context.df.getState(() => ({}));
      copy.changed = true;
      break;
    }
    case 'get':
      context.df.return(value);
      break;
    case 'whoami':
      context.df.return({ name: context.df.entityName, key: context.df.entityKey, id: String(context.df.entityId), fresh: context.df.isNewlyConstructed });
      break;
    case 'start':
      context.df.startNewOrchestration('audit', { value }, 'audit-1');
      context.df.startNewOrchestration('audit', null);
      break;
    case 'overdraw':
      throw new Overdrawn('not enough', { details: { value } });
    case 'bad_state':
      context.df.setState(10n);
      break;
    case 'delete':
      context.df.destructOnExit();
      break;
    default:
      throw context.df.unknownOperation();
  }
}

const entities = new Map([['counter', counter]]);
const op = (name, input = null) => ({ name, input: JSON.stringify(input) });
const batch = (state, operations, id = { name: 'counter', key: 'k' }) => executeBatch(entities, id, state, operations);

test('operations run in order against the state the previous ones left', () => {
  const { results, state } = batch(null, [op('get'), op('add', 5), op('add', 2), op('get')]);
  assert.deepEqual(
    results.map((r) => [r.ok, r.value]),
    [
      [true, '0'],
      [true, 'null'],
      [true, 'null'],
      [true, '7'],
    ],
  );
  assert.equal(state, '7');
  assert.deepEqual(results[1].actions, [{ kind: 'SignalEntity', entity: { name: 'log', key: 'k' }, operation: 'added', input: '5', scheduledAt: null }]);
});

test('a throwing operation rolls back only itself: its state change and its messages', () => {
  const { results, state } = batch('5', [op('add', 10), op('add', 1000), op('get'), op('overdraw'), op('add', 1), op('get')]);
  assert.equal(results.length, 6);
  assert.equal(results[0].actions.length, 1);
  const tooBig = results[1];
  assert.equal(tooBig.ok, false);
  assert.equal(tooBig.failure.type, 'TooBig', 'the failure is typed by the error class');
  assert.equal(tooBig.failure.message, 'over 100');
  assert.match(tooBig.failure.stack, /counter/);
  assert.deepEqual(tooBig.actions, [], 'a failed operation sends nothing');
  assert.equal(results[2].value, '15');
  assert.equal(results[3].failure.type, 'Overdrawn');
  assert.deepEqual(results[3].failure.details, { value: 15 });
  assert.equal(results[5].value, '16');
  assert.equal(state, '16');
});

test('getState hands out a copy: only setState changes the state', () => {
  const { state } = batch('{"a":1}', [op('mutate')]);
  assert.equal(state, '{"a":1}');
});

test('destructOnExit deletes the state; a later operation starts fresh', () => {
  assert.equal(batch('7', [op('delete')]).state, null);
  const { results, state } = batch('7', [op('delete'), op('whoami'), op('add', 2), op('get')]);
  assert.deepEqual(JSON.parse(results[1].value), { name: 'counter', key: 'k', id: '@counter@k', fresh: true });
  assert.equal(results[3].value, '2');
  assert.equal(state, '2');
  // A failing operation after a delete in the same batch restores the deleted (absent) state.
  assert.equal(batch('7', [op('delete'), op('add', 500)]).state, null);
});

test('startNewOrchestration sends a start message; a generated id is empty', () => {
  const { results } = batch('3', [op('start')]);
  assert.deepEqual(results[0].actions, [
    { kind: 'StartOrchestration', name: 'audit', instanceId: 'audit-1', input: '{"value":3}' },
    { kind: 'StartOrchestration', name: 'audit', instanceId: '', input: 'null' },
  ]);
});

test('unknown operations and entities, and state that is not JSON, fail clearly', () => {
  const { results, state } = batch('1', [op('nope'), op('bad_state'), op('get')]);
  assert.equal(results[0].failure.type, UNKNOWN_OPERATION);
  assert.equal(results[0].failure.nonRetriable, true);
  assert.match(results[0].failure.message, /`nope`/);
  assert.equal(results[1].failure.type, 'InvalidInput');
  assert.equal(results[2].value, '1');
  assert.equal(state, '1');

  const other = batch('1', [op('add', 1), op('get')], { name: 'other', key: 'k' });
  assert.deepEqual(
    other.results.map((r) => r.failure.type),
    ['UnknownFunction', 'UnknownFunction'],
  );
  assert.equal(other.state, '1', 'an unknown entity keeps its state');
});

test('async operations run one at a time, in order; a rejection rolls back only itself', async () => {
  const order = [];
  const table = new Map([
    [
      'account',
      async (context) => {
        const balance = context.df.getState(() => 0);
        const amount = context.df.getInput();
        order.push(`start ${context.df.operationName} ${amount}`);
        await Promise.resolve();
        context.df.setState(balance + amount);
        context.df.signalEntity(new EntityId('log', 'k'), 'moved', amount);
        if (balance + amount < 0) throw new Overdrawn(`balance would be ${balance + amount}`);
        await null;
        order.push(`end ${context.df.operationName} ${amount}`);
        context.df.return(balance + amount);
      },
    ],
  ]);
  const batch = executeBatch(table, { name: 'account', key: 'a' }, '5', [op('add', 10), op('add', -100), op('add', 1)]);
  assert.ok(batch instanceof Promise, 'a batch with async operations is a Promise');
  const { results, state } = await batch;
  assert.deepEqual(order, ['start add 10', 'end add 10', 'start add -100', 'start add 1', 'end add 1']);
  assert.deepEqual(
    results.map((r) => (r.ok ? r.value : `${r.failure.type}: ${r.failure.message}`)),
    ['15', 'Overdrawn: balance would be -85', '16'],
  );
  assert.deepEqual(results.map((r) => r.actions.length), [1, 0, 1], 'a failed operation sends nothing');
  assert.equal(state, '16');

  // A sync handler that returns a rejected Promise, and one that rejects with a non-Error.
  const mixed = new Map([['m', (context) => (context.df.operationName === 'no' ? Promise.reject('plain') : undefined)]]);
  const settled = await executeBatch(mixed, { name: 'm', key: 'k' }, null, [op('no'), op('yes')]);
  assert.deepEqual(settled.results.map((r) => r.ok || `${r.failure.type}: ${r.failure.message}`), ['Error: plain', true]);
  // Without async operations the batch stays synchronous.
  assert.ok(!(executeBatch(mixed, { name: 'm', key: 'k' }, null, [op('yes')]) instanceof Promise));
});

test('entity operations log through the sink', () => {
  const lines = [];
  const table = new Map([
    [
      'chatty',
      (context) => {
        context.log('op', context.df.operationName, { n: 1 });
        context.warn('careful');
      },
    ],
  ]);
  executeBatch(table, { name: 'chatty', key: 'k' }, null, [op('x')], { log: (level, line) => lines.push([level, line]) });
  assert.deepEqual(lines, [
    ['info', 'op x {"n":1}'],
    ['warn', 'careful'],
  ]);
});
