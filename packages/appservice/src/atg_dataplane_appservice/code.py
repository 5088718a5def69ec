"""A site's deployed code, through its Kudu (SCM) site: the zip of ``site/wwwroot`` and zip
deploy, with an Entra token for ARM (what Kudu takes from automation), sent through the
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

from atg_dataplane import Fingerprinter, ItemError
from azure.core.rest import HttpRequest

ZIP = "/api/zip/site/wwwroot/"
PACKAGE_SETTING = "WEBSITE_RUN_FROM_PACKAGE"
DEPLOY = "/api/zipdeploy"


def scm_url(site: Any) -> str:
    """``https://{scm host}`` of a site or slot (its ``Repository`` host name)."""
    for state in site.host_name_ssl_states or []:
        kind = getattr(state.host_type, "value", state.host_type)  # an enum, or its text
        if str(kind).lower() == "repository" and state.name:
            return f"https://{state.name}"
    raise ItemError(
        f"{site.name} has no SCM (Kudu) host name",
        remedy="enable the SCM site, or deploy the code another way",
    )


def not_copyable(site: Any, settings: Mapping[str, str]) -> str:
    """Why the site's code cannot be copied through Kudu, or ``""``."""
    config = site.site_config
    image = str(getattr(config, "linux_fx_version", "") or "")
    if image.upper().startswith(("DOCKER|", "COMPOSE|")):
        return (
            f"the code is a container image ({image.split('|', 1)[1]}): copy the image with "
            "atg-dataplane-containerregistry and point the target site at its copy"
        )
    package = str(settings.get(PACKAGE_SETTING) or "")
    if package.lower().startswith("http"):  # not a blob with a SAS (packages.py has those)
        return (
            f"the code is a package at a URL ({PACKAGE_SETTING}) that is not a blob of the "
            "source tenant with a SAS: publish it where the target site can read it and "
            "point the target's setting there"
        )
    return ""


def download(client: Any, scm: str) -> bytes:
    # streamed: the ARM pipeline would try to decode a body it is not told to leave alone
    response = client.send_request(HttpRequest("GET", scm + ZIP), stream=True)
    response.raise_for_status()
    return bytes(response.read())


def deploy(client: Any, scm: str, archive: bytes) -> None:
    request = HttpRequest(
        "POST", scm + DEPLOY, content=archive, headers={"Content-Type": "application/zip"}
    )
    response = client.send_request(request)
    response.raise_for_status()


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
