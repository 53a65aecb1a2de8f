"""The replay executor: turns history events into the actions the orchestrator decides.

Pure Python, no WebAssembly: the component glue (`_component.py`) converts the host's WIT
records into `Event`s and the resulting `Action`s back, and the unit tests build histories by
hand. `Executor.step` applies events one at a time, in order, to the shared `ReplayState` and
runs the orchestrator generator after each one (together with the SDK's background generators:
retries, timed waits) until nothing more can progress, so which task finishes first is always
decided by history order, and a fresh executor fed the whole history reaches exactly the state
of one fed turn by turn. Every action decided during a step is returned, replayed ones included
(the host checks them against the history). When the orchestrator ends, one `Complete`, `Fail`
or `ContinueAsNew` action is emitted (after an `UnlockEntities` when it ends inside a critical
section) and later events are ignored.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from . import _log
from ._context import DurableOrchestrationContext, parse_json, to_json
from ._failure import Failure
from ._state import Action, ReplayState, Resolved
from ._tasks import Background, GeneratorRunner

__all__ = ["Action", "Event", "Executor"]


@dataclass
class Event:
    """One history event. `kind` is the WIT variant's name in CamelCase (`TaskCompleted`);
    `data` holds its fields, payloads as JSON text (`result`, `input`) and failures as
    `Failure` (`EntityResponded` has either `result` or `failure`)."""

    kind: str
    timestamp: int = 0
    event_id: Optional[int] = None
    data: Dict[str, Any] = field(default_factory=dict)


Orchestrator = Callable[[DurableOrchestrationContext], Any]


class Executor:
    """One execution of one orchestrator function."""

    def __init__(self, orchestrator: Orchestrator, instance_id: str):
        self._orchestrator = orchestrator
        self.state = ReplayState(instance_id)
        self._background = Background(self.state)
        self.context = DurableOrchestrationContext(self.state, self._background)
        self._runner: Optional[GeneratorRunner] = None
        self._started = False
        self.finished = False

    def step(self, events: List[Event], replaying: bool) -> List[Action]:
        """Applies `events` in order, running the orchestrator after each, and returns the
        actions decided meanwhile in decision order."""
        self.state.is_replaying = replaying
        _log.active = self.state
        try:
            for event in events:
                if self.finished:
                    break
                self._apply(event, replaying)
                self._poll()
        finally:
            _log.active = None
        return self.state.take_actions()

    def _apply(self, event: Event, replaying: bool) -> None:
        state, data, kind = self.state, event.data, event.kind
        if kind == "OrchestratorStarted":
            state.current_time_ms = event.timestamp
            state.time_known = True
            state.is_replaying = replaying
        elif kind == "ExecutionStarted":
            if self._started:
                return
            self._started = True
            if not state.time_known:
                state.current_time_ms = event.timestamp
                state.time_known = True
            state.input = parse_json(data.get("input", "null"))
            state.parent_instance_id = data.get("parent_instance_id")
            self._start()
        elif kind in ("TaskCompleted", "SubOrchestrationCompleted"):
            state.resolve(data["task_id"], True, parse_json(data["result"]))
        elif kind in ("TaskFailed", "SubOrchestrationFailed"):
            state.resolve(data["task_id"], False, failure=data["failure"])
        elif kind == "EntityResponded":
            if "failure" in data:
                state.resolve(data["task_id"], False, failure=data["failure"])
            else:
                state.resolve(data["task_id"], True, parse_json(data["result"]))
        elif kind == "TimerFired":
            state.resolve(data["timer_id"], True, None)
        elif kind == "EntityLockGranted":
            state.resolve(data["task_id"], True, None)
        elif kind == "EventRaised":
            state.deliver_event(data["name"], parse_json(data["input"]))
        # Scheduling events echo actions (the host checks those); suspension, termination and
        # completion are the host's business.

    def _start(self) -> None:
        try:
            result = self._orchestrator(self.context)
        except Exception as error:  # noqa: BLE001 - a failing orchestrator fails its instance
            self._finish(Resolved(0, False, failure=Failure.from_exception(error)))
            return
        if inspect.isgenerator(result):
            self._runner = GeneratorRunner(result)
        else:
            self._finish(Resolved(0, True, result))

    def _poll(self) -> None:
        if self._runner is None:
            return
        while True:
            before = self.state.progress()
            done = self._runner.poll()
            if done is not None:
                self._runner = None
                self._finish(done)
                return
            self._background.poll_all()
            if self.state.progress() == before:
                return

    def _finish(self, done: Resolved) -> None:
        self.finished = True
        self.state.ended = True
        self._background.clear()
        state = self.state
        # Ending inside a critical section releases it.
        state.release_locks()
        if not done.ok:
            state.record("Fail", failure=done.failure)
            return
        if state.continue_as_new is not None:
            payload, preserve = state.continue_as_new
            carried = [(name, to_json(value)) for name, value in state.take_unconsumed_events()] if preserve else []
            state.record("ContinueAsNew", input=payload, preserve_unprocessed_events=preserve, carried_events=carried)
            return
        try:
            output = to_json(done.value)
        except (TypeError, ValueError) as error:
            failure = Failure("InvalidOutput", f"the orchestrator's output is not JSON: {error}", non_retriable=True)
            state.record("Fail", failure=failure)
            return
        state.record("Complete", result=output)
