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
//
// Besides Durable Functions' names (`df.js`), activities read the operator's configuration with
// `config` (`config.js`):
//
//   import { config } from 'durable';
//   const key = config.get('api_key'); // a string, or undefined

export * from './df.js';
export { ConfigError, config } from './config.js';
