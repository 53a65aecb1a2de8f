"""The conformance scenarios (`tests/conformance/*.json`) run natively against the Python SDK.

This is a small port of the host's side of `durable replay --scenario`, so a scenario checks the
SDK in milliseconds instead of through a built component:

- `scenario_history` builds the engine's history from a scenario exactly as
  `host/src/inspect/scenario.rs` (`Scenario::history`, `written_event`) does;
- `replay_turn` is `host/src/inspect.rs`'s `replay_turn`, with `HostReplay` porting the parts of
  `ReplayState` (`host/src/replay.rs`) it uses: the kind and name scheduled per sequence id,
  `check_replayed`, `finish_replay`, `begin_turn` and `finish_turn`'s checks and outcome;
- `readable` and `compare` are `scenario.rs`'s, and `verdict` prints a failure as it does.

Events and actions are dicts in the engine's JSON form (`types::HistoryEvent`, `types::Action`:
camelCase keys, a `type`, payloads as JSON text). The guest side is the real SDK (`durable.replay`
`Executor`); only its WIT glue (`durable/_component.py`, which needs componentize-py's generated
bindings) is mirrored by `sdk_event` and `engine_action`. Keep these in step with those files.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
import traceback
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple
from unittest import mock

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
SCENARIO_DIR = os.path.join(REPO, "tests", "conformance")
APP_FILE = os.path.join(REPO, "tests", "guests", "python-conformance", "app.py")

sys.path.insert(0, os.path.join(REPO, "guest-sdk", "python"))

from durable import Failure, FailureCause  # noqa: E402
from durable._failure import UNKNOWN_FUNCTION  # noqa: E402
from durable._json import to_json  # noqa: E402
from durable.replay import Event, Executor  # noqa: E402

# scenario.rs constants.
DEFAULT_INSTANCE_ID = "conformance"
EXECUTION_ID = "e1"
TURN_SPACING_MS = 1000
SCENARIO_KEYS = {"name", "description", "orchestrator", "input", "instanceId", "history", "newEvents", "expect"}
EXPECT_KEYS = {"status", "actions", "output", "failure", "failedBy", "newInput", "customStatus", "replayedActions"}
# types::failure_types that only the host produces (inspect.rs `is_host_type`).
HOST_FAILURE_TYPES = {"NonDeterminism", "Trap", "ResourceLimit", "SandboxViolation", "UnknownFunction"}


def to_text(value: Any) -> str:
    """JSON text as serde_json writes a `Value`: compact, object keys sorted (the host's
    serde_json has no `preserve_order`, so its maps are sorted)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def decode(text: Any) -> Any:
    """scenario.rs `decode`: JSON text as a value; text that is not JSON stays a string."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def same(a: Any, b: Any) -> bool:
    """serde_json `Value` equality: unlike Python's `==`, `true` is not `1` and `1` is not `1.0`."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return a == b


# --- scenarios --------------------------------------------------------------------------------


def scenario_files() -> List[str]:
    return sorted(os.path.join(SCENARIO_DIR, f) for f in os.listdir(SCENARIO_DIR) if f.endswith(".json"))


def load(path: str) -> Dict[str, Any]:
    """Reads a scenario and checks its keys as `Scenario::load` does."""
    with open(path, encoding="utf-8") as file:
        scenario = json.load(file)
    unknown = (set(scenario) - SCENARIO_KEYS) | (set(scenario.get("expect", {})) - EXPECT_KEYS)
    if unknown or not {"name", "orchestrator", "expect"} <= set(scenario):
        raise ValueError(f"{path}: not a conformance scenario (unknown keys {sorted(unknown)})")
    return scenario


def split_turn(turn: Any) -> Tuple[Optional[int], List[dict]]:
    """A turn is a list of events or `{"time": MS, "events": [...]}`."""
    return (turn.get("time"), turn["events"]) if isinstance(turn, dict) else (None, turn)


