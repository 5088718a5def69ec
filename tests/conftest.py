"""Real wheels in real virtualenvs, for the packaging tests (``tests/test_packaging*.py``).

Nothing here patches an entry-point table: every scenario builds wheels with
the project's own build backend and installs them with pip into a fresh
virtualenv, then runs the installed ``atg-dataplane`` console script.

How it stays fast (the whole packaging module takes well under a minute on
two cores) and still isolated:

* Wheels for the core and for every fixture plugin under
  ``tests/fixtures/plugins/`` are built ONCE per session, without build
  isolation (hatchling is already installed where the tests run, so no
  network and no throw-away build environments).
* ONE *base* virtualenv per session holds only third-party packages: the
  core's runtime dependencies (read from ``core/pyproject.toml``) and pytest.
  It never holds any atg-dataplane distribution.
* Each scenario gets a brand-new virtualenv created ``--without-pip``
  (about 50 ms) whose ``site-packages`` carries one ``.pth`` line naming the
  base's ``site-packages``. Python appends that directory to ``sys.path``
  *after* the scenario's own ``site-packages``, so the scenario sees the
  shared dependencies but only the atg-dataplane wheels installed into it:
  not the workspace's editable installs, not the sandbox, not the system
  site-packages. pip is the test runner's own, pointed at the scenario with
  ``pip --python``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "core"
FIXTURE_PLUGINS = ROOT / "tests" / "fixtures" / "plugins"
PTH_NAME = "_atg_dataplane_test_base.pth"

# Variables of the outer test run that must not reach a scenario: they would
# put the workspace on sys.path, start coverage, or change the loader's mind.
_LEAKY_PREFIXES = ("ATG_DATAPLANE_", "COV_CORE_", "COVERAGE_", "PYTEST_", "VIRTUAL_ENV")
_LEAKY_NAMES = {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONSAFEPATH"}


def scenario_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in _LEAKY_NAMES and not key.startswith(_LEAKY_PREFIXES)
    }
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env.update(extra or {})
    return env


def run(
    cmd: Sequence[str | Path],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
    timeout: float = 300,
) -> subprocess.CompletedProcess[str]:
    """Run a command with a scrubbed environment; on failure show its output."""
    proc = subprocess.run(
        [str(c) for c in cmd],
        env=scenario_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"command failed with exit code {proc.returncode}: {' '.join(map(str, cmd))}\n"
            f"--- stdout ---\n{proc.stdout}\n--- stderr ---\n{proc.stderr}"
        )
    return proc


def pip(*args: str | Path, python: Path | None = None) -> subprocess.CompletedProcess[str]:
    """The test runner's pip, optionally aimed at another interpreter (``--python``)."""
    target = ["--python", str(python)] if python else []
    return run([sys.executable, "-m", "pip", *target, "--no-input", *args])


def build_wheels(projects: Sequence[Path], out: Path) -> None:
    """Build wheels with the project's backend, no isolation, no dependencies."""
    pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", out, *projects)


def _site_packages(venv: Path) -> Path:
    paths = {"base": str(venv), "platbase": str(venv)}
    return Path(sysconfig.get_path("purelib", scheme="venv", vars=paths))


def create_venv(path: Path) -> None:
    run([sys.executable, "-m", "venv", "--without-pip", path])


@dataclass
class Venv:
    """A scenario virtualenv: install wheels, run the installed console script."""

    path: Path

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def site_packages(self) -> Path:
        return _site_packages(self.path)

    def script(self, name: str) -> Path:
        return self.path / "bin" / name

    def install(self, *wheels: Path) -> None:
        pip("install", "--no-deps", "--no-index", "-q", *wheels, python=self.python)

    def install_resolving(self, *requirements: str | Path, find_links: Path) -> None:
        """Install with dependency resolution (PyPI allowed), preferring local wheels."""
        pip("install", "-q", "--find-links", find_links, *requirements, python=self.python)

    def uninstall(self, *distributions: str) -> None:
        pip("uninstall", "-y", "-q", *distributions, python=self.python)

    def run(
        self,
        *args: str | Path,
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        check: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        """Run a program from the venv's ``bin`` (``atg-dataplane``, ``python``)."""
        program, *rest = args
        return run([self.path / "bin" / str(program), *rest], env=env, cwd=cwd, check=check)

    def cli(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return self.run("atg-dataplane", *args, env=env)

    def plugins_json(
        self, *args: str, env: Mapping[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """``atg-dataplane [args] plugins --output json``, which must exit 0."""
        proc = self.cli(*args, "plugins", "--output", "json", env=env)
        assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
        return json.loads(proc.stdout)

    def distributions(self) -> set[str]:
        """Distributions installed in this venv's own site-packages."""
        return {
            p.name.split("-")[0].lower().replace("_", "-")
            for p in self.site_packages.glob("*.dist-info")
        }


def core_requirements() -> list[str]:
    project = tomllib.loads((CORE / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"])


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Wheels of the core (``"core"``) and of each fixture plugin (by folder name)."""
    out = tmp_path_factory.mktemp("wheelhouse")
    fixtures = sorted(p for p in FIXTURE_PLUGINS.iterdir() if (p / "pyproject.toml").is_file())
    build_wheels([CORE, *fixtures], out)
    built: dict[str, Path] = {}
    for project in [CORE, *fixtures]:
        name = tomllib.loads((project / "pyproject.toml").read_text())["project"]["name"]
        prefix = name.replace("-", "_") + "-"
        matches = sorted(out.glob(f"{prefix}*.whl"))
        assert len(matches) == 1, f"expected one wheel for {name} in {out}: {matches}"
        built["core" if project == CORE else project.name] = matches[0]
    return built


@pytest.fixture(scope="session")
def wheel_builder() -> Callable[[Sequence[Path], Path], None]:
    """``build_wheels(projects, out)`` for tests that build a wheel of their own."""
    return build_wheels


@pytest.fixture(scope="session")
def command_runner() -> Callable[..., subprocess.CompletedProcess[str]]:
    """``run(cmd, env=..., cwd=..., check=True)`` with the scrubbed environment."""
    return run


@pytest.fixture(scope="session")
def base_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Third-party dependencies only, shared read-only by every scenario venv."""
    path = tmp_path_factory.mktemp("base") / "venv"
    create_venv(path)
    pip("install", "-q", *core_requirements(), "pytest>=8", python=path / "bin" / "python")
    leaked = [p.name for p in _site_packages(path).glob("atg_dataplane*")]
    assert not leaked, f"the base venv must hold no atg-dataplane distribution: {leaked}"
    return _site_packages(path)


@pytest.fixture(scope="session")
def venv_factory(
    tmp_path_factory: pytest.TempPathFactory, base_venv: Path
) -> Iterator[Callable[..., Venv]]:
    """Create a fresh scenario venv, optionally installing wheels into it."""

    def make(*wheels_to_install: Path, name: str = "scenario") -> Venv:
        venv = Venv(tmp_path_factory.mktemp(name) / "venv")
        create_venv(venv.path)
        venv.site_packages.mkdir(parents=True, exist_ok=True)
        (venv.site_packages / PTH_NAME).write_text(f"{base_venv}\n", encoding="utf-8")
        if wheels_to_install:
            venv.install(*wheels_to_install)
        return venv

    yield make
