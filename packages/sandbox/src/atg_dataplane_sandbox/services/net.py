"""Ports and health checks over HTTPS, verified against the sandbox CA."""

from __future__ import annotations

import socket
import ssl
import time
import urllib.error
import urllib.request
from pathlib import Path

HOST = "127.0.0.1"
"""The one host name used everywhere: SAS copies between Azurite accounts fail otherwise."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def https_status(url: str, ca_bundle: Path, timeout: float = 2.0) -> int | None:
    """Status of a GET to ``url``, TLS verified against ``ca_bundle``; None if no answer."""
    context = ssl.create_default_context(cafile=str(ca_bundle))
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, OSError, ssl.SSLError):
        return None


def wait_https(url: str, ca_bundle: Path, timeout: float, alive: object = None) -> bool:
    """Poll ``url`` until it answers over verified TLS (any HTTP status) or ``timeout`` passes.

    ``alive`` (a callable returning bool) stops the wait early when the process died.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if https_status(url, ca_bundle, timeout=1.0) is not None:
            return True
        if callable(alive) and not alive():
            return False
        time.sleep(0.1)
    return False
