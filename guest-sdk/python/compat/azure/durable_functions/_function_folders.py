"""A Durable Functions app in Python's programming model v1: function folders, each with a
`function.json` naming its bindings and a script (`__init__.py` unless `scriptFile` says
otherwise) whose entry point (`main` unless `entryPoint` says otherwise) is the function:

- an `orchestrationTrigger` function's `main` is `df.Orchestrator.create(orchestrator_function)`;
- an `entityTrigger` function's `main` is `df.Entity.create(entity_function)`;
- an `activityTrigger` function's `main` is a plain function taking the activity's input under
  the trigger binding's name (`def main(name: str) -> str`), and a `context` parameter if it
  wants the invocation context.

`register_function_folders()` imports each such folder as the Functions worker does (as
`__app__.<folder>`, with the app's root on `sys.path`, so both `from shared_code import x` and
`from ..shared_code import x` work) and registers the function under the folder's name on a new
`durable.App`. Folders of other triggers (HTTP starters with a `durableClient` binding, timers,
queues, ...) are left out and not imported: `durable serve` answers Durable Functions' HTTP API
itself. `durable build` detects this layout and says which folders it leaves out.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import inspect
import json
import os
import sys
import types
from typing import Any, Callable, Dict, List, Optional, Tuple

import durable

# The package function folders are imported under, as in the Azure Functions Python worker.
APP_PACKAGE = "__app__"

# The durable triggers, by the `durable.App` table they register in.
TRIGGERS = {
    "orchestrationtrigger": "orchestrators",
    "activitytrigger": "activities",
    "entitytrigger": "entities",
}


class FunctionFolderError(durable.DurableError):
    """A function folder that cannot be registered: names the folder and what is wrong."""


def function_folders(root: str) -> List[str]:
    """The names of `root`'s function folders (holding a `function.json`), sorted."""
    return sorted(
        name
        for name in os.listdir(root)
        if not name.startswith(".") and os.path.isfile(os.path.join(root, name, "function.json"))
    )


def find_root(paths: Optional[List[str]] = None) -> str:
    """The first directory on `paths` (`sys.path`) holding function folders: the app's root,
    which `durable build` puts on the path."""
    for path in sys.path if paths is None else paths:
        if path and os.path.isdir(path):
            try:
                if function_folders(path):
                    return path
            except OSError:
                continue
    raise FunctionFolderError(
        "no app: no `app.py`, no `function_app.py` and no function folders (folders holding a "
        "`function.json`) were found"
    )


def durable_trigger(config: Dict[str, Any]) -> Tuple[Optional[str], Optional[Dict[str, Any]]]:
    """The `durable.App` table a function folder's `function.json` registers in (`None` for
    other triggers), and its trigger binding."""
    for binding in config.get("bindings") or []:
        if not isinstance(binding, dict):
            continue
        kind = TRIGGERS.get(str(binding.get("type", "")).lower())
        if kind is not None:
            return kind, binding
    return None, None


def _app_package(root: str) -> types.ModuleType:
    package = sys.modules.get(APP_PACKAGE)
    if package is None:
        package = types.ModuleType(APP_PACKAGE)
        package.__spec__ = importlib.machinery.ModuleSpec(APP_PACKAGE, None, is_package=True)
        package.__path__ = []  # type: ignore[attr-defined]
        package.__package__ = APP_PACKAGE
        sys.modules[APP_PACKAGE] = package
    if root not in package.__path__:  # type: ignore[attr-defined]
        package.__path__.append(root)  # type: ignore[attr-defined]
        package.__spec__.submodule_search_locations = package.__path__  # type: ignore[union-attr]
    if root not in sys.path:
        sys.path.append(root)
    return package


def _module_name(root: str, folder: str, script_file: Optional[str]) -> str:
    """`__app__.<folder>` for `__init__.py`, `__app__.<folder>.<module>` for another script."""
    script = os.path.normpath(os.path.join(root, folder, script_file or "__init__.py"))
    relative = os.path.relpath(script, root)
    parts = relative.split(os.sep)
    if parts[0] == os.pardir or not relative.endswith(".py"):
        raise FunctionFolderError(
            f"function `{folder}`: its scriptFile `{script_file}` is not a Python file inside the app"
        )
    parts[-1] = parts[-1][: -len(".py")]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join([APP_PACKAGE, *parts])


