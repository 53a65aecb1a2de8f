"""`azure.functions` inside a durable component: the names a Durable Functions app imports for
its HTTP starters (`func.AuthLevel`, `func.HttpRequest`, `func.HttpResponse`, ...). There are no
such triggers in a component: `durable serve` answers Durable Functions' HTTP API itself, so the
functions that use these are accepted and left out (`azure.durable_functions.DFApp.route`)."""

from __future__ import annotations

import enum
import json
from typing import Any, Dict, Optional


class AuthLevel(str, enum.Enum):
    """An HTTP trigger's authorization level; `durable serve` uses its API keys instead."""

    ANONYMOUS = "anonymous"
    FUNCTION = "function"
    ADMIN = "admin"


class HttpMethod(str, enum.Enum):
    GET = "GET"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    HEAD = "HEAD"
    OPTIONS = "OPTIONS"


class HttpRequest:
    """An HTTP request as a trigger receives it; never received in a component."""

    def __init__(self, method: str = "GET", url: str = "", headers: Optional[Dict[str, str]] = None,
                 params: Optional[Dict[str, str]] = None, route_params: Optional[Dict[str, str]] = None,
                 body: bytes = b"") -> None:
        self.method = method
        self.url = url
        self.headers = dict(headers or {})
        self.params = dict(params or {})
        self.route_params = dict(route_params or {})
        self._body = body

    def get_body(self) -> bytes:
        return self._body

    def get_json(self) -> Any:
        return json.loads(self._body)


class HttpResponse:
    """An HTTP response as a trigger returns it; never sent from a component."""

    def __init__(self, body: Any = None, status_code: int = 200, headers: Optional[Dict[str, str]] = None,
                 mimetype: Optional[str] = None, charset: Optional[str] = None) -> None:
        self.body = body
        self.status_code = status_code
        self.headers = dict(headers or {})
        self.mimetype = mimetype
        self.charset = charset

    def get_body(self) -> Any:
        return self.body


class Out:
    """An output binding's value holder."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, value: Any) -> None:
        self._value = value

    def get(self) -> Any:
        return self._value


class Context:
    """The invocation context a function receives. In a component only a programming model v1
    activity with a `context` parameter receives one: its function (folder) name and an id of
    the attempt (`<instance id>:<task id>:<attempt>`)."""

    def __init__(self, invocation_id: str = "", function_name: str = "", function_directory: str = "",
                 **_: Any) -> None:
        self.invocation_id = invocation_id
        self.function_name = function_name
        self.function_directory = function_directory
        self.trace_context = None
        self.retry_context = None


__all__ = ["AuthLevel", "Context", "HttpMethod", "HttpRequest", "HttpResponse", "Out"]
