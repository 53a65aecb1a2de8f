// `durable`: Durable Functions' JavaScript programming model for durable WebAssembly
// components. Use it as the Durable Functions SDK:
//
//   import * as df from 'durable';
//
//   df.app.orchestration('hello_sequence', function* (context) {
//     const outputs = [];
//     outputs.push(yield context.df.callActivity('say_hello', 'Tokyo'));
//     return outputs;
//   });
//   df.app.activity('say_hello', { handler: (city) => `Hello ${city}!` });

export { app } from './app.js';
export { Task } from './tasks.js';
export { RetryOptions } from './retry.js';
export { DurableError, Failure, FailureCause, TaskFailedError } from './failure.js';
