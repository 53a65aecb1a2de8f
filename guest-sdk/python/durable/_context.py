"""`DurableOrchestrationContext`: everything an orchestrator may do, all of it replay-safe.

Each method that starts work records an action in the shared `ReplayState` at once (taking the
next sequence id) and returns a task the executor resolves when the matching history event
arrives. Time, ids and "am I replaying" come from the history, never from a clock.
"""

from __future__ import annotations

import inspect
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Dict, List, Optional

from ._json import parse_json, to_json  # noqa: F401 - re-exported for the glue
from ._entity import EntityId, operation_name_of
from ._failure import INVALID_INPUT, TIMEOUT, Failure, TaskFailedError
from ._retry import RetryOptions, run_with_retry
from ._state import ReplayState, Resolved
from ._tasks import (
    AllTask,
    AnyTask,
    Background,
    EntityLock,
    ExternalEventTask,
    ReadyTask,
    SequencedTask,
    Task,
    TimerTask,
)

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# Durable Functions derives its `new_uuid` namespace from this name in the OID namespace.
_UUID_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")


# Where `version` comes from: the host's `version` import inside a component (the component glue
# installs it); outside one, nothing unless a test installs a source.
_version_source: Callable[[], Optional[str]] = lambda: None


def install_version_source(source: Callable[[], Optional[str]]) -> None:
    global _version_source
    _version_source = source


LOCKING_RULES = "LockingRulesViolation"
"""Failure type of a call that breaks the rules of critical sections (as in the Rust SDK)."""


def locking_rules(message: str) -> ReadyTask:
    """A task that has already failed with `LockingRulesViolation` (nothing was scheduled)."""
    return ReadyTask(Resolved(0, False, failure=Failure(LOCKING_RULES, message, non_retriable=True)))


def no_sub_orchestration_in_section() -> ReadyTask:
    """Inside a critical section a sub-orchestration could wait on the entities the section
    holds, and the section on it: a deadlock. It is refused instead."""
    return locking_rules("a critical section cannot call a sub-orchestration; unlock its entities first")


def to_millis(moment: datetime) -> int:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return (moment - EPOCH) // timedelta(milliseconds=1)


