"""`context.spawn`: sub-flows (generators) run beside the orchestrator, scheduled eagerly,
polled after every event after the orchestrator and in creation order, and placed in history
order when they finish (the Rust SDK's `guest-sdk/src/orchestration/tests/spawn.rs`, ported)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import durable  # noqa: E402
from durable import TaskFailedError  # noqa: E402
from test_replay import completed, failed, run, started, turn  # noqa: E402


def schedule(id_, name, input_json="null"):
    return (id_, "ScheduleActivity", {"name": name, "input": input_json})


def complete(result_json):
    """`Complete` with `result_json` as the SDK writes it (compact JSON)."""
    return (0, "Complete", {"result": json.dumps(json.loads(result_json), separators=(",", ":"))})


def chain_beside_activity(context):
    def chain():
        a = yield context.call_activity("a")
        b = yield context.call_activity("b", a)
        return [a, b]

    flow = context.spawn(chain())
    other = context.call_activity("c")
    return {"chain": (yield flow), "other": (yield other)}


def race_spawned(context):
    def flow():
        a = yield context.call_activity("a")
        return a + "!"

    spawned = context.spawn(flow())
    b = context.call_activity("b")
    tasks = [spawned, b]
    winner = yield context.task_any(tasks)
    return tasks.index(winner)


def nested_spawn(context):
    def inner():
        return (yield context.call_activity("inner"))

    def outer():
        inner_flow = context.spawn(inner())
        mine = yield context.call_activity("outer")
        return [mine, (yield inner_flow)]

    outer_flow = context.spawn(outer())
    last = yield context.call_activity("main")
    return [*(yield outer_flow), last]


class Spawn(unittest.TestCase):
    def test_spawned_work_is_scheduled_at_creation_and_runs_alongside(self):
        first = [started()]
        self.assertEqual(run(chain_beside_activity, first), [schedule(0, "a"), schedule(1, "c")])
        second = [*first, turn(2000, completed(0, '"A"'))]
        self.assertEqual(run(chain_beside_activity, second), [schedule(2, "b", '"A"')])
        third = [*second, turn(3000, completed(1, '"C"'))]
        self.assertEqual(run(chain_beside_activity, third), [])
        last = [*third, turn(4000, completed(2, '"B"'))]
        self.assertEqual(run(chain_beside_activity, last), [complete('{"chain": ["A", "B"], "other": "C"}')])

    def test_a_spawned_task_takes_its_place_in_history_order(self):
        a_first = [started(), turn(2000, completed(0, '"A"'), completed(1, '"B"'))]
        self.assertEqual(run(race_spawned, a_first), [complete("0")])
        b_first = [started(), turn(2000, completed(1, '"B"'), completed(0, '"A"'))]
        self.assertEqual(run(race_spawned, b_first), [complete("1")])

    def test_nested_spawns_schedule_in_creation_order(self):
        first = [started()]
        self.assertEqual(run(nested_spawn, first), [schedule(0, "inner"), schedule(1, "outer"), schedule(2, "main")])
        last = [*first, turn(2000, completed(2, '"M"'), completed(0, '"I"'), completed(1, '"O"'))]
        self.assertEqual(run(nested_spawn, last), [complete('["O", "I", "M"]')])

    def test_the_orchestrator_runs_before_spawned_flows_and_sees_them_finish_in_the_next_round(self):
        def orchestrator(context):
            gate = context.call_activity("gate")

            def first():
                return (yield gate)

            def second():
                yield gate
                return (yield context.call_activity("second"))

            first_flow, second_flow = context.spawn(first()), context.spawn(second())
            yield gate
            after_gate = context.call_activity("main_after_gate")
            yield first_flow
            after_first = context.call_activity("main_after_first")
            return [(yield after_gate), (yield second_flow), (yield after_first)]

        turns = [started(), turn(2000, completed(0, '"g"'))]
        self.assertEqual(
            run(orchestrator, turns),
            [schedule(1, "main_after_gate"), schedule(2, "second"), schedule(3, "main_after_first")],
        )

    def test_a_flow_that_never_waits_is_done_at_creation(self):
        def orchestrator(context):
            def ready():
                return 5
                yield  # a generator that never yields

            task = context.spawn(ready())
            done = task.is_completed
            return [done, (yield task)]

        self.assertEqual(run(orchestrator, [started()]), [complete("[true, 5]")])

    def test_the_exception_a_flow_raises_is_its_failure(self):
        class Negative(durable.DurableError):
            pass

        def orchestrator(context):
            def flow():
                v = yield context.call_activity("check")
                raise Negative(f"{v} is negative")

            try:
                yield context.spawn(flow())
            except TaskFailedError as error:
                return {"caught": error.type, "message": error.message}

        turns = [started(), turn(2000, completed(0, "-3"))]
        self.assertEqual(run(orchestrator, turns), [complete('{"caught": "Negative", "message": "-3 is negative"}')])

    def test_a_failed_task_a_flow_does_not_catch_fails_the_orchestration_unchanged(self):
        def orchestrator(context):
            def flow():
                return (yield context.call_activity("check"))

            return (yield context.task_all([context.spawn(flow()), context.call_activity("side")]))

        turns = [started(), turn(2000, failed(0, "ValueError", "bad value"))]
        self.assertEqual(run(orchestrator, turns), [(0, "Fail", {"failure": ("ValueError", "bad value")})])

    def test_spawned_flows_stop_when_the_orchestration_ends(self):
        def orchestrator(context):
            def background():
                try:
                    yield context.call_activity("first")
                    yield context.call_activity("never")
                finally:
                    # Closing the flow runs this, but it can start no work any more.
                    context.call_activity("cleanup")
                    context.set_custom_status("cleaned")

            context.spawn(background())
            return None

        self.assertEqual(run(orchestrator, [started()]), [schedule(0, "first"), complete("null")])
        turns = [started(), turn(2000, completed(0, "null"))]
        self.assertEqual(run(orchestrator, turns), [])

    def test_a_flow_ending_inside_a_critical_section_releases_it_once(self):
        account = durable.EntityId("account", "a")

        def orchestrator(context):
            def section():
                with (yield context.lock([account])):
                    yield context.call_activity("never")

            context.spawn(section())
            yield context.call_activity("main")
            return "done"

        turns = [
            started(),
            turn(2000, durable.replay.Event("EntityLockGranted", data={"task_id": 0})),
            turn(3000, completed(1, '"m"')),
        ]
        actions = run(orchestrator, turns)
        self.assertEqual([a[1] for a in actions], ["UnlockEntities", "Complete"])

    def test_spawn_takes_a_generator(self):
        def orchestrator(context):
            def flow():
                yield context.call_activity("a")

            try:
                context.spawn(flow)
            except TypeError as error:
                return str(error)

        (action,) = run(orchestrator, [started()])
        self.assertIn("call the generator function", action[2]["result"])


if __name__ == "__main__":
    unittest.main()
