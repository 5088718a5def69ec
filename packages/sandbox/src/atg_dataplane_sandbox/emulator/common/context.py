"""The running emulator's shared state: topology, store, token issuer, faults, the listener
primitives and every service's URLs. Services reach it as ``request.app[EMU]``; which
services listen, and how they are wired, is :mod:`atg_dataplane_sandbox.emulator.host`'s."""

from __future__ import annotations

import asyncio
import asyncio.base_events
import json
import os
import random
import secrets
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from aiohttp import web

from atg_dataplane_sandbox.certs import ensure_certs
from atg_dataplane_sandbox.emulator.common.faults import FaultSpec, parse_spec
from atg_dataplane_sandbox.emulator.common.store import Store
from atg_dataplane_sandbox.emulator.common.tokens import TokenIssuer
from atg_dataplane_sandbox.topology import Topology, ensure_topology

T = TypeVar("T")

STATE_DIR = "emulator-state"
EMULATOR_JSON = "emulator.json"
ADMIN_SECRET_FILE = "secrets/emulator-admin"
ADMIN_HEADER = "X-Sandbox-Admin-Key"


@dataclass(frozen=True)
class EmulatorOptions:
    host: str = "127.0.0.1"
    entra_port: int = 0
    arm_port: int = 0
    arm_page_size: int = 5
    """Small, so that every ARM client is seen to follow ``nextLink``."""
    keyvault_page_size: int = 25
    """Key Vault's own default (and largest) ``maxresults``; a client asks for fewer."""
    lro_retry_after: int = 1
    """Seconds in ``Retry-After`` of ARM long-running operations (the mgmt SDKs parse it as
    an int; 0 makes them fall back to their ``polling_interval``, 30 s by default)."""
    token_lifetime: int = 3600
    persist: bool = True
    fault_seed: int | None = None
    """Seed of the fault dice, for reproducible fault sequences in tests."""
    write_emulator_json: bool = True


