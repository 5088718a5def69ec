"""Cosmos DB's request authentication as the proxy applies it (``emulator/cosmos/auth.py``):
signatures checked against what azure-cosmos itself signs, resource types and links read off
the path as the gateway reads them, dates, read-only keys and native RBAC data actions."""

from __future__ import annotations

import base64
import datetime as dt
import os
import types
from urllib.parse import quote

import pytest
from atg_dataplane_sandbox.emulator.cosmos import auth as cosmos_auth
from azure.cosmos import _base as cosmos_base
from azure.cosmos import auth as cosmos_sdk_auth

KEY = base64.b64encode(os.urandom(64)).decode()
DATE = "Tue, 01 Jan 2030 00:00:00 GMT"
ITEMS = "Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/items"


def _sdk_signed(verb: str, link: str, resource_type: str, feed: bool) -> tuple[str, str]:
    """(request path, Authorization header) as azure-cosmos builds them for ``link``."""
    path = cosmos_base.GetPathFromLink(link, resource_type if feed else "")
    resource_id = cosmos_base.GetResourceIdOrFullNameFromLink(link) if link else ""
    connection = types.SimpleNamespace(master_key=KEY, resource_tokens=None)
    header = cosmos_sdk_auth._get_authorization_header(  # the SDK's own signer
        connection, verb, path, resource_id, cosmos_base.IsNameBased(resource_id),
        resource_type, {"x-ms-date": DATE},
    )
    return path, quote(header, "-_.!~*'()")  # URL-encoded as GetHeaders sends it


@pytest.mark.parametrize(
    ("verb", "link", "resource_type", "feed"),
    [
        ("get", "dbs/db1", "colls", True),
        ("post", "dbs/db1/colls/c1", "docs", True),
        ("get", "dbs/db1/colls/c1/docs/d1", "docs", False),
        ("put", "dbs/db1/colls/c1/docs/d1", "docs", False),
        ("delete", "dbs/my db/colls/c1", "colls", False),
        ("post", "dbs/naïve café/colls/c+1 %x", "docs", True),
        ("get", "dbs/db1/colls/c1/docs/d é&=?x'(*)", "docs", False),
        ("get", "dbs/database/colls/Orders", "colls", False),  # 8 letters, still a name
        ("get", "dbs/db1/colls/c1", "pkranges", True),
        ("post", "dbs/db1/colls/c1/sprocs/sp1", "sprocs", False),
        ("get", "dbs/AbCdEf==/colls/AbCdEfGhIjk=", "docs", True),  # RID-based
        ("put", "offers/AbCd", "offers", False),
    ],
)
def test_signatures_of_the_sdk_verify(verb: str, link: str, resource_type: str, feed: bool) -> None:
    path, header = _sdk_signed(verb, link, resource_type, feed)
    auth = cosmos_auth.parse_authorization(header)
    assert auth is not None and (auth.type, auth.version) == ("master", "1.0")
    resource = cosmos_auth.resource_of(path)
    assert resource.type == resource_type
    text = cosmos_auth.string_to_sign(verb.upper(), resource.type, resource.link, DATE)
    assert cosmos_auth.matching_key(auth.signature, text, [KEY])
    other = base64.b64encode(os.urandom(64)).decode()
    assert not cosmos_auth.matching_key(auth.signature, text, [other])
    # Another verb, type or date is another payload.
    assert not cosmos_auth.matching_key(
        auth.signature, cosmos_auth.string_to_sign("PATCH", resource.type, resource.link, DATE),
        [KEY],
    )


def test_the_account_read_signs_empty_type_and_link() -> None:
    connection = types.SimpleNamespace(master_key=KEY, resource_tokens=None)
    header = cosmos_sdk_auth._get_authorization_header(
        connection, "get", "", "", False, "", {"x-ms-date": DATE}
    )
    resource = cosmos_auth.resource_of("/")
    assert (resource.type, resource.link, resource.rbac_path) == ("", "", "/")
    text = cosmos_auth.string_to_sign("GET", "", "", DATE)
    assert text == f"get\n\n\n{DATE.lower()}\n\n"
    auth = cosmos_auth.parse_authorization(quote(header, "-_.!~*'()"))
    assert auth is not None and cosmos_auth.matching_key(auth.signature, text, [KEY])


@pytest.mark.parametrize(
    ("path", "kind", "link", "feed", "rbac_path"),
    [
        ("/", "", "", False, "/"),
        ("/dbs", "dbs", "", True, "/"),
        ("/dbs/db1/", "dbs", "dbs/db1", False, "/dbs/db1"),
        ("/dbs/db1/colls?x=1", "colls", "dbs/db1", True, "/dbs/db1"),
        ("/dbs/db1/colls/c1/docs", "docs", "dbs/db1/colls/c1", True, "/dbs/db1/colls/c1"),
        ("/dbs/db1/colls/c1/docs/d%201", "docs", "dbs/db1/colls/c1/docs/d 1", False,
         "/dbs/db1/colls/c1"),
        ("/dbs/db1/colls/c1/operations/partitionkeydelete", "colls", "dbs/db1/colls/c1",
         False, "/dbs/db1/colls/c1"),
        ("/offers", "offers", "", True, "/"),
    ],
)
def test_resource_type_and_link_from_the_path(
    path: str, kind: str, link: str, feed: bool, rbac_path: str
) -> None:
    resource = cosmos_auth.resource_of(path)
    assert (resource.type, resource.link, resource.is_feed, resource.rbac_path) == (
        kind, link, feed, rbac_path,
    )


