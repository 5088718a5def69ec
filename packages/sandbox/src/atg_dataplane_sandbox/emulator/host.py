"""Where the sandbox's services are wired together: the listeners (Entra ID, ARM, the File
service, Kudu, the disk data endpoint, one per vault, registry and Cosmos DB account, the
Azurite proxies), the ARM providers of every namespace, and the admin endpoint. The only
module that imports every service; services import only :mod:`.common`."""

from __future__ import annotations

import hmac
from functools import partial

from aiohttp import web

from atg_dataplane_sandbox.emulator.acr import arm as acr_arm
from atg_dataplane_sandbox.emulator.acr.router import dispatch as acr_dispatch
from atg_dataplane_sandbox.emulator.apimanagement import arm as apimanagement_arm
from atg_dataplane_sandbox.emulator.appservice import arm as appservice_arm
from atg_dataplane_sandbox.emulator.appservice import kudu
from atg_dataplane_sandbox.emulator.arm.authorization import seed_role_assignments
from atg_dataplane_sandbox.emulator.arm.router import dispatch as arm_dispatch
from atg_dataplane_sandbox.emulator.common.app import service_app
from atg_dataplane_sandbox.emulator.common.context import ADMIN_HEADER, EMU, Emulator
from atg_dataplane_sandbox.emulator.common.errors import AzureError, json_response
from atg_dataplane_sandbox.emulator.common.faults import FaultSpecError
from atg_dataplane_sandbox.emulator.common.middleware import malformed_json
from atg_dataplane_sandbox.emulator.compute import arm as compute_arm
from atg_dataplane_sandbox.emulator.compute import data as disk_data
from atg_dataplane_sandbox.emulator.cosmos import arm as cosmos_arm
from atg_dataplane_sandbox.emulator.cosmos.proxy import open_cosmos_proxies
from atg_dataplane_sandbox.emulator.entra import routes as entra
from atg_dataplane_sandbox.emulator.keyvault import arm as keyvault_arm
from atg_dataplane_sandbox.emulator.keyvault import import_worker
from atg_dataplane_sandbox.emulator.keyvault.router import dispatch as keyvault_dispatch
from atg_dataplane_sandbox.emulator.sql import arm as sql_arm
from atg_dataplane_sandbox.emulator.storage import arm as storage_arm
from atg_dataplane_sandbox.emulator.storage.errors import storage_fault_response, storage_malformed
from atg_dataplane_sandbox.emulator.storage.files.router import fileshare_app_routes
from atg_dataplane_sandbox.emulator.storage.proxy import open_storage_proxies

PROVIDERS = (
    keyvault_arm,
    storage_arm,
    acr_arm,
    cosmos_arm,
    apimanagement_arm,
    appservice_arm,
    compute_arm,
    sql_arm,
)
"""The namespaces ARM serves: each module registers its resource types when imported."""


async def start(emu: Emulator) -> None:
    """Open every listener; returns once they listen and ``emulator.json`` names them."""
    emu.store.start()
    emu.urls["entra"] = await emu.listen(entra_app(emu), emu.options.entra_port)
    emu.urls["arm"] = await emu.listen(arm_app(emu), emu.options.arm_port)
    emu.urls["file"] = await emu.listen(file_app(emu), 0)  # Azure Files: Azurite has none
    await kudu.open_kudu(emu, kudu_app(emu))  # App Service's SCM sites
    emu.urls["disks"] = await emu.listen_remembered("disks_port", "disks", disks_app(emu))
    # Before vaults/registries: their listeners write emulator.json, which must list us.
    await open_storage_proxies(emu)
    await open_cosmos_proxies(emu)
    emu.vault_runner = web.AppRunner(keyvault_app(emu), access_log=None)
    await emu.vault_runner.setup()
    emu.runners.append(emu.vault_runner)
    for name, vault in sorted(emu.store.section("vaults").items()):
        url = await emu.open_vault(name, vault.get("port", 0))
        emu.repoint(vault, "vaultUri", url + "/")
    emu.registry_runner = web.AppRunner(acr_app(emu), access_log=None)
    await emu.registry_runner.setup()
    emu.runners.append(emu.registry_runner)
    for name, registry in sorted(emu.store.section("registries").items()):
        url = await emu.open_registry(name, registry.get("port", 0))
        emu.repoint(registry, "loginServer", url.removeprefix("https://"))
    emu.write_emulator_json()


async def stop(emu: Emulator) -> None:
    await emu.stop()
    import_worker.shutdown()


def entra_app(emu: Emulator) -> web.Application:
    app = service_app(emu, "entra")
    app.add_routes(entra.routes)
    return app


def arm_app(emu: Emulator) -> web.Application:
    seed_role_assignments(emu.store.data, emu.topology)
    app = service_app(emu, "arm")
    app.router.add_route("GET", "/_sandbox/faults", _faults)
    app.router.add_route("POST", "/_sandbox/faults", _faults)
    app.router.add_route("*", "/{tail:.*}", arm_dispatch)
    return app


def keyvault_app(emu: Emulator) -> web.Application:
    app = service_app(emu, "keyvault")
    app.router.add_route("*", "/{tail:.*}", keyvault_dispatch)
    return app


def acr_app(emu: Emulator) -> web.Application:
    app = service_app(emu, "acr", malformed=_acr_malformed)
    app.router.add_route("*", "/{tail:.*}", acr_dispatch)
    return app


def disks_app(emu: Emulator) -> web.Application:
    app = service_app(emu, disk_data.SERVICE)
    disk_data.routes(app)
    return app


def kudu_app(emu: Emulator) -> web.Application:
    app = service_app(emu, kudu.SERVICE)
    kudu.routes(app)
    return app


def file_app(emu: Emulator) -> web.Application:
    # Azure Files is Azure Storage: fault service ``storage``, errors shaped as Storage's.
    app = service_app(
        emu,
        "storage",
        partial(storage_fault_response, "file"),
        partial(storage_malformed, "file"),
    )
    fileshare_app_routes(app, emu)
    return app


def _acr_malformed(request: web.Request) -> web.Response | None:
    # Manifests and layers are content (their digests are their names): never garbled.
    if "/manifests/" in request.path or "/blobs/" in request.path:
        return None
    return malformed_json(request)


async def _faults(request: web.Request) -> web.Response:
    """Admin endpoint: GET shows the fault spec, POST ``{"spec": "..."}`` replaces it.
    Authenticated by the local admin key (``secrets/emulator-admin``), not by Entra ID."""
    emu: Emulator = request.app[EMU]
    if not hmac.compare_digest(request.headers.get(ADMIN_HEADER, ""), emu.admin_key):
        raise AzureError(401, "Unauthorized", f"The {ADMIN_HEADER} header is missing or wrong.")
    if request.method == "POST":
        body = await request.json()
        try:
            emu.set_faults(str(body.get("spec", "")))
        except FaultSpecError as exc:
            raise AzureError(400, "BadFaultSpec", str(exc)) from None
    return json_response({"spec": emu.faults.text, "injected": emu.fault_counts})
