"""The Cosmos DB server as the sandbox runs it: one TLS endpoint per account, keep-alive,
answering only requests that carry the sandbox's upstream secret (which the proxies send)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from atg_dataplane_sandbox import certs
from atg_dataplane_sandbox.services import PoolSizes, SandboxLayout, cosmos
from atg_dataplane_sandbox.services.accounts import account_key
from atg_dataplane_sandbox.services.upstream_auth import COSMOS_HEADER, cosmos_secret
from azure.core.exceptions import ServiceRequestError
from azure.cosmos import CosmosClient, PartitionKey
from azure.cosmos.documents import SSLConfiguration
from azure.cosmos.exceptions import CosmosHttpResponseError
from services_testing import needs_emulators, running_services

pytestmark = needs_emulators


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxLayout, dict]]:
    directory = tmp_path_factory.mktemp("svc-cosmos")
    with running_services(directory, PoolSizes(storage=1, cosmos=2)) as (layout, info):
        yield layout, info


def cosmos_client(layout: SandboxLayout, info: dict, account: str, ca: Path | None = None,
                  secret: str | None = None):
    """A client straight to the server, sending the upstream secret (``secret`` if given) as
    the emulator's proxies do."""
    # azure-cosmos turns TLS verification OFF for 127.0.0.1 unless an SSLConfiguration
    # names the CA bundle: pass it, so the test proves the certificate chain.
    ssl = SSLConfiguration()
    ssl.SSLCaCerts = str(ca or layout.ca)
    endpoint = info["cosmos"]["accounts"][account]["endpoint"]
    headers = {COSMOS_HEADER: cosmos_secret(layout.root) if secret is None else secret}
    return CosmosClient(endpoint, credential=account_key(layout, "cosmos", account),
                        ssl_config=ssl, headers=headers)


def test_one_endpoint_per_account(running: tuple[SandboxLayout, dict]) -> None:
    _, info = running
    accounts = info["cosmos"]["accounts"]
    assert {n: a["tenant"] for n, a in accounts.items()} == {
        "srccosmos1": "source", "srccosmos2": "source",
        "tgtcosmos1": "target", "tgtcosmos2": "target"}
    assert len({a["endpoint"] for a in accounts.values()}) == 4


def test_documents_queries_and_isolation(running: tuple[SandboxLayout, dict]) -> None:
    layout, info = running
    client = cosmos_client(layout, info, "srccosmos1")
    database = client.create_database("svcdb")
    container = database.create_container("items", partition_key=PartitionKey("/pk"))
    started = time.monotonic()
    for index in range(100):
        container.upsert_item({"id": str(index), "pk": f"p{index % 3}", "n": index})
    elapsed = time.monotonic() - started
    rows = list(container.query_items("SELECT VALUE c.n FROM c WHERE c.n >= 90",
                                      enable_cross_partition_query=True))
    assert sorted(rows) == list(range(90, 100))
    # keep-alive: without it every request opens a new TLS connection (~25x slower).
    assert elapsed < 10, f"100 upserts took {elapsed:.1f} s"
    other = cosmos_client(layout, info, "tgtcosmos1")
    assert [d["id"] for d in other.list_databases()] == []


def test_tls_is_verified_against_the_sandbox_ca(
    running: tuple[SandboxLayout, dict], tmp_path: Path
) -> None:
    layout, info = running
    other = certs.ensure_certs(tmp_path / "other-ca").ca
    with pytest.raises(ServiceRequestError):
        list(cosmos_client(layout, info, "srccosmos2", ca=other).list_databases())


