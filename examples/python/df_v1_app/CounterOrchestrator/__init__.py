# An orchestration driving the Counter entity: two one-way signals, then a call that waits for
# the count.
import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    counter = df.EntityId("Counter", context.instance_id)
    context.signal_entity(counter, "increment", 4)
    context.signal_entity(counter, "increment", 3)
    count = yield context.call_entity(counter, "get")
    return count


main = df.Orchestrator.create(orchestrator_function)
