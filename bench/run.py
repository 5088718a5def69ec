"""Benchmarks: atg-dataplane against the sequential baseline and the emulators' ceiling.

Every figure that matters is a ratio of runs made in the same invocation on the same
machine, so a noisy shared machine moves numerator and denominator together.

    python bench/run.py                    # scale 10, latencies 20 ms and 0 ms (nox -s bench)
    python bench/run.py --quick            # the CI smoke size: scale 1, 0 ms, no timing targets
    python bench/run.py --scale 3 --latency-ms 20 --sweep 16,64

Per sandbox (one per scale, started and seeded with the ``large`` scenario here):

* **ours**: ``atg-dataplane replicate --mode replication --yes`` with default settings, as a
  subprocess (wall time, peak RSS from ``wait4``), then ``atg-dataplane verify``;
* **baseline**: ``bench/baseline.py``, the seed documents' sequential loop;
* **ceiling**: ``bench/ceiling.py`` at each ``--sweep`` concurrency; the fastest counts;
* **template**: ``atg-dataplane replicate --mode template`` at scale 1;
* **dask**: ours with ``--executor dask --scheduler local:2`` (a cluster of two worker
  processes on this machine, started by the run), against ours on threads, at the first
  latency: what the cluster's overhead costs where it cannot win;
* **under faults**: ours with every Key Vault version (``keyvault.all_versions``), without
  faults and under the sandbox's fault mix (``mix=0.1`` and ``mix=0.3`` on every service of
  both tenants: 429 and 503 with ``Retry-After``, dropped connections, answers lost after
  the write), at the first latency; the ratios of their times are the figures.

Each run writes into fresh, empty target resources (new vaults, a cleared storage account),
made before the run and removed after it, so every contender starts from the same state.
Outputs: ``bench/results.json``, ``bench/results.md``, ``bench/results.png``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from adapters import ADAPTERS  # noqa: E402

SEED_KIND_TYPES = {
    "keyvault": "microsoft.keyvault/vaults",
    "storage": "microsoft.storage/storageaccounts",
    "cosmos": "microsoft.documentdb/databaseaccounts",
    "registry": "microsoft.containerregistry/registries",
    "apimanagement": "microsoft.apimanagement/service",
    "appservice": "microsoft.web/sites",
    "compute": "microsoft.compute/virtualmachines",
    "sql": "microsoft.sql/servers",
}
"""Seed kind -> the resource type its resources are (each contender copies into fresh
targets of every benchmarked type: a type missing here would be copied into targets an
earlier contender filled)."""
PERMISSIONS_MISSING = 3  # atg-dataplane's exit code when the permission check finds gaps
PHASES = "ours-phases"
VERSIONS_RUN = "ours-versions"
"""Ours with every version, without faults: what the fault runs are compared with."""
DASK_RUN = "ours-dask"
DASK_SCHEDULER = "local:2"
OURS = ("ours", "template", VERSIONS_RUN, DASK_RUN,
        *(f"ours-faults-{share}" for share in (10, 30)))
"""An extra, untimed run of ours that splits its client CPU by phase (``bench/phases.py``)."""
TARGETS = {
    "speedup_vs_baseline": 10.0,
    "share_of_ceiling": 0.9,
    "share_of_ceiling_100x": 0.9,
    "memory_growth_10x": 1.5,
    "memory_growth_100x": 1.5,
    "items_per_second_100x_over_10x": 1.0,
    "plugin_speedup_vs_baseline": 10.0,
    "client_payload_bytes_server_side": 0,
    "template_seconds": 60.0,
    "faults_10_ratio": 2.0,
    "faults_30_ratio": 5.0,
}
TYPE_CEILING_CONCURRENCY = 32
"""The ceiling's concurrency when each type runs alone (one run: the sweep is for the whole)."""
LADDER = ("1x", "10x", "100x")
"""Names of the ladder's steps (``--ladder``: 1, 10 and 100 by default; the quick run's are
smaller, under the same names)."""
FAULT_SHARES = (10, 30)
"""Percentages of answers the fault runs break (``mix``); quick mode runs the first only."""
VERSIONS = {"keyvault.all_versions": True}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Run:
    contender: str
    scale: int
    latency_ms: int
    wall_seconds: float
    peak_rss_bytes: int
    items: int
    client_payload_bytes: int
    exit_code: int
    seconds: float
    """The contender's own timing: ours' engine duration, the ceiling's timed writes."""
    concurrency: int | None = None
    cpu_seconds: float = 0.0
    """CPU seconds of the contender's process (all of it, discovery included)."""
    sandbox_cpu_seconds: float = 0.0
    """CPU seconds the sandbox's processes used meanwhile (the emulators' share)."""
    fidelity: float | None = None
    verified: bool = False
    failed: int = 0
    items_by_kind: dict[str, int] = field(default_factory=dict)
    client_payload_bytes_by_kind: dict[str, int] = field(default_factory=dict)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        """The run did all its work: it exited 0 with no item failed. A ceiling whose plan
        broke off (exit 1, no items) has only its wall time, which is no ceiling."""
        return self.exit_code == 0 and not self.failed

    @property
    def items_per_second(self) -> float:
        return self.items / self.timed if self.timed else 0.0

    @property
    def timed(self) -> float:
        """What the comparisons use: the ceiling's timed work, everybody else's wall time."""
        return self.seconds if self.contender == "ceiling" else self.wall_seconds

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "items_per_second": round(self.items_per_second, 2)}


# ---------------------------------------------------------------- processes


def cli_path() -> str:
    local = Path(sys.executable).parent / "atg-dataplane"
    return str(local) if local.exists() else (shutil.which("atg-dataplane") or "atg-dataplane")


@dataclass
class Measured:
    code: int
    wall: float
    rss: int
    """The process's own peak resident set size in bytes (see :func:`measure`)."""
    cpu: float
    """User + system CPU seconds of the process: less sensitive to a busy machine than wall
    time."""
    out: str


HWM_SAMPLE_SECONDS = 0.05
"""How often :func:`measure` reads the child's high-water mark."""


def measure(argv: list[str], workdir: Path, name: str) -> Measured:
    """Run ``argv`` to its end; its stdout and stderr go to files in ``workdir``.

    The peak RSS is the child's own ``VmHWM``, read while it runs: the ``ru_maxrss`` that
    ``wait4`` reports is at least this process's RSS when the child was started (Linux
    carries the parent's high-water mark across the exec), so a child smaller than this
    runner read as large as the runner. The mark only rises, so the last reading is the
    peak, short of what the child adds in its last few milliseconds."""
    out = workdir / f"{name}.stdout"
    err = workdir / f"{name}.stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=stdout, stderr=stderr, stdin=subprocess.DEVNULL)
        peak = 0
        exited = os.pidfd_open(proc.pid)  # readable when the child ends: no sleep to wait out
        try:
            while not select.select([exited], [], [], HWM_SAMPLE_SECONDS)[0]:
                peak = max(peak, high_water_mark(proc.pid))
        finally:
            os.close(exited)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
    return Measured(
        proc.returncode,
        wall,
        peak or usage.ru_maxrss * 1024,  # ended before a reading: the upper bound
        usage.ru_utime + usage.ru_stime,
        out.read_text(errors="replace"),
    )


