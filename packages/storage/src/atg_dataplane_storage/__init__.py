"""atg-dataplane plugin for ``Microsoft.Storage/storageAccounts``: blobs, files, tables, queues."""

from atg_dataplane_storage.__about__ import __version__

__all__ = ["__version__"]
