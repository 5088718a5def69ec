"""Options and client settings that need no vault."""

from dataclasses import replace

import pytest
from atg_dataplane import AzureResource, ReplicationMode, ResourceBinding, SideContext
from atg_dataplane.clouds import AZURE_PUBLIC
from atg_dataplane_keyvault.clients import challenge_kwargs, vault_url
from atg_dataplane_keyvault.common import (
    DEFAULT_PLACEHOLDER,
    KeyVaultOptions,
    candidates_at,
    oldest_first,
)

RID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v"


def _binding(uri):
    ctx = SideContext(side="source", tenant_id="t", subscription_id="s", credential=None,
                      cloud=AZURE_PUBLIC)
    return ResourceBinding(
        resource=AzureResource(id=RID, type="Microsoft.KeyVault/vaults", name="v",
                               properties={"vaultUri": uri} if uri else {}),
        context=ctx,
    )


def test_options_defaults_and_aliases():
    assert KeyVaultOptions.from_options({}) == KeyVaultOptions()
    assert KeyVaultOptions.from_options(None).placeholder == DEFAULT_PLACEHOLDER
    assert KeyVaultOptions.from_options({"all_versions": True}).all_versions
    assert KeyVaultOptions.from_options({"keyvault.all_versions": "yes"}).all_versions
    assert not KeyVaultOptions.from_options({"keyvault.all_versions": "false"}).all_versions
    assert KeyVaultOptions.from_options({"keyvault.placeholder": "X"}).placeholder == "X"
    with pytest.raises(ValueError, match="key_backup"):
        KeyVaultOptions.from_options({"keyvault.key_backup": "sometimes"})


def test_all_versions_only_in_replication_mode():
    opts = KeyVaultOptions(all_versions=True)
    assert opts.versions_for(ReplicationMode.REPLICATION)
    assert not opts.versions_for(ReplicationMode.TEMPLATE)


def test_challenge_verification_stays_on_for_real_vaults():
    real = "https://v.vault.azure.net/"
    assert challenge_kwargs(_binding(real), real) == {}
    assert challenge_kwargs(_binding("https://127.0.0.1:8443/"), "https://127.0.0.1:8443/") == {
        "verify_challenge_resource": False
    }
    # a look-alike host is not under the suffix
    url = "https://v.vault.azure.net.evil.example/"
    assert challenge_kwargs(_binding(url), url) == {"verify_challenge_resource": False}


def test_vault_url_is_required_and_https():
    assert vault_url(_binding("https://v.vault.azure.net/")) == "https://v.vault.azure.net/"
    assert vault_url(_binding(None)) == "https://v.vault.azure.net/"  # from the cloud's suffix
    bare = _binding(None)
    bare.context.cloud = replace(AZURE_PUBLIC, suffixes={})
    with pytest.raises(ValueError, match="vaultUri"):
        vault_url(bare)
    with pytest.raises(ValueError, match="https"):
        vault_url(_binding("http://v.vault.azure.net/"))


class _V:
    def __init__(self, version, created):
        self.version, self.created_on = version, created


def test_every_version_is_a_candidate_the_same_second_first():
    import datetime as dt

    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    second = t + dt.timedelta(seconds=1)
    versions = oldest_first([_V("c", second), _V("a", t), _V("b", second)])
    assert [v.version for v in versions] == ["a", "c", "b"]  # ties keep the listed order
    # the same position and its second first, then every other version, newest first:
    # histories that differ (an older version already in the target, versions written
    # within one second) must not make a re-run write again
    assert [v.version for v in candidates_at(versions, 0)] == ["a", "b", "c"]
    assert [v.version for v in candidates_at(versions, 1)] == ["c", "b", "a"]
    assert [v.version for v in candidates_at(versions, 2)] == ["c", "b", "a"]
    assert [v.version for v in candidates_at(versions, 3)] == ["b", "c", "a"]
    assert list(candidates_at([], 0)) == []
