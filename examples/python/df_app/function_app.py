# A Durable Functions app as it is written for Azure Functions (Python, programming model v2):
# an HTTP starter, function chaining, a counter entity and an orchestration calling it,
# fan-out/fan-in, human interaction with a timeout, a monitor, retry and sub-orchestrations.
# `durable build examples/python/df_app` builds this file unchanged: `azure.durable_functions`
# and `azure.functions` resolve to durable's stand-ins, and the HTTP starter is left out, for
# `durable serve` answers the same HTTP API itself.
from datetime import timedelta

import azure.functions as func
import azure.durable_functions as df

myApp = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


# An HTTP-triggered function with a Durable Functions client binding
@myApp.route(route="orchestrators/{functionName}")
@myApp.durable_client_input(client_name="client")
async def http_start(req: func.HttpRequest, client):
    function_name = req.route_params.get("functionName")
    instance_id = await client.start_new(function_name)
    response = client.create_check_status_response(req, instance_id)
    return response


# Orchestrator
@myApp.orchestration_trigger(context_name="context")
def hello_orchestrator(context: df.DurableOrchestrationContext):
    result1 = yield context.call_activity("hello", "Seattle")
    result2 = yield context.call_activity("hello", "Tokyo")
    result3 = yield context.call_activity("hello", "London")
    return [result1, result2, result3]


# Activity
@myApp.activity_trigger(input_name="city")
def hello(city: str):
    return f"Hello {city}"


# Entity
@myApp.entity_trigger(context_name="context")
def Counter(context: df.DurableEntityContext):
    current_value = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "add":
        amount = context.get_input()
        current_value += amount
    elif operation == "reset":
        current_value = 0
    elif operation == "get":
        context.set_result(current_value)
    context.set_state(current_value)


@myApp.orchestration_trigger(context_name="context")
def counter_orchestrator(context: df.DurableOrchestrationContext):
    entity_id = df.EntityId("Counter", context.instance_id)
    yield context.call_entity(entity_id, "add", 5)
    yield context.call_entity(entity_id, "add", 2)
    return (yield context.call_entity(entity_id, "get"))


# Fan-out/fan-in
@myApp.orchestration_trigger(context_name="context")
def fan_out_fan_in(context: df.DurableOrchestrationContext):
    count = context.get_input() or 5
    work_items = yield context.call_activity("get_work_items", count)
    tasks = [context.call_activity("process_item", item) for item in work_items]
    results = yield context.task_all(tasks)
    return sum(results)


@myApp.activity_trigger(input_name="count")
def get_work_items(count: int):
    return list(range(1, count + 1))


@myApp.activity_trigger(input_name="item")
def process_item(item: int):
    return item * 2


# Human interaction: an approval raced against a timeout
@myApp.orchestration_trigger(context_name="context")
def approval_orchestrator(context: df.DurableOrchestrationContext):
    deadline = context.current_utc_datetime + timedelta(hours=1)
    timeout_task = context.create_timer(deadline)
    approval_task = context.wait_for_external_event("Approval")
    winner = yield context.task_any([approval_task, timeout_task])
    if winner == approval_task:
        timeout_task.cancel()
        return "approved" if approval_task.result else "rejected"
    return "escalated"


# Monitor: check a job until it is done, waiting between checks
@myApp.orchestration_trigger(context_name="context")
def monitor_orchestrator(context: df.DurableOrchestrationContext):
    check = 0
    while True:
        check += 1
        status = yield context.call_activity("job_status", check)
        if status == "done":
            return f"done after {check} checks"
        context.set_custom_status({"checks": check})
        yield context.create_timer(context.current_utc_datetime + timedelta(seconds=0))


@myApp.activity_trigger(input_name="check")
def job_status(check: int):
    return "done" if check >= 3 else "running"


# Retry and sub-orchestrations
@myApp.orchestration_trigger(context_name="context")
def retry_orchestrator(context: df.DurableOrchestrationContext):
    retry = df.RetryOptions(first_retry_interval_in_milliseconds=100, max_number_of_attempts=3)
    return (yield context.call_activity_with_retry("parse_number", retry, "42"))


@myApp.activity_trigger(input_name="text")
def parse_number(text: str):
    return int(text)


@myApp.orchestration_trigger(context_name="context")
def parent_orchestrator(context: df.DurableOrchestrationContext):
    children = [context.call_sub_orchestrator("fan_out_fan_in", count) for count in (2, 3)]
    return (yield context.task_all(children))
