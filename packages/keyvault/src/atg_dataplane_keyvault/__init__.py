"""atg-dataplane plugin for ``Microsoft.KeyVault/vaults``: secrets, keys and certificates."""

from atg_dataplane_keyvault.__about__ import __version__

__all__ = ["__version__"]
