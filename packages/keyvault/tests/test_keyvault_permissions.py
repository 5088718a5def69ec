"""Permission tables: real Key Vault data actions, both sides, both forms."""

import pytest
from atg_dataplane import ReplicationMode
from atg_dataplane_keyvault.permissions import VAULT_READ, permissions
from atg_dataplane_keyvault.plugin import dataplane_permissions

# Every Key Vault data action Azure defines for the operations this plugin uses.
KNOWN = {
    "Microsoft.KeyVault/vaults/secrets/readMetadata/action",
    "Microsoft.KeyVault/vaults/secrets/getSecret/action",
    "Microsoft.KeyVault/vaults/secrets/setSecret/action",
    "Microsoft.KeyVault/vaults/secrets/update/action",
    "Microsoft.KeyVault/vaults/secrets/recover/action",
    "Microsoft.KeyVault/vaults/keys/read",
    "Microsoft.KeyVault/vaults/keys/create/action",
    "Microsoft.KeyVault/vaults/keys/update/action",
    "Microsoft.KeyVault/vaults/keys/backup/action",
    "Microsoft.KeyVault/vaults/keys/restore/action",
    "Microsoft.KeyVault/vaults/keys/recover/action",
    "Microsoft.KeyVault/vaults/certificates/read",
    "Microsoft.KeyVault/vaults/certificates/create/action",
    "Microsoft.KeyVault/vaults/certificates/import/action",
    "Microsoft.KeyVault/vaults/certificates/update/action",
    "Microsoft.KeyVault/vaults/certificates/recover/action",
}
AP_PERMISSIONS = {
    "secrets": {"get", "list", "set", "recover"},
    "keys": {"get", "list", "create", "update", "backup", "restore", "recover"},
    "certificates": {"get", "list", "create", "import", "update", "recover"},
}


def _data(perms, side):
    return {a for p in perms if p.side == side for a in p.data_actions}


def _policy(perms, side):
    merged: dict[str, set[str]] = {}
    for p in perms:
        if p.side == side:
            for collection, values in p.access_policy.items():
                merged.setdefault(collection, set()).update(values)
    return merged


@pytest.mark.parametrize("mode", list(ReplicationMode))
def test_every_permission_is_real_and_complete(mode):
    perms = dataplane_permissions(resource_type="Microsoft.KeyVault/vaults", mode=mode)
    assert {p.side for p in perms} == {"source", "target"}
    for p in perms:
        assert p.actions or p.data_actions
        assert p.suggested_role
        assert set(p.data_actions) <= KNOWN, set(p.data_actions) - KNOWN
        for collection, values in p.access_policy.items():
            assert set(values) <= AP_PERMISSIONS[collection]
        if p.data_actions:
            assert p.access_policy, f"{p.description}: no access-policy form"
    for side in ("source", "target"):
        assert any(VAULT_READ in p.actions for p in perms if p.side == side)


def test_template_source_never_reads_values():
    perms = permissions(ReplicationMode.TEMPLATE)
    source = _data(perms, "source")
    assert "Microsoft.KeyVault/vaults/secrets/getSecret/action" not in source
    assert _policy(perms, "source") == {
        "secrets": {"list"},
        "keys": {"get", "list"},
        "certificates": {"get", "list"},
    }
    roles = {p.suggested_role for p in perms if p.side == "source" and p.data_actions}
    assert roles == {"Key Vault Reader"}


def test_replication_needs_values_on_source_and_writes_on_target():
    perms = permissions(ReplicationMode.REPLICATION)
    assert _policy(perms, "source") == {
        "secrets": {"get", "list"},
        "keys": {"get", "list", "backup"},
        "certificates": {"get", "list"},
    }
    target = _data(perms, "target")
    for action in (
        "Microsoft.KeyVault/vaults/secrets/setSecret/action",
        "Microsoft.KeyVault/vaults/secrets/recover/action",
        "Microsoft.KeyVault/vaults/keys/create/action",
        "Microsoft.KeyVault/vaults/keys/restore/action",
        "Microsoft.KeyVault/vaults/certificates/import/action",
        "Microsoft.KeyVault/vaults/certificates/create/action",
    ):
        assert action in target
    roles = {p.suggested_role for p in perms if p.side == "target" and p.data_actions}
    assert roles == {
        "Key Vault Secrets Officer",
        "Key Vault Crypto Officer",
        "Key Vault Certificates Officer",
    }