def test_parse_authorization() -> None:
    aad = cosmos_auth.parse_authorization("type%3Daad%26ver%3D1.0%26sig%3Dey.J.w")
    assert aad == cosmos_auth.Authorization("aad", "1.0", "ey.J.w")
    padded = cosmos_auth.parse_authorization("type=master&ver=1.0&sig=abc%2B%2F%3D%3D")
    assert padded is not None and padded.signature == "abc+/=="
    for bad in ("", "Bearer eyJhbGciOi", "type=master&ver=1.0", "sig=abc", "garbage"):
        assert cosmos_auth.parse_authorization(bad) is None, bad


def test_read_only_keys_serve_reads_and_queries_only() -> None:
    assert cosmos_auth.is_read("GET", {})
    assert cosmos_auth.is_read("HEAD", {})
    assert cosmos_auth.is_read("POST", {"x-ms-documentdb-isquery": "True"})
    assert cosmos_auth.is_read("POST", {"content-type": "application/query+json"})
    assert cosmos_auth.is_read("POST", {"x-ms-cosmos-is-query-plan-request": "True"})
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        assert not cosmos_auth.is_read(method, {"content-type": "application/json"})


def test_account_keys_are_four_distinct_stable_keys() -> None:
    keys = cosmos_auth.account_keys(KEY)
    assert keys == cosmos_auth.account_keys(KEY)
    assert keys.primary == KEY
    every = keys.read_write + keys.read_only
    assert len(set(every)) == 4
    assert all(len(base64.b64decode(k)) == 64 for k in every)


def test_dates_more_than_15_minutes_off_are_refused() -> None:
    now = dt.datetime(2030, 1, 1, 12, 0, tzinfo=dt.UTC)
    for minutes in (0, 14, -14):
        assert cosmos_auth.skew_error(now + dt.timedelta(minutes=minutes), now) is None
    late = cosmos_auth.skew_error(now - dt.timedelta(minutes=16), now)
    assert late is not None and late.startswith(
        "The authorization token is not valid at the current time."
    )
    assert "current server time: Tue, 01 Jan 2030 12:00:00 GMT" in late
    assert cosmos_auth.skew_error(now + dt.timedelta(minutes=16), now) is not None
    assert cosmos_auth.parse_date(DATE) == dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    assert cosmos_auth.parse_date("yesterday") is None


@pytest.mark.parametrize(
    ("method", "path", "headers", "actions"),
    [
        ("GET", "/", {}, ["Microsoft.DocumentDB/databaseAccounts/readMetadata"]),
        ("GET", "/dbs/db1/colls/c1", {}, ["Microsoft.DocumentDB/databaseAccounts/readMetadata"]),
        ("GET", "/dbs/db1/colls/c1/pkranges", {},
         ["Microsoft.DocumentDB/databaseAccounts/readMetadata"]),
        ("POST", "/dbs", {}, None),  # database writes: through ARM only
        ("POST", "/dbs/db1/colls", {}, None),
        ("DELETE", "/dbs/db1/colls/c1", {}, None),
        ("PUT", "/offers/abcd", {}, None),
        ("POST", "/dbs/db1/colls/c1/docs", {}, [f"{ITEMS}/create"]),
        ("POST", "/dbs/db1/colls/c1/docs", {"x-ms-documentdb-is-upsert": "True"},
         [f"{ITEMS}/upsert"]),
        ("POST", "/dbs/db1/colls/c1/docs", {"x-ms-documentdb-isquery": "True"},
         ["Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeQuery"]),
        ("GET", "/dbs/db1/colls/c1/docs/d1", {}, [f"{ITEMS}/read"]),
        ("PUT", "/dbs/db1/colls/c1/docs/d1", {}, [f"{ITEMS}/replace"]),
        ("DELETE", "/dbs/db1/colls/c1/docs/d1", {}, [f"{ITEMS}/delete"]),
        ("GET", "/dbs/db1/colls/c1/docs", {},
         ["Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/readChangeFeed"]),
        ("POST", "/dbs/db1/colls/c1/sprocs/sp1", {},
         ["Microsoft.DocumentDB/databaseAccounts/sqlDatabases/containers/executeStoredProcedure"]),
    ],
)
def test_data_actions(
    method: str, path: str, headers: dict[str, str], actions: list[str] | None
) -> None:
    assert cosmos_auth.data_actions(method, cosmos_auth.resource_of(path), headers) == actions
