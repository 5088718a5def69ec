"""Pure logic: what a setting becomes in the target and what both sides compare, with the
sides' vaults and storage accounts given as ARM would have listed them (the listing itself
runs against the sandbox in test_appservice_copy.py)."""

from __future__ import annotations

import pytest
from atg_dataplane import ItemError
from atg_dataplane.counterparts import STORAGE_ACCOUNTS, VAULTS, Endpoint
from atg_dataplane.testing import offline_binding
from atg_dataplane_appservice.values import PLACEHOLDER, form, platform_settings, written

SOURCE = {
    VAULTS: [Endpoint("kv-src", "vault", "https://kv-src.vault.azure.net/", "")],
    STORAGE_ACCOUNTS: [
        Endpoint("stsrc", "blob", "https://stsrc.blob.core.windows.net/", ""),
        Endpoint("stsrc", "queue", "https://stsrc.queue.core.windows.net/", ""),
    ],
}
TARGET = {
    VAULTS: [Endpoint("kv-tgt", "vault", "https://kv-tgt.vault.azure.net/", "")],
    STORAGE_ACCOUNTS: [
        Endpoint("sttgt", "blob", "https://sttgt.blob.core.windows.net/", "/s/g/sttgt"),
        Endpoint("sttgt", "queue", "https://sttgt.queue.core.windows.net/", "/s/g/sttgt"),
    ],
}
NAMES = {"kv-src": "kv-tgt", "stsrc": "sttgt"}


SRC = offline_binding("source", "Microsoft.Web/sites", SOURCE, NAMES)
TGT = offline_binding("target", "Microsoft.Web/sites", TARGET, NAMES)


def _written(value: str, replication: bool = False) -> str:
    return written(value, SRC, TGT, replication, lambda endpoint: f"key-of-{endpoint.name}")


def test_key_vault_references_name_the_counterpart_without_a_version() -> None:
    by_uri = "@Microsoft.KeyVault(SecretUri=https://kv-src.vault.azure.net/secrets/db/0a1b/)"
    moved = _written(by_uri)
    assert moved == "@Microsoft.KeyVault(SecretUri=https://kv-tgt.vault.azure.net/secrets/db)"
    assert form(by_uri, SRC) == form(moved, TGT) == "keyvault:kv-tgt:vault/secrets/db"
    by_name = "@Microsoft.KeyVault(VaultName=kv-src;SecretName=db)"
    assert _written(by_name) == "@Microsoft.KeyVault(VaultName=kv-tgt;SecretName=db)"
    assert form(by_name, SRC) == form(_written(by_name), TGT)
    with pytest.raises(ItemError, match="not in the source subscription"):
        _written("@Microsoft.KeyVault(SecretUri=https://elsewhere.vault.azure.net/secrets/x)")


def test_storage_connection_strings_and_urls_point_at_the_target_account() -> None:
    source = (
        "DefaultEndpointsProtocol=https;AccountName=stsrc;AccountKey=c291cmNlLWtleQ==;"
        "BlobEndpoint=https://stsrc.blob.core.windows.net/;EndpointSuffix=core.windows.net"
    )
    moved = _written(source)
    assert moved == (
        "DefaultEndpointsProtocol=https;AccountName=sttgt;AccountKey=key-of-sttgt;"
        "BlobEndpoint=https://sttgt.blob.core.windows.net/;EndpointSuffix=core.windows.net"
    )
    assert form(source, SRC) == form(moved, TGT) == "storage:sttgt"
    url = "https://stsrc.blob.core.windows.net/media/logo.png"
    assert _written(url) == "https://sttgt.blob.core.windows.net/media/logo.png"
    assert form(url, SRC) == form(_written(url), TGT)
    with pytest.raises(ItemError, match="SAS"):
        _written("AccountName=stsrc;SharedAccessSignature=sv=2024&sig=abc")
    # a blob with a SAS: the path in template mode; copied, with a SAS of its own, in
    # replication mode (packages.py does that: here a stand-in records the call)
    signed = url + "?sv=2024&sr=b&sig=abc"
    assert _written(signed) == "https://sttgt.blob.core.windows.net/media/logo.png"
    assert form(signed, SRC) == form(url, SRC)  # each side's signature is its own
    copied: list[tuple[str, str, str]] = []

    def copy_blob(source_url: str, moved: str, there: Endpoint) -> str:
        copied.append((source_url, moved, there.name))
        return moved + "?sig=target"

    assert written(signed, SRC, TGT, True, None, copy_blob) == (
        "https://sttgt.blob.core.windows.net/media/logo.png?sig=target"
    )
    assert copied == [(signed, "https://sttgt.blob.core.windows.net/media/logo.png", "sttgt")]
    with pytest.raises(ItemError, match="names no single blob"):  # a container's SAS
        written("https://stsrc.blob.core.windows.net/media?sr=c&sig=abc", SRC, TGT, True, None,
                copy_blob)


def test_plain_values_are_placeholders_in_template_mode_only() -> None:
    assert _written("hello") == PLACEHOLDER
    assert _written("hello", replication=True) == "hello"
    assert form("hello", SRC) == form(PLACEHOLDER, TGT) == "value"
    # a URL outside the tenant's accounts is a plain value
    assert form("https://example.com/x", SRC) == "value"


def test_platform_settings_are_configurable() -> None:
    assert "azurewebjobsstorage" in platform_settings({})
    assert platform_settings({"appservice.platform_settings": ["MY_OWN"]}) == {"my_own"}
