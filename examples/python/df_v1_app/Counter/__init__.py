# A counter entity: one operation per call, its state kept between calls.
import azure.durable_functions as df


def entity_function(context: df.DurableEntityContext):
    count = context.get_state(lambda: 0)
    operation = context.operation_name
    if operation == "increment":
        step = context.get_input()
        context.set_state(count + (1 if step is None else step))
    elif operation == "reset":
        context.set_state(0)
    elif operation == "get":
        context.set_result(count)
    else:
        raise ValueError(f"unknown operation {operation}")


main = df.Entity.create(entity_function)
