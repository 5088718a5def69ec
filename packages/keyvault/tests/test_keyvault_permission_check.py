"""The declared permissions, checked by the core's pre-flight check against real grants.

The sandbox's principals hold Azure's built-in roles: the ``limited`` one has
Reader and Key Vault Reader on the source, the ``replicator`` Key Vault
Administrator. The core's checker asks the emulated ARM permissions API.
"""

from __future__ import annotations

import uuid

from atg_dataplane import ReplicationMode, ResourceBinding
from atg_dataplane.credentials import token_claims
from atg_dataplane.permcheck import check_binding
from atg_dataplane.testing.pytest_plugin import load_single_plugin
from atg_dataplane_keyvault.permissions import RESOURCE_TYPE

TEMPLATE = ReplicationMode.TEMPLATE
REPLICATION = ReplicationMode.REPLICATION


def _gaps(binding, mode):
    host = load_single_plugin("keyvault")
    claims = token_claims(binding.context.credential, binding.context.cloud.arm_scope)
    return check_binding(host, binding, RESOURCE_TYPE, mode, claims)


def test_key_vault_reader_is_enough_for_template_mode_only(make_vault):
    limited = make_vault("source", principal="limited")
    assert _gaps(limited, TEMPLATE) == []
    missing = {gap.name for gap in _gaps(limited, REPLICATION)}
    assert missing == {
        "Microsoft.KeyVault/vaults/secrets/getSecret/action",
        "Microsoft.KeyVault/vaults/keys/backup/action",
    }


def test_replicator_roles_cover_both_sides_in_both_modes(make_vault):
    source = make_vault("source")
    target = make_vault("target")
    for mode in ReplicationMode:
        assert _gaps(source, mode) == []
        assert _gaps(target, mode) == []


def test_target_reader_lacks_every_write(make_vault):
    target = make_vault("target", principal="limited")
    gaps = _gaps(target, REPLICATION)
    names = {gap.name for gap in gaps}
    assert "Microsoft.KeyVault/vaults/secrets/setSecret/action" in names
    assert "Microsoft.KeyVault/vaults/certificates/import/action" in names
    roles = {gap.role for gap in gaps if gap.kind == "data_action"}
    assert roles <= {
        "Key Vault Secrets Officer",
        "Key Vault Crypto Officer",
        "Key Vault Certificates Officer",
    }
    assert all("az role assignment create" in gap.fix for gap in gaps)


def test_access_policy_vault_gaps_name_the_policy_fix(tenants, make_vault):
    tenant = tenants.topology.tenant("target").tenant_id
    policies = [
        {
            "tenantId": tenant,
            "objectId": tenants.object_id("target", "replicator"),
            "permissions": {"secrets": ["get", "list", "set"], "keys": [], "certificates": []},
        }
    ]
    target = make_vault("target", rbac=False, access_policies=policies)
    gaps = _gaps(target, TEMPLATE)
    policy_gaps = {gap.name for gap in gaps if gap.kind == "access_policy"}
    assert "secrets/recover" in policy_gaps
    assert "keys/create" in policy_gaps
    assert "certificates/create" in policy_gaps
    assert "secrets/get" not in policy_gaps
    assert any("az keyvault set-policy" in gap.fix for gap in gaps)


def _count_permission_lookups(monkeypatch) -> list[str]:  # type: ignore[no-untyped-def]
    """The scope of every ARM permissions request the check sends (each page of a
    listing is one request; the requests really go out)."""
    from atg_dataplane.http import PooledTransport

    sent: list[str] = []
    real = PooledTransport.send

    def spy(self, request, **kwargs):  # type: ignore[no-untyped-def]
        if "/providers/Microsoft.Authorization/permissions" in request.url:
            path = request.url.split("?")[0]
            sent.append(path.rsplit("/providers/Microsoft.Authorization", 1)[0])
        return real(self, request, **kwargs)

    monkeypatch.setattr(PooledTransport, "send", spy)
    return sent


def test_one_group_look_up_covers_every_vault_of_the_group(make_vault, tenants, monkeypatch):
    vaults = [make_vault("target") for _ in range(3)]
    shared = tenants.context("target")  # one side, as in a run
    sent = _count_permission_lookups(monkeypatch)
    for vault in vaults:
        binding = ResourceBinding(resource=vault.resource, context=shared)
        assert _gaps(binding, REPLICATION) == []
    assert len(set(sent)) == 1
    assert sent[0].lower().endswith("/resourcegroups/rg-kv-target")  # the group's scope


def test_a_grant_on_the_vault_alone_is_found(make_vault, tenants, monkeypatch):
    from atg_dataplane_sandbox.emulator.testing import arm_kwargs
    from azure.mgmt.authorization import AuthorizationManagementClient

    granted = make_vault("target", principal="limited")
    other = make_vault("target", principal="limited")
    tenant = tenants.topology.tenant("target")
    administrator = (
        f"/subscriptions/{tenant.subscription_id}/providers/Microsoft.Authorization/"
        "roleDefinitions/00482a5a-887f-4fb3-b363-3b7fe8e74483"  # Key Vault Administrator
    )
    AuthorizationManagementClient(
        tenants.credential("target", "admin"), tenant.subscription_id, **arm_kwargs(tenants.handle)
    ).role_assignments.create(
        granted.resource.id,
        str(uuid.uuid4()),
        {
            "properties": {
                "roleDefinitionId": administrator,
                "principalId": tenants.object_id("target", "limited"),
            }
        },
    )
    shared = tenants.context("target", "limited")
    sent = _count_permission_lookups(monkeypatch)
    # The group's grants fall short for both; the vault's own grant covers the first.
    assert _gaps(ResourceBinding(resource=granted.resource, context=shared), TEMPLATE) == []
    assert _gaps(ResourceBinding(resource=other.resource, context=shared), TEMPLATE) != []
    scopes = {scope.rsplit("/", 1)[-1].lower() for scope in sent}
    assert scopes == {"rg-kv-target", granted.resource.name.lower(), other.resource.name.lower()}
