"""Unit tests of the replay executor with hand-built histories (no WebAssembly):
`python -m unittest discover -s guest-sdk/python/tests` or `pytest guest-sdk/python/tests`."""

import os
import sys
import unittest
from datetime import timedelta

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import durable  # noqa: E402
from durable import Failure, RetryOptions, TaskFailedError  # noqa: E402
from durable._tasks import SequencedTask  # noqa: E402
from durable.replay import Event, Executor  # noqa: E402

T0 = 1000


def started(input_json="null", ts=T0):
    return [Event("OrchestratorStarted", ts), Event("ExecutionStarted", ts, data={"input": input_json})]


def turn(ts, *events):
    return [Event("OrchestratorStarted", ts), *events]


def completed(task_id, result_json):
    return Event("TaskCompleted", data={"task_id": task_id, "result": result_json})


def failed(task_id, type_, message):
    return Event("TaskFailed", data={"task_id": task_id, "failure": Failure(type_, message)})


def fired(timer_id):
    return Event("TimerFired", data={"timer_id": timer_id})


def raised(name, input_json):
    return Event("EventRaised", data={"name": name, "input": input_json})


def summary(actions):
    """Actions as comparable tuples."""
    out = []
    for a in actions:
        data = {k: v for k, v in a.data.items()}
        if a.kind == "Fail":
            data["failure"] = (data["failure"].type, data["failure"].message)
        out.append((a.id, a.kind, data))
    return out


def run(orchestrator, turns, instance_id="test"):
    """Runs `turns` through one live executor, the last live; returns its last step's actions
    and checks that a cold executor fed the same turns (all but the last replaying) decides the
    same actions in every turn."""
    live, cold = Executor(orchestrator, instance_id), Executor(orchestrator, instance_id)
    live_steps = [summary(live.step(events, replaying=False)) for events in turns]
    cold_steps = [summary(cold.step(events, replaying=i < len(turns) - 1)) for i, events in enumerate(turns)]
    assert live_steps == cold_steps, f"cached and cold replay differ:\n{live_steps}\n{cold_steps}"
    return live_steps[-1]


def chain(context):
    results = []
    for i in range(context.get_input()):
        results.append((yield context.call_activity("step", i)))
    return results


class Chaining(unittest.TestCase):
    def test_first_turn_schedules_step_0(self):
        self.assertEqual(run(chain, [started("3")]), [(0, "ScheduleActivity", {"name": "step", "input": "0"})])

    def test_each_completion_schedules_the_next_step(self):
        turns = [started("3")]
        for i in range(3):
            turns.append(turn(T0 + 1000 * (i + 1), completed(i, f'"r{i}"')))
            expected = (
                [(i + 1, "ScheduleActivity", {"name": "step", "input": str(i + 1)})]
                if i < 2
                else [(0, "Complete", {"result": '["r0","r1","r2"]'})]
            )
            self.assertEqual(run(chain, turns), expected)

    def test_zero_steps_completes_at_once(self):
        self.assertEqual(run(chain, [started("0")]), [(0, "Complete", {"result": "[]"})])

    def test_a_cold_executor_returns_replayed_actions_too(self):
        executor = Executor(chain, "x")
        actions = executor.step(started("2") + [completed(0, "1")], replaying=True)
        self.assertEqual([a.id for a in actions], [0, 1])

    def test_an_activity_failure_fails_the_orchestration_unchanged(self):
        actions = run(chain, [started("2"), turn(2000, failed(0, "ValueError", "bad value"))])
        self.assertEqual(actions, [(0, "Fail", {"failure": ("ValueError", "bad value")})])

    def test_a_caught_failure_is_a_task_failed_error(self):
        def catch(context):
            try:
                yield context.call_activity("boom")
            except TaskFailedError as error:
                return {"caught": error.type, "message": error.message}

        actions = run(catch, [started(), turn(2000, failed(0, "ValueError", "bad"))])
        self.assertEqual(actions, [(0, "Complete", {"result": '{"caught":"ValueError","message":"bad"}'})])

    def test_a_user_exception_becomes_a_typed_failure_with_details(self):
        class InsufficientFunds(durable.DurableError):
            pass

        def user_error(context):
            balance = yield context.call_activity("balance")
            raise InsufficientFunds(f"balance is {balance}, needed 5", details={"balance": balance})

        executor = Executor(user_error, "x")
        executor.step(started(), replaying=False)
        [fail] = executor.step(turn(2000, completed(0, "3")), replaying=False)
        self.assertEqual(fail.data["failure"].type, "InsufficientFunds")
        self.assertEqual(fail.data["failure"].details, {"balance": 3})
        self.assertIn("Traceback", fail.data["failure"].stack)

    def test_plain_function_orchestrator_returns_its_value(self):
        self.assertEqual(run(lambda context: context.get_input(), [started('"x"')]), [(0, "Complete", {"result": '"x"'})])


