# Fan-out/fan-in: one activity lists the work, one activity per item runs in parallel, and the
# orchestrator adds up what they return.
import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    size = context.get_input() or 5
    items = yield context.call_activity("GetWorkItems", size)

    parallel_tasks = [context.call_activity("ProcessItem", item) for item in items]
    results = yield context.task_all(parallel_tasks)

    context.set_custom_status({"processed": len(results)})
    return sum(results)


main = df.Orchestrator.create(orchestrator_function)
