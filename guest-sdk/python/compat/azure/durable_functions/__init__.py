"""`azure.durable_functions` inside a durable component: the Durable Functions Python SDK's
names on top of `durable`, so an app written for Azure Functions builds with `durable build`
unchanged (`function_app.py`, programming model v2).

- `DFApp` is a `durable.App`. `@app.orchestration_trigger(context_name=...)`,
  `@app.activity_trigger(input_name=...)` and `@app.entity_trigger(context_name=...)` register
  the function under its name, or under the one `@app.function_name(name=...)` gives (above or
  below the trigger). `Blueprint` collects the same registrations for
  `app.register_functions(blueprint)`.
- HTTP starters and other Azure Functions triggers and bindings (`route`,
  `durable_client_input`, `timer_trigger`, `*_trigger`, `*_input`, `*_output`) are accepted and
  left out of the component: `durable serve` answers Durable Functions' HTTP API itself.
- The contexts, `RetryOptions`, `EntityId` and the failures are `durable`'s, which use the same
  method and property names.
- Programming model v1 (function folders, each with a `function.json` and an `__init__.py`):
  `main = Orchestrator.create(fn)` and `main = Entity.create(fn)` return the handler the real
  package returns, carrying `fn` (`.orchestrator_function`, `.entity_function`);
  `_function_folders` registers every folder's orchestrator, activity and entity under the
  folder's name (`durable build` detects the layout).
- What is not there fails when the app is built, naming the feature: `DurableOrchestrationClient`.
"""

from __future__ import annotations

import enum
import re
from typing import Any, Callable, Dict, List, Optional, Tuple

import durable
from durable import (
    DurableEntityContext,
    DurableError,
    DurableOrchestrationContext,
    EntityId,
    RetryOptions,
    TaskFailedError,
)

__all__ = [
    "Blueprint",
    "DFApp",
    "DurableFunctionsCompatibilityWarning",
    "OrchestrationRuntimeStatus",
    "DurableEntityContext",
    "DurableOrchestrationClient",
    "DurableOrchestrationContext",
    "Entity",
    "EntityId",
    "Orchestrator",
    "RetryOptions",
    "TaskFailedError",
]

class DurableFunctionsCompatibilityWarning(FutureWarning):
    """Warns of a Durable Functions feature that behaves differently here."""


class OrchestrationRuntimeStatus(enum.Enum):
    """An instance's runtime status, as the HTTP API reports it (`runtimeStatus`)."""

    Running = "Running"
    Completed = "Completed"
    ContinuedAsNew = "ContinuedAsNew"
    Failed = "Failed"
    Canceled = "Canceled"
    Terminated = "Terminated"
    Pending = "Pending"
    Suspended = "Suspended"


# Azure Functions' trigger and binding decorators (`timer_trigger`, `blob_input`,
# `cosmos_db_output_v3`, `generic_input_binding`, ...): accepted, left out.
_BINDING = re.compile(r"\w+_(trigger|input|output)(_v\d+)?|\w+_(input|output)_binding")

# Registration tables, by the `durable.App` attribute that holds them.
_KINDS = ("orchestrators", "activities", "entities")


def _name_of(function: Callable) -> str:
    return getattr(function, "_durable_function_name", function.__name__)


def _left_out(function: Callable) -> Callable:
    """An HTTP starter or other trigger: kept as the function it is, not registered."""
    return function


class _Registrations:
    """What `DFApp` and `Blueprint` share: the trigger decorators and the bindings accepted."""

    def _add(self, kind: str, function: Callable) -> None:  # overridden
        raise NotImplementedError

    def _rename(self, function: Callable, name: str) -> None:  # overridden
        raise NotImplementedError

    def orchestration_trigger(self, context_name: str = "context", orchestration: Optional[str] = None):
        """Registers a generator function `f(context)` as an orchestrator."""
        return self._trigger("orchestrators", orchestration)

    def activity_trigger(self, input_name: str = "input", activity: Optional[str] = None):
        """Registers a function `f(input)` as an activity."""
        return self._trigger("activities", activity)

    def entity_trigger(self, context_name: str = "context", entity_name: Optional[str] = None):
        """Registers a function `f(context)` as an entity."""
        return self._trigger("entities", entity_name)

    def _trigger(self, kind: str, name: Optional[str]):
        def register(function: Callable) -> Callable:
            if name:
                function._durable_function_name = name  # type: ignore[attr-defined]
            self._add(kind, function)
            function._durable_registered = True  # type: ignore[attr-defined]
            return function

        return register

    def function_name(self, name: str, **_: Any):
        """Names the function (above or below its trigger decorator)."""

        def rename(function: Callable) -> Callable:
            if getattr(function, "_durable_registered", False):
                self._rename(function, name)
            function._durable_function_name = name  # type: ignore[attr-defined]
            return function

        return rename

    # Azure Functions triggers and bindings: accepted, left out (the host serves the HTTP API).
    def route(self, *_: Any, **__: Any):
        return _left_out

    def durable_client_input(self, *_: Any, **__: Any):
        return _left_out

    def schedule(self, *_: Any, **__: Any):
        return _left_out

    def __getattr__(self, attribute: str):
        if _BINDING.fullmatch(attribute) or attribute in (
            "http_type",
            "mcp_tool",
            "mcp_tool_property",
            "retry",
        ):
            return lambda *_, **__: _left_out
        raise AttributeError(
            f"azure.durable_functions: `{attribute}` is not supported by durable; register "
            "orchestrators, activities and entities with orchestration_trigger, "
            "activity_trigger and entity_trigger (docs/python.md)"
        )


