"""A server's databases, copied through Azure's own export and import (server-side: the
rows never pass through this process).

For each database:

1. The source database is exported to a BACPAC in the staging container, and so is the
   target's (to see what it holds: Azure imports only into an empty database).
2. A target that holds user objects is ``unchanged`` when its package matches the
   source's (schema, and in replication mode each data part's size and CRC-32 from the
   zip's directory); one with the source's schema and no row (template mode's) is made
   again and filled; otherwise the item fails with the target untouched, unless
   ``sql.replace_non_empty`` is set (the database is dropped and made again, empty, with
   the same SKU, collation, size limit and tags).
3. The source's package (in template mode the same package without its ``Data/`` parts,
   built from the model and uploaded) is imported into the target. An import that fails
   may leave part of the schema behind (Azure's import is not transactional): the target
   database is then made again, empty, as it was found. A run stopped during an import
   knows from its checkpoint that a non-empty target is its own half-finished import.
4. The staging blobs are deleted (kept with ``sql.keep_staging``).
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from atg_dataplane import (
    Checkpoint,
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ResourceBinding,
)
from atg_dataplane.options import SHALLOW_OPTION
from atg_dataplane.retry import RunStopping, is_transient
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError, ServiceResponseError
from azure.mgmt.sql import SqlManagementClient

from atg_dataplane_sql.package import Package
from atg_dataplane_sql.staging import Staging, staging

log = logging.getLogger(__name__)
SYSTEM = frozenset({"master"})
COPY_MARK = "-atgcopy-"
"""In the name of a copy made to export from (``sql.export_from_copy``): never an item."""
AZURE_SERVICES = "0.0.0.0"
POLL = 0.5
KEPT = ("collation", "catalogCollation", "maxSizeBytes", "zoneRedundant", "readScale",
        "requestedBackupStorageRedundancy", "elasticPoolId", "autoPauseDelay", "minCapacity",
        "licenseType", "maintenanceConfigurationId", "isLedgerOn",
        "highAvailabilityReplicaCount", "preferredEnclaveType")
"""What a database made again keeps of the one it replaces (with its SKU and tags). Its
child settings (auditing, TDE keys, backup retention, geo-links) and its backups are not
kept: replacing a database is asked for (``sql.replace_non_empty``) or undoes this tool's
own failed import."""


def client(binding: ResourceBinding) -> SqlManagementClient:
    found: SqlManagementClient = binding.context.mgmt(
        SqlManagementClient, binding.resource.subscription_id
    )
    return found


def _server(binding: ResourceBinding) -> tuple[str, str]:
    return binding.resource.resource_group, binding.resource.name


def login(binding: ResourceBinding, options: Mapping[str, Any]) -> dict[str, str]:
    """The server's SQL admin login from ``sql.logins_file`` (never logged)."""
    path = str(options.get("sql.logins_file") or "")
    name = binding.resource.name
    remedy = (
        'give a JSON file {"<server>": {"login": ..., "password": ...}} for both servers '
        "in sql.logins_file (Azure's import and export sign in to the server with it)"
    )
    if not path:
        raise ItemError("no SQL logins are configured", remedy=remedy)
    try:
        found = json.loads(Path(path).expanduser().read_text()).get(name)
    except (OSError, ValueError) as exc:
        raise ItemError(f"sql.logins_file cannot be read: {type(exc).__name__}",
                        remedy=remedy) from None
    if not isinstance(found, dict) or not found.get("login") or not found.get("password"):
        raise ItemError(f"sql.logins_file has no login for server {name}", remedy=remedy)
    return {"login": str(found["login"]), "password": str(found["password"])}


def refusal(binding: ResourceBinding) -> str:
    """Why Azure's import/export service could not connect to the server ("" if it can)."""
    group, name = _server(binding)
    sql = client(binding)
    server = sql.servers.get(group, name).as_dict()
    if (server.get("properties") or {}).get("publicNetworkAccess") == "Disabled":
        return f"server {name} refuses public network access"
    for rule in sql.firewall_rules.list_by_server(group, name):
        props = rule.as_dict().get("properties") or {}
        if props.get("startIpAddress") == props.get("endIpAddress") == AZURE_SERVICES:
            return ""
    return f"server {name}'s firewall does not let Azure services in"


FIREWALL_REMEDY = (
    "allow Azure services to reach the server (az sql server firewall-rule create -n "
    "AllowAllWindowsAzureIps --start-ip-address 0.0.0.0 --end-ip-address 0.0.0.0), or "
    "export and import through a private link"
)


