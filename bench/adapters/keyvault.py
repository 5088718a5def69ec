"""Key Vault: secrets (current versions), keys (recreated) and certificates.

Same items as ``atg-dataplane-keyvault`` in replication mode with default options:
current secret versions (managed secrets belong to certificates), keys recreated with the
same parameters (key material cannot leave a vault), certificates with exportable keys
imported from their backing secret, the others issued again from their policy.
"""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from azure.keyvault.certificates import CertificateClient, KeyVaultCertificate
from azure.keyvault.keys import KeyClient, KeyVaultKey
from azure.keyvault.secrets import SecretClient

from adapters import Task

RESOURCE_TYPE = "Microsoft.KeyVault/vaults"
PKCS12 = "application/x-pkcs12"


def _url(resource: Any) -> str:
    return str(resource.properties["vaultUri"])


def _clients(resource: Any, side: Any, pool: int | None = None) -> dict[str, Any]:
    url = _url(resource)
    common = {"verify_challenge_resource": False, **side.kwargs(pool)}
    return {
        "secrets": SecretClient(url, side.credential, **common),
        "keys": KeyClient(url, side.credential, **common),
        "certificates": CertificateClient(url, side.credential, **common),
    }


# ------------------------------------------------------------- the writes


def _set_secret(target: dict[str, Any], secret: Any) -> int:
    props = secret.properties
    value = secret.value or ""
    target["secrets"].set_secret(
        secret.name,
        value,
        content_type=props.content_type,
        tags=props.tags,
        enabled=props.enabled,
        not_before=props.not_before,
        expires_on=props.expires_on,
    )
    return len(value.encode("utf-8"))


def _key_args(key: KeyVaultKey) -> tuple[str, dict[str, Any]]:
    jwk = key.key
    kty = str(getattr(key.key_type, "value", key.key_type))
    props = key.properties
    kwargs: dict[str, Any] = {
        "key_operations": list(key.key_operations or ()) or None,
        "tags": props.tags,
        "enabled": props.enabled,
        "not_before": props.not_before,
        "expires_on": props.expires_on,
    }
    if getattr(jwk, "n", None):
        kwargs["size"] = (int.from_bytes(jwk.n, "big").bit_length() + 7) // 8 * 8
    if getattr(jwk, "crv", None):
        kwargs["curve"] = jwk.crv
    if props.exportable:
        kwargs.update(exportable=True, release_policy=props.release_policy)
    return kty, kwargs


def _create_key(target: dict[str, Any], name: str, kty: str, kwargs: dict[str, Any]) -> int:
    target["keys"].create_key(name, kty, **kwargs)
    return 0


def _copy_certificate(
    source: dict[str, Any], target: dict[str, Any], cert: KeyVaultCertificate
) -> int:
    props = cert.properties
    policy = cert.policy
    assert props is not None and policy is not None
    if policy.exportable and props.enabled is not False:
        secret = source["secrets"].get_secret(cert.name, props.version)
        content_type = secret.properties.content_type or PKCS12
        value = secret.value or ""
        data = base64.b64decode(value) if content_type == PKCS12 else value.encode()
        target["certificates"].import_certificate(
            cert.name, data, policy=policy, tags=props.tags, enabled=props.enabled
        )
        return len(data)
    target["certificates"].begin_create_certificate(
        cert.name, policy, tags=props.tags, enabled=props.enabled
    ).result()
    return 0


# ----------------------------------------------------------------- adapter


class KeyVaultAdapter:
    resource_type = RESOURCE_TYPE
    kinds = ("secret", "key", "certificate")
    server_side_kinds: tuple[str, ...] = ()

    def baseline(self, pair: Any, source: Any, target: Any, tally: Any) -> None:
        src = _clients(pair.source, source)
        tgt = _clients(pair.target, target)
        for listed in src["secrets"].list_properties_of_secrets():
            if listed.managed:
                continue
            secret = src["secrets"].get_secret(listed.name)
            tally.add("secret", _set_secret(tgt, secret))
        for listed in src["keys"].list_properties_of_keys():
            if listed.managed:
                continue
            kty, kwargs = _key_args(src["keys"].get_key(listed.name))
            tally.add("key", _create_key(tgt, listed.name, kty, kwargs))
        for listed in src["certificates"].list_properties_of_certificates():
            cert = src["certificates"].get_certificate(listed.name)
            tally.add("certificate", _copy_certificate(src, tgt, cert))

    def plan(self, pair: Any, source: Any, target: Any, pool: int) -> list[Task]:
        src = _clients(pair.source, source, pool)
        tgt = _clients(pair.target, target, pool)
        tasks: list[Task] = []
        names = [p.name for p in src["secrets"].list_properties_of_secrets() if not p.managed]
        for name in names:
            # The value is not in the listing: reading it is work any tool must do.
            tasks.append(
                Task("secret", name, lambda n=name: _set_secret(tgt, src["secrets"].get_secret(n)))
            )
        listed_keys = [p.name for p in src["keys"].list_properties_of_keys() if not p.managed]
        with ThreadPoolExecutor(8) as pool_:
            keys = list(pool_.map(src["keys"].get_key, listed_keys))
            certs = list(
                pool_.map(
                    src["certificates"].get_certificate,
                    [p.name for p in src["certificates"].list_properties_of_certificates()],
                )
            )
        for key in keys:
            kty, kwargs = _key_args(key)
            tasks.append(
                Task(
                    "key",
                    str(key.name),
                    lambda n=key.name, t=kty, k=kwargs: _create_key(tgt, n, t, k),
                )
            )
        for cert in certs:
            tasks.append(
                Task("certificate", str(cert.name), lambda c=cert: _copy_certificate(src, tgt, c))
            )
        return tasks

    # -- sandbox targets ------------------------------------------------------
    def fresh_targets(self, sandbox_dir: str, names: list[str], tag: str) -> dict[str, str]:
        from atg_dataplane_sandbox.seed import context
        from atg_dataplane_sandbox.seeders.keyvault import create_vault

        ctx = context(sandbox_dir)
        fresh = {name: f"{name}-{tag}"[:24] for name in names}
        with ThreadPoolExecutor(4) as pool:
            list(pool.map(lambda n: create_vault(ctx, "target", n), fresh.values()))
        return fresh

    def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
        from atg_dataplane_sandbox.seed import context
        from azure.mgmt.keyvault import KeyVaultManagementClient

        ctx = context(sandbox_dir)
        client = ctx.mgmt(KeyVaultManagementClient, "target")
        group = ctx.resource_groups["target"]
        for name in names:
            client.vaults.delete(group, name)
            client.vaults.begin_purge_deleted(
                name, ctx.location("target"), polling_interval=0.1
            ).result()


ADAPTER = KeyVaultAdapter()