def test_requests_without_the_upstream_secret_are_refused(
    running: tuple[SandboxLayout, dict],
) -> None:
    layout, info = running
    secret = cosmos_secret(layout.root)
    endpoint = info["cosmos"]["accounts"]["srccosmos1"]["endpoint"]
    for method, path in [("GET", "/"), ("GET", "/dbs"), ("POST", "/dbs"),
                         ("DELETE", "/dbs/svcdb"), ("GET", "/dbs/svcdb/colls/items/docs/1")]:
        for label, headers in {"none": {}, "wrong": {COSMOS_HEADER: "0" * len(secret)},
                               "prefix": {COSMOS_HEADER: secret[:-1]},
                               "longer": {COSMOS_HEADER: secret + "0"}}.items():
            answer = requests.request(method, endpoint + path, headers=headers, json={"id": "x"},
                                      verify=str(layout.ca), timeout=10)
            assert answer.status_code == 401, (label, method, path, answer.text)
            assert answer.json()["code"] == "Unauthorized"
            assert "x-ms-activity-id" in answer.headers
    # The account's own key is no way around it either.
    with pytest.raises(CosmosHttpResponseError) as refused:
        list(cosmos_client(layout, info, "srccosmos1", secret="wrong").list_databases())
    assert refused.value.status_code == 401
    assert cosmos.healthy(layout, info["cosmos"])  # the health check sends the secret


def test_the_secret_is_private(running: tuple[SandboxLayout, dict]) -> None:
    layout, _ = running
    assert (layout.secrets / "upstream" / "cosmos").stat().st_mode & 0o777 == 0o600
    config = (layout.root / "cosmos" / "server-config.json").read_text()
    assert cosmos_secret(layout.root) not in config  # the server reads the secret's file


def _pages(container, token: str | None = None, size: int = 100):
    """``SELECT * FROM c`` page by page, as the plugin and verify read a container:
    (each page's ids, the continuation after it)."""
    pages = container.query_items("SELECT * FROM c", max_item_count=size,
                                  enable_cross_partition_query=True).by_page(token)
    for page in pages:
        yield [d["id"] for d in page], pages.continuation_token


def test_a_container_read_whole_comes_page_by_page_once_each(
    running: tuple[SandboxLayout, dict],
) -> None:
    """Whole-container reads are served from a kept list (the package evaluated the query
    over every document for each page): every document once, across pages, a resumed
    continuation, writes between pages and a deleted page start alike."""
    layout, info = running
    client = cosmos_client(layout, info, "srccosmos2")
    container = client.create_database("pagedb").create_container(
        "docs", partition_key=PartitionKey("/pk"))
    for index in range(1050):
        container.upsert_item({"id": f"d{index:04d}", "pk": f"p{index % 7}", "n": index})
    everything = {f"d{index:04d}" for index in range(1050)}

    pages = list(_pages(container))
    seen = [i for ids, _ in pages for i in ids]
    assert [len(ids) for ids, _ in pages] == [100] * 10 + [50]
    assert len(seen) == len(set(seen)) and set(seen) == everything
    assert pages[-1][1] is None

    # a continuation saved after page 3 (a checkpoint), resumed by a new query
    resumed = [i for ids, _ in _pages(container, pages[2][1]) for i in ids]
    assert resumed == seen[300:]

    # written between pages: a changed document (it keeps its place), a new one (wherever
    # its _rid sorts); the others still come once each
    reader = _pages(container)
    first, token = next(reader)
    container.upsert_item({"id": "d0500", "pk": "p3", "n": -1})
    container.upsert_item({"id": "d9999", "pk": "p0", "n": 9999})
    rest = [i for ids, _ in _pages(container, token) for i in ids]
    assert everything <= set(first) | set(rest) and not set(first) & set(rest)
    assert len(rest) == len(set(rest))

    # the document a continuation names is deleted: the package's own paging takes over
    _, token = next(_pages(container))
    after = _pages(container, token)
    upcoming, _ = next(after)
    container.delete_item(upcoming[0], partition_key=f"p{int(upcoming[0][1:]) % 7}")
    left = [i for ids, _ in _pages(container, token) for i in ids]
    assert upcoming[0] not in left and set(upcoming[1:]) <= set(left)

    # other queries are the package's, paged as before
    filtered = [d["n"] for d in container.query_items(
        "SELECT * FROM c WHERE c.n >= 1000", max_item_count=20,
        enable_cross_partition_query=True)]
    assert sorted(filtered) == [*range(1000, 1050), 9999]

    # the read feed (read_all_items) comes from the same kept list, page by page
    fed = [[d["id"] for d in page]
           for page in container.read_all_items(max_item_count=100).by_page()]
    whole = [i for ids, _ in _pages(container) for i in ids]
    assert [len(page) for page in fed] == [len(ids) for ids, _ in _pages(container)]
    assert [i for page in fed for i in page] == whole


