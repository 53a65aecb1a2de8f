// The JavaScript side of `durable bench`: the orchestrators and activity of the Rust bench guest
// (`tests/guests/bench/src/lib.rs`), with the same names, inputs and results, so the benchmark's
// scenarios run unchanged against a JavaScript orchestrator.
//
// - `chain`: N activities in sequence (default 5).
// - `fan_out`: N activities in parallel, joined with `Task.all`.
// - `event_loop`: waits for N `tick` events one after another; a long history for replay.
import * as df from 'durable';

const inputOr = (context, fallback) => context.df.getInput() ?? fallback;

df.app.orchestration('chain', function* (context) {
  const n = inputOr(context, 5);
  let total = 0;
  for (let i = 0; i < n; i++) total += yield context.df.callActivity('work', i);
  return total;
});

df.app.orchestration('fan_out', function* (context) {
  const n = inputOr(context, 1000);
  const tasks = [];
  for (let i = 0; i < n; i++) tasks.push(context.df.callActivity('work', i));
  const values = yield context.df.Task.all(tasks);
  return values.reduce((sum, v) => sum + v, 0);
});

df.app.orchestration('event_loop', function* (context) {
  const n = inputOr(context, Infinity);
  let seen = 0;
  while (seen < n) {
    yield context.df.waitForExternalEvent('tick');
    seen += 1;
  }
  return seen;
});

df.app.activity('work', { handler: (i) => i * 2 });
