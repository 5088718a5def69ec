"""Acceptance tests for plugin loading, proven with REAL wheels in fresh virtualenvs.

Every scenario installs the core wheel and some fixture plugin wheels
(``tests/fixtures/plugins/``) into a new virtualenv and runs the installed
``atg-dataplane`` console script: no entry-point table is patched. See
``tests/conftest.py`` for how the virtualenvs are made cheap and isolated.
"""

from __future__ import annotations

import json
import re
import sys
import tarfile
import tomllib
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
REQUIRED_KEYS = {"name", "distribution", "version", "resource_types", "status", "error"}
STRICT = {"ATG_DATAPLANE_STRICT_PLUGINS": "1"}
PLUGIN_ERROR = 4

# The sandbox is a test tool with heavy dependencies and is mid-construction:
# it is built (sdist + wheel) below but never installed into a scenario venv.
NOT_INSTALLED = {"sandbox"}


def _pyproject(path: Path) -> dict[str, Any]:
    return tomllib.loads((path / "pyproject.toml").read_text(encoding="utf-8"))


def _discovered_packages() -> list[Path]:
    return sorted(p.parent for p in (ROOT / "packages").glob("*/pyproject.toml"))


def _plugin_entry_points(path: Path) -> dict[str, str]:
    return dict(_pyproject(path)["project"].get("entry-points", {}).get("atg_dataplane", {}))


