"""One account's client shared by a run's threads, against the sandbox: each thread sees
its own answers' headers, and many threads querying at once never trip over each other
(azure-cosmos keeps the last answer's headers on the shared connection and writes into
them after each call). The first test is the one that fails without the fix; the race
itself showed in a slowed-down run (under tracemalloc) and is too narrow to hit on
demand."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from atg_dataplane_cosmosdb.account import account
from atg_dataplane_sandbox.scenarios import CosmosContainerSpec, CosmosContents, CosmosDatabaseSpec
from cosmosdb_testing import CosmosWorld

CONTENTS = CosmosContents(databases=[
    CosmosDatabaseSpec("threads", containers=[
        CosmosContainerSpec("docs", partition_key="/customerId", documents=120),
    ]),
])


def test_each_thread_has_the_headers_of_its_own_answers(accounts: CosmosWorld) -> None:
    accounts.seed(CONTENTS)
    binding = accounts.binding("source")
    client = account(binding).data
    connection = client.client_connection
    container = client.get_database_client("threads").get_container_client("docs")
    container.read()
    mine = connection.last_response_headers
    assert mine.get("x-ms-activity-id")  # this thread's answer

    seen: dict[str, object] = {}

    def other() -> None:
        seen["before"] = dict(connection.last_response_headers)
        connection.last_response_headers["x-ms-throttle-retry-count"] = 0  # as the SDK does
        seen["after"] = connection.last_response_headers

    thread = threading.Thread(target=other)
    thread.start()
    thread.join()
    assert seen["before"] == {}  # nothing of this thread's answer
    assert "x-ms-throttle-retry-count" not in mine  # and nothing written into it
    assert connection.last_response_headers is mine
    assert account(binding).data is client  # still one client per binding


def test_many_threads_query_one_client_at_once(accounts: CosmosWorld) -> None:
    accounts.seed(CONTENTS)
    client = account(accounts.binding("source")).data
    container = client.get_database_client("threads").get_container_client("docs")

    def read_all(_: int) -> int:
        return sum(1 for _ in container.query_items(
            "SELECT * FROM c", max_item_count=7, enable_cross_partition_query=True))

    with ThreadPoolExecutor(16) as pool:
        counts = list(pool.map(read_all, range(64)))
    assert counts == [120] * 64
