"""The WIT glue: the exports of world `durable-component`, implemented over the `App`, and the
imports of world `sdk-component` that activities use (`http`, `config`).

Only importable inside a component build (componentize-py generates `wit_world`). Converts the
host's records to the replay module's `Event`s and its `Action`s back, and Python exceptions to
structured failures.
"""

from __future__ import annotations

from typing import Any, List, Optional

from componentize_py_types import Err, Ok
from wit_world import exports
from wit_world.exports import activity as wit_activity
from wit_world.exports import catalogue as wit_catalogue
from wit_world.exports import entity as wit_entity
from wit_world.exports import orchestrator as wit_orchestrator
from wit_world.imports import host as wit_host
from wit_world.imports import http_types, outgoing_handler, store
from wit_world.imports import orchestration_types as ot
from wit_world.imports import types as wt

from . import _context, _log, config, http
from ._activity import ActivityContext, run_activity
from ._app import the_app
from ._context import parse_json, to_json
from ._entity import EntityId, SignalMessage, StartMessage, execute_batch
from ._failure import UNKNOWN_FUNCTION, Failure, FailureCause
from .replay import Action, Event, Executor

# --- failures ---------------------------------------------------------------------------------


def _details_to_wit(details: Any) -> Optional[str]:
    return None if details is None else to_json(details)


def failure_to_wit(failure: Failure) -> wt.Failure:
    inner = [wt.FailureCause(c.type, c.message, _details_to_wit(c.details)) for c in failure.inner]
    return wt.Failure(
        failure.type, failure.message, _details_to_wit(failure.details), failure.stack, failure.non_retriable, inner
    )


def failure_from_wit(failure: wt.Failure) -> Failure:
    def details(text: Optional[str]) -> Any:
        return None if text is None else parse_json(text)

    return Failure(
        type=failure.error_type,
        message=failure.message,
        details=details(failure.details),
        stack=failure.stack,
        non_retriable=failure.non_retriable,
        inner=[FailureCause(c.error_type, c.message, details(c.details)) for c in failure.inner],
    )


def unknown(what: str, name: str) -> Err:
    return Err(wt.Failure(UNKNOWN_FUNCTION, f"this component has no {what} `{name}`", None, None, True, []))


# --- events and actions -----------------------------------------------------------------------


def event_from_wit(event: ot.HistoryEvent) -> Event:
    kind = event.kind
    data: dict = {}
    name = type(kind).__name__.removeprefix("EventKind_")
    if isinstance(kind, ot.EventKind_ExecutionStarted):
        started = kind.value
        data = {"input": started.input, "parent_instance_id": started.parent.instance_id if started.parent else None}
    elif isinstance(kind, (ot.EventKind_TaskCompleted, ot.EventKind_SubOrchestrationCompleted)):
        data = {"task_id": kind.value.task_id, "result": kind.value.result}
    elif isinstance(kind, (ot.EventKind_TaskFailed, ot.EventKind_SubOrchestrationFailed)):
        data = {"task_id": kind.value.task_id, "failure": failure_from_wit(kind.value.failure)}
    elif isinstance(kind, ot.EventKind_EntityResponded):
        outcome = kind.value.result
        if isinstance(outcome, Ok):
            data = {"task_id": kind.value.task_id, "result": outcome.value}
        else:
            data = {"task_id": kind.value.task_id, "failure": failure_from_wit(outcome.value)}
    elif isinstance(kind, ot.EventKind_TimerFired):
        data = {"timer_id": kind.value.timer_id}
    elif isinstance(kind, ot.EventKind_EntityLockGranted):
        data = {"task_id": kind.value.task_id}
    elif isinstance(kind, ot.EventKind_EventRaised):
        data = {"name": kind.value.name, "input": kind.value.input}
    return Event(name, event.timestamp, event.event_id, data)


def entity_to_wit(entity: EntityId) -> wt.EntityId:
    return wt.EntityId(entity.name, entity.key)