def by_name(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    names = [row["name"] for row in rows]
    assert len(names) == len(set(names)), f"duplicate names in {names}"
    return {row["name"]: row for row in rows}


# ---------------------------------------------------------------- core alone


def test_core_wheel_alone_is_isolated_and_lists_no_plugins(
    venv_factory: Callable[..., Any], wheels: dict[str, Path]
) -> None:
    venv = venv_factory(wheels["core"], name="core-only")
    assert venv.distributions() == {"atg-dataplane"}

    where = venv.run("python", "-c", "import atg_dataplane; print(atg_dataplane.__file__)")
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(venv.site_packages), (
        "the scenario imported the core from outside its venv: " + where.stdout
    )
    sandbox = venv.run("python", "-c", "import atg_dataplane_sandbox")
    assert sandbox.returncode != 0, "the sandbox leaked into a scenario venv"
    check = venv.run("python", "-c", "import pytest, pluggy, click, rich, azure.identity")
    assert check.returncode == 0, check.stderr

    started = venv.run("python", "-c", "print(1)")  # the interpreter starts without warnings
    assert started.returncode == 0 and not started.stderr

    assert venv.plugins_json() == []
    text = venv.cli("plugins")
    assert text.returncode == 0
    assert "No plugins installed" in text.stdout

    version = venv.cli("--version")
    assert version.returncode == 0
    assert re.search(r"\b0\.\d+\.\d+", version.stdout), version.stdout
    helped = venv.cli("--help")
    assert helped.returncode == 0
    assert "plugins" in helped.stdout and "new-plugin" in helped.stdout


def test_every_core_module_imports_with_only_the_declared_dependencies(
    venv_factory: Callable[..., Any], wheels: dict[str, Path], command_runner: Callable[..., Any]
) -> None:
    """An import of something the core does not declare fails here, not on a user's machine."""
    venv = venv_factory(wheels["core"], name="core-imports")
    checked = command_runner([sys.executable, "-m", "pip", "--python", venv.python, "check"])
    assert "No broken requirements" in checked.stdout
    proc = venv.run(
        "python",
        "-c",
        "import importlib, pkgutil, atg_dataplane\n"
        "found = pkgutil.walk_packages(atg_dataplane.__path__, 'atg_dataplane.')\n"
        "names = [m.name for m in found]\n"
        "for name in names:\n"
        "    importlib.import_module(name)\n"
        "print(len(names))",
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout) >= 10


# ------------------------------------------------- criterion 1: install/list/uninstall


def test_plugins_lists_exactly_what_is_installed(
    venv_factory: Callable[..., Any], wheels: dict[str, Path]
) -> None:
    venv = venv_factory(wheels["core"], wheels["alpha"], name="install-uninstall")

    rows = venv.plugins_json()
    assert [row["name"] for row in rows] == ["alpha"]
    alpha = rows[0]
    assert set(alpha) >= REQUIRED_KEYS
    assert alpha["distribution"] == "atg-dataplane-fixture-alpha"
    assert alpha["version"] == "1.2.3"
    assert alpha["resource_types"] == ["Contoso.Alpha/things"]
    assert alpha["status"] == "loaded"
    assert alpha["error"] is None
    assert set(alpha["hooks"]) >= {
        "dataplane_resource_types",
        "dataplane_permissions",
        "dataplane_discover",
        "dataplane_replicate_item",
        "dataplane_register_commands",
    }

    venv.install(wheels["beta"])
    rows = by_name(venv.plugins_json())
    assert set(rows) == {"alpha", "beta"}
    assert rows["beta"]["distribution"] == "atg-dataplane-fixture-beta"
    assert rows["beta"]["version"] == "2.0.0"
    assert rows["beta"]["resource_types"] == ["Contoso.Beta/widgets"]
    assert rows["beta"]["modes"] == ["template"]
    assert all(row["status"] == "loaded" and row["error"] is None for row in rows.values())

    text = venv.cli("plugins")
    assert text.returncode == 0
    assert "alpha" in text.stdout and "beta" in text.stdout

    venv.uninstall("atg-dataplane-fixture-alpha")
    rows = venv.plugins_json()
    assert [row["name"] for row in rows] == ["beta"]
    assert rows[0]["status"] == "loaded"


# ------------------------------------- criteria 2 and 3, allow/deny lists, --disable


@pytest.fixture(scope="module")
def mixed_venv(venv_factory: Callable[..., Any], wheels: dict[str, Path]) -> Any:
    """Two good plugins, one that raises at import, one with an unknown hook."""
    return venv_factory(
        wheels["core"],
        wheels["alpha"],
        wheels["beta"],
        wheels["broken"],
        wheels["unknownhook"],
        name="mixed",
    )


def test_broken_plugin_is_listed_failed_and_command_exits_0(mixed_venv: Any) -> None:
    rows = by_name(mixed_venv.plugins_json())
    assert set(rows) == {"alpha", "beta", "broken", "unknownhook"}
    for row in rows.values():
        assert set(row) >= REQUIRED_KEYS

    broken = rows["broken"]
    assert broken["status"] == "failed"
    assert broken["distribution"] == "atg-dataplane-fixture-broken"
    assert "RuntimeError" in broken["error"]
    assert "fails at import on purpose" in broken["error"]
    assert broken["resource_types"] == []

    assert rows["alpha"]["status"] == "loaded"
    assert rows["beta"]["status"] == "loaded"

    text = mixed_venv.cli("plugins")
    assert text.returncode == 0
    assert "fails at import on purpose" in text.stdout


def test_plugin_with_unknown_hook_is_refused_naming_the_hook(mixed_venv: Any) -> None:
    rows = by_name(mixed_venv.plugins_json())
    refused = rows["unknownhook"]
    assert refused["status"] == "failed"
    assert "dataplane_not_a_hook" in refused["error"]
    assert "no specification" in refused["error"]
    # refused before registration: its valid hook did not claim a resource type
    assert refused["resource_types"] == []
    probe = mixed_venv.run(
        "python",
        "-c",
        "from atg_dataplane.plugins import load_plugins\n"
        "host = load_plugins()\n"
        "print(host.pm.get_plugin('unknownhook'), sorted(host.types))",
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split()[0] == "None"
    assert "contoso.unknown/hooks" not in probe.stdout


def test_other_plugins_still_work_next_to_broken_ones(mixed_venv: Any) -> None:
    helped = mixed_venv.cli("--help")
    assert helped.returncode == 0, helped.stderr
    assert "alpha-hello" in helped.stdout

    hello = mixed_venv.cli("alpha-hello")
    assert hello.returncode == 0, hello.stderr
    assert hello.stdout.strip() == "hello from alpha"

    routed = mixed_venv.run(
        "python",
        "-c",
        "from atg_dataplane import Fingerprinter, ReplicationMode\n"
        "from atg_dataplane.plugins import load_plugins\n"
        "host = load_plugins()\n"
        "hook = host.hook_for('contoso.alpha/THINGS', 'dataplane_discover')\n"
        "items = hook(resource='rid', mode=ReplicationMode.TEMPLATE, options={},\n"
        "             fingerprinter=Fingerprinter())\n"
        "print([i.key for i in items])\n"
        "print(host.owner('Contoso.Beta/widgets')[0])",
    )
    assert routed.returncode == 0, routed.stderr
    assert routed.stdout.splitlines() == ["['thing:thing-1']", "beta"]


def test_strict_mode_fails_naming_the_plugins(mixed_venv: Any) -> None:
    for args in (("plugins",), ("plugins", "--output", "json")):
        proc = mixed_venv.cli(*args, env=STRICT)
        assert proc.returncode == PLUGIN_ERROR, proc.stdout + proc.stderr
        assert "broken" in proc.stderr
        assert "atg-dataplane-fixture-broken" in proc.stderr
        assert "unknownhook" in proc.stderr
        assert "dataplane_not_a_hook" in proc.stderr
        assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("--disable", "broken", "--disable", "unknownhook"), {}),
        ((), {"ATG_DATAPLANE_DISABLE_PLUGINS": "broken, unknownhook"}),
        (("--disable", "broken"), {"ATG_DATAPLANE_DISABLE_PLUGINS": "unknownhook"}),
    ],
    ids=["--disable", "deny-env", "both"],
)
def test_disabled_plugins_are_not_loaded(
    mixed_venv: Any, args: tuple[str, ...], env: dict[str, str]
) -> None:
    rows = by_name(mixed_venv.plugins_json(*args, env={**STRICT, **env}))
    assert rows["broken"]["status"] == "disabled"
    assert rows["unknownhook"]["status"] == "disabled"
    assert rows["broken"]["error"] is None
    assert rows["alpha"]["status"] == rows["beta"]["status"] == "loaded"