def written_event(value: dict, at: int) -> dict:
    """scenario.rs `written_event`: defaults, and payloads written as values become JSON text.
    `eventId` and `timestamp` stay in the dict when written (None when not)."""
    event = dict(value)
    event.setdefault("eventId", None)
    event.setdefault("timestamp", None)
    kind = event["type"]
    defaults = {
        "TaskScheduled": {"input": None},
        "EventRaised": {"input": None},
        "ContinuedAsNew": {"input": None},
        "EventSent": {"input": None, "instanceId": ""},
        "SubOrchestrationCreated": {"input": None, "instanceId": ""},
        "TaskCompleted": {"result": None},
        "SubOrchestrationCompleted": {"result": None},
        "TimerFired": {"fireAt": at},
    }.get(kind, {})
    for key, default in defaults.items():
        event.setdefault(key, default)
    if kind != "EntityResponded":  # its `result` is `{"Ok": text}` or `{"Err": failure}`
        for key in ("input", "result"):
            if key in event:
                event[key] = to_text(event[key])
    if isinstance(event.get("failure"), dict) and "details" in event["failure"]:
        event["failure"] = {**event["failure"], "details": to_text(event["failure"]["details"])}
    return event


def execution_started(scenario: dict) -> dict:
    return {
        "type": "ExecutionStarted",
        "name": scenario["orchestrator"],
        "instanceId": scenario.get("instanceId", DEFAULT_INSTANCE_ID),
        "executionId": EXECUTION_ID,
        "input": to_text(scenario.get("input")),
        "eventId": None,
        "timestamp": None,
    }


def written(scenario: dict, events: List[dict], at: int, first: bool) -> List[dict]:
    """The turn's events; the execution's first turn starts with `ExecutionStarted`."""
    events = [written_event(e, at) for e in events]
    if first and not any(e["type"] == "ExecutionStarted" for e in events):
        events.insert(0, execution_started(scenario))
    return events


def scenario_history(scenario: dict) -> Tuple[List[dict], int, List[dict]]:
    """`Scenario::history`: the committed history (each turn opened by `OrchestratorStarted`,
    scheduling events numbered by sequence id, the others by position), and the new turn's time
    and events (without ids: `begin_turn` numbers them)."""
    history: List[dict] = []
    time, sequence = 0, 0
    turns = scenario.get("history", [])
    for index, turn in enumerate(turns):
        written_time, events = split_turn(turn)
        time = written_time if written_time is not None else time + TURN_SPACING_MS
        history.append({"eventId": None, "timestamp": time, "type": "OrchestratorStarted"})
        for event in written(scenario, events, time, index == 0):
            scheduled = Scheduled.of(event) is not None
            event_id = event["eventId"]
            if event_id is None and scheduled:
                event_id = sequence
            if scheduled:
                sequence = event_id + 1
            timestamp = event["timestamp"] if event["timestamp"] is not None else time
            history.append({**event, "eventId": event_id, "timestamp": timestamp})
    written_time, events = split_turn(scenario.get("newEvents", []))
    at = written_time if written_time is not None else time + TURN_SPACING_MS
    events = written(scenario, events, at, not turns)
    return history, at, [{k: v for k, v in e.items() if k not in ("eventId", "timestamp")} for e in events]


# --- the host's replay checks (replay.rs) -----------------------------------------------------


@dataclass(frozen=True)
class Scheduled:
    """replay.rs `Scheduled`: the kind and name of the work a sequence id scheduled (`key`, what
    determinism is checked on) and how messages name it (`text`)."""

    key: tuple
    text: str = field(compare=False)

    def __str__(self) -> str:
        return self.text

    @staticmethod
    def of(item: dict) -> Optional["Scheduled"]:
        """`of_action` and `of_event` in one: an action and the event recording it have the same
        fields."""
        kind = item["type"]
        if kind in ("ScheduleActivity", "TaskScheduled"):
            return Scheduled(("activity", item["name"]), f"activity `{item['name']}`")
        if kind in ("StartTimer", "TimerCreated"):
            return Scheduled(("timer",), "a timer")
        if kind in ("StartSubOrchestration", "SubOrchestrationCreated"):
            return Scheduled(("sub", item["name"]), f"sub-orchestration `{item['name']}`")
        if kind in ("SendEvent", "EventSent"):
            name, instance = item["name"], item["instanceId"]
            return Scheduled(("send", instance, name), f"event `{name}` to `{instance}`")
        if kind in ("CallEntity", "EntityCalled", "SignalEntity", "EntitySignalled"):
            entity, operation = item["entity"], item["operation"]
            at = f"{entity['name']}@{entity['key']}"
            if kind in ("CallEntity", "EntityCalled"):
                return Scheduled(("call", at, operation), f"call `{operation}` on entity `{at}`")
            return Scheduled(("signal", at, operation), f"signal `{operation}` to entity `{at}`")
        if kind in ("LockEntities", "EntityLockRequested"):
            entities = tuple((e["name"], e["key"]) for e in item["entities"])
            return Scheduled(("lock", entities), f"a lock on {len(entities)} entities")
        return None


