"""The module componentize-py builds a durable Python component from (see `durable build`,
`host/src/cli/build/`): imports the user's module, `app` (or `function_app`, as a Durable
Functions project names it), whose decorators fill the `durable.App`, and exposes the WIT
exports the generated bindings look for here."""

try:
    import app  # noqa: F401 - the user's module; importing it registers its functions
except ModuleNotFoundError as missing:
    if missing.name != "app":
        raise
    import function_app  # noqa: F401 - a Durable Functions project's module

from durable._component import Activity, Catalogue, Entity, Orchestrator  # noqa: F401
