"""Version 2 of the human-interaction example (`examples/python/human_interaction`): the same
`approval_workflow`, which also tells the requester the decision once it is made (the new
activity `notify_requester`).

The change comes after the wait for the approval, so the history of a version 1 instance that
is still waiting replays against this code: `durable deploy --upgrade` (or `durable upgrade`)
moves it here, where it finishes with the notification (docs/versioning.md):

    durable build examples/python/human_interaction -o approval_v1.wasm
    durable build examples/python/human_interaction_v2 -o approval_v2.wasm
    durable serve --component approval_v1.wasm &
    durable start approval_workflow --id order-42
    durable deploy --component approval_v2.wasm --verify --upgrade
    durable raise-event order-42 Approval true
    durable history order-42        # ExecutionUpgraded, then notify_requester
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
        decision = yield context.call_activity("process_approval", approval.result)
    else:
        yield context.call_activity("escalate", context.instance_id)
        decision = "escalated"
    # New in version 2.
    yield context.call_activity("notify_requester", [context.instance_id, decision])
    return decision


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


@app.activity
def notify_requester(notice: list) -> None:
    """Would message the person who asked; here it only logs."""
    instance_id, decision = notice
    logging.info("told the requester of %s: %s", instance_id, decision)
