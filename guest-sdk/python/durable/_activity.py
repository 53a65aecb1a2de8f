"""Activities: plain functions `f(input)`, or `f(input, context)` to learn about the attempt."""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, Callable

from ._json import parse_json, to_json


@dataclass(frozen=True)
class ActivityContext:
    """Facts about the running attempt: the orchestration that scheduled it, its sequence id
    there, and the attempt (1 on the first run; activities run at least once)."""

    instance_id: str
    task_id: int
    attempt: int


def run_activity(function: Callable[..., Any], input_json: str, context: ActivityContext) -> str:
    """Calls the activity with as many arguments as it takes and returns its result as JSON
    text; exceptions propagate (the glue turns them into structured failures)."""
    arity = len(inspect.signature(function).parameters)
    if arity == 0:
        result = function()
    elif arity == 1:
        result = function(parse_json(input_json))
    else:
        result = function(parse_json(input_json), context)
    return to_json(result)
