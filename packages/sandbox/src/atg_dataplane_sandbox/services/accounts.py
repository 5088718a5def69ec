"""Account pools per tenant (names are fixed when an emulator starts) and their keys."""

from __future__ import annotations

from dataclasses import dataclass

from atg_dataplane_sandbox.services.layout import SandboxLayout, stored_secret

TENANT_PREFIXES = {"source": "src", "target": "tgt"}


@dataclass(frozen=True)
class PoolSizes:
    storage: int = 4
    """Azurite accounts per tenant."""
    cosmos: int = 2
    """Cosmos DB accounts (one server endpoint each) per tenant."""


def pool(kind: str, per_tenant: int) -> dict[str, str]:
    """Account name -> tenant role, e.g. ``{"srcstore1": "source", ..., "tgtstore1": "target"}``."""
    return {
        f"{prefix}{kind}{index}": tenant
        for tenant, prefix in TENANT_PREFIXES.items()
        for index in range(1, per_tenant + 1)
    }


def account_key(layout: SandboxLayout, service: str, account: str) -> str:
    """The account's key (base64), generated on first use into ``secrets/<service>/<account>``."""
    return stored_secret(layout.secrets / service / account)