def fan_out(context):
    return (yield context.task_all([context.call_activity("work", i) for i in range(3)]))


def race(context):
    a, b = context.call_activity("a"), context.call_activity("b")
    winner = yield context.task_any([a, b])
    return {"winner": [a, b].index(winner), "value": winner.result, "faulted": winner.is_faulted}


class Combinators(unittest.TestCase):
    def test_task_all_waits_for_every_task_and_keeps_task_order(self):
        turns = [started(), turn(2000, completed(2, "20"), completed(0, "0"))]
        self.assertEqual(run(fan_out, turns), [])
        turns.append(turn(3000, completed(1, "10")))
        self.assertEqual(run(fan_out, turns), [(0, "Complete", {"result": "[0,10,20]"})])

    def test_task_all_fails_with_the_first_failure_without_waiting(self):
        turns = [started(), turn(2000, failed(2, "Second", "2"), failed(1, "First", "1"))]
        self.assertEqual(run(fan_out, turns), [(0, "Fail", {"failure": ("Second", "2")})])

    def test_task_all_of_nothing_is_an_empty_list(self):
        def empty(context):
            return (yield context.task_all([]))

        self.assertEqual(run(empty, [started()]), [(0, "Complete", {"result": "[]"})])

    def test_combinators_look_at_each_child_about_once_per_outcome_not_once_per_event(self):
        # A fan-out of n results one event at a time: a look at every child after every event
        # would be n * n looks (four million here).
        n = 2000
        looks = [0]
        original = SequencedTask._resolved

        def counted(task):
            looks[0] += 1
            return original(task)

        def wide(context):
            tasks = [context.call_activity("work", i) for i in range(n)]
            first = yield context.task_any(tasks)
            values = yield context.task_all(tasks)
            return [first.result, len(values), values[-1]]

        SequencedTask._resolved = counted
        try:
            executor = Executor(wide, "x")
            executor.step(started(), False)
            looks[0] = 0
            for i in reversed(range(n)):
                actions = executor.step(turn(2000 + i, completed(i, str(i))), False)
        finally:
            SequencedTask._resolved = original
        self.assertEqual(summary(actions), [(0, "Complete", {"result": f"[{n - 1},{n},{n - 1}]"})])
        self.assertLess(looks[0], 6 * n)

    def test_task_any_picks_the_first_in_history_order(self):
        turns = [started(), turn(2000, completed(1, '"b"'), completed(0, '"a"'))]
        self.assertEqual(run(race, turns), [(0, "Complete", {"result": '{"winner":1,"value":"b","faulted":false}'})])

    def test_a_failed_task_can_win_task_any(self):
        turns = [started(), turn(2000, failed(0, "Boom", "x"))]
        self.assertEqual(run(race, turns), [(0, "Complete", {"result": '{"winner":0,"value":null,"faulted":true}'})])

    def test_task_any_of_nothing_fails_with_invalid_input(self):
        def empty(context):
            return (yield context.task_any([]))

        [(_, kind, data)] = run(empty, [started()])
        self.assertEqual((kind, data["failure"][0]), ("Fail", "InvalidInput"))


