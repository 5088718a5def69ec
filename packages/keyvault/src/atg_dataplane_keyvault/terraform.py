"""Terraform (azurerm) for the template of a vault's contents.

No value is ever written: each secret's value is a ``sensitive`` input
variable, keys get new material from Azure, certificates are issued from their
policy. The target vault is referenced by ``var.key_vault_id``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from atg_dataplane import DataPlaneItem

PKCS12 = "application/x-pkcs12"

VAULT_VARIABLE = "key_vault_id"
# azurerm requires key_usage; these are what Key Vault's default policy uses.
DEFAULT_KEY_USAGE = ("digitalSignature", "keyEncipherment")


def hcl_string(value: str) -> str:
    """A quoted HCL string: JSON escapes, plus HCL's own ``${`` and ``%{`` escapes."""
    return json.dumps(value).replace("${", "$${").replace("%{", "%%{")


def _list(values: Iterable[Any]) -> str:
    return "[" + ", ".join(hcl_string(str(v)) for v in values) + "]"


def _map(values: Mapping[str, Any]) -> str:
    if not values:
        return "{}"
    body = "\n".join(
        f"    {hcl_string(str(k))} = {hcl_string(str(v))}" for k, v in sorted(values.items())
    )
    return "{\n" + body + "\n  }"