def high_water_mark(pid: int) -> int:
    """``VmHWM`` of ``pid`` in bytes (0 once it has exited)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def sandbox_cpu_by_process(directory: Path) -> dict[str, float]:
    """CPU seconds used so far by each of the sandbox's processes (emulator, Azurite, ...)."""
    ticks = os.sysconf("SC_CLK_TCK")
    found: dict[str, float] = {}
    for pid_file in (directory / "pids").glob("*.pid"):
        try:
            stat = Path(f"/proc/{int(pid_file.read_text().strip())}/stat").read_text()
        except (OSError, ValueError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        # utime stime cutime cstime
        found[pid_file.stem] = sum(int(v) for v in fields[11:15]) / ticks
    return found


def last_json(text: str) -> dict[str, Any]:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    return {}


# ------------------------------------------------------------------ sandbox


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work).resolve()
        self.runs: list[Run] = []
        self.counter = 0
        self.types = self._types()

    def _types(self) -> list[str]:
        from atg_dataplane.plugins import load_plugins

        host = load_plugins()
        installed = sorted({spec.resource_type for _, spec in host.types.values()})
        covered = [t for t in installed if t.lower() in ADAPTERS]
        missing = [t for t in installed if t.lower() not in ADAPTERS]
        log(f"benchmarked resource types: {', '.join(covered) or 'none'}")
        if missing:
            log(f"installed but without a baseline/ceiling adapter (left out): {missing}")
        if not covered:
            raise SystemExit("no installed plugin serves a resource type the benchmark covers")
        return covered

    # -- one sandbox per scale ------------------------------------------------
    def sandbox(self, scale: int) -> tuple[Path, dict[str, list[str]], dict[str, Any]]:
        from atg_dataplane_sandbox import sandbox, scenarios
        from atg_dataplane_sandbox.seed import seed

        directory = self.work / f"scale-{scale}"
        if directory.exists():
            sandbox.down(directory)
            shutil.rmtree(directory)
        directory.mkdir(parents=True)
        started = time.perf_counter()
        # Past scale 14 the large scenario's Cosmos DB databases need more accounts than
        # the sandbox starts by default (Azure allows 500 databases and containers in one).
        cosmos = scenarios.large(scale).pool_accounts("cosmos")
        sandbox.up(directory, pools=sandbox.PoolSizes(cosmos=max(sandbox.PoolSizes.cosmos, cosmos)))
        log(f"sandbox (scale {scale}) up in {time.perf_counter() - started:.1f} s; seeding")
        report = seed(directory, "large", scale)
        log(f"seeded large x{scale} in {report.seconds:.1f} s: {report.counts}")
        targets: dict[str, list[str]] = {}
        for resource in report.resources:
            rtype = SEED_KIND_TYPES.get(resource["kind"], "")
            if rtype in {t.lower() for t in self.types}:
                targets.setdefault(rtype, []).append(resource["target"])
        unmapped = sorted({t.lower() for t in self.types} - set(targets))
        if unmapped:
            raise SystemExit(f"no fresh targets for {unmapped}: map their seed kind in "
                             "SEED_KIND_TYPES")
        return directory, targets, report.to_json()

    def set_latency(self, directory: Path, latency_ms: int, mix: int = 0) -> None:
        """Added latency, and ``mix`` % of answers broken (``0``: none)."""
        from atg_dataplane_sandbox import sandbox

        parts = [f"latency={latency_ms}ms"] if latency_ms else []
        parts += [f"mix={mix / 100:g}"] if mix else []
        sandbox.set_faults(directory, f"*:{','.join(parts)}" if parts else "")

    def variant_config(
        self,
        directory: Path,
        name: str,
        targets: dict[str, list[str]],
        options: dict[str, Any] | None = None,
        only: str | None = None,
    ) -> tuple[Path, dict[str, list[str]]]:
        """A config of its own (own journal) whose counterparts are fresh, empty targets;
        ``only``: one resource type of the benchmarked ones."""
        if only:
            targets = {t: names for t, names in targets.items() if t == only.lower()}
        self.counter += 1
        tag = f"{name[0]}{self.counter}"
        config = json.loads((directory / "config.json").read_text())
        names = dict(config["mapping"]["names"])
        made: dict[str, list[str]] = {}
        for rtype, target_names in targets.items():
            fresh = ADAPTERS[rtype].fresh_targets(str(directory), target_names, tag)
            made[rtype] = list(fresh.values())
            for source, target in list(names.items()):
                if target in fresh:
                    names[source] = fresh[target]
        config["mapping"]["names"] = names
        config["filters"]["types"] = [only] if only else self.types
        config["options"] = {**config.get("options", {}), **(options or {})}
        for side in ("source", "target"):
            cred = config[side]["credential"]
            cred["client_secret_file"] = str(directory / cred["client_secret_file"])
        for cloud in config["clouds"].values():
            cloud["ca_bundle"] = str(directory / cloud["ca_bundle"])
        vdir = directory / "runs" / f"{self.counter:02d}-{name}"
        vdir.mkdir(parents=True)
        path = vdir / "config.json"
        path.write_text(json.dumps(config, indent=2))
        return path, made

    def drop(self, directory: Path, made: dict[str, list[str]]) -> None:
        """Remove a run's fresh targets. A failure is logged, not raised: the measurements
        are taken by then, and an emulator slow to answer a cleanup (the 100x step's
        Cosmos DB server, still busy after a stopped run) once cost a whole run's results."""
        for rtype, names in made.items():
            try:
                ADAPTERS[rtype].drop_targets(str(directory), names)
            except Exception as exc:  # any failure: the targets are left behind
                log(f"could not remove the fresh {rtype} targets {names[:3]}...: "
                    f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}")

    def verify(self, directory: Path, config: Path, mode: str) -> dict[str, Any]:
        """The report of ``verify`` (run without added latency), with its wall time and
        peak RSS (``_seconds``, ``_peak_rss_bytes``): verify's own scaling is measured."""
        self.set_latency(directory, 0)
        measured = measure(
            [cli_path(), "verify", "--config", str(config), "--mode", mode, "--output", "json"],
            config.parent,
            f"verify-{mode}",
        )
        try:
            report = dict(json.loads(measured.out))
        except ValueError:
            report = {"fidelity": 0.0, "error": f"verify exited {measured.code}"}
        return {**report, "_seconds": measured.wall, "_peak_rss_bytes": measured.rss}

    # -- contenders -----------------------------------------------------------
    def contender(
        self,
        directory: Path,
        targets: dict[str, list[str]],
        scale: int,
        latency_ms: int,
        contender: str,
        *,
        concurrency: int | None = None,
        verify: bool = True,
        mix: int = 0,
        options: dict[str, Any] | None = None,
        only: str | None = None,
    ) -> Run:
        """One run of ``contender`` (``ours``, ``baseline``, ...); with ``only``, on that
        resource type alone, recorded as ``<contender>:<type>``."""
        config, made = self.variant_config(directory, contender, targets, options, only)
        self.set_latency(directory, latency_ms, mix)
        load = round(os.getloadavg()[0], 2)
        mode = "template" if contender == "template" else "replication"
        replicate = ["replicate", "--config", str(config), "--mode", mode, "--yes"]
        phases_out = config.parent / "phases.json"
        if contender == DASK_RUN:
            argv = [cli_path(), *replicate, "--executor", "dask", "--scheduler", DASK_SCHEDULER]
        elif contender in OURS:
            argv = [cli_path(), *replicate]
        elif contender == PHASES:
            argv = [sys.executable, str(HERE / "phases.py"), *replicate]
        elif contender == "baseline":
            argv = [sys.executable, str(HERE / "baseline.py"), "--config", str(config)]
        else:
            argv = [sys.executable, str(HERE / "ceiling.py"), "--config", str(config)]
            argv += ["--concurrency", str(concurrency)]
        sandbox_before = sandbox_cpu_by_process(directory)
        with _environment(ATG_BENCH_PHASES_OUT=str(phases_out)):
            measured = measure(argv, config.parent, contender)
        skipped_check = ""
        if measured.code == PERMISSIONS_MISSING and contender in (*OURS, PHASES):
            # The sandbox's role definitions and a plugin's declared needs disagree: say so,
            # and measure the copy itself rather than nothing.
            skipped_check = (config.parent / f"{contender}.stdout").read_text()[-2000:]
            log(
                f"{contender}: the permission check found gaps; re-running with "
                "--skip-permission-check (recorded in the run's detail)"
            )
            sandbox_before = sandbox_cpu_by_process(directory)
            measured = measure([*argv, "--skip-permission-check"], config.parent, contender)
        # which of the sandbox's services the run's CPU went to (what grows with the tenant)
        by_process = {name: round(seconds - sandbox_before.get(name, 0.0), 3)
                      for name, seconds in sandbox_cpu_by_process(directory).items()}
        sandbox_seconds = sum(by_process.values())
        code, wall, rss, out = measured.code, measured.wall, measured.rss, measured.out
        if contender in (*OURS, PHASES):
            summary = journal_summary(config)
            result = summary.get("result", {})
            by_kind = kind_totals(summary)
            run = Run(
                contender,
                scale,
                latency_ms,
                wall,
                rss,
                items=int(result.get("replicated", 0)) + int(result.get("skipped", 0)),
                client_payload_bytes=int(summary.get("client_bytes", 0)),
                exit_code=code,
                seconds=float(result.get("duration", 0.0)),
                failed=int(result.get("failed", 0)),
                items_by_kind={k: v["items"] for k, v in by_kind.items()},
                client_payload_bytes_by_kind={k: v["client_bytes"] for k, v in by_kind.items()},
            )
            if run.failed:
                run.detail["failed_items"] = failed_items(config)
            run.detail["journal_bytes"] = journal_bytes(config)
        else:
            data = last_json(out)
            run = Run(
                contender,
                scale,
                latency_ms,
                wall,
                rss,
                items=int(data.get("items", 0)),
                client_payload_bytes=int(data.get("client_payload_bytes", 0)),
                exit_code=code,
                seconds=float(data.get("seconds", wall)),
                concurrency=concurrency,
                failed=int(data.get("failed", 0)),
                items_by_kind=dict(data.get("items_by_kind", {})),
                client_payload_bytes_by_kind=dict(data.get("client_payload_bytes_by_kind", {})),
                detail={
                    k: data[k]
                    for k in ("setup_seconds", "cpu_seconds_timed", "failures")
                    if data.get(k)
                },
            )
        if only:
            run.contender = f"{contender}:{only}"
        if phases_out.exists():
            run.detail.update(json.loads(phases_out.read_text()))
        run.detail["load_average_before"] = load
        run.cpu_seconds = round(measured.cpu, 3)
        run.sandbox_cpu_seconds = round(sandbox_seconds, 3)
        run.detail["sandbox_cpu_by_process"] = by_process
        if mix:
            run.detail["fault_mix_percent"] = mix
        if skipped_check:
            run.detail["permission_check_skipped"] = skipped_check
        if verify:
            report = self.verify(directory, config, mode)
            run.fidelity = float(report.get("fidelity", 0.0))
            run.verified = True
            run.detail["verify"] = {
                k: report.get(k)
                for k in ("compared", "matching", "different", "missing", "not_copyable")
            }
            run.detail["verify_seconds"] = round(report["_seconds"], 3)
            run.detail["verify_peak_rss_bytes"] = report["_peak_rss_bytes"]
        self.drop(directory, made)
        shown = f" at {concurrency}" if concurrency else ""
        fidelity = f", fidelity {run.fidelity:.2f} %" if run.verified else ""
        log(
            f"{run.contender}{shown} x{scale} {latency_ms} ms: {run.timed:.2f} s, "
            f"{run.items} items, {run.peak_rss_bytes / 2**20:.0f} MiB, exit {code}{fidelity}"
        )
        if code not in (0, None) and contender in OURS:
            log(f"  stderr: {(config.parent / (contender + '.stderr')).read_text()[-800:]}")
        self.runs.append(run)
        return run


