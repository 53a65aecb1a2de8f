"""A Durable Functions app in Python's programming model v1 (function folders with a
`function.json` each): every orchestrator, activity and entity folder registers under its name,
imported as the Functions worker imports it; HTTP starters and other triggers are left out."""

import json
import os
import shutil
import sys
import tempfile
import textwrap
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "compat"))

import durable  # noqa: E402
from azure.durable_functions import _function_folders as folders  # noqa: E402
from durable import _app  # noqa: E402
from durable._activity import ActivityContext, run_activity  # noqa: E402
from durable._entity import execute_batch  # noqa: E402
from durable.replay import Event, Executor  # noqa: E402


def trigger(kind, name="context", **extra):
    return {**extra, "bindings": [{"name": name, "type": kind, "direction": "in"}]}


ORCHESTRATOR = """
import azure.durable_functions as df
from shared_code.greetings import greeting     # the app root is on the path
from ..shared_code import cities               # and the folder is `__app__.<folder>`


def orchestrator_function(context: df.DurableOrchestrationContext):
    results = []
    for city in cities.CITIES:
        results.append((yield context.call_activity("SayHello", city)))
    return [greeting("orchestrator")] + results


main = df.Orchestrator.create(orchestrator_function)
"""

ACTIVITY = """
from ..shared_code.greetings import greeting


def main(city: str) -> str:
    return greeting(city)
"""

ENTITY = """
import azure.durable_functions as df


def entity_function(context: df.DurableEntityContext):
    value = context.get_state(lambda: 0)
    if context.operation_name == "add":
        context.set_state(value + context.get_input())
    elif context.operation_name == "get":
        context.set_result(value)


main = df.Entity.create(entity_function)
"""

STARTER = """
raise RuntimeError("an HTTP starter is never imported")
"""


