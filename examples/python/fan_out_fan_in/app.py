"""Fan-out/fan-in: `fan_out_fan_in` starts `n` `work` activities at once (input: n, default 10),
waits for all of them with `task_all`, and returns the sum of their results. Every
`call_activity` schedules its activity as soon as it is called, so the host runs them in
parallel; progress is published as custom status.

Build and run:

    durable build examples/python/fan_out_fan_in -o fan_out_fan_in_py.wasm
    durable run --component fan_out_fan_in_py.wasm --input 20
"""

import logging

import durable

app = durable.App()


@app.orchestrator
def fan_out_fan_in(context: durable.DurableOrchestrationContext):
    n = context.get_input() or 10
    context.set_custom_status({"scheduled": n})
    tasks = [context.call_activity("work", item) for item in range(1, n + 1)]
    results = yield context.task_all(tasks)
    total = sum(results)
    logging.info("%d work items summed to %d", n, total)
    context.set_custom_status({"scheduled": n, "done": n})
    return total


@app.activity
def work(item: int) -> int:
    """One unit of work: doubles its input."""
    return item * 2