def journal_summary(config: Path) -> dict[str, Any]:
    db = config.parent / ".atg-dataplane" / "journal.db"
    if not db.exists():
        return {}
    with sqlite3.connect(db) as conn:
        row = conn.execute(
            "SELECT summary FROM runs WHERE summary IS NOT NULL ORDER BY started DESC LIMIT 1"
        ).fetchone()
    return dict(json.loads(row[0])) if row else {}


def journal_bytes(config: Path) -> int:
    """The journal's size on disk (its write-ahead log included)."""
    folder = config.parent / ".atg-dataplane"
    return sum(p.stat().st_size for p in folder.glob("journal.db*") if p.is_file())


def failed_items(config: Path, most: int = 10) -> list[str]:
    """The last run's failed items, each as ``kind name: reason`` (reasons are free of
    secrets by the journal's contract), so a fault run that lost an item names it."""
    db = config.parent / ".atg-dataplane" / "journal.db"
    if not db.exists():
        return []
    with sqlite3.connect(db) as conn:
        rows = conn.execute(
            "SELECT kind, name, reason, attempts FROM items WHERE status = 'failed' "
            "AND run_id = (SELECT run_id FROM runs ORDER BY started DESC LIMIT 1) "
            "ORDER BY kind, name LIMIT ?",
            (most,),
        ).fetchall()
    return [f"{k} {n} (after {a} attempts): {(r or '')[:300]}" for k, n, r, a in rows]


def kind_totals(summary: dict[str, Any]) -> dict[str, dict[str, int]]:
    totals: dict[str, dict[str, int]] = {}
    for kinds in summary.get("resources", {}).values():
        for kind, ks in kinds.items():
            row = totals.setdefault(kind, {"items": 0, "client_bytes": 0})
            row["items"] += ks["replicated"] + ks["unchanged"] + ks["skipped"] + ks["failed"]
            row["client_bytes"] += ks["client_bytes"]
    return totals


