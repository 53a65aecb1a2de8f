"""Unit tests of `durable.http` (the activities' HTTP client), with the generated WIT bindings
faked at the boundary `durable._component` installs them at: the request
`fetch` builds, the response it reads, and how the host's errors reach the code. The real
bindings and host: `tests/e2e/outbound.rs`."""

import os
import sys
import unittest
from dataclasses import dataclass
from typing import Optional

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from durable import http  # noqa: E402
from durable._failure import Failure  # noqa: E402

REFUSAL = "outbound HTTP to `api.example.com` is not allowed; the operator can allow it with `--allow-http api.example.com`"


# --- fakes of componentize-py's bindings (`componentize_py_types`, `wit_world.imports.*`) ---


@dataclass(frozen=True)
class Err(Exception):
    value: object


@dataclass
class Ok:
    value: object


class Resource:
    """A resource handle: `with` drops it; a dropped one must not be used."""

    dropped = False

    def __enter__(self):
        assert not self.dropped, f"{type(self).__name__} used after it was dropped"
        return self

    def __exit__(self, *exc):
        self.dropped = True


def variant(name, payload=False):
    def init(self, value=None):
        self.value = value

    return type(name, (), {"__init__": init} if payload else {})


class FakeTypes:
    """`wit_world.imports.http_types`, as far as `fetch` uses it."""

    def __init__(self, world):
        self.world = world
        for method in ("Get", "Head", "Post", "Put", "Delete", "Connect", "Options", "Trace", "Patch"):
            setattr(self, f"Method_{method}", variant(f"Method_{method}"))
        self.Method_Other = variant("Method_Other", payload=True)
        self.Scheme_Http = variant("Scheme_Http")
        self.Scheme_Https = variant("Scheme_Https")
        types = self

        class Fields(Resource):
            @classmethod
            def from_list(cls, entries):
                if any(name.lower() == "host" for name, _ in entries):
                    raise Err(variant("HeaderError_Forbidden")())
                fields = cls()
                fields.list = list(entries)
                return fields

            def entries(self):
                return self.list

        class OutgoingBody(Resource):
            def __init__(self):
                self.written = b""
                self.finished = False

            def write(self):
                body = self

                class Stream(Resource):
                    def blocking_write_and_flush(self, contents):
                        assert len(contents) <= 4096, "wasi:io takes at most 4096 bytes a write"
                        body.written += contents

                return Stream()

            @staticmethod
            def finish(body, trailers):
                body.finished = True

        class OutgoingRequest(Resource):
            def __init__(self, headers):
                self.headers = headers
                self.outgoing_body = OutgoingBody()

            def set_method(self, method):
                self.method = method

            def set_scheme(self, scheme):
                self.scheme = scheme

            def set_authority(self, authority):
                self.authority = authority

            def set_path_with_query(self, path):
                self.path = path

            def body(self):
                return self.outgoing_body

        class RequestOptions(Resource):
            first_byte = between_bytes = None

            def set_first_byte_timeout(self, ns):
                self.first_byte = ns

            def set_between_bytes_timeout(self, ns):
                self.between_bytes = ns

        self.Fields, self.OutgoingBody, self.OutgoingRequest, self.RequestOptions = Fields, OutgoingBody, OutgoingRequest, RequestOptions
        for name in ("InternalError", "HttpResponseBodySize", "ConnectionReadTimeout", "HttpRequestUriInvalid", "DnsError"):
            setattr(self, f"ErrorCode_{name}", variant(f"ErrorCode_{name}", payload=True))

    def http_error_code(self, error):
        return getattr(error, "code", None)


class FakeError(Resource):
    """`wasi:io/error`'s `error`, maybe behind a `wasi:http` error code."""

    def __init__(self, code=None, debug="stream failed"):
        self.code, self.debug = code, debug

    def to_debug_string(self):
        return self.debug


