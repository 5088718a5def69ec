"""The plugin's names: its resource type and item kinds. Imported when the plugins load,
so nothing here imports an SDK (``plugin.py`` defers the modules that do)."""

from __future__ import annotations

RESOURCE_TYPE = "Microsoft.DocumentDB/databaseAccounts"
DATABASE = "database"
CONTAINER = "container"
SCRIPT_KINDS = {
    "storedProcedure": "stored_procedure",
    "trigger": "trigger",
    "userDefinedFunction": "user_defined_function",
}
"""Item kind -> the name azure-mgmt-cosmosdb's operations use for it."""
SCRIPTS = tuple(SCRIPT_KINDS)
KINDS = (DATABASE, CONTAINER, *SCRIPTS)