def test_allow_list_loads_only_the_named_plugins(mixed_venv: Any) -> None:
    rows = by_name(mixed_venv.plugins_json(env={**STRICT, "ATG_DATAPLANE_PLUGINS": "alpha,beta"}))
    assert {name: row["status"] for name, row in rows.items()} == {
        "alpha": "loaded",
        "beta": "loaded",
        "broken": "disabled",
        "unknownhook": "disabled",
    }
    only_alpha = by_name(mixed_venv.plugins_json(env={"ATG_DATAPLANE_PLUGINS": "alpha"}))
    assert only_alpha["alpha"]["status"] == "loaded"
    assert only_alpha["beta"]["status"] == "disabled"
    # a plugin disabled by the allow-list adds no command
    gone = mixed_venv.cli("alpha-hello", env={"ATG_DATAPLANE_PLUGINS": "beta"})
    assert gone.returncode != 0


# ------------------------------------------ criterion 6: conflicts and duplicate names


def test_two_plugins_claiming_one_type_is_an_error_naming_both(
    venv_factory: Callable[..., Any], wheels: dict[str, Path]
) -> None:
    venv = venv_factory(wheels["core"], wheels["alpha"], wheels["clash"], name="conflict")
    rows = by_name(venv.plugins_json())
    for name in ("alpha", "clash"):
        assert rows[name]["status"] == "conflict"
        error = rows[name]["error"]
        assert "alpha (atg-dataplane-fixture-alpha)" in error
        assert "clash (atg-dataplane-fixture-clash)" in error
        assert "Contoso.Alpha/things".lower() in error.lower()

    strict = venv.cli("plugins", env=STRICT)
    assert strict.returncode == PLUGIN_ERROR
    assert "atg-dataplane-fixture-alpha" in strict.stderr
    assert "atg-dataplane-fixture-clash" in strict.stderr

    # disabling either side resolves the conflict
    rows = by_name(venv.plugins_json("--disable", "clash", env=STRICT))
    assert rows["alpha"]["status"] == "loaded"
    assert rows["clash"]["status"] == "disabled"