# ------------------------------------------------------------------ the plan


def parse_ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def execute(args: argparse.Namespace) -> dict[str, Any]:
    bench = Bench(args)
    latencies = parse_ints(args.latency_ms)
    ladder = parse_ints(args.ladder)
    sweep = parse_ints(args.sweep)
    ladder_latency = latencies[0]
    scales = sorted({args.scale, 1, *ladder})
    seeds: dict[int, Any] = {}
    if not args.quick:
        warm_keys(args, latencies, sweep, scales)
    compile_sources(bench.types)
    started = time.perf_counter()
    for scale in scales:
        directory, targets, seeds[scale] = bench.sandbox(scale)
        try:
            if scale == args.scale:
                for latency in latencies:
                    compare(bench, directory, targets, scale, latency, sweep, args)
            elif scale in ladder:
                bench.contender(directory, targets, scale, ladder_latency, "ours")
            if scale == max(ladder) and scale != args.scale:
                # the share of the ceiling at the top of the ladder, at the concurrency the
                # sweep found best at the compared scale (scales run in ascending order)
                bench.contender(directory, targets, scale, ladder_latency, "ceiling",
                                concurrency=best_concurrency(bench.runs, args.scale,
                                                             ladder_latency, sweep),
                                verify=False)
            if scale == 1:
                for latency in latencies:
                    bench.contender(directory, targets, scale, latency, "template")
        finally:
            if not args.keep:
                from atg_dataplane_sandbox import sandbox

                sandbox.down(directory)
    return summarize(bench, args, latencies, ladder, seeds, time.perf_counter() - started)


def best_concurrency(runs: list[Run], scale: int, latency: int, sweep: list[int]) -> int:
    """The ceiling's fastest concurrency at ``scale`` (the sweep's first when none ran)."""
    done = [c for c in pick(runs, contender="ceiling", scale=scale, latency_ms=latency)
            if c.complete]
    fastest = min(done, key=lambda c: c.seconds, default=None)
    return fastest.concurrency or sweep[0] if fastest else sweep[0]


def compile_sources(types: list[str]) -> None:
    """Write the bytecode of atg-dataplane and the benchmarked plugins, as ``pip install``
    does: from an editable checkout with ``PYTHONDONTWRITEBYTECODE`` set, every run of ours
    would compile them again at start (70 ms here), which no installed tool does."""
    import compileall
    import importlib
    import inspect

    from atg_dataplane.plugins import load_plugins

    host = load_plugins()
    modules = {"atg_dataplane"}
    for record in host.records:
        if set(record.resource_types) & set(types):
            plugin = host.pm.get_plugin(record.name)
            name = plugin.__name__ if inspect.ismodule(plugin) else type(plugin).__module__
            modules.add(name.split(".")[0])
    for name in sorted(modules):
        module = importlib.import_module(name)
        compileall.compile_dir(str(Path(str(module.__file__)).parent), quiet=1)


RSA_KEYS_PER_VAULT = 16
"""RSA keys a vault of the ``large`` scenario makes each time it is filled (8 keys, 8
certificates); key generation draws from the sandbox's key pool."""


def warm_keys(
    args: argparse.Namespace, latencies: list[int], sweep: list[int], scales: list[int]
) -> None:
    """Generate the RSA keys the runs will ask the vaults for before timing anything: in
    Azure that is the service's work, on its hardware, not the client machine's."""
    from atg_dataplane_sandbox.emulator.keyvault.keypool import warm

    fills = len(latencies) * (3 + 2 * args.repeat + len(sweep)) + 2 + 2 + len(FAULT_SHARES)
    count = RSA_KEYS_PER_VAULT * max(scales) * fills  # each sandbox takes from the start
    started = time.perf_counter()
    made = warm(count)
    log(f"key pool: {made} RSA keys generated ahead in {time.perf_counter() - started:.1f} s")


def compare(
    bench: Bench,
    directory: Path,
    targets: dict[str, list[str]],
    scale: int,
    latency: int,
    sweep: list[int],
    args: argparse.Namespace,
) -> None:
    """Ours, the baseline, the ceiling sweep; then ours and the ceiling at its best
    concurrency again, alternately, so that the medians see the same machine."""
    check = not args.quick  # the smoke test verifies ours only
    bench.contender(directory, targets, scale, latency, "ours")
    if latency == parse_ints(args.latency_ms)[0]:
        bench.contender(directory, targets, scale, latency, DASK_RUN)
        faults(bench, directory, targets, scale, latency, args)
        for rtype in bench.types:  # each type alone: which one is slow, and against what
            bench.contender(directory, targets, scale, latency, "ours", only=rtype)
            bench.contender(directory, targets, scale, latency, "baseline", only=rtype,
                            verify=check)
            bench.contender(directory, targets, scale, latency, "ceiling", only=rtype,
                            concurrency=TYPE_CEILING_CONCURRENCY, verify=False)
        # The sequential baseline over the whole tenant is its types' runs back to back:
        # a one-at-a-time loop does exactly that, and running it again took 14 minutes
        # of the full run.
        bench.runs.append(joined(bench.runs, "baseline", scale, latency, bench.types))
    else:
        bench.contender(directory, targets, scale, latency, "baseline", verify=check)
    levels = []
    for index, level in enumerate(sweep):
        levels.append(
            bench.contender(
                directory,
                targets,
                scale,
                latency,
                "ceiling",
                concurrency=level,
                verify=check and index == 0,
            )
        )
    best = min((r for r in levels if r.complete), key=lambda r: r.seconds, default=None)
    bench.contender(directory, targets, scale, latency, PHASES, verify=False)
    for _ in range(1, args.repeat):
        bench.contender(directory, targets, scale, latency, "ours")
        if best is not None:
            bench.contender(
                directory,
                targets,
                scale,
                latency,
                "ceiling",
                concurrency=best.concurrency,
                verify=False,
            )


