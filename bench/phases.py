"""``atg-dataplane`` with its client CPU split by phase (an extra run, not a timed one).

The ceiling times only the writes; ours also signs in, lists the tenant, checks
permissions and discovers every item inside its run. This wrapper runs the same command
in-process and adds up each thread's CPU time by the thread's role, so the results show
how much of ours is the same work as the ceiling's and how much is work the ceiling does
before its clock starts:

* ``items``: the engine's item workers (``atg-item``), and the helper threads the SDKs
  start for them (multipart batches);
* ``discovery``: the resources' discovery threads (``atg-discover``) and their read-ahead
  (``atg-read``);
* ``start_and_end``: the main thread: imports, sign-in, inventory, the permission check,
  the summary;
* ``other``: every other thread (sign-in, pairing and permission look-ups).

    python bench/phases.py replicate --config CONFIG --mode replication --yes

Writes ``{"cpu_seconds_by_phase": {...}, "cpu_seconds": total}`` to the file named by
``ATG_BENCH_PHASES_OUT``; the command's own output and exit code are unchanged.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections import Counter

ROLES = {
    "atg-item": "items",
    "ThreadPoolExecutor": "items",
    "atg-discover": "discovery",
    "atg-read": "discovery",
}
_cpu: Counter[str] = Counter()
_lock = threading.Lock()
_run = threading.Thread.run


def _role(name: str) -> str:
    return next((role for prefix, role in ROLES.items() if name.startswith(prefix)), "other")


def _measured_run(self: threading.Thread) -> None:
    started = time.thread_time()
    try:
        _run(self)
    finally:
        spent = time.thread_time() - started
        with _lock:
            _cpu[_role(self.name)] += spent


def main() -> int:
    threading.Thread.run = _measured_run  # type: ignore[method-assign]
    from atg_dataplane.cli import main as cli

    main_started = time.thread_time()
    sys.argv[0] = "atg-dataplane"
    code = 0
    try:
        cli()
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    with _lock:
        _cpu["start_and_end"] += time.thread_time() - main_started
        phases = {k: round(v, 3) for k, v in sorted(_cpu.items())}
    out = os.environ.get("ATG_BENCH_PHASES_OUT")
    if out:
        report = {"cpu_seconds_by_phase": phases, "cpu_seconds": round(time.process_time(), 3)}
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(report, handle)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
