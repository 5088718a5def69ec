"""atg-dataplane plugin for Azure API Management (``Microsoft.ApiManagement/service``)."""

from atg_dataplane_apimanagement.__about__ import __version__

__all__ = ["__version__"]
