"""Configuration and secrets for activities: values the operator gives the host
(`durable serve --config KEY=VALUE`, `--config KEY` from the host's environment,
`--config-file FILE`), read through `wasi:config/store`. They live in the host's memory only:
never in history, logs or the dashboard, unless the code puts them there (an activity's result
is history).

    @app.activity
    def charge(order):
        key = durable.config.get("payments_api_key")
        if key is None:
            raise Misconfigured("no payments_api_key is configured")
        ...

Activities only: orchestrators and entities must decide the same things on every replay, so
their sandbox does not provide `wasi:config`, and reading a value there fails the orchestration
(or the entity operation) with a `SandboxViolation`. Pass what they need as input, or read it in
an activity.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from ._failure import DurableError


class ConfigError(DurableError):
    """The host could not give the values (`wasi:config`'s `upstream` or `io` error), with its
    message. Uncaught in an activity, it fails the activity with the type `ConfigError`, as the
    Rust SDK's `config::get` does."""


def get(key: str) -> Optional[str]:
    """The value of `key`, or None when the operator gave none."""
    store = _bindings()
    try:
        return store.get(key)
    except store.Err as failed:
        raise config_error(failed.value) from None


def get_all() -> Dict[str, str]:
    """Every key the operator gave, with its value."""
    store = _bindings()
    try:
        return dict(store.get_all())
    except store.Err as failed:
        raise config_error(failed.value) from None


def config_error(error: Any) -> ConfigError:
    """`wasi:config/store`'s `error` (`upstream(string)` or `io(string)`) as an exception."""
    return ConfigError(str(getattr(error, "value", error)))


@dataclass(frozen=True)
class Store:
    """The generated `wasi:config/store` functions and componentize-py's `Err`.
    `durable._component` installs the real ones when the component starts; tests install
    fakes."""

    get: Callable[[str], Optional[str]]
    get_all: Callable[[], Any]
    Err: type


_store: Optional[Store] = None


def install(store: Store) -> None:
    global _store
    _store = store


def _bindings() -> Store:
    if _store is None:
        raise RuntimeError("durable.config works in an activity of a component built by `durable build`")
    return _store
