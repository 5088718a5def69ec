"""pytest plugin shipped with the core (``pytest11`` entry point ``atg_dataplane``).

Fixtures:

* ``dataplane_host``: a fresh plugin host holding only the plugin under test
  (the test class's ``entry_point_name``), loaded from its real entry point.
* ``progress_recorder``: a :class:`ProgressRecorder` registered on that host.
"""

from __future__ import annotations

from collections.abc import Iterator

import importlib_metadata
import pytest

from atg_dataplane.plugins import ENTRY_POINT_GROUP, PluginHost, load_plugins
from atg_dataplane.testing.recorder import ProgressRecorder


def load_single_plugin(entry_point_name: str) -> PluginHost:
    """Load exactly one plugin, by entry point name, into a fresh host."""
    eps = [
        ep
        for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
        if ep.name == entry_point_name
    ]
    if not eps:
        installed = sorted(
            ep.name for ep in importlib_metadata.entry_points(group=ENTRY_POINT_GROUP)
        )
        pytest.fail(
            f"no entry point {entry_point_name!r} in group {ENTRY_POINT_GROUP!r} "
            f"(installed: {installed}); is the package installed?"
        )
    return load_plugins(entry_points=eps, strict=False, use_env_lists=False)


@pytest.fixture
def dataplane_host(request: pytest.FixtureRequest) -> PluginHost:
    name: str = (getattr(request.cls, "entry_point_name", "") if request.cls else "") or ""
    if not name:
        pytest.fail("set entry_point_name on the test class to use dataplane_host")
    return load_single_plugin(name)


@pytest.fixture
def progress_recorder(dataplane_host: PluginHost) -> Iterator[ProgressRecorder]:
    recorder = ProgressRecorder()
    dataplane_host.register_builtin(recorder, "progress-recorder")
    yield recorder
