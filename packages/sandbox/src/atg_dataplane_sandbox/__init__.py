"""atg-dataplane-sandbox: an offline two-tenant stand-in for Azure.

Real emulators (Azurite, a Cosmos DB server, an OCI registry) where they exist;
our own emulation (Entra ID, ARM, Key Vault, ...) in :mod:`atg_dataplane_sandbox.emulator`.
"""

from atg_dataplane_sandbox.__about__ import __version__

__all__ = ["__version__"]
