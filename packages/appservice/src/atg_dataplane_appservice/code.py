"""A site's deployed code, through its Kudu (SCM) site: the zip of ``site/wwwroot`` and
OneDeploy, with an Entra token for ARM (what Kudu takes from automation), sent through the
ARM client's own pipeline (the run's transport, TLS verification and retry policy).

Code that does not live in ``site/wwwroot``: a package named by ``WEBSITE_RUN_FROM_PACKAGE``
as a blob URL with a SAS travels with that setting (``packages.py``); a container image
(the registry plugin copies images; point the target at its copy) or a package at another
URL is reported not copyable, with the remedy.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ResourceBinding,
    SideContext,
)
from azure.core.rest import HttpRequest

from atg_dataplane_appservice import sites

ZIP = "/api/zip/site/wwwroot/"
DEPLOY = "/api/publish?type=zip&clean=true&async=true"
"""OneDeploy: ``clean`` leaves ``site/wwwroot`` exactly the package (zip deploy keeps
files it did not deploy, so the target would never compare equal); ``async`` answers at
once with the deployment to poll, so a large package never outlasts a read timeout."""
PACKAGE_SETTING = "WEBSITE_RUN_FROM_PACKAGE"
SCM_SUFFIXES = (
    ".scm.azurewebsites.net",
    ".scm.azurewebsites.us",
    ".scm.chinacloudsites.cn",
    ".scm.appserviceenvironment.net",
    ".scm.appserviceenvironment.us",
)
"""Where an ARM token may go: Kudu's hosts in Azure's clouds (and an App Service
Environment's), or the ARM endpoint's own host (an emulator)."""
DEPLOY_POLL_SECONDS = 1.0
DEPLOY_TIMEOUT_SECONDS = 1800
SUCCESS, FAILED = 4, 3
"""Kudu's deployment statuses that end a deployment."""


def scm_url(site: Any, context: SideContext) -> str:
    """``https://{scm host}`` of a site or slot (its ``Repository`` host name), only where
    an ARM token may be sent: a host name the site's owner set to anything else would
    otherwise receive the run's token."""
    arm_host = (urlsplit(context.cloud.resource_manager).hostname or "").lower()
    for state in site.host_name_ssl_states or []:
        kind = getattr(state.host_type, "value", state.host_type)  # an enum, or its text
        if str(kind).lower() != "repository" or not state.name:
            continue
        host = (urlsplit(f"https://{state.name}").hostname or "").lower()
        if host.endswith(SCM_SUFFIXES) or host == arm_host:
            return f"https://{state.name}"
        raise ItemError(
            f"{site.name}'s SCM host {host} is not an App Service (Kudu) host",
            remedy="deploy its code another way; the run's token is not sent there",
        )
    raise ItemError(
        f"{site.name} has no SCM (Kudu) host name",
        remedy="enable the SCM site, or deploy the code another way",
    )


def not_copyable(config: Any, settings: Mapping[str, str]) -> str:
    """Why the code of a site or slot (its ``config/web``) cannot be copied through Kudu,
    or ``""``."""
    for field in ("linux_fx_version", "windows_fx_version"):
        image = str(getattr(config, field, "") or "")
        kind = image.split("|", 1)[0].upper()
        if kind == "DOCKER":
            return (
                f"the code is a container image ({image.split('|', 1)[1]}): copy the image "
                "with atg-dataplane-containerregistry and point the target site at its copy"
            )
        if kind == "COMPOSE":  # the file itself may hold secrets: never quoted
            return (
                "the code is a Docker Compose app of container images: copy the images with "
                "atg-dataplane-containerregistry and point the target's compose file at them"
            )
    package = str(settings.get(PACKAGE_SETTING) or "")
    if package.lower().startswith("http"):  # not a source blob with a SAS (packages.py)
        return (
            f"the code is a package at a URL ({PACKAGE_SETTING}) outside the source "
            "tenant's storage accounts, or without a SAS: publish it where the target site "
            "can read it and point the target's setting there"
        )
    return ""


def download(client: Any, scm: str) -> bytes:
    # streamed: the ARM pipeline would try to decode a body it is not told to leave alone
    response = client.send_request(HttpRequest("GET", scm + ZIP), stream=True)
    response.raise_for_status()
    return bytes(response.read())


def deploy(client: Any, scm: str, archive: bytes, context: SideContext) -> None:
    """OneDeploy the package, then wait for the deployment to end."""
    request = HttpRequest(
        "POST", scm + DEPLOY, content=archive, headers={"Content-Type": "application/zip"}
    )
    response = client.send_request(request)
    response.raise_for_status()
    status = _status(response)
    location = response.headers.get("Location") or f"{scm}/api/deployments/latest"
    waited = 0.0
    while response.status_code == 202 and status not in (SUCCESS, FAILED):
        if waited > DEPLOY_TIMEOUT_SECONDS:
            raise ItemError("the deployment did not end in time", remedy="re-run")
        context.pause(DEPLOY_POLL_SECONDS)
        waited += DEPLOY_POLL_SECONDS
        polled = client.send_request(HttpRequest("GET", location))
        polled.raise_for_status()
        status = _status(polled)
    if status == FAILED:
        raise ItemError(
            "Kudu reports the deployment failed", remedy="see the site's deployment log"
        )


def _status(response: Any) -> int | None:
    try:
        found = response.json()
    except ValueError:
        return None
    value = found.get("status") if isinstance(found, dict) else None
    return int(value) if isinstance(value, int) else None


def files(archive: bytes) -> dict[str, str]:
    """Path -> SHA-256 of each file in the zip (what is compared; never the contents)."""
    with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
        return {
            info.filename: hashlib.sha256(zipped.read(info)).hexdigest()
            for info in zipped.infolist()
            if not info.is_dir()
        }


def fingerprint(archive: bytes, fingerprinter: Fingerprinter) -> str:
    return fingerprinter.of(sorted(files(archive).items()))


# -- the code item ------------------------------------------------------------------------
def items(
    binding: ResourceBinding,
    slot: str | None,
    after: tuple[str, ...],
    current: Mapping[str, Any] | None = None,
) -> tuple[list[DataPlaneItem], str]:
    """The code item of a site or slot (none when a package setting carries the code), and
    the key of the item that brings its functions to the target (``current``: the app
    settings when the caller has just listed them)."""
    from atg_dataplane.counterparts import STORAGE_ACCOUNTS, owner

    from atg_dataplane_appservice import packages, settings

    prefix = sites.prefix(slot)
    if current is None:
        current = settings.listed(binding, "app_setting", slot)
    package = str(current.get(PACKAGE_SETTING) or "")
    if packages.is_blob_sas(package) and owner(binding.context, STORAGE_ACCOUNTS, package):
        return [], f"app_setting:{prefix}appsettings/{PACKAGE_SETTING}"
    reason = not_copyable(sites.call(binding, "get_configuration", slot), current)
    if not reason:
        try:
            scm_url(sites.site(binding, slot), binding.context)
        except ItemError as exc:
            reason = f"{exc.reason} ({exc.remedy})"
    made = sites.item(
        binding, f"{prefix}code", "code", after=after, copyable=not reason,
        not_copyable_reason=reason,
    )
    return [made], made.key


def archive(binding: ResourceBinding, slot: str | None) -> bytes:
    """The site's or slot's code as Kudu zips it (never kept: a site may be large)."""
    return download(sites.client(binding), scm_url(sites.site(binding, slot), binding.context))


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    fingerprinter: Fingerprinter,
) -> ItemOutcome:
    if not item.copyable:
        return ItemOutcome(status="skipped", reason=item.not_copyable_reason)
    slot, _ = sites.slot_of(item.name)
    ours = archive(source, slot)
    scm = scm_url(sites.site(target, slot), target.context)
    theirs = download(sites.client(target), scm)
    if fingerprint(theirs, fingerprinter) == fingerprint(ours, fingerprinter):
        return ItemOutcome(status="unchanged")
    deploy(sites.client(target), scm, ours, target.context)
    if sites.is_function_app(target):
        sites.call(target, "sync_function_triggers", slot)
    return ItemOutcome(status="replicated", bytes_copied=len(ours), client_bytes=len(ours))
