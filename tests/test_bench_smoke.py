"""The benchmark at its smallest size (``bench/run.py --quick``): it completes, writes its
results, and atg-dataplane's copy verifies at 100 %. No timing is asserted: CI machines
are shared and noisy; the ratios are for people to read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
KEYS = (
    "speedup_vs_baseline",
    "share_of_ceiling",
    "memory_growth_10x",
    "client_payload_bytes_server_side",
    "template_seconds",
    "replication_seconds",
    "items",
    "scale",
    "runs",
    "by_latency",
    "faults",
    "dask",
    "by_type",
    "share_of_ceiling_100x",
    "memory_growth_100x",
    "items_per_second_1x",
    "items_per_second_10x",
    "items_per_second_100x",
    "verify_seconds_10x",
    "verify_seconds_100x",
    "plugins",
    "ladder",
)


def _emulators_missing() -> str:
    try:
        from atg_dataplane_sandbox.sandbox import check_installed
    except ImportError:
        return "atg-dataplane-sandbox is not installed"
    missing = check_installed()
    return "; ".join(str(m) for m in missing)


def test_quick_benchmark_completes_and_ours_verifies(tmp_path: Path) -> None:
    missing = _emulators_missing()
    if missing:
        if os.environ.get("ATG_DATAPLANE_REQUIRE_SANDBOX") == "1":
            pytest.fail(f"the benchmark needs the sandbox: {missing}")
        pytest.skip(f"the benchmark needs the sandbox: {missing}")
    out = tmp_path / "out"
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--quick",
            "--work",
            str(tmp_path / "work"),
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=900,  # a guard against a hang: alone it takes about three minutes
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((out / "results.json").read_text())
    for key in KEYS:
        assert key in results, f"results.json lacks {key}"
    assert (out / "results.md").read_text().startswith("# Benchmark results")
    # The fault run (quick mode: a tenth of answers broken) ended verified, nothing failed.
    under = results["faults"]["10"]
    assert under["failed"] == 0 and under["fidelity"] == 100.0, under
    assert under["ratio"] > 0
    # The same copy on a local Dask cluster: the same items, verified.
    dask = results["dask"]
    assert dask["items_match"] and dask["dask_fidelity"] == 100.0, dask
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        pass  # the chart is optional where matplotlib is not installed
    else:
        assert (out / "results.png").stat().st_size > 0
    ours = [run for run in results["runs"] if run["contender"] == "ours"]
    assert ours and all(run["fidelity"] == 100.0 for run in ours)
    assert all(run["exit_code"] == 0 and run["failed"] == 0 for run in ours)
    assert results["items"] > 0
    # The contenders copied the same items.
    assert all(row["items_match"] for row in results["by_latency"].values())
    assert 0 <= results["share_of_ceiling"] <= 1
    # Ours' client CPU is split by phase, next to the ceiling's during its timed writes.
    for row in results["by_latency"].values():
        split = row["client_cpu_seconds_by_phase"]
        assert split["ceiling_timed"] > 0
        assert split["ours"]["items"] > 0 and split["ours"]["discovery"] > 0
    # Each benchmarked type alone, ours against its baseline (registries: az acr import per
    # tag), the same items, ours verified; images moved server-side.
    by_type = results["by_type"]
    assert set(by_type) == set(results["resource_types"]), by_type
    assert "Microsoft.ContainerRegistry/registries" in by_type
    for row in by_type.values():
        assert row["items_match"] and row["items"] > 0 and row["ours_fidelity"] == 100.0, row
    assert by_type["Microsoft.ContainerRegistry/registries"]["ours_client_payload_bytes"] == 0
    # Cosmos DB: ours against a sequential read/upsert loop; documents pass through the
    # client in both (no server-side copy exists across accounts).
    cosmos = by_type["Microsoft.DocumentDB/databaseAccounts"]
    assert cosmos["ours_client_payload_bytes"] > 0
    assert all(0 < row["share_of_ceiling"] <= 1 for row in by_type.values()), by_type
    assert set(results["plugins"]) == set(by_type)
    # The ladder (quick: scales 1, 2 and 3 under the names 1x, 10x, 100x): each step ran,
    # its items grow with the scale, verify was timed, the ceiling ran at the top.
    steps = results["ladder"]
    assert list(steps) == ["1x", "10x", "100x"], steps
    assert steps["1x"]["items"] < steps["10x"]["items"] < steps["100x"]["items"]
    assert all(row["verify_seconds"] > 0 and row["journal_bytes"] > 0 for row in steps.values())
    assert 0 < results["share_of_ceiling_100x"] <= 1


def test_peak_memory_is_the_childs_own_not_the_runners(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A small run measured by a large runner reads as small: ``wait4``'s ``ru_maxrss``
    would report at least the runner's own RSS (Linux carries it across the exec)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, runner)  # its dataclasses look it up
    spec.loader.exec_module(runner)
    ballast = bytearray(400 * 2**20)
    ballast[:: 4096] = b"\1" * len(ballast[:: 4096])  # touched: resident in the runner
    child = (
        "import time\n"
        "x = bytearray(64 * 2**20)\n"
        "x[::4096] = b'\\1' * len(x[::4096])\n"
        "time.sleep(0.5)\n"
    )
    measured = runner.measure([sys.executable, "-c", child], tmp_path, "child")
    assert measured.code == 0
    assert 64 * 2**20 <= measured.rss < 200 * 2**20, measured.rss / 2**20
    del ballast


def test_a_failed_cleanup_is_logged_and_the_runner_goes_on(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Removing a run's fresh targets happens after its figures are taken: an emulator that
    refuses the cleanup must not end the benchmark before it writes its results."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run_drop", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, runner)
    spec.loader.exec_module(runner)
    dropped: list[str] = []

    class Refusing:
        def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
            raise RuntimeError("The Cosmos DB server did not answer\nsecond line")

    class Removing:
        def drop_targets(self, sandbox_dir: str, names: list[str]) -> None:
            dropped.extend(names)

    monkeypatch.setattr(runner, "ADAPTERS", {"cosmos": Refusing(), "vaults": Removing()})
    bench = object.__new__(runner.Bench)  # no sandbox, no plugins: only drop() runs
    bench.drop(Path("/nonexistent"), {"cosmos": ["tgtcosmos1"], "vaults": ["kv-1", "kv-2"]})
    assert dropped == ["kv-1", "kv-2"]  # the next type's targets still go
    err = capsys.readouterr().err
    assert "could not remove the fresh cosmos targets" in err
    assert "RuntimeError: The Cosmos DB server did not answer" in err
    assert "second line" not in err


def _runner(monkeypatch: pytest.MonkeyPatch) -> Any:
    """bench/run.py as a module (it is a script, not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_run_module", ROOT / "bench" / "run.py")
    assert spec is not None and spec.loader is not None
    runner = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, runner)
    spec.loader.exec_module(runner)
    return runner


