"""Our own emulation of what no real emulator offers: Entra ID, ARM and Key Vault.

One asyncio event loop serves every listener. Tests start it in-process with
:func:`start_emulator`; ``sandbox up`` runs ``python -m atg_dataplane_sandbox.emulator``.
"""

from __future__ import annotations

import asyncio
import os
import sys
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from atg_dataplane_sandbox.emulator.common.context import EmulatorOptions

__all__ = ["EmulatorHandle", "EmulatorOptions", "start_emulator"]


def __getattr__(name: str) -> Any:
    # Lazy: importing this package (the sandbox CLI does) must not load aiohttp and every
    # service; only starting an emulator does.
    if name == "EmulatorOptions":
        from atg_dataplane_sandbox.emulator.common.context import EmulatorOptions

        return EmulatorOptions
    raise AttributeError(name)


@dataclass
class EmulatorHandle:
    """A running in-process emulator (its event loop runs in a daemon thread)."""

    directory: Path
    entra_url: str
    arm_url: str
    ca_path: Path
    faults_url: str
    admin_key: str
    _emulator: Any
    _loop: asyncio.AbstractEventLoop
    _thread: threading.Thread

    @property
    def vault_urls(self) -> dict[str, str]:
        return dict(self._emulator.vault_urls)

    def set_faults(self, spec: str) -> None:
        """Replace the fault spec (same as ``POST /_sandbox/faults``)."""
        self._loop.call_soon_threadsafe(self._emulator.set_faults, spec)
        asyncio.run_coroutine_threadsafe(asyncio.sleep(0), self._loop).result(5)

    @property
    def fault_counts(self) -> dict[str, dict[str, int]]:
        """Faults injected so far, per service and kind (``429``, ``500``, ``503``, ``drop``)."""
        return {k: dict(v) for k, v in self._emulator.fault_counts.items()}

    def describe(self) -> dict[str, Any]:
        """What ``emulator.json`` holds."""
        return dict(self._emulator.describe())

    def stop(self) -> None:
        if not self._loop.is_running():
            return
        from atg_dataplane_sandbox.emulator import host

        asyncio.run_coroutine_threadsafe(host.stop(self._emulator), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


def forget_vault_challenges() -> None:
    """Drop this process's cached Key Vault auth challenges.

    azure-keyvault caches each vault's challenge (and so its tenant) per host:port for the
    life of the process. A fresh emulator's vault may listen on a loopback port a previous
    emulator's vault used, in another tenant: the SDK would then ask for a token in the old
    tenant and fail before sending a request. Real vault hosts are unique; ours are not, so
    whatever starts an emulator (here, or ``sandbox.up`` for one in its own process) calls
    this in the process whose clients will talk to it.
    """
    for package in ("secrets", "keys", "certificates"):
        module = f"azure.keyvault.{package}._shared.http_challenge_cache"
        if module in sys.modules:
            sys.modules[module].clear()


def start_emulator(
    directory: str | os.PathLike[str],
    faults: str | None = None,
    options: EmulatorOptions | None = None,
    **option_overrides: Any,
) -> EmulatorHandle:
    """Start the emulator on a background thread; returns once every listener listens.

    ``directory`` is the sandbox directory (certs and topology are made there if missing).
    ``faults`` is a fault spec (see :mod:`atg_dataplane_sandbox.emulator.common.faults`).
    ``option_overrides`` set :class:`EmulatorOptions` fields, e.g. ``lro_retry_after=0.05``.
    """
    from dataclasses import replace

    from atg_dataplane_sandbox.emulator import host
    from atg_dataplane_sandbox.emulator.common.context import Emulator, EmulatorOptions

    opts = replace(options or EmulatorOptions(), **option_overrides)
    base = Path(directory)
    loop = asyncio.new_event_loop()
    ready: Future[Any] = Future()

    def run() -> None:
        asyncio.set_event_loop(loop)

        async def boot() -> None:
            try:
                emulator = Emulator(base, faults, opts)
                await host.start(emulator)
                ready.set_result(emulator)
            except BaseException as exc:
                ready.set_exception(exc)

        task = loop.create_task(boot())
        loop.run_forever()
        del task
        loop.close()

    thread = threading.Thread(target=run, name="sandbox-emulator", daemon=True)
    thread.start()
    try:
        emulator = ready.result(60)
    except BaseException:
        loop.call_soon_threadsafe(loop.stop)
        raise
    forget_vault_challenges()
    return EmulatorHandle(
        directory=base,
        entra_url=emulator.urls["entra"],
        arm_url=emulator.urls["arm"],
        ca_path=emulator.certs.ca,
        faults_url=f"{emulator.urls['arm']}/_sandbox/faults",
        admin_key=emulator.admin_key,
        _emulator=emulator,
        _loop=loop,
        _thread=thread,
    )
