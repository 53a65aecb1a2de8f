"""The Python side of `durable bench`: the orchestrators and activity of the Rust bench guest
(`tests/guests/bench/src/lib.rs`), with the same names, inputs and results, so the benchmark's
scenarios run unchanged against a Python orchestrator.

- `chain`: N activities in sequence (default 5).
- `fan_out`: N activities in parallel, joined with `task_all`.
- `event_loop`: waits for N `tick` events one after another; a long history for replay.
"""

import durable

app = durable.App()


@app.orchestrator
def chain(context):
    n = context.get_input()
    total = 0
    for i in range(5 if n is None else n):
        total += yield context.call_activity("work", i)
    return total


@app.orchestrator
def fan_out(context):
    n = context.get_input()
    tasks = [context.call_activity("work", i) for i in range(1000 if n is None else n)]
    return sum((yield context.task_all(tasks)))


@app.orchestrator
def event_loop(context):
    n = context.get_input()
    seen = 0
    while n is None or seen < n:
        yield context.wait_for_external_event("tick")
        seen += 1
    return seen


@app.activity
def work(i):
    return i * 2
