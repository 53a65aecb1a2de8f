"""A Durable Functions app's source, as written for Azure Functions: `azure.durable_functions`
and `azure.functions` resolve to durable's stand-ins, the triggers register on a `durable.App`,
HTTP starters are left out, and what is not supported fails naming the feature."""

import os
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "compat"))

import azure.durable_functions as df  # noqa: E402
import azure.functions as func  # noqa: E402
import durable  # noqa: E402
from durable import _app  # noqa: E402


class DurableFunctionsSourceTest(unittest.TestCase):
    def setUp(self):
        self.before = list(_app._APPS)

    def tearDown(self):
        _app._APPS[:] = self.before

    def test_triggers_register_and_http_starters_are_left_out(self):
        app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)
        self.assertIsInstance(app, durable.App)

        @app.route(route="orchestrators/{functionName}")
        @app.durable_client_input(client_name="client")
        async def http_start(req: func.HttpRequest, client):
            return client.create_check_status_response(req, await client.start_new("x"))

        @app.orchestration_trigger(context_name="context")
        def hello_orchestrator(context: df.DurableOrchestrationContext):
            return (yield context.call_activity("hello", "Tokyo"))

        @app.activity_trigger(input_name="city")
        def hello(city: str):
            return f"Hello {city}"

        @app.function_name(name="Counter")
        @app.entity_trigger(context_name="context")
        def counter_entity(context: df.DurableEntityContext):
            context.set_state(context.get_state(lambda: 0) + 1)

        @app.function_name("Renamed")
        @app.orchestration_trigger(context_name="context")
        def original(context):
            return None

        @app.timer_trigger(schedule="0 0 * * *", arg_name="timer")
        def nightly(timer):
            return None

        self.assertEqual(sorted(app.orchestrators), ["Renamed", "hello_orchestrator"])
        self.assertEqual(list(app.activities), ["hello"])
        self.assertEqual(list(app.entities), ["Counter"])
        self.assertIs(app.activities["hello"], hello)
        self.assertTrue(callable(http_start) and callable(nightly))

    def test_blueprints_register_through_the_app(self):
        bp = df.Blueprint()

        @bp.orchestration_trigger(context_name="context")
        def from_blueprint(context):
            return None

        @bp.activity_trigger(input_name="x", activity="named_activity")
        def activity(x):
            return x

        app = df.DFApp()
        app.register_functions(bp)
        self.assertEqual(list(app.orchestrators), ["from_blueprint"])
        self.assertEqual(list(app.activities), ["named_activity"])
        self.assertEqual(_app._APPS[len(self.before):], [app], "a blueprint is not a second app")

    def test_v1_create_returns_the_handler_carrying_the_function(self):
        def orchestrator_function(context):
            yield context.call_activity("hello", "Tokyo")

        def entity_function(context):
            context.set_result(1)

        main = df.Orchestrator.create(orchestrator_function)
        self.assertIs(main.orchestrator_function, orchestrator_function)
        entity = df.Entity.create(entity_function)
        self.assertIs(entity.entity_function, entity_function)
        self.assertIs(df.Orchestrator(orchestrator_function).fn, orchestrator_function)
        # Only the host runs them: calling the handler says so.
        with self.assertRaisesRegex(durable.DurableError, "run by durable's host"):
            main(None)
        with self.assertRaisesRegex(durable.DurableError, "run by durable's host"):
            entity(None)
        with self.assertRaises(TypeError):
            df.Orchestrator.create(None)

    def test_what_is_not_supported_names_the_feature(self):
        with self.assertRaisesRegex(durable.DurableError, "HTTP API of `durable serve`"):
            df.DurableOrchestrationClient("{}")
        app = df.DFApp()
        with self.assertRaisesRegex(AttributeError, "`frobnicate` is not supported by durable"):
            app.frobnicate()
        self.assertIs(df.RetryOptions, durable.RetryOptions)
        self.assertIs(df.EntityId, durable.EntityId)


if __name__ == "__main__":
    unittest.main()