class DurableOrchestrationContext:
    def __init__(self, state: ReplayState, background: Background):
        self._state = state
        self._background = background
        self._custom_status: Any = None

    # --- facts -----------------------------------------------------------------------------

    @property
    def instance_id(self) -> str:
        return self._state.instance_id

    @property
    def parent_instance_id(self) -> Optional[str]:
        return self._state.parent_instance_id

    @property
    def version(self) -> Optional[str]:
        """The version this orchestration runs as: the label of the deployment it started on
        (`durable deploy --version`), the one its client asked for (`durable start --version`),
        or its parent's; None when there is none. Moving the instance to new code does not
        change it, so code may branch on it and replay the same."""
        return _version_source()

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

    def new_guid(self) -> str:
        """`new_uuid` under Durable Functions' other name for it."""
        return self.new_uuid()

    def call_activity(self, name: str, input_: Any = None) -> Task:
        return SequencedTask(self._state, self._state.schedule("ScheduleActivity", name=name, input=to_json(input_)))

    def call_activity_with_retry(self, name: str, retry_options: RetryOptions, input_: Any = None) -> Task:
        payload = to_json(input_)

        def attempt() -> Task:
            return SequencedTask(self._state, self._state.schedule("ScheduleActivity", name=name, input=payload))

        return self._background.spawn(run_with_retry(self, retry_options, attempt))

    def call_sub_orchestrator(self, name: str, input_: Any = None, instance_id: Optional[str] = None) -> Task:
        """Starts the orchestrator `name` as a child; with no `instance_id` the host derives
        one from this instance's id and the sequence id. Refused (`LockingRulesViolation`)
        inside a critical section."""
        if self.is_locked:
            return no_sub_orchestration_in_section()
        sequence_id = self._state.schedule(
            "StartSubOrchestration", name=name, instance_id=instance_id or "", input=to_json(input_)
        )
        return SequencedTask(self._state, sequence_id)

    def call_sub_orchestrator_with_retry(
        self, name: str, retry_options: RetryOptions, input_: Any = None, instance_id: Optional[str] = None
    ) -> Task:
        if self.is_locked:
            return no_sub_orchestration_in_section()
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

    def call_entity(self, entity_id: EntityId, operation_name: str, operation_input: Any = None) -> Task:
        """Calls `operation_name` on an entity; the task's value is the operation's result, or
        its failure (type kept) is raised at the `yield`. Inside a critical section only the
        locked entities can be called (others fail with `LockingRulesViolation`)."""
        entity_id, operation, payload = _entity_request(entity_id, operation_name, operation_input)
        held = self._state.held_locks
        if held is not None and entity_id not in held:
            return locking_rules(
                f"inside a critical section only the locked entities can be called, not `{entity_id.name}@{entity_id.key}`"
            )
        sequence_id = self._state.schedule(
            "CallEntity", entity=entity_id, operation=operation, input=payload, scheduled_at=None
        )
        return SequencedTask(self._state, sequence_id)

    def signal_entity(
        self, entity_id: EntityId, operation_name: str, operation_input: Any = None, scheduled_time: Optional[datetime] = None
    ) -> None:
        """Signals `operation_name` on an entity without waiting for it; with
        `scheduled_time` the operation runs at that time."""
        at = None if scheduled_time is None else to_millis(scheduled_time)
        entity_id, operation, payload = _entity_request(entity_id, operation_name, operation_input)
        self._state.schedule("SignalEntity", entity=entity_id, operation=operation, input=payload, scheduled_at=at)

    # --- critical sections -----------------------------------------------------------------

    def lock(self, *entities: Any) -> EntityLock:
        """Enters a critical section: locks the entities (`context.lock([a, b])` or
        `context.lock(a, b)`), acquired one at a time in sorted order so two orchestrations
        locking the same entities never deadlock. The returned `EntityLock` is a task: `yield`
        it to wait until all are held; its value is the lock itself, a context manager that
        releases them when its block exits:

            with (yield context.lock([source, target])):
                balance = yield context.call_entity(source, "balance")

        Inside the section only the locked entities can be called, no other lock can be taken
        and no sub-orchestration started (each fails with `LockingRulesViolation`); activities,
        timers, events and signals are allowed. Ending the orchestration releases the section
        too."""
        if len(entities) == 1 and not isinstance(entities[0], EntityId):
            entities = tuple(entities[0])
        for entity in entities:
            if not isinstance(entity, EntityId):
                raise TypeError(f"an entity is addressed by durable.EntityId(name, key), not {type(entity).__name__}")
        state = self._state
        if state.held_locks is not None:
            failure = Failure(LOCKING_RULES, "a critical section is already held; unlock it before locking again", non_retriable=True)
            return EntityLock(state, None, [], refused=failure)
        ordered = sorted(set(entities))
        if not ordered:
            failure = Failure(LOCKING_RULES, "lock_entities needs at least one entity", non_retriable=True)
            return EntityLock(state, None, [], refused=failure)
        state.held_locks = ordered
        section = EntityLock(state, state.schedule("LockEntities", entities=ordered), ordered)
        state.held_section = section
        return section

    def lock_entities(self, *entities: Any) -> EntityLock:
        """`lock`, under the Rust SDK's name."""
        return self.lock(*entities)

    @property
    def is_locked(self) -> bool:
        """True inside a critical section (from the moment the lock is asked for)."""
        return self._state.held_locks is not None

    @property
    def owned_locks(self) -> List[EntityId]:
        """The entities of the critical section held (sorted), or [] outside one."""
        return list(self._state.held_locks or [])

    def call_http(
        self,
        method: str,
        uri: str,
        content: Any = None,
        headers: Optional[Dict[str, str]] = None,
        is_raw_str: bool = False,
        asynchronous_pattern_enabled: bool = True,
    ) -> Task:
        """Makes an HTTP request through the host (its allow-list decides which hosts may be
        reached), checkpointed like an activity. The value is a dict `{"statusCode", "headers",
        "content"}`; any status is a response, network errors and refused hosts are failures.
        `content` that is not a string is sent as JSON unless `is_raw_str`. A `202 Accepted`
        with a `Location` header is polled with `GET` on durable timers (`Retry-After` seconds,
        else 30 s) until the answer is something else, unless `asynchronous_pattern_enabled`
        is False."""
        if content is not None and not isinstance(content, str) and not is_raw_str:
            content = to_json(content)
        request = {
            "method": method.upper(),
            "uri": uri,
            "headers": dict(headers or {}),
            "content": None if content is None else str(content),
            "asynchronousPatternEnabled": asynchronous_pattern_enabled,
        }
        return self._background.spawn(poll_http(self, request))

    def spawn(self, flow: Any) -> Task:
        """Runs `flow`, a generator (the call of a generator function, `context.spawn(step(context,
        x))`), beside the orchestrator as a task of its own: a sub-flow (a chain of `yield`s)
        the orchestrator can `yield`, or put in `task_all` / `task_any`. Its value is the
        generator's return value; its failure is the exception it raised (a failed task it did
        not catch keeps its failure). The generator runs at once up to its first pending task,
        so the work it starts first is scheduled now, like `call_activity`; afterwards it runs
        after every history event, after the orchestrator and before spawned flows created
        later, exactly as the Rust SDK's `ctx.spawn`. It stops (is closed) when the
        orchestration ends; its `finally` blocks then start no work. Only replay-safe code
        belongs in it, as in the orchestrator itself."""
        if not inspect.isgenerator(flow):
            hint = " (call the generator function)" if inspect.isgeneratorfunction(flow) else ""
            raise TypeError(f"spawn takes a generator{hint}, not {type(flow).__name__}")
        return self._background.spawn(flow)

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
        self._custom_status = status
        self._state.record("SetCustomStatus", status=None if status is None else to_json(status))

    @property
    def custom_status(self) -> Any:
        """The custom status this execution last set (None before it sets one)."""
        return self._custom_status

    @property
    def will_continue_as_new(self) -> bool:
        """Whether `continue_as_new` was called: the execution restarts when the orchestrator
        returns."""
        return self._state.continue_as_new is not None

    def continue_as_new(self, input_: Any, preserve_unprocessed_events: bool = False) -> None:
        """Restarts this orchestration with `input_` once the orchestrator returns (its return
        value is then ignored). With `preserve_unprocessed_events`, events that arrived and were
        not consumed are carried into the new execution."""
        self._state.continue_as_new = (to_json(input_), preserve_unprocessed_events)