def test_duplicate_entry_point_names_are_reported(
    venv_factory: Callable[..., Any], wheels: dict[str, Path]
) -> None:
    venv = venv_factory(wheels["core"], wheels["alpha"], wheels["dupname"], name="dupname")
    rows = venv.plugins_json()
    assert [row["name"] for row in rows] == ["alpha", "alpha"]
    statuses = sorted(row["status"] for row in rows)
    assert statuses == ["failed", "loaded"]
    loaded = next(row for row in rows if row["status"] == "loaded")
    failed = next(row for row in rows if row["status"] == "failed")
    assert {loaded["distribution"], failed["distribution"]} == {
        "atg-dataplane-fixture-alpha",
        "atg-dataplane-fixture-dupname",
    }
    assert "must be unique" in failed["error"]
    assert loaded["distribution"] in failed["error"]

    strict = venv.cli("plugins", env=STRICT)
    assert strict.returncode == PLUGIN_ERROR
    assert "alpha" in strict.stderr and "must be unique" in strict.stderr


# ------------------------------------------- criterion 4: the template, in isolation


def test_generated_plugin_passes_conformance_in_its_own_venv(
    venv_factory: Callable[..., Any],
    wheels: dict[str, Path],
    wheel_builder: Callable[..., None],
    tmp_path: Path,
) -> None:
    # The installed core wheel renders the template (proves the template ships).
    venv = venv_factory(wheels["core"], name="template")
    made = venv.cli(
        "new-plugin",
        "gamma-rays",
        "--resource-type",
        "Contoso.Gamma/gizmos",
        "--item-kind",
        "gizmo",
        "--dir",
        str(tmp_path),
    )
    assert made.returncode == 0, made.stderr
    package = tmp_path / "atg-dataplane-gamma-rays"
    assert (package / "pyproject.toml").is_file()
    assert (package / "tests" / "test_conformance.py").is_file()

    again = venv.cli("new-plugin", "gamma-rays", "--resource-type", "A.B/c", "--dir", str(tmp_path))
    assert again.returncode == 2
    assert "already exists" in again.stderr

    out = tmp_path / "dist"
    wheel_builder([package], out)
    (wheel,) = out.glob("atg_dataplane_gamma_rays-*.whl")
    venv.install(wheel)
    assert venv.distributions() == {"atg-dataplane", "atg-dataplane-gamma-rays"}

    rows = venv.plugins_json(env=STRICT)
    assert len(rows) == 1
    (row,) = rows
    assert row["name"] == "gamma_rays"
    assert row["distribution"] == "atg-dataplane-gamma-rays"
    assert row["version"] == "0.1.0"
    assert row["resource_types"] == ["Contoso.Gamma/gizmos"]
    assert row["status"] == "loaded"

    # Its own tests, with its own rootdir, against the installed wheels only.
    tested = venv.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests", cwd=package
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    summary = tested.stdout.strip().splitlines()[-1]
    passed = re.search(r"\b(\d+) passed\b", summary)
    assert passed and int(passed.group(1)) >= 4, tested.stdout
    assert "failed" not in summary and "error" not in summary, tested.stdout


# --------------------------------- real packages: pip install ./core ./packages/<one>


