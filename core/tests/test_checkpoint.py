"""Checkpoints inside one item: an item copied in steps resumes at its last saved step,
after a transient failure in the same run and when a stopped run is resumed, and starts
afresh in a new run. Driven through hooks by an in-memory plugin (the engine and the
journal are the units under test)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from atg_dataplane import Checkpoint, DataPlaneItem, ItemError, ItemOutcome, hookimpl
from atg_dataplane.engine import Engine
from atg_dataplane.journal import Journal
from atg_dataplane.models import ReplicationMode
from azure.core.exceptions import ServiceResponseError
from engine_fixtures import WidgetPlugin, WidgetStore, make_host, pair

VALUE = "abcdefghij"
"""One widget of ten one-character pages."""


class PagedStore(WidgetStore):
    def __init__(self) -> None:
        super().__init__()
        self.pages_read: list[int] = []
        self.break_at: int | None = None
        """The page whose copy fails once with a dropped connection (transient)."""
        self.fail_at: int | None = None
        """The page whose copy fails with an ItemError (the item fails in this run)."""


class PagedPlugin(WidgetPlugin):
    store: PagedStore

    @hookimpl
    def dataplane_replicate_item(
        self, item: DataPlaneItem, source: Any, target: Any, checkpoint: Checkpoint
    ) -> ItemOutcome:
        value = self.store.data[source.resource.id][item.name][-1]
        copied = self.store.data[target.resource.id][item.name]
        start = int(checkpoint.get() or 0)
        if start == 0:
            copied[:] = [""]
        for page in range(start, len(value)):
            if self.store.break_at == page:
                self.store.break_at = None
                raise ServiceResponseError("Connection aborted (injected)")
            if self.store.fail_at == page:
                self.store.fail_at = None
                raise ItemError(f"page {page} refused")
            self.store.pages_read.append(page)
            copied[0] = value[: page + 1]
            checkpoint.save(str(page + 1))
        return ItemOutcome(status="replicated", bytes_copied=len(value) - start)


@pytest.fixture
def store() -> PagedStore:
    s = PagedStore()
    s.data[pair().source.resource.id]["big"] = [VALUE]
    return s


@pytest.fixture
def journal(tmp_path: Path) -> Journal:
    return Journal(tmp_path / "journal.db")


def _run(store: PagedStore, journal: Journal, run_id: str) -> Any:
    host = make_host(store, PagedPlugin)
    engine = Engine(host, mode=ReplicationMode.REPLICATION, journal=journal, run_id=run_id,
                    options={}, concurrency=2)
    return engine.run([pair()])


def _copied(store: PagedStore) -> str:
    return store.data[pair().target.resource.id]["big"][0]


def test_a_retried_item_goes_on_from_its_checkpoint(store: PagedStore, journal: Journal) -> None:
    store.break_at = 4
    run = journal.start_run("id", "replication")
    summary = _run(store, journal, run.run_id)
    assert summary.result.replicated == 1 and summary.result.failed == 0
    assert store.pages_read == list(range(10))  # pages 0-3 once, then 4-9: none twice
    assert _copied(store) == VALUE
    # A finished item's checkpoint is dropped: the journal keeps no stale position.
    assert journal.checkpoint(run.run_id, pair().source.resource.id, "widget:big") is None


def test_a_resumed_run_starts_where_the_item_stopped(store: PagedStore, journal: Journal) -> None:
    store.fail_at = 6
    run = journal.start_run("id", "replication")
    first = _run(store, journal, run.run_id)
    assert first.result.failed == 1
    assert journal.checkpoint(run.run_id, pair().source.resource.id, "widget:big") == "6"
    store.pages_read.clear()
    resumed = _run(store, journal, run.run_id)
    assert resumed.result.replicated == 1
    assert store.pages_read == [6, 7, 8, 9]  # fewer than the item holds
    assert _copied(store) == VALUE

    # A new run of the same command starts the item afresh.
    store.pages_read.clear()
    _run(store, journal, journal.start_run("id", "replication").run_id)
    assert store.pages_read == list(range(10))


def test_checkpoint_without_a_journal_keeps_its_value_in_memory() -> None:
    checkpoint = Checkpoint()
    assert checkpoint.get() is None
    checkpoint.save('{"range": 2, "continuation": "abc"}')
    assert checkpoint.get() == '{"range": 2, "continuation": "abc"}'
