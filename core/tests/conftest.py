"""Shared fixtures for the core's unit tests.

Loader tests use ``importlib_metadata.EntryPoint`` objects pointing at the
modules in ``atg_dataplane_unit_samples/``; when a test needs a distribution
name and version, the entry points come from a real ``*.dist-info`` folder
written into a temporary directory (a ``PathDistribution``), never from a
patched global table. The acceptance proof with installed wheels lives in
``tests/test_packaging.py``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace

import importlib_metadata
import pytest
from atg_dataplane import plugins
from atg_dataplane.cli import cli

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:  # makes atg_dataplane_unit_samples importable in any import mode
    sys.path.insert(0, str(HERE))

SAMPLES = "atg_dataplane_unit_samples"
GROUP = plugins.ENTRY_POINT_GROUP


@pytest.fixture
def make_dist(tmp_path: Path) -> Callable[..., list[importlib_metadata.EntryPoint]]:
    """Write ``<dist>-<version>.dist-info`` and return its entry points (dist attached)."""

    def make(
        distribution: str, version: str, entry_points: dict[str, str]
    ) -> list[importlib_metadata.EntryPoint]:
        info = tmp_path / f"{distribution.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n"
        )
        lines = [f"[{GROUP}]"] + [
            f"{name} = {SAMPLES}.{module}" for name, module in entry_points.items()
        ]
        (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
        dist = importlib_metadata.PathDistribution(info)
        return list(dist.entry_points.select(group=GROUP))

    return make


@pytest.fixture(autouse=True)
def _no_plugin_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shell running the tests must not change what the loader does."""
    for key in list(os.environ):
        if key.startswith("ATG_DATAPLANE_"):
            monkeypatch.delenv(key)


@pytest.fixture
def installed(monkeypatch: pytest.MonkeyPatch) -> Callable[..., None]:
    """Make ``load_plugins()`` (no ``entry_points`` argument) see exactly these entry points.

    Only for CLI tests, where the command line calls ``load_plugins()`` itself.
    """

    def install(*eps: importlib_metadata.EntryPoint) -> None:
        def entry_points(*, group: str) -> list[importlib_metadata.EntryPoint]:
            return [ep for ep in eps if ep.group == group]

        # Replace the loader's reference only, not the shared importlib_metadata module.
        fake = SimpleNamespace(entry_points=entry_points)
        monkeypatch.setattr(plugins, "importlib_metadata", fake)

    return install


@pytest.fixture
def fresh_cli() -> Iterator[None]:
    """The click group is a module global that remembers plugin commands: reset it."""
    commands = dict(cli.commands)
    cli._plugins_added = False  # type: ignore[attr-defined]
    yield
    cli.commands.clear()
    cli.commands.update(commands)
    cli._plugins_added = False  # type: ignore[attr-defined]
