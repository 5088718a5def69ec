"""``deferred``: a plugin's heavy module imported on its first use, once, thread-safely."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from atg_dataplane import deferred

SLOW_MODULE = """
import time
import {package} as package

package.IMPORTS.append(__name__)
time.sleep(0.3)  # a first reader that sees this module half made would miss ANSWER
ANSWER = 42
"""


@pytest.fixture
def package(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh package on sys.path with a slow-to-import module ``slow`` in it."""
    name = f"deferred_sample_{request.node.name}"
    root = tmp_path / name
    root.mkdir()
    (root / "__init__.py").write_text("IMPORTS = []\n")
    (root / "slow.py").write_text(SLOW_MODULE.format(package=name))
    sys.path.insert(0, str(tmp_path))
    try:
        yield name
    finally:
        sys.path.remove(str(tmp_path))
        for module in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            del sys.modules[module]


def test_the_module_is_imported_at_the_first_read_not_before(package: str) -> None:
    name = f"{package}.slow"
    slow = deferred(name)
    assert name not in sys.modules
    assert slow.ANSWER == 42
    imported = sys.modules[package].IMPORTS
    assert imported == [name]
    assert slow.ANSWER == 42
    assert imported == [name]  # once


def test_threads_reading_first_at_once_all_see_the_whole_module(package: str) -> None:
    name = f"{package}.slow"
    slow = deferred(name)
    start = threading.Barrier(8)
    seen: list[object] = []

    def read() -> None:
        start.wait()
        try:
            seen.append(slow.ANSWER)
        except AttributeError as exc:  # a module seen before its import finished
            seen.append(exc)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [42] * 8
    imported = sys.modules[package].IMPORTS
    assert imported == [name]


def test_a_module_that_cannot_be_imported_fails_where_it_is_used(package: str) -> None:
    missing = deferred(f"{package}.missing")
    assert "missing" in repr(missing)
    with pytest.raises(ModuleNotFoundError, match="missing"):
        _ = missing.anything


def test_the_listing_and_strict_mode_import_what_a_plugin_deferred() -> None:
    from atg_dataplane.plugins import PluginLoadError, load_plugins
    from atg_dataplane_unit_samples import sample_ep

    eps = [sample_ep("lazy"), sample_ep("alpha", "good")]
    host = load_plugins(entry_points=eps, strict=False)
    assert {r.name: r.status for r in host.records} == {"alpha": "loaded", "lazy": "loaded"}
    host.import_deferred()  # what `atg-dataplane plugins` does before it lists
    lazy = host.record("lazy")
    assert lazy is not None and lazy.status == "failed"
    assert "not_installed_sdk" in lazy.error and lazy.error.startswith("import failed:")
    assert host.record("alpha").status == "loaded"  # type: ignore[union-attr]
    with pytest.raises(PluginLoadError, match="not_installed_sdk"):
        load_plugins(entry_points=eps, strict=True)
