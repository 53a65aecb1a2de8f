// A Durable Functions app's trigger registrations and client calls, inside a component: accepted
// where Azure Functions would wire them, with a clear error where one would run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as df from '../src/index.js';
import * as functions from '../src/functions.js';

test('HTTP starters and other triggers are accepted and left out', () => {
  const options = {
    route: 'orchestrators/{orchestratorName}',
    extraInputs: [df.input.durableClient()],
    handler: async () => {},
  };
  assert.equal(functions.app.http('start', options), options);
  functions.app.timer('nightly', { schedule: '0 0 * * *', handler: () => {} });
  df.app.client.http('clientStart', options);
  functions.app.setup({ enableHttpStream: true });
  assert.deepEqual(functions.registeredTriggers(), [
    { kind: 'http', name: 'start' },
    { kind: 'timer', name: 'nightly' },
  ]);
  assert.equal(df.input.durableClient().type, 'durableClient');
  assert.equal(functions.input.storageBlob({ path: 'x' }).type, 'storageBlob');
  assert.equal(new functions.HttpResponse({ status: 202 }).status, 202);
});

test('getClient says the host serves the client API', () => {
  assert.throws(() => df.getClient({}), (error) => {
    assert.equal(error.name, 'DurableError');
    assert.match(error.message, /HTTP API of `durable serve`/);
    assert.equal(error.nonRetriable, true);
    return true;
  });
});
