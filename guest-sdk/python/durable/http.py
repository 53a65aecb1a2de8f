"""HTTP requests from an activity: `durable.http.fetch(url)`.

The request goes out through the host's `wasi:http/outgoing-handler`, under the operator's policy
(`durable serve --allow-http HOST`; HTTPS trusts the system's roots and `--ca-cert`; a response
body over 16 MiB is refused): see docs/sandbox.md. `fetch` is synchronous: it blocks the activity
on `wasi:io` pollables until the whole response has arrived.

Activities only: orchestrators and entities must decide the same things on every replay, so their
sandbox does not provide `wasi:http`, and calling `fetch` there fails the orchestration (or the
entity operation) with a `SandboxViolation`. From an orchestrator, use `context.call_http`.

    @app.activity
    def rate(currency):
        response = durable.http.fetch(f"https://api.example.com/rates/{currency}", timeout=5)
        if not response.ok:
            raise RatesUnavailable(f"the rates API answered {response.status}")
        return response.json()["rate"]

A request that gets no response raises `HttpError`, whose message is the host's (a host the
operator did not allow: "outbound HTTP to `HOST` is not allowed; the operator can allow it with
`--allow-http HOST`") and whose `code` is the `wasi:http` error code.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Tuple, Union
from urllib.parse import urlsplit

from ._failure import DurableError

HeaderValue = Union[str, bytes]
Headers = Union[Mapping[str, HeaderValue], Iterable[Tuple[str, HeaderValue]]]

# At most this much is written to a wasi:io output stream at once (`blocking-write-and-flush`
# takes up to 4096 bytes); a response body is read in chunks of up to `_READ_SIZE`.
_WRITE_SIZE = 4096
_READ_SIZE = 64 * 1024

_STANDARD_METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")

# Words the `wasi:http` error codes spell in capitals (`HTTP-request-URI-invalid`).
_ACRONYMS = {"Dns": "DNS", "Tls": "TLS", "Http": "HTTP", "Uri": "URI", "Ip": "IP"}


class HttpError(DurableError):
    """A request that got no response: the host refused it (a host the operator did not allow),
    or it failed on the way (a refused connection, an untrusted certificate, a timeout, a
    response body over the host's cap).

    `code` is the `wasi:http` error code (`internal-error`, `connection-refused`,
    `TLS-certificate-error`, `connection-read-timeout`, `HTTP-response-body-size`, ...), or
    `body-not-sent` / `body-read-failed` when sending the request's body or reading the
    response's failed without one (the message then holds the host's text); the message is `METHOD URL: ` and what happened, in the host's words when it gave some. Uncaught in
    an activity, it fails the activity with the type `HttpError` (retriable, as `call_http`'s
    transport errors) and the details `{"code", "method", "url"}`."""

    def __init__(self, message: str, code: str, method: str, url: str):
        super().__init__(message, details={"code": code, "method": method, "url": url})
        self.code = code
        self.method = method
        self.url = url


class Response:
    """A response, read whole: `status`, `headers` (lower-case names; a field sent several times
    has its values joined with ", "), `header_list` (the fields as sent, in order), `body`
    (bytes), `text()` and `json()`."""

    def __init__(self, url: str, status: int, header_list: List[Tuple[str, str]], body: bytes):
        self.url = url
        self.status = status
        self.header_list = header_list
        self.headers = join_headers(header_list)
        self.body = body

    @property
    def ok(self) -> bool:
        """Whether the status is a success (2xx)."""
        return 200 <= self.status < 300

    def text(self, encoding: Optional[str] = None) -> str:
        """The body as text: in `encoding`, else the `charset` of its `content-type`, else
        UTF-8 (bytes that do not decode become U+FFFD)."""
        return self.body.decode(encoding or charset(self.headers.get("content-type")) or "utf-8", errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON (`json.JSONDecodeError`, a `ValueError`, when it is not)."""
        return json.loads(self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} from {self.url}, {len(self.body)} bytes>"


