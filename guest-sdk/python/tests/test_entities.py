"""Unit tests of entity batches and of calling entities from orchestrators (no WebAssembly)."""

import datetime
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import durable  # noqa: E402
from durable import EntityId, Failure  # noqa: E402
from durable._entity import SignalMessage, StartMessage, execute_batch  # noqa: E402
from durable.replay import Event  # noqa: E402
from test_replay import T0, run, started, turn  # noqa: E402

COUNTER = EntityId("counter", "k")


class Overdrawn(durable.DurableError):
    pass


def counter(context: durable.DurableEntityContext):
    value = context.get_state(lambda: 0)
    op = context.operation_name
    if op == "add":
        value += context.get_input()
        context.set_state(value)
        context.signal_entity(EntityId("audit", context.entity_key), "added", context.get_input())
        if value > 100:
            raise Overdrawn("over 100", details={"value": value})
    elif op == "get":
        context.set_result(value)
    elif op == "double":
        return value * 2
    elif op == "reset":
        context.destruct_on_exit()
    elif op == "start":
        context.start_new_orchestration("report", {"value": value})
    else:
        raise context.unknown_operation()


def batch(state, *operations, has_state=True):
    return execute_batch(counter, COUNTER, state, list(operations), has_state)


class EntityBatches(unittest.TestCase):
    def test_operations_run_in_order_against_one_state(self):
        outcomes, exists, state = batch(None, ("add", 5), ("add", 2), ("get", None), has_state=False)
        self.assertEqual([o.ok for o in outcomes], [True, True, True])
        self.assertEqual([o.result for o in outcomes], ["null", "null", "7"])
        self.assertEqual((exists, state), (True, 7))

    def test_a_failed_operation_rolls_back_alone_and_drops_its_messages(self):
        outcomes, exists, state = batch(90, ("add", 5), ("add", 50), ("get", None))
        self.assertTrue(outcomes[0].ok)
        self.assertEqual(outcomes[0].messages, [SignalMessage(EntityId("audit", "k"), "added", 5)])
        self.assertFalse(outcomes[1].ok)
        self.assertEqual((outcomes[1].failure.type, outcomes[1].failure.message), ("Overdrawn", "over 100"))
        self.assertEqual(outcomes[1].failure.details, {"value": 145})
        self.assertEqual(outcomes[1].messages, [])
        self.assertEqual(outcomes[2].result, "95")
        self.assertEqual((exists, state), (True, 95))

    def test_rollback_undoes_changes_made_in_place(self):
        def bag(context):
            items = context.get_state(list)
            items.append(context.get_input())
            context.set_state(items)
            if context.get_input() == "bad":
                raise ValueError("no bad items")

        outcomes, _, state = execute_batch(bag, EntityId("bag", "b"), ["a"], [("put", "b"), ("put", "bad")], True)
        self.assertEqual([o.ok for o in outcomes], [True, False])
        self.assertEqual(outcomes[1].failure.type, "ValueError")
        self.assertEqual(state, ["a", "b"])

    def test_a_failed_operation_on_an_entity_without_state_leaves_it_without_state(self):
        outcomes, exists, state = batch(None, ("fly", None), has_state=False)
        self.assertEqual(outcomes[0].failure.type, "UnknownOperation")
        self.assertEqual((exists, state), (False, None))

    def test_a_returned_value_is_the_result(self):
        outcomes, _, _ = batch(4, ("double", None))
        self.assertEqual(outcomes[0].result, "8")

    def test_destruct_on_exit_deletes_the_entity_unless_set_again(self):
        self.assertEqual(batch(4, ("reset", None))[1:], (False, None))
        self.assertEqual(batch(4, ("reset", None), ("add", 1))[1:], (True, 1))

    def test_unknown_operations_fail_non_retriable(self):
        outcomes, _, state = batch(3, ("fly", None))
        failure = outcomes[0].failure
        self.assertEqual(failure.type, "UnknownOperation")
        self.assertIn("no operation named `fly`", failure.message)
        self.assertTrue(failure.non_retriable)
        self.assertEqual(state, 3)

    def test_starting_an_orchestration_is_a_message(self):
        outcomes, _, _ = batch(3, ("start", None))
        self.assertEqual(outcomes[0].messages, [StartMessage("report", "", {"value": 3})])

    def test_a_state_that_is_not_json_fails_the_operation(self):
        def bad(context):
            context.set_state({1, 2})

        outcomes, exists, state = execute_batch(bad, EntityId("bad", "b"), 1, [("set", None)], True)
        self.assertFalse(outcomes[0].ok)
        self.assertEqual(outcomes[0].failure.type, "TypeError")
        self.assertEqual((exists, state), (True, 1))


