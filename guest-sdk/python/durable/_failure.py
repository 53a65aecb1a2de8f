"""Structured failures and the exceptions that carry them.

A `Failure` keeps its `type` end to end: an activity's exception becomes one (its class name is
the type), the host records it in the history as-is, the orchestrator sees it again as a
`TaskFailedError`, and an uncaught one becomes the orchestration's own failure unchanged.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, List, Optional

INVALID_INPUT = "InvalidInput"
UNKNOWN_FUNCTION = "UnknownFunction"
TIMEOUT = "Timeout"
RETRY_POLICY = "RetryPolicy"


@dataclass(frozen=True)
class FailureCause:
    """One cause in a failure's chain of inner failures."""

    type: str
    message: str
    details: Any = None


@dataclass(frozen=True)
class Failure:
    """What an activity, orchestration or entity operation returns when it does not succeed."""

    type: str
    message: str
    details: Any = None
    stack: Optional[str] = None
    non_retriable: bool = False
    inner: List[FailureCause] = field(default_factory=list)

    def with_cause(self, cause: FailureCause) -> "Failure":
        return replace(self, inner=[*self.inner, cause])

    @staticmethod
    def from_exception(error: BaseException) -> "Failure":
        """The failure an uncaught exception stands for: a `TaskFailedError` gives back the
        failure it carries, anything else becomes one typed by its class name."""
        if isinstance(error, TaskFailedError):
            return error.failure
        details = getattr(error, "details", None)
        try:
            json.dumps(details)
        except (TypeError, ValueError):
            details = repr(details)
        stack = format_stack(error)
        return Failure(
            type=type(error).__name__,
            message=str(error),
            details=details,
            stack=stack,
            non_retriable=bool(getattr(error, "non_retriable", False)),
        )


def format_stack(error: BaseException) -> str:
    """The traceback without source lines: reading them would touch the filesystem, which
    the orchestrator sandbox forbids."""
    lines = ["Traceback (most recent call last):"]
    for frame, lineno in traceback.walk_tb(error.__traceback__):
        code = frame.f_code
        lines.append(f'  File "{code.co_filename}", line {lineno}, in {code.co_name}')
    lines.append(f"{type(error).__name__}: {error}")
    return "\n".join(lines)


class DurableError(Exception):
    """Base for exceptions that carry structured details: `raise InsufficientFunds("...",
    details={"balance": 3})` fails with type `InsufficientFunds` and those details."""

    def __init__(self, message: str = "", details: Any = None, non_retriable: bool = False):
        super().__init__(message)
        self.details = details
        self.non_retriable = non_retriable


class TaskFailedError(Exception):
    """Raised at the `yield` of a task that failed (an activity, a sub-orchestration, a
    retried call, a timed wait); `failure` is the structured failure, unchanged."""

    def __init__(self, failure: Failure):
        super().__init__(f"{failure.type}: {failure.message}")
        self.failure = failure

    @property
    def type(self) -> str:
        return self.failure.type

    @property
    def message(self) -> str:
        return self.failure.message

    @property
    def details(self) -> Any:
        return self.failure.details
