"""The emulator's snapshot: written after changes, and never more than a small share of
the event loop however large the state grows."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from pathlib import Path

import pytest
from atg_dataplane_sandbox.emulator.common import store as store_module
from atg_dataplane_sandbox.emulator.common.store import LOOP_SHARE_INVERSE, STATE_FILE, Store


def test_a_change_reaches_the_snapshot_and_survives_a_restart(tmp_path: Path) -> None:
    async def run() -> None:
        held = Store(tmp_path, interval=0.01)
        held.start()
        held.section("vaults")["v1"] = {"name": "v1"}
        held.touch()
        for _ in range(200):
            await asyncio.sleep(0.01)
            if (tmp_path / STATE_FILE).exists():
                break
        await held.stop()

    asyncio.run(run())
    assert json.loads((tmp_path / STATE_FILE).read_text()) == {"vaults": {"v1": {"name": "v1"}}}
    assert Store(tmp_path).section("vaults") == {"v1": {"name": "v1"}}


def test_the_wait_after_a_snapshot_grows_with_what_encoding_it_cost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoding_seconds = 0.05
    waits: list[float] = []
    real_sleep = asyncio.sleep
    real_dumps = json.dumps

    # json and asyncio are patched for the whole process: only this test's own calls are
    # slowed and recorded (another test's leftover thread or loop may use them too).
    mine = threading.get_ident()

    def slow_dumps(data: object) -> str:
        if threading.get_ident() == mine:
            time.sleep(encoding_seconds)  # a state large enough to take this long to encode
        return real_dumps(data)

    async def recorded_sleep(seconds: float) -> None:
        if threading.get_ident() != mine:
            await real_sleep(seconds)
            return
        waits.append(seconds)
        if len(waits) >= 3:
            raise asyncio.CancelledError
        held.touch()  # a change during every wait: each wake finds the store dirty
        await real_sleep(0)

    monkeypatch.setattr(store_module.json, "dumps", slow_dumps)
    monkeypatch.setattr(store_module.asyncio, "sleep", recorded_sleep)
    held = Store(tmp_path, interval=0.01)

    async def run() -> None:
        held.touch()
        with contextlib.suppress(asyncio.CancelledError):
            await held._flusher()

    asyncio.run(run())
    assert waits[0] == 0.01  # the first wait is the interval
    # after each snapshot: at least LOOP_SHARE_INVERSE times its encoding, not the interval
    assert all(wait >= LOOP_SHARE_INVERSE * encoding_seconds * 0.9 for wait in waits[1:])


def test_a_section_knows_the_children_of_each_parent_through_every_change(
    tmp_path: Path,
) -> None:
    held = Store(tmp_path)
    section = held.section("arm_children")
    api = "/subscriptions/s/resourcegroups/g/providers/p/service/a/apis"
    section[f"{api}/one"] = {"name": "one"}
    section.setdefault(f"{api}/two", {"name": "two"})
    section.update({f"{api}/three": {}, f"{api}/one/operations/get": {}})
    section[f"{api}/one"] = {"name": "one, replaced"}  # replaced: listed once
    assert section.below(api) == [f"{api}/one", f"{api}/two", f"{api}/three"]
    assert section.below(f"{api}/one/operations") == [f"{api}/one/operations/get"]
    del section[f"{api}/two"]
    section.pop(f"{api}/three")
    section.pop(f"{api}/missing", None)
    assert section.below(api) == [f"{api}/one"]
    held.save()  # the snapshot is the plain mapping, and a restart indexes it again
    assert json.loads((tmp_path / STATE_FILE).read_text())["arm_children"][f"{api}/one"] == {
        "name": "one, replaced"
    }
    again = Store(tmp_path).section("arm_children")
    assert again.below(api) == [f"{api}/one"]
    again.clear()
    assert again.below(api) == [] and held.section("arm_children") is section
