"""A replication spread over a Dask cluster (``--executor dask``, issue 23) against the
sandbox's large scenario: the same items as the threads executor, verified at 100 %, no
secret value in a task, the scheduler's or the workers' logs; a killed worker or driver
loses nothing and copies nothing twice."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_helpers import Cli, assert_no_canary, canaries, start_private_sandbox

pytestmark = pytest.mark.sandbox
distributed = pytest.importorskip("distributed")

SLOW = "*:latency=15ms"
"""Added latency for the kill tests: a run long enough to be killed in the middle."""


def _seeded(directory: Path, faults: str | None = None) -> Iterator[dict[str, Any]]:
    from atg_dataplane_sandbox import sandbox as sbx
    from atg_dataplane_sandbox import seed

    info = start_private_sandbox(directory, faults=faults)
    try:
        report = seed.seed(directory, "large", 1)
        yield {"dir": directory, "config": str(info.config_path), "counts": report.counts}
    finally:
        sbx.down(directory)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from _seeded(tmp_path_factory.mktemp("e2e-dask"))


@pytest.fixture(scope="module")
def slow_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from _seeded(tmp_path_factory.mktemp("e2e-dask-kill"), faults=SLOW)


@pytest.fixture(scope="module")
def another_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    yield from _seeded(tmp_path_factory.mktemp("e2e-dask-resume"), faults=SLOW)


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    """A cluster of two worker processes (each behind a nanny that restarts it)."""
    # Every log line of the scheduler and the workers kept (INFO too): the canary check
    # reads them.
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=4, processes=True, dashboard_address=None,
        silence_logs=False,
    ) as local, distributed.Client(local) as client:
        yield local, client


def _counts(summary: dict[str, Any]) -> dict[str, int]:
    """Items per resource and kind, whatever happened to them."""
    found: dict[str, int] = {}
    for rid, kinds in summary["resources"].items():
        for kind, c in kinds.items():
            total = c["replicated"] + c["unchanged"] + c["skipped"] + c["failed"]
            found[f"{rid.rsplit('/', 1)[-1]}/{kind}"] = total
    return found


def _summary(stdout: str) -> dict[str, Any]:
    events = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert events and events[-1]["event"] == "summary", stdout[-2000:]
    return dict(events[-1])


def _replicate(config: str, *extra: str) -> list[str]:
    return ["replicate", "--config", config, "--mode", "replication", "--yes", "-o", "json",
            "--all-versions", *extra]


def test_local_cluster_copies_what_threads_copy_and_verifies(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    config = world["config"]
    run = cli(*_replicate(config, "--executor", "dask", "--scheduler", "local:2"), timeout=600)
    dask = _summary(run.stdout)
    assert dask["success"], dask["result"]["errors"][:5]
    assert dask["result"]["replicated"] > 300
    # Progress: the workers' item events reached the driver's JSON stream, one per item.
    events = [json.loads(line) for line in run.stdout.splitlines() if line.startswith("{")]
    items = [e for e in events if e["event"] in ("item_done", "item_skipped", "item_failed")]
    assert len(items) == dask["result"]["discovered"]
    report = cli("verify", "--config", config, "--mode", "replication", "--all-versions",
                 "-o", "json").json()
    assert report["fidelity"] == 100.0, report["items"][:5]
    assert not list((world["dir"] / ".atg-dataplane" / "shards").glob("*/*.db"))

    # The threads executor over the same pairs finds the same items, kind by kind (all
    # unchanged now), and never imports Dask.
    probe = (
        "import atexit, sys\n"
        "atexit.register(lambda: print('dask imported' if 'distributed' in sys.modules "
        "else 'no dask', file=sys.stderr))\n"
        "from atg_dataplane.cli import main\n"
        f"sys.argv = ['atg-dataplane', *{_replicate(config)!r}]\n"
        "main()\n"
    )
    threads = subprocess.run(
        [sys.executable, "-c", probe], cwd=world["dir"], capture_output=True, text=True,
        timeout=600, env={**os.environ, "COLUMNS": "200"},
    )
    assert threads.returncode == 0, threads.stderr[-2000:]
    assert threads.stderr.rstrip().endswith("no dask")
    again = _summary(threads.stdout)
    assert _counts(again) == _counts(dask)
    assert again["result"]["replicated"] == 0
    assert_no_canary([*cli.outputs, threads.stdout, threads.stderr], canaries(world["dir"]))


def test_a_secret_on_the_command_line_is_refused_with_dask(world: dict[str, Any]) -> None:
    result = Cli(cwd=world["dir"])(
        "replicate", "--config", world["config"], "--executor", "dask", "--scheduler",
        "local:1", "--sp-client-id", "someone", "--sp-client-secret", "atgcanary-notsent",
        check=None,
    )
    assert result.code == 2, result.stderr
    assert "--sp-client-secret-file" in result.stderr
    assert "atgcanary-notsent" not in result.stdout + result.stderr


def test_a_bad_scheduler_is_one_line_naming_the_fix(world: dict[str, Any]) -> None:
    cli = Cli(cwd=world["dir"])
    bad = cli("replicate", "--config", world["config"], "--executor", "dask",
              "--scheduler", "yarn", check=None)
    assert bad.code == 2 and "local:N" in bad.stderr and "tcp://HOST:PORT" in bad.stderr
    alone = cli("replicate", "--config", world["config"], "--scheduler", "local:2", check=None)
    assert alone.code == 2 and "--executor dask" in alone.stderr


def _worker_pids(client: Any) -> list[int]:
    return sorted(client.run(os.getpid).values())


def _wait_for(check: Any, seconds: float, what: str) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _busy_shard(state: Path) -> str:
    """The id of a shard that has journalled a few items and is not finished."""
    for segment in state.glob("shards/*/*.db"):
        try:
            with sqlite3.connect(f"file:{segment}?mode=ro", uri=True, timeout=1) as db:
                if db.execute("SELECT count(*) FROM items").fetchone()[0] >= 3:
                    return segment.stem
        except sqlite3.Error:
            continue
    return ""


def _finished_shards(state: Path) -> int:
    try:
        with sqlite3.connect(f"file:{state / 'journal.db'}?mode=ro", uri=True, timeout=1) as db:
            return int(db.execute("SELECT count(*) FROM shards").fetchone()[0])
    except sqlite3.Error:
        return 0


def _start(cli_args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "atg_dataplane", *cli_args], cwd=cwd, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200"},
    )


def _on_cluster(world: dict[str, Any], local: Any) -> tuple[Path, Path, list[str], Cli]:
    """The sandbox's folder, its state folder, the replicate arguments on ``local``'s
    scheduler, and a CLI runner there."""
    directory = world["dir"]
    args = _replicate(world["config"], "--executor", "dask", "--scheduler",
                      local.scheduler_address)
    return directory, directory / ".atg-dataplane", args, Cli(cwd=directory)


def test_a_killed_worker_loses_nothing_and_copies_nothing_twice(
    slow_world: dict[str, Any], cluster: Any
) -> None:
    local, client = cluster
    directory, state, args, cli = _on_cluster(slow_world, local)
    config = slow_world["config"]

    # A worker process dies mid-run (SIGKILL): its shards run again elsewhere.
    driver = _start(args, directory)

    def running_shard() -> tuple[str, int] | None:
        shard = _busy_shard(state)
        for address, keys in client.processing().items():
            if shard and any(str(key).startswith(f"atg-shard-{shard}") for key in keys):
                return shard, client.run(os.getpid, workers=[address])[address]
        return None

    _, pid = _wait_for(running_shard, 120, "a shard with items done, still running")
    os.kill(pid, signal.SIGKILL)
    out, err = driver.communicate(timeout=600)
    assert driver.returncode == 0, err[-3000:]
    first = _summary(out)
    assert first["success"], first["result"]["errors"][:5]
    # The shard ran again on the other worker and passed over what it had journalled.
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    passed_over = [e for e in events if e.get("reason") == "done before resume"]
    assert len(passed_over) >= 3, first["result"]
    assert pid not in _wait_for(
        lambda: len(_worker_pids(client)) == 2 and _worker_pids(client), 60, "a new worker"
    )
    report = cli("verify", "--config", config, "--mode", "replication", "--all-versions",
                 "-o", "json").json()
    # Every version once: a version written twice is an extra version in the target,
    # which verify counts as a difference.
    assert report["fidelity"] == 100.0, report["items"][:5]

    # No secret value in the scheduler's or the workers' logs, nor in what they sent.
    logs = [json.dumps(client.get_scheduler_logs()), json.dumps(client.get_worker_logs()),
            json.dumps(client.get_events(), default=str)]
    assert_no_canary([*logs, *cli.outputs, out, err], canaries(directory))


def test_a_killed_driver_resumes_without_copying_finished_shards_again(
    another_world: dict[str, Any], cluster: Any
) -> None:
    directory, state, args, cli = _on_cluster(another_world, cluster[0])
    config = another_world["config"]
    driver = _start(args, directory)
    _wait_for(lambda: _finished_shards(state) >= 1, 300, "a finished shard")
    driver.kill()  # SIGKILL: no clean-up at all
    out, err = driver.communicate(timeout=60)
    with sqlite3.connect(state / "journal.db") as db:
        finished = [r[0] for r in db.execute("SELECT resource_id FROM shards")]
    resumed = cli(*args, timeout=600)
    summary = _summary(resumed.stdout)
    assert summary["success"], summary["result"]["errors"][:5]
    assert f"{len(finished)} shard(s) done before resume" in resumed.stderr
    # The finished shards' items are counted as done before the resume, none copied again.
    for rid in finished:
        kinds = summary["resources"][rid]
        assert all(c["replicated"] == 0 and c["unchanged"] == 0 for c in kinds.values())
        assert sum(c["skipped"] for c in kinds.values()) > 0
    # The other shards went on where their segments (or their shards, still running on
    # the cluster when the driver died) left off: every item is accounted for once.
    result = summary["result"]
    assert result["failed"] == 0 and result["discovered"] == result["replicated"] + result[
        "skipped"]
    report = cli("verify", "--config", config, "--mode", "replication", "--all-versions",
                 "-o", "json").json()
    assert report["fidelity"] == 100.0, report["items"][:5]
    assert_no_canary([*cli.outputs, out, err], canaries(directory))
