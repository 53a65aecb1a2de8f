"""A counter entity driven from the CLI and from an orchestrator, as in Durable Functions.

`counter` keeps an integer: `add` (input: the amount; returns the new value), `reset`, `get`
(returns the value), `delete`. An amount that would take it below zero fails the operation
with `NegativeCounter`, which leaves the value as it was. `increment_and_read` signals `add`
to a counter and then calls `get`: messages from one orchestration to one entity arrive in
order, so the answer includes the increment.

Build and run:

    durable build examples/python/counter -o counter_py.wasm
    durable run --component counter_py.wasm --orchestrator increment_and_read \\
        --input '{"key": "apples", "amount": 5}'        # prints 5
    durable entity get counter apples                   # counter@apples  5  ...
"""

import durable

app = durable.App()


class NegativeCounter(durable.DurableError):
    """Raised when an `add` would take the counter below zero."""


@app.entity
def counter(context: durable.DurableEntityContext):
    value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        amount = context.get_input()
        if value + amount < 0:
            raise NegativeCounter(f"adding {amount} to {value} would go below zero", non_retriable=True)
        context.set_state(value + amount)
        context.set_result(value + amount)
    elif operation == "reset":
        context.set_state(0)
    elif operation == "get":
        context.set_result(value)
    elif operation == "delete":
        context.destruct_on_exit()
    else:
        raise context.unknown_operation()


@app.orchestrator
def increment_and_read(context: durable.DurableOrchestrationContext):
    request = context.get_input()
    entity = durable.EntityId("counter", request["key"])
    context.signal_entity(entity, "add", request["amount"])
    return (yield context.call_entity(entity, "get"))


@app.orchestrator
def call_counter(context: durable.DurableOrchestrationContext):
    """Any operation on any entity, for trying errors out: input `{"entity", "key",
    "operation", "input"}`."""
    request = context.get_input()
    entity = durable.EntityId(request["entity"], request["key"])
    return (yield context.call_entity(entity, request["operation"], request.get("input")))
