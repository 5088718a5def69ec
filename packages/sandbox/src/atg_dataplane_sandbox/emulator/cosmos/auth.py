"""How Cosmos DB (NoSQL) authenticates a request: pure functions, no I/O.

* Master keys: ``Authorization`` is the URL-encoded ``type=master&ver=1.0&sig=<base64>``,
  an HMAC-SHA256 (keyed by the base64-decoded account key) of
  ``verb\\nresource type\\nresource link\\ndate\\n\\n`` (all but the link lower case; the
  date is ``x-ms-date``, else ``Date``). The resource comes from the path as the gateway
  reads it (:func:`resource_of`). Read-only keys serve reads and queries only; the service
  takes a write signed with one as a bad signature (401).
* The date must be within :data:`MAX_SKEW` of the server's clock (else 403).
* Entra ID: ``type=aad&ver=1.0&sig=<JWT>``; what the token may do is Cosmos DB's own
  (native) RBAC, per data action (:func:`data_actions`); database, container and throughput
  writes are refused to tokens altogether, as on new accounts.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from email.utils import format_datetime, parsedate_to_datetime
from urllib.parse import unquote

MAX_SKEW = dt.timedelta(minutes=15)
_COSMOS = "Microsoft.DocumentDB/databaseAccounts"
_CONTAINERS = f"{_COSMOS}/sqlDatabases/containers"
READ_METADATA = f"{_COSMOS}/readMetadata"
# Resource types whose reads are account metadata (readMetadata).
_METADATA = frozenset(
    {
        "",
        "dbs",
        "colls",
        "pkranges",
        "offers",
        "users",
        "permissions",
        "sprocs",
        "udfs",
        "triggers",
        "schemas",
    }
)


@dataclass(frozen=True)
class Resource:
    """What a request addresses, as the string-to-sign and RBAC name it."""

    type: str
    """``docs``, ``colls``, ... (empty for the account)."""
    link: str
    """``dbs/db1/colls/c1`` for a feed, the full path for one resource (empty for the
    account), names URL-decoded; a RID-based link is the resource's RID alone, lower case."""
    segments: tuple[str, ...]
    """The decoded path segments."""
    is_feed: bool
    """A collection (``/dbs/db1/colls``), not one resource (``/dbs/db1``)."""

    @property
    def rbac_path(self) -> str:
        """The part of the account an RBAC scope names: ``/``, ``/dbs/db1`` or
        ``/dbs/db1/colls/c1`` (whatever lies deeper belongs to its container)."""
        parts = self.segments[:4] if self.segments[:1] == ("dbs",) else ()
        return "/" + "/".join(parts[: len(parts) - len(parts) % 2])


@dataclass(frozen=True)
class Authorization:
    type: str
    """``master``, ``aad`` or ``resource``."""
    version: str
    signature: str


def parse_authorization(header: str) -> Authorization | None:
    """``type=master&ver=1.0&sig=...`` (URL-encoded, as the SDKs send it); None if not so."""
    fields: dict[str, str] = {}
    for part in unquote(header.strip()).split("&"):
        name, sep, value = part.partition("=")
        if not sep:
            return None
        fields[name.strip().lower()] = value.strip()
    if not fields.get("type") or not fields.get("sig"):
        return None
    return Authorization(fields["type"].lower(), fields.get("ver", ""), fields["sig"])


def is_name_based(segments: tuple[str, ...]) -> bool:
    """``dbs/<name>/...`` rather than ``dbs/<RID>/...``: a database RID is 8 characters of
    base64 (``-`` for ``/``) that decode to 4 bytes: the SDKs' own test, which decides how
    they sign the link."""
    if len(segments) < 2 or segments[0].lower() != "dbs":
        return False
    database = segments[1]
    if len(database) != 8:
        return True
    try:
        return len(base64.b64decode(database.replace("-", "/"))) != 4
    except (binascii.Error, ValueError):
        return True


def resource_of(raw_path: str) -> Resource:
    """The resource type and link of a request path (raw, URL-encoded, query ignored).

    An odd number of segments is a feed (``/dbs/db1/colls/c1/docs``: type ``docs``, link
    ``dbs/db1/colls/c1``), an even number one resource (``/dbs/db1/colls/c1/docs/d1``: type
    ``docs``, link the whole path); ``.../operations/partitionkeydelete`` is signed as its
    container. As the SDKs sign: a link whose database id is not a RID is a path of names;
    any other (``offers/{rid}``, ``dbs/{rid}/...``) is just its last RID, lower case."""
    path = raw_path.split("?", 1)[0].strip("/")
    segments = tuple(unquote(s) for s in path.split("/")) if path else ()
    if segments[-2:] == ("operations", "partitionkeydelete"):
        link_parts, kind, feed = segments[:-2], "colls", False
    elif len(segments) % 2:
        link_parts, kind, feed = segments[:-1], segments[-1], True
    else:
        link_parts, kind, feed = segments, (segments[-2] if segments else ""), False
    if is_name_based(segments):
        link = "/".join(link_parts)
    else:  # RID-based (offers, ``dbs/{rid}/...``): the RID of the resource alone
        link = link_parts[-1].lower() if link_parts else ""
    return Resource(kind.lower(), link, segments, feed)


