"""Retry policies, as Durable Functions' `RetryOptions`.

A retrying call is a generator run beside the orchestrator: it schedules attempt 1 at once and,
after each failure the policy accepts, waits on a durable timer for the backoff delay and
schedules the next attempt as a new action, so every attempt and every wait is in the history.
After the last attempt (or past the total timeout, or for a non-retriable failure) it fails at
once with the last failure: no timer is left behind.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Generator, Optional, Tuple, Union

from ._failure import RETRY_POLICY, Failure, FailureCause, TaskFailedError


@dataclass
class RetryOptions:
    """After attempt n fails, wait `min(first_retry_interval * backoff_coefficient^(n-1),
    max_retry_interval)`, up to `max_number_of_attempts` attempts in all, and only while the
    next attempt starts within `retry_timeout` of the first. `handle(failure)` returning False
    (or a non-retriable failure) stops at once."""

    first_retry_interval_in_milliseconds: int
    max_number_of_attempts: int
    backoff_coefficient: float = 1.0
    max_retry_interval_in_milliseconds: Optional[int] = None
    retry_timeout_in_milliseconds: Optional[int] = None
    handle: Optional[Callable[[Failure], bool]] = None

    def delay_after(self, attempt: int) -> int:
        """Milliseconds to wait once attempt `attempt` (1 for the first) failed."""
        coefficient = self.backoff_coefficient
        if not (math.isfinite(coefficient) and coefficient > 0):
            coefficient = 1.0
        delay = math.floor(self.first_retry_interval_in_milliseconds * coefficient ** (attempt - 1))
        if self.max_retry_interval_in_milliseconds is not None:
            delay = min(delay, self.max_retry_interval_in_milliseconds)
        return int(delay)

    def next_delay(self, failure: Failure, attempt: int, started_ms: int, now_ms: int) -> Union[int, str]:
        """The delay before the next attempt, or (a str) why there is none."""
        if failure.non_retriable:
            return "the failure is not retriable"
        if self.handle is not None and not self.handle(failure):
            return "the retry policy does not handle this failure"
        attempts = max(self.max_number_of_attempts, 1)
        if attempt >= attempts:
            return f"all {attempts} attempts failed"
        delay = self.delay_after(attempt)
        timeout = self.retry_timeout_in_milliseconds
        if timeout is not None and now_ms + delay > started_ms + timeout:
            return f"the next attempt would start after the retry timeout of {timeout} ms"
        return delay


def run_with_retry(context: Any, options: RetryOptions, start_attempt: Callable[[], Any]) -> Generator[Any, Any, Any]:
    started_ms = context._state.current_time_ms
    attempt = 1
    while True:
        try:
            return (yield start_attempt())
        except TaskFailedError as error:
            failure = error.failure
        now_ms = context._state.current_time_ms
        decision = options.next_delay(failure, attempt, started_ms, now_ms)
        if isinstance(decision, int):
            yield context._create_timer_at_ms(now_ms + decision)
            attempt += 1
        elif attempt > 1:
            cause = FailureCause(RETRY_POLICY, f"gave up after attempt {attempt}: {decision}")
            raise TaskFailedError(failure.with_cause(cause))
        else:
            raise TaskFailedError(failure)


__all__: Tuple[str, ...] = ("RetryOptions",)
