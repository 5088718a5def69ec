"""Ports and health checks over HTTPS, verified against the sandbox CA."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path

HOST = "127.0.0.1"
"""The one host name used everywhere: SAS copies between Azurite accounts fail otherwise."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


Expect = Callable[[int, Mapping[str, str]], bool]


def probe(
    url: str, ca_bundle: Path, timeout: float = 2.0, headers: Mapping[str, str] | None = None
) -> tuple[int, dict[str, str]] | None:
    """Status and headers of a GET to ``url`` (sending ``headers``), TLS verified against
    ``ca_bundle``; None if no answer."""
    context = ssl.create_default_context(cafile=str(ca_bundle))
    request = urllib.request.Request(url, headers=dict(headers or {}))
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return int(response.status), {k.lower(): v for k, v in response.headers.items()}
    except urllib.error.HTTPError as error:
        return int(error.code), {k.lower(): v for k, v in error.headers.items()}
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return None


def https_status(url: str, ca_bundle: Path, timeout: float = 2.0) -> int | None:
    """Status of a GET to ``url``, TLS verified against ``ca_bundle``; None if no answer."""
    answer = probe(url, ca_bundle, timeout)
    return None if answer is None else answer[0]


def answers(
    url: str,
    ca_bundle: Path,
    expect: Expect | None = None,
    timeout: float = 2.0,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """True if ``url`` answers over verified TLS and the answer passes ``expect``."""
    answer = probe(url, ca_bundle, timeout, headers)
    return answer is not None and (expect is None or expect(*answer))


def wait_https(
    url: str,
    ca_bundle: Path,
    timeout: float,
    alive: Callable[[], bool] | None = None,
    expect: Expect | None = None,
    headers: Mapping[str, str] | None = None,
) -> bool:
    """Poll ``url`` until it answers over verified TLS (and passes ``expect``) or time runs out.

    ``alive`` stops the wait early when the process died. ``expect`` (status, lower-cased
    headers) tells our server from another that took the port meanwhile. ``headers`` go
    with every request (an upstream's credentials).
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if answers(url, ca_bundle, expect, timeout=1.0, headers=headers):
            return True
        if alive is not None and not alive():
            return False
        time.sleep(0.1)
    return False
