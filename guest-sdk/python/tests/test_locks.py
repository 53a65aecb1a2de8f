"""Unit tests of critical sections (`context.lock`): the actions decided, the locking rules and
their failures (the same as the Rust SDK's, `guest-sdk/src/orchestration/tests/entities.rs`),
and releasing on exit, on `release()` and when the orchestration ends. No WebAssembly."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import durable  # noqa: E402
from durable import EntityId, RetryOptions, TaskFailedError  # noqa: E402
from durable.replay import Event  # noqa: E402
from test_entities import responded  # noqa: E402
from test_replay import T0, run, started, turn  # noqa: E402

A, B, C = EntityId("account", "a"), EntityId("account", "b"), EntityId("account", "c")
RULES = "LockingRulesViolation"


def granted(task_id):
    return Event("EntityLockGranted", data={"task_id": task_id})


def lock_action(sequence_id, *entities):
    return (sequence_id, "LockEntities", {"entities": list(entities)})


def unlock_action(*entities):
    return (0, "UnlockEntities", {"entities": list(entities)})


def call_action(sequence_id, entity, operation, input_="null"):
    return (sequence_id, "CallEntity", {"entity": entity, "operation": operation, "input": input_, "scheduled_at": None})


def transfer(context):
    with (yield context.lock([B, A, B])) as section:
        balance = yield context.call_entity(A, "balance")
        yield context.task_all([context.call_entity(A, "add", -balance), context.call_entity(B, "add", balance)])
        inside = (context.is_locked, context.owned_locks, section.is_held)
    return {"moved": balance, "inside": [inside[0], [str(e) for e in inside[1]], inside[2]], "after": context.is_locked}


class Sections(unittest.TestCase):
    def test_the_request_is_sorted_and_duplicate_free(self):
        self.assertEqual(run(transfer, [started()]), [lock_action(0, A, B)])

    def test_the_grant_resumes_the_section_and_calls_go_to_locked_entities(self):
        actions = run(transfer, [started(), turn(T0 + 1000, granted(0))])
        self.assertEqual(actions, [call_action(1, A, "balance")])

    def test_leaving_the_with_block_releases_before_completing(self):
        turns = [
            started(),
            turn(T0 + 1000, granted(0)),
            turn(T0 + 2000, responded(1, "7")),
            turn(T0 + 3000, responded(2, "0"), responded(3, "7")),
        ]
        actions = run(transfer, turns)
        self.assertEqual(actions[0], unlock_action(A, B))
        self.assertEqual(actions[1][1], "Complete")
        output = durable._json.parse_json(actions[1][2]["result"])
        self.assertEqual(output, {"moved": 7, "inside": [True, ["@account@a", "@account@b"], True], "after": False})

    def test_an_exception_in_the_block_releases_then_fails(self):
        turns = [started(), turn(T0 + 1000, granted(0)), turn(T0 + 2000, responded(1, failure=durable.Failure("Broken", "no balance")))]
        actions = run(transfer, turns)
        self.assertEqual(actions, [unlock_action(A, B), (0, "Fail", {"failure": ("Broken", "no balance")})])

    def test_ending_inside_a_section_releases_it(self):
        def hold(context):
            yield context.lock(A)
            return "held"

        actions = run(hold, [started(), turn(T0 + 1000, granted(0))])
        self.assertEqual(actions, [unlock_action(A), (0, "Complete", {"result": '"held"'})])

    def test_continue_as_new_inside_a_section_releases_it(self):
        def again(context):
            yield context.lock(A, B)
            context.continue_as_new(1)
            context.call_activity("dropped")
            return None

        actions = run(again, [started(), turn(T0 + 1000, granted(0))])
        self.assertEqual([a[1] for a in actions], ["UnlockEntities", "ContinueAsNew"])

    def test_release_before_the_grant_and_twice_records_one_unlock(self):
        def give_up(context):
            section = context.lock([A])
            winner = yield context.task_any([section, context.create_timer(context.current_utc_datetime)])
            section.release()
            section.release()
            return [winner is section, context.is_locked]

        actions = run(give_up, [started(), turn(T0 + 1000, Event("TimerFired", data={"timer_id": 1}))])
        self.assertEqual(actions, [unlock_action(A), (0, "Complete", {"result": "[false,false]"})])


def rules(context):
    """What a section refuses, each caught; what it allows; left held."""
    yield context.lock([A])
    refused = []
    attempts = [
        lambda: context.call_entity(C, "balance"),
        lambda: context.lock([C]),
        lambda: context.call_sub_orchestrator("child"),
        lambda: context.call_sub_orchestrator_with_retry("child", RetryOptions(5000, 3)),
    ]
    for attempt in attempts:
        try:
            yield attempt()
        except TaskFailedError as error:
            refused.append([error.type, error.message, error.failure.non_retriable])
    context.signal_entity(C, "ping")
    return refused


class Rules(unittest.TestCase):
    def test_refused_calls_fail_with_the_rust_sdks_messages_and_take_no_sequence_id(self):
        actions = run(rules, [started(), turn(T0 + 1000, granted(0))])
        self.assertEqual([a[:2] for a in actions], [(1, "SignalEntity"), (0, "UnlockEntities"), (0, "Complete")])
        refused = durable._json.parse_json(actions[2][2]["result"])
        self.assertEqual(
            refused,
            [
                [RULES, "inside a critical section only the locked entities can be called, not `account@c`", True],
                [RULES, "a critical section is already held; unlock it before locking again", True],
                [RULES, "a critical section cannot call a sub-orchestration; unlock its entities first", True],
                [RULES, "a critical section cannot call a sub-orchestration; unlock its entities first", True],
            ],
        )

    def test_a_lock_of_no_entities_fails_the_orchestration(self):
        def none(context):
            yield context.lock([])

        actions = run(none, [started()])
        self.assertEqual(actions, [(0, "Fail", {"failure": (RULES, "lock_entities needs at least one entity")})])

    def test_the_rules_hold_from_the_request_on_and_a_refused_lock_releases_nothing(self):
        def pending(context):
            section = context.lock([A])
            nested = context.lock([B])
            nested.release()  # a refused lock holds nothing: this does not leave `section`
            with nested:
                pass
            call = context.call_entity(B, "get")
            return [context.is_locked, section.is_held, nested.is_held, call.is_faulted]
            yield  # a generator

        actions = run(pending, [started()])
        self.assertEqual(actions[0], lock_action(0, A))
        self.assertEqual(actions[1:], [unlock_action(A), (0, "Complete", {"result": "[true,true,false,true]"})])

    def test_entities_are_addressed_by_entity_id(self):
        def wrong(context):
            yield context.lock(["account@a"])

        actions = run(wrong, [started()])
        self.assertEqual(actions[0][2]["failure"][0], "TypeError")


if __name__ == "__main__":
    unittest.main()
