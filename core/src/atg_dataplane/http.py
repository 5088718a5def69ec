"""The HTTP session every Azure SDK client of a side shares.

``requests`` reads the whole process environment on every request when it looks
for proxy settings and a CA bundle (``HTTPS_PROXY``, ``NO_PROXY``,
``REQUESTS_CA_BUNDLE``): twice per request, each a walk over every variable. A
run sends thousands of requests to a handful of hosts, and the environment does
not change during a run, so :class:`PooledSession` works those settings out
once per host and reuses them. Proxies and CA bundles from the environment are
honoured exactly as ``requests`` honours them.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

MAX_CACHED_HOSTS = 4096
"""Hosts whose environment settings are remembered (a tenant has one per vault or
account and service); beyond that, settings are worked out per request again."""


class PooledSession(requests.Session):
    """A ``requests.Session`` with a connection pool of ``pool_size`` per host and
    the environment's proxy and CA settings looked up once per host."""

    def __init__(self, pool_size: int = 10) -> None:
        super().__init__()
        adapter = HTTPAdapter(pool_connections=32, pool_maxsize=max(10, pool_size))
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self._environment: dict[tuple[Any, ...], dict[str, Any]] = {}
        self._environment_lock = threading.Lock()

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
