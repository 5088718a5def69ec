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
    contracts = {c["type"]: c for c in config["contracts"]}
    assert contracts["forbidden"]["source_modules"] == ["atg_dataplane"]
    assert set(contracts["forbidden"]["forbidden_modules"]) == modules
    assert set(contracts["independence"]["modules"]) == modules
