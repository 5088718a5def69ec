"""The HTTP session and transport every Azure SDK client of a side shares.

``requests`` reads the whole process environment on every request when it looks
for proxy settings and a CA bundle (``HTTPS_PROXY``, ``NO_PROXY``,
``REQUESTS_CA_BUNDLE``): twice per request, each a walk over every variable. A
run sends thousands of requests to a handful of hosts, and the environment does
not change during a run, so :class:`PooledSession` works those settings out
once per host and reuses them. Proxies and CA bundles from the environment are
honoured exactly as ``requests`` honours them.

:class:`PooledTransport` is the azure-core transport built on that session. Most
requests carry a small body in memory and go to a host that no proxy stands in
front of: those it sends straight through urllib3 (which ``requests`` itself sits
on), skipping what ``requests`` adds per request and an Azure SDK never uses
(cookie jars, ``.netrc`` look-ups, CA bundle ``stat`` calls, hooks, header and
setting merges): about a quarter of an SDK call's CPU (0.3 ms of 1.3 ms for a Key
Vault read on the machine this was measured on). Anything else (a proxy, a file or
generator body, multipart form files) goes through ``requests`` exactly as before.
TLS verification is the same on both paths: the CA bundle ``requests`` would use
(``connection_verify``, else ``REQUESTS_CA_BUNDLE`` / ``CURL_CA_BUNDLE``, else
certifi's), checked against the host name.
"""

from __future__ import annotations

import os
import ssl
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from azure.core.exceptions import (
    AzureError,
    DecodeError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceRequestTimeoutError,
    ServiceResponseError,
    ServiceResponseTimeoutError,
)
from azure.core.pipeline._tools import is_rest
from azure.core.pipeline.transport import HttpResponse as LegacyHttpResponse
from azure.core.pipeline.transport import RequestsTransport
from azure.core.pipeline.transport._base import _HttpResponseBase
from azure.core.rest._http_response_impl import HttpResponseImpl
from azure.core.utils import case_insensitive_dict
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.exceptions import (
    ConnectTimeoutError,
    NewConnectionError,
    ProtocolError,
    ReadTimeoutError,
)
from urllib3.exceptions import DecodeError as Urllib3DecodeError
from urllib3.util.ssl_ import create_urllib3_context

MAX_CACHED_HOSTS = 4096
"""Hosts whose environment settings are remembered (a tenant has one per vault or
account and service); beyond that, settings are worked out per request again."""
HOST_POOLS = 256
"""Hosts whose connections are kept open at once: every vault and storage account is a
host of its own, and a run works on dozens of resources on each side at a time (a
smaller number would close and reopen TLS connections as the run moves between them)."""
RESOURCE: ContextVar[str | None] = ContextVar("atg_dataplane_resource", default=None)
"""The resource (its source id) whose work the calling thread does: the engine sets it
around a resource's discovery and each of its items, and :func:`atg_dataplane.read_ahead`
carries it into its threads. Requests in other threads (an SDK's poller, the permission
check) are not counted: a host is closed when the one resource that used it settles."""
_DEFAULT_PORTS = {"https": 443, "http": 80}
_SHARED = object()
"""The owner of a host that several resources sent requests to."""


