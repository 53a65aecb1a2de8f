"""A Python app that calls across components (`tests/e2e/polyglot.rs`): its orchestrator
`polyglot_greetings` calls the activity `say_hello`, which this app does not offer (the Rust
example `examples/hello-sequence` does), and its own activity `shout`. `call_named` calls the
activity named in its input and returns the failure's type and message when the call fails.
The Rust probe guest (`tests/guests/probe`) calls `shout`, `read_flag` and
`polyglot_greetings` the other way round."""

import durable
from durable import TaskFailedError

app = durable.App()


@app.orchestrator
def polyglot_greetings(context: durable.DurableOrchestrationContext):
    city = context.get_input()
    greeting = yield context.call_activity("say_hello", city)
    return (yield context.call_activity("shout", greeting))


@app.orchestrator
def call_named(context: durable.DurableOrchestrationContext):
    call = context.get_input()
    try:
        return {"result": (yield context.call_activity(call["activity"], call.get("input")))}
    except TaskFailedError as error:
        return {"type": error.type, "message": error.message, "details": error.details}


@app.activity
def shout(text: str) -> str:
    return text.upper()


@app.activity
def read_flag(_input) -> str:
    """The contents of `/data/flag`; fails (FileNotFoundError) until it exists, for rewind."""
    with open("/data/flag") as flag:
        return flag.read().strip()
