"""Table copies batch entities per partition, whatever order the listing has."""

from __future__ import annotations

from atg_dataplane_storage import tables


def _entities(n: int, partitions: int) -> list[dict[str, str]]:
    return [{"PartitionKey": f"p{i % partitions}", "RowKey": f"r{i}"} for i in range(n)]


def _shape(batches: list[tuple[list, int]]) -> list[tuple[str, int]]:
    return [(batch[0][1]["PartitionKey"], len(batch)) for batch, _ in batches]


def test_interleaved_partitions_make_one_transaction_each() -> None:
    batches = list(tables._batches(_entities(20, 2)))
    assert sorted(_shape(batches)) == [("p0", 10), ("p1", 10)]
    for batch, _ in batches:  # one partition per transaction, as Table storage requires
        assert len({op[1]["PartitionKey"] for op in batch}) == 1


def test_a_transaction_holds_at_most_100_entities() -> None:
    batches = list(tables._batches(_entities(250, 1)))
    assert [n for _, n in _shape(batches)] == [100, 100, 50]


def test_entities_held_back_stay_bounded() -> None:
    partitions = 2 * tables.PENDING_LIMIT
    batches = list(tables._batches(_entities(3 * tables.PENDING_LIMIT, partitions)))
    assert sum(len(b) for b, _ in batches) == 3 * tables.PENDING_LIMIT
    # Every entity is sent, once.
    rows = [op[1]["RowKey"] for batch, _ in batches for op in batch]
    assert len(rows) == len(set(rows))


def test_waiting_bytes_never_exceed_the_bound() -> None:
    """Entities near the 1 MiB limit, each in its own partition: bytes, not only counts,
    bound what waits to be sent."""
    big = "x" * (512 * 1024)
    seen: list[int] = []

    def listing():
        for i in range(200):
            seen.append(i)
            yield {"PartitionKey": f"p{i}", "RowKey": "r", "Blob": big}

    sent = 0
    worst = 0
    for batch, _size in tables._batches(listing()):
        sent += len(batch)
        worst = max(worst, len(seen) - sent)
    assert sent == 200
    entity = len(tables.entity_record({"PartitionKey": "p0", "RowKey": "r", "Blob": big}))
    assert worst * entity <= tables.PENDING_BYTES + entity