class FunctionFoldersTest(unittest.TestCase):
    def setUp(self):
        self.before = list(_app._APPS)
        self.path = list(sys.path)
        self.root = tempfile.mkdtemp(prefix="df-v1-")
        self.write("shared_code/__init__.py", "")
        self.write("shared_code/greetings.py", "def greeting(city):\n    return f'Hello {city}!'\n")
        self.write("shared_code/cities.py", "CITIES = ['Tokyo', 'Seattle']\n")

    def tearDown(self):
        _app._APPS[:] = self.before
        sys.path[:] = self.path
        for name in [n for n in sys.modules if n == "__app__" or n.startswith("__app__.") or n == "shared_code" or n.startswith("shared_code.")]:
            del sys.modules[name]
        shutil.rmtree(self.root)

    def write(self, relative, text):
        path = os.path.join(self.root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as file:
            file.write(textwrap.dedent(text) if not isinstance(text, dict) else json.dumps(text))

    def function(self, name, function_json, script, script_name="__init__.py"):
        self.write(f"{name}/function.json", function_json)
        self.write(f"{name}/{script_name}", script)

    def test_folders_register_under_their_names(self):
        self.function("HelloCities", trigger("orchestrationTrigger"), ORCHESTRATOR)
        self.function("SayHello", trigger("activityTrigger", "city"), ACTIVITY)
        self.function("Counter", trigger("entityTrigger"), ENTITY)
        self.function(
            "HttpStart",
            {"bindings": [{"name": "req", "type": "httpTrigger", "direction": "in"},
                          {"name": "starter", "type": "durableClient", "direction": "in"}]},
            STARTER,
        )
        self.function("Nightly", trigger("timerTrigger", "timer"), STARTER)
        self.function("Off", trigger("activityTrigger", disabled=True), STARTER)
        app = folders.register_function_folders(self.root)
        self.assertEqual(_app._APPS[len(self.before):], [app])
        self.assertEqual(list(app.orchestrators), ["HelloCities"])
        self.assertEqual(list(app.activities), ["SayHello"])
        self.assertEqual(list(app.entities), ["Counter"])
        self.assertNotIn("__app__.HttpStart", sys.modules)

        # The orchestrator is the generator function Orchestrator.create was given.
        executor = Executor(app.orchestrators["HelloCities"], "i-1")
        started = [Event("OrchestratorStarted", 1000), Event("ExecutionStarted", 1000, data={"input": "null"})]
        actions = executor.step(started, False)
        self.assertEqual([(a.kind, a.data["name"], a.data["input"]) for a in actions],
                         [("ScheduleActivity", "SayHello", '"Tokyo"')])
        done = [Event("OrchestratorStarted", 2000),
                Event("TaskCompleted", data={"task_id": 0, "result": '"a"'}),
                Event("TaskCompleted", data={"task_id": 1, "result": '"b"'})]
        actions = executor.step(done, False)
        self.assertEqual(actions[-1].kind, "Complete")
        self.assertEqual(json.loads(actions[-1].data["result"]), ["Hello orchestrator!", "a", "b"])

        attempt = ActivityContext("i-1", 0, 1)
        self.assertEqual(run_activity(app.activities["SayHello"], '"Tokyo"', attempt), '"Hello Tokyo!"')

        outcomes, exists, state = execute_batch(
            app.entities["Counter"], durable.EntityId("Counter", "k"), None, [("add", 5), ("get", None)], has_state=False
        )
        self.assertEqual([o.result for o in outcomes], ["null", "5"])
        self.assertTrue(exists)
        self.assertEqual(state, 5)

    def test_activities_are_called_as_the_functions_worker_calls_them(self):
        self.function("Keyword", trigger("activityTrigger", "payload"), """
            def main(payload):
                return {"got": payload}
        """)
        self.function("WithContext", trigger("activityTrigger", "n"), """
            import azure.functions as func

            def main(n: int, context: func.Context) -> str:
                return f"{context.function_name}:{n}:{context.invocation_id}"
        """)
        self.function("Async", trigger("activityTrigger", "n"), """
            import asyncio

            async def double(n):
                await asyncio.sleep(0)
                return n * 2

            async def main(n: int) -> int:
                return await double(n)
        """)
        self.function("Renamed", trigger("activityTrigger", "value"), """
            def main(other):
                return other + 1
        """)
        self.function("Script", {**trigger("activityTrigger", "n"), "scriptFile": "run.py", "entryPoint": "go"},
                      "def go(n):\n    return -n\n", script_name="run.py")
        app = folders.register_function_folders(self.root)
        attempt = ActivityContext("i-1", 4, 2)

        def call(name, value):
            return json.loads(run_activity(app.activities[name], json.dumps(value), attempt))

        self.assertEqual(call("Keyword", [1]), {"got": [1]})
        self.assertEqual(call("WithContext", 3), "WithContext:3:i-1:4:2")
        self.assertEqual(call("Async", 21), 42)
        self.assertEqual(call("Renamed", 1), 2)
        self.assertEqual(call("Script", 5), -5)
        self.assertIn("__app__.Script.run", sys.modules)

    def test_mistakes_name_the_folder(self):
        self.function("Plain", trigger("orchestrationTrigger"), "def main(context):\n    return 1\n")
        with self.assertRaisesRegex(folders.FunctionFolderError, r"`Plain` has an orchestrationTrigger.*Orchestrator.create"):
            folders.register_function_folders(self.root)
        shutil.rmtree(os.path.join(self.root, "Plain"))
        self.function("NoMain", trigger("activityTrigger"), "def run(x):\n    return x\n")
        with self.assertRaisesRegex(folders.FunctionFolderError, r"`NoMain`: .* has no function `main`"):
            folders.register_function_folders(self.root)

    def test_the_root_is_found_on_the_path(self):
        self.function("SayHello", trigger("activityTrigger", "city"), ACTIVITY)
        self.assertEqual(folders.find_root(["", "/nonexistent", os.path.dirname(self.root), self.root]), self.root)
        with self.assertRaisesRegex(folders.FunctionFolderError, "no function folders"):
            folders.find_root([os.path.dirname(__file__)])


if __name__ == "__main__":
    unittest.main()
