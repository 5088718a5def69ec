"""atg-dataplane plugin for Azure SQL Database (``Microsoft.Sql/servers``): each server's
databases, schema and rows, through Azure's own export and import."""

from atg_dataplane_sql.__about__ import __version__

__all__ = ["__version__"]
