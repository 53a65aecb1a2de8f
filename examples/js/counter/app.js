// A counter entity in JavaScript, driven from the CLI and from an orchestrator.
//
// `counter` keeps an integer: `add` (input: the amount; returns the new value), `reset`, `get`
// (returns the value), `delete`. An amount that would take it below zero throws a
// `NegativeCounter` error, which fails that operation only and leaves the value as it was; a
// caller sees the failure with its type. `increment_and_read` signals `add` to a counter and then
// calls `get`: entity messages from one orchestration to one entity arrive in order, so the
// answer includes the increment. `call_counter` calls any operation, for trying errors out.
//
//   durable build examples/js/counter -o counter_js.wasm
//   target/debug/durable serve --component counter_js.wasm &
//   target/debug/durable entity signal counter alice add --input 5
//   target/debug/durable start increment_and_read --input '{"key": "alice", "amount": 1}'
//   target/debug/durable entity get counter alice          # counter@alice  6  ...
import * as df from 'durable';

class NegativeCounter extends Error {}

df.app.entity('counter', (context) => {
  const value = context.df.getState(() => 0);
  switch (context.df.operationName) {
    case 'add': {
      const amount = context.df.getInput();
      const next = value + amount;
      if (next < 0) throw new NegativeCounter(`adding ${amount} to ${value} would go below zero`);
      context.df.setState(next);
      context.df.return(next);
      break;
    }
    case 'reset':
      context.df.setState(0);
      break;
    case 'get':
      context.df.return(value);
      break;
    case 'delete':
      context.df.destructOnExit();
      break;
    default:
      throw context.df.unknownOperation();
  }
});

// Input: {key, amount}.
df.app.orchestration('increment_and_read', function* (context) {
  const { key, amount } = context.df.getInput();
  const id = new df.EntityId('counter', key);
  context.df.signalEntity(id, 'add', amount);
  const value = yield context.df.callEntity(id, 'get');
  context.log(`counter@${key} is ${value}`);
  return value;
});

// Input: {entity, key, operation, input}.
df.app.orchestration('call_counter', function* (context) {
  const { entity, key, operation, input } = context.df.getInput();
  return yield context.df.callEntity(new df.EntityId(entity, key), operation, input);
});
