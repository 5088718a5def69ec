"""The OCI registry behind the emulated ACR: Debian's ``docker-registry`` (distribution 2.8).

It answers only HTTP Basic auth with the sandbox's upstream credentials
(:mod:`.upstream_auth`, htpasswd with bcrypt), which only the ACR front, its importer and
the seeder send: clients reach it through the ACR front, which checks ACR tokens.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from atg_dataplane_sandbox.services import install, net, process, upstream_auth
from atg_dataplane_sandbox.services.layout import SandboxLayout, write_private

NAME = "registry"


def htpasswd_file(layout: SandboxLayout) -> Path:
    return layout.root / "registry-htpasswd"


def config(layout: SandboxLayout, port: int) -> dict[str, Any]:
    """The registry configuration (JSON is valid YAML, which the registry reads)."""
    return {
        "auth": {
            "htpasswd": {"realm": "atg-sandbox-registry", "path": str(htpasswd_file(layout))}
        },
        "version": "0.1",
        "log": {"level": "info", "fields": {"service": "registry"}},
        "storage": {
            "filesystem": {"rootdirectory": str(layout.root / "registry")},
            "delete": {"enabled": True},
            # No blob descriptor cache: a blob lost from storage must read as lost (a
            # cached descriptor would let a mount or HEAD claim it is still there).
        },
        "http": {
            "addr": f"{net.HOST}:{port}",
            # Behind the ACR front, Location headers must not name this host:port.
            "relativeurls": True,
            "secret": secrets.token_hex(32),
            "tls": {"certificate": str(layout.server_cert), "key": str(layout.server_key)},
            "headers": {"X-Content-Type-Options": ["nosniff"]},
        },
    }


def start(layout: SandboxLayout) -> dict[str, Any]:
    binary = install.registry_binary()
    if binary is None:
        raise RuntimeError(f"docker-registry is not installed: {install.apt_install_command()}")
    port = net.free_port()
    (layout.root / "registry").mkdir(parents=True, exist_ok=True)
    upstream_auth.write_htpasswd(layout.root, htpasswd_file(layout))
    config_file = layout.root / "registry-config.yml"
    # 0600: the file holds the registry's upload-state secret.
    write_private(config_file, json.dumps(config(layout, port), indent=2))
    process.start(layout, NAME, [binary, "serve", str(config_file)])
    return {"upstream": f"https://{net.HOST}:{port}"}


def _credentials(layout: SandboxLayout) -> dict[str, str]:
    return {"Authorization": upstream_auth.registry_authorization(layout.root)}


def wait_healthy(layout: SandboxLayout, info: dict[str, Any], timeout: float) -> bool:
    alive = lambda: process.running_pid(layout, NAME) is not None  # noqa: E731
    return net.wait_https(info["upstream"] + "/v2/", layout.ca, timeout, alive, _is_registry,
                          _credentials(layout))


def _is_registry(status: int, headers: Mapping[str, str]) -> bool:
    # 200 only with the credentials: a 401 would mean the registry took another htpasswd.
    return status == 200 and "docker-distribution-api-version" in headers


def healthy(layout: SandboxLayout, info: dict[str, Any]) -> bool:
    return process.running_pid(layout, NAME) is not None and net.answers(
        info["upstream"] + "/v2/", layout.ca, _is_registry, headers=_credentials(layout))