@pytest.mark.parametrize(
    "package",
    [
        pytest.param(p, id=p.name)
        for p in _discovered_packages()
        if _plugin_entry_points(p) and p.name not in NOT_INSTALLED
    ],
)
def test_real_plugin_package_installs_alone_and_is_listed(
    venv_factory: Callable[..., Any],
    wheels: dict[str, Path],
    wheel_builder: Callable[..., None],
    package: Path,
    tmp_path: Path,
) -> None:
    wheel_builder([package], tmp_path)
    (wheel,) = tmp_path.glob("*.whl")
    venv = venv_factory(name=f"pkg-{package.name}")
    venv.install_resolving(wheels["core"], wheel, find_links=wheels["core"].parent)
    rows = venv.plugins_json(env=STRICT)
    expected = _plugin_entry_points(package)
    assert sorted(row["name"] for row in rows) == sorted(expected)
    for row in rows:
        assert row["distribution"] == _pyproject(package)["project"]["name"]
        assert row["status"] == "loaded", row["error"]


# ------------------------------------ every distribution builds a wheel and an sdist


@pytest.mark.parametrize(
    "project",
    [pytest.param(ROOT / "core", id="core")]
    + [pytest.param(p, id=p.name) for p in _discovered_packages()],
)
def test_sdist_and_wheel_build(
    project: Path, tmp_path: Path, command_runner: Callable[..., Any]
) -> None:
    # python -m build: sdist first, then the wheel built FROM the sdist, which
    # proves the sdist holds everything the wheel needs.
    command_runner([sys.executable, "-m", "build", "--no-isolation", "--outdir", tmp_path, project])
    meta = _pyproject(project)["project"]
    stem = meta["name"].replace("-", "_")
    (sdist,) = tmp_path.glob(f"{stem}-*.tar.gz")
    (wheel,) = tmp_path.glob(f"{stem}-*-py3-none-any.whl")

    with tarfile.open(sdist) as tar:
        names = {Path(n).relative_to(Path(n).parts[0]).as_posix() for n in tar.getnames()}
    assert "pyproject.toml" in names
    assert "PKG-INFO" in names
    readme = meta.get("readme")
    if readme:
        assert readme in names

    with zipfile.ZipFile(wheel) as zf:
        files = zf.namelist()
        info = next(n for n in files if n.endswith(".dist-info/METADATA"))
        metadata = zf.read(info).decode()
        eps_file = next((n for n in files if n.endswith(".dist-info/entry_points.txt")), None)
        eps_text = zf.read(eps_file).decode() if eps_file else ""
    assert f"Name: {meta['name']}" in metadata
    version = re.search(r"^Version: (\S+)$", metadata, re.MULTILINE)
    assert version, metadata

    declared = meta.get("entry-points", {})
    if meta.get("scripts"):
        declared = {**declared, "console_scripts": meta["scripts"]}
    for group, entries in declared.items():
        assert f"[{group}]" in eps_text, f"{wheel.name} lacks entry point group {group}"
        for name, value in entries.items():
            assert f"{name} = {value}" in eps_text, f"{wheel.name} lacks {group}:{name}"
    assert any(f.endswith("__about__.py") for f in files)
    if project.name == "core":
        for needed in (
            "atg_dataplane/plugin_template/pyproject.toml.tmpl",
            "atg_dataplane/plugin_template/tests/test_conformance.py.tmpl",
            "atg_dataplane/plugin_template/src/__module__/plugin.py.tmpl",
            "atg_dataplane/testing/pytest_plugin.py",
        ):
            assert needed in files, f"the core wheel lacks {needed}"


def test_json_listing_is_stable_for_scripts(
    venv_factory: Callable[..., Any], wheels: dict[str, Path]
) -> None:
    """Rows are sorted by entry point name and serialise every documented key."""
    venv = venv_factory(wheels["core"], wheels["beta"], wheels["alpha"], name="stable")
    proc = venv.cli("plugins", "-o", "json")
    assert proc.returncode == 0
    rows = json.loads(proc.stdout)
    assert [r["name"] for r in rows] == ["alpha", "beta"]
    for row in rows:
        assert isinstance(row["resource_types"], list)
        assert isinstance(row["version"], str) and row["version"]
        assert row["status"] in {"loaded", "failed", "disabled", "conflict"}