class PooledSession(requests.Session):
    """A ``requests.Session`` with a connection pool of ``pool_size`` per host and
    the environment's proxy and CA settings looked up once per host."""

    def __init__(self, pool_size: int = 10) -> None:
        super().__init__()
        self.pool_size = max(10, pool_size)
        adapter = self._adapter = HTTPAdapter(
            pool_connections=HOST_POOLS, pool_maxsize=self.pool_size
        )
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._environment_lock = threading.Lock()
        self._direct: dict[tuple[Any, ...], urllib3.PoolManager] = {}
        self._owner: dict[str, object] = {}
        """``scheme://netloc`` -> the one resource that sent it requests, or ``_SHARED``."""
        self._hosts_of: dict[str, set[str]] = {}
        """Resource -> the ``scheme://netloc`` that it alone sent requests to."""

    def touch(self, url: str) -> None:
        """Note which resource (:data:`RESOURCE`) sends a request to ``url``'s host."""
        resource = RESOURCE.get()
        if resource is None:
            return
        end = url.find("/", url.find("//") + 2)
        origin = url if end < 0 else url[:end]
        owner = self._owner.get(origin)
        if owner == resource or owner is _SHARED:
            return
        with self._environment_lock:
            owner = self._owner.get(origin)
            if owner is None:
                self._owner[origin] = resource
                self._hosts_of.setdefault(resource, set()).add(origin)
            elif owner != resource and owner is not _SHARED:
                self._owner[origin] = _SHARED  # ARM, sign-in, a service's shared front
                self._hosts_of.get(str(owner), set()).discard(origin)

    def settled(self, resource: str) -> int:
        """``resource`` sends no more requests: close the connections to the hosts that
        only it used; the number of pools closed.

        Every vault and storage account is a host of its own, and the run moves on from
        each for good once its items are settled: at 100x the large scenario their kept
        pools reached 1,950 TLS sockets. A host that several resources use (ARM, sign-in)
        stays open. A request in flight finishes on its connection, which is then closed."""
        with self._environment_lock:
            idle = [o for o in self._hosts_of.pop(resource, ()) if self._owner.get(o) == resource]
            for origin in idle:
                del self._owner[origin]
            managers = [*self._direct.values(), self._adapter.poolmanager]
        hosts: set[tuple[str | None, int | None]] = set()
        for origin in idle:
            parts = urlsplit(origin)
            hosts.add((parts.hostname, parts.port or _DEFAULT_PORTS.get(parts.scheme)))
        closed = 0
        for manager in managers if hosts else ():
            for key in manager.pools.keys():  # noqa: SIM118 (it cannot be iterated)
                if (key.key_host, key.key_port) in hosts:
                    try:
                        del manager.pools[key]  # closes the pool's idle connections
                        closed += 1
                    except KeyError:  # closed meanwhile
                        pass
        return closed

    def direct_pool(self, url: str, verify: Any, cert: Any) -> urllib3.PoolManager | None:
        """The urllib3 pool manager for ``url`` with ``verify`` and ``cert`` resolved as
        ``requests`` resolves them, or None when a proxy applies to ``url``."""
        settings = self.merge_environment_settings(url, {}, None, verify, cert)
        if select_proxy(url, settings["proxies"] or {}):
            return None
        verify, cert = settings["verify"], settings["cert"]
        if not isinstance(verify, bool | str):  # e.g. a Path: leave it to requests
            return None
        key = (verify, cert if not isinstance(cert, list) else tuple(cert))
        try:
            pool = self._direct.get(key)
        except TypeError:  # an unusual verify or cert: leave it to requests
            return None
        if pool is None:
            with self._environment_lock:
                pool = self._direct.get(key)
                if pool is None:
                    pool = self._direct[key] = _pool_manager(self.pool_size, verify, cert)
        return pool

    def close(self) -> None:
        super().close()
        with self._environment_lock:
            pools, self._direct = list(self._direct.values()), {}
        for pool in pools:
            pool.clear()

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> dict[str, Any]:
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        try:
            key = (
                parts.scheme,
                parts.netloc,
                tuple(sorted((proxies or {}).items())),
                stream,
                verify,
                cert if not isinstance(cert, list) else tuple(cert),
            )
            hash(key)
        except TypeError:  # an unusual argument: no caching
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            with self._environment_lock:
                if len(self._environment) < MAX_CACHED_HOSTS:
                    self._environment[key] = settings
        # A copy: the caller may change the proxies it is handed.
        proxies = settings["proxies"]
        return {**settings, "proxies": dict(proxies) if proxies is not None else None}


def _pool_manager(pool_size: int, verify: Any, cert: Any) -> urllib3.PoolManager:
    """Connection pools checking TLS as ``requests`` does for the same ``verify``/``cert``,
    with one TLS context for all of them.

    Given a CA bundle, urllib3 builds a context for every new connection and parses the
    bundle into it: with certifi's (about 140 certificates) tens of milliseconds of CPU
    per connection, and about a megabyte that each open connection keeps. Here the bundle
    is read once."""
    context = create_urllib3_context(cert_reqs=ssl.CERT_NONE if verify is False else None)
    if verify is not False:
        bundle = verify if isinstance(verify, str) else requests.utils.DEFAULT_CA_BUNDLE_PATH
        if os.path.isdir(bundle):
            context.load_verify_locations(capath=bundle)
        else:
            context.load_verify_locations(cafile=bundle)
    # a path, or (certificate, key), either of which may be None (azure-cosmos sends
    # (None, None) when it has none), as requests hands them to urllib3
    certfile, keyfile = (cert, None) if isinstance(cert, str) else (cert or (None, None))
    if certfile:
        context.load_cert_chain(certfile, keyfile)
    return urllib3.PoolManager(
        num_pools=HOST_POOLS, maxsize=pool_size, block=False, ssl_context=context
    )


