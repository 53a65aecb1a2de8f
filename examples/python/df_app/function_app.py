# A Durable Functions app as it is written for Azure Functions (Python, programming model v2):
# function chaining, a counter entity and an orchestration calling it, and an HTTP starter.
# `durable build examples/python/df_app` builds this file unchanged: `azure.durable_functions`
# and `azure.functions` resolve to durable's stand-ins, and the HTTP starter is left out, for
# `durable serve` answers the same HTTP API itself.
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
