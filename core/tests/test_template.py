"""``atg-dataplane new-plugin``: the rendered package, and input validation."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

import importlib_metadata
import pytest
from atg_dataplane import Checkpoint, template
from atg_dataplane.models import ReplicationMode
from atg_dataplane.plugins import ENTRY_POINT_GROUP, load_plugins
from atg_dataplane.template import TemplateError, render_plugin

EXPECTED_FILES = {
    "README.md",
    "pyproject.toml",
    "src/atg_dataplane_web_apps/__init__.py",
    "src/atg_dataplane_web_apps/__about__.py",
    "src/atg_dataplane_web_apps/plugin.py",
    "tests/test_conformance.py",
}


def _render(tmp_path: Path, **kwargs: object) -> Path:
    options: dict = {"resource_type": "Microsoft.Web/sites", "directory": tmp_path}
    options.update(kwargs)
    return render_plugin("web-apps", **options)


def test_renders_a_complete_package(tmp_path: Path) -> None:
    root = _render(tmp_path, item_kinds=("setting", "slot"))
    assert root == tmp_path / "atg-dataplane-web-apps"
    files = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
    assert files == EXPECTED_FILES
    for path in root.rglob("*"):
        if path.is_file():
            assert "${" not in path.read_text(), f"unrendered placeholder in {path}"
            if path.suffix == ".py":
                ast.parse(path.read_text(), filename=str(path))

    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["name"] == "atg-dataplane-web-apps"
    assert project["project"]["dependencies"] == ["atg-dataplane>=0.1,<0.2"]
    assert project["project"]["entry-points"]["atg_dataplane"] == {
        "web_apps": "atg_dataplane_web_apps.plugin"
    }
    assert project["tool"]["hatch"]["version"]["path"] == "src/atg_dataplane_web_apps/__about__.py"
    plugin = (root / "src/atg_dataplane_web_apps/plugin.py").read_text()
    assert 'RESOURCE_TYPE = "Microsoft.Web/sites"' in plugin
    assert "ITEM_KINDS = ('setting', 'slot')" in plugin
    test = (root / "tests/test_conformance.py").read_text()
    assert 'entry_point_name = "web_apps"' in test
    assert 'distribution = "atg-dataplane-web-apps"' in test
    assert "atg-dataplane-web-apps" in (root / "README.md").read_text()


def test_rendered_plugin_loads_and_declares_permissions_for_both_sides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _render(tmp_path)
    monkeypatch.syspath_prepend(str(root / "src"))
    ep = importlib_metadata.EntryPoint(
        name="web_apps", value="atg_dataplane_web_apps.plugin", group=ENTRY_POINT_GROUP
    )
    try:
        host = load_plugins(entry_points=[ep], strict=True)
        (record,) = host.records
        assert record.status == "loaded"
        assert record.resource_types == ["Microsoft.Web/sites"]
        for mode in ReplicationMode:
            hook = host.hook_for("Microsoft.Web/sites", "dataplane_permissions")
            perms = [p for answer in hook(resource_type="x", mode=mode, options={}) for p in answer]
            assert {p.side for p in perms} == {"source", "target"}
        discover = host.hook_for("microsoft.web/sites", "dataplane_discover")
        items = discover(
            resource=None, mode=ReplicationMode.TEMPLATE, options={}, fingerprinter=None
        )
        assert list(items) == []
        replicate = host.hook_for("Microsoft.Web/sites", "dataplane_replicate_item")
        outcome = replicate(
            item=None,
            source=None,
            target=None,
            mode=ReplicationMode.TEMPLATE,
            options={},
            fingerprinter=None,
            checkpoint=Checkpoint(),
        )
        assert outcome.status == "unchanged"
    finally:
        for name in [m for m in sys.modules if m.startswith("atg_dataplane_web_apps")]:
            del sys.modules[name]


def test_default_item_kind_and_duplicates(tmp_path: Path) -> None:
    plugin = _render(tmp_path) / "src/atg_dataplane_web_apps/plugin.py"
    assert "ITEM_KINDS = ('item',)" in plugin.read_text()
    other = render_plugin(
        "dups", resource_type="A.B/c", directory=tmp_path, item_kinds=("x", "y", "x")
    )
    assert "ITEM_KINDS = ('x', 'y')" in (other / "src/atg_dataplane_dups/plugin.py").read_text()


def test_underscores_in_the_name(tmp_path: Path) -> None:
    root = render_plugin("my_store", resource_type="Contoso.Store/shelves", directory=tmp_path)
    assert root.name == "atg-dataplane-my-store"
    project = tomllib.loads((root / "pyproject.toml").read_text())
    assert project["project"]["entry-points"]["atg_dataplane"] == {
        "my_store": "atg_dataplane_my_store.plugin"
    }


def test_nested_resource_type(tmp_path: Path) -> None:
    root = render_plugin(
        "containers",
        resource_type="Microsoft.Storage/storageAccounts/blobServices",
        directory=tmp_path,
    )
    assert (
        "storageAccounts/blobServices"
        in (root / "src/atg_dataplane_containers/plugin.py").read_text()
    )


@pytest.mark.parametrize(
    "name", ["", "Web", "1web", "web apps", "-web", "web-", "web--apps", "web/apps", "wéb"]
)
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(TemplateError, match="plugin name"):
        render_plugin(name, resource_type="A.B/c", directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "resource_type",
    [
        "",
        "sites",
        "Microsoft.Web",
        "Microsoft.Web/",
        "Microsoft.Web/sites/",
        "Microsoft.Web//sites",
        "/Microsoft.Web/sites",
        'Microsoft.Web/sites"',
        "Microsoft.Web/1sites",
        "Microsoft Web/sites",
    ],
)
def test_invalid_resource_types_are_refused(tmp_path: Path, resource_type: str) -> None:
    with pytest.raises(TemplateError, match="not an ARM type"):
        render_plugin("web", resource_type=resource_type, directory=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("kind", ["", "two words", "'quote", "1st"])
def test_invalid_item_kinds_are_refused(tmp_path: Path, kind: str) -> None:
    with pytest.raises(TemplateError, match="item kind"):
        render_plugin("web", resource_type="A.B/c", directory=tmp_path, item_kinds=(kind,))


def test_existing_directory_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "atg-dataplane-web-apps").mkdir()
    with pytest.raises(TemplateError, match="already exists"):
        _render(tmp_path)


def test_missing_parent_directory_is_created(tmp_path: Path) -> None:
    root = _render(tmp_path / "new" / "folder")
    assert (root / "pyproject.toml").is_file()


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.1.0", ("0.1", "0.2")),
        ("0.9.3", ("0.9", "0.10")),
        ("1.4.0", ("1.4", "2")),
        ("2.0", ("2.0", "3")),
    ],
)
def test_core_dependency_range(
    monkeypatch: pytest.MonkeyPatch, version: str, expected: tuple[str, str]
) -> None:
    monkeypatch.setattr(template, "__version__", version)
    assert template._core_range() == expected
