"""`App`: the registry of a component's orchestrators, activities and entities, filled by
decorators, as in Durable Functions' `DFApp`."""

from __future__ import annotations

from typing import Callable, Dict, List, Optional, TypeVar

F = TypeVar("F", bound=Callable)

_APPS: List["App"] = []


class App:
    """One component's functions. Create one per app module:

    ```python
    app = durable.App()

    @app.orchestrator
    def hello(context):
        return (yield context.call_activity("say_hello", "Tokyo"))

    @app.activity
    def say_hello(name):
        return f"Hello {name}!"
    ```
    """

    def __init__(self) -> None:
        self.orchestrators: Dict[str, Callable] = {}
        self.activities: Dict[str, Callable] = {}
        self.entities: Dict[str, Callable] = {}
        _APPS.append(self)

    def orchestrator(self, function: Optional[F] = None, *, name: Optional[str] = None):
        """Registers a generator function `f(context)` as an orchestrator (default name: the
        function's name)."""
        return self._register(self.orchestrators, function, name)

    def activity(self, function: Optional[F] = None, *, name: Optional[str] = None):
        """Registers a plain function `f(input)` as an activity; `f(input, context)` also gets
        an `ActivityContext` (instance id, task id, attempt)."""
        return self._register(self.activities, function, name)

    def entity(self, function: Optional[F] = None, *, name: Optional[str] = None):
        """Registers a function `f(context: DurableEntityContext)` as an entity (default name:
        the function's name); it runs one operation per call, see `DurableEntityContext`."""
        return self._register(self.entities, function, name)

    @staticmethod
    def _register(table: Dict[str, Callable], function, name):
        def register(f):
            key = name or f.__name__
            if key in table:
                raise ValueError(f"`{key}` is registered twice")
            table[key] = f
            return f

        return register(function) if function is not None else register


def the_app() -> App:
    """The one `App` the component was built from."""
    if len(_APPS) != 1:
        raise RuntimeError(f"a durable Python component needs exactly one durable.App; found {len(_APPS)}")
    return _APPS[0]
