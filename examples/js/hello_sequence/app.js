// Function chaining in JavaScript: one orchestrator calls one activity three times, in order.
//
//   durable build examples/js/hello_sequence -o hello_sequence_js.wasm
//   durable run --component hello_sequence_js.wasm
import * as df from 'durable';

df.app.orchestration('hello_sequence', function* (context) {
  const outputs = [];
  outputs.push(yield context.df.callActivity('say_hello', 'Tokyo'));
  outputs.push(yield context.df.callActivity('say_hello', 'Seattle'));
  outputs.push(yield context.df.callActivity('say_hello', 'London'));
  return outputs;
});

df.app.activity('say_hello', {
  handler: (city) => `Hello ${city}!`,
});
