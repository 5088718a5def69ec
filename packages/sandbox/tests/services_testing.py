"""Helpers for the tests of the sandbox's services (Azurite, Cosmos DB, the registry)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from atg_dataplane_sandbox import certs
from atg_dataplane_sandbox.services import (
    PoolSizes,
    SandboxLayout,
    missing_emulators,
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
