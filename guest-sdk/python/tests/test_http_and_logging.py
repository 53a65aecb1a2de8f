"""Unit tests of `call_http`'s polling and of replay-safe logging (no WebAssembly)."""

import logging
import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from durable import _log  # noqa: E402
from durable._context import resolve_location  # noqa: E402
from durable.replay import Executor  # noqa: E402
from test_replay import T0, completed, fired, run, started, turn  # noqa: E402


def fetch(context):
    response = yield context.call_http("post", "http://svc:8/jobs", {"n": 1}, {"X-Key": "k"})
    return [response["statusCode"], response["content"]]


def request(method, uri, content, asynchronous=True):
    return {"method": method, "uri": uri, "headers": {"X-Key": "k"}, "content": content, "asynchronousPatternEnabled": asynchronous}


def scheduled(task_id, req):
    import json

    return (task_id, "ScheduleActivity", {"name": "durable:http", "input": json.dumps(req, separators=(",", ":"))})


ACCEPTED = '{"statusCode":202,"headers":{"Location":"/jobs/7","retry-after":"5"},"content":""}'
DONE = '{"statusCode":200,"headers":{},"content":"done"}'


class CallHttp(unittest.TestCase):
    def test_the_request_is_one_builtin_activity_with_json_content(self):
        actions = run(fetch, [started()])
        self.assertEqual(actions, [scheduled(0, request("POST", "http://svc:8/jobs", '{"n":1}'))])

    def test_a_202_is_polled_on_a_durable_timer_then_a_get_of_its_location(self):
        turns = [started(), turn(T0 + 1000, completed(0, ACCEPTED))]
        self.assertEqual(run(fetch, turns), [(1, "StartTimer", {"fire_at": T0 + 1000 + 5000})])
        turns.append(turn(T0 + 7000, fired(1)))
        poll = request("GET", "http://svc:8/jobs/7", None)
        self.assertEqual(run(fetch, turns), [scheduled(2, poll)])
        turns.append(turn(T0 + 8000, completed(2, DONE)))
        self.assertEqual(run(fetch, turns), [(0, "Complete", {"result": '[200,"done"]'})])

    def test_polling_can_be_turned_off(self):
        def once(context):
            response = yield context.call_http("GET", "http://svc:8/", asynchronous_pattern_enabled=False)
            return response["statusCode"]

        turns = [started(), turn(T0 + 1000, completed(0, ACCEPTED))]
        self.assertEqual(run(once, turns), [(0, "Complete", {"result": "202"})])

    def test_locations_resolve_against_the_request_uri(self):
        self.assertEqual(resolve_location("http://h:1/a/b", "https://x/y"), "https://x/y")
        self.assertEqual(resolve_location("http://h:1/a/b?q=1", "/s/7"), "http://h:1/s/7")
        self.assertEqual(resolve_location("http://h:1/a/b", "s/7"), "http://h:1/a/s/7")
        self.assertEqual(resolve_location("http://h:1", "s"), "http://h:1/s")


class ReplaySafeLogging(unittest.TestCase):
    def setUp(self):
        self.lines = []
        self.handler = _log.HostLogHandler(lambda level, message: self.lines.append((level, message)))
        self.logger = logging.getLogger("durable-test")
        self.logger.setLevel(logging.DEBUG)
        self.logger.addHandler(self.handler)
        self.logger.propagate = False

    def tearDown(self):
        self.logger.removeHandler(self.handler)

    def orchestrator(self, context):
        self.logger.info("starting %s", context.get_input())
        result = yield context.call_activity("a")
        self.logger.warning("got %s", result)
        return result

    def test_lines_logged_while_replaying_are_dropped(self):
        turns = [started('"x"'), turn(T0 + 1000, completed(0, '"r"'))]
        cold = Executor(self.orchestrator, "i")
        cold.step(turns[0], replaying=True)
        self.assertEqual(self.lines, [])
        cold.step(turns[1], replaying=False)
        self.assertEqual(self.lines, [("warn", "got r")])

    def test_a_live_run_logs_each_line_once(self):
        live = Executor(self.orchestrator, "i")
        live.step(started('"x"'), replaying=False)
        live.step(turn(T0 + 1000, completed(0, '"r"')), replaying=False)
        self.assertEqual(self.lines, [("info", "starting x"), ("warn", "got r")])

    def test_outside_orchestrations_every_line_is_sent_with_its_level(self):
        self.logger.debug("d")
        self.logger.error("e")
        self.assertEqual(self.lines, [("debug", "d"), ("error", "e")])


if __name__ == "__main__":
    unittest.main()
