"""Queues: one item per queue (metadata, then its messages), without consuming the source.

Reading a queue without changing it is only possible for its first 32
messages (Peek Messages). Beyond that, messages can only be read by receiving
them, which hides them for a visibility timeout. ``storage.queue_read``:

* ``peek``: copy what peeking shows (at most 32 messages); the source is
  untouched; more than 32 messages make the outcome warn.
* ``receive``: receive the whole queue in batches of 32 with a visibility
  timeout (``storage.queue_visibility_seconds``), then make every message
  visible again at once (Update Message with visibility timeout 0). No message
  is deleted or lost: should the process die, hidden messages reappear when
  their timeout ends. The price: each message's dequeue count rises by one
  (consumers that dead-letter on a dequeue count see it), messages are
  invisible to consumers while the queue is read, and the contents are held
  in memory for that time (at most 64 KiB per message).
* ``auto`` (default): ``peek`` when the queue holds at most 32 messages,
  ``receive`` otherwise.

Message ids, insertion times and dequeue counts are the target service's own;
contents are copied as they are stored (no re-encoding) and each message keeps
what is left of its time to live. A re-run sends only the contents the target
does not hold yet (compared as a multiset), so running twice duplicates nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

from atg_dataplane import (
    DataPlaneItem,
    Fingerprinter,
    ItemError,
    ItemOutcome,
    ReplicationMode,
    ResourceBinding,
    idempotent,
)
from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError

from atg_dataplane_storage.clients import account_clients, scrubbed
from atg_dataplane_storage.common import sorted_dict
from atg_dataplane_storage.options import StorageOptions
from atg_dataplane_storage.sas import require_side

QUEUE = "queue"
PEEK_LIMIT = 32
_NEVER = dt.datetime(9999, 1, 1, tzinfo=dt.UTC)


def discover(binding: ResourceBinding, mode: ReplicationMode) -> Iterator[DataPlaneItem]:
    service = account_clients(binding).queue
    if service is None:
        return
    with scrubbed():
        for queue in service.list_queues(include_metadata=True):
            yield DataPlaneItem(
                name=queue.name,
                kind=QUEUE,
                source_resource_id=binding.resource.id,
                properties={"metadata": sorted_dict(queue.metadata)},
            )


def _read_messages(client: Any, options: StorageOptions) -> tuple[list[tuple[str, int]], list[str]]:
    """(content, seconds left to live) of every visible message, and warnings.

    A peek comes first unless ``receive`` is asked for: fewer messages than a
    peek can show means the peek saw them all, and the queue's message count
    is read only when it did not.
    """
    now = dt.datetime.now(dt.UTC)
    if options.queue_read != "receive":
        messages = [
            (m.content, _ttl(m.expires_on, now))
            for m in client.peek_messages(max_messages=PEEK_LIMIT)
        ]
        if len(messages) < PEEK_LIMIT:
            return messages, []
        count = client.get_queue_properties().approximate_message_count or 0
        if options.queue_read == "peek" or count <= PEEK_LIMIT:
            warnings = []
            if count > len(messages):
                warnings.append(
                    f"the queue holds about {count} messages; peeking shows only {PEEK_LIMIT}: "
                    "set storage.queue_read=receive to copy all of them (raises their dequeue "
                    "count)"
                )
            return messages, warnings
    return _receive_and_restore(client, options, now), [
        "messages read by receiving and restoring them: their dequeue count rose by one"
    ]


def _hidden_messages_error(
    client: Any, count: int, read: int, options: StorageOptions
) -> ItemError:
    return ItemError(
        f"queue {client.queue_name}: {count} messages by its count, {read} could be read: the "
        "others are hidden (received by another reader, or by an attempt whose answer was "
        "lost), so the copy would be incomplete",
        remedy=f"re-run after {options.queue_visibility_seconds} s, when they are visible again",
    )


def _receive_and_restore(
    client: Any, options: StorageOptions, now: dt.datetime
) -> list[tuple[str, int]]:
    """Receive every visible message, then make them all visible again at once.

    Received messages stay hidden until the whole queue has been read, so no
    message is received twice; they are restored in ``finally`` (and, should
    this process die, reappear by themselves after the visibility timeout).
    """
    out: list[tuple[str, int]] = []
    hidden: list[tuple[str, str]] = []
    count = client.get_queue_properties().approximate_message_count or 0
    try:
        while True:
            batch = list(
                client.receive_messages(
                    messages_per_page=PEEK_LIMIT,
                    max_messages=PEEK_LIMIT,
                    visibility_timeout=options.queue_visibility_seconds,
                    # A receive hides what it returns: repeated after a lost answer, it
                    # would leave that batch hidden, unread. The item is tried again.
                    retry_total=0,
                )
            )
            if not batch:
                if len(out) < count:
                    raise _hidden_messages_error(client, count, len(out), options)
                return out
            for message in batch:
                hidden.append((message.id, message.pop_receipt))
                out.append((message.content, _ttl(message.expires_on, now)))
    finally:
        for message_id, receipt in hidden:
            client.update_message(message_id, receipt, visibility_timeout=0, content=None)


def _ttl(expires_on: dt.datetime | None, now: dt.datetime) -> int:
    if expires_on is None or expires_on >= _NEVER:
        return -1
    return max(1, int((expires_on - now).total_seconds()))


def replicate(
    item: DataPlaneItem,
    source: ResourceBinding,
    target: ResourceBinding,
    mode: ReplicationMode,
    options: StorageOptions,
) -> ItemOutcome:
    metadata = dict(item.properties.get("metadata") or {})
    with scrubbed():
        service = require_side(target, "queue")
        client = service.get_queue_client(item.name)
        status = "unchanged"
        created = False
        try:
            with idempotent():  # made again, a create answers "exists" or changes nothing
                client.create_queue(metadata=metadata or None)
            status = "replicated"
            created = True
        except ResourceExistsError:
            current = sorted_dict(client.get_queue_properties().metadata)
            if current != metadata:
                with idempotent():  # the metadata is replaced whole
                    client.set_queue_metadata(metadata=metadata or None)
                status = "replicated"
        if mode is not ReplicationMode.REPLICATION:
            return ItemOutcome(status=status)
        src = require_side(source, "queue").get_queue_client(item.name)
        messages, warnings = _read_messages(src, options)
        # A queue this run created holds nothing yet: no need to read it.
        present = Counter(
            () if created else (content for content, _ in _target_messages(client, options))
        )
        nbytes = 0
        sent = 0
        for content, ttl in messages:
            if present[content] > 0:
                present[content] -= 1
                continue
            client.send_message(content, time_to_live=ttl)
            nbytes += len(content.encode("utf-8"))
            sent += 1
        if sent:
            status = "replicated"
        return ItemOutcome(
            status=status,
            bytes_copied=nbytes,
            client_bytes=nbytes,
            warnings=tuple(warnings) if sent or status == "replicated" else (),
        )


def _target_messages(client: Any, options: StorageOptions) -> list[tuple[str, int]]:
    """All of the target's messages: peeking at part of them would send duplicates."""
    try:
        messages, _ = _read_messages(client, replace(options, queue_read="auto"))
    except ResourceNotFoundError:
        return []
    return messages


def fingerprint(
    item: DataPlaneItem,
    binding: ResourceBinding,
    options: StorageOptions,
    fingerprinter: Fingerprinter,
) -> str | None:
    """Keyed hash of the multiset of message contents (order is not a queue guarantee)."""
    client = require_side(binding, "queue").get_queue_client(item.name)
    with scrubbed():
        try:
            messages, _ = _read_messages(client, options)
        except ResourceNotFoundError:
            return None
    return fingerprinter.of(sorted(content for content, _ in messages))
