"""What is deployed in a site or slot (its ``site/wwwroot``), shared by ARM (the functions
a function app's code holds) and Kudu (zip download and zip deploy).

Files live in the store (section ``site_code``: scope id -> path -> base64), so they
survive a restart like the rest of ARM's state; sandbox sites hold kilobytes, not images.
"""

from __future__ import annotations

import base64
import io
import json
import zipfile
from typing import Any

SECTION = "site_code"
SCM_SECTION = "kudu_sites"
"""SCM name (``site`` or ``site-slot``, as Azure's ``{name}.scm.azurewebsites.net``) ->
scope id (the site's or the slot's ARM id)."""


def files(store: Any, scope_id: str) -> dict[str, bytes]:
    stored = store.section(SECTION).get(scope_id.lower()) or {}
    return {path: base64.b64decode(data) for path, data in stored.items()}


def deploy(store: Any, scope_id: str, archive: bytes) -> int:
    """Replace the scope's files with the zip's (as zip deploy does); the file count."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zipped:
            found = {
                info.filename: zipped.read(info)
                for info in zipped.infolist()
                if not info.is_dir()
            }
    except zipfile.BadZipFile:
        raise ValueError("the body is not a zip archive") from None
    store.section(SECTION)[scope_id.lower()] = {
        path: base64.b64encode(data).decode() for path, data in found.items()
    }
    store.touch()
    return len(found)


def archive(store: Any, scope_id: str) -> bytes:
    """The scope's files as a zip (Kudu's ``GET /api/zip/site/wwwroot/``)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zipped:
        for path, data in sorted(files(store, scope_id).items()):
            zipped.writestr(path, data)
    return out.getvalue()


def drop(store: Any, scope_id: str) -> None:
    """Forget a deleted site's code and SCM names (its slots' too)."""
    prefix = scope_id.lower()

    def below(key: str) -> bool:
        return key.lower() == prefix or key.lower().startswith(prefix + "/")

    for key in [k for k in store.section(SECTION) if below(k)]:
        del store.section(SECTION)[key]
    scm = store.section(SCM_SECTION)
    for name in [n for n, scope in scm.items() if below(scope)]:
        del scm[name]
    store.touch()


def functions(store: Any, scope_id: str) -> dict[str, dict[str, Any]]:
    """Function name -> its ``function.json``: each top-level folder of the code that has
    one (how the Functions host finds a script app's functions)."""
    found: dict[str, dict[str, Any]] = {}
    for path, data in files(store, scope_id).items():
        parts = path.split("/")
        if len(parts) == 2 and parts[1] == "function.json":
            try:
                found[parts[0]] = dict(json.loads(data))
            except (ValueError, TypeError):
                continue  # the host skips a function whose metadata does not parse
    return found
