"""The Python implementation of the orchestrators the language-neutral conformance scenarios
(`tests/conformance/`) run against. Each does what the doc comment of the function of the same
name in `tests/guests/conformance/src/lib.rs` specifies. The functions at the end are for the
end-to-end tests through the real host: structured failures (`tests/e2e/python.rs`) and the
crash test (`tests/e2e/crash.rs`, the same behaviour as `slow_chain` in the probe guest), the
chaos test's workload (`tests/e2e/chaos.rs`, the probe guest's `chaos_*` with a `_py` suffix), and
outbound HTTP and configuration from activities (`tests/e2e/outbound.rs`, as the Rust outbound
guest's functions of the same names)."""

import hashlib
import logging
import os
import random
import time
import uuid
from datetime import timedelta

import durable
from durable import RetryOptions, TaskFailedError

app = durable.App()


def millis(context):
    return int(context.current_utc_datetime.timestamp() * 1000)


def race_result(tasks, winner):
    index = tasks.index(winner)
    if winner.is_faulted:
        return {"winner": index, "failure": winner.failure.type}
    return {"winner": index, "value": winner.result}


class InsufficientFunds(durable.DurableError):
    pass


# --- Chaining, failures, awaiting ------------------------------------------------------------


@app.orchestrator
def chain(context):
    results = []
    for i in range(context.get_input()):
        results.append((yield context.call_activity("step", i)))
    return results


@app.orchestrator
def fail_fast(context):
    yield context.call_activity("boom")
    return (yield context.call_activity("unreachable"))


@app.orchestrator
def catch_failure(context):
    try:
        value = yield context.call_activity("boom")
        return {"caught": None, "value": value}
    except TaskFailedError as error:
        recovered = yield context.call_activity("recover", error.type)
        return {"caught": error.type, "message": error.message, "recovered": recovered}


@app.orchestrator
def user_error(context):
    balance = yield context.call_activity("balance")
    if balance < 5:
        raise InsufficientFunds(f"balance is {balance}, needed 5", details={"balance": balance})
    return balance


@app.orchestrator
def return_immediately(context):
    return context.get_input()


@app.orchestrator
def report_version(context):
    return context.version


@app.orchestrator
def await_twice(context):
    task = context.call_activity("once")
    first = yield task
    second = yield task
    return [first, second]


@app.orchestrator
def never_awaited(context):
    context.call_activity("fire_and_forget", 1)
    context.call_activity("fire_and_forget", 2)
    return (yield context.call_activity("awaited"))


# --- Replay-safe observations ----------------------------------------------------------------


@app.orchestrator
def time_per_turn(context):
    times, wall = [], []
    for i in range(3):
        if i > 0:
            yield context.call_activity("tick", i)
        times.append(millis(context))
        wall.append(round(time.time() * 1000))
    return {"times": times, "wall": wall}


@app.orchestrator
def uuids(context):
    ids = [context.new_uuid(), context.new_uuid()]
    context.set_custom_status(ids)
    yield context.call_activity("tick")
    ids.append(context.new_uuid())
    return ids


@app.orchestrator
def replaying_flags(context):
    flags = [context.is_replaying]
    context.set_custom_status(flags)
    for i in range(1, 3):
        yield context.call_activity("tick", i)
        flags.append(context.is_replaying)
        context.set_custom_status(flags)
    return flags


# --- task_all / task_any ---------------------------------------------------------------------


@app.orchestrator
def all_success(context):
    return (yield context.task_all([context.call_activity("work", i) for i in range(context.get_input())]))


@app.orchestrator
def all_first_failure(context):
    try:
        values = yield context.task_all([context.call_activity("work", i) for i in range(3)])
        return {"values": values}
    except TaskFailedError as error:
        return {"failure": error.type, "message": error.message}


@app.orchestrator
def all_empty(context):
    return (yield context.task_all([]))


@app.orchestrator
def any_success(context):
    tasks = [context.call_activity("a"), context.call_activity("b")]
    return race_result(tasks, (yield context.task_any(tasks)))


@app.orchestrator
def any_failed_winner(context):
    tasks = [context.call_activity("a"), context.call_activity("b")]
    return race_result(tasks, (yield context.task_any(tasks)))


@app.orchestrator
def any_empty(context):
    yield context.task_any([])