def _entry_point(module: types.ModuleType, folder: str, entry_point: Optional[str]) -> Callable:
    name = entry_point or "main"
    function = getattr(module, name, None)
    if not callable(function):
        raise FunctionFolderError(
            f"function `{folder}`: {module.__name__} has no function `{name}` (its entry point)"
        )
    return function


def _orchestrator(folder: str, main: Callable) -> Callable:
    function = getattr(main, "orchestrator_function", None)
    if function is not None:
        return function
    if inspect.isgeneratorfunction(main):
        return main
    raise FunctionFolderError(
        f"function `{folder}` has an orchestrationTrigger: its `main` should be "
        "`df.Orchestrator.create(orchestrator_function)`"
    )


def _entity(folder: str, main: Callable) -> Callable:
    function = getattr(main, "entity_function", None)
    if function is not None:
        return function
    if getattr(main, "orchestrator_function", None) is not None:
        raise FunctionFolderError(
            f"function `{folder}` has an entityTrigger but its `main` is an Orchestrator; use "
            "`df.Entity.create(entity_function)`"
        )
    return main


def _run_coroutine(coroutine: Any, folder: str) -> Any:
    """The value of an `async def` activity that awaits nothing durable cannot wait for (it may
    `await asyncio.sleep(0)`); awaiting real I/O fails it, naming the folder."""
    try:
        while True:
            if coroutine.send(None) is not None:
                coroutine.close()
                raise FunctionFolderError(
                    f"activity `{folder}` awaited something durable cannot wait for: activities "
                    "are plain functions (an `async def` one may only await other coroutines)"
                )
    except StopIteration as stop:
        return stop.value


def _activity(folder: str, main: Callable, input_name: str) -> Callable:
    """`main(<input_name>=input)`, as the Functions worker calls it, as a durable activity."""
    from azure import functions as func

    try:
        parameters = list(inspect.signature(main).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    by_name = {p.name: p for p in parameters}
    wants_context = [
        p.name
        for p in parameters
        if p.name != input_name and (p.name == "context" or p.annotation in (func.Context, "func.Context"))
    ]
    others = [p for p in parameters if p.name != input_name and p.name not in wants_context]
    keyword = input_name in by_name or any(p.kind is p.VAR_KEYWORD for p in parameters)

    def activity(input: Any, context: durable.ActivityContext) -> Any:
        kwargs: Dict[str, Any] = {}
        args: List[Any] = []
        if keyword:
            kwargs[input_name] = input
        elif others:
            # A parameter named otherwise than the binding: the input, by position.
            args.append(input)
        for name in wants_context:
            kwargs[name] = func.Context(
                invocation_id=f"{context.instance_id}:{context.task_id}:{context.attempt}",
                function_name=folder,
                function_directory=folder,
            )
        result = main(*args, **kwargs)
        if inspect.iscoroutine(result):
            result = _run_coroutine(result, folder)
        return result

    activity.__name__ = folder
    activity.__qualname__ = folder
    return activity


def register_function_folders(root: Optional[str] = None, app: Optional[durable.App] = None) -> durable.App:
    """Registers every orchestrator, activity and entity function folder of `root` (found on
    `sys.path` when not given) on `app` (a new `durable.App` when not given), in folder order,
    each under its folder's name. Returns the app."""
    root = os.path.abspath(root) if root is not None else find_root()
    folders = function_folders(root)
    _app_package(root)
    app = durable.App() if app is None else app
    for folder in folders:
        path = os.path.join(root, folder, "function.json")
        try:
            with open(path, encoding="utf-8-sig") as file:
                config = json.load(file)
        except (OSError, ValueError) as error:
            raise FunctionFolderError(f"function `{folder}`: cannot read its function.json: {error}") from None
        if not isinstance(config, dict) or config.get("disabled") is True:
            continue
        kind, trigger = durable_trigger(config)
        if kind is None or trigger is None:
            continue  # an HTTP starter or another trigger: left out, not imported
        module = importlib.import_module(_module_name(root, folder, config.get("scriptFile")))
        main = _entry_point(module, folder, config.get("entryPoint"))
        table: Dict[str, Callable] = getattr(app, kind)
        if folder in table:
            raise FunctionFolderError(f"`{folder}` is registered twice")
        if kind == "orchestrators":
            table[folder] = _orchestrator(folder, main)
        elif kind == "entities":
            table[folder] = _entity(folder, main)
        else:
            table[folder] = _activity(folder, main, str(trigger.get("name") or "input"))
    return app