class Emulator:
    """One running emulator (see module docstring); handlers reach it as ``request.app[EMU]``."""

    def __init__(self, directory: Path, faults: str | None, options: EmulatorOptions) -> None:
        self.directory = directory
        self.options = options
        self.certs = ensure_certs(directory)
        self.topology: Topology = ensure_topology(directory)
        state_dir = directory / STATE_DIR
        self.state_dir: Path | None = state_dir if options.persist else None
        """Where services keep what must survive a restart (None: nothing persists)."""
        self.store = Store(self.state_dir)
        self.issuer = TokenIssuer(state_dir / "signing-key.pem", options.token_lifetime)
        self.faults: FaultSpec = parse_spec(faults)
        self.fault_counts: dict[str, dict[str, int]] = {}
        """Injected faults so far, per service and kind (``429``, ``500``, ``503``, ``drop``)."""
        self.rng = random.Random(options.fault_seed)
        self.caches: dict[str, dict[str, Any]] = {}
        """In-memory caches of the services, by name (what is immutable, e.g. manifests)."""
        self.admin_key = _ensure_admin_key(directory / ADMIN_SECRET_FILE)
        self.urls: dict[str, str] = {}
        self.vault_urls: dict[str, str] = {}
        self.vault_by_port: dict[int, str] = {}
        self.kv_buckets: dict[str, tuple[float, float]] = {}
        """Per-vault token buckets of the write throttle: (level, last refill)."""
        self._services_cache: tuple[int, dict[str, Any]] | None = None
        self.registry_urls: dict[str, str] = {}
        self.registry_by_port: dict[int, str] = {}
        self.registry_runner: web.AppRunner | None = None
        self._parts: dict[str, Any] = {}
        self._named: dict[tuple[str, str], str] = {}
        """(type, name) -> the store key of the resource :meth:`resource_named` found."""
        self.storage_urls: dict[str, str] = {}
        """Kind (``blob``, ``queue``, ``table``) -> URL of its fault-injecting proxy."""
        self.cosmos_urls: dict[str, str] = {}
        """Cosmos DB account -> URL of its fault-injecting proxy."""
        self.proxy_lock = asyncio.Lock()
        """Held while a proxy opens: two ARM requests for one account open one listener."""
        self.runners: list[web.AppRunner] = []
        self.vault_runner: web.AppRunner | None = None
        self._ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._ssl.load_cert_chain(self.certs.cert, self.certs.key)

    def part(self, name: str, make: Callable[[Emulator], T]) -> T:
        """A service's state object (a client session), made by ``make(self)`` on first use;
        its async ``close()``, if any, runs when the emulator stops."""
        if name not in self._parts:
            self._parts[name] = make(self)
        found: T = self._parts[name]
        return found

    # -- listeners ---------------------------------------------------------------------
    async def listen_remembered(self, section: str, key: str, app: web.Application) -> str:
        """Listen for ``app`` on the port the store section remembers for ``key`` (any free
        port when there is none or it is taken); remember the port; return the URL."""
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self.runners.append(runner)
        ports = self.store.section(section)
        url = await self._start_site(runner, int(ports.get(key, 0)))
        ports[key] = int(url.rsplit(":", 1)[1])
        self.store.touch()
        return url

    def repoint(self, data: dict[str, Any], field: str, value: str) -> None:
        """After a restart on another port (the old one was taken), fix the ARM resource."""
        resource = self.store.section("resources").get(str(data.get("resource_id", "")).lower())
        if resource is not None:
            self.set_property(resource, field, value)

    def set_property(self, resource: dict[str, Any], field: str, value: Any) -> None:
        props = resource.setdefault("properties", {})
        if props.get(field) != value:
            props[field] = value
            self.store.touch()

    def resource_named(self, resource_type: str, name: str) -> dict[str, Any] | None:
        """The stored ARM resource of one type (any case) and name (an account's name is
        global), or None. Data-plane requests ask this for their account: found once by a
        walk of every resource, then by its key (a walk per request made each request cost
        more as the tenant grew)."""
        wanted = (resource_type.lower(), name.lower())
        resources = self.store.section("resources")
        key = self._named.get(wanted)
        found = resources.get(key) if key is not None else None
        if found is not None and _type_and_name(found) == wanted:
            return found
        for key, resource in resources.items():
            if _type_and_name(resource) == wanted:
                self._named[wanted] = key
                return resource
        return None

    def resources_of_type(self, resource_type: str) -> list[dict[str, Any]]:
        """Stored ARM resources of one type (any case)."""
        wanted = resource_type.lower()
        return [
            r for r in self.store.section("resources").values()
            if str(r.get("type", "")).lower() == wanted
        ]

    async def listen(self, app: web.Application, port: int) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, self.options.host, port, ssl_context=self._ssl)
        await site.start()
        return self._url_of(site)

    def _url_of(self, site: web.TCPSite) -> str:
        server = site._server
        assert isinstance(server, asyncio.base_events.Server)
        port = server.sockets[0].getsockname()[1]
        return f"https://{self.options.host}:{port}"

    async def open_vault(self, name: str, port: int = 0) -> str:
        """Open (or re-open on its old port) the listener of one vault; returns its URL."""
        if name not in self.vault_urls:
            assert self.vault_runner is not None
            await self._open(
                self.vault_runner, "vaults", name, port, self.vault_urls, self.vault_by_port
            )
        return self.vault_urls[name]

    async def open_registry(self, name: str, port: int = 0) -> str:
        """Open (or re-open) the ACR front listener of one registry; returns its URL."""
        if name not in self.registry_urls:
            assert self.registry_runner is not None
            await self._open(
                self.registry_runner,
                "registries",
                name,
                port,
                self.registry_urls,
                self.registry_by_port,
            )
        return self.registry_urls[name]

    async def _start_site(self, runner: web.AppRunner, port: int) -> str:
        """Listen on ``port`` (any free port if it is 0 or taken); return the URL."""
        site = web.TCPSite(runner, self.options.host, port, ssl_context=self._ssl)
        try:
            await site.start()
        except OSError:
            if not port:
                raise
            site = web.TCPSite(runner, self.options.host, 0, ssl_context=self._ssl)
            await site.start()
        return self._url_of(site)

    async def _open(
        self,
        runner: web.AppRunner,
        section: str,
        name: str,
        port: int,
        urls: dict[str, str],
        by_port: dict[int, str],
    ) -> None:
        url = await self._start_site(runner, port)
        actual_port = int(url.rsplit(":", 1)[1])
        urls[name] = url
        by_port[actual_port] = name
        self.store.section(section).setdefault(name, {})["port"] = actual_port
        self.store.touch()
        self.write_emulator_json()

    async def stop(self) -> None:
        for runner in reversed(self.runners):
            await runner.cleanup()
        for part in self._parts.values():
            close = getattr(part, "close", None)
            if close is not None:
                await close()
        await self.store.stop()
        if self.options.write_emulator_json:
            (self.directory / EMULATOR_JSON).unlink(missing_ok=True)

    # -- emulator.json -------------------------------------------------------------------
    def describe(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(),
            "entra": self.urls.get("entra"),
            "arm": self.urls.get("arm"),
            "keyvault": dict(self.vault_urls),
            "acr": dict(self.registry_urls),
            "file": self.urls.get("file"),
            "kudu": self.urls.get("kudu"),
            "disks": self.urls.get("disks"),
            "storage": dict(self.storage_urls),
            "cosmos": dict(self.cosmos_urls),
            "faults_url": f"{self.urls.get('arm')}/_sandbox/faults",
            "admin_key_file": ADMIN_SECRET_FILE,
        }

    def write_emulator_json(self) -> None:
        if not self.options.write_emulator_json or "arm" not in self.urls:
            return
        path = self.directory / EMULATOR_JSON
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.describe(), indent=2) + "\n")
        os.replace(tmp, path)

    def read_services(self) -> dict[str, Any]:
        """``services.json`` as written by the services part (re-read when it changes: it may
        appear after the emulator started)."""
        path = self.directory / "services.json"
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            return {}
        if self._services_cache is None or self._services_cache[0] != stamp:
            self._services_cache = (stamp, _read_services(self.directory))
        return dict(self._services_cache[1])

    def read_account_key(self, kind: str, account: str) -> str | None:
        path = self.directory / "secrets" / kind / account
        return path.read_text().strip() if path.exists() else None

    def registry_login_server(self, name: str) -> str | None:
        """``host:port`` of the ACR front of a registry (None until its listener is open)."""
        url = self.registry_urls.get(name.lower())
        return url.removeprefix("https://") if url else None

    def set_faults(self, text: str) -> None:
        self.faults = parse_spec(text)

    def count_fault(self, service: str, label: str) -> None:
        counts = self.fault_counts.setdefault(service, {})
        counts[label] = counts.get(label, 0) + 1


def _ensure_admin_key(path: Path) -> str:
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(24))
    return path.read_text().strip()


def _read_services(directory: Path) -> dict[str, Any]:
    path = directory / "services.json"
    return json.loads(path.read_text()) if path.exists() else {}


EMU = web.AppKey("emu", Emulator)


def _type_and_name(resource: dict[str, Any]) -> tuple[str, str]:
    return str(resource.get("type", "")).lower(), str(resource.get("name", "")).lower()
