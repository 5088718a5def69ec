"""Where things live: the sandbox directory and the emulator cache directory."""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Callable
from pathlib import Path

CACHE_ENV = "ATG_DATAPLANE_SANDBOX_CACHE"


def cache_dir() -> Path:
    """The directory npm installs the emulators into (``$ATG_DATAPLANE_SANDBOX_CACHE``)."""
    override = os.environ.get(CACHE_ENV)
    if override:
        return Path(override).expanduser()
    return Path.home() / ".cache" / "atg-dataplane" / "sandbox"


class SandboxLayout:
    """Paths inside one sandbox directory (see CONTRACT.md, "Sandbox directory layout")."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().resolve()

    @property
    def pids(self) -> Path:
        return self.root / "pids"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def secrets(self) -> Path:
        return self.root / "secrets"

    @property
    def ca(self) -> Path:
        return self.root / "ca.pem"

    @property
    def server_cert(self) -> Path:
        return self.root / "server.pem"

    @property
    def server_key(self) -> Path:
        return self.root / "server.key"

    @property
    def services_json(self) -> Path:
        return self.root / "services.json"

    @property
    def emulator_json(self) -> Path:
        return self.root / "emulator.json"

    @property
    def config_json(self) -> Path:
        return self.root / "config.json"

    @property
    def topology_json(self) -> Path:
        return self.root / "topology.json"

    def pid_file(self, name: str) -> Path:
        return self.pids / f"{name}.pid"

    def log_file(self, name: str) -> Path:
        return self.logs / f"{name}.log"

    def make_dirs(self) -> None:
        for path in (self.root, self.pids, self.logs):
            path.mkdir(parents=True, exist_ok=True)
        self.secrets.mkdir(parents=True, exist_ok=True, mode=0o700)


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file only the owner can read (0600), creating parents (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


def _random_key() -> str:
    return base64.b64encode(secrets.token_bytes(64)).decode("ascii")


def stored_secret(path: Path, generate: Callable[[], str] = _random_key) -> str:
    """Read a secret file, or create it with a fresh value of ``generate`` (by default
    64 random bytes in base64, the shape of an account key)."""
    if path.is_file():
        return path.read_text(encoding="utf-8").strip()
    value = generate()
    write_private(path, value)
    return value
