"""Unit tests of `durable.config` (activities' wasi:config reader), with the generated
`wasi:config/store` bindings faked at the boundary `durable._component` installs them at. The
real bindings and host: `tests/e2e/outbound.rs`."""

import os
import sys
import unittest
from dataclasses import dataclass

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from durable import config  # noqa: E402
from durable._failure import Failure  # noqa: E402


@dataclass(frozen=True)
class Err(Exception):
    """componentize-py's `Err`: an exception holding a `result`'s error value."""

    value: object


@dataclass
class Error_Upstream:
    value: str


class Config(unittest.TestCase):
    def install(self, values=None, error=None):
        def get(key):
            if error is not None:
                raise Err(error)
            return (values or {}).get(key)

        def get_all():
            if error is not None:
                raise Err(error)
            return list((values or {}).items())

        config.install(config.Store(get=get, get_all=get_all, Err=Err))
        self.addCleanup(config.install, None)

    def test_get_gives_the_value_or_none(self):
        self.install({"api_key": "sk-1", "region": "eu"})
        self.assertEqual(config.get("api_key"), "sk-1")
        self.assertIsNone(config.get("missing"))
        self.assertEqual(config.get_all(), {"api_key": "sk-1", "region": "eu"})

    def test_a_store_error_is_a_config_error_with_its_message(self):
        upstream = Error_Upstream("the vault is sealed")
        self.install(error=upstream)
        for read in (lambda: config.get("api_key"), config.get_all):
            with self.assertRaises(config.ConfigError) as raised:
                read()
            self.assertEqual(str(raised.exception), "the vault is sealed")
            self.assertEqual(Failure.from_exception(raised.exception).type, "ConfigError")

    def test_outside_a_component_it_says_where_it_works(self):
        config.install(None)
        with self.assertRaisesRegex(RuntimeError, "activity of a component built by `durable build`"):
            config.get("api_key")


if __name__ == "__main__":
    unittest.main()
