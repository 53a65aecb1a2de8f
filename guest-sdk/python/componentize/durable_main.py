"""The module componentize-py builds a durable Python component from (see `durable build`,
`host/src/cli/build.rs`): imports the user's `app` module, whose decorators fill the
`durable.App`, and exposes the WIT exports the generated bindings look for here."""

import app  # noqa: F401 - the user's module; importing it registers its functions

from durable._component import Activity, Catalogue, Entity, Orchestrator  # noqa: F401
