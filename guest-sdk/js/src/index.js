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
//
//   df.app.entity('counter', (context) => {
//     const value = context.df.getState(() => 0);
//     if (context.df.operationName === 'add') context.df.setState(value + context.df.getInput());
//     else if (context.df.operationName === 'get') context.df.return(value);
//     else throw context.df.unknownOperation();
//   });

export { app } from './app.js';
export { EntityId, UnknownOperation } from './entity.js';
export { Task } from './tasks.js';
export { RetryOptions } from './retry.js';
export { DurableError, Failure, FailureCause, TaskFailedError } from './failure.js';