TIMER = Scheduled(("timer",), "a timer")

# replay.rs `finish_turn`: the history event each action records.
RECORDED = {
    "ScheduleActivity": "TaskScheduled",
    "StartTimer": "TimerCreated",
    "CancelTimer": "TimerCancelled",
    "StartSubOrchestration": "SubOrchestrationCreated",
    "SendEvent": "EventSent",
    "CallEntity": "EntityCalled",
    "SignalEntity": "EntitySignalled",
    "LockEntities": "EntityLockRequested",
    "UnlockEntities": "EntityUnlocked",
    "Complete": "ExecutionCompleted",
    "Fail": "ExecutionCompleted",
    "ContinueAsNew": "ContinuedAsNew",
}


class NonDeterminism(Exception):
    def failure(self) -> dict:
        """`NonDeterminism::into_failure`, in the engine's form."""
        hint = (
            "the orchestrator's code changed in a way that does not match its recorded history; deploy the change as "
            "a new component (running instances stay pinned to the old one)"
        )
        return {"type": "NonDeterminism", "message": str(self), "details": to_text({"hint": hint}), "nonRetriable": True}


class HostReplay:
    """The parts of replay.rs `ReplayState` that `replay_turn` needs."""

    def __init__(self, history: List[dict]):
        self.scheduled: List[Scheduled] = []  # by sequence id
        self.open_timers: set = set()
        self.history_len = 0
        self.decided = 0  # one past the highest sequence id the guest decided
        self.finished = False
        for event in history:
            self.observe(event)

    def observe(self, event: dict) -> None:
        self.history_len += 1
        scheduled = Scheduled.of(event)
        sequence_id = event["eventId"] if event["eventId"] is not None else len(self.scheduled)
        if scheduled is not None:
            while len(self.scheduled) <= sequence_id:
                self.scheduled.append(TIMER)
            self.scheduled[sequence_id] = scheduled
        kind = event["type"]
        if kind == "TimerCreated":
            self.open_timers.add(sequence_id)
        elif kind in ("TimerFired", "TimerCancelled"):
            self.open_timers.discard(event["timerId"])
        elif kind in ("ExecutionCompleted", "ContinuedAsNew", "ExecutionTerminated"):
            self.finished = True

    def check_replayed(self, actions: List[dict]) -> None:
        for action in actions:
            decided = Scheduled.of(action)
            if decided is None:
                continue
            step = action["id"]
            if step >= len(self.scheduled):
                raise NonDeterminism(
                    f"step {step}: code scheduled {decided}, history has nothing at this step "
                    f"(the recorded run scheduled {len(self.scheduled)} steps)"
                )
            if self.scheduled[step] != decided:
                raise NonDeterminism(f"step {step}: code scheduled {decided}, history has {self.scheduled[step]}")
            self.decided = max(self.decided, step + 1)

    def finish_replay(self) -> None:
        if self.decided < len(self.scheduled):
            recorded = self.scheduled[self.decided]
            raise NonDeterminism(f"step {self.decided}: history has {recorded}, code did not schedule it")

    def begin_turn(self, now: int, messages: List[dict]) -> List[dict]:
        kinds = [{"type": "OrchestratorStarted"}, *messages]
        return [{**kind, "eventId": None, "timestamp": now} for kind in kinds]

    def finish_turn(self, events: List[dict], actions: List[dict], now: int):
        """Returns `(custom_status, outcome)`: `custom_status` is `("set", json_or_None)` when the
        turn set or cleared it, `outcome` is `(status, payload)` when the execution ended."""
        for event in events:
            self.observe(event)
        custom_status, outcome = None, None
        for action in actions:
            if outcome is not None:
                break  # nothing after completion counts
            kind, step = action["type"], action["id"]
            decided = Scheduled.of(action)
            if decided is not None:
                if step < len(self.scheduled):  # already recorded: a guest re-deciding old steps
                    if self.scheduled[step] != decided:
                        raise NonDeterminism(f"step {step}: code scheduled {decided}, history has {self.scheduled[step]}")
                    continue
                if step != len(self.scheduled):
                    raise NonDeterminism(f"step {step}: code skipped sequence ids (expected step {len(self.scheduled)})")
                self.decided = max(self.decided, step + 1)
            if kind == "SetCustomStatus":
                custom_status = ("set", action["status"])
            elif kind == "Complete":
                outcome = ("Completed", action["result"])
            elif kind == "Fail":
                outcome = ("Failed", action["failure"])
            elif kind == "ContinueAsNew":
                outcome = ("ContinuedAsNew", action["input"])
            if kind not in RECORDED or (kind == "CancelTimer" and action["timerId"] not in self.open_timers):
                continue
            fields = {k: v for k, v in action.items() if k not in ("id", "type")}
            event_id = step if decided is not None else None
            self.observe({**fields, "type": RECORDED[kind], "eventId": event_id, "timestamp": now})
        if outcome is not None:
            self.open_timers.clear()  # outstanding timers die with the execution
        return custom_status, outcome


