"""Helpers for fault-injection tests: counting injected faults, and the kwargs of clients
that retry fast and often."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle


def injected(emu: EmulatorHandle, service: str, label: str) -> int:
    """Faults of kind ``label`` (``429``, ``drop``, ...) injected into ``service`` so far."""
    return emu.fault_counts.get(service, {}).get(label, 0)


def until_injected(
    emu: EmulatorHandle, service: str, label: str, action: Callable[[int], object]
) -> None:
    """Run ``action(i)`` (which must succeed every time) until the fault was injected."""
    before = injected(emu, service, label)
    for i in range(60):
        action(i)
        if injected(emu, service, label) > before and i >= 3:
            return
    pytest.fail(f"no {label} fault injected on {service} in 60 calls")


# Each budget on its own (status, read, connect) defaults to 3: raise them all.
RETRY_BUDGETS = {"retry_total": 16, "retry_status": 16, "retry_read": 16, "retry_connect": 16}
FAST_RETRY = {**RETRY_BUDGETS, "retry_backoff_factor": 0.01, "retry_backoff_max": 0.5}
"""kwargs of a client with azure-core's retry policy (Key Vault, ARM, ACR, Tables); the
backoff stays short, so a request that keeps failing fails the test in seconds, not after
minutes of doubling waits."""


def fast_storage_retry(linear_retry: type) -> dict[str, Any]:
    """kwargs of an azure-storage-blob/queue/file-share client, given that package's
    ``LinearRetry``: the default waits 15 s before its first retry."""
    return {"retry_policy": linear_retry(backoff=0.02, random_jitter_range=0, **RETRY_BUDGETS)}