def items(binding: ResourceBinding, options: Mapping[str, Any]) -> Iterator[DataPlaneItem]:
    group, name = _server(binding)
    sql = client(binding)
    why = refusal(binding) if binding.side == "source" else ""
    _prepare_staging(binding, options)
    for database in sql.databases.list_by_server(group, name):
        if database.name in SYSTEM or COPY_MARK in str(database.name):
            continue
        props = database.as_dict().get("properties") or {}
        used = _used_bytes(sql, group, name, str(database.name))
        yield DataPlaneItem(
            name=str(database.name),
            kind="database",
            source_resource_id=binding.resource.id,
            properties={"collation": props.get("collation") or ""},
            size_bytes=used,
            copyable=not why,
            not_copyable_reason=f"{why}: {FIREWALL_REMEDY}" if why else "",
        )


def _prepare_staging(binding: ResourceBinding, options: Mapping[str, Any]) -> None:
    """The side that holds the staging account makes the run's SAS as it discovers, so the
    other side's exports (verify reads both) find it; a problem shows on the items."""
    holder = str(options.get("sql.staging_side") or "target")
    if binding.side == holder and options.get("sql.staging_account"):
        with contextlib.suppress(ItemError):
            staging(binding, options)


def _used_bytes(sql: SqlManagementClient, group: str, server: str, name: str) -> int | None:
    try:
        for usage in sql.database_usages.list_by_database(group, server, name):
            found = usage.as_dict()
            props = found.get("properties") or found
            if found.get("name") == "database_size" or props.get("displayName") == "Database Size":
                return int(props.get("currentValue") or 0)
    except HttpResponseError:
        return None
    return None


