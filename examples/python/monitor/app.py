"""A monitor: `monitor` polls a job's status with the activity `check_status` every
`poll_secs` seconds until it is done or the deadline passes, and returns "done" or "expired".
Input: `{"job": "j1", "poll_secs": 60, "deadline_ms": <ms since the Unix epoch>}`.

Each poll is one execution: check, and if not done, sleep on a durable timer and
`continue_as_new` with the poll counter incremented, so the history stays small however long
the monitor runs. The deadline is compared with the replay-safe `current_utc_datetime`.

Build and run:

    durable build examples/python/monitor -o monitor_py.wasm
    durable run --component monitor_py.wasm \\
        --input "{\\"job\\": \\"j1\\", \\"poll_secs\\": 1, \\"deadline_ms\\": $(( ($(date +%s) + 600) * 1000 ))}"
"""

import logging
from datetime import timedelta

import durable

DONE = "done"
EXPIRED = "expired"
# The poll counter at which the (simulated) job is finished: the fourth poll.
DONE_AT_COUNTER = 3

app = durable.App()


@app.orchestrator
def monitor(context: durable.DurableOrchestrationContext):
    job = context.get_input()
    counter = job.get("counter", 0)
    now_ms = int(context.current_utc_datetime.timestamp() * 1000)
    if now_ms >= job["deadline_ms"]:
        logging.info("job %s expired after %d polls", job["job"], counter)
        return EXPIRED
    status = yield context.call_activity("check_status", {"job": job["job"], "counter": counter})
    context.set_custom_status({"counter": counter, "status": status})
    if status == DONE:
        return DONE
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=job["poll_secs"]))
    context.continue_as_new({**job, "counter": counter + 1}, preserve_unprocessed_events=True)
    return ""


@app.activity
def check_status(query: dict) -> str:
    """Reports a job's status. Simulated, deterministically: done once the poll counter
    reaches DONE_AT_COUNTER."""
    return DONE if query["counter"] >= DONE_AT_COUNTER else "running"
