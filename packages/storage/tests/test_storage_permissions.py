"""Permissions per mode and side, and option parsing (no sandbox needed)."""

from __future__ import annotations

import pytest
from atg_dataplane import ReplicationMode
from atg_dataplane_storage.options import StorageOptions
from atg_dataplane_storage.permissions import (
    BLOB_READ,
    BLOB_WRITE,
    ENTITY_READ,
    LIST_KEYS,
    MESSAGE_PROCESS,
    USER_DELEGATION_KEY,
    permissions,
)


def _by_side(mode):
    perms = permissions(mode)
    out = {"source": set(), "target": set()}
    for p in perms:
        out[p.side] |= set(p.actions) | set(p.data_actions)
        assert p.suggested_role, p
        assert p.resource_type == "Microsoft.Storage/storageAccounts"
    return out


def test_replication_needs_reads_at_the_source_and_writes_at_the_target():
    sides = _by_side(ReplicationMode.REPLICATION)
    assert {BLOB_READ, ENTITY_READ, USER_DELEGATION_KEY, LIST_KEYS, MESSAGE_PROCESS} <= sides[
        "source"
    ]
    assert BLOB_WRITE not in sides["source"]
    assert {BLOB_WRITE, LIST_KEYS} <= sides["target"]


def test_template_reads_no_contents():
    sides = _by_side(ReplicationMode.TEMPLATE)
    assert USER_DELEGATION_KEY not in sides["source"]
    assert ENTITY_READ not in sides["source"]
    assert MESSAGE_PROCESS not in sides["source"]
    assert BLOB_WRITE not in sides["target"]


def test_options_are_validated():
    assert StorageOptions.from_options({}).services == ("blob", "file", "table", "queue")
    assert StorageOptions.from_options({"storage.services": "blob, table"}).services == (
        "blob",
        "table",
    )
    assert StorageOptions.from_options({"storage.server_side": "false"}).server_side is False
    with pytest.raises(ValueError, match="unknown service"):
        StorageOptions.from_options({"storage.services": "blob,disks"})
    with pytest.raises(ValueError, match="queue_read"):
        StorageOptions.from_options({"storage.queue_read": "drain"})
    with pytest.raises(ValueError, match="source_sas"):
        StorageOptions.from_options({"storage.source_sas": "anonymous"})
