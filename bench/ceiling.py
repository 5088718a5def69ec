"""The ceiling: the least work any tool must do for the same result, at a given concurrency.

Discovery happens first and is not timed (names, key parameters, certificate policies),
on as many threads as the writes.
The timed part is only what no tool can skip: read each value that the listing does not
carry (a secret's value, a certificate's PFX) and write each item into the target (or start
the server-side copy), on ``--concurrency`` threads sharing a pool of as many connections.
No journal, no existence checks, no progress. Prints one JSON object.

    python bench/ceiling.py --config CONFIG --concurrency 32
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from adapters import Task
from atg_dataplane import read_ahead
from common import Pair, Stopwatch, Tally, emit, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with Stopwatch() as untimed:
        ctx = setup(args.config)

        def plan(pair: Pair) -> list[Task]:
            adapter = ctx.adapters[pair.resource_type]
            return adapter.plan(pair, ctx.source, ctx.target, args.concurrency)

        # Not timed, but made one resource at a time it took longer than the writes it
        # prepares: the resources are planned at the run's concurrency, in their order.
        parts = read_ahead(plan, ctx.pairs, args.concurrency)
        tasks = [task for part in parts for task in part]
    tally = Tally()
    kinds = Counter(task.kind for task in tasks)

    def run(task: Task) -> None:
        try:
            tally.add(task.kind, task.run(), count=task.counted)
        except Exception as exc:  # counted, reported; the run goes on
            tally.fail(task.kind, task.name, exc)

    # Slow items first (key generation, certificate issuance) so they overlap the rest;
    # the other kinds interleaved, so that every emulator (Key Vault, Azurite) stays busy.
    order = {"certificate": 0, "key": 1}
    seen: Counter[str] = Counter()
    position = {}
    for task in tasks:
        position[id(task)] = seen[task.kind] / max(1, kinds[task.kind])
        seen[task.kind] += 1
    tasks.sort(key=lambda t: (t.phase, order.get(t.kind, 2), position[id(t)]))
    phases = sorted({t.phase for t in tasks})
    cpu_before = time.process_time()
    with Stopwatch() as watch, ThreadPoolExecutor(args.concurrency) as pool:
        for phase in phases:
            list(pool.map(run, [t for t in tasks if t.phase == phase]))
    emit(
        {
            "contender": "ceiling",
            "concurrency": args.concurrency,
            "seconds": watch.seconds,
            "cpu_seconds_timed": round(time.process_time() - cpu_before, 3),
            "setup_seconds": untimed.seconds,
            **tally.to_dict(),
        }
    )


if __name__ == "__main__":
    main()