@app.orchestrator
def nested(context):
    race_tasks = [context.call_activity("a"), context.call_activity("b")]
    race = context.task_any(race_tasks)
    both = context.task_all([context.call_activity("c"), context.call_activity("d")])
    yield context.task_all([race, both])
    return {"any": race_result(race_tasks, race.result), "all": both.result}


@app.orchestrator
def nested_any_of_all(context):
    both = context.task_all([context.call_activity("a"), context.call_activity("b")])
    c = context.call_activity("c")
    return race_result([both, c], (yield context.task_any([both, c])))


@app.orchestrator
def reuse_pending_in_any(context):
    slow, fast1, fast2 = context.call_activity("slow"), context.call_activity("fast1"), context.call_activity("fast2")
    first = race_result([slow, fast1], (yield context.task_any([slow, fast1])))
    context.set_custom_status(first)
    second = race_result([slow, fast2], (yield context.task_any([slow, fast2])))
    return {"first": first, "second": second}


# --- Timers ----------------------------------------------------------------------------------


@app.orchestrator
def timer_fire(context):
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
    return millis(context)


@app.orchestrator
def timer_cancel(context):
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
    result = yield context.call_activity("work")
    timer.cancel()
    return result


@app.orchestrator
def timer_vs_event(context):
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
    approve = context.wait_for_external_event("approve")
    winner = yield context.task_any([approve, timer])
    if winner is approve:
        timer.cancel()
        return {"winner": "event", "value": approve.result}
    return {"winner": "timer"}


# --- External events -------------------------------------------------------------------------


@app.orchestrator
def event_wait(context):
    return (yield context.wait_for_external_event("go"))


@app.orchestrator
def event_early(context):
    yield context.call_activity("prepare")
    first = yield context.wait_for_external_event("go")
    context.set_custom_status({"first": first})
    second = yield context.wait_for_external_event("go")
    return [first, second]


@app.orchestrator
def two_waiters(context):
    waiters = [context.wait_for_external_event("go"), context.wait_for_external_event("go")]
    first = waiters.index((yield context.task_any(waiters)))
    context.set_custom_status({"first": first})
    values = yield context.task_all(waiters)
    return {"first": first, "values": values}


@app.orchestrator
def events_out_of_order(context):
    a = yield context.wait_for_external_event("a")
    b = yield context.wait_for_external_event("b")
    return [a, b]


# --- Custom status, continue-as-new, sub-orchestrations --------------------------------------


@app.orchestrator
def custom_status(context):
    context.set_custom_status("started")
    yield context.call_activity("step", 1)
    context.set_custom_status({"progress": 50})
    yield context.call_activity("step", 2)
    context.set_custom_status(None)
    return "done"


@app.orchestrator
def continue_as_new(context):
    n = context.get_input()
    if n >= 3:
        return n
    yield context.call_activity("step", n)
    context.continue_as_new(n + 1)
    context.call_activity("after")
    return n


@app.orchestrator
def sub_orchestration(context):
    return {"child": (yield context.call_sub_orchestrator("child", context.get_input()))}


@app.orchestrator
def log_flood(context):
    """Logs 300 lines of 1 MB through `logging`: the host keeps a bounded part."""
    line = "x" * (1 << 20)
    for _ in range(300):
        logging.getLogger("flood").warning(line)
    return "flooded"


@app.orchestrator
def blocking_sleep(context):
    """Sleeps 30 s with `time.sleep`: the sandbox must refuse at once (use create_timer)."""
    time.sleep(30)
    return "slept"


# --- Entities -------------------------------------------------------------------------------


@app.entity
def dice(context: durable.DurableEntityContext):
    """`roll`: random values (different in every batch, the same when a batch runs again)."""
    context.set_result({"uuid": str(uuid.uuid4()), "random": random.random()})


@app.orchestrator
def roll_dice(context):
    """Calls `roll` on `dice@<input>` and returns what it rolled."""
    return (yield context.call_entity(durable.EntityId("dice", context.get_input()), "roll"))


@app.orchestrator
def entity_counter(context):
    counter = durable.EntityId("counter", context.get_input())
    context.signal_entity(counter, "add", 1)
    return (yield context.call_entity(counter, "get"))


# --- Critical sections -----------------------------------------------------------------------


def account_id(key):
    return durable.EntityId("account", key)