def fetch(
    url: str,
    method: str = "GET",
    headers: Optional[Headers] = None,
    body: Union[bytes, str, None] = None,
    timeout: Optional[float] = None,
) -> Response:
    """Sends one request and returns the response, whatever its status (redirects are not
    followed: a 3xx is returned as it is).

    `headers` is a mapping or a list of `(name, value)` pairs (values `str` or `bytes`); `body`
    is bytes, or a `str` sent as UTF-8. `timeout` (seconds) bounds the wait for the response
    to start (connecting included) and then for each chunk of its body; without it, the host's
    (30 s each). The activity's own time limit (`--activity-timeout`) bounds it all.

    Raises `HttpError` when no response comes (see the class), and `ValueError` for a request
    that cannot be made: a URL that is not `http` or `https`, a header `wasi:http` forbids
    (`host`, `connection`, ...), a negative timeout."""
    wasi = _bindings()
    method = method.upper()
    scheme, authority, path_with_query = split_url(url)
    header_pairs = encode_headers(headers)
    content = encode_body(body)
    nanoseconds = timeout_ns(timeout)
    types = wasi.types
    try:
        header_fields = types.Fields.from_list(header_pairs)
    except wasi.Err as refused:
        names = ", ".join(sorted({name for name, _ in header_pairs}))
        raise ValueError(f"{method} {url}: wasi:http refuses these headers ({names}): {code_name(refused.value)}") from None
    request = types.OutgoingRequest(header_fields)
    try:
        request.set_method(wasi_method(types, method))
        request.set_scheme(types.Scheme_Https() if scheme == "https" else types.Scheme_Http())
        request.set_authority(authority)
        request.set_path_with_query(path_with_query)
    except wasi.Err:
        raise ValueError(f"{method} {url}: not a request wasi:http can make (its method or URL)") from None
    outgoing_body = request.body()
    options = None
    if nanoseconds is not None:
        options = types.RequestOptions()
        options.set_first_byte_timeout(nanoseconds)
        options.set_between_bytes_timeout(nanoseconds)
    try:
        future = wasi.handle(request, options)
    except wasi.Err as refused:
        raise http_error(refused.value, method, url) from None
    with future:
        written = _write_body(wasi, outgoing_body, content)
        response = _wait(wasi, future, method, url)
        if written is not None:
            # The response came, but the body could not be sent whole.
            with response:
                raise HttpError(f"{method} {url}: sending the body failed: {written}", "body-not-sent", method, url)
        with response:
            status = response.status()
            with response.headers() as received:
                header_list = [(name, decode_header(value)) for name, value in received.entries()]
            return Response(url, status, header_list, _read_body(wasi, response, method, url))


# --- the WIT imports ------------------------------------------------------------------------


@dataclass(frozen=True)
class Wasi:
    """The generated bindings `fetch` uses: `wasi:http/outgoing-handler`'s `handle`, the
    `wasi:http/types` module and componentize-py's `Err` (an exception holding an error value).
    `durable._component` installs the real ones when the component starts; tests install fakes."""

    handle: Callable[..., Any]
    types: Any
    Err: type


_wasi: Optional[Wasi] = None


def install(wasi: Wasi) -> None:
    global _wasi
    _wasi = wasi


def _bindings() -> Wasi:
    if _wasi is None:
        raise RuntimeError("durable.http.fetch works in an activity of a component built by `durable build`")
    return _wasi


def _write_body(wasi: Wasi, outgoing_body: Any, content: bytes) -> Optional[str]:
    """Writes and finishes the request body; why it failed, or None."""
    try:
        with outgoing_body.write() as stream:
            for start in range(0, len(content), _WRITE_SIZE):
                stream.blocking_write_and_flush(content[start : start + _WRITE_SIZE])
    except wasi.Err as failed:
        return describe_stream_error(wasi, failed.value)
    try:
        wasi.types.OutgoingBody.finish(outgoing_body, None)
    except wasi.Err as failed:
        return describe_code(failed.value)
    return None


def _wait(wasi: Wasi, future: Any, method: str, url: str) -> Any:
    """Blocks until the response's head has arrived; the response, or `HttpError`."""
    while True:
        outcome = future.get()
        if outcome is not None:
            break
        with future.subscribe() as ready:
            ready.block()
    # `result<result<incoming-response, error-code>>`: the outer error means the response was
    # already taken, which `fetch` never does.
    inner = outcome.value
    if isinstance(inner, wasi.Err):
        raise http_error(inner.value, method, url)
    return inner.value


def _read_body(wasi: Wasi, response: Any, method: str, url: str) -> bytes:
    """The whole body of `response`, or `HttpError` when reading it fails (a body over the
    host's cap, a server that stops sending)."""
    chunks: List[bytes] = []
    with response.consume() as incoming:
        with incoming.stream() as stream:
            while True:
                try:
                    chunks.append(stream.blocking_read(_READ_SIZE))
                except wasi.Err as failed:
                    if type(failed.value).__name__ == "StreamError_Closed":
                        break
                    code = _stream_error_code(wasi, failed.value)
                    if code is not None:
                        raise http_error(code, method, url, "reading the body failed: ") from None
                    reason = describe_stream_error(wasi, failed.value)
                    raise HttpError(f"{method} {url}: reading the body failed: {reason}", "body-read-failed", method, url) from None
    return b"".join(chunks)


