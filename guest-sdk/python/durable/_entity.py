"""Durable entities: small stateful actors addressed by `EntityId(name, key)`, written as in
Durable Functions' Python SDK:

```python
@app.entity
def counter(context: durable.DurableEntityContext):
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(value + context.get_input())
    elif context.operation_name == "get":
        context.set_result(value)
    elif context.operation_name == "reset":
        context.destruct_on_exit()
    else:
        raise context.unknown_operation()
```

The host hands the component a batch of operations with the entity's current state;
`execute_batch` runs them one at a time against one `DurableEntityContext`. Each operation is
transactional: when it raises, the state goes back to what it was before that operation, the
messages it sent are dropped, its result is the structured failure, and later operations still
run. Pure Python: `_component.py` converts to and from the WIT records.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, List, Optional, Tuple

from ._failure import DurableError, Failure
from ._json import to_json

UNKNOWN_OPERATION = "UnknownOperation"
_MISSING = object()


@dataclass(frozen=True, order=True)
class EntityId:
    """The address of an entity: its entity name (the registered function's name) and key."""

    name: str
    key: str

    def __str__(self) -> str:
        return f"@{self.name}@{self.key}"


def operation_name_of(operation: Any) -> str:
    """An entity operation name to send: names starting with `$` belong to the host's lock
    protocol and are refused."""
    name = str(operation)
    if name.startswith("$"):
        raise ValueError(f"entity operation names starting with `$` are reserved (`{name}`)")
    return name


class UnknownOperation(DurableError):
    """An operation the entity does not handle (non-retriable)."""


@dataclass
class SignalMessage:
    """`signal_entity` from an entity: delivered when the operation succeeds."""

    entity: EntityId
    operation: str
    input: Any
    scheduled_at_ms: Optional[int] = None


@dataclass
class StartMessage:
    """`start_new_orchestration` from an entity; an empty `instance_id` lets the host pick."""

    name: str
    instance_id: str
    input: Any


@dataclass
class OperationOutcome:
    """One operation's result (JSON text) or failure, and the messages it sent."""

    ok: bool
    result: str = "null"
    failure: Optional[Failure] = None
    messages: List[Any] = field(default_factory=list)


class DurableEntityContext:
    """The entity's view of the operation it runs: its id, the operation and input, its state,
    its result and the messages it sends."""

    def __init__(self, entity_id: EntityId, state: Any):
        self._id = entity_id
        self._state = state  # _MISSING when the entity has no state
        self._newly_constructed = state is _MISSING
        self._operation = ""
        self._input: Any = None
        self._result: Any = None
        self._messages: List[Any] = []

    @property
    def entity_name(self) -> str:
        return self._id.name

    @property
    def entity_key(self) -> str:
        return self._id.key

    @property
    def entity_id(self) -> EntityId:
        return self._id

    @property
    def operation_name(self) -> str:
        """The operation being run, e.g. `add`."""
        return self._operation

    def get_input(self) -> Any:
        """The operation's input (None when there is none)."""
        return self._input

    @property
    def is_newly_constructed(self) -> bool:
        """Whether the entity had no state when its batch began."""
        return self._newly_constructed

    def has_state(self) -> bool:
        return self._state is not _MISSING

    def get_state(self, initializer: Optional[Callable[[], Any]] = None) -> Any:
        """The current state, or `initializer()` (None without one) when the entity has none."""
        if self._state is _MISSING:
            return initializer() if initializer is not None else None
        return self._state

    def set_state(self, state: Any) -> None:
        self._state = state

    def destruct_on_exit(self) -> None:
        """Deletes the entity's state: the entity no longer exists once the batch ends (unless
        a later operation sets it again)."""
        self._state = _MISSING

    def set_result(self, result: Any) -> None:
        """The operation's result, returned to a caller (`call_entity`)."""
        self._result = result

    def signal_entity(
        self, entity_id: EntityId, operation_name: str, operation_input: Any = None, scheduled_at_ms: Optional[int] = None
    ) -> None:
        """Signals `operation_name` on another entity, sent when this operation succeeds."""
        operation = operation_name_of(operation_name)
        self._messages.append(SignalMessage(entity_id, operation, operation_input, scheduled_at_ms))

    def start_new_orchestration(self, name: str, input_: Any = None, instance_id: str = "") -> None:
        """Starts the orchestrator `name` when this operation succeeds."""
        self._messages.append(StartMessage(name, instance_id, input_))

    def unknown_operation(self) -> UnknownOperation:
        """The exception for an operation this entity does not handle: `raise
        context.unknown_operation()`."""
        return UnknownOperation(
            f"entity `{self._id.name}` has no operation named `{self._operation}`", non_retriable=True
        )


EntityFunction = Callable[[DurableEntityContext], Any]


def execute_batch(
    function: EntityFunction, entity_id: EntityId, state: Any, operations: List[Tuple[str, Any]], has_state: bool
) -> Tuple[List[OperationOutcome], bool, Any]:
    """Runs `(operation, input)` pairs one at a time, rolling back each failed one. Returns
    the outcomes and the final state as `(exists, state)`. A return value other than None is
    the operation's result unless it called `set_result`."""
    context = DurableEntityContext(entity_id, state if has_state else _MISSING)
    outcomes: List[OperationOutcome] = []
    for name, input_ in operations:
        # The sentinel of a missing state must stay itself: a deep copy would be a new object,
        # and rolling back to it would make the entity exist with a state that is not JSON.
        before = context._state if context._state is _MISSING else copy.deepcopy(context._state)
        context._operation, context._input, context._result, context._messages = name, input_, None, []
        try:
            returned = function(context)
            result = context._result if context._result is not None or returned is None else returned
            result_json = to_json(result)
            if context._state is not _MISSING:
                to_json(context._state)
        except Exception as error:  # noqa: BLE001 - a failing operation fails alone
            context._state = before
            outcomes.append(OperationOutcome(False, failure=Failure.from_exception(error)))
            continue
        outcomes.append(OperationOutcome(True, result=result_json, messages=context._messages))
    exists = context._state is not _MISSING
    return outcomes, exists, context._state if exists else None