class _Attempt:
    """What this item's copy has made so far, in its checkpoint (names and an ARM body,
    never a secret), so a stopped or retried attempt first cleans up after the last one."""

    def __init__(self, checkpoint: Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.state: dict[str, Any] = json.loads(checkpoint.get() or "{}")
        self.state.setdefault("staged", [])
        self.state.setdefault("copies", [])

    def save(self, **changes: Any) -> None:
        self.state.update(changes)
        self.checkpoint.save(json.dumps(self.state))

    def staged(self, blob: str) -> None:
        self.save(staged=[*self.state["staged"], blob])


def _wait(poller: Any, binding: ResourceBinding) -> Any:
    """The operation's result; Ctrl-C ends the wait (the checkpoint says what is left)."""
    while not poller.done():
        if binding.context.stop.is_set():
            raise RunStopping("the run is stopping")
        poller.wait(POLL)
    return poller.result()


def _check_target(target: ResourceBinding, name: str, attempt: _Attempt) -> dict[str, Any]:
    group, server = _server(target)
    why = refusal(target)
    if why:
        raise ItemError(why, remedy=FIREWALL_REMEDY)
    databases = client(target).databases
    try:
        return dict(databases.get(group, server, name).as_dict())
    except ResourceNotFoundError:
        if not attempt.state.get("remaking"):
            raise ItemError(
                f"the target server {server} has no database {name}",
                remedy="create it (Terraform: the same name, an empty database) and re-run",
            ) from None
    # an attempt stopped between dropping the database and making it again: make it now
    _wait(databases.begin_create_or_update(group, server, name, attempt.state["remaking"],
                                           polling_interval=POLL), target)
    attempt.save(remaking=None)
    return dict(databases.get(group, server, name).as_dict())


def _failed(what: str, exc: HttpResponseError) -> ItemError:
    message = (exc.message or str(exc)).splitlines()[0]
    return ItemError(f"{what} failed: {message}", remedy="see the reason; re-run when fixed")


def export(
    binding: ResourceBinding, options: Mapping[str, Any], name: str, stage: Staging, blob: str
) -> None:
    _operate(binding, options, "export", name, stage, blob)


def _operate(
    binding: ResourceBinding,
    options: Mapping[str, Any],
    operation: str,
    name: str,
    stage: Staging,
    blob: str,
) -> None:
    """Azure's ``export`` of the database to the blob, or ``import`` from it, waited for."""
    group, server = _server(binding)
    write = operation == "export"
    body = _storage_body(binding, options, stage.storage_key(blob, write=write),
                         stage.blob_url(blob))
    databases = client(binding).databases
    begin = databases.begin_export if write else databases.begin_import_method
    try:
        _wait(begin(group, server, name, body, polling_interval=POLL), binding)
    except HttpResponseError as exc:
        if is_transient(exc):
            # the engine tries again (an import's next attempt knows the half-finished
            # import is its own: the checkpoint)
            raise
        what = f"export of {server}/{name}" if write else f"import into {server}/{name}"
        if _echo(write, exc):
            # An answer lost on its way back made the SDK send the request again, and the
            # service refused the second one because the first had done its work: the
            # engine tries the item again (new blob names; an import it finds made is its
            # own, by the checkpoint, and compared like any other).
            raise ServiceResponseError(f"{what} was sent twice: {ECHO}") from None
        raise _failed(what, exc) from None


ECHO = "the first one ran"
_ECHOES = {
    # the blob's name is new to this attempt: only its own first request wrote it
    True: "already exists",
    # the database was found or made empty by this attempt just before
    False: "contains one or more user objects",
}


def _echo(write: bool, exc: HttpResponseError) -> bool:
    return _ECHOES[write] in (exc.message or str(exc))


def _storage_body(
    binding: ResourceBinding, options: Mapping[str, Any], sas: str, url: str
) -> dict[str, Any]:
    admin = login(binding, options)
    return {
        "storageKeyType": "SharedAccessKey",
        "storageKey": sas,
        "storageUri": url,
        "administratorLogin": admin["login"],
        "administratorLoginPassword": admin["password"],
        "authenticationType": "Sql",
    }


def _stage(source: ResourceBinding, target: ResourceBinding, options: Mapping[str, Any]) -> Staging:
    holder = source if str(options.get("sql.staging_side") or "target") == "source" else target
    return staging(holder, options)


def _exported(
    binding: ResourceBinding,
    options: Mapping[str, Any],
    name: str,
    stage: Staging,
    attempt: _Attempt | None,
    blobs: list[str],
    reader: ResourceBinding,
) -> Package:
    blob = stage.name(binding.resource.name, name, binding.side)
    blobs.append(blob)
    if attempt is not None:
        attempt.staged(blob)
    with _consistent(binding, name, options, attempt) as exported:
        export(binding, options, exported, stage, blob)
    return stage.read(blob, reader)


@contextlib.contextmanager
def _consistent(
    binding: ResourceBinding, name: str, options: Mapping[str, Any], attempt: _Attempt | None
) -> Iterator[str]:
    """The database to export: itself, or with ``sql.export_from_copy`` (the source side) a
    transactionally consistent copy made for the export and dropped after it (an export
    of a live database reads each table at its own moment)."""
    if binding.side != "source" or not options.get("sql.export_from_copy"):
        yield name
        return
    group, server = _server(binding)
    databases = client(binding).databases
    found = databases.get(group, server, name).as_dict()
    copy = f"{name[:100]}{COPY_MARK}{secrets.token_hex(3)}"
    if attempt is not None:
        attempt.save(copies=[*attempt.state["copies"], copy])
    try:
        _wait(databases.begin_create_or_update(group, server, copy, {
            "location": found.get("location") or "",
            "properties": {"createMode": "Copy", "sourceDatabaseId": found["id"]},
        }, polling_interval=POLL), binding)
        yield copy
    finally:
        _drop_copy(binding, copy)


def _drop_copy(binding: ResourceBinding, copy: str) -> None:
    group, server = _server(binding)
    try:
        with contextlib.suppress(ResourceNotFoundError):
            client(binding).databases.begin_delete(
                group, server, copy, polling_interval=POLL).result()
    except Exception as exc:  # clean-up: the outcome stands
        log.warning("the copy %s/%s was not dropped (%s): drop it by hand", server, copy,
                    type(exc).__name__)


def _remade_body(found: dict[str, Any]) -> dict[str, Any]:
    """How to make the database again as it was made: its location, SKU (unless it is in
    an elastic pool), tags and settings."""
    props = found.get("properties") or {}
    body: dict[str, Any] = {
        "location": found.get("location") or "",
        "properties": {k: props[k] for k in KEPT if props.get(k) is not None},
    }
    sku = found.get("sku") or props.get("currentSku")
    if sku and not props.get("elasticPoolId"):
        body["sku"] = sku
    if found.get("tags"):
        body["tags"] = found["tags"]
    return body


def _make_again(target: ResourceBinding, found: dict[str, Any], attempt: _Attempt) -> None:
    """Drop the target database and make it again, empty, as it was made (the body is in
    the checkpoint first: a stop in between makes it on the next attempt)."""
    group, server = _server(target)
    body = _remade_body(found)
    attempt.save(remaking=body)
    databases = client(target).databases
    _wait(databases.begin_delete(group, server, found["name"], polling_interval=POLL), target)
    _wait(databases.begin_create_or_update(
        group, server, found["name"], body, polling_interval=POLL), target)
    attempt.save(remaking=None)


def _leftovers(source: ResourceBinding, target: ResourceBinding, stage: Staging,
               attempt: _Attempt, options: Mapping[str, Any]) -> None:
    """What a stopped attempt left: its packages and copies."""
    if not (attempt.state["staged"] or attempt.state["copies"]):
        return
    if not options.get("sql.keep_staging"):
        stage.delete(attempt.state["staged"], target)
    for copy in attempt.state["copies"]:
        _drop_copy(source, copy)
    attempt.save(staged=[], copies=[])


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    checkpoint: Checkpoint,
    options: Mapping[str, Any],
    with_data: bool,
) -> ItemOutcome:
    name = item.name
    attempt = _Attempt(checkpoint)
    stage = _stage(source, target, options)
    _leftovers(source, target, stage, attempt, options)
    found = _check_target(target, name, attempt)
    login(source, options)  # both, before any export
    login(target, options)
    blobs: list[str] = []
    interrupted = False
    try:
        ours = _exported(source, options, name, stage, attempt, blobs, target)
        theirs = _exported(target, options, name, stage, attempt, blobs, target)
        if not theirs.empty:
            if theirs.same_as(ours, with_data):
                attempt.save(importing=False)
                return ItemOutcome(status="unchanged")
            # the schema and no row (a template run's): nothing is lost making it again
            schema_only = not theirs.parts and theirs.same_as(ours, with_data=False)
            ours_to_replace = schema_only or attempt.state.get("importing")
            if not (ours_to_replace or options.get("sql.replace_non_empty")):
                raise ItemError(
                    f"the target database {target.resource.name}/{name} is not empty and "
                    "differs from the source; it was left as it is",
                    remedy="empty it and re-run, or set sql.replace_non_empty=true to drop "
                    "and replace it",
                )
            _make_again(target, found, attempt)
        payload = blobs[0]
        uploaded = 0
        if not with_data:  # template: the schema only
            schema = ours.schema_only()
            payload = stage.name(source.resource.name, name, "schema")
            blobs.append(payload)
            attempt.staged(payload)
            stage.blob(payload, target).upload_blob(schema)
            uploaded = len(schema)
        attempt.save(importing=True)
        try:
            _operate(target, options, "import", name, stage, payload)
        except ItemError as failure:
            _undo(target, found, stage, attempt, options, blobs, failure)
        attempt.save(importing=False)
        size = sum(p.size for p in ours.parts) if with_data else 0
        return ItemOutcome(status="replicated", bytes_copied=size, client_bytes=uploaded)
    except ItemError:
        raise
    except BaseException:
        # stopped, or a transient error: an operation Azure still runs may write a blob
        # after it is deleted here, so the next attempt deletes them again
        interrupted = True
        raise
    finally:
        if not options.get("sql.keep_staging"):
            stage.delete(blobs, target)
            if not interrupted:
                attempt.save(staged=[])