_SIMPLE_BODY = (bytes, bytearray, memoryview, str, type(None))
_NO_BODY_LENGTH = ("GET", "HEAD")
"""Methods that ``requests`` sends without ``Content-Length: 0`` when they have no body."""


class PooledTransport(RequestsTransport):
    """azure-core's requests transport, with the common case sent straight through urllib3
    (see the module's docstring). Thread-safe; share one :class:`PooledSession` per side.

    The direct path sends what ``requests`` would (its default headers under the request's
    own, ``Content-Length: 0`` for a body-less write) and raises the azure-core errors that
    ``RequestsTransport`` raises for the same failure, so the retry policy and the SDKs'
    error handling cannot tell the two paths apart."""

    def __init__(self, session: PooledSession, **kwargs: Any) -> None:
        super().__init__(session=session, session_owner=False, **kwargs)
        self.pooled = session

    def send(self, request: Any, *, proxies: Any = None, **kwargs: Any) -> Any:
        self.pooled.touch(request.url)
        body = request.data
        direct = None
        if (
            not proxies
            and not request.files
            and isinstance(body, _SIMPLE_BODY)
            and not isinstance(kwargs.get("connection_timeout"), tuple)
            # requests refuses other header values: leave that answer to it
            and all(isinstance(v, str | bytes | None) for v in request.headers.values())
        ):
            verify = kwargs.get("connection_verify", self.connection_config.verify)
            cert = kwargs.get("connection_cert", self.connection_config.cert)
            direct = self.pooled.direct_pool(request.url, verify, cert)
        if direct is None:
            return super().send(request, proxies=proxies, **kwargs)
        return self._send_direct(direct, request, body, **kwargs)

    def _send_direct(
        self, pool: urllib3.PoolManager, request: Any, body: Any, **kwargs: Any
    ) -> Any:
        stream = bool(kwargs.get("stream"))
        timeout = urllib3.Timeout(
            connect=kwargs.get("connection_timeout", self.connection_config.timeout),
            read=kwargs.get("read_timeout", self.connection_config.read_timeout),
        )
        if isinstance(body, str):
            body = body.encode("utf-8")
        given = request.headers
        headers = {k: v for k, v in self.pooled.headers.items() if k not in given}
        headers.update((k, v) for k, v in given.items() if v is not None)
        if body is None and request.method not in _NO_BODY_LENGTH and "Content-Length" not in given:
            headers["Content-Length"] = "0"
        try:
            raw = pool.urlopen(
                request.method,
                request.url,
                body=body,
                headers=headers,
                redirect=False,
                retries=False,
                assert_same_host=False,
                timeout=timeout,
                preload_content=False,
                decode_content=False,
                enforce_content_length=True,
            )
        except Exception as exc:
            raise _send_error(exc) from exc
        block_size = self.connection_config.data_block_size
        if is_rest(request):
            response: Any = _RestResponse(
                request=request, internal_response=raw, block_size=block_size, streamed=stream
            )
            if not stream:
                try:
                    response.read()
                finally:
                    response.close()
            return response
        legacy = _LegacyResponse(request, raw, block_size)
        if not stream:
            legacy.body()
        return legacy


def _send_error(exc: BaseException) -> BaseException:
    """What ``RequestsTransport.send`` raises when sending, or waiting for the answer's
    head, fails this way."""
    if isinstance(exc, NewConnectionError):
        return ServiceRequestError(exc, error=exc)
    if isinstance(exc, ConnectTimeoutError):
        return ServiceRequestTimeoutError(exc, error=exc)
    if isinstance(exc, ReadTimeoutError):
        return ServiceResponseTimeoutError(exc, error=exc)
    if isinstance(exc, ProtocolError):  # the connection broke after the request went out
        return ServiceResponseError(exc, error=exc)
    if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
        return ServiceRequestError(exc, error=exc)
    return exc