class Timers(unittest.TestCase):
    def test_a_timer_fires_and_time_moves_with_the_turn(self):
        def timer(context):
            yield context.create_timer(context.current_utc_datetime + timedelta(seconds=30))
            return context.current_utc_datetime.timestamp() * 1000

        self.assertEqual(run(timer, [started()]), [(0, "StartTimer", {"fire_at": 31000})])
        self.assertEqual(run(timer, [started(), turn(31000, fired(0))]), [(0, "Complete", {"result": "31000.0"})])

    def test_a_cancelled_timer_records_cancel_once(self):
        def cancel(context):
            timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
            result = yield context.call_activity("work")
            timer.cancel()
            timer.cancel()
            return result

        actions = run(cancel, [started(), turn(2000, completed(1, '"w"'))])
        self.assertEqual(actions, [(0, "CancelTimer", {"timer_id": 0}), (0, "Complete", {"result": '"w"'})])

    def test_timer_against_event(self):
        def timer_vs_event(context):
            timer = context.create_timer(context.current_utc_datetime + timedelta(seconds=60))
            approve = context.wait_for_external_event("approve")
            winner = yield context.task_any([approve, timer])
            if winner is approve:
                timer.cancel()
                return {"winner": "event", "value": approve.result}
            return {"winner": "timer"}

        event_wins = run(timer_vs_event, [started(), turn(2000, raised("approve", "1"))])
        self.assertEqual(
            event_wins,
            [(0, "CancelTimer", {"timer_id": 0}), (0, "Complete", {"result": '{"winner":"event","value":1}'})],
        )
        timer_wins = run(timer_vs_event, [started(), turn(61000, fired(0), raised("approve", "1"))])
        self.assertEqual(timer_wins, [(0, "Complete", {"result": '{"winner":"timer"}'})])


class Events(unittest.TestCase):
    def test_an_early_event_is_buffered_and_consumed_once(self):
        def early(context):
            yield context.call_activity("prepare")
            first = yield context.wait_for_external_event("go")
            context.set_custom_status({"first": first})
            second = yield context.wait_for_external_event("go")
            return [first, second]

        turns = [started(), turn(2000, raised("go", "1"), completed(0, "null"))]
        self.assertEqual(run(early, turns), [(0, "SetCustomStatus", {"status": '{"first":1}'})])
        turns.append(turn(3000, raised("go", "2")))
        self.assertEqual(run(early, turns), [(0, "Complete", {"result": "[1,2]"})])

    def test_waiters_are_served_first_in_first_out(self):
        def two_waiters(context):
            w0, w1 = context.wait_for_external_event("go"), context.wait_for_external_event("go")
            first = yield context.task_any([w0, w1])
            values = yield context.task_all([w0, w1])
            return {"first": [w0, w1].index(first), "values": values}

        turns = [started(), turn(2000, raised("go", '"a"'), raised("go", '"b"'))]
        self.assertEqual(run(two_waiters, turns), [(0, "Complete", {"result": '{"first":0,"values":["a","b"]}'})])

    def test_events_out_of_order_wait_for_their_names(self):
        def in_order(context):
            a = yield context.wait_for_external_event("a")
            b = yield context.wait_for_external_event("b")
            return [a, b]

        turns = [started(), turn(2000, raised("b", '"B"')), turn(3000, raised("a", '"A"'))]
        self.assertEqual(run(in_order, turns), [(0, "Complete", {"result": '["A","B"]'})])

    def test_a_timed_wait_fails_with_timeout_and_later_events_go_to_the_next_waiter(self):
        def timed(context):
            try:
                return {"event": (yield context.wait_for_external_event("approve", timeout=timedelta(seconds=30)))}
            except TaskFailedError as error:
                context.set_custom_status({"timedOut": error.type})
                return {"later": (yield context.wait_for_external_event("approve"))}

        turns = [started()]
        self.assertEqual(run(timed, turns), [(0, "StartTimer", {"fire_at": 31000})])
        turns.append(turn(31000, fired(0)))
        self.assertEqual(run(timed, turns), [(0, "SetCustomStatus", {"status": '{"timedOut":"Timeout"}'})])
        turns.append(turn(32000, raised("approve", "7")))
        self.assertEqual(run(timed, turns), [(0, "Complete", {"result": '{"later":7}'})])


