"""Sessions for the whole workspace.

Packages are discovered from ``packages/*/pyproject.toml``; there is no
hand-kept list. Sessions:

* ``tests``: core and every package installed together, every test, coverage
  reported per distribution.
* ``package-<name>``: the core plus that one package only, running that
  package's tests (proves "install only what you need").
* ``lint``: ruff everywhere, mypy on the core, the layering contracts (import-linter).
* ``demo``: the README's first command: sandbox up, seed, replicate, verify.
* ``bench``: the benchmarks (``bench/``).
"""

from __future__ import annotations

import os
import tomllib
from pathlib import Path

import nox

ROOT = Path(__file__).parent
nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = True

PYTHON = "3.11"
MIN_COVERAGE = 80


def _packages() -> dict[str, Path]:
    found = {}
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        found[pyproject.parent.name] = pyproject.parent
    return found


PACKAGES = _packages()


def _project(path: Path) -> dict:
    return tomllib.loads((path / "pyproject.toml").read_text())["project"]


def _module_of(path: Path) -> str:
    return _project(path)["name"].replace("-", "_")


def _editable(path: Path) -> list[str]:
    """``-e path``, with the package's ``test`` extra when it declares one."""
    extras = _project(path).get("optional-dependencies", {})
    return ["-e", f"{path}[test]" if "test" in extras else str(path)]


def _install_all(session: nox.Session) -> None:
    session.install("pytest>=8", "coverage[toml]>=7.10", "build", "hatchling")
    args = _editable(ROOT / "core")
    for path in PACKAGES.values():
        args += _editable(path)
    session.install(*args)


def _sandbox_install(session: nox.Session) -> None:
    """Install the emulators the sandbox needs (npm packages, Debian's registry)."""
    if "sandbox" in PACKAGES:
        session.run("atg-dataplane", "sandbox", "install")


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Everything installed together; all tests; coverage per distribution."""
    _install_all(session)
    _sandbox_install(session)
    modules = ["atg_dataplane"] + [_module_of(p) for p in PACKAGES.values()]
    test_dirs = ["core/tests"] + [
        str(p.relative_to(ROOT) / "tests") for p in PACKAGES.values() if (p / "tests").is_dir()
    ]
    test_dirs.append("tests")
    env = {"COVERAGE_FILE": str(ROOT / ".coverage"), "ATG_DATAPLANE_REQUIRE_SANDBOX": "1"}
    # coverage run (not pytest-cov): the core's pytest plugin imports core modules
    # before pytest-cov would start measuring.
    session.run("coverage", "erase", env=env)
    session.run(
        "coverage",
        "run",
        f"--source={','.join(modules)}",
        "-m",
        "pytest",
        *test_dirs,
        *session.posargs,
        env=env,
    )
    session.run("coverage", "combine", "--quiet", env=env)
    session.log("coverage per distribution (at least 80 % each):")
    for module in modules:
        session.log(module)
        session.run(
            "coverage",
            "report",
            f"--include=*/{module}/*",
            "--format=total",
            f"--fail-under={MIN_COVERAGE}",
            env=env,
        )


for _name, _path in PACKAGES.items():

    def _isolated(session: nox.Session, path: Path = _path) -> None:
        # The core, this package and the sandbox it is tested against (a test
        # bed that serves no resource type): no other plugin.
        sandbox = PACKAGES.get("sandbox")
        extra = _editable(sandbox) if sandbox and sandbox != path else []
        session.install("pytest>=8", *_editable(ROOT / "core"), *_editable(path), *extra)
        if sandbox:
            session.run("atg-dataplane", "sandbox", "install")
        session.run("pytest", str(path / "tests"), *session.posargs)

    _isolated.__doc__ = f"The core plus atg-dataplane-{_name} only (and the sandbox), its tests."
    nox.session(name=f"package-{_name}", python=PYTHON)(_isolated)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff on everything; mypy on the core; the layering contracts (import-linter)."""
    session.install(
        "ruff>=0.5", "mypy>=1.10", "import-linter>=2.1", "-e", f"{ROOT / 'core'}[dask]"
    )
    # The other distributions without their dependencies: import-linter reads sources only.
    session.install("--no-deps", *(f"-e{path}" for path in PACKAGES.values()))
    session.run("ruff", "check", ".")
    session.run("mypy", "core/src/atg_dataplane")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Start the sandbox, seed it, replicate it into the target tenant, verify."""
    _install_all(session)
    script = ROOT / "scripts" / "demo-steps.sh"
    if not script.exists():
        session.log("the demo is not built yet; listing the plugins instead")
        session.run("atg-dataplane", "plugins")
        return
    _sandbox_install(session)
    session.run("bash", str(script), *session.posargs, external=True, env=dict(os.environ))


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks against the baseline and the ceiling (writes bench/results.json)."""
    _install_all(session)
    session.install("matplotlib>=3.8")  # the chart (bench/results.png)
    runner = ROOT / "bench" / "run.py"
    if not runner.exists():
        session.log("the benchmarks are not built yet (issue 7)")
        return
    _sandbox_install(session)
    session.run("python", str(runner), *session.posargs)