def joined(runs: list[Run], contender: str, scale: int, latency: int, types: list[str]) -> Run:
    """``contender``'s runs on each of ``types`` alone, as one run over all of them: times,
    items, bytes and CPU add up, the peak memory is the highest, and fidelity is that of
    everything the parts' verifications compared."""
    parts = [pick(runs, contender=f"{contender}:{t}", scale=scale, latency_ms=latency)[0]
             for t in types]
    run = Run(
        contender,
        scale,
        latency,
        wall_seconds=sum(p.wall_seconds for p in parts),
        peak_rss_bytes=max(p.peak_rss_bytes for p in parts),
        items=sum(p.items for p in parts),
        client_payload_bytes=sum(p.client_payload_bytes for p in parts),
        exit_code=max(p.exit_code or 0 for p in parts),
        seconds=sum(p.seconds for p in parts),
        cpu_seconds=round(sum(p.cpu_seconds for p in parts), 3),
        sandbox_cpu_seconds=round(sum(p.sandbox_cpu_seconds for p in parts), 3),
        failed=sum(p.failed for p in parts),
        detail={"joined_from": [p.contender for p in parts]},
    )
    for part in parts:
        for kind, count in part.items_by_kind.items():
            run.items_by_kind[kind] = run.items_by_kind.get(kind, 0) + count
        for kind, count in part.client_payload_bytes_by_kind.items():
            run.client_payload_bytes_by_kind[kind] = (
                run.client_payload_bytes_by_kind.get(kind, 0) + count
            )
    if parts and all(p.verified for p in parts):
        verify = {k: sum(int(p.detail["verify"].get(k) or 0) for p in parts)
                  for k in ("compared", "matching", "different", "missing", "not_copyable")}
        compared = verify["compared"]
        run.fidelity = round(100.0 * verify["matching"] / compared, 2) if compared else 100.0
        run.verified = True
        run.detail["verify"] = verify
        run.detail["verify_seconds"] = round(
            sum(p.detail.get("verify_seconds", 0.0) for p in parts), 3
        )
    fidelity = f", fidelity {run.fidelity:.2f} %" if run.verified else ""
    log(f"{contender} x{scale} {latency} ms (its types' runs added up): "
        f"{run.wall_seconds:.2f} s, {run.items} items{fidelity}")
    return run


def faults(
    bench: Bench,
    directory: Path,
    targets: dict[str, list[str]],
    scale: int,
    latency: int,
    args: argparse.Namespace,
) -> None:
    """Ours with every version, without faults and under each fault mix (each verified)."""
    bench.contender(directory, targets, scale, latency, VERSIONS_RUN, options=VERSIONS)
    for share in FAULT_SHARES[:1] if args.quick else FAULT_SHARES:
        bench.contender(
            directory, targets, scale, latency, f"ours-faults-{share}", mix=share, options=VERSIONS
        )


def fault_figures(runs: list[Run], scale: int, latency: int) -> dict[str, Any]:
    """Each fault run's time over the time without faults, its failures and fidelity."""
    clean = pick(runs, contender=VERSIONS_RUN, scale=scale, latency_ms=latency)
    if not clean:
        return {}
    base = clean[0]
    figures: dict[str, Any] = {
        "without_faults_seconds": round(base.wall_seconds, 3),
        "without_faults_fidelity": base.fidelity,
    }
    for share in FAULT_SHARES:
        found = pick(runs, contender=f"ours-faults-{share}", scale=scale, latency_ms=latency)
        if found:
            run = found[0]
            figures[str(share)] = {
                "seconds": round(run.wall_seconds, 3),
                "ratio": round(run.wall_seconds / base.wall_seconds, 3),
                "failed": run.failed,
                "fidelity": run.fidelity,
                "exit_code": run.exit_code,
                "failed_items": run.detail.get("failed_items", []),
            }
    return figures


def dask_figures(runs: list[Run], scale: int, latency: int) -> dict[str, Any]:
    """Ours on a local Dask cluster against ours on threads, in the same invocation."""
    threads = pick(runs, contender="ours", scale=scale, latency_ms=latency)
    dask = pick(runs, contender=DASK_RUN, scale=scale, latency_ms=latency)
    if not (threads and dask):
        return {}
    ours, cluster = threads[0], dask[0]
    return {
        "scheduler": DASK_SCHEDULER,
        "threads_seconds": round(ours.wall_seconds, 3),
        "dask_seconds": round(cluster.wall_seconds, 3),
        "dask_over_threads": round(cluster.wall_seconds / ours.wall_seconds, 3),
        "dask_engine_seconds": round(cluster.seconds, 3),
        "cluster_overhead_seconds": round(cluster.wall_seconds - cluster.seconds, 3),
        "items_match": cluster.items == ours.items,
        "dask_fidelity": cluster.fidelity,
        "dask_failed": cluster.failed,
        "dask_client_cpu_seconds": cluster.cpu_seconds,
    }


def type_figures(runs: list[Run], types: list[str], scale: int, latency: int) -> dict[str, Any]:
    """Ours against the baseline on each resource type alone."""
    figures: dict[str, Any] = {}
    for rtype in types:
        ours = pick(runs, contender=f"ours:{rtype}", scale=scale, latency_ms=latency)
        baseline = pick(runs, contender=f"baseline:{rtype}", scale=scale, latency_ms=latency)
        ceiling = pick(runs, contender=f"ceiling:{rtype}", scale=scale, latency_ms=latency)
        if ours and baseline:
            figures[rtype] = {
                "items": ours[0].items,
                "ours_seconds": round(ours[0].wall_seconds, 3),
                "baseline_seconds": round(baseline[0].wall_seconds, 3),
                "speedup_vs_baseline": round(baseline[0].wall_seconds / ours[0].wall_seconds, 3),
                "ours_client_payload_bytes": ours[0].client_payload_bytes,
                "ours_fidelity": ours[0].fidelity,
                "items_match": ours[0].items == baseline[0].items,
            }
            if ceiling:
                figures[rtype]["ceiling_seconds"] = round(ceiling[0].seconds, 3)
                figures[rtype]["share_of_ceiling"] = round(
                    min(1.0, ceiling[0].seconds / ours[0].wall_seconds), 3)
    return figures