@app.orchestrator
def lock_transfer(context):
    n = context.get_input()
    a, b = account_id("a"), account_id("b")
    with (yield context.lock([b, a, b])):
        balance = yield context.call_entity(a, "balance")
        if balance < n:
            raise InsufficientFunds(f"balance is {balance}, needed {n}")
        yield context.task_all([context.call_entity(a, "add", -n), context.call_entity(b, "add", n)])
    return {"transferred": n, "locked": context.is_locked}


@app.orchestrator
def lock_rules(context):
    a, c = account_id("a"), account_id("c")
    yield context.lock([a])
    attempts = [
        lambda: context.call_entity(c, "balance"),
        lambda: context.lock([c]),
        lambda: context.call_sub_orchestrator("child"),
        lambda: context.call_sub_orchestrator_with_retry("child", THREE_ATTEMPTS),
    ]
    refused = []
    for attempt in attempts:
        try:
            yield attempt()
        except TaskFailedError as error:
            refused.append({"type": error.type, "message": error.message})
    context.signal_entity(c, "ping")
    return {"refused": refused, "locked": context.is_locked}


@app.orchestrator
def lock_none(context):
    yield context.lock([])


# --- Retries, timed waits, carried events ----------------------------------------------------

THREE_ATTEMPTS = RetryOptions(first_retry_interval_in_milliseconds=5000, max_number_of_attempts=3)


@app.orchestrator
def retry_activity(context):
    return (yield context.call_activity_with_retry("flaky", THREE_ATTEMPTS))


@app.orchestrator
def retry_parallel(context):
    first = context.call_activity_with_retry("flaky", THREE_ATTEMPTS, 1)
    second = context.call_activity_with_retry("flaky", THREE_ATTEMPTS, 2)
    return (yield context.task_all([first, second]))


@app.orchestrator
def event_timeout(context):
    try:
        return {"event": (yield context.wait_for_external_event("approve", timeout=timedelta(seconds=30)))}
    except TaskFailedError as error:
        context.set_custom_status({"timedOut": error.type})
        later = yield context.wait_for_external_event("approve")
        return {"timedOut": error.type, "later": later}


@app.orchestrator
def carry_events(context):
    data = context.get_input() or {}
    round_, preserve = data.get("round", 0), data.get("preserve", False)
    yield context.call_activity("work", round_)
    item = yield context.wait_for_external_event("item")
    if round_ < 2:
        context.continue_as_new({"round": round_ + 1, "preserve": preserve}, preserve_unprocessed_events=preserve)
    return item


# --- Spawned sub-flows -----------------------------------------------------------------------


@app.orchestrator
def spawn_chain(context):
    def chain():
        a = yield context.call_activity("a")
        b = yield context.call_activity("b", a)
        return [a, b]

    flow = context.spawn(chain())
    other = context.call_activity("c")
    chained = yield flow
    return {"chain": chained, "other": (yield other)}


@app.orchestrator
def spawn_poll_order(context):
    gate = context.call_activity("gate")

    def first():
        return (yield gate)

    def second():
        yield gate
        return (yield context.call_activity("second"))

    first_flow = context.spawn(first())
    second_flow = context.spawn(second())
    yield gate
    after_gate = context.call_activity("main_after_gate")
    yield first_flow
    after_first = context.call_activity("main_after_first")
    return [(yield after_gate), (yield second_flow), (yield after_first)]


class Negative(durable.DurableError):
    pass


@app.orchestrator
def spawn_failure(context):
    def flow():
        v = yield context.call_activity("check")
        if v < 0:
            raise Negative(f"{v} is negative")
        return v

    spawned = context.spawn(flow())
    side = context.call_activity("side")
    return (yield context.task_all([spawned, side]))


@app.orchestrator
def spawn_vs_timer(context):
    def flow():
        a = yield context.call_activity("a")
        return (yield context.call_activity("b", a))

    spawned = context.spawn(flow())
    timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
    tasks = [spawned, timer]
    winner = yield context.task_any(tasks)
    if winner is spawned:
        timer.cancel()
    return race_result(tasks, winner)


@app.orchestrator
def spawn_nested(context):
    def inner():
        return (yield context.call_activity("inner"))

    def outer():
        inner_flow = context.spawn(inner())
        mine = yield context.call_activity("outer")
        return [mine, (yield inner_flow)]

    outer_flow = context.spawn(outer())
    last = yield context.call_activity("main")
    return [*(yield outer_flow), last]


