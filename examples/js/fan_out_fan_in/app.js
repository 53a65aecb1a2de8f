// Fan-out/fan-in in JavaScript: the orchestrator `fan_out_fan_in` starts `n` `work` activities
// at once (10 when the input is null), waits for all of them with `Task.all`, and returns the sum
// of their results. Every `callActivity` schedules its activity as soon as it is called, so the
// host runs them in parallel. Progress is published as custom status.
//
//   durable build examples/js/fan_out_fan_in -o fan_out_fan_in_js.wasm
//   durable run --component fan_out_fan_in_js.wasm --input 5
import * as df from 'durable';

df.app.orchestration('fan_out_fan_in', function* (context) {
  const n = context.df.getInput() ?? 10;
  context.df.setCustomStatus({ scheduled: n });
  const tasks = [];
  for (let item = 1; item <= n; item++) tasks.push(context.df.callActivity('work', item));
  const results = yield context.df.Task.all(tasks);
  const total = results.reduce((sum, value) => sum + value, 0);
  context.log(`${n} work items summed to ${total}`);
  context.df.setCustomStatus({ scheduled: n, done: n });
  return total;
});

// One unit of work: doubles its input.
df.app.activity('work', { handler: (item) => item * 2 });
