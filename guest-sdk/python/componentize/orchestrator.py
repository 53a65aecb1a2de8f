"""componentize-py looks up the resources of the exported `orchestrator` interface in a
top-level module of that name."""

from durable._component import Orchestration  # noqa: F401