def split_turns(history: List[dict]) -> List[List[dict]]:
    """replay.rs `split_turns`: each turn starts at an `OrchestratorStarted` event."""
    turns: List[List[dict]] = []
    for i, event in enumerate(history):
        if not turns or (event["type"] == "OrchestratorStarted" and i > 0):
            turns.append([])
        turns[-1].append(event)
    return turns


# --- the guest: the SDK's executor, behind a mirror of its WIT glue (_component.py) ----------


def sdk_failure(failure: dict) -> Failure:
    """`failure_from_wit`: details are JSON text in the engine, values in the SDK."""
    return Failure(
        type=failure["type"],
        message=failure["message"],
        details=decode(failure.get("details")),
        stack=failure.get("stack"),
        non_retriable=failure.get("nonRetriable", False),
        inner=[FailureCause(c["type"], c["message"], decode(c.get("details"))) for c in failure.get("inner", [])],
    )


def engine_failure(failure: Failure) -> dict:
    """`failure_to_wit`, then `types::Failure` as serde writes it (empty fields left out)."""

    def details(value: Any) -> dict:
        return {} if value is None else {"details": to_json(value)}

    out = {"type": failure.type, "message": failure.message, **details(failure.details)}
    if failure.stack is not None:
        out["stack"] = failure.stack
    out["nonRetriable"] = failure.non_retriable
    if failure.inner:
        out["inner"] = [{"type": c.type, "message": c.message, **details(c.details)} for c in failure.inner]
    return out


def sdk_event(event: dict) -> Event:
    """`event_from_wit`."""
    kind = event["type"]
    data: Dict[str, Any] = {}
    if kind == "ExecutionStarted":
        parent = event.get("parent")
        data = {"input": event["input"], "parent_instance_id": parent["instanceId"] if parent else None}
    elif kind in ("TaskCompleted", "SubOrchestrationCompleted"):
        data = {"task_id": event["taskId"], "result": event["result"]}
    elif kind in ("TaskFailed", "SubOrchestrationFailed"):
        data = {"task_id": event["taskId"], "failure": sdk_failure(event["failure"])}
    elif kind == "EntityResponded":
        outcome = event["result"]
        if "Ok" in outcome:
            data = {"task_id": event["taskId"], "result": outcome["Ok"]}
        else:
            data = {"task_id": event["taskId"], "failure": sdk_failure(outcome["Err"])}
    elif kind == "TimerFired":
        data = {"timer_id": event["timerId"]}
    elif kind == "EntityLockGranted":
        data = {"task_id": event["taskId"]}
    elif kind == "EventRaised":
        data = {"name": event["name"], "input": event["input"]}
    return Event(kind, event["timestamp"], event["eventId"], data)


