"""Durable tasks: what an orchestrator `yield`s.

A task reads its outcome from the shared `ReplayState`: by sequence id (activities, timers,
sub-orchestrations), by waiter id (external events) or by spawn id (generators run as tasks of
their own: `context.spawn`, retries, waits with a timeout). `task_all` / `task_any` compose
other tasks and decide from the arrival order of their outcomes, never from when they are
looked at, so a cold replay agrees with a live run. The action behind a task is recorded when the task is
created, so tasks that are never yielded still run.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Generator, List, Optional

from ._failure import Failure, TaskFailedError
from ._state import ReplayState, Resolved


class Task:
    """A handle on work the orchestrator started. `yield` it to get its value (or have its
    failure raised as `TaskFailedError`); yielding it twice gives the same outcome twice."""

    def _resolved(self) -> Optional[Resolved]:
        raise NotImplementedError

    @property
    def is_completed(self) -> bool:
        return self._resolved() is not None

    @property
    def is_faulted(self) -> bool:
        resolved = self._resolved()
        return resolved is not None and not resolved.ok

    @property
    def result(self) -> Any:
        """The value once completed successfully, else None."""
        resolved = self._resolved()
        return resolved.value if resolved is not None and resolved.ok else None

    @property
    def failure(self) -> Optional[Failure]:
        resolved = self._resolved()
        return resolved.failure if resolved is not None and not resolved.ok else None

    @property
    def exception(self) -> Optional[TaskFailedError]:
        failure = self.failure
        return TaskFailedError(failure) if failure is not None else None


class SequencedTask(Task):
    """The task started by the action with this sequence id."""

    def __init__(self, state: ReplayState, sequence_id: int):
        self._state = state
        self.id = sequence_id

    def _resolved(self) -> Optional[Resolved]:
        return self._state.outcome(self.id)


class TimerTask(SequencedTask):
    """A durable timer; `cancel()` cancels it (a cancelled timer never completes)."""

    def cancel(self) -> None:
        if self._state.cancel_timer(self.id):
            self._state.record("CancelTimer", timer_id=self.id)


class EntityLock(Task):
    """A critical section over entities (`context.lock`), and the task of acquiring it.

    `yield` it to wait until every entity is locked; its value is the lock itself, a context
    manager that releases the entities when the block exits (normally or by an exception):

        with (yield context.lock([source, target])):
            ...

    `release()` releases them explicitly. Until then (or until the orchestration ends) only the
    locked entities can be called. A lock that breaks the locking rules (a second section while
    one is held, no entities) fails at its `yield` with `LockingRulesViolation` and holds
    nothing."""

    def __init__(self, state: ReplayState, sequence_id: Optional[int], entities: List[Any], refused: Optional[Failure] = None):
        self._state = state
        self.id = sequence_id
        self._entities = entities
        self._refused = refused

    def _resolved(self) -> Optional[Resolved]:
        if self._refused is not None:
            return Resolved(0, False, failure=self._refused)
        assert self.id is not None
        resolved = self._state.outcome(self.id)
        if resolved is None or not resolved.ok:
            return resolved
        return Resolved(resolved.order, True, self)

    @property
    def entities(self) -> List[Any]:
        """The locked entities, sorted (empty for a refused lock)."""
        return list(self._entities)

    @property
    def is_held(self) -> bool:
        """True until the section is released (or when it was refused: False)."""
        return self._refused is None and self._state.held_section is self

    def release(self) -> None:
        """Leaves the critical section, releasing its entities; does nothing once released,
        or for a refused lock."""
        if self.is_held:
            self._state.release_locks()

    def __enter__(self) -> "EntityLock":
        return self

    def __exit__(self, *exc_info: Any) -> bool:
        self.release()
        return False


class ExternalEventTask(Task):
    def __init__(self, state: ReplayState, waiter: int):
        self._state = state
        self._waiter = waiter

    def _resolved(self) -> Optional[Resolved]:
        return self._state.received(self._waiter)


class SpawnedTask(Task):
    def __init__(self, state: ReplayState, spawn_id: int):
        self._state = state
        self._spawn_id = spawn_id

    def _resolved(self) -> Optional[Resolved]:
        return self._state.spawned_outcome(self._spawn_id)


class ReadyTask(Task):
    """A task finished when it was created (`task_all([])`, a bad `task_any`)."""

    def __init__(self, resolved: Resolved):
        self._done = resolved

    def _resolved(self) -> Optional[Resolved]:
        return self._done


def _state_of(tasks: List[Task]) -> Optional[ReplayState]:
    """The replay state of the first of `tasks` that has one (a `ReadyTask` has none)."""
    for task in tasks:
        state = getattr(task, "_state", None)
        if state is not None:
            return state
    return None


# `task_all` and `task_any` are looked at after every history event, so each look must cost
# about the news, not the number of children: a fan-out of 1,000 activities would otherwise take
# a million looks at children over its results.


class AllTask(Task):
    """Completes with every value in the order given, or fails with the failure that came
    first in history order, as soon as it arrives."""

    def __init__(self, children: List[Task]):
        self._children = children
        self._cache: Optional[Resolved] = None
        self._state = _state_of(children)
        # The children before this index finished successfully, the latest at order `_last`.
        self._done = 0
        self._last = 0
        # The state's count of failed outcomes when the children were last searched for one.
        self._failures_seen = -1

    def _resolved(self) -> Optional[Resolved]:
        if self._cache is not None:
            return self._cache
        children = self._children
        # A failure fails the whole at once, the first in history order; search only when a
        # task failed since the last search (a child finished fine stays fine).
        failures = 0 if self._state is None else self._state.failures()
        if failures != self._failures_seen:
            self._failures_seen = failures
            failed = [r for r in (c._resolved() for c in children) if r is not None and not r.ok]
            if failed:
                self._cache = min(failed, key=lambda r: r.order)
                return self._cache
        # Otherwise it completes once every child has: each is checked until it has finished,
        # in the order given, and not again.
        while self._done < len(children):
            resolved = children[self._done]._resolved()
            if resolved is None:
                return None
            if not resolved.ok:
                self._cache = resolved
                return resolved
            self._last = max(self._last, resolved.order)
            self._done += 1
        values = [c._resolved().value for c in children]  # type: ignore[union-attr]
        self._cache = Resolved(self._last, True, values)
        return self._cache


class AnyTask(Task):
    """Completes with the child that finished first in history order (the winning task
    itself, as in Durable Functions); a failed child can win, and `task_any` does not fail."""

    def __init__(self, children: List[Task]):
        self._children = children
        self._cache: Optional[Resolved] = None
        self._state = _state_of(children)
        # The state's count of outcomes when the children were last searched.
        self._progress_seen = -1

    def _resolved(self) -> Optional[Resolved]:
        if self._cache is not None:
            return self._cache
        # Nothing finished since the last search: nothing can have won.
        progress = 0 if self._state is None else self._state.progress()
        if progress == self._progress_seen:
            return None
        self._progress_seen = progress
        done = [(r.order, i) for i, r in enumerate(c._resolved() for c in self._children) if r is not None]
        if done:
            order, index = min(done)
            self._cache = Resolved(order, True, self._children[index])
        return self._cache


# --- running generators ---------------------------------------------------------------------

PENDING = None


class GeneratorRunner:
    """Drives one generator: sends it the outcome of the task it yielded once that task has
    finished, until it yields a task still pending, returns, or raises."""

    def __init__(self, generator: Generator[Any, Any, Any]):
        self._generator = generator
        self._started = False
        self._waiting: Optional[Task] = None

    def poll(self) -> Optional[Resolved]:
        """None while pending; otherwise how the generator ended (order is left 0)."""
        send: Any = None
        throw: Optional[BaseException] = None
        if self._started:
            assert self._waiting is not None
            resolved = self._waiting._resolved()
            if resolved is None:
                return PENDING
            send, throw = _outcome(resolved)
        self._started = True
        while True:
            try:
                yielded = self._generator.throw(throw) if throw is not None else self._generator.send(send)
            except StopIteration as stop:
                return Resolved(0, True, stop.value)
            except Exception as error:  # noqa: BLE001 - every user exception becomes a failure
                return Resolved(0, False, failure=Failure.from_exception(error))
            send, throw = None, None
            if not isinstance(yielded, Task):
                throw = TypeError(f"an orchestrator must yield durable tasks, not {type(yielded).__name__}")
                continue
            resolved = yielded._resolved()
            if resolved is None:
                self._waiting = yielded
                return PENDING
            send, throw = _outcome(resolved)

    def close(self) -> None:
        try:
            self._generator.close()
        except Exception:  # noqa: BLE001 - a generator failing as it closes is finished anyway
            pass


def _outcome(resolved: Resolved):
    if resolved.ok:
        return resolved.value, None
    assert resolved.failure is not None
    return None, TaskFailedError(resolved.failure)


class Background:
    """Generators run beside the orchestrator (`context.spawn`, and the SDK's own: retries,
    timed waits, durable HTTP). Each is polled once when spawned, so the work it starts first is
    scheduled at once; afterwards after every history event, after the orchestrator, in creation
    order (as the Rust SDK's executor). A finished one records its outcome in the state at
    that moment, so it takes its place in history order."""

    def __init__(self, state: ReplayState):
        self._state = state
        self._pending: Dict[int, GeneratorRunner] = {}
        self._next_spawn = 0

    def spawn(self, generator: Generator[Any, Any, Any]) -> SpawnedTask:
        spawn_id = self._next_spawn
        self._next_spawn += 1
        self._poll_one(spawn_id, GeneratorRunner(generator))
        return SpawnedTask(self._state, spawn_id)

    def _poll_one(self, spawn_id: int, runner: GeneratorRunner) -> None:
        done = runner.poll()
        if done is None:
            self._pending[spawn_id] = runner
        else:
            self._pending.pop(spawn_id, None)
            self._state.resolve_spawned(spawn_id, done.ok, done.value, done.failure)

    def poll_all(self) -> None:
        # A dict keeps insertion order, which is spawn order (ids only grow, and a generator
        # still pending keeps its place); those spawned meanwhile come after, polled in turn.
        start = 0
        while start < self._next_spawn:
            end = self._next_spawn
            for spawn_id in [i for i in self._pending if i >= start]:
                runner = self._pending.get(spawn_id)
                if runner is not None:
                    self._poll_one(spawn_id, runner)
            start = end

    def clear(self) -> None:
        for runner in self._pending.values():
            runner.close()
        self._pending.clear()


Spawner = Callable[[Generator[Any, Any, Any]], SpawnedTask]
