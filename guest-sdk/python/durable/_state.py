"""The replay state one orchestration execution shares between its executor, its context and
its tasks.

The executor writes into it as it applies history events (current time, task outcomes by
sequence id, external events handed to waiters or buffered); the context writes the actions the
code decides (each work-starting action takes the next sequence id); tasks only read outcomes.
Every outcome carries the ordinal at which it arrived, so `task_any` / `task_all` pick the first
in history order no matter when they look.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any, Deque, Dict, List, Optional, Set, Tuple

from ._failure import Failure

ENDING_ACTIONS = ("Complete", "Fail", "ContinueAsNew")
# Actions still recorded after `continue_as_new`: the ending, and releasing a critical section
# (part of ending).
KEPT_WHEN_ENDING = (*ENDING_ACTIONS, "UnlockEntities")


@dataclass
class Action:
    """What the orchestrator decided. `id` is the sequence id of work-starting actions (0 for
    the others); `data` holds the kind's fields, payloads as JSON text."""

    id: int
    kind: str
    data: Dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Resolved:
    """A finished task: when it finished (order of arrival in this execution) and how."""

    order: int
    ok: bool
    value: Any = None
    failure: Optional[Failure] = None


class ReplayState:
    def __init__(self, instance_id: str):
        self.instance_id = instance_id
        self.parent_instance_id: Optional[str] = None
        self.input: Any = None
        self.current_time_ms = 0
        self.time_known = False
        self.is_replaying = False
        self.uuid_counter = 0
        # (input JSON text, preserve unprocessed events) once `continue_as_new` was called.
        self.continue_as_new: Optional[Tuple[str, bool]] = None
        # Set once the orchestrator ended: spawned generators closed afterwards (their `finally`
        # blocks) decide nothing but the release of a critical section.
        self.ended = False
        self._next_sequence = 0
        self._next_order = 0
        self._failures = 0
        self._actions: List[Action] = []
        self._completed: Dict[int, Resolved] = {}
        self._cancelled_timers: Set[int] = set()
        self._next_waiter = 0
        self._waiters: Dict[str, Deque[int]] = {}
        self._received: Dict[int, Resolved] = {}
        self._buffered: Dict[str, Deque[Tuple[int, Any]]] = {}
        self._next_arrival = 0
        self._spawned: Dict[int, Resolved] = {}
        # The entities of the critical section this execution holds (or has asked for), sorted,
        # and the `EntityLock` that asked for them.
        self.held_locks: Optional[List[Any]] = None
        self.held_section: Any = None

    # --- actions ---------------------------------------------------------------------------

    def schedule(self, kind: str, **data: Any) -> int:
        """Records a work-starting action under the next sequence id and returns the id. After
        `continue_as_new` the id is still taken (so replay numbers the same) but the action is
        dropped: the execution is ending and must not start new work."""
        sequence_id = self._next_sequence
        self._next_sequence += 1
        if self.continue_as_new is None and not self.ended:
            self._actions.append(Action(sequence_id, kind, data))
        return sequence_id

    def record(self, kind: str, **data: Any) -> None:
        """Records an action that starts no work. After `continue_as_new` only the final one (and
        the release of a critical section, which is part of ending)."""
        if (self.continue_as_new is None and not self.ended) or kind in KEPT_WHEN_ENDING:
            self._actions.append(Action(0, kind, data))

    def take_actions(self) -> List[Action]:
        actions, self._actions = self._actions, []
        return actions

    # --- outcomes --------------------------------------------------------------------------

    def _stamp(self, ok: bool, value: Any = None, failure: Optional[Failure] = None) -> Resolved:
        order = self._next_order
        self._next_order += 1
        if not ok:
            self._failures += 1
        return Resolved(order, ok, value, failure)

    def resolve(self, sequence_id: int, ok: bool, value: Any = None, failure: Optional[Failure] = None) -> None:
        """Resolves the task with this sequence id; a duplicate event is ignored."""
        if sequence_id not in self._completed:
            self._completed[sequence_id] = self._stamp(ok, value, failure)

    def outcome(self, sequence_id: int) -> Optional[Resolved]:
        return self._completed.get(sequence_id)

    def cancel_timer(self, timer_id: int) -> bool:
        """Marks a timer cancelled; False when it already fired or was cancelled."""
        if timer_id in self._completed or timer_id in self._cancelled_timers:
            return False
        self._cancelled_timers.add(timer_id)
        return True

    def progress(self) -> int:
        """Grows whenever an outcome is recorded: unchanged means polling cannot progress."""
        return self._next_order

    def failures(self) -> int:
        """Grows whenever a failed outcome is recorded: unchanged means no task failed since."""
        return self._failures

    # --- external events -------------------------------------------------------------------

    def deliver_event(self, name: str, value: Any) -> None:
        """The oldest waiter for `name` gets the event, or it is buffered for the next one."""
        arrival = self._next_arrival
        self._next_arrival += 1
        waiters = self._waiters.get(name)
        if waiters:
            self._received[waiters.popleft()] = self._stamp(True, value)
        else:
            self._buffered.setdefault(name, deque()).append((arrival, value))

    def new_waiter(self, name: str) -> int:
        """Registers a waiter for `name`; a buffered event is consumed at once (once)."""
        waiter = self._next_waiter
        self._next_waiter += 1
        buffered = self._buffered.get(name)
        if buffered:
            _, value = buffered.popleft()
            self._received[waiter] = self._stamp(True, value)
        else:
            self._waiters.setdefault(name, deque()).append(waiter)
        return waiter

    def received(self, waiter: int) -> Optional[Resolved]:
        return self._received.get(waiter)

    def remove_waiter(self, name: str, waiter: int) -> bool:
        """Withdraws a waiter that timed out, so the next event goes to the next waiter."""
        waiters = self._waiters.get(name)
        if waiters is None or waiter not in waiters:
            return False
        waiters.remove(waiter)
        return True

    def take_unconsumed_events(self) -> List[Tuple[str, Any]]:
        """Every buffered event, in arrival order across names."""
        events = [(arrival, name, value) for name, queue in self._buffered.items() for arrival, value in queue]
        self._buffered.clear()
        return [(name, value) for _, name, value in sorted(events, key=lambda e: e[0])]

    # --- spawned generators ----------------------------------------------------------------

    def resolve_spawned(self, spawn_id: int, ok: bool, value: Any = None, failure: Optional[Failure] = None) -> None:
        if spawn_id not in self._spawned:
            self._spawned[spawn_id] = self._stamp(ok, value, failure)

    def spawned_outcome(self, spawn_id: int) -> Optional[Resolved]:
        return self._spawned.get(spawn_id)

    # --- critical sections -----------------------------------------------------------------

    def release_locks(self) -> None:
        """Leaves the critical section, if any: records `UnlockEntities` with its entities."""
        if self.held_locks is not None:
            entities, self.held_locks, self.held_section = self.held_locks, None, None
            self.record("UnlockEntities", entities=entities)