def entity_counter(context):
    context.signal_entity(EntityId("counter", context.get_input()), "add", 1)
    return (yield context.call_entity(EntityId("counter", context.get_input()), "get"))


SIGNAL = (0, "SignalEntity", {"entity": COUNTER, "operation": "add", "input": "1", "scheduled_at": None})
CALL = (1, "CallEntity", {"entity": COUNTER, "operation": "get", "input": "null", "scheduled_at": None})


def responded(task_id, result_json=None, failure=None):
    data = {"task_id": task_id}
    if failure is not None:
        data["failure"] = failure
    else:
        data["result"] = result_json
    return Event("EntityResponded", data=data)


class CallingEntities(unittest.TestCase):
    def test_signal_and_call_take_sequence_ids(self):
        self.assertEqual(run(entity_counter, [started('"k"')]), [SIGNAL, CALL])

    def test_the_response_is_the_calls_value(self):
        actions = run(entity_counter, [started('"k"'), turn(T0 + 1000, responded(1, "7"))])
        self.assertEqual(actions, [(0, "Complete", {"result": "7"})])

    def test_a_failed_operation_raises_at_the_yield_with_its_type(self):
        failure = Failure("Overdrawn", "over 100")
        actions = run(entity_counter, [started('"k"'), turn(T0 + 1000, responded(1, failure=failure))])
        self.assertEqual(actions[-1], (0, "Fail", {"failure": ("Overdrawn", "over 100")}))

    def test_a_scheduled_signal_carries_its_time_and_send_event_takes_a_sequence_id(self):
        def later(context):
            at = context.current_utc_datetime + datetime.timedelta(minutes=1)
            context.signal_entity(COUNTER, "add", 5, scheduled_time=at)
            context.send_event("other", "ping", {"from": context.instance_id})
            return None

        actions = run(later, [started()])
        self.assertEqual(
            actions[:2],
            [
                (0, "SignalEntity", {"entity": COUNTER, "operation": "add", "input": "5", "scheduled_at": T0 + 60000}),
                (1, "SendEvent", {"instance_id": "other", "name": "ping", "input": '{"from":"test"}'}),
            ],
        )

    def test_entities_are_addressed_by_entity_id(self):
        def wrong(context):
            yield context.call_entity("counter", "get")

        actions = run(wrong, [started()])
        self.assertEqual(actions[-1][1], "Fail")
        self.assertEqual(actions[-1][2]["failure"][0], "TypeError")

    def test_reserved_operation_names_are_refused(self):
        def locking(context):
            yield context.call_entity(EntityId("counter", "k"), "$lock")

        def signalling(context):
            context.signal_entity(EntityId("counter", "k"), "$unlock")
            yield context.call_entity(EntityId("counter", "k"), "get")

        for orchestrator in (locking, signalling):
            actions = run(orchestrator, [started()])
            self.assertEqual(actions, [(0, "Fail", actions[0][2])], orchestrator.__name__)
            failure = actions[0][2]["failure"]
            self.assertEqual(failure[0], "ValueError")
            self.assertIn("reserved", failure[1])


if __name__ == "__main__":
    unittest.main()