class World:
    """What the host does with one request: the response it gives (status, headers, body
    chunks, then how the body ends) or the error code it fails with."""

    def __init__(self, status=200, headers=(), chunks=(b"hello",), end=None, error=None, pending_polls=1):
        self.status, self.headers, self.chunks, self.end, self.error = status, list(headers), list(chunks), end, error
        self.pending_polls = pending_polls
        self.types = FakeTypes(self)
        self.requests = []
        self.StreamError_Closed = variant("StreamError_Closed")
        self.StreamError_LastOperationFailed = variant("StreamError_LastOperationFailed", payload=True)

    def handle(self, request, options):
        self.requests.append((request, options))
        world = self

        class Future(Resource):
            polls = world.pending_polls

            def subscribe(self):
                future = self

                class Pollable(Resource):
                    def block(self):
                        future.polls = 0

                return Pollable()

            def get(self):
                if self.polls:
                    return None
                if world.error is not None:
                    return Ok(Err(world.error))
                return Ok(Ok(world.response()))

        return Future()

    def response(self):
        world = self
        types = self.types

        class Stream(Resource):
            def blocking_read(self, size):
                if world.chunks:
                    return world.chunks.pop(0)
                raise Err(world.end or world.StreamError_Closed())

        class IncomingBody(Resource):
            def stream(self):
                return Stream()

        class IncomingResponse(Resource):
            def status(self):
                return world.status

            def headers(self):
                return types.Fields.from_list(world.headers)

            def consume(self):
                return IncomingBody()

        return IncomingResponse()


