"""``python -m atg_dataplane_sandbox.emulator --dir D [--faults SPEC]``.

Writes ``D/emulator.json`` once listening; exits cleanly on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
from pathlib import Path

from atg_dataplane_sandbox.emulator import host
from atg_dataplane_sandbox.emulator.common.context import Emulator, EmulatorOptions
from atg_dataplane_sandbox.emulator.common.faults import FaultSpecError, parse_spec


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m atg_dataplane_sandbox.emulator")
    parser.add_argument("--dir", required=True, type=Path, help="sandbox directory")
    parser.add_argument("--faults", default=None, help="fault spec, e.g. 'keyvault:429=0.1'")
    parser.add_argument("--entra-port", type=int, default=0)
    parser.add_argument("--arm-port", type=int, default=0)
    parser.add_argument("--lro-retry-after", type=int, default=1)
    parser.add_argument("--page-size", type=int, default=5, help="ARM page size")
    parser.add_argument(
        "--keyvault-page-size", type=int, default=25, help="Key Vault page size (Azure's: 25)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    options = EmulatorOptions(
        entra_port=args.entra_port,
        arm_port=args.arm_port,
        lro_retry_after=args.lro_retry_after,
        arm_page_size=args.page_size,
        keyvault_page_size=args.keyvault_page_size,
    )
    try:
        parse_spec(args.faults)
    except FaultSpecError as exc:
        parser.error(str(exc))
    asyncio.run(_serve(args.dir, args.faults, options))
    return 0


async def _serve(directory: Path, faults: str | None, options: EmulatorOptions) -> None:
    emulator = Emulator(directory, faults, options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await host.start(emulator)
    try:
        await stop.wait()
    finally:
        await host.stop(emulator)


if __name__ == "__main__":
    raise SystemExit(main())
