"""Human interaction: `approval_workflow` asks for an approval, then races the external event
`Approval` (true or false) against a durable timer (input: `{"timeout_secs": N}`, default one
hour). If the event wins, the timer is cancelled and `process_approval` turns the answer into
"approved" or "rejected"; if the timer wins, `escalate` runs and the result is "escalated".

Build and run (the second terminal approves; the instance id is printed by `durable start`):

    durable build examples/python/human_interaction -o approval_py.wasm
    durable serve --component approval_py.wasm &
    durable start approval_workflow --id order-42 --input '{"timeout_secs": 600}'
    durable raise-event order-42 Approval true
    durable wait order-42
"""

import logging
from datetime import timedelta

import durable

app = durable.App()


@app.orchestrator
def approval_workflow(context: durable.DurableOrchestrationContext):
    timeout_secs = (context.get_input() or {}).get("timeout_secs", 3600)
    yield context.call_activity("request_approval", context.instance_id)
    timeout = context.create_timer(context.current_utc_datetime + timedelta(seconds=timeout_secs))
    approval = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval, timeout])
    if winner is approval:
        timeout.cancel()
        return (yield context.call_activity("process_approval", approval.result))
    yield context.call_activity("escalate", context.instance_id)
    return "escalated"


@app.activity
def request_approval(instance_id: str) -> None:
    """Would notify a person; here it only logs."""
    logging.info("approval requested for %s", instance_id)


@app.activity
def process_approval(approved: bool) -> str:
    return "approved" if approved else "rejected"


@app.activity
def escalate(instance_id: str) -> None:
    logging.warning("approval for %s timed out; escalating", instance_id)
