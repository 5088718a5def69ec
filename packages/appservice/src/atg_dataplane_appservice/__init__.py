"""atg-dataplane plugin for Azure App Service and Functions (``Microsoft.Web/sites``)."""

from atg_dataplane_appservice.__about__ import __version__

__all__ = ["__version__"]
