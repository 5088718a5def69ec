"""atg-dataplane plugin for ``Microsoft.DocumentDB/databaseAccounts`` (NoSQL API): databases,
containers, throughput, stored procedures, triggers, user-defined functions and documents,
with Entra ID auth and a resumable document copy."""

from atg_dataplane_cosmosdb.__about__ import __version__

__all__ = ["__version__"]