class DFApp(durable.App, _Registrations):
    """A Durable Functions app (`df.DFApp(http_auth_level=...)`): the component's one
    `durable.App`."""

    def __init__(self, http_auth_level: Any = None, **_: Any) -> None:
        durable.App.__init__(self)
        self.auth_level = http_auth_level

    def _add(self, kind: str, function: Callable) -> None:
        table: Dict[str, Callable] = getattr(self, kind)
        key = _name_of(function)
        if key in table:
            raise ValueError(f"`{key}` is registered twice")
        table[key] = function

    def _rename(self, function: Callable, name: str) -> None:
        for kind in _KINDS:
            table: Dict[str, Callable] = getattr(self, kind)
            for key, registered in list(table.items()):
                if registered is function:
                    del table[key]
                    if name in table:
                        raise ValueError(f"`{name}` is registered twice")
                    table[name] = function

    def register_functions(self, blueprint: "Blueprint") -> None:
        """Registers what `blueprint` holds, under the names it had when registered."""
        for kind, function in blueprint._functions:
            self._add(kind, function)

    register_blueprint = register_functions


class Blueprint(_Registrations):
    """Registrations kept for `DFApp.register_functions(blueprint)`."""

    def __init__(self, http_auth_level: Any = None, **_: Any) -> None:
        self._functions: List[Tuple[str, Callable]] = []

    def _add(self, kind: str, function: Callable) -> None:
        self._functions.append((kind, function))

    def _rename(self, function: Callable, name: str) -> None:
        # Blueprint entries are named when the app takes them.
        function._durable_function_name = name  # type: ignore[attr-defined]


def _not_supported(feature: str, instead: str) -> DurableError:
    return DurableError(f"azure.durable_functions: {feature} is not supported by durable yet; {instead}")


def _handled_by_the_host(what: str) -> DurableError:
    return DurableError(
        f"azure.durable_functions: {what} is run by durable's host, not called: `durable build` "
        "registers it under its function folder's name"
    )


class Orchestrator:
    """Programming model v1: `main = df.Orchestrator.create(orchestrator_function)` in a function
    folder's `__init__.py`. As in the real package, `create` returns the handler the Functions
    worker would call, with the generator function as its `orchestrator_function`; `durable
    build` registers that function as the orchestrator named after the folder."""

    def __init__(self, activity_func: Callable) -> None:
        self.fn = activity_func

    def handle(self, context: Any) -> str:
        raise _handled_by_the_host("an Orchestrator")

    @classmethod
    def create(cls, fn: Callable) -> Callable[[Any], str]:
        if not callable(fn):
            raise TypeError("Orchestrator.create takes the orchestrator function (a generator function of the context)")

        def handle(context: Any) -> str:
            raise _handled_by_the_host("an orchestrator made by Orchestrator.create")

        handle.orchestrator_function = fn  # type: ignore[attr-defined]
        handle.__name__ = getattr(fn, "__name__", "handle")
        handle.__qualname__ = getattr(fn, "__qualname__", "handle")
        return handle


class Entity:
    """Programming model v1: `main = df.Entity.create(entity_function)` in a function folder's
    `__init__.py`. `create` returns the handler with the function as its `entity_function`;
    `durable build` registers that function as the entity named after the folder."""

    def __init__(self, entity_func: Callable) -> None:
        self.fn = entity_func

    def handle(self, context: Any, batch: List[Dict[str, Any]]) -> str:
        raise _handled_by_the_host("an Entity")

    @classmethod
    def create(cls, fn: Callable) -> Callable[[Any], str]:
        if not callable(fn):
            raise TypeError("Entity.create takes the entity function (a function of the entity context)")

        def handle(context: Any) -> str:
            raise _handled_by_the_host("an entity made by Entity.create")

        handle.entity_function = fn  # type: ignore[attr-defined]
        handle.__name__ = getattr(fn, "__name__", "handle")
        handle.__qualname__ = getattr(fn, "__qualname__", "handle")
        return handle


class DurableOrchestrationClient:
    """The orchestration client of HTTP starters; a component has none."""

    def __init__(self, *_: Any, **__: Any) -> None:
        raise _not_supported(
            "DurableOrchestrationClient",
            "start and manage instances through the HTTP API of `durable serve` "
            "(/runtime/webhooks/durabletask) or the `durable` CLI",
        )
