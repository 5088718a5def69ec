"""The layering contracts (``[tool.importlinter]`` in the root pyproject.toml, run by
``nox -s lint``) cover every distribution of the repository: a new plugin is a root
package, forbidden to the core and independent of the other plugins and the sandbox."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _modules() -> set[str]:
    """The top-level module of every distribution under packages/."""
    found = set()
    for pyproject in ROOT.glob("packages/*/pyproject.toml"):
        src = pyproject.parent / "src"
        found |= {p.name for p in src.iterdir() if (p / "__init__.py").is_file()}
    return found


def test_every_distribution_is_under_the_contracts() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    modules = _modules()
    assert "atg_dataplane_sandbox" in modules and len(modules) >= 5
    assert set(config["root_packages"]) == {"atg_dataplane", *modules}
    [core] = [c for c in config["contracts"] if c.get("source_modules") == ["atg_dataplane"]]
    assert set(core["forbidden_modules"]) == modules
    [plugins] = [c for c in config["contracts"] if c["type"] == "independence"]
    assert set(plugins["modules"]) == modules


def test_every_sandbox_service_folder_is_a_layer_of_its_own() -> None:
    """A new service folder under ``emulator/`` must join the services' layer, so that it
    too may import only ``emulator/common``."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [layers] = [c for c in config["contracts"] if c["type"] == "layers"]
    emulator = ROOT / "packages/sandbox/src/atg_dataplane_sandbox/emulator"
    folders = {p.parent.name for p in emulator.glob("*/__init__.py")} - {"common"}
    assert layers["layers"][0] == "host" and layers["layers"][-1] == "common"
    assert {name.strip() for name in layers["layers"][1].split("|")} == folders


def test_the_api_may_not_print() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    [api] = [c for c in config["contracts"] if "atg_dataplane.api" in c.get("source_modules", [])]
    assert {"click", "rich", "atg_dataplane.cli", "atg_dataplane.commands"} <= set(
        api["forbidden_modules"]
    )
