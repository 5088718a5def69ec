"""The ``sandbox`` fixture skips (or, in CI, fails) clearly when the emulators are missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

USES_FIXTURE = """
def test_needs_sandbox(sandbox):
    assert sandbox.config_path.is_file()
"""


def _pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_uses_sandbox.py").write_text(USES_FIXTURE)
    full_env = {**os.environ, "ATG_DATAPLANE_SANDBOX_CACHE": str(tmp_path / "empty-cache"),
                **env}
    full_env.pop("ATG_DATAPLANE_SANDBOX_DIR", None)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         str(tmp_path / "test_uses_sandbox.py")],
        cwd=tmp_path, env=full_env, capture_output=True, text=True, timeout=120,
    )


def test_skips_with_the_install_command_when_emulators_are_missing(tmp_path: Path) -> None:
    result = _pytest(tmp_path, ATG_DATAPLANE_REQUIRE_SANDBOX="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 skipped" in result.stdout
    assert "emulators not installed" in result.stdout
    assert "npm install --prefix" in result.stdout


def test_fails_when_the_sandbox_is_required(tmp_path: Path) -> None:
    result = _pytest(tmp_path, ATG_DATAPLANE_REQUIRE_SANDBOX="1")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "sandbox required (ATG_DATAPLANE_REQUIRE_SANDBOX=1)" in result.stdout
