"""Azure App Service (``Microsoft.Web/sites`` and their slots): settings, keys, functions
through ARM, code through Kudu."""
