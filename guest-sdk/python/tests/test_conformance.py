"""Every conformance scenario (`tests/conformance/*.json`) against the Python conformance app
(`tests/guests/python-conformance/app.py`), natively: no component build, so an SDK change is
checked in seconds. The end-to-end run of the same scenarios through the built component is
`tests/e2e/python.rs`; the host's side of the replay is ported in `conformance_support.py`."""

import os
import unittest

import conformance_support as conformance

# Scenarios the Python SDK does not pass natively yet, and why. The test fails when one of them
# starts passing, so that its entry is removed.
KNOWN_GAPS = {}


class Conformance(unittest.TestCase):
    def test_every_scenario(self):
        app = conformance.load_app()
        files = conformance.scenario_files()
        self.assertGreater(len(files), 40, f"scenarios are missing from {conformance.SCENARIO_DIR}: {files}")
        for path in files:
            scenario = conformance.load(path)
            name = scenario["name"]
            with self.subTest(scenario=name):
                stem = os.path.splitext(os.path.basename(path))[0]
                self.assertEqual(name, stem, "a scenario is named after its file")
                mismatches, actual = conformance.run(app, scenario)
                if name in KNOWN_GAPS:
                    if not mismatches:
                        self.fail(f"{name} passes now: remove it from KNOWN_GAPS")
                    self.skipTest(f"known gap: {KNOWN_GAPS[name]}")
                if mismatches:
                    self.fail(conformance.verdict(name, mismatches, actual))


class SupportMirrorsTheHost(unittest.TestCase):
    """The unit tests of `host/src/inspect/scenario.rs`, against the port."""

    def test_compact_turns_become_numbered_engine_history(self):
        scenario = {
            "name": "t",
            "orchestrator": "chain",
            "input": 2,
            "history": [
                [{"type": "TaskScheduled", "name": "step", "input": 0}],
                {
                    "time": 5000,
                    "events": [
                        {"type": "TaskCompleted", "taskId": 0, "result": "a"},
                        {"type": "TaskScheduled", "name": "step", "input": 1},
                    ],
                },
            ],
            "newEvents": [{"type": "TaskCompleted", "taskId": 1}],
            "expect": {},
        }
        history, at, events = conformance.scenario_history(scenario)
        self.assertEqual(
            [(e["eventId"], e["timestamp"], e["type"]) for e in history],
            [
                (None, 1000, "OrchestratorStarted"),
                (None, 1000, "ExecutionStarted"),
                (0, 1000, "TaskScheduled"),
                (None, 5000, "OrchestratorStarted"),
                (None, 5000, "TaskCompleted"),
                (1, 5000, "TaskScheduled"),
            ],
        )
        self.assertEqual(history[4]["result"], '"a"')
        self.assertEqual((at, events), (6000, [{"type": "TaskCompleted", "taskId": 1, "result": "null"}]))

    def test_an_empty_history_starts_the_execution_in_the_new_turn(self):
        scenario = {"name": "t", "orchestrator": "o", "input": {"a": 1}, "expect": {}}
        history, at, [started] = conformance.scenario_history(scenario)
        self.assertEqual((history, at, started["type"], started["input"]), ([], 1000, "ExecutionStarted", '{"a":1}'))

    def test_compare_checks_listed_keys_only(self):
        actual = {
            "status": "Failed",
            "actions": [{"id": 0, "type": "ScheduleActivity", "name": "a", "input": 1}],
            "failure": {"type": "X", "message": "m", "nonRetriable": False},
            "customStatus": None,
        }
        expect = {"status": "Failed", "actions": [{"type": "ScheduleActivity", "name": "a"}], "failure": {"type": "X"}}
        self.assertEqual(conformance.compare(expect, actual), [])
        expect = {"actions": [{"name": "b"}], "customStatus": "busy", "failure": {"type": "Y"}}
        paths = [m.split(":")[0] for m in conformance.compare(expect, actual)]
        self.assertEqual(paths, ["actions[0].name", "customStatus", "failure.type"])
        self.assertEqual(len(conformance.compare({"actions": []}, actual)), 1)
        self.assertEqual(len(conformance.compare({"output": 1}, {"output": True})), 1, "true is not 1")


if __name__ == "__main__":
    unittest.main()