def engine_action(action) -> dict:
    """`action_to_wit`, then `types::Action` as serde writes it."""
    d, kind = action.data, action.kind
    if kind == "ScheduleActivity":
        fields: Dict[str, Any] = {"name": d["name"], "input": d["input"]}
    elif kind == "StartTimer":
        fields = {"fireAt": d["fire_at"]}
    elif kind == "CancelTimer":
        fields = {"timerId": d["timer_id"]}
    elif kind == "StartSubOrchestration":
        fields = {"name": d["name"], "instanceId": d["instance_id"], "input": d["input"]}
    elif kind == "SendEvent":
        fields = {"instanceId": d["instance_id"], "name": d["name"], "input": d["input"]}
    elif kind in ("CallEntity", "SignalEntity"):
        entity = {"name": d["entity"].name, "key": d["entity"].key}
        fields = {"entity": entity, "operation": d["operation"], "input": d["input"]}
        if d["scheduled_at"] is not None:
            fields["scheduledAt"] = d["scheduled_at"]
    elif kind in ("LockEntities", "UnlockEntities"):
        fields = {"entities": [{"name": e.name, "key": e.key} for e in d["entities"]]}
    elif kind == "SetCustomStatus":
        fields = {"status": d["status"]}
    elif kind == "Complete":
        fields = {"result": d["result"]}
    elif kind == "Fail":
        fields = {"failure": engine_failure(d["failure"])}
    elif kind == "ContinueAsNew":
        fields = {"input": d["input"], "preserveUnprocessedEvents": d["preserve_unprocessed_events"]}
        if d["carried_events"]:
            fields["carriedEvents"] = [{"name": name, "input": payload} for name, payload in d["carried_events"]]
    else:
        raise ValueError(f"unknown action {kind}")
    return {"id": action.id, "type": kind, **fields}


class GuestFailed(Exception):
    """The guest trapped: in a component an exception escaping `step` is a trap."""

    def __init__(self, failure: dict):
        super().__init__(failure["message"])
        self.failure = failure


class Guest:
    """One orchestration instance of the conformance app, as `Orchestration.create` / `step`."""

    def __init__(self, orchestrator, instance_id: str):
        self.executor = Executor(orchestrator, instance_id)

    def step(self, events: List[dict], replaying: bool, now: int) -> List[dict]:
        # In the sandbox the wall clock is the turn's time (host/src/wasm/sandbox.rs).
        try:
            with mock.patch("time.time", lambda: now / 1000):
                actions = self.executor.step([sdk_event(e) for e in events], replaying)
            return [engine_action(a) for a in actions]
        except Exception as error:  # noqa: BLE001 - a trap fails the instance (wasm/mod.rs `classify`)
            stack = "".join(traceback.format_exception(error))
            message = f"the guest trapped: {error!r}"
            raise GuestFailed({"type": "Trap", "message": message, "stack": stack, "nonRetriable": True})