# --- For the end-to-end tests (not conformance scenarios) ------------------------------------


@app.entity
def account(context: durable.DurableEntityContext):
    """State `{"balance": b}`: `deposit` and `withdraw` return the new balance, `balance` reads
    it (as `examples/bank-transfer`, for `tests/e2e/entities.rs`)."""
    balance = context.get_state(lambda: {"balance": 0})["balance"]
    amount = context.get_input()
    if context.operation_name == "deposit":
        balance += amount
    elif context.operation_name == "withdraw":
        if amount > balance:
            raise InsufficientFunds(f"balance is {balance}, needed {amount}", non_retriable=True)
        balance -= amount
    elif context.operation_name != "balance":
        raise context.unknown_operation()
    context.set_state({"balance": balance})
    return balance


@app.orchestrator
def transfer(context):
    """Input `{from, to, amount}`: locks both accounts, moves the amount if the source has it,
    and returns whether it moved."""
    data = context.get_input()
    source, target = account_id(data["from"]), account_id(data["to"])
    with (yield context.lock([source, target])):
        moved = (yield context.call_entity(source, "balance")) >= data["amount"]
        if moved:
            yield context.task_all(
                [context.call_entity(source, "withdraw", data["amount"]), context.call_entity(target, "deposit", data["amount"])]
            )
    return moved


class OutOfStock(durable.DurableError):
    pass


@app.activity
def reserve(item):
    raise OutOfStock(f"no {item} left", details={"item": item})


@app.orchestrator
def reserve_or_report(context):
    """Calls `reserve` with the input: a caught failure is returned as
    `{"type", "message", "details"}`; with input `"uncaught"` it is not caught."""
    item = context.get_input()
    if item == "uncaught":
        return (yield context.call_activity("reserve", item))
    try:
        return (yield context.call_activity("reserve", item))
    except TaskFailedError as error:
        return {"type": error.type, "message": error.message, "details": error.details}


@app.orchestrator
def slow_chain(context):
    """Calls `slow_step` with 1..5 in sequence and returns the outputs (the crash test)."""
    outputs = []
    for step in range(1, 6):
        outputs.append((yield context.call_activity("slow_step", step)))
    return outputs


@app.activity
def slow_step(step, context: durable.ActivityContext):
    """Appends `"{instance_id} {step}"` to `/data/runs.log`, sleeps `SLOW_STEP_MS` (default
    200) milliseconds, and returns `step * 10`."""
    with open("/data/runs.log", "a") as log:
        log.write(f"{context.instance_id} {step}\n")
    time.sleep(int(os.environ.get("SLOW_STEP_MS", "200")) / 1000)
    return step * 10


@app.orchestrator
def fetch(context):
    """POSTs `{"job":1}` to the input URL with `call_http` and returns the final status and
    body, following 202 + Location polling (the durable HTTP test, like the probe guest's)."""
    response = yield context.call_http("POST", context.get_input(), '{"job":1}')
    return {"status": response["statusCode"], "content": response["content"]}


# --- The chaos test's workload (`tests/e2e/chaos.rs`; the probe guest's `chaos_*` in Python) ---


def chaos_step_task(context, n):
    """Schedules `chaos_step_py(n)`, whose value is `2 * n` (the test reads the attempt)."""
    return context.call_activity("chaos_step_py", n)


@app.orchestrator
def chaos_chain_py(context):
    """`chaos_step_py(1..=n)` in sequence: returns `[2, 4, ..., 2n]`."""
    values = []
    for step in range(1, context.get_input() + 1):
        values.append((yield chaos_step_task(context, step))["value"])
    return values


@app.orchestrator
def chaos_fan_py(context):
    """`chaos_step_py(1..=n)` at once: returns their sum, `n * (n + 1)`."""
    steps = [chaos_step_task(context, step) for step in range(1, context.get_input() + 1)]
    return sum(step["value"] for step in (yield context.task_all(steps)))


@app.orchestrator
def chaos_timer_py(context):
    """`chaos_step_py(1)`, a durable timer of `secs` seconds, `chaos_step_py(2)`: `[2, 4]`."""
    first = (yield chaos_step_task(context, 1))["value"]
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=context.get_input()))
    return [first, (yield chaos_step_task(context, 2))["value"]]


