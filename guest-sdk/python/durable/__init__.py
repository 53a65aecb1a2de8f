"""`durable`: write orchestrators, activities and entities for the durable host in Python,
the Durable Functions way, and build them into a WebAssembly component with componentize-py
(`durable build APP_DIR -o OUT.wasm`).

Data flows: the host feeds history events through the WIT interface (`_component.py`, only
importable inside a component build); the pure replay executor (`replay.py`) applies them and
runs the orchestrator generators registered on the `App`; the actions they decide through
`DurableOrchestrationContext` go back to the host. Entity batches run in `_entity.py`; the
standard `logging` module reaches the host through `_log.py`. Activities make HTTP requests with
`durable.http.fetch` and read the operator's configuration with `durable.config.get`.
"""

from . import config, http
from ._activity import ActivityContext
from ._app import App
from ._context import DurableOrchestrationContext
from ._entity import DurableEntityContext, EntityId, UnknownOperation
from ._failure import DurableError, Failure, FailureCause, TaskFailedError
from ._retry import RetryOptions
from ._tasks import EntityLock, Task, TimerTask

__all__ = [
    "ActivityContext",
    "App",
    "DurableError",
    "DurableEntityContext",
    "DurableOrchestrationContext",
    "EntityId",
    "EntityLock",
    "Failure",
    "FailureCause",
    "RetryOptions",
    "Task",
    "TaskFailedError",
    "TimerTask",
    "UnknownOperation",
    "config",
    "http",
]
