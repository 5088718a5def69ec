"""Azure Files (File service) emulation: Azurite has none.

One listener serves every account of the sandbox's storage pool, path-style like Azurite
(``https://127.0.0.1:PORT/{account}/...``); the ARM storage provider points each account's
``primaryEndpoints.file`` at it. See :mod:`.router` for the operations and :mod:`.auth` for
Shared Key, SAS and OAuth (backup intent) authentication.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aiohttp import web

    from atg_dataplane_sandbox.emulator.context import Emulator


def fileshare_app(emu: Emulator) -> web.Application:
    from atg_dataplane_sandbox.emulator.apps import _app
    from atg_dataplane_sandbox.emulator.fileshare.router import fileshare_app_routes
    from atg_dataplane_sandbox.emulator.storage_errors import (
        storage_fault_response,
        storage_malformed,
    )

    # Azure Files is Azure Storage: fault service ``storage``, errors shaped as Storage's.
    app = _app(
        emu,
        "storage",
        partial(storage_fault_response, "file"),
        partial(storage_malformed, "file"),
    )
    fileshare_app_routes(app)
    return app
