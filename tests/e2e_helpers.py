"""Shared helpers for end-to-end tests: a private sandbox per module and the CLI
run exactly as a user runs it (a subprocess), with every output kept for leak
scans."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest


@dataclass
class CliResult:
    args: tuple[str, ...]
    code: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def summary(self) -> dict[str, Any]:
        """The result of the ``summary`` event that ends ``replicate -o json``'s stream."""
        events = [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]
        assert events and events[-1]["event"] == "summary", self.stdout[-2000:]
        return dict(events[-1]["result"])


@dataclass
class Cli:
    """Runs ``python -m atg_dataplane ...`` and keeps every output."""

    cwd: Path
    outputs: list[str] = field(default_factory=list)

    def __call__(
        self,
        *args: str,
        timeout: float = 300,
        env: dict[str, str] | None = None,
        check: int | None = 0,
    ) -> CliResult:
        proc = subprocess.run(
            [sys.executable, "-m", "atg_dataplane", *args],
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "COLUMNS": "200", **(env or {})},
            stdin=subprocess.DEVNULL,
        )
        self.outputs += [proc.stdout, proc.stderr]
        result = CliResult(tuple(args), proc.returncode, proc.stdout, proc.stderr)
        if check is not None and proc.returncode != check:
            raise AssertionError(
                f"atg-dataplane {' '.join(args)} exited {proc.returncode}, expected {check}\n"
                f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
            )
        return result


def only_types(config_path: Path, *types: str) -> None:
    """Limit a sandbox config to some resource types (other plugins may be installed)."""
    config = json.loads(config_path.read_text())
    config["filters"]["types"] = list(types)
    config_path.write_text(json.dumps(config, indent=2))


def start_private_sandbox(directory: Path, faults: str | None = None) -> Any:
    """A sandbox of this module's own (cheap: about two seconds)."""
    sbx = pytest.importorskip("atg_dataplane_sandbox.sandbox")
    missing = sbx.check_installed()
    if missing:
        if os.environ.get("ATG_DATAPLANE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"emulators not installed: {missing}")
        pytest.skip(f"emulators not installed: {missing}")
    return sbx.up(directory, faults=faults)


@contextmanager
def seeded_sandbox(directory: Path, *types: str) -> Iterator[dict[str, Any]]:
    """A private sandbox in ``directory`` seeded with the reference scenario (its config
    limited to ``types`` when given), stopped on exit: ``{"dir", "config", "counts"}``
    (``counts``: what the seed wrote, kind by kind)."""
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    info = start_private_sandbox(directory)
    if types:
        only_types(info.config_path, *types)
    try:
        report = seed.seed(directory, "reference")
        yield {"dir": directory, "config": str(info.config_path), "counts": report.counts}
    finally:
        sbx.down(directory)


def canaries(directory: Path) -> list[str]:
    """The unique canary tokens embedded in every seeded secret value."""
    import re

    data = json.loads((directory / "seeded-canaries.json").read_text())
    tokens = set()
    for value in data["values"]:
        tokens.update(re.findall(r"atgcanary-[0-9a-f]+", value))
    assert tokens, "the seed recorded no canaries"
    return sorted(tokens)


def assert_no_canary(texts: list[str | bytes], tokens: list[str]) -> None:
    for text in texts:
        blob = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
        for token in tokens:
            assert token.encode() not in blob, f"secret value {token[:14]}... leaked"
