"""Every command loads every installed plugin: loading must not import the heavy Azure
SDKs of the plugins (a management SDK costs a quarter to half a second of CPU), which are
imported when a resource of their type is first worked on (``atg_dataplane.deferred``)."""

from __future__ import annotations

import json
import subprocess
import sys

DEFERRED = (
    "azure.mgmt.apimanagement",
    "azure.mgmt.compute",
    "azure.mgmt.cosmosdb",
    "azure.cosmos",
    "azure.mgmt.sql",
    "azure.mgmt.web",
)
LOADS = """
import json, sys
from atg_dataplane.plugins import load_plugins
host = load_plugins()
types = sorted(spec.resource_type for _, spec in host.types.values())
print(json.dumps({"types": types, "modules": sorted(sys.modules)}))
"""


def test_loading_the_plugins_imports_none_of_their_management_sdks() -> None:
    out = subprocess.run([sys.executable, "-c", LOADS], capture_output=True, text=True,
                         check=True, timeout=120).stdout
    loaded = json.loads(out.splitlines()[-1])
    assert {"Microsoft.Sql/servers", "Microsoft.Web/sites"} <= set(loaded["types"])
    heavy = [m for m in loaded["modules"] if m.startswith(DEFERRED)]
    assert heavy == [], f"imported when the plugins load: {heavy[:5]}"