@dataclass(frozen=True)
class AccountKeys:
    """What ARM's ``listKeys`` returns for an account."""

    primary: str
    secondary: str
    primary_readonly: str
    secondary_readonly: str

    @property
    def read_write(self) -> list[str]:
        return [self.primary, self.secondary]

    @property
    def read_only(self) -> list[str]:
        return [self.primary_readonly, self.secondary_readonly]


def account_keys(primary: str) -> AccountKeys:
    """The account's keys: the stored primary key, and three more derived from it
    (HMAC-SHA512, 64 bytes like the primary), so that nothing else need be stored."""
    secret = base64.b64decode(primary)

    def derived(label: str) -> str:
        return base64.b64encode(hmac.new(secret, label.encode(), hashlib.sha512).digest()).decode()

    return AccountKeys(
        primary, derived("secondary"), derived("primary-readonly"), derived("secondary-readonly")
    )


def string_to_sign(verb: str, resource_type: str, link: str, date: str) -> str:
    return f"{verb.lower()}\n{resource_type.lower()}\n{link}\n{date.lower()}\n\n"


def sign(key: str, text: str) -> str:
    """Base64 HMAC-SHA256 of ``text`` under the base64 account ``key``."""
    digest = hmac.new(base64.b64decode(key), text.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def matching_key(signature: str, text: str, keys: list[str]) -> bool:
    return any(hmac.compare_digest(sign(key, text), signature) for key in keys)


def is_read(method: str, headers: dict[str, str]) -> bool:
    """What a read-only key may do: GET/HEAD, and queries (a POST that says so)."""
    if method in ("GET", "HEAD"):
        return True
    return method == "POST" and _is_query(headers)


def _is_query(headers: dict[str, str]) -> bool:
    return (
        headers.get("x-ms-documentdb-isquery", "").lower() == "true"
        or headers.get("x-ms-cosmos-is-query-plan-request", "").lower() == "true"
        or headers.get("content-type", "").lower().startswith("application/query+json")
    )


def parse_date(value: str) -> dt.datetime | None:
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def skew_error(date: dt.datetime, now: dt.datetime) -> str | None:
    """Cosmos DB's message when ``date`` is more than :data:`MAX_SKEW` from ``now``."""
    if abs(now - date) <= MAX_SKEW:
        return None
    return (
        "The authorization token is not valid at the current time. Please create another "
        f"token and retry (token start time: {_http_date(date)}, token expiry time: "
        f"{_http_date(date + MAX_SKEW)}, current server time: {_http_date(now)})."
    )


def _http_date(value: dt.datetime) -> str:
    return format_datetime(value.astimezone(dt.UTC), usegmt=True)


def data_actions(method: str, resource: Resource, headers: dict[str, str]) -> list[str] | None:
    """The native RBAC data actions a request needs; None for what Entra ID tokens may not
    do on the data plane (database, container, script and throughput writes)."""
    kind = resource.type
    if kind == "docs":
        return _item_actions(method, resource, headers)
    if kind == "sprocs" and method == "POST" and not resource.is_feed:
        return [f"{_CONTAINERS}/executeStoredProcedure"]
    if kind == "conflicts":
        return [f"{_CONTAINERS}/manageConflicts"]
    if resource.segments[-2:] == ("operations", "partitionkeydelete"):
        return [f"{_CONTAINERS}/items/delete"]
    if kind in _METADATA and (method in ("GET", "HEAD") or _is_query(headers)):
        return [READ_METADATA]
    return None


def _item_actions(method: str, resource: Resource, headers: dict[str, str]) -> list[str]:
    items = f"{_CONTAINERS}/items"
    if method == "POST" and resource.is_feed:
        if _is_query(headers):
            return [f"{_CONTAINERS}/executeQuery"]
        if headers.get("x-ms-cosmos-is-batch-request", "").lower() == "true":
            # One action per operation of the batch; the body is not read, so all of them.
            return [f"{items}/{verb}" for verb in ("read", "create", "replace", "upsert", "delete")]
        if headers.get("x-ms-documentdb-is-upsert", "").lower() == "true":
            return [f"{items}/upsert"]
        return [f"{items}/create"]
    if method in ("GET", "HEAD"):
        # A feed read without a query is read as a change feed.
        return [f"{_CONTAINERS}/readChangeFeed" if resource.is_feed else f"{items}/read"]
    if method in ("PUT", "PATCH"):
        return [f"{items}/replace"]
    if method == "DELETE":
        return [f"{items}/delete"]
    return [f"{items}/create"]