class HttpClient(unittest.TestCase):
    def install(self, **response):
        world = World(**response)
        http.install(http.Wasi(handle=world.handle, types=world.types, Err=Err))
        self.addCleanup(http.install, None)
        return world

    def test_a_get_builds_the_request_from_the_url(self):
        world = self.install()
        response = http.fetch("https://api.example.com:8443/rates?currency=EUR&day=1")
        (request, options), = world.requests
        self.assertEqual(type(request.method).__name__, "Method_Get")
        self.assertEqual(type(request.scheme).__name__, "Scheme_Https")
        self.assertEqual(request.authority, "api.example.com:8443")
        self.assertEqual(request.path, "/rates?currency=EUR&day=1")
        self.assertEqual(request.headers.list, [])
        self.assertIsNone(options, "no timeout: the host's")
        self.assertTrue(request.outgoing_body.finished, "an empty body is finished too")
        self.assertEqual((response.status, response.body, response.ok), (200, b"hello", True))

    def test_a_post_sends_its_headers_and_body_in_writes_wasi_io_takes(self):
        world = self.install()
        body = "é" * 5000  # 10000 bytes of UTF-8: three writes
        http.fetch("http://svc/items", method="post", headers={"X-Api-Key": "k", "accept": b"application/json"}, body=body)
        (request, _), = world.requests
        self.assertEqual(type(request.method).__name__, "Method_Post")
        self.assertEqual(type(request.scheme).__name__, "Scheme_Http")
        self.assertEqual(request.path, "/items")
        self.assertEqual(request.headers.list, [("X-Api-Key", b"k"), ("accept", b"application/json")])
        self.assertEqual(request.outgoing_body.written, body.encode("utf-8"))
        self.assertTrue(request.outgoing_body.finished)

    def test_other_methods_and_header_lists_pass_as_they_are(self):
        world = self.install()
        http.fetch("http://svc", method="PROPFIND", headers=[("a", "1"), ("a", "2")])
        (request, _), = world.requests
        self.assertEqual((type(request.method).__name__, request.method.value), ("Method_Other", "PROPFIND"))
        self.assertEqual(request.path, "/")
        self.assertEqual(request.headers.list, [("a", b"1"), ("a", b"2")])

    def test_the_timeout_is_the_first_byte_and_between_bytes_timeouts_in_nanoseconds(self):
        world = self.install()
        http.fetch("http://svc/", timeout=0.25)
        (_, options), = world.requests
        self.assertEqual((options.first_byte, options.between_bytes), (250_000_000, 250_000_000))
        with self.assertRaises(ValueError):
            http.fetch("http://svc/", timeout=-1)

    def test_the_response_is_read_whole_with_its_headers(self):
        headers = [("Content-Type", b"application/json; charset=utf-8"), ("Set-Cookie", b"a=1"), ("set-cookie", b"b=2")]
        self.install(status=201, headers=headers, chunks=[b'{"rate": ', b"1.1", b"}"], pending_polls=3)
        response = http.fetch("http://svc/")
        self.assertEqual(response.status, 201)
        self.assertEqual(response.body, b'{"rate": 1.1}')
        self.assertEqual(response.json(), {"rate": 1.1})
        self.assertEqual(response.text(), '{"rate": 1.1}')
        self.assertEqual(response.headers, {"content-type": "application/json; charset=utf-8", "set-cookie": "a=1, b=2"})
        self.assertEqual(response.header_list[1:], [("Set-Cookie", "a=1"), ("set-cookie", "b=2")])

    def test_text_follows_the_charset(self):
        self.install(headers=[("content-type", b"text/plain; charset=ISO-8859-1")], chunks=[b"caf\xe9"])
        self.assertEqual(http.fetch("http://svc/").text(), "café")
        self.install(chunks=[b"caf\xe9"])
        self.assertEqual(http.fetch("http://svc/").text(), "caf\ufffd")

    def test_a_status_that_is_not_2xx_is_a_response_not_an_error(self):
        self.install(status=404, chunks=[b"missing"])
        response = http.fetch("http://svc/gone")
        self.assertEqual((response.status, response.ok, response.text()), (404, False, "missing"))

    def test_a_refused_host_raises_http_error_with_the_hosts_message(self):
        world = World()
        world.error = world.types.ErrorCode_InternalError(REFUSAL)
        http.install(http.Wasi(handle=world.handle, types=world.types, Err=Err))
        self.addCleanup(http.install, None)
        with self.assertRaises(http.HttpError) as raised:
            http.fetch("https://api.example.com/rates")
        error = raised.exception
        self.assertEqual(str(error), f"GET https://api.example.com/rates: {REFUSAL}")
        self.assertEqual(error.code, "internal-error")
        # Uncaught in an activity: a failure of type HttpError, the code in its details.
        failure = Failure.from_exception(error)
        self.assertEqual(failure.type, "HttpError")
        self.assertEqual(failure.message, f"GET https://api.example.com/rates: {REFUSAL}")
        self.assertEqual(failure.details, {"code": "internal-error", "method": "GET", "url": "https://api.example.com/rates"})
        self.assertFalse(failure.non_retriable)

    def test_error_codes_are_named_as_wasi_http_names_them(self):
        world = World()
        types = world.types
        cases = [
            (types.ErrorCode_ConnectionReadTimeout(), "connection-read-timeout", "connection-read-timeout"),
            (types.ErrorCode_HttpResponseBodySize(16777217), "HTTP-response-body-size", "HTTP-response-body-size (16777217)"),
            (types.ErrorCode_HttpRequestUriInvalid(), "HTTP-request-URI-invalid", "HTTP-request-URI-invalid"),
            (types.ErrorCode_InternalError(None), "internal-error", "internal-error"),
        ]
        for code, name, described in cases:
            self.assertEqual(http.code_name(code), name)
            self.assertEqual(http.describe_code(code), described)

        @dataclass
        class DnsErrorPayload:
            rcode: Optional[str]
            info_code: Optional[int]

        dns = types.ErrorCode_DnsError(DnsErrorPayload("NXDOMAIN", None))
        self.assertEqual(http.describe_code(dns), "DNS-error (rcode=NXDOMAIN)")

    def test_a_body_over_the_cap_fails_the_read_with_its_code(self):
        world = World(chunks=[b"x" * 10])
        cap = world.types.ErrorCode_HttpResponseBodySize(16777217)
        world.end = world.StreamError_LastOperationFailed(FakeError(code=cap))
        http.install(http.Wasi(handle=world.handle, types=world.types, Err=Err))
        self.addCleanup(http.install, None)
        with self.assertRaises(http.HttpError) as raised:
            http.fetch("http://svc/big")
        self.assertEqual(raised.exception.code, "HTTP-response-body-size")
        self.assertEqual(str(raised.exception), "GET http://svc/big: reading the body failed: HTTP-response-body-size (16777217)")

    def test_a_read_that_fails_without_a_code_says_what_the_host_said(self):
        world = World()
        world.end = world.StreamError_LastOperationFailed(FakeError(debug="connection reset"))
        http.install(http.Wasi(handle=world.handle, types=world.types, Err=Err))
        self.addCleanup(http.install, None)
        with self.assertRaises(http.HttpError) as raised:
            http.fetch("http://svc/")
        self.assertEqual(str(raised.exception), "GET http://svc/: reading the body failed: connection reset")

    def test_requests_that_cannot_be_made_are_value_errors_before_anything_is_sent(self):
        world = self.install()
        for url in ("ftp://svc/file", "svc/path", "http:///nohost"):
            with self.assertRaises(ValueError, msg=url):
                http.fetch(url)
        with self.assertRaisesRegex(ValueError, "refuses these headers \\(Host\\): forbidden"):
            http.fetch("http://svc/", headers={"Host": "other"})
        with self.assertRaises(TypeError):
            http.fetch("http://svc/", body={"not": "bytes"})
        self.assertEqual(world.requests, [])

    def test_outside_a_component_fetch_says_where_it_works(self):
        http.install(None)
        with self.assertRaisesRegex(RuntimeError, "activity of a component built by `durable build`"):
            http.fetch("http://svc/")


if __name__ == "__main__":
    unittest.main()