def _read_error(exc: BaseException, *, stream: bool, decompress: bool) -> BaseException:
    """What azure-core's requests transport raises when reading a body fails this way: while
    the transport reads the whole body (``stream`` False), or through its stream download
    generator (``requests``' ``iter_content`` when decompressing, the raw stream when not)."""
    kind: type[AzureError]
    if stream and not decompress:
        if isinstance(exc, Urllib3DecodeError):
            kind = DecodeError
        elif isinstance(exc, ReadTimeoutError):
            kind = ServiceResponseTimeoutError
        else:
            kind = ServiceResponseError
    elif isinstance(exc, ProtocolError):  # requests' ChunkedEncodingError
        kind = IncompleteReadError if "IncompleteRead" in str(exc) else HttpResponseError
    elif isinstance(exc, Urllib3DecodeError):  # requests' ContentDecodingError
        kind = DecodeError if stream else ServiceResponseError
    elif isinstance(exc, ReadTimeoutError | urllib3.exceptions.SSLError):  # its ConnectionError
        if not stream:
            kind = ServiceRequestError
        elif isinstance(exc, ReadTimeoutError):
            kind = ServiceResponseTimeoutError
        else:
            kind = ServiceResponseError
    else:
        kind = ServiceResponseError
    return kind(exc, error=exc)


def _chunks(raw: Any, block_size: int, *, stream: bool, decompress: bool) -> Iterator[bytes]:
    try:
        yield from raw.stream(block_size, decode_content=decompress)
    except Exception as exc:
        raw.close()
        raise _read_error(exc, stream=stream, decompress=decompress) from exc


def _release(raw: Any) -> None:
    """Give the connection back to the pool, or drop it when the body was not read to its
    end (the next request would read the rest as its answer)."""
    if not raw.closed:
        raw.close()
    raw.release_conn()


class _StreamDownload:
    """azure-core's stream download generator contract over a urllib3 response."""

    def __init__(self, pipeline: Any, response: Any, **kwargs: Any) -> None:
        self.pipeline = pipeline
        self.request = response.request
        self.response = response
        decompress = kwargs.pop("decompress", True)
        if kwargs:
            raise TypeError(f"Got an unexpected keyword argument: {next(iter(kwargs))}")
        block = getattr(response, "block_size", None) or getattr(response, "_block_size", None)
        self._chunks = _chunks(
            response.internal_response, block or 4096, stream=True, decompress=decompress
        )
        self.content_length = int(response.headers.get("Content-Length", 0))

    def __len__(self) -> int:
        return self.content_length

    def __iter__(self) -> _StreamDownload:
        return self

    def __next__(self) -> bytes:
        try:
            chunk = next(self._chunks)
        except StopIteration:
            _release(self.response.internal_response)
            raise
        if not chunk:
            _release(self.response.internal_response)
            raise StopIteration
        return chunk


def _headers(raw: Any) -> Any:
    # One entry per name, repeated headers joined with ", " as requests joins them (a 401
    # may carry a Bearer and a PoP challenge in two WWW-Authenticate lines).
    return case_insensitive_dict((name, raw.headers[name]) for name in raw.headers)


class _RestResponse(HttpResponseImpl):
    def __init__(self, *, streamed: bool, **kwargs: Any) -> None:
        raw = kwargs["internal_response"]
        headers = _headers(raw)
        super().__init__(
            status_code=raw.status,
            headers=headers,
            reason=raw.reason,
            content_type=headers.get("content-type"),
            stream_download_generator=_StreamDownload,
            **kwargs,
        )
        self._streamed = streamed

    def close(self) -> None:
        if not self.is_closed:
            self._is_closed = True
            _release(self._internal_response)

    def read(self) -> bytes:
        if self._content is None:
            self._stream_download_check()  # consumed or closed: azure-core's own errors
            raw = self._internal_response
            self._content = b"".join(_chunks(raw, 65536, stream=self._streamed, decompress=True))
        self._set_read_checks()
        return self._content

    def _body(self) -> bytes:  # the backcompat ``body()``
        return self.read() if self._content is None else self._content


class _LegacyResponse(LegacyHttpResponse, _HttpResponseBase):
    def __init__(self, request: Any, raw: Any, block_size: int | None) -> None:
        super().__init__(request, raw, block_size=block_size)
        self.status_code = raw.status
        self.headers = _headers(raw)
        self.reason = raw.reason
        self.content_type = self.headers.get("content-type")
        self._content: bytes | None = None

    def body(self) -> bytes:
        if self._content is None:
            raw = self.internal_response
            self._content = b"".join(_chunks(raw, 65536, stream=False, decompress=True))
            _release(raw)
        return self._content

    def stream_download(self, pipeline: Any, **kwargs: Any) -> Iterator[bytes]:
        return _StreamDownload(pipeline, self, **kwargs)