def _stream_error_code(wasi: Wasi, stream_error: Any) -> Any:
    """The `wasi:http` error code behind a stream's failure, when there is one."""
    error = getattr(stream_error, "value", None)
    if error is None:
        return None
    return wasi.types.http_error_code(error)


def describe_stream_error(wasi: Wasi, stream_error: Any) -> str:
    """A stream error in words: `closed`, the `wasi:http` error code behind it, or the
    host's debug text."""
    error = getattr(stream_error, "value", None)
    if error is None:
        return "the stream is closed"
    code = _stream_error_code(wasi, stream_error)
    if code is not None:
        return describe_code(code)
    return error.to_debug_string()


# --- pure parts -----------------------------------------------------------------------------


def split_url(url: str) -> Tuple[str, str, str]:
    """`(scheme, authority, path with query)` of an `http` or `https` URL."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{url!r} is not an http or https URL")
    path = parts.path or "/"
    return scheme, parts.netloc, f"{path}?{parts.query}" if parts.query else path


def encode_headers(headers: Optional[Headers]) -> List[Tuple[str, bytes]]:
    """The request's header fields as `wasi:http` takes them: `(name, value bytes)`."""
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    encoded = []
    for name, value in pairs:
        if isinstance(value, str):
            value = value.encode("utf-8")
        elif not isinstance(value, (bytes, bytearray)):
            raise TypeError(f"the value of header {name!r} is a {type(value).__name__}, not str or bytes")
        encoded.append((str(name), bytes(value)))
    return encoded


def encode_body(body: Union[bytes, str, None]) -> bytes:
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode("utf-8")
    if isinstance(body, (bytes, bytearray, memoryview)):
        return bytes(body)
    raise TypeError(f"the body is a {type(body).__name__}: send bytes or str (json.dumps(...) for JSON)")


def timeout_ns(timeout: Optional[float]) -> Optional[int]:
    if timeout is None:
        return None
    if timeout < 0:
        raise ValueError(f"the timeout is negative ({timeout} s)")
    return int(timeout * 1_000_000_000)


def wasi_method(types: Any, method: str) -> Any:
    if method in _STANDARD_METHODS:
        return getattr(types, f"Method_{method.capitalize()}")()
    return types.Method_Other(method)


def decode_header(value: bytes) -> str:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def join_headers(header_list: List[Tuple[str, str]]) -> Dict[str, str]:
    joined: Dict[str, str] = {}
    for name, value in header_list:
        name = name.lower()
        joined[name] = f"{joined[name]}, {value}" if name in joined else value
    return joined


def charset(content_type: Optional[str]) -> Optional[str]:
    match = re.search(r";\s*charset\s*=\s*\"?([^\s;\"]+)", content_type or "", re.IGNORECASE)
    return match.group(1) if match else None


def code_name(code: Any) -> str:
    """The WIT name of a generated variant case: `ErrorCode_HttpRequestUriInvalid` is
    `HTTP-request-URI-invalid`, `HeaderError_Forbidden` is `forbidden`."""
    case = type(code).__name__.split("_", 1)[-1]
    words = re.findall(r"[A-Z][a-z0-9]*", case)
    return "-".join(_ACRONYMS.get(word, word.lower()) for word in words)


def describe_code(code: Any) -> str:
    """A `wasi:http` error code in words: its name, with what it carries (`internal-error` is
    the host's message alone)."""
    name = code_name(code)
    payload = getattr(code, "value", None)
    if payload is None:
        return name
    if name == "internal-error" and isinstance(payload, str):
        return payload
    if is_dataclass(payload):
        given = [f"{f.name}={getattr(payload, f.name)}" for f in fields(payload) if getattr(payload, f.name) is not None]
        return f"{name} ({', '.join(given)})" if given else name
    return f"{name} ({payload})"


def http_error(code: Any, method: str, url: str, doing: str = "") -> HttpError:
    """The exception for a request that failed with the `wasi:http` error `code`."""
    return HttpError(f"{method} {url}: {doing}{describe_code(code)}", code_name(code), method, url)
