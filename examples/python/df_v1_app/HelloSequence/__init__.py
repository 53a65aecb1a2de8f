# A Durable Functions app as it is written for Azure Functions in Python's programming model v1:
# one folder per function, each with a function.json and an __init__.py. `durable build
# examples/python/df_v1_app` builds it unchanged: every orchestrator, activity and entity is
# registered under its folder's name, `azure.durable_functions` resolves to durable's stand-in,
# and the HttpStart folder is left out, for `durable serve` answers the same HTTP API itself.
#
# Function chaining: three activities, one after the other, each result kept in order.
import logging

import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    greetings = []
    for city in ("Tokyo", "Seattle", "London"):
        greetings.append((yield context.call_activity("SayHello", city)))
    if not context.is_replaying:
        logging.info("%s: greeted %d cities", context.instance_id, len(greetings))
    return greetings


main = df.Orchestrator.create(orchestrator_function)