def test_many_documents_read_by_id_come_from_the_index(
    running: tuple[SandboxLayout, dict],
) -> None:
    """azure-cosmos' read_items sends a query of ids and partition key values (three
    shapes: mixed keys, one key, ids that are the key); the server answers each from its
    id index: exactly the documents asked for that exist, wrong keys and absent ids left
    out, and a query that only looks alike still evaluated by the package."""
    layout, info = running
    database = cosmos_client(layout, info, "tgtcosmos2").create_database("manydb")
    by_key = database.create_container("by-key", partition_key=PartitionKey("/pk"))
    by_id = database.create_container("by-id", partition_key=PartitionKey("/id"))
    for index in range(300):
        by_key.upsert_item({"id": f"d{index}", "pk": f"p{index % 5}", "n": index})
        by_id.upsert_item({"id": f"d{index}", "n": index})

    asked = [(f"d{i}", f"p{i % 5}") for i in range(0, 300, 7)]
    asked += [("d1", "p4"), ("absent", "p0")]  # a wrong key, an id nobody has
    found = by_key.read_items(asked)
    assert sorted(d["n"] for d in found) == list(range(0, 300, 7))

    same_key = [(f"d{i}", "p2") for i in range(2, 300, 5)]  # one logical partition
    assert sorted(d["n"] for d in by_key.read_items(same_key)) == list(range(2, 300, 5))

    ids = [(f"d{i}", f"d{i}") for i in (3, 30, 299)] + [("gone", "gone")]
    assert sorted(d["n"] for d in by_id.read_items(ids)) == [3, 30, 299]

    # a field other than the partition key: the package's own evaluation
    other = list(by_key.query_items(
        "SELECT * FROM c WHERE ( ( c.id = @param_id0 AND c.n = @param_pk00 ) )",
        parameters=[{"name": "@param_id0", "value": "d9"},
                    {"name": "@param_pk00", "value": 9}],
        enable_cross_partition_query=True))
    assert [d["n"] for d in other] == [9]


def test_a_container_count_is_what_it_holds(running: tuple[SandboxLayout, dict]) -> None:
    """``SELECT VALUE COUNT(1) FROM c`` is answered from the container's size (the
    package's aggregate took minutes on a large container): the same number the package
    evaluates for a count it still computes itself, through writes and deletes."""
    layout, info = running
    database = cosmos_client(layout, info, "tgtcosmos1").create_database("countdb")
    container = database.create_container("docs", partition_key=PartitionKey("/pk"))
    other = database.create_container("other", partition_key=PartitionKey("/pk"))
    other.upsert_item({"id": "elsewhere", "pk": "p0"})

    def counts() -> tuple[int, int]:
        fast = container.query_items("SELECT VALUE COUNT(1) FROM c",
                                     enable_cross_partition_query=True)
        evaluated = container.query_items("SELECT VALUE COUNT(1) FROM c WHERE IS_DEFINED(c.id)",
                                          enable_cross_partition_query=True)
        return int(sum(fast)), int(sum(evaluated))

    assert counts() == (0, 0)
    for index in range(40):
        container.upsert_item({"id": f"d{index}", "pk": f"p{index % 3}"})
    container.upsert_item({"id": "d5", "pk": "p2", "changed": True})  # a replace, not a new one
    assert counts() == (40, 40)
    for index in range(10):
        container.delete_item(f"d{index}", partition_key=f"p{index % 3}")
    assert counts() == (30, 30)