def _undo(
    target: ResourceBinding,
    found: dict[str, Any],
    stage: Staging,
    attempt: _Attempt,
    options: Mapping[str, Any],
    blobs: list[str],
    failure: ItemError,
) -> None:
    """A failed import may have left part of the schema (Azure's import is not
    transactional): if the target holds anything now, make it again, empty, as found.
    Raises ``failure`` (with what went wrong undoing it, if anything did)."""
    try:
        left = _exported(target, options, found["name"], stage, attempt, blobs, target)
        if not left.empty:
            _make_again(target, found, attempt)
    except RunStopping:
        raise
    except Exception as exc:
        raise ItemError(
            f"{failure.reason}; emptying the target database again failed too "
            f"({type(exc).__name__})",
            remedy="drop and create the target database again (Terraform), then re-run",
        ) from None
    attempt.save(importing=False)
    raise failure


def fingerprint(
    item: DataPlaneItem,
    binding: ResourceBinding,
    fingerprinter: Fingerprinter,
    options: Mapping[str, Any],
) -> str:
    """A keyed hash of a fresh export of the database (one export per side: verify costs
    what a copy does, but moves nothing); ``verify --shallow``: model and row counts."""
    stage = staging(binding, options)
    blobs: list[str] = []
    try:
        package = _exported(binding, options, item.name, stage, None, blobs, binding)
        try:
            return package.fingerprint(fingerprinter, shallow=bool(options.get(SHALLOW_OPTION)))
        except ValueError as exc:
            raise ItemError(str(exc), remedy="verify without --shallow") from None
    finally:
        if not options.get("sql.keep_staging"):
            stage.delete(blobs, binding)