def test_the_whole_baseline_is_its_types_runs_added_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """A sequential loop over the tenant is its loops over each type back to back: the full
    run no longer runs the whole of it again (14 of its minutes at scale 10)."""
    runner = _runner(monkeypatch)

    def part(rtype: str, seconds: float, items: int, matching: int, compared: int) -> object:
        run = runner.Run(f"baseline:{rtype}", 10, 20, seconds, 100 + items, items,
                         client_payload_bytes=items * 10, exit_code=0, seconds=seconds,
                         cpu_seconds=1.5, failed=0, items_by_kind={"secret": items},
                         client_payload_bytes_by_kind={"secret": items * 10})
        run.fidelity, run.verified = 100.0 * matching / compared, True
        run.detail = {"verify": {"compared": compared, "matching": matching, "different": 0,
                                 "missing": compared - matching, "not_copyable": 1},
                      "verify_seconds": 2.0}
        return run

    runs = [part("A", 10.0, 40, 40, 40), part("B", 30.0, 60, 57, 60),
            runner.Run("baseline:A", 1, 20, 99.0, 1, 1, 0, 0, 99.0)]  # another scale
    whole = runner.joined(runs, "baseline", 10, 20, ["A", "B"])
    assert (whole.contender, whole.wall_seconds, whole.items) == ("baseline", 40.0, 100)
    assert whole.peak_rss_bytes == 160 and whole.cpu_seconds == 3.0
    assert whole.items_by_kind == {"secret": 100} and whole.client_payload_bytes == 1000
    assert whole.fidelity == 97.0 and whole.verified  # 97 of the 100 compared
    assert whole.detail["verify"]["not_copyable"] == 2 and whole.detail["verify_seconds"] == 4.0


def test_a_ceiling_that_broke_off_is_no_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    """The full run of 2026-12-07 reported 100 % of the ceiling at 100x from a ceiling
    whose plan broke off after 769 s (exit 1, no item written): its wall time was taken
    for the ceiling's timed writes."""
    runner = _runner(monkeypatch)

    def ours(scale: int, seconds: float, items: int) -> Any:
        return runner.Run("ours", scale, 20, seconds, 200 * 2**20, items, 0, 0, seconds)

    runs = [ours(1, 6.5, 326), ours(10, 35.3, 2747), ours(100, 368.8, 26957),
            runner.Run("ceiling", 100, 20, 768.6, 2**20, 0, 0, 1, 768.6, concurrency=32)]
    figures = runner.ladder_figures(runs, [1, 10, 100], 20)
    assert figures["share_of_ceiling_100x"] is None  # not measured, not "met"
    runs.append(runner.Run("ceiling", 100, 20, 500.0, 2**20, 26957, 0, 0, 331.9,
                           concurrency=32))
    figures = runner.ladder_figures(runs, [1, 10, 100], 20)
    assert figures["share_of_ceiling_100x"] == 0.9  # 331.9 s of timed writes / 368.8 s


def test_the_committed_results_are_their_runs_summed_up(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every figure of the committed results derives from the raw runs they record: summed
    up again with today's summary they come out the same (after a change to the summary,
    ``python bench/run.py --summarize-from bench/results.json`` brings them up to date)."""
    runner = _runner(monkeypatch)
    path = ROOT / "bench" / "results.json"
    committed = json.loads(path.read_text())
    again = json.loads(json.dumps(runner.summarize_again(path)))
    for results in (committed, again):
        results.pop("summarized_again", None)
    assert again == committed
