"""The shared transport (:mod:`atg_dataplane.http`) through azure-core's real pipeline.

A small HTTPS server on loopback (its own CA from ``trustme``) answers what each
test needs: JSON, a long body, a body cut short, an echo of what it was sent. The
pipeline is azure-core's own (``PipelineClient`` with its retry, header and
redirect policies), so these tests see what every Azure SDK client sees.
"""

from __future__ import annotations

import gzip
import io
import json
import select
import socket
import socketserver
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import trustme
from atg_dataplane.http import PooledSession, PooledTransport
from azure.core import PipelineClient
from azure.core.exceptions import (
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
    StreamConsumedError,
)
from azure.core.pipeline import Pipeline
from azure.core.pipeline.transport import HttpRequest as LegacyRequest
from azure.core.pipeline.transport import RequestsTransport
from azure.core.rest import HttpRequest

BIG = b"0123456789abcdef" * 65536  # 1 MiB


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, *args: Any) -> None:  # quiet
        pass

    def _answer(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Mixed-Case", "yes")
        self.end_headers()
        self.wfile.write(body)

    def _handle(self) -> None:
        with self.server.lock:
            self.server.connections.add(self.client_address)
            self.server.requests += 1
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        if self.headers.get("Transfer-Encoding") == "chunked":
            body = _read_chunked(self.rfile)
        if self.path == "/big":
            self._answer(200, BIG, "text/plain")
        elif self.path == "/twice":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Bearer authorization_uri="x", claims="abc"')
            self.send_header("WWW-Authenticate", 'PoP nonce="n"')
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/gzip":
            packed = gzip.compress(b'{"packed": true}')
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Encoding", "gzip")
            self.send_header("Content-Length", str(len(packed)))
            self.end_headers()
            self.wfile.write(packed)
        elif self.path == "/cut":
            self.send_response(200)
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 1000)
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
        else:
            echo = {
                "method": self.command,
                "path": self.path,
                "body": body.decode("utf-8", "replace"),
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
            self._answer(200, json.dumps(echo).encode())

    do_GET = do_PUT = do_POST = do_DELETE = _handle


def _read_chunked(stream: Any) -> bytes:
    data = b""
    while True:
        size = int(stream.readline().strip(), 16)
        if not size:
            stream.readline()
            return data
        data += stream.read(size)
        stream.readline()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, context: ssl.SSLContext) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.socket = context.wrap_socket(self.socket, server_side=True)
        self.lock = threading.Lock()
        self.connections: set[tuple[str, int]] = set()
        self.requests = 0

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.server_address[1]}"


@pytest.fixture(scope="module")
def ca() -> Any:
    return trustme.CA()


def _serving(ca: Any) -> Iterator[_Server]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    srv = _Server(context)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def server(ca: Any) -> Iterator[_Server]:
    yield from _serving(ca)


@pytest.fixture
def other(ca: Any) -> Iterator[_Server]:
    """A second host, for the tests that need two."""
    yield from _serving(ca)


@pytest.fixture
def ca_file(ca: Any, tmp_path: Path) -> str:
    path = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)


