"""The secrets that only the emulator's fronts know and send to the raw upstreams.

Azure authenticates every request, so no port of the sandbox may take one without
credentials: the Cosmos DB server and the OCI registry listen on 127.0.0.1 where anyone on
the machine can reach them, so they demand a per-sandbox secret that only our fronts send
(the Cosmos DB proxies a header, the ACR front HTTP Basic auth). Each secret is generated
once per sandbox directory into ``secrets/upstream/`` (0600) and kept across restarts, so
an emulator that outlives an upstream's restart keeps working.
"""

from __future__ import annotations

import base64
import secrets
from pathlib import Path

import bcrypt

from atg_dataplane_sandbox.services.layout import SandboxLayout, stored_secret, write_private

COSMOS_HEADER = "x-sandbox-upstream"
"""The header that carries the Cosmos DB server's secret; our proxies drop a client's own."""
REGISTRY_USER = "atg-sandbox"
"""The one user of the registry's htpasswd file."""


def _path(root: Path, name: str) -> Path:
    return SandboxLayout(root).secrets / "upstream" / name


def _secret(root: Path, name: str) -> str:
    # Hex, 64 characters: fits bcrypt's 72-byte limit and any header.
    return stored_secret(_path(root, name), generate=lambda: secrets.token_hex(32))


def cosmos_secret(root: Path) -> str:
    """The ``COSMOS_HEADER`` value the Cosmos DB server requires (``secrets/upstream/cosmos``)."""
    return _secret(root, "cosmos")


def cosmos_secret_file(root: Path) -> Path:
    """The file holding :func:`cosmos_secret` (made if missing): what the server reads."""
    cosmos_secret(root)
    return _path(root, "cosmos")


def registry_credentials(root: Path) -> tuple[str, str]:
    """User and password of the registry's Basic auth (``secrets/upstream/registry``)."""
    return REGISTRY_USER, _secret(root, "registry")


def registry_authorization(root: Path) -> str:
    """The ``Authorization`` header value (Basic) of :func:`registry_credentials`."""
    user, password = registry_credentials(root)
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")


def write_htpasswd(root: Path, path: Path) -> None:
    """The registry's htpasswd file (bcrypt, as distribution requires) for
    :func:`registry_credentials`; 0600, though it holds only a hash."""
    user, password = registry_credentials(root)
    # The registry checks the hash on every request (about 60 ms at bcrypt's default cost);
    # the cheapest cost is safe here, as the password is 256 random bits, not a guessable one.
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    write_private(path, f"{user}:{hashed}\n")
