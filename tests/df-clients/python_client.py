"""Drives `durable serve` with the official Durable Functions Python client
(azure-functions-durable) through every method it has, as a Durable Functions
app would: run by tests/e2e/df_clients.rs with the venv's python.

Environment: DF_CLIENT_BINDING, the client binding JSON (what the Functions
host hands a client function); DF_FLAG_FILE, the file that lets the probe's
`needs_flag` succeed. Any mismatch exits non-zero with a message naming it.
"""

import asyncio
import json
import os
import sys
import time
from datetime import datetime, timedelta, timezone

import azure.durable_functions as df
import azure.functions as func
from azure.durable_functions import OrchestrationRuntimeStatus as S

DEADLINE_SECS = 60


def fail(message):
    print(f"FAIL: {message}", file=sys.stderr)
    sys.exit(1)


def expect(actual, expected, what):
    if actual != expected:
        fail(f"{what}: expected {expected!r}, got {actual!r}")
    print(f"ok: {what}")


async def until(what, probe, done):
    """Calls `probe` until `done(value)` holds, for at most DEADLINE_SECS."""
    deadline = time.monotonic() + DEADLINE_SECS
    while True:
        value = await probe()
        if done(value):
            return value
        if time.monotonic() > deadline:
            fail(f"{what} never happened; last answer: {value!r}")
        await asyncio.sleep(0.02)


async def status_becomes(client, instance_id, status):
    return await until(
        f"{instance_id} becoming {status.value}",
        lambda: client.get_status(instance_id, show_input=True),
        lambda s: s.runtime_status == status,
    )


async def main():
    client = df.DurableOrchestrationClient(os.environ["DF_CLIENT_BINDING"])
    started = set()

    # start_new: the input arrives as the value the caller passed, not as its JSON text.
    echo = await client.start_new("echo", None, {"timeout_secs": 3600})
    started.add(echo)
    done = await status_becomes(client, echo, S.Completed)
    expect(done.output, {"timeout_secs": 3600}, "echo output of an object input")
    expect(done.input_, {"timeout_secs": 3600}, "status input")
    expect(done.name, "echo", "status name")
    expect(done.instance_id, echo, "status instance id")
    # An unknown orchestrator: the client raises the server's message (ExceptionMessage).
    try:
        await client.start_new("no_such_orchestrator", None, 1)
        fail("start_new of an unknown orchestrator succeeded")
    except Exception as e:  # the client raises a bare Exception
        if "no_such_orchestrator" not in str(e):
            fail(f"start_new of an unknown orchestrator raised {e!r}")
        print("ok: start_new of an unknown orchestrator raises the server's message")
    text = await client.start_new("echo", "echo-text", "hello")
    started.add(text)
    expect(text, "echo-text", "start_new with an instance id")
    done = await status_becomes(client, text, S.Completed)
    expect(done.output, "hello", "echo output of a string input")

    # wait_for_completion_or_create_check_status_response (polls get_status).
    request = func.HttpRequest("POST", "http://127.0.0.1/api/start", body=b"")
    response = await client.wait_for_completion_or_create_check_status_response(
        request, echo, timeout_in_milliseconds=10_000, retry_interval_in_milliseconds=20
    )
    expect(response.status_code, 200, "wait_for_completion status code")
    expect(json.loads(response.get_body()), {"timeout_secs": 3600}, "wait_for_completion body")

    # suspend, resume, raise_event.
    waiter = await client.start_new("wait_with_timeout", "waiter", 3600)
    started.add(waiter)
    await status_becomes(client, waiter, S.Running)
    await client.suspend(waiter, "maintenance window")
    await status_becomes(client, waiter, S.Suspended)
    await client.resume(waiter, "maintenance over")
    await status_becomes(client, waiter, S.Running)
    await client.raise_event(waiter, "x", {"approved": True})
    done = await status_becomes(client, waiter, S.Completed)
    expect(done.output, {"event": {"approved": True}}, "event data as raised")

    # terminate.
    stopped = await client.start_new("wait_for_go", "stopped", 0)
    started.add(stopped)
    await status_becomes(client, stopped, S.Running)
    await client.terminate(stopped, "not needed")
    await status_becomes(client, stopped, S.Terminated)

    # rewind: `needs_flag` fails until the flag file exists.
    flagged = await client.start_new("needs_flag", "flagged")
    started.add(flagged)
    await status_becomes(client, flagged, S.Failed)
    with open(os.environ["DF_FLAG_FILE"], "w") as flag:
        flag.write("raised\n")
    await client.rewind(flagged, "flag raised")
    done = await status_becomes(client, flagged, S.Completed)
    expect(done.output, [10, "raised"], "rewound output")

    # restart: the client returns the response body, the new run's check-status payload.
    payload = await client.restart(echo)
    restarted = payload["id"]
    started.add(restarted)
    if restarted == echo:
        fail("restart with a new instance id kept the old one")
    done = await status_becomes(client, restarted, S.Completed)
    expect(done.output, {"timeout_secs": 3600}, "restarted output")
    payload = await client.restart(text, restart_with_new_instance_id=False)
    expect(payload["id"], text, "restart in place keeps the id")
    await status_becomes(client, text, S.Completed)

    # get_status_all, get_status_by (GET instances/?...).
    everything = await client.get_status_all()
    expect({s.instance_id for s in everything}, started, "get_status_all instance ids")
    terminated = await client.get_status_by(runtime_status=[S.Terminated])
    expect([s.instance_id for s in terminated], [stopped], "get_status_by runtime status")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    later = await client.get_status_by(created_time_from=now + timedelta(hours=1))
    expect(later, [], "get_status_by created after now")
    window = await client.get_status_by(
        created_time_from=now - timedelta(hours=1),
        created_time_to=now + timedelta(hours=1),
        runtime_status=[S.Completed, S.Terminated],
    )
    expect({s.instance_id for s in window}, started, "get_status_by time window")

    # signal_entity, read_entity_state.
    hoard = df.EntityId("hoard", "py")
    await client.signal_entity(hoard, "append", 3)
    await client.signal_entity(hoard, "append", 2)
    state = await until(
        "hoard@py holding 5",
        lambda: client.read_entity_state(hoard),
        lambda r: r.entity_exists and r.entity_state == "xxxxx",
    )
    expect(state.entity_state, "xxxxx", "entity state after two signals")
    nobody = await client.read_entity_state(df.EntityId("hoard", "nobody"))
    expect(nobody.entity_exists, False, "an entity without state")

    # purge_instance_history, purge_instance_history_by (DELETE instances/?...).
    purged = await client.purge_instance_history(stopped)
    expect(purged.instances_deleted, 1, "purge one")
    gone = await client.get_status(stopped)
    expect(bool(gone), False, "status of a purged instance")
    purged = await client.purge_instance_history(stopped)
    expect(purged.instances_deleted, 0, "purge of an unknown instance")
    purged = await client.purge_instance_history_by(
        created_time_from=datetime(1970, 1, 1), runtime_status=[S.Completed]
    )
    expect(purged.instances_deleted, len(started) - 1, "purge by filter")
    expect(await client.get_status_all(), [], "instances left after purging")
    print("python client: every method passed")


asyncio.run(main())
