"""Logging through the host: Python's standard `logging` reaches the host's `log` import, which
records each line with the running instance (`durable logs ID`, the HTTP API).

Orchestrator code re-runs on replay; a line logged while the executor replays committed history
is dropped, so each line is recorded once, as Durable Functions' replay-safe logger does.
Activities and entity operations log every time they run.
"""

from __future__ import annotations

import logging
from typing import Callable, Optional

from ._state import ReplayState

Sink = Callable[[str, str], None]
"""Receives `(level, message)`; level is one of trace, debug, info, warn, error."""

# The replay state of the orchestration executor running right now, if any.
active: Optional[ReplayState] = None


def host_level(levelno: int) -> str:
    if levelno >= logging.ERROR:
        return "error"
    if levelno >= logging.WARNING:
        return "warn"
    if levelno >= logging.INFO:
        return "info"
    if levelno >= logging.DEBUG:
        return "debug"
    return "trace"


class HostLogHandler(logging.Handler):
    """Sends records to the host, except those an orchestrator logs while replaying."""

    def __init__(self, sink: Sink):
        super().__init__()
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        if active is not None and active.is_replaying:
            return
        try:
            self._sink(host_level(record.levelno), self.format(record))
        except Exception:  # noqa: BLE001 - logging must never fail the code that logs
            self.handleError(record)


def install(sink: Sink) -> None:
    """Routes the root logger to the host at INFO and above (the user may change the level)."""
    root = logging.getLogger()
    root.addHandler(HostLogHandler(sink))
    root.setLevel(logging.INFO)
