// Unit tests of running activities (`runActivity`, and the `activity.run` export of the component
// glue): plain and `async` handlers, results and structured failures. No WebAssembly: inside a
// component, componentize-js awaits the Promise the export returns, as these tests do.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';

import { DurableError, Failure } from '../src/index.js';
import { runActivity } from '../src/activity.js';
import { loadConformanceApp } from '../test-support/conformance.js';

class OutOfStock extends DurableError {}

const context = { instanceId: 'i', taskId: 0, attempt: 1 };

test('a plain handler returns JSON text, or throws a typed failure', () => {
  assert.equal(runActivity((name) => `Hello ${name}!`, '"Tokyo"', context), '"Hello Tokyo!"');
  assert.equal(runActivity(() => undefined, 'null', context), 'null');
  assert.throws(
    () => runActivity(() => {
      throw new OutOfStock('no socks', { details: { item: 'socks' } });
    }, 'null', context),
    (failure) => failure instanceof Failure && failure.type === 'OutOfStock' && failure.details.item === 'socks',
  );
});

test('an async handler gives a Promise of the JSON text it resolves to', async () => {
  const output = runActivity(async (n, ctx) => {
    await null;
    await sleep(5); // settles on a timer, not only on microtasks
    return { doubled: n * 2, attempt: ctx.attempt };
  }, '21', context);
  assert.ok(output instanceof Promise);
  assert.equal(await output, '{"doubled":42,"attempt":1}');
  // Any thenable counts, and a Promise of undefined is null.
  assert.equal(await runActivity(() => ({ then: (resolve) => resolve(7) }), 'null', context), '7');
  assert.equal(await runActivity(async () => {}, 'null', context), 'null');
});

test('a rejection is the activity failure, with its type, message and details', async () => {
  await assert.rejects(
    runActivity(async (item) => {
      await null;
      throw new OutOfStock(`no ${item} left`, { details: { item } });
    }, '"socks"', context),
    (failure) =>
      failure instanceof Failure &&
      failure.type === 'OutOfStock' &&
      failure.message === 'no socks left' &&
      failure.details.item === 'socks' &&
      failure.stack.includes('OutOfStock'),
  );
  await assert.rejects(runActivity(() => Promise.reject('plain'), 'null', context), { type: 'Error', message: 'plain' });
  // A resolved value that is not JSON fails as a synchronous one does.
  await assert.rejects(runActivity(async () => 10n, 'null', context), { type: 'TypeError' });
});

test('the activity export returns the Promise, rejected with a failure record', async () => {
  await loadConformanceApp();
  const { activity } = await import('../src/component.js');
  const wit = { instanceId: 'i', taskId: 1, attempt: 2 };
  const pending = activity.run('async_greet', '"Tokyo"', wit);
  assert.ok(pending instanceof Promise);
  assert.equal(await pending, '"Hello Tokyo!"');
  assert.equal(await activity.run('async_wait', '5', wit), '{"waitedMs":5,"attempt":2}');
  await assert.rejects(activity.run('async_out_of_stock', '"socks"', wit), (record) => {
    assert.equal(Object.getPrototypeOf(record), Object.prototype, 'a plain record, as componentize-js lowers an err');
    assert.deepEqual(
      { ...record, stack: undefined },
      { errorType: 'OutOfStock', message: 'no socks left', details: '{"item":"socks"}', stack: undefined, nonRetriable: false, inner: [] },
    );
    return true;
  });
  // A plain activity still answers synchronously.
  assert.throws(() => activity.run('reserve', '"socks"', wit), { errorType: 'OutOfStock' });
});