class StatusAndLifetime(unittest.TestCase):
    def test_custom_status_set_changed_cleared(self):
        def status(context):
            context.set_custom_status("started")
            yield context.call_activity("step", 1)
            context.set_custom_status({"progress": 50})
            yield context.call_activity("step", 2)
            context.set_custom_status(None)
            return "done"

        turns = [started()]
        self.assertEqual(run(status, turns)[0], (0, "SetCustomStatus", {"status": '"started"'}))
        turns.append(turn(2000, completed(0, "null")))
        self.assertEqual(run(status, turns)[0], (0, "SetCustomStatus", {"status": '{"progress":50}'}))
        turns.append(turn(3000, completed(1, "null")))
        self.assertEqual(run(status, turns), [(0, "SetCustomStatus", {"status": None}), (0, "Complete", {"result": '"done"'})])

    def test_continue_as_new_drops_later_work_and_carries_events(self):
        def again(context):
            context.continue_as_new(context.get_input() + 1, preserve_unprocessed_events=True)
            context.call_activity("after")
            return None

        executor = Executor(again, "x")
        [action] = executor.step(started("1") + [raised("item", '"i"')], replaying=False)
        self.assertEqual(action.kind, "ContinueAsNew")
        self.assertEqual(action.data["input"], "2")

    def test_uuids_match_durable_functions_derivation(self):
        def uuids(context):
            return [context.new_uuid(), context.new_uuid()]

        import uuid

        namespace = uuid.uuid5(uuid.NAMESPACE_OID, "9e952958-5e33-4daf-827f-2fa12937b875")
        expected = [str(uuid.uuid5(namespace, f"conformance_1000_{i}")) for i in range(2)]
        [(_, _, data)] = run(uuids, [started()], instance_id="conformance")
        self.assertEqual(data["result"], '["%s","%s"]' % tuple(expected))

    def test_is_replaying_follows_the_step(self):
        def flags(context):
            seen = [context.is_replaying]
            yield context.call_activity("tick")
            seen.append(context.is_replaying)
            return seen

        executor = Executor(flags, "x")
        executor.step(started(), replaying=True)
        [done] = executor.step(turn(2000, completed(0, "null")), replaying=False)
        self.assertEqual(done.data["result"], "[true,false]")


class Retries(unittest.TestCase):
    def retry(self, context):
        return (yield context.call_activity_with_retry("flaky", RetryOptions(5000, 3)))

    def test_a_failed_attempt_waits_on_a_timer_then_retries(self):
        turns = [started(), turn(2000, failed(0, "Flaky", "1"))]
        self.assertEqual(run(self.retry, turns), [(1, "StartTimer", {"fire_at": 7000})])
        turns.append(turn(7000, fired(1)))
        self.assertEqual(run(self.retry, turns), [(2, "ScheduleActivity", {"name": "flaky", "input": "null"})])
        turns.append(turn(8000, completed(2, '"ok"')))
        self.assertEqual(run(self.retry, turns), [(0, "Complete", {"result": '"ok"'})])

    def test_no_timer_after_the_last_attempt(self):
        turns = [
            started(),
            turn(2000, failed(0, "Flaky", "1")),
            turn(7000, fired(1)),
            turn(8000, failed(2, "Flaky", "2")),
            turn(13000, fired(3)),
        ]
        turns.append(turn(14000, failed(4, "Flaky", "attempt 3 failed")))
        executor = Executor(self.retry, "x")
        for events in turns:
            actions = executor.step(events, replaying=False)
        [fail] = actions
        self.assertEqual(fail.kind, "Fail")
        self.assertEqual(fail.data["failure"].message, "attempt 3 failed")
        self.assertEqual([c.type for c in fail.data["failure"].inner], ["RetryPolicy"])

    def test_a_non_retriable_failure_is_not_retried(self):
        failure = Failure("Fatal", "no", non_retriable=True)
        turns = [started(), turn(2000, Event("TaskFailed", data={"task_id": 0, "failure": failure}))]
        self.assertEqual(run(self.retry, turns), [(0, "Fail", {"failure": ("Fatal", "no")})])

    def test_backoff_is_capped(self):
        options = RetryOptions(1000, 10, backoff_coefficient=2.0, max_retry_interval_in_milliseconds=5000)
        self.assertEqual([options.delay_after(n) for n in range(1, 6)], [1000, 2000, 4000, 5000, 5000])


if __name__ == "__main__":
    unittest.main()


class VersionTest(unittest.TestCase):
    def test_the_version_comes_from_the_host(self):
        from durable import _context

        def orchestrator(context):
            return context.version
            yield  # a generator, as orchestrators are

        self.addCleanup(_context.install_version_source, lambda: None)
        executor = Executor(orchestrator, "v")
        self.assertEqual(summary(executor.step(started(), replaying=False))[-1][2]["result"], "null")
        _context.install_version_source(lambda: "2.0")
        executor = Executor(orchestrator, "v")
        self.assertEqual(summary(executor.step(started(), replaying=False))[-1][2]["result"], '"2.0"')