def action_to_wit(action: Action) -> ot.Action:
    d, kind = action.data, action.kind
    if kind == "ScheduleActivity":
        wit: Any = ot.ActionKind_ScheduleActivity(ot.ScheduleActivity(d["name"], d["input"]))
    elif kind == "StartTimer":
        wit = ot.ActionKind_StartTimer(ot.StartTimer(d["fire_at"]))
    elif kind == "CancelTimer":
        wit = ot.ActionKind_CancelTimer(d["timer_id"])
    elif kind == "StartSubOrchestration":
        wit = ot.ActionKind_StartSubOrchestration(ot.StartSubOrchestration(d["name"], d["instance_id"], d["input"]))
    elif kind == "SendEvent":
        wit = ot.ActionKind_SendEvent(ot.SendEvent(d["instance_id"], d["name"], d["input"]))
    elif kind in ("CallEntity", "SignalEntity"):
        operation = ot.EntityOperation(entity_to_wit(d["entity"]), d["operation"], d["input"], d["scheduled_at"])
        wit = ot.ActionKind_CallEntity(operation) if kind == "CallEntity" else ot.ActionKind_SignalEntity(operation)
    elif kind in ("LockEntities", "UnlockEntities"):
        lock = ot.EntityLock([entity_to_wit(e) for e in d["entities"]])
        wit = ot.ActionKind_LockEntities(lock) if kind == "LockEntities" else ot.ActionKind_UnlockEntities(lock)
    elif kind == "SetCustomStatus":
        wit = ot.ActionKind_SetCustomStatus(d["status"])
    elif kind == "Complete":
        wit = ot.ActionKind_Complete(d["result"])
    elif kind == "Fail":
        wit = ot.ActionKind_Fail(failure_to_wit(d["failure"]))
    elif kind == "ContinueAsNew":
        carried = [ot.EventRaised(name, payload) for name, payload in d["carried_events"]]
        wit = ot.ActionKind_ContinueAsNew(ot.ContinueAsNew(d["input"], d["preserve_unprocessed_events"], carried))
    else:
        raise ValueError(f"unknown action {kind}")
    return ot.Action(action.id, wit)


# --- exports ----------------------------------------------------------------------------------


class Orchestration(wit_orchestrator.Orchestration):
    def __init__(self, executor: Executor):
        self._executor = executor

    @classmethod
    def create(cls, name: str, instance_id: str) -> "Orchestration":
        function = the_app().orchestrators.get(name)
        if function is None:
            raise unknown("orchestrator", name)
        return cls(Executor(function, instance_id))

    def step(self, events: List[ot.HistoryEvent], replaying: bool) -> ot.StepResult:
        actions = self._executor.step([event_from_wit(e) for e in events], replaying)
        return ot.StepResult([action_to_wit(a) for a in actions])


class Orchestrator(exports.Orchestrator):
    pass


class Activity(exports.Activity):
    def run(self, name: str, input: str, context: wit_activity.ActivityContext) -> str:
        function = the_app().activities.get(name)
        if function is None:
            raise unknown("activity", name)
        attempt = ActivityContext(context.instance_id, context.task_id, context.attempt)
        try:
            return run_activity(function, input, attempt)
        except Exception as error:  # noqa: BLE001 - every exception becomes a structured failure
            raise Err(failure_to_wit(Failure.from_exception(error)))


class Entity(exports.Entity):
    def execute_batch(
        self, entity: wt.EntityId, state: Optional[str], operations: List[wit_entity.Operation]
    ) -> wit_entity.BatchResult:
        function = the_app().entities.get(entity.name)
        if function is None:
            results = [wit_entity.OperationResult(unknown("entity", entity.name), []) for _ in operations]
            return wit_entity.BatchResult(results, state)
        outcomes, exists, final = execute_batch(
            function,
            EntityId(entity.name, entity.key),
            None if state is None else parse_json(state),
            [(op.name, parse_json(op.input)) for op in operations],
            has_state=state is not None,
        )
        results = []
        for outcome in outcomes:
            if outcome.ok:
                actions = [message_to_wit(m) for m in outcome.messages]
                results.append(wit_entity.OperationResult(Ok(outcome.result), actions))
            else:
                results.append(wit_entity.OperationResult(Err(failure_to_wit(outcome.failure)), []))
        return wit_entity.BatchResult(results, to_json(final) if exists else None)


def message_to_wit(message: Any) -> wit_entity.EntityAction:
    if isinstance(message, SignalMessage):
        operation = wit_entity.Operation(message.operation, to_json(message.input))
        signal = wit_entity.EntitySignal(entity_to_wit(message.entity), operation, message.scheduled_at_ms)
        return wit_entity.EntityAction_SignalEntity(signal)
    assert isinstance(message, StartMessage)
    start = wit_entity.OrchestrationStart(message.name, message.instance_id, to_json(message.input))
    return wit_entity.EntityAction_StartOrchestration(start)


class Catalogue(exports.Catalogue):
    def describe(self) -> wit_catalogue.CatalogueInfo:
        app = the_app()
        return wit_catalogue.CatalogueInfo(list(app.orchestrators), list(app.activities), list(app.entities))


_HOST_LEVELS = {
    "trace": wit_host.LogLevel.TRACE,
    "debug": wit_host.LogLevel.DEBUG,
    "info": wit_host.LogLevel.INFO,
    "warn": wit_host.LogLevel.WARN,
    "error": wit_host.LogLevel.ERROR,
}
_log.install(lambda level, message: wit_host.log(_HOST_LEVELS[level], message))
_context.install_version_source(wit_host.version)
# wasi:http and wasi:config, for activities (`durable.http`, `durable.config`; the world
# `sdk-component`, `wit/sdk/world.wit`).
http.install(http.Wasi(handle=outgoing_handler.handle, types=http_types, Err=Err))
config.install(config.Store(get=store.get, get_all=store.get_all, Err=Err))
