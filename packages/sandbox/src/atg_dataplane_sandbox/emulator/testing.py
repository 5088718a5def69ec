"""Helpers for tests: credentials and the client kwargs the Azure SDKs need for the sandbox.

Only uses the official SDKs; imported by tests, never by the emulator itself.
"""

from __future__ import annotations

from typing import Any

from atg_dataplane_sandbox.topology import load_topology

ARM_SCOPE = "https://management.azure.com/.default"


def credential(
    handle: Any, tenant: str = "source", principal: str = "replicator", **kwargs: Any
) -> Any:
    """A ``ClientSecretCredential`` for one sandbox principal, trusting the sandbox CA."""
    from azure.identity import ClientSecretCredential

    topology = load_topology(handle.directory)
    p = topology.principal(tenant, principal)
    return ClientSecretCredential(
        p.tenant_id,
        p.client_id,
        topology.client_secret(p),
        authority=handle.entra_url,
        disable_instance_discovery=True,
        connection_verify=str(handle.ca_path),
        **kwargs,
    )


def arm_kwargs(handle: Any) -> dict[str, Any]:
    """kwargs for any ``azure.mgmt.*`` client."""
    return {
        "base_url": handle.arm_url,
        "credential_scopes": [ARM_SCOPE],
        "connection_verify": str(handle.ca_path),
    }


def vault_kwargs(handle: Any) -> dict[str, Any]:
    """kwargs for ``SecretClient`` / ``KeyClient`` / ``CertificateClient``."""
    return {"verify_challenge_resource": False, "connection_verify": str(handle.ca_path)}