def load_app():
    """The conformance app, imported natively (its `import durable` is the SDK on `sys.path`)."""
    spec = importlib.util.spec_from_file_location("python_conformance_app", APP_FILE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.app


# --- inspect.rs `replay_turn` -----------------------------------------------------------------


def report(status: str, actions: List[dict], custom_status: Optional[str], replayed: int, **extra) -> dict:
    """`ReplayReport` as serde writes it (None fields left out, except `customStatus`)."""
    return {
        "status": status,
        "actions": actions,
        **{k: v for k, v in extra.items() if v is not None},
        "customStatus": custom_status,
        "replayedActions": replayed,
    }


def host_failure(failure: dict, custom_status, replayed: int, actions=()) -> dict:
    return report("Failed", list(actions), custom_status, replayed, failure=failure, failedBy="host")


def ended(history: List[dict], custom_status, replayed: int) -> dict:
    """inspect.rs `ended`: the report for a history that already holds its execution's end."""
    for event in reversed(history):
        kind = event["type"]
        if kind == "ExecutionCompleted" and event.get("failure") is not None:
            failure = event["failure"]
            by = "host" if failure.get("nonRetriable", False) and failure["type"] in HOST_FAILURE_TYPES else "orchestrator"
            return report("Failed", [], custom_status, replayed, failure=failure, failedBy=by)
        if kind == "ExecutionCompleted":
            output = event.get("result")
            return report("Completed", [], custom_status, replayed, output="null" if output is None else output)
        if kind == "ContinuedAsNew":
            return report("ContinuedAsNew", [], custom_status, replayed, newInput=event["input"])
        if kind == "ExecutionTerminated":
            return report("Terminated", [], custom_status, replayed)
    return report("Running", [], custom_status, replayed)


def replay_turn(app, orchestrator: str, history: List[dict], at: int, new_events: List[dict]) -> dict:
    """Replays `history` with `replaying=True`, checking every decision as the engine does after
    a restart, then runs the new turn live, unless the history has already ended."""
    started = next((e for e in history + new_events if e["type"] == "ExecutionStarted"), None)
    if started is None:
        raise ValueError("neither the history nor the new events have an ExecutionStarted event")
    replay = HostReplay(history)
    custom_status, replayed = None, 0
    function = app.orchestrators.get(orchestrator)
    if function is None:  # `Orchestration.create` fails with `unknown(...)`
        message = f"this component has no orchestrator `{orchestrator}`"
        return host_failure({"type": UNKNOWN_FUNCTION, "message": message, "nonRetriable": True}, None, 0)
    guest = Guest(function, started["instanceId"])
    try:
        for turn in split_turns(history):
            at_turn = turn[0]["timestamp"] if turn[0]["type"] == "OrchestratorStarted" else 0
            actions = guest.step(turn, True, at_turn)
            replayed += len(actions)
            for action in actions:
                if action["type"] == "SetCustomStatus":
                    custom_status = action["status"]
            replay.check_replayed(actions)
        replay.finish_replay()
    except NonDeterminism as nd:
        return host_failure(nd.failure(), custom_status, replayed)
    except GuestFailed as trap:
        return host_failure(trap.failure, custom_status, replayed)
    if replay.finished:
        return ended(history, custom_status, replayed)  # the engine drops messages for an ended execution
    events = replay.begin_turn(at, new_events)
    try:
        actions = guest.step(events, False, at)
    except GuestFailed as trap:
        return host_failure(trap.failure, custom_status, replayed)
    try:
        status_change, outcome = replay.finish_turn(events, actions, at)
    except NonDeterminism as nd:
        return host_failure(nd.failure(), custom_status, replayed, actions)
    if status_change is not None:
        custom_status = status_change[1]
    if outcome is None:
        return report("Running", actions, custom_status, replayed)
    status, payload = outcome
    extra = {"Completed": {"output": payload}, "ContinuedAsNew": {"newInput": payload}}.get(status)
    if extra is None:
        extra = {"failure": payload, "failedBy": "orchestrator"}
    return report(status, actions, custom_status, replayed, **extra)


# --- scenario.rs `readable`, `compare` --------------------------------------------------------


def readable(report: dict) -> dict:
    """The report with payloads as JSON values: what `expect` is compared with."""
    out = json.loads(json.dumps(report))
    for key in ("output", "newInput", "customStatus"):
        if key in out:
            out[key] = decode(out[key])
    if isinstance(out.get("failure"), dict) and "details" in out["failure"]:
        out["failure"]["details"] = decode(out["failure"]["details"])
    for action in out["actions"]:
        for key in ("input", "result", "status"):
            if key in action:
                action[key] = decode(action[key])
        if isinstance(action.get("failure"), dict) and "details" in action["failure"]:
            action["failure"]["details"] = decode(action["failure"]["details"])
        for carried in action.get("carriedEvents", []):
            carried["input"] = decode(carried["input"])
    return out


def compare(expect: dict, actual: dict) -> List[str]:
    """`actions` must have as many entries as expected, each holding at least the keys given;
    `failure` must hold at least the keys given; every other key must be equal."""
    mismatches: List[str] = []
    for key, expected in expect.items():
        got = actual.get(key)
        if key in ("actions", "failure"):
            contains(expected, got, key, mismatches)
        elif not same(expected, got):
            mismatches.append(mismatch(key, expected, got))
    return mismatches


def contains(expected: Any, actual: Any, path: str, out: List[str]) -> None:
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key, value in expected.items():
            contains(value, actual.get(key), f"{path}.{key}", out)
    elif isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for i, (want, got) in enumerate(zip(expected, actual)):
            contains(want, got, f"{path}[{i}]", out)
    elif not same(expected, actual):
        out.append(mismatch(path, expected, actual))


def mismatch(path: str, expected: Any, actual: Any) -> str:
    return f"{path}: expected {to_text(expected)}, got {to_text(actual)}"


def run(app, scenario: dict) -> Tuple[List[str], dict]:
    """Runs a scenario: the mismatches (empty when it passes) and the readable report."""
    history, at, new_events = scenario_history(scenario)
    actual = readable(replay_turn(app, scenario["orchestrator"], history, at, new_events))
    return compare(scenario["expect"], actual), actual


def verdict(name: str, mismatches: List[str], actual: dict) -> str:
    """`ScenarioResult`'s display: what failed, and the whole report."""
    report_text = json.dumps(actual, indent=2, ensure_ascii=False).replace("\n", "\n    ")
    lines = "".join(f"  {m}\n" for m in mismatches)
    return f"FAIL {name}\n{lines}  actual report:\n    {report_text}"
