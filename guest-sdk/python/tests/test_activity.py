"""`run_activity`: an activity gets as many arguments as it takes, and its signature is read once."""

import inspect
import os
import sys
import unittest
from unittest import mock

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from durable._activity import ActivityContext, run_activity  # noqa: E402


class RunActivity(unittest.TestCase):
    def test_each_activity_gets_as_many_arguments_as_it_takes(self):
        attempt = ActivityContext("i-1", 3, 2)

        def none():
            return "none"

        def value(x):
            return x * 2

        def with_context(x, context):
            return [x, context.instance_id, context.task_id, context.attempt]

        for _ in range(2):  # the second call reads the arity remembered from the first
            self.assertEqual(run_activity(none, "null", attempt), '"none"')
            self.assertEqual(run_activity(value, "21", attempt), "42")
            self.assertEqual(run_activity(with_context, '"x"', attempt), '["x","i-1",3,2]')

    def test_a_function_signature_is_read_once(self):
        def work(x):
            return x

        with mock.patch("durable._activity.inspect.signature", wraps=inspect.signature) as signature:
            for i in range(5):
                self.assertEqual(run_activity(work, str(i), ActivityContext("i-1", i, 1)), str(i))
        self.assertEqual(signature.call_count, 1)

    def test_an_unhashable_callable_object_is_an_activity_too(self):
        class Doubler:
            __hash__ = None  # unhashable, as a class defining __eq__ alone is

            def __call__(self, x):
                return x * 2

        for _ in range(2):
            self.assertEqual(run_activity(Doubler(), "4", ActivityContext("i-1", 0, 1)), "8")


if __name__ == "__main__":
    unittest.main()
