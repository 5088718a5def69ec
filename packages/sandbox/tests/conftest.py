"""Fixtures the emulator tests share: one emulator per test module, its topology, and
``faults`` (sets the emulator's fault spec; cleared after the test)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from atg_dataplane_sandbox.emulator import EmulatorHandle, start_emulator
from atg_dataplane_sandbox.topology import Topology, load_topology


@pytest.fixture(scope="module")
def emu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmulatorHandle]:
    handle = start_emulator(tmp_path_factory.mktemp("sandbox"))
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def topo(emu: EmulatorHandle) -> Topology:
    return load_topology(emu.directory)


@pytest.fixture()
def faults(emu: EmulatorHandle) -> Iterator[Callable[[str], None]]:
    yield emu.set_faults
    emu.set_faults("")
