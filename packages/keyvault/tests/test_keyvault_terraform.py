"""HCL for template mode: sensitive variables for values, policies for certificates."""

import re

from atg_dataplane import DataPlaneItem
from atg_dataplane_keyvault.terraform import hcl_string, render


def flat(hcl):
    """The HCL with runs of spaces collapsed (alignment is terraform fmt's business)."""
    return re.sub(r" {2,}", " ", hcl)


RID = "/subscriptions/s/resourceGroups/g/providers/Microsoft.KeyVault/vaults/v"


def _secret(name, **props):
    base = {"content_type": None, "enabled": True, "expires_on": None, "not_before": None,
            "tags": {}}
    return DataPlaneItem(name=name, kind="secret", source_resource_id=RID,
                         properties={**base, **props})


def test_secret_value_is_a_sensitive_variable():
    hcl = render([_secret("db-password", content_type="text/plain",
                          expires_on="2030-01-01T00:00:00Z", tags={"env": "prod"})], "kv-app")
    assert 'variable "key_vault_id_kv_app"' in flat(hcl)
    assert re.search(r'variable "secret_kv_app_db_password" \{[^}]*sensitive\s+=\s+true', hcl)
    assert 'resource "azurerm_key_vault_secret" "kv_app_db_password"' in flat(hcl)
    assert "value = var.secret_kv_app_db_password" in flat(hcl)
    assert "key_vault_id = var.key_vault_id_kv_app" in flat(hcl)
    assert 'expiration_date = "2030-01-01T00:00:00Z"' in flat(hcl)
    assert '"env" = "prod"' in flat(hcl)
    assert hcl.count("{") == hcl.count("}")


def test_several_vaults_share_one_module_without_clashes():
    """``terraform --out DIR`` writes one file per vault into one module."""
    module = render([_secret("db"), _secret("api")], "kv-one") + render(
        [_secret("db"), _secret("api")], "kv-two"
    )
    declared = re.findall(r'^(variable|resource) ("[^"]+" )?"([^"]+)"', module, re.MULTILINE)
    assert len(declared) == len(set(declared)) == 2 + 2 * 2 * 2


def test_key_and_certificate_blocks():
    key = DataPlaneItem(name="signing", kind="key", source_resource_id=RID, properties={
        "key_type": "RSA", "key_size": 3072, "curve": None, "operations": ["sign", "verify"],
        "enabled": True, "expires_on": None, "not_before": None, "tags": {}})
    ec = DataPlaneItem(name="ec", kind="key", source_resource_id=RID, properties={
        "key_type": "EC", "key_size": None, "curve": "P-384", "operations": ["sign"],
        "tags": {}})
    cert = DataPlaneItem(name="web", kind="certificate", source_resource_id=RID, properties={
        "policy": {"issuer_name": "Self", "subject": "CN=web", "san_dns_names": ["web.example"],
                   "exportable": True, "key_type": "RSA", "key_size": 2048, "reuse_key": False,
                   "content_type": "application/x-pem-file", "validity_in_months": 12,
                   "key_usage": ["digitalSignature"], "enhanced_key_usage": ["1.3.6.1.5.5.7.3.1"],
                   "lifetime_actions": [{"action": "AutoRenew", "days_before_expiry": 30}]},
        "enabled": True, "tags": {}})
    hcl = render([key, ec, cert])
    assert 'resource "azurerm_key_vault_key" "signing"' in flat(hcl)
    assert "key_size = 3072" in flat(hcl)
    assert 'key_opts = ["sign", "verify"]' in flat(hcl)
    assert 'curve = "P-384"' in flat(hcl)
    assert 'resource "azurerm_key_vault_certificate" "web"' in flat(hcl)
    assert 'name = "Self"' in flat(hcl)
    assert 'content_type = "application/x-pem-file"' in flat(hcl)
    assert 'dns_names = ["web.example"]' in flat(hcl)
    assert "days_before_expiry = 30" in flat(hcl)
    assert hcl.count("{") == hcl.count("}")


def test_labels_are_unique_and_valid():
    hcl = render([_secret("a-b"), _secret("a_b"), _secret("9lives")])
    labels = re.findall(r'resource "azurerm_key_vault_secret" "([^"]+)"', hcl)
    assert len(set(labels)) == 3
    assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", label) for label in labels)


def test_only_the_newest_version_is_rendered():
    items = [
        DataPlaneItem(name="s", kind="secret", source_resource_id=RID, version=v, order=i,
                      properties={"content_type": f"v{i}", "tags": {}})
        for i, v in enumerate(("aaa", "bbb", "ccc"))
    ]
    hcl = render(items)
    assert hcl.count('resource "azurerm_key_vault_secret"') == 1
    assert 'content_type = "v2"' in flat(hcl)


def test_hcl_strings_escape_interpolation():
    assert hcl_string("${var.x} %{if}") == '"$${var.x} %%{if}"'
    assert hcl_string('quote " and \\') == '"quote \\" and \\\\"'


def test_output_is_what_terraform_fmt_writes(tmp_path):
    import shutil
    import subprocess

    import pytest

    terraform = shutil.which("terraform") or shutil.which("tofu")
    if terraform is None:
        pytest.skip("no terraform (or tofu) binary")
    cert = DataPlaneItem(name="web", kind="certificate", source_resource_id=RID, properties={
        "policy": {"issuer_name": "Unknown", "subject": "CN=web", "san_dns_names": ["a.example"],
                   "san_emails": ["ops@example.com"], "exportable": True, "key_type": "EC",
                   "key_curve_name": "P-256", "content_type": "application/x-pkcs12",
                   "lifetime_actions": [{"action": "EmailContacts", "lifetime_percentage": 90}]},
        "enabled": True, "tags": {"team": "web", "cost-center": "42"}})
    key = DataPlaneItem(name="k", kind="key", source_resource_id=RID, properties={
        "key_type": "RSA-HSM", "key_size": 2048, "operations": ["wrapKey", "unwrapKey"],
        "expires_on": "2030-01-01T00:00:00Z", "tags": {"a": "b", "longer-key": "c"}})
    items = [
        _secret("db-password", content_type="text/plain", not_before="2025-01-01T00:00:00Z",
                expires_on="2030-01-01T00:00:00Z", tags={"env": "prod", "owner": "data"}),
        _secret("off", enabled=False),
        key,
        cert,
    ]
    path = tmp_path / "vault.tf"
    path.write_text(render(items, "kv-app"))
    result = subprocess.run(
        [terraform, "fmt", "-check", "-diff", str(path)], capture_output=True, text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
