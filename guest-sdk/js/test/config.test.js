// Unit tests of `config` (activities' wasi:config reader), with `wasi:config/store` faked where
// the component glue installs it, and of where it is exported: `durable` has it,
// `durable-functions` (Durable Functions' names) does not. The real store: `tests/e2e/outbound.rs`.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import * as durable from '../src/index.js';
import * as durableFunctions from '../src/durable-functions.js';
import { ConfigError, config, installConfigStore } from '../src/config.js';
import { Failure } from '../src/index.js';

/** What componentize-js throws for an import's `err`: an Error whose `payload` is the value. */
class ComponentError extends Error {
  constructor(payload) {
    super(`${payload} (see error.payload)`);
    this.payload = payload;
  }
}

function install(values, error = null) {
  installConfigStore({
    get(key) {
      if (error) throw new ComponentError(error);
      return values[key];
    },
    getAll() {
      if (error) throw new ComponentError(error);
      return Object.entries(values);
    },
  });
}

test('get gives the value, or undefined; getAll every value', (t) => {
  t.after(() => installConfigStore(null));
  install({ api_key: 'sk-1', region: 'eu' });
  assert.equal(config.get('api_key'), 'sk-1');
  assert.equal(config.get('missing'), undefined);
  assert.deepEqual(config.getAll(), { api_key: 'sk-1', region: 'eu' });
});

test("a store error is a ConfigError with the store's message", (t) => {
  t.after(() => installConfigStore(null));
  install({}, { tag: 'upstream', val: 'the vault is sealed' });
  for (const read of [() => config.get('api_key'), () => config.getAll()]) {
    assert.throws(read, (error) => {
      assert.ok(error instanceof ConfigError);
      assert.equal(error.message, 'the vault is sealed');
      assert.equal(Failure.fromException(error).type, 'ConfigError');
      return true;
    });
  }
});

test('outside a component, config says where it works', () => {
  installConfigStore(null);
  assert.throws(() => config.get('api_key'), /activity of a component built by `durable build`/);
});

test("`durable` exports config; `durable-functions` keeps to Durable Functions' names", () => {
  assert.equal(durable.config, config);
  assert.equal(durable.ConfigError, ConfigError);
  assert.equal('config' in durableFunctions, false);
  assert.equal('ConfigError' in durableFunctions, false);
  assert.equal(durableFunctions.app, durable.app);
});
