"""Function chaining: `hello_sequence` calls `say_hello` for three cities, one after another.

Build and run:

    durable build examples/python/hello_sequence -o hello_sequence_py.wasm
    durable run --component hello_sequence_py.wasm
"""

import durable

app = durable.App()


@app.orchestrator
def hello_sequence(context: durable.DurableOrchestrationContext):
    greetings = []
    for city in ["Tokyo", "Seattle", "London"]:
        greetings.append((yield context.call_activity("say_hello", city)))
    return greetings


@app.activity
def say_hello(city: str) -> str:
    return f"Hello {city}!"