@app.orchestrator
def chaos_event_py(context):
    """`chaos_step_py(1)`, the event `go` (a number `d`), `chaos_step_py(d)`: `[2, 2d]`."""
    first = (yield chaos_step_task(context, 1))["value"]
    go = yield context.wait_for_external_event("go")
    return [first, (yield chaos_step_task(context, go))["value"]]


@app.orchestrator
def chaos_sub_py(context):
    """`chaos_chain_py(n)` and `chaos_chain_py(n + 1)` as sub-orchestrations at once."""
    n = context.get_input()
    children = [
        context.call_sub_orchestrator("chaos_chain_py", n),
        context.call_sub_orchestrator("chaos_chain_py", n + 1),
    ]
    return (yield context.task_all(children))


@app.orchestrator
def chaos_signals_py(context):
    """`k` times: signals `add 1` to `chaos_counter_py@<instance id>` and `@total`, then runs
    a `chaos_step_py`. Returns what `get` on its own counter answers then: `k`."""
    own = durable.EntityId("chaos_counter_py", context.instance_id)
    total = durable.EntityId("chaos_counter_py", "total")
    for step in range(1, context.get_input() + 1):
        context.signal_entity(own, "add", 1)
        context.signal_entity(total, "add", 1)
        yield chaos_step_task(context, step)
    return (yield context.call_entity(own, "get"))


@app.entity
def chaos_counter_py(context: durable.DurableEntityContext):
    """An integer: `add` (input: the amount), `get` (returns it)."""
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(value + context.get_input())
    elif context.operation_name == "get":
        context.set_result(value)
    else:
        raise context.unknown_operation()


@app.activity
def chaos_step_py(n, context: durable.ActivityContext):
    """Appends `"{instance_id} {task_id} {attempt} {CHAOS_GEN}"` to `/data/chaos.log` in one
    write, sleeps `CHAOS_STEP_MS` (default 0) milliseconds, returns `{"value": 2n, "attempt"}`."""
    line = f"{context.instance_id} {context.task_id} {context.attempt} {os.environ.get('CHAOS_GEN', '0')}\n"
    with open("/data/chaos.log", "a") as log:
        log.write(line)
    time.sleep(int(os.environ.get("CHAOS_STEP_MS", "0")) / 1000)
    return {"value": 2 * n, "attempt": context.attempt}



# --- Outbound HTTP and configuration from activities (`tests/e2e/outbound.rs`) ---------------


class Misconfigured(durable.DurableError):
    pass


@app.activity
def fetch_url(request):
    """GETs the URL (a string, or `{"url", "timeout_ms"}`) with `durable.http.fetch` and returns
    `{"status", "body"}`; a request that gets no response fails the activity with `HttpError`
    and the host's message."""
    if isinstance(request, str):
        response = durable.http.fetch(request)
    else:
        response = durable.http.fetch(request["url"], timeout=request["timeout_ms"] / 1000)
    return {"status": response.status, "body": response.text()}


@app.orchestrator
def fetch_via_activity(context):
    return (yield context.call_activity("fetch_url", context.get_input()))


@app.activity
def call_with_key(url):
    """POSTs to `url` with the operator's `api_key` (`durable.config`, `durable serve --config`)
    in the `x-api-key` header and returns the status alone: the key never enters a result."""
    key = durable.config.get("api_key")
    if key is None:
        raise Misconfigured("no api_key is configured")
    return durable.http.fetch(url, method="POST", headers={"x-api-key": key}).status


@app.orchestrator
def call_with_key_via_activity(context):
    return (yield context.call_activity("call_with_key", context.get_input()))




@app.activity
def config_digest():
    """Reads the operator's `api_key` with `durable.config` and returns its SHA-256 (hex) and
    every configured key: the value itself never enters a result."""
    key = durable.config.get("api_key")
    return {
        "api_key_sha256": None if key is None else hashlib.sha256(key.encode()).hexdigest(),
        "keys": sorted(durable.config.get_all()),
        "missing": durable.config.get("missing"),
    }


@app.orchestrator
def config_digest_via_activity(context):
    return (yield context.call_activity("config_digest"))


@app.orchestrator
def config_in_orchestrator(context):
    """Reads the configured `api_key` from the orchestrator itself: the sandbox must refuse."""
    return durable.config.get("api_key")


@app.orchestrator
def fetch_in_orchestrator(context):
    """Fetches the input URL from the orchestrator itself: the sandbox must refuse."""
    return durable.http.fetch(context.get_input()).status