def median(runs: list[Run]) -> Run:
    """The run with the median time (the lower one of an even count)."""
    ordered = sorted(runs, key=lambda r: r.timed)
    return ordered[(len(ordered) - 1) // 2]


def pick(runs: list[Run], **where: Any) -> list[Run]:
    return [r for r in runs if all(getattr(r, k) == v for k, v in where.items())]


def ladder_figures(runs: list[Run], ladder: list[int], latency: int) -> dict[str, Any]:
    """Ours at each step of the ladder, and how its figures bend from step to step: peak
    RSS, items per second, verify's time, the share of the ceiling at the top."""
    steps: dict[str, Any] = {}
    found: dict[str, Run] = {}
    for name, scale in zip(LADDER, ladder, strict=False):
        ours = pick(runs, contender="ours", scale=scale, latency_ms=latency)
        if not ours:
            continue
        run = found[name] = median(ours)
        per_item = 1000 / run.items if run.items else 0.0
        steps[name] = {
            "scale": scale,
            "items": run.items,
            "seconds": round(run.wall_seconds, 3),
            "items_per_second": round(run.items_per_second, 2),
            "client_cpu_seconds_per_1000_items": round(run.cpu_seconds * per_item, 3),
            "sandbox_cpu_seconds_per_1000_items": round(run.sandbox_cpu_seconds * per_item, 3),
            "sandbox_cpu_seconds_per_1000_items_by_process": {
                name: round(seconds * per_item, 3)
                for name, seconds in run.detail.get("sandbox_cpu_by_process", {}).items()
            },
            "peak_rss_mib": round(run.peak_rss_bytes / 2**20, 1),
            "journal_bytes": run.detail.get("journal_bytes"),
            "journal_bytes_per_item": round(run.detail.get("journal_bytes", 0) * per_item / 1000),
            "verify_seconds": run.detail.get("verify_seconds"),
            "verify_peak_rss_mib": round(run.detail.get("verify_peak_rss_bytes", 0) / 2**20, 1),
        }
    figures: dict[str, Any] = {"steps": steps}
    for name in LADDER:
        figures[f"items_per_second_{name}"] = steps.get(name, {}).get("items_per_second")
        if name != "1x":
            figures[f"verify_seconds_{name}"] = steps.get(name, {}).get("verify_seconds")
    base = found.get("1x")
    for name in LADDER[1:]:
        figures[f"memory_growth_{name}"] = (
            round(found[name].peak_rss_bytes / base.peak_rss_bytes, 3)
            if base and name in found else None
        )
    if "10x" in found and "100x" in found:
        figures["items_per_second_100x_over_10x"] = round(
            found["100x"].items_per_second / found["10x"].items_per_second, 3)
    top = found.get("100x")
    ceiling = [c for c in pick(runs, contender="ceiling", scale=top.scale, latency_ms=latency)
               if c.complete] if top else []
    best = min(ceiling, key=lambda c: c.seconds, default=None)
    figures["share_of_ceiling_100x"] = (
        round(min(1.0, best.seconds / top.wall_seconds), 3) if top and best else None
    )
    figures["ladder_scales"] = ladder
    return figures


def summarize(
    bench: Bench,
    args: argparse.Namespace,
    latencies: list[int],
    ladder: list[int],
    seeds: dict[int, Any],
    seconds: float,
) -> dict[str, Any]:
    runs = bench.runs
    per_latency: dict[str, Any] = {}
    for latency in latencies:
        ours_runs = pick(runs, contender="ours", scale=args.scale, latency_ms=latency)
        ours = median(ours_runs)
        baseline = pick(runs, contender="baseline", scale=args.scale, latency_ms=latency)[0]
        ceilings = [
            c
            for c in pick(runs, contender="ceiling", scale=args.scale, latency_ms=latency)
            if c.complete
        ]
        fastest = min(ceilings, key=lambda c: c.seconds, default=None)
        best = (
            median([c for c in ceilings if c.concurrency == fastest.concurrency])
            if fastest
            else None
        )
        template = pick(runs, contender="template", scale=1, latency_ms=latency)
        phases = pick(runs, contender=PHASES, scale=args.scale, latency_ms=latency)
        server_side = sum(
            ours.client_payload_bytes_by_kind.get(kind, 0)
            for rtype in bench.types
            for kind in ADAPTERS[rtype.lower()].server_side_kinds
        )
        per_latency[str(latency)] = {
            "latency_ms": latency,
            "speedup_vs_baseline": round(baseline.wall_seconds / ours.wall_seconds, 3),
            "share_of_ceiling": round(min(1.0, best.seconds / ours.wall_seconds), 3)
            if best
            else None,
            "share_of_ceiling_engine_only": round(min(1.0, best.seconds / ours.seconds), 3)
            if best and ours.seconds
            else None,
            "ceiling_concurrency": best.concurrency if best else None,
            "repeats": len(ours_runs),
            "ours_seconds_all": [round(r.wall_seconds, 3) for r in ours_runs],
            "ceiling_seconds_all": [
                round(c.seconds, 3) for c in ceilings if best and c.concurrency == best.concurrency
            ],
            "replication_seconds": round(ours.wall_seconds, 3),
            "baseline_seconds": round(baseline.wall_seconds, 3),
            "ceiling_seconds": round(best.seconds, 3) if best else None,
            "template_seconds": round(template[0].wall_seconds, 3) if template else None,
            "client_payload_bytes_server_side": server_side,
            "cpu_seconds": {
                name: {"client": run.cpu_seconds, "sandbox": run.sandbox_cpu_seconds}
                for name, run in (("ours", ours), ("baseline", baseline), ("ceiling", best))
                if run is not None
            },
            "client_cpu_seconds_by_phase": {
                "ceiling_timed": (best.detail.get("cpu_seconds_timed") if best else None),
                "ours": phases[0].detail.get("cpu_seconds_by_phase") if phases else None,
            },
            "items": ours.items,
            "items_match": ours.items == baseline.items == (best.items if best else ours.items),
            "ours_fidelity": ours.fidelity,
            "baseline_fidelity": baseline.fidelity,
        }
    first = per_latency[str(latencies[0])]
    steps = ladder_figures(runs, ladder, latencies[0])
    ours_runs = [r for r in runs if r.contender == "ours"]
    under_faults = fault_figures(runs, args.scale, latencies[0])
    by_type = type_figures(runs, bench.types, args.scale, latencies[0])
    results = {
        "scale": args.scale,
        "latency_ms": latencies[0],
        "items": first["items"],
        "speedup_vs_baseline": first["speedup_vs_baseline"],
        "share_of_ceiling": first["share_of_ceiling"],
        **{k: v for k, v in steps.items() if k != "steps"},
        "ladder": steps["steps"],
        "plugins": {
            rtype: {k: row.get(k) for k in ("speedup_vs_baseline", "share_of_ceiling")}
            for rtype, row in by_type.items()
        },
        "client_payload_bytes_server_side": first["client_payload_bytes_server_side"],
        "template_seconds": first["template_seconds"],
        "replication_seconds": first["replication_seconds"],
        "ours_verified_100": all(r.fidelity == 100.0 for r in ours_runs),
        "faults": under_faults,
        "dask": dask_figures(runs, args.scale, latencies[0]),
        "by_type": by_type,
        "by_latency": per_latency,
        "targets": TARGETS,
        "targets_met": targets_met(first, steps, bench.types, under_faults, by_type),
        "resource_types": bench.types,
        "runs": [r.to_dict() for r in runs],
        "seeded": seeds,
        "machine": machine(),
        "quick": bool(args.quick),
        "bench_seconds": round(seconds, 1),
        "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    return results


def targets_met(
    first: dict[str, Any],
    steps: dict[str, Any],
    types: list[str],
    under_faults: dict[str, Any],
    by_type: dict[str, Any],
) -> dict[str, Any]:
    server_kinds = [k for t in types for k in ADAPTERS[t.lower()].server_side_kinds]
    share = first["share_of_ceiling"]
    template = first["template_seconds"]

    def at_most(key: str) -> bool | str:
        return "not measured" if steps.get(key) is None else steps[key] <= TARGETS[key]

    def at_least(key: str) -> bool | str:
        return "not measured" if steps.get(key) is None else steps[key] >= TARGETS[key]

    return {
        "speedup_vs_baseline": first["speedup_vs_baseline"] >= TARGETS["speedup_vs_baseline"],
        "share_of_ceiling": share is not None and share >= TARGETS["share_of_ceiling"],
        "share_of_ceiling_100x": at_least("share_of_ceiling_100x"),
        "memory_growth_10x": at_most("memory_growth_10x"),
        "memory_growth_100x": at_most("memory_growth_100x"),
        "items_per_second_100x_over_10x": at_least("items_per_second_100x_over_10x"),
        "plugin_speedup_vs_baseline": {
            rtype: row["speedup_vs_baseline"] >= TARGETS["plugin_speedup_vs_baseline"]
            for rtype, row in by_type.items()
        },
        "client_payload_bytes_server_side": (
            first["client_payload_bytes_server_side"] == 0 if server_kinds else "not measured"
        ),
        "template_seconds": template is not None and template < TARGETS["template_seconds"],
        **{
            f"faults_{share}_ratio": (
                under_faults[str(share)]["ratio"] <= TARGETS[f"faults_{share}_ratio"]
                if str(share) in under_faults
                else "not measured"
            )
            for share in FAULT_SHARES
        },
    }


def machine() -> dict[str, Any]:
    import platform

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


# ------------------------------------------------------------------ outputs


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Benchmark results",
        "",
        f"`python bench/run.py` — scale {results['scale']} of the `large` scenario "
        f"({results['items']} items of {', '.join(results['resource_types'])}), "
        f"{results['machine']['cpus']} CPUs, finished {results['finished']}.",
        "",
        "| latency | contender | concurrency | seconds | items/s | client payload bytes "
        "| peak RSS MiB | client CPU s | sandbox CPU s | load | fidelity % |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        fidelity = f"{run['fidelity']:.2f}" if run["fidelity"] is not None else "-"
        seconds = run["seconds"] if run["contender"] == "ceiling" else run["wall_seconds"]
        lines.append(
            f"| {run['latency_ms']} ms | {run['contender']} x{run['scale']} "
            f"| {run['concurrency'] or '-'} | {seconds:.2f} | {run['items_per_second']:.1f} "
            f"| {run['client_payload_bytes']} | {run['peak_rss_bytes'] / 2**20:.0f} "
            f"| {run['cpu_seconds']:.1f} | {run['sandbox_cpu_seconds']:.1f} "
            f"| {run['detail'].get('load_average_before', '-')} | {fidelity} |"
        )
    lines += [
        "",
        "| ratio | " + " | ".join(f"{k} ms" for k in results["by_latency"]) + " | target |",
    ]
    lines.append("|---|" + "---|" * len(results["by_latency"]) + "---|")
    for key, target in (
        ("speedup_vs_baseline", "≥ 10"),
        ("share_of_ceiling", "≥ 0.9"),
        ("share_of_ceiling_engine_only", "(no process start)"),
        ("ceiling_concurrency", "(best of the sweep)"),
        ("replication_seconds", "< 3600"),
        ("template_seconds", "< 60"),
        ("client_payload_bytes_server_side", "0"),
    ):
        values = " | ".join(str(v.get(key)) for v in results["by_latency"].values())
        lines.append(f"| {key} | {values} | {target} |")
    lines += [
        "",
        "Client CPU seconds by phase (`bench/phases.py`, an extra run of ours; the ceiling's "
        "during its timed writes):",
        "",
        "| latency | ceiling, timed | ours: items | ours: discovery "
        "| ours: start and end | ours: other |",
        "|---|---|---|---|---|---|",
    ]
    for latency, row in results["by_latency"].items():
        split = row.get("client_cpu_seconds_by_phase") or {}
        ours = split.get("ours") or {}
        cells = [split.get("ceiling_timed")] + [
            ours.get(k) for k in ("items", "discovery", "start_and_end", "other")
        ]
        shown = " | ".join("-" if c is None else f"{c:.2f}" for c in cells)
        lines.append(f"| {latency} ms | {shown} |")
    by_type = results.get("by_type") or {}
    if by_type:
        lines += [
            "",
            f"Each resource type alone ({results['latency_ms']} ms added; the baseline is that "
            "type's one-at-a-time loop, e.g. `az acr import` per tag for registries):",
            "",
            "| resource type | items | ours s | baseline s | speed-up | ceiling s (at "
            f"{TYPE_CEILING_CONCURRENCY}) | share of ceiling | client payload bytes | fidelity % |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for rtype, row in by_type.items():
            lines.append(
                f"| {rtype} | {row['items']} | {row['ours_seconds']} | {row['baseline_seconds']} "
                f"| {row['speedup_vs_baseline']}x | {row.get('ceiling_seconds', '-')} "
                f"| {row.get('share_of_ceiling', '-')} | {row['ours_client_payload_bytes']} "
                f"| {row['ours_fidelity']} |"
            )
    under = results.get("faults") or {}
    if under:
        lines += [
            "",
            f"Under faults (every Key Vault version, {results['latency_ms']} ms added; "
            f"without faults: {under['without_faults_seconds']} s, fidelity "
            f"{under['without_faults_fidelity']} %):",
            "",
            "| answers broken | seconds | over no faults | target | failed items | fidelity % |",
            "|---|---|---|---|---|---|",
        ]
        for share in FAULT_SHARES:
            row = under.get(str(share))
            if row:
                lines.append(
                    f"| {share} % | {row['seconds']} | {row['ratio']}x "
                    f"| ≤ {TARGETS[f'faults_{share}_ratio']:g}x | {row['failed']} "
                    f"| {row['fidelity']} |"
                )
    dask = results.get("dask") or {}
    if dask:
        lines += [
            "",
            f"On a Dask cluster (`--executor dask --scheduler {dask['scheduler']}`, "
            f"{results['latency_ms']} ms added): {dask['dask_seconds']} s against "
            f"{dask['threads_seconds']} s on threads ({dask['dask_over_threads']}x; the "
            f"cluster's start and stop outside the engine: {dask['cluster_overhead_seconds']} "
            f"s); same items: {dask['items_match']}; {dask['dask_failed']} failed; fidelity "
            f"{dask['dask_fidelity']} %.",
        ]
    steps = results.get("ladder") or {}
    if steps:
        lines += [
            "",
            f"Ours alone as the tenant grows ({results['latency_ms']} ms added; verify without "
            "added latency; targets: peak RSS ≤ 1.5x and items/s no lower at 100x than at "
            "10x, ≥ 90 % of the ceiling at 100x):",
            "",
            "| step | scale | items | seconds | items/s | client CPU s per 1,000 items "
            "| sandbox CPU s per 1,000 items (by process) "
            "| peak RSS MiB | journal bytes per item | verify s | verify peak RSS MiB |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, row in steps.items():
            processes = row.get("sandbox_cpu_seconds_per_1000_items_by_process") or {}
            shares = ", ".join(f"{p} {v}" for p, v in sorted(processes.items()))
            lines.append(
                f"| {name} | {row['scale']} | {row['items']} | {row['seconds']} "
                f"| {row['items_per_second']} | {row['client_cpu_seconds_per_1000_items']} "
                f"| {row.get('sandbox_cpu_seconds_per_1000_items')}"
                f"{f' ({shares})' if shares else ''} "
                f"| {row['peak_rss_mib']} | {row['journal_bytes_per_item']} "
                f"| {row['verify_seconds']} | {row['verify_peak_rss_mib']} |"
            )
        lines += [
            "",
            f"Peak RSS grows {results.get('memory_growth_10x')}x at 10x and "
            f"{results.get('memory_growth_100x')}x at 100x; items/s at 100x over 10x: "
            f"{results.get('items_per_second_100x_over_10x')}; share of the ceiling at 100x: "
            f"{results.get('share_of_ceiling_100x')}.",
        ]
    lines += [
        "",
        "Targets met (at the first latency): "
        + ", ".join(f"{k}: {v}" for k, v in results["targets_met"].items()),
        "",
    ]
    return "\n".join(lines)


def chart(results: dict[str, Any], path: Path) -> bool:
    """The PNG; False (and no file) when matplotlib is not installed (e.g. the CI tests)."""
    try:
        import matplotlib
    except ImportError:
        log("matplotlib is not installed: no chart (pip install matplotlib)")
        return False

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (speed, memory) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=80)
    contenders = ["baseline", "ours", "ceiling"]
    latencies = list(results["by_latency"])
    width = 0.8 / max(1, len(latencies))
    for index, latency in enumerate(latencies):
        row = results["by_latency"][latency]
        values = [row["baseline_seconds"], row["replication_seconds"], row["ceiling_seconds"] or 0]
        rates = [row["items"] / v if v else 0 for v in values]
        xs = [i + index * width for i in range(len(contenders))]
        speed.bar(xs, rates, width, label=f"{latency} ms added")
    speed.set_xticks([i + width * (len(latencies) - 1) / 2 for i in range(len(contenders))])
    speed.set_xticklabels(contenders)
    speed.set_ylabel("items per second")
    speed.set_title(f"replication, scale {results['scale']} ({results['items']} items)")
    speed.legend(fontsize=8)
    ours = [r for r in results["runs"] if r["contender"] == "ours"]
    labels, values = [], []
    for run in sorted(ours, key=lambda r: (r["scale"], r["latency_ms"])):
        labels.append(f"x{run['scale']}\n{run['latency_ms']} ms")
        values.append(run["peak_rss_bytes"] / 2**20)
    memory.bar(labels, values, color="tab:green")
    memory.set_ylabel("peak RSS (MiB)")
    memory.set_title(f"ours: memory grows {results.get('memory_growth_100x')}x at 100x")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def print_ratios(results: dict[str, Any]) -> None:
    for latency, row in results["by_latency"].items():
        print(
            f"{latency:>3} ms: {row['items']} items; ours {row['replication_seconds']} s, "
            f"baseline {row['baseline_seconds']} s, ceiling {row['ceiling_seconds']} s "
            f"(concurrency {row['ceiling_concurrency']}); speed-up over baseline "
            f"{row['speedup_vs_baseline']}x; share of ceiling {row['share_of_ceiling']}; "
            f"template {row['template_seconds']} s"
        )
    for name, row in (results.get("ladder") or {}).items():
        print(
            f"{name} (scale {row['scale']}): {row['items']} items in {row['seconds']} s, "
            f"{row['items_per_second']} items/s, {row['client_cpu_seconds_per_1000_items']} "
            f"client CPU s per 1,000 items, peak RSS {row['peak_rss_mib']} MiB, verify "
            f"{row['verify_seconds']} s"
        )
    print(
        f"memory growth: {results.get('memory_growth_10x')}x at 10x, "
        f"{results.get('memory_growth_100x')}x at 100x; share of ceiling at 100x: "
        f"{results.get('share_of_ceiling_100x')}"
    )
    print(
        f"client payload bytes of server-side copies: {results['client_payload_bytes_server_side']}"
    )
    print(f"ours verified at 100 %: {results['ours_verified_100']}")
    under = results.get("faults") or {}
    for share in FAULT_SHARES:
        row = under.get(str(share))
        if row:
            print(
                f"{share} % of answers broken: {row['seconds']} s, {row['ratio']}x the time "
                f"without faults; {row['failed']} failed; fidelity {row['fidelity']} %"
            )
    dask = results.get("dask") or {}
    if dask:
        print(
            f"dask {dask['scheduler']}: {dask['dask_seconds']} s against threads "
            f"{dask['threads_seconds']} s ({dask['dask_over_threads']}x); same items: "
            f"{dask['items_match']}; fidelity {dask['dask_fidelity']} %"
        )
    for rtype, row in (results.get("by_type") or {}).items():
        print(
            f"{rtype} alone: {row['items']} items; ours {row['ours_seconds']} s, baseline "
            f"{row['baseline_seconds']} s ({row['speedup_vs_baseline']}x)"
        )
    print("targets met: " + json.dumps(results["targets_met"]))


def summarize_again(path: Path) -> dict[str, Any]:
    """The summary of an earlier run, computed again from the raw figures of its runs
    (``runs`` in its results.json): after a fix to how figures are summed up, the same
    measurements give the corrected tables without measuring for an hour and a half."""
    earlier = json.loads(path.read_text())
    known = {f.name for f in fields(Run)}
    runs = [Run(**{k: v for k, v in raw.items() if k in known}) for raw in earlier["runs"]]
    bench = argparse.Namespace(runs=runs, types=earlier["resource_types"])
    args = argparse.Namespace(scale=earlier["scale"], quick=earlier["quick"])
    latencies = [int(latency) for latency in earlier["by_latency"]]
    results = summarize(bench, args, latencies, earlier["ladder_scales"], earlier["seeded"],
                        earlier["bench_seconds"])
    # When and where it was measured stays the earlier run's.
    results.update(finished=earlier["finished"], machine=earlier["machine"],
                   summarized_again=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=10, help="scale of the compared tenant")
    parser.add_argument("--latency-ms", default="20,0", help="added latencies, comma-separated")
    parser.add_argument(
        "--ladder",
        "--memory-scales",
        dest="ladder",
        default="1,10,100",
        help="scales at which ours also runs alone: the 1x, 10x and 100x figures (items/s, "
        "client CPU per item, peak RSS, journal, verify)",
    )
    parser.add_argument("--sweep", default="8,16,32,64", help="ceiling concurrencies to try")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="runs of ours and of the best ceiling per latency (medians count)",
    )
    parser.add_argument("--quick", action="store_true", help="the CI smoke size")
    parser.add_argument("--work", default=str(HERE / ".work"), help="sandboxes live here")
    parser.add_argument("--out", default=str(HERE), help="where results.* are written")
    parser.add_argument("--keep", action="store_true", help="leave the sandboxes running")
    parser.add_argument(
        "--summarize-from",
        metavar="RESULTS_JSON",
        help="measure nothing: sum up the runs recorded in an earlier results.json again "
        "(after a fix to the summary) and write results.* to --out",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.scale, args.latency_ms, args.ladder, args.sweep = 1, "0", "1,2,3", "16"
        args.repeat = 1
    from_file = args.summarize_from
    results = summarize_again(Path(from_file)) if from_file else execute(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "results.md").write_text(markdown(results))
    drawn = chart(results, out / "results.png")
    print_ratios(results)
    log(f"wrote {out / 'results.json'}, results.md" + (", results.png" if drawn else ""))
    return 0 if results["ours_verified_100"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
