"""Counterparts (pure logic): which resource a URL points into (the longest endpoint that
prefixes it), and the same place in the target's counterpart, by name or through
``[mapping.names]``. The sides' endpoints are given as ARM would have listed them (the
listing itself is exercised against the sandbox by the API Management and App Service
plugins' tests)."""

from __future__ import annotations

import pytest
from atg_dataplane.context import ResourceBinding
from atg_dataplane.counterparts import (
    STORAGE_ACCOUNTS,
    VAULTS,
    Endpoint,
    Kind,
    mapped_url,
    owner,
    repoint_url,
)
from atg_dataplane.models import ItemError
from atg_dataplane.testing import offline_binding

SHARED = "https://127.0.0.1:9000"  # an emulator: accounts are paths below one host


def _binding(
    side: str, listed: dict[Kind, list[Endpoint]], names: dict[str, str]
) -> ResourceBinding:
    return offline_binding(side, "Microsoft.Web/sites", listed, names)


SOURCE = {
    VAULTS: [Endpoint("kv-src", "vault", "https://kv-src.vault.azure.net/", "/v/kv-src")],
    STORAGE_ACCOUNTS: [
        Endpoint("st", "blob", f"{SHARED}/st/", "/s/st"),
        Endpoint("stmedia", "blob", f"{SHARED}/stmedia/", "/s/stmedia"),
    ],
}
TARGET = {
    VAULTS: [Endpoint("kv-tgt", "vault", "https://kv-tgt.vault.azure.net/", "/v/kv-tgt")],
    STORAGE_ACCOUNTS: [Endpoint("stmedia", "blob", "https://stmedia.blob.core.windows.net/", "")],
}


def test_the_longest_endpoint_owns_a_url() -> None:
    source = _binding("source", SOURCE, {})
    assert owner(source.context, STORAGE_ACCOUNTS, f"{SHARED}/stmedia/c/b.zip").name == "stmedia"
    assert owner(source.context, STORAGE_ACCOUNTS, f"{SHARED}/st/c").name == "st"
    assert owner(source.context, STORAGE_ACCOUNTS, f"{SHARED}/stx/c") is None
    assert owner(source.context, VAULTS, "https://elsewhere.example/secrets/x") is None


def test_urls_point_at_the_counterpart_by_name_or_mapping() -> None:
    source = _binding("source", SOURCE, {"kv-src": "kv-tgt"})
    target = _binding("target", TARGET, {})
    secret = "https://kv-src.vault.azure.net/secrets/db/0123"
    assert repoint_url(source, target, VAULTS, secret) == (
        "https://kv-tgt.vault.azure.net/secrets/db/0123"
    )
    blob = f"{SHARED}/stmedia/pkg/app.zip"
    assert repoint_url(source, target, STORAGE_ACCOUNTS, blob) == (
        "https://stmedia.blob.core.windows.net/pkg/app.zip"
    )
    assert repoint_url(source, target, VAULTS, "https://other.example/x") == (
        "https://other.example/x"  # not a source resource: left alone
    )
    # both sides compare the same form
    there = "https://kv-tgt.vault.azure.net/secrets/db/0123"
    assert mapped_url(source, VAULTS, secret) == mapped_url(target, VAULTS, there)
    with pytest.raises(ItemError, match="no storage account 'st' in the target") as missing:
        repoint_url(source, target, STORAGE_ACCOUNTS, f"{SHARED}/st/c")
    assert "mapping.names" in str(missing.value.remedy)
