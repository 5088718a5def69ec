"""The baseline: the seed documents' loop, one item at a time.

For every resource, list the items, then for each item get it from the source and set it
in the target, sequentially, with the same SDKs and no server-side copy. Prints one JSON
object: seconds (the whole copy, after the credentials are built), items, payload bytes.

    python bench/baseline.py --config CONFIG
"""

from __future__ import annotations

import argparse

from common import Stopwatch, Tally, emit, setup


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--config", required=True)
    args = parser.parse_args()
    tally = Tally()
    with Stopwatch() as watch:
        ctx = setup(args.config)
        for pair in ctx.pairs:
            ctx.adapters[pair.resource_type].baseline(pair, ctx.source, ctx.target, tally)
    emit({"contender": "baseline", "seconds": watch.seconds, **tally.to_dict()})


if __name__ == "__main__":
    main()