def _entity_request(entity_id: Any, operation_name: Any, operation_input: Any):
    """Checks an entity request: the address, the operation name (`$...` is reserved) and the
    input as JSON text."""
    if not isinstance(entity_id, EntityId):
        raise TypeError(f"an entity is addressed by durable.EntityId(name, key), not {type(entity_id).__name__}")
    return entity_id, operation_name_of(operation_name), to_json(operation_input)


HTTP_ACTIVITY = "durable:http"
"""The host's built-in activity that performs one HTTP request."""
_DEFAULT_POLL_SECONDS = 30


def poll_http(context: DurableOrchestrationContext, request: Dict[str, Any]):
    """One request through the built-in activity, then, for a `202` with a `Location`, a
    durable wait and a `GET` of that location, until another answer."""
    response = yield context.call_activity(HTTP_ACTIVITY, request)
    while request["asynchronousPatternEnabled"] and response.get("statusCode") == 202:
        response_headers = {k.lower(): v for k, v in (response.get("headers") or {}).items()}
        location = response_headers.get("location")
        if not location:
            break
        try:
            wait = int(str(response_headers.get("retry-after", "")).strip())
        except ValueError:
            wait = _DEFAULT_POLL_SECONDS
        yield context._create_timer_at_ms(context._state.current_time_ms + wait * 1000)
        poll = {
            "method": "GET",
            "uri": resolve_location(request["uri"], location),
            "headers": request["headers"],
            "content": None,
            "asynchronousPatternEnabled": True,
        }
        response = yield context.call_activity(HTTP_ACTIVITY, poll)
    return response


def resolve_location(base: str, location: str) -> str:
    """A `Location` against the URI it came from: absolute as is, `/path` against the
    origin, anything else against the URI's directory."""
    if "://" in location:
        return location
    scheme = base.find("://")
    slash = base.find("/", scheme + 3) if scheme >= 0 else -1
    origin_end = slash if slash >= 0 else len(base)
    if location.startswith("/"):
        return base[:origin_end] + location
    path = base[origin_end:].split("?")[0].split("#")[0]
    directory = path[: path.rfind("/") + 1] if "/" in path else "/"
    return base[:origin_end] + directory + location