@pytest.fixture(autouse=True)
def _no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
    for name in ("all_proxy", "NO_PROXY", "no_proxy", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(name, raising=False)


def _client(server: _Server, verify: Any, session: PooledSession | None = None) -> PipelineClient:
    transport = PooledTransport(session or PooledSession(4), connection_verify=verify)
    return PipelineClient(server.url, transport=transport, retry_total=0)


def test_requests_go_straight_through_urllib3(server: _Server, ca_file: str) -> None:
    session = PooledSession(4)
    client = _client(server, ca_file, session)
    response = client.send_request(HttpRequest("PUT", f"{server.url}/put", json={"a": "é"}))
    assert response.status_code == 200
    echo = response.json()
    assert echo["method"] == "PUT"
    assert json.loads(echo["body"]) == {"a": "é"}
    assert echo["headers"]["content-type"] == "application/json"
    assert echo["headers"]["x-ms-client-request-id"]  # azure-core's policies ran
    assert response.headers["x-mixed-case"] == "yes"  # headers are case-insensitive
    assert session._direct, "the direct urllib3 path was not taken"


def test_a_connection_is_reused_after_a_whole_body_was_read(
    server: _Server, ca_file: str
) -> None:
    client = _client(server, ca_file)
    before = set(server.connections)
    for _ in range(3):
        assert client.send_request(HttpRequest("GET", f"{server.url}/big")).content == BIG
    for _ in range(2):
        streamed = client.send_request(HttpRequest("GET", f"{server.url}/big"), stream=True)
        assert b"".join(streamed.iter_bytes()) == BIG
    assert len(server.connections - before) == 1


def test_a_stream_closed_half_read_does_not_poison_the_pool(
    server: _Server, ca_file: str
) -> None:
    client = _client(server, ca_file)
    streamed = client.send_request(HttpRequest("GET", f"{server.url}/big"), stream=True)
    first = next(streamed.iter_raw())
    assert first and len(first) < len(BIG)
    streamed.close()
    # The next request must get its own answer, not the rest of the last body.
    assert client.send_request(HttpRequest("GET", f"{server.url}/echo")).json()["path"] == "/echo"


def test_a_body_cut_short_is_an_incomplete_read(server: _Server, ca_file: str) -> None:
    client = _client(server, ca_file)
    with pytest.raises((IncompleteReadError, ServiceResponseError)):
        client.send_request(HttpRequest("GET", f"{server.url}/cut"))
    streamed = client.send_request(HttpRequest("GET", f"{server.url}/cut"), stream=True)
    with pytest.raises(IncompleteReadError):
        b"".join(streamed.iter_bytes())


def test_a_refused_connection_is_a_service_request_error(ca_file: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    transport = PooledTransport(PooledSession(4), connection_verify=ca_file)
    client = PipelineClient(f"https://127.0.0.1:{port}", transport=transport, retry_total=0)
    with pytest.raises(ServiceRequestError):
        client.send_request(HttpRequest("GET", f"https://127.0.0.1:{port}/"))


def test_tls_is_verified_against_the_ca_requests_would_use(
    server: _Server, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # verify=True: certifi's bundle does not know the test CA, so the handshake fails.
    with pytest.raises(ServiceRequestError, match="CERTIFICATE_VERIFY_FAILED"):
        _client(server, True).send_request(HttpRequest("GET", f"{server.url}/echo"))
    # ... unless REQUESTS_CA_BUNDLE names it, as requests itself honours.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca_file)
    response = _client(server, True).send_request(HttpRequest("GET", f"{server.url}/echo"))
    assert response.status_code == 200


def test_a_file_body_and_legacy_requests_still_work(server: _Server, ca_file: str) -> None:
    client = _client(server, ca_file)
    sent = client.send_request(
        HttpRequest("POST", f"{server.url}/file", content=io.BytesIO(b"from a file"))
    )
    assert sent.json()["body"] == "from a file"
    transport = PooledTransport(PooledSession(4), connection_verify=ca_file)
    legacy = LegacyRequest("POST", f"{server.url}/legacy", data=b"legacy body")
    answer = Pipeline(transport).run(legacy).http_response
    assert json.loads(answer.body())["body"] == "legacy body"
    streamed = Pipeline(transport).run(LegacyRequest("GET", f"{server.url}/big"), stream=True)
    assert b"".join(streamed.http_response.stream_download(None)) == BIG


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """A minimal HTTPS (CONNECT) proxy that remembers where it was asked to go."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        self.tunnels: list[str] = []


class _ProxyHandler(socketserver.BaseRequestHandler):
    server: _ConnectProxy

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(4096)
            if not chunk:
                return
            head += chunk
        target = head.split(b" ", 2)[1].decode()
        self.server.tunnels.append(target)
        host, port = target.rsplit(":", 1)
        upstream = socket.create_connection((host, int(port)))
        self.request.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
        sockets = [self.request, upstream]
        with upstream:
            while True:
                ready, _, _ = select.select(sockets, [], [], 5)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.request else self.request).sendall(data)


def test_a_proxy_from_the_environment_is_used(
    server: _Server, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = _ConnectProxy()
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("HTTPS_PROXY", f"http://127.0.0.1:{proxy.server_address[1]}")
        session = PooledSession(4)
        response = _client(server, ca_file, session).send_request(
            HttpRequest("GET", f"{server.url}/via-proxy")
        )
        assert response.json()["path"] == "/via-proxy"
        assert proxy.tunnels == [f"127.0.0.1:{server.server_address[1]}"]
        assert not session._direct  # the proxied request went through requests
    finally:
        proxy.shutdown()
        proxy.server_close()


def _both(ca_file: str) -> dict[str, Any]:
    """The same pipeline over azure-core's own requests transport and over ours."""
    return {
        "requests": RequestsTransport(connection_verify=ca_file),
        "direct": PooledTransport(PooledSession(4), connection_verify=ca_file),
    }


def _outcome(server: _Server, transport: Any, method: str, path: str, **kw: Any) -> Any:
    client = PipelineClient(server.url, transport=transport, retry_total=0)
    try:
        response = client.send_request(HttpRequest(method, f"{server.url}{path}", **kw))
    except Exception as exc:  # the error type is part of what must match
        return type(exc).__name__
    body = response.content
    echo = json.loads(body) if path == "/echo" else None
    sent = (echo or {}).get("headers", {})
    return {
        "status": response.status_code,
        "body": body if echo is None else None,
        "www-authenticate": response.headers.get("WWW-Authenticate"),
        "sent": {k: sent.get(k) for k in ("content-length", "accept", "accept-encoding")},
    }


@pytest.mark.parametrize(
    ("method", "path", "kw"),
    [
        ("GET", "/echo", {}),
        ("DELETE", "/echo", {}),  # requests sends Content-Length: 0 on a body-less write
        ("PUT", "/echo", {"content": b"x" * 10}),
        ("GET", "/twice", {}),  # two WWW-Authenticate lines are joined
        ("GET", "/gzip", {}),  # a compressed body is decoded
        ("GET", "/cut", {}),  # the same error
        ("GET", "/echo", {"headers": {"X-Count": 5}}),  # requests refuses it: the same error
    ],
)
def test_the_direct_path_answers_as_requests_does(
    server: _Server, ca_file: str, method: str, path: str, kw: dict[str, Any]
) -> None:
    answers = {
        name: _outcome(server, transport, method, path, **kw)
        for name, transport in _both(ca_file).items()
    }
    assert answers["direct"] == answers["requests"]


def test_a_consumed_stream_cannot_be_read_again(server: _Server, ca_file: str) -> None:
    client = _client(server, ca_file)
    streamed = client.send_request(HttpRequest("GET", f"{server.url}/big"), stream=True)
    assert b"".join(streamed.iter_bytes()) == BIG
    with pytest.raises(StreamConsumedError):
        streamed.read()


def _pooled_ports(session: PooledSession) -> set[int]:
    pools = [manager.pools.keys() for manager in session._direct.values()]
    return {key.key_port for keys in pools for key in keys}


def test_a_settled_resources_own_hosts_are_closed(
    server: _Server, other: _Server, ca_file: str
) -> None:
    """Every vault and account is a host of its own, and a run moves on from each for good:
    their kept TLS connections reached 1,950 sockets at 100x the large scenario. Once a
    resource settles, the hosts that only it used are closed; a host several resources
    used (ARM, sign-in) stays open, and requests of no one resource (an SDK's poller
    thread) do not count."""
    from atg_dataplane.http import RESOURCE

    shared, own = server.server_address[1], other.server_address[1]

    def get(resource: str | None, url: str) -> None:
        token = RESOURCE.set(resource)
        try:
            assert client.send_request(HttpRequest("GET", f"{url}/echo")).status_code == 200
        finally:
            RESOURCE.reset(token)

    session = PooledSession(4)
    client = _client(server, ca_file, session)
    get("vault-1", server.url)
    get("vault-2", other.url)
    get("vault-2", server.url)  # the first host is now shared
    get(None, other.url)
    assert _pooled_ports(session) == {shared, own}
    assert session.settled("vault-1") == 0
    assert session.settled("vault-2") == 1
    assert _pooled_ports(session) == {shared}
    before = set(other.connections)
    get("vault-3", other.url)
    assert len(other.connections - before) == 1  # opened again when needed
    assert session.settled("vault-3") == 1
    assert _pooled_ports(session) == {shared}


def test_the_ca_bundle_is_read_once_for_every_connection(
    server: _Server, other: _Server, ca_file: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Given a bundle, urllib3 made a TLS context per new connection and parsed the bundle
    into it: with certifi's, tens of milliseconds and about a megabyte per connection.
    One context now serves every connection, and still checks the host name."""
    loads: list[Any] = []
    original = ssl.SSLContext.load_verify_locations

    def counting(self: ssl.SSLContext, *args: Any, **kwargs: Any) -> None:
        loads.append(args or kwargs)
        original(self, *args, **kwargs)

    monkeypatch.setattr(ssl.SSLContext, "load_verify_locations", counting)
    session = PooledSession(4)
    client = _client(server, ca_file, session)
    before = len(server.connections) + len(other.connections)
    for url in (server.url, other.url):
        streams = [  # held open at once: three connections to each host
            client.send_request(HttpRequest("GET", f"{url}/big"), stream=True)
            for _ in range(3)
        ]
        for streamed in streams:
            assert b"".join(streamed.iter_bytes()) == BIG
    assert len(server.connections) + len(other.connections) - before == 6
    assert len(loads) == 1
    # the host name is still checked: the certificate names 127.0.0.1, not localhost
    port = server.server_address[1]
    with pytest.raises(ServiceRequestError, match=r"(?i)hostname mismatch"):
        client.send_request(HttpRequest("GET", f"https://localhost:{port}/echo"))


def test_an_empty_client_certificate_pair_is_no_certificate(server: _Server, ca_file: str) -> None:
    """azure-cosmos sends ``connection_cert=(None, None)`` when it has no client certificate."""
    transport = PooledTransport(PooledSession(4), connection_verify=ca_file)
    client = PipelineClient(server.url, transport=transport, retry_total=0)
    request = HttpRequest("GET", f"{server.url}/echo")
    assert client.send_request(request, connection_cert=(None, None)).status_code == 200
