"""The module componentize-py builds a durable Python component from (see `durable build`,
`host/src/cli/build/`): imports the user's module, `app` (or `function_app`, as a Durable
Functions project names it in programming model v2), whose decorators fill the `durable.App`,
or else registers a Durable Functions project's function folders (programming model v1: folders
with a `function.json`, see `azure.durable_functions._function_folders`), and exposes the WIT
exports the generated bindings look for here."""

try:
    import app  # noqa: F401 - the user's module; importing it registers its functions
except ModuleNotFoundError as missing:
    if missing.name != "app":
        raise
    try:
        import function_app  # noqa: F401 - a Durable Functions project's module
    except ModuleNotFoundError as missing_v2:
        if missing_v2.name != "function_app":
            raise
        # A Durable Functions project in programming model v1: function folders.
        from azure.durable_functions._function_folders import register_function_folders

        register_function_folders()

from durable._component import Activity, Catalogue, Entity, Orchestrator  # noqa: F401

import gc  # noqa: E402

# The component is a snapshot of this interpreter once everything above is imported, and every
# instance starts as a copy-on-write map of it. The collector would walk the snapshot's objects
# (Python 3.14's incremental collector scans the old generation a slice at each young
# collection), writing to each one's header: every page it touches is copied for that instance
# alone. Frozen, they are never collected, and stay shared.
gc.freeze()
