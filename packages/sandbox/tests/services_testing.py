"""Helpers for the tests of the sandbox's services (Azurite, Cosmos DB, the registry)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane_sandbox import certs
from atg_dataplane_sandbox.emulator import EmulatorHandle, start_emulator
from atg_dataplane_sandbox.services import (
    PoolSizes,
    SandboxLayout,
    missing_emulators,
    process,
    start_services,
    stop_services,
)

needs_emulators = pytest.mark.skipif(
    bool(missing_emulators()), reason="emulators not installed: atg-dataplane sandbox install"
)


@contextmanager
def running_services(
    directory: Path, sizes: PoolSizes
) -> Iterator[tuple[SandboxLayout, dict[str, Any]]]:
    """The services started in a fresh layout under ``directory``, stopped on exit."""
    layout = SandboxLayout(directory)
    layout.make_dirs()
    certs.ensure_certs(layout.root)
    info = start_services(layout, sizes)
    yield layout, info
    stop_services(layout)


@contextmanager
def emulator_over(
    directory: Path, key: str, service: Any, start: Callable[[SandboxLayout], dict[str, Any]],
    **options: Any,
) -> Iterator[EmulatorHandle]:
    """One real emulator (``service``: a module of ``atg_dataplane_sandbox.services``, started
    by ``start(layout)``, listed under ``key`` in ``services.json``) and the in-process
    emulator in front of it (``options``: :class:`EmulatorOptions` fields); both stopped on
    exit."""
    layout = SandboxLayout(directory)
    layout.make_dirs()
    certs.ensure_certs(directory)
    try:
        info = start(layout)
        assert service.wait_healthy(layout, info, 30)
        (directory / "services.json").write_text(json.dumps({key: info}))
        handle = start_emulator(directory, **options)
        try:
            yield handle
        finally:
            handle.stop()
    finally:
        process.stop(layout, service.NAME)
