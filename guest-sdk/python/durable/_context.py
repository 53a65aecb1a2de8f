"""`DurableOrchestrationContext`: everything an orchestrator may do, all of it replay-safe.

Each method that starts work records an action in the shared `ReplayState` at once (taking the
next sequence id) and returns a task the executor resolves when the matching history event
arrives. Time, ids and "am I replaying" come from the history, never from a clock.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, List, Optional

from ._failure import INVALID_INPUT, TIMEOUT, Failure, TaskFailedError
from ._retry import RetryOptions, run_with_retry
from ._state import ReplayState, Resolved
from ._tasks import AllTask, AnyTask, Background, ExternalEventTask, ReadyTask, SequencedTask, Task, TimerTask

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Durable Functions derives its `new_uuid` namespace from this name in the OID namespace.
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")


def to_json(value: Any) -> str:
    """JSON text as serde_json writes it (compact, UTF-8)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def parse_json(text: str) -> Any:
    """Payloads are JSON text; text that is not JSON is taken as a string."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def to_millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(milliseconds=1)


class DurableOrchestrationContext:
    def __init__(self, state: ReplayState, background: Background):
        self._state = state
        self._background = background

    # --- facts -----------------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._state.instance_id

    @property
    def parent_instance_id(self) -> Optional[str]:
        return self._state.parent_instance_id

    @property
    def is_replaying(self) -> bool:
        """True while the code re-runs turns already in the history."""
        return self._state.is_replaying

    @property
    def current_utc_datetime(self) -> datetime:
        """The replay-safe current time: when the current turn started (UTC)."""
        return EPOCH + timedelta(milliseconds=self._state.current_time_ms)

    def get_input(self) -> Any:
        return self._state.input

    def new_uuid(self) -> str:
        """A UUIDv5 that is the same on every replay (instance id, turn time, counter)."""
        state = self._state
        name = f"{state.instance_id}_{state.current_time_ms}_{state.uuid_counter}"
        state.uuid_counter += 1
        return str(uuid.uuid5(_UUID_NAMESPACE, name))

    # --- work ------------------------------------------------------------------------------

    def call_activity(self, name: str, input_: Any = None) -> Task:
        return SequencedTask(self._state, self._state.schedule("ScheduleActivity", name=name, input=to_json(input_)))

    def call_activity_with_retry(self, name: str, retry_options: RetryOptions, input_: Any = None) -> Task:
        payload = to_json(input_)

        def attempt() -> Task:
            return SequencedTask(self._state, self._state.schedule("ScheduleActivity", name=name, input=payload))

        return self._background.spawn(run_with_retry(self, retry_options, attempt))

    def call_sub_orchestrator(self, name: str, input_: Any = None, instance_id: Optional[str] = None) -> Task:
        """Starts the orchestrator `name` as a child; with no `instance_id` the host derives
        one from this instance's id and the sequence id."""
        sequence_id = self._state.schedule(
            "StartSubOrchestration", name=name, instance_id=instance_id or "", input=to_json(input_)
        )
        return SequencedTask(self._state, sequence_id)

    def call_sub_orchestrator_with_retry(
        self, name: str, retry_options: RetryOptions, input_: Any = None, instance_id: Optional[str] = None
    ) -> Task:
        payload = to_json(input_)

        def attempt() -> Task:
            sequence_id = self._state.schedule(
                "StartSubOrchestration", name=name, instance_id=instance_id or "", input=payload
            )
            return SequencedTask(self._state, sequence_id)

        return self._background.spawn(run_with_retry(self, retry_options, attempt))

    def create_timer(self, fire_at: datetime) -> TimerTask:
        """A durable timer that fires at `fire_at` (naive datetimes are UTC)."""
        return self._create_timer_at_ms(to_millis(fire_at))

    def _create_timer_at_ms(self, fire_at: int) -> TimerTask:
        return TimerTask(self._state, self._state.schedule("StartTimer", fire_at=fire_at))

    def wait_for_external_event(self, name: str, timeout: Optional[timedelta] = None) -> Task:
        """Waits for the event `name`. Waiters are served oldest first; an event that arrived
        before anyone waited is kept and consumed by the next waiter, once. With `timeout`, the
        task fails with a `Timeout` failure when its durable timer fires first (the wait is then
        withdrawn, so a later event goes to the next waiter); when the event wins the timer is
        cancelled."""
        waiter = self._state.new_waiter(name)
        event = ExternalEventTask(self._state, waiter)
        if timeout is None or event.is_completed:
            return event
        timer = self._create_timer_at_ms(self._state.current_time_ms + timeout // timedelta(milliseconds=1))

        def wait():
            winner = yield AnyTask([event, timer])
            if winner is event:
                timer.cancel()
                return (yield event)
            self._state.remove_waiter(name, waiter)
            raise TaskFailedError(Failure(TIMEOUT, f"the external event `{name}` did not arrive within {timeout}"))

        return self._background.spawn(wait())

    def send_event(self, instance_id: str, name: str, input_: Any = None) -> None:
        """Raises the event `name` on another instance."""
        self._state.schedule("SendEvent", instance_id=instance_id, name=name, input=to_json(input_))

    def task_all(self, tasks: List[Task]) -> Task:
        """All values in the order given; fails with the first failure in history order.
        `task_all([])` is `[]` at once."""
        tasks = list(tasks)
        if not tasks:
            return ReadyTask(Resolved(0, True, []))
        return AllTask(tasks)

    def task_any(self, tasks: List[Task]) -> Task:
        """The first task to finish in history order (the task itself; check `is_faulted`).
        `task_any([])` fails with `InvalidInput`."""
        tasks = list(tasks)
        if not tasks:
            failure = Failure(INVALID_INPUT, "task_any needs at least one task", non_retriable=True)
            return ReadyTask(Resolved(0, False, failure=failure))
        return AnyTask(tasks)

    # --- status and lifetime ---------------------------------------------------------------

    def set_custom_status(self, status: Any) -> None:
        """Sets the custom status clients see; None clears it."""
        self._state.record("SetCustomStatus", status=None if status is None else to_json(status))

    def continue_as_new(self, input_: Any, preserve_unprocessed_events: bool = False) -> None:
        """Restarts this orchestration with `input_` once the orchestrator returns (its return
        value is then ignored). With `preserve_unprocessed_events`, events that arrived and were
        not consumed are carried into the new execution."""
        self._state.continue_as_new = (to_json(input_), preserve_unprocessed_events)