def slug(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", name).strip("_").lower()


class _Labels:
    """Unique Terraform labels from object names (letters, digits, ``_`` and ``-``)."""

    def __init__(self, prefix: str = "") -> None:
        self._used: set[tuple[str, str]] = set()
        self._prefix = prefix

    def __call__(self, kind: str, name: str) -> str:
        base = self._prefix + (slug(name) or kind)
        if not re.match(r"[A-Za-z_]", base):
            base = f"{kind}_{base}"
        label, n = base, 2
        while (kind, label) in self._used:
            label, n = f"{base}_{n}", n + 1
        self._used.add((kind, label))
        return label


def _current_only(items: Iterable[DataPlaneItem]) -> list[DataPlaneItem]:
    """The newest discovered version of each object (templates describe current state)."""
    newest: dict[tuple[str, str], DataPlaneItem] = {}
    for item in items:
        key = (item.kind, item.name)
        if key not in newest or item.order >= newest[key].order:
            newest[key] = item
    return sorted(newest.values(), key=lambda i: (i.kind, i.name))


def render(items: Iterable[DataPlaneItem], vault_name: str = "") -> str:
    """HCL for one vault's items.

    Names carry the source vault's name, so the files of several vaults can
    sit in one Terraform module: ``var.key_vault_id_<vault>``,
    ``var.secret_<vault>_<secret>``, ``azurerm_key_vault_secret.<vault>_<secret>``.
    """
    prefix = f"{slug(vault_name)}_" if slug(vault_name) else ""
    labels = _Labels(prefix)
    vault_variable = VAULT_VARIABLE + (f"_{slug(vault_name)}" if prefix else "")
    about = "ID of the target key vault" + (f" (copy of {vault_name})" if vault_name else "")
    blocks: list[str] = [
        f'variable "{vault_variable}" {{\n'
        "  type        = string\n"
        f"  description = {hcl_string(about)}\n"
        "}",
    ]
    for item in _current_only(items):
        label = labels(item.kind, item.name)
        if item.kind == "secret":
            blocks.extend(_secret(item, label, vault_variable))
        elif item.kind == "key":
            blocks.append(_key(item, label, vault_variable))
        elif item.kind == "certificate":
            blocks.append(_certificate(item, label, vault_variable))
    return align("\n\n".join(blocks) + "\n")


_ATTRIBUTE = re.compile(r'^(\s*)([A-Za-z0-9_"-][A-Za-z0-9_". -]*?)\s*=\s*(.*)$')


def align(text: str) -> str:
    """Align ``=`` in runs of one-line attributes, as ``terraform fmt`` does.

    A run ends at a blank line, a comment, a block, or an attribute whose value
    opens a multi-line expression (which itself is not aligned).
    """
    out: list[str] = []
    run: list[tuple[str, str, str]] = []

    def flush() -> None:
        width = max((len(key) for _, key, _ in run), default=0)
        out.extend(f"{indent}{key.ljust(width)} = {value}" for indent, key, value in run)
        run.clear()

    for line in text.split("\n"):
        match = _ATTRIBUTE.match(line)
        single = match and not match.group(3).rstrip().endswith(("{", "[", "("))
        if match and single and (not run or run[0][0] == match.group(1)):
            run.append((match.group(1), match.group(2), match.group(3)))
            continue
        flush()
        if match and single:
            run.append((match.group(1), match.group(2), match.group(3)))
        elif match:
            out.append(f"{match.group(1)}{match.group(2)} = {match.group(3)}")
        else:
            out.append(line)
    flush()
    return "\n".join(out)


def _dates(props: Mapping[str, Any]) -> list[str]:
    lines = []
    if props.get("not_before"):
        lines.append(f"  not_before_date = {hcl_string(props['not_before'])}")
    if props.get("expires_on"):
        lines.append(f"  expiration_date = {hcl_string(props['expires_on'])}")
    return lines


def _secret(item: DataPlaneItem, label: str, vault_variable: str) -> list[str]:
    props = item.properties
    variable = f"secret_{label}"
    lines = [
        f'resource "azurerm_key_vault_secret" "{label}" {{',
        f"  name         = {hcl_string(item.name)}",
        f"  value        = var.{variable}",
        f"  key_vault_id = var.{vault_variable}",
    ]
    if props.get("content_type"):
        lines.append(f"  content_type = {hcl_string(props['content_type'])}")
    lines += _dates(props)
    if props.get("tags"):
        lines.append(f"  tags = {_map(props['tags'])}")
    if props.get("enabled") is False:
        lines.append(
            "  # disabled in the source: azurerm cannot disable a secret; do it after apply"
        )
    lines.append("}")
    return [
        f'variable "{variable}" {{\n'
        "  type        = string\n"
        "  sensitive   = true\n"
        f"  description = {hcl_string(f'Value of the Key Vault secret {item.name}')}\n"
        "}",
        "\n".join(lines),
    ]


def _key(item: DataPlaneItem, label: str, vault_variable: str) -> str:
    props = item.properties
    lines = [
        f'resource "azurerm_key_vault_key" "{label}" {{',
        f"  name         = {hcl_string(item.name)}",
        f"  key_vault_id = var.{vault_variable}",
        f"  key_type     = {hcl_string(str(props.get('key_type')))}",
    ]
    if props.get("key_size") and str(props.get("key_type", "")).upper().startswith("RSA"):
        lines.append(f"  key_size     = {int(props['key_size'])}")
    if props.get("curve"):
        lines.append(f"  curve        = {hcl_string(str(props['curve']))}")
    lines.append(f"  key_opts     = {_list(props.get('operations') or ())}")
    lines += _dates(props)
    if props.get("tags"):
        lines.append(f"  tags = {_map(props['tags'])}")
    lines.append(
        "  # new key material: data encrypted or signed with the source key needs the new key"
    )
    lines.append("}")
    return "\n".join(lines)


def _certificate(item: DataPlaneItem, label: str, vault_variable: str) -> str:
    props = item.properties
    policy = props.get("policy") or {}
    issuer = str(policy.get("issuer_name") or "Unknown")
    key_props = [
        f"      exportable = {json.dumps(bool(policy.get('exportable')))}",
        f"      key_type   = {hcl_string(str(policy.get('key_type') or 'RSA'))}",
        f"      reuse_key  = {json.dumps(bool(policy.get('reuse_key')))}",
    ]
    if policy.get("key_size"):
        key_props.append(f"      key_size   = {int(policy['key_size'])}")
    if policy.get("key_curve_name"):
        key_props.append(f"      curve      = {hcl_string(str(policy['key_curve_name']))}")
    x509 = [
        f"      subject            = {hcl_string(str(policy.get('subject') or ''))}",
        f"      validity_in_months = {int(policy.get('validity_in_months') or 12)}",
        f"      key_usage          = {_list(policy.get('key_usage') or DEFAULT_KEY_USAGE)}",
    ]
    if policy.get("enhanced_key_usage"):
        x509.append(f"      extended_key_usage = {_list(policy['enhanced_key_usage'])}")
    sans = [
        (field, policy.get(source))
        for field, source in (
            ("dns_names", "san_dns_names"),
            ("emails", "san_emails"),
            ("upns", "san_user_principal_names"),
        )
        if policy.get(source)
    ]
    if sans:
        x509.append("      subject_alternative_names {")
        x509 += [f"        {field} = {_list(values or ())}" for field, values in sans]
        x509.append("      }")
    lines = [
        f'resource "azurerm_key_vault_certificate" "{label}" {{',
        f"  name         = {hcl_string(item.name)}",
        f"  key_vault_id = var.{vault_variable}",
    ]
    if issuer.lower() != "self":
        lines.append(
            f"  # issued by {issuer!s} in the source: configure that issuer in the target vault, "
            "or replace this policy with a certificate block importing the real certificate"
        )
    lines += [
        "  certificate_policy {",
        f"    issuer_parameters {{\n      name = {hcl_string(issuer)}\n    }}",
        "    key_properties {",
        *key_props,
        "    }",
        "    secret_properties {",
        f"      content_type = {hcl_string(str(policy.get('content_type') or PKCS12))}",
        "    }",
    ]
    for action in policy.get("lifetime_actions") or ():
        trigger = (
            f"days_before_expiry = {int(action['days_before_expiry'])}"
            if action.get("days_before_expiry")
            else f"lifetime_percentage = {int(action.get('lifetime_percentage') or 80)}"
        )
        lines += [
            "    lifetime_action {",
            "      action {",
            f"        action_type = {hcl_string(str(action.get('action') or 'AutoRenew'))}",
            "      }",
            f"      trigger {{\n        {trigger}\n      }}",
            "    }",
        ]
    lines += ["    x509_certificate_properties {", *x509, "    }", "  }"]
    if props.get("tags"):
        lines.append(f"  tags = {_map(props['tags'])}")
    lines.append("}")
    return "\n".join(lines)
