"""The replication engine: everything that is the same for every resource type.

Discovery streams items from the owning plugin; each item is submitted to a
bounded thread pool (``--concurrency``) with a per-resource limit from the
plugin's descriptor, and versions of one name are written in order. Discovery
blocks when too many items are in flight, so memory does not grow with the
tenant. Every outcome is journalled. Transient faults are retried twice over, by
one rule (:mod:`atg_dataplane.retry`): each request by the retry policy every client
gets from ``SideContext.client_kwargs``, and each item by the engine, which settles a
write of unknown outcome (the plugin reads the target first) before repeating it. What
still fails is recorded per item with its reason, and the run goes on.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from atg_dataplane.context import DEFAULT_CONCURRENCY, Checkpoint, Fingerprinter
from atg_dataplane.http import RESOURCE
from atg_dataplane.inventory import ResourcePair
from atg_dataplane.journal import Journal, JournalWriteError
from atg_dataplane.memory import MemoryReturn, collections_for_a_run
from atg_dataplane.models import (
    DataPlaneItem,
    ItemError,
    ItemOutcome,
    ProgressEvent,
    ReplicationMode,
    ReplicationResult,
)
from atg_dataplane.parallel import FairPool, Slots
from atg_dataplane.plugins import PluginHost
from atg_dataplane.redact import describe_error, redact
from atg_dataplane.retry import (
    RetrySettings,
    RunStopping,
    is_transient,
    lending,
    settling,
    wait_or_stop,
)

log = logging.getLogger(__name__)

DISCOVERY_PARALLELISM = 32
"""Resources discovered at once (each discovery is one thread of sequential requests)."""
ITEM_WINDOW = 4
"""Items of one resource submitted ahead of the pool, in multiples of the concurrency."""
OPEN_RESOURCES = 64
"""Resources started and not yet settled at once, at the least (twice the concurrency when
that is more): what a resource holds while it runs (its clients, their connections, its
target listing) is held for this many, not for every vault and account of the tenant.
What fewer cost in time is in docs/benchmarks.md."""
OPEN_WAIT_SECONDS = 0.2
"""How often the run, waiting for a resource to settle, looks for a stop or an error."""
def _release(pair: ResourcePair) -> None:
    """A resource whose items are all settled lets go of what its plugin kept on its two
    bindings for the run (SDK clients, target listings, ``once`` results): held until the
    run ended, they grew the run's memory with every vault and container of the tenant.
    A later use (a resumed discovery, verify in the same process) builds them again."""
    for binding in (pair.source, pair.target):
        if binding is not None:
            binding.release()


def in_turn_by_type(pairs: Iterable[ResourcePair]) -> list[ResourcePair]:
    """The pairs, one resource of each type in turn (each type's in their order).

    With a bounded number of resources open at once, a tenant listed type by type (a
    hundred vaults, then the accounts) would keep one service busy at a time, and its
    lone long resources (an API gateway, a large Cosmos DB account) would start last and
    finish alone."""
    queues: dict[str, deque[ResourcePair]] = {}
    for pair in pairs:
        queues.setdefault(pair.spec.resource_type.lower(), deque()).append(pair)
    ordered: list[ResourcePair] = []
    while queues:
        for rtype, queue in list(queues.items()):
            ordered.append(queue.popleft())
            if not queue:
                del queues[rtype]
    return ordered


def _unsettled(future: Future[Any]) -> bool:
    """Still running, or failed with an error that ``run`` must raise."""
    if not future.done():
        return True
    return not future.cancelled() and future.exception() is not None


@dataclass
class KindSummary:
    replicated: int = 0
    unchanged: int = 0
    skipped: int = 0
    failed: int = 0
    bytes: int = 0
    client_bytes: int = 0
    reasons: list[str] = field(default_factory=list)
    """``name: reason`` of the first items with a reason (at most 50)."""
    grouped: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Reason -> ``{"count", "names"}`` (the first three names): one line per reason for
    people, however many items share it (at most 50 distinct reasons)."""

    def add_reason(self, name: str, reason: str) -> None:
        text = f"{name}: {reason}"
        if len(self.reasons) < 50 and text not in self.reasons:
            self.reasons.append(text)
        group = self.grouped.get(reason)
        if group is None and len(self.grouped) < 50:
            group = self.grouped[reason] = {"count": 0, "names": []}
        if group is not None:
            group["count"] += 1
            if len(group["names"]) < 3:
                group["names"].append(name)


@dataclass
class RunSummary:
    run_id: str
    mode: ReplicationMode
    result: ReplicationResult = field(default_factory=ReplicationResult)
    by_resource: dict[str, dict[str, KindSummary]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(KindSummary))
    )
    missing_targets: list[str] = field(default_factory=list)
    failed_resources: list[str] = field(default_factory=list)
    """Resources whose discovery failed (their items were not copied)."""
    interrupted: bool = False
    client_bytes: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "mode": self.mode.value,
            "interrupted": self.interrupted,
            "result": self.result.to_dict(),
            "client_bytes": self.client_bytes,
            "missing_targets": list(self.missing_targets),
            "failed_resources": list(self.failed_resources),
            "resources": {
                rid: {kind: vars(ks) for kind, ks in kinds.items()}
                for rid, kinds in self.by_resource.items()
            },
        }

    def absorb(self, other: Mapping[str, Any]) -> None:
        """Add another summary's counts (``to_dict`` form): a shard of a cluster run."""
        result, theirs = self.result, other["result"]
        for name in ("discovered", "replicated", "skipped", "failed", "bytes"):
            setattr(result, name, getattr(result, name) + int(theirs[name]))
        for message in theirs["errors"]:
            bounded_append(result.errors, message)
        for message in theirs["warnings"]:
            bounded_append(result.warnings, message)
        self.client_bytes += int(other["client_bytes"])
        self.missing_targets.extend(other["missing_targets"])
        self.failed_resources.extend(other["failed_resources"])
        self.interrupted = self.interrupted or bool(other["interrupted"])
        for rid, kinds in other["resources"].items():
            for kind, counts in kinds.items():
                mine = self.by_resource[rid][kind]
                for name in ("replicated", "unchanged", "skipped", "failed", "bytes",
                             "client_bytes"):
                    setattr(mine, name, getattr(mine, name) + int(counts[name]))
                for text in counts["reasons"]:
                    if len(mine.reasons) < 50 and text not in mine.reasons:
                        mine.reasons.append(text)
                for reason, group in counts["grouped"].items():
                    ours = mine.grouped.get(reason)
                    if ours is None and len(mine.grouped) < 50:
                        ours = mine.grouped[reason] = {"count": 0, "names": []}
                    if ours is not None:
                        ours["count"] += group["count"]
                        ours["names"] = (ours["names"] + group["names"])[:3]


MAX_MESSAGES = 1000
"""Errors and warnings kept in a summary; the journal keeps every item's reason."""


def bounded_append(messages: list[str], message: str) -> None:
    if len(messages) < MAX_MESSAGES:
        messages.append(message)
    elif len(messages) == MAX_MESSAGES:
        messages.append("... more in the journal (.atg-dataplane/journal.db)")


def emit_progress(
    host: PluginHost, run_id: str, mode: ReplicationMode, event_type: str, **fields: Any
) -> None:
    """One progress event to every ``dataplane_progress`` hook of ``host``."""
    event = ProgressEvent(type=event_type, run_id=run_id, mode=mode, **fields)  # type: ignore[arg-type]
    try:
        host.hook.dataplane_progress(event=event)
    except Exception:  # a broken dashboard must not stop the run
        log.exception("a progress hook failed")


class Engine:
    """One replication run over a stream of resource pairs."""

    def __init__(
        self,
        host: PluginHost,
        *,
        mode: ReplicationMode,
        journal: Journal,
        run_id: str,
        options: Mapping[str, Any],
        concurrency: int = DEFAULT_CONCURRENCY,
        fingerprinter: Fingerprinter | None = None,
        retry: RetrySettings | None = None,
    ) -> None:
        self.host = host
        self.mode = mode
        self.journal = journal
        self.run_id = run_id
        self.options = options
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetrySettings()
        self.fingerprinter = fingerprinter or Fingerprinter(journal.fingerprint_key())
        self.summary = RunSummary(run_id=run_id, mode=mode)
        self.stop = threading.Event()
        self._abandon = threading.Event()
        self._lock = threading.Lock()
        self._resource_limits: dict[str, Slots] = {}
        self._chains: dict[tuple[str, str, str], Future[Any]] = {}
        self._in_flight: dict[tuple[str, str], Future[Any]] = {}
        """(resource id, item key) -> the item's future, while it runs (``after``)."""
        self._failed_keys: dict[str, set[str]] = defaultdict(set)
        """Resource id -> keys of its items that failed in this run (``after``)."""
        self._futures: list[Future[Any]] = []
        self._prune_at = 1024
        self._pool: FairPool | None = None
        self._contexts: dict[int, Any] = {}
        """The sides' contexts seen in this run: their retry waits end when it stops."""
        self._unsettled: dict[str, int] = defaultdict(int)
        """Resource id -> its submitted items not yet settled."""
        self._listed: set[str] = set()
        """Resources whose discovery has ended (their last item may still run)."""
        self._open = threading.Semaphore(max(OPEN_RESOURCES, 2 * self.concurrency))
        """Taken by each resource when it starts, given back once it is settled."""
        self._memory = MemoryReturn()
        self.abandoned = False
        """True when a second Ctrl-C gave up waiting for the items in flight."""

    # -- progress -------------------------------------------------------------
    def emit(self, event_type: str, **fields: Any) -> None:
        emit_progress(self.host, self.run_id, self.mode, event_type, **fields)

    # -- the run --------------------------------------------------------------
    def run(self, pairs: Iterable[ResourcePair]) -> RunSummary:
        with collections_for_a_run():
            return self._run(pairs)

    def _run(self, pairs: Iterable[ResourcePair]) -> RunSummary:
        started = time.monotonic()
        self.emit("run_started")
        pool = self._pool = FairPool(self.concurrency, name="atg-item")
        # Several resources are discovered at once: discovery is a chain of sequential
        # requests (pages, per-item reads), and one resource at a time leaves the item
        # pool idle while a resource's listing waits on the network.
        discovery = ThreadPoolExecutor(
            max_workers=min(self.concurrency, DISCOVERY_PARALLELISM),
            thread_name_prefix="atg-discover",
        )
        resources: list[Future[Any]] = []
        try:
            for pair in in_turn_by_type(pairs):
                while not self._open.acquire(timeout=OPEN_WAIT_SECONDS):
                    if self.stop.is_set():
                        break
                    resources = _raise_engine_errors(resources)
                if self.stop.is_set():
                    break
                resources = _raise_engine_errors(resources)
                resources.append(discovery.submit(self._open_resource, pair, pool))
            for future in resources:
                future.result()
            for future in self._pending():
                future.result()
        except KeyboardInterrupt:
            self._stopping()
            self.summary.interrupted = True
            running = sum(1 for f in self._pending() if f.running())
            grace = self.retry.stop_grace_seconds
            log.warning(
                "stopping: waiting up to %g s for %d item(s) in flight (Ctrl-C again to "
                "abandon them at once; the next run replays them)",
                grace,
                running,
            )
            try:
                discovery.shutdown(wait=False, cancel_futures=True)
                pool.shutdown(wait=False, cancel_futures=True)
                if not self._wait_in_flight(grace, resources):
                    log.warning("items still in flight after %g s: abandoned", grace)
                    self._abandon.set()
                    self.abandoned = True
            except KeyboardInterrupt:
                self._abandon.set()
                self.abandoned = True
            raise
        except BaseException:
            self._abandon.set()  # the other resources' discoveries stop submitting
            raise
        finally:
            wait = not self.abandoned
            discovery.shutdown(wait=wait, cancel_futures=True)
            pool.shutdown(wait=wait, cancel_futures=True)
            self.summary.result.duration = time.monotonic() - started
            self.summary.interrupted = self.summary.interrupted or self.stop.is_set()
            for context in list(self._contexts.values()):
                context.end_run()  # a next run of these contexts reads its listings afresh
                if not self.abandoned:
                    context.stop.clear()  # the contexts may serve another run
            self.emit("run_finished", result=self.summary.result)
        return self.summary

    def _stopping(self) -> None:
        """Stop taking new items, and end every retry wait of both sides at once."""
        self.stop.set()
        with self._lock:
            contexts = list(self._contexts.values())
        for context in contexts:
            context.stop.set()

    def _wait_in_flight(self, seconds: float, discoveries: list[Future[Any]]) -> bool:
        """Wait up to ``seconds`` for the discoveries and items in flight; True when they
        all ended."""
        deadline = time.monotonic() + seconds
        for future in [*discoveries, *self._pending()]:
            left = deadline - time.monotonic()
            if left <= 0:
                return all(f.done() for f in [*discoveries, *self._pending()])
            try:
                future.exception(timeout=left)
            except TimeoutError:
                return False
            except Exception:  # cancelled
                continue
        return True

    def _track(self, future: Future[Any]) -> None:
        """Keep a handle on submitted items (their errors surface at the end), pruning
        finished ones so the list does not grow with the tenant."""
        with self._lock:
            self._futures.append(future)
            if len(self._futures) >= self._prune_at:
                self._futures = [f for f in self._futures if _unsettled(f)]
                self._prune_at = max(1024, 2 * len(self._futures))

    def _pending(self) -> list[Future[Any]]:
        with self._lock:
            return list(self._futures)

    def _open_resource(self, pair: ResourcePair, pool: FairPool) -> None:
        """Run the resource; give its place back when it ends before it was listed
        (stopped, no target, an engine error): otherwise its last item settling does."""
        token = RESOURCE.set(pair.source.resource.id)
        try:
            self._run_resource(pair, pool)
        finally:
            RESOURCE.reset(token)
            with self._lock:
                listed = pair.source.resource.id in self._listed
            if not listed:
                self._open.release()

    def _settled(self, pair: ResourcePair) -> None:
        """The resource's items are all settled: it lets go of what it held (its clients,
        the connections to its hosts), and of its place among the resources open at once."""
        _release(pair)
        for binding in (pair.source, pair.target):
            if binding is not None:
                binding.context.settled(pair.source.resource.id)
        self._open.release()
        self._memory()

    def _run_resource(self, pair: ResourcePair, pool: FairPool) -> None:
        rid = pair.source.resource.id
        rtype = pair.spec.resource_type
        with self._lock:
            for binding in (pair.source, pair.target):
                if binding is not None:
                    self._contexts[id(binding.context)] = binding.context
            if self.stop.is_set():
                return
        if pair.target is None:
            with self._lock:
                self.summary.missing_targets.append(pair.problem)
                bounded_append(self.summary.result.errors, pair.problem)
            self.emit("item_failed", resource_id=rid, resource_type=rtype, reason=pair.problem)
            return
        done = self.journal.done_keys(self.run_id, rid)
        limit = pair.spec.max_concurrency_per_resource
        if limit:
            with self._lock:
                self._resource_limits.setdefault(rid, Slots(limit))
        seen: set[str] = set()
        deadline = time.monotonic() + self.retry.item_seconds
        attempt = 0
        while True:
            attempt += 1
            try:
                self._discover_and_submit(pair, pool, done, seen)
                break
            except Exception as exc:
                if isinstance(exc, RunStopping) or self.stop.is_set() or self._abandon.is_set():
                    return
                # A listing broken off by a transient fault is listed again; the items
                # already submitted are passed over.
                delay = self.retry.item_delay(attempt, exc)
                if (
                    is_transient(exc)
                    and attempt < self.retry.item_attempts
                    and time.monotonic() + delay < deadline
                    and not wait_or_stop(self.stop, delay)
                ):
                    continue
                # One unreadable resource (a firewall, a missing role) must not stop the
                # others.
                name = pair.source.resource.name
                reason = f"discovery of {name} failed: {describe_error(exc)}"
                with self._lock:
                    self.summary.failed_resources.append(reason)
                    bounded_append(self.summary.result.errors, reason)
                self.emit("item_failed", resource_id=rid, resource_type=rtype, reason=reason)
                break
        self.emit("resource_discovered", resource_id=rid, resource_type=rtype, items=len(seen))
        with self._lock:
            self._listed.add(rid)
            finished = not self._unsettled[rid]
        if finished:
            self._settled(pair)

    def _discover_and_submit(
        self, pair: ResourcePair, pool: FairPool, done: set[str], seen: set[str]
    ) -> None:
        """Submit the resource's items not in ``seen`` (this run's earlier listing of it),
        adding them to ``seen``."""
        rid = pair.source.resource.id
        rtype = pair.spec.resource_type
        discover = self.host.hook_for(rtype, "dataplane_discover")
        items = discover(
            resource=pair.source,
            mode=self.mode,
            options=self.options,
            fingerprinter=self.fingerprinter,
        )
        # Each resource has its own window of submitted, unfinished items: a resource with
        # many quick items cannot hold back the discovery of the others (memory stays
        # bounded: DISCOVERY_PARALLELISM windows at most).
        window = threading.BoundedSemaphore(self.concurrency * ITEM_WINDOW)
        for item in items or ():
            if item.key in seen:
                continue
            seen.add(item.key)
            with self._lock:
                self.summary.result.discovered += 1
            if item.key in done:
                self._count(rid, item, "skipped", reason="")
                self.emit(
                    "item_skipped",
                    resource_id=rid,
                    resource_type=rtype,
                    item_kind=item.kind,
                    item_name=item.name,
                    reason="done before resume",
                )
                continue
            if self.stop.is_set() or self._abandon.is_set():
                break
            window.acquire()
            future = self._submit(pool, pair, item)
            future.add_done_callback(lambda _f: window.release())
            self._track(future)

    def _submit(self, pool: FairPool, pair: ResourcePair, item: DataPlaneItem) -> Any:
        """Submit one item, once the items it names in ``after`` are done; track it while it
        runs, for the items that name it."""
        rid = pair.source.resource.id
        if item.after:
            future = self._submit_after(pool, pair, item)
        else:
            future = self._submit_now(pool, pair, item)
        key = (rid, item.key)
        with self._lock:
            self._in_flight[key] = future
            self._unsettled[rid] += 1

        def settle(done: Future[Any]) -> None:
            failed = done.cancelled() or done.exception() is not None or done.result() == "failed"
            with self._lock:
                if self._in_flight.get(key) is done:
                    del self._in_flight[key]
                if failed:
                    self._failed_keys[rid].add(item.key)
                self._unsettled[rid] -= 1
                finished = rid in self._listed and not self._unsettled[rid]
            if finished:
                self._settled(pair)

        future.add_done_callback(settle)
        return future

    def _submit_after(self, pool: FairPool, pair: ResourcePair, item: DataPlaneItem) -> Any:
        """Start ``item`` when the items it names in ``after`` that still run are done
        (callbacks, not a waiting worker: no thread is held meanwhile)."""
        rid = pair.source.resource.id
        with self._lock:
            waiting = {
                key: self._in_flight[(rid, key)]
                for key in item.after
                if (rid, key) in self._in_flight
            }
        outer: Future[Any] = Future()
        pending = [len(waiting)]

        def start() -> None:
            # A prerequisite's own outcome, not only the failed keys: its future settles
            # before the callback that records a failure has run.
            with self._lock:
                failed = [key for key in item.after if key in self._failed_keys.get(rid, ())]
            failed += [key for key, done in waiting.items() if _failed(done) and key not in failed]
            try:
                if failed:
                    inner = pool.submit(
                        (rid, item.kind),
                        self._fail_dependent,
                        pair,
                        item,
                        failed,
                        group=pair.spec.resource_type,
                    )
                else:
                    inner = self._submit_now(pool, pair, item)
            except RuntimeError:  # the pool is shut down: the run is stopping
                outer.set_result("stopped")
                return
            except BaseException as exc:  # never leave the run waiting on this item
                outer.set_exception(exc)
                return
            inner.add_done_callback(lambda done: _pass_on(done, outer))

        def one_done(_: Future[Any]) -> None:
            with self._lock:
                pending[0] -= 1
                last = pending[0] == 0
            if last:
                start()

        if not waiting:
            start()
        for future in list(waiting.values()):
            future.add_done_callback(one_done)
        return outer

    def _fail_dependent(self, pair: ResourcePair, item: DataPlaneItem, failed: list[str]) -> str:
        names = ", ".join(failed)
        return self._fail(
            pair, item, f"needs {names}, which failed in this run: fix that and re-run"
        )

    def _submit_now(self, pool: FairPool, pair: ResourcePair, item: DataPlaneItem) -> Any:
        """Submit one item, within its resource's limit (the pool's slots); a version of a
        name is submitted when the previous version of the name is done (a callback: no
        worker or slot waits for it meanwhile)."""
        rid, rtype = pair.source.resource.id, pair.spec.resource_type
        slots = self._resource_limits.get(rid)
        if item.version is None:
            return pool.submit(
                (rid, item.kind), self._replicate, pair, item, None, group=rtype, slots=slots
            )
        chain = (rid, item.kind, item.name)
        outer: Future[Any] = Future()
        with self._lock:
            previous = self._chains.get(chain)
            self._chains[chain] = outer

        def start(_: Any = None) -> None:
            try:
                inner = pool.submit(
                    (rid, item.kind), self._replicate, pair, item, previous, group=rtype,
                    slots=slots,
                )
            except RuntimeError:  # the pool is shut down: the run is stopping
                outer.set_result("stopped")
                return
            inner.add_done_callback(lambda done: _pass_on(done, outer))

        def forget(done: Future[Any]) -> None:
            # A failed version stays, so that later versions of the name still see it.
            if done.cancelled() or done.exception() is not None or done.result() == "failed":
                return
            with self._lock:
                if self._chains.get(chain) is done:
                    del self._chains[chain]

        outer.add_done_callback(forget)
        if previous is None:
            start()
        else:
            previous.add_done_callback(start)
        return outer

    def _replicate(
        self, pair: ResourcePair, item: DataPlaneItem, previous: Future[Any] | None
    ) -> str:
        """Replicate one item; return its status (the next version waits on it)."""
        # Waits on a service (Retry-After, backoff, a copy polled) lend the turn out.
        token = RESOURCE.set(pair.source.resource.id)  # what it sends is the resource's
        with lending(self._pool.lend if self._pool is not None else None):
            try:
                return self._replicate_item(pair, item, previous)
            except JournalWriteError:
                # Without the journal, nothing more can be counted: stop the run (what is
                # journalled is kept; the same command resumes it).
                self._stopping()
                raise
            finally:
                RESOURCE.reset(token)

    def _replicate_item(
        self, pair: ResourcePair, item: DataPlaneItem, previous: Future[Any] | None
    ) -> str:
        if previous is not None and previous.result() == "failed":
            # Writing a later version after a failed earlier one would reorder history.
            reason = "an earlier version of this item failed; re-run to retry both"
            return self._fail(pair, item, reason)
        if self.stop.is_set() or self._abandon.is_set():
            return "stopped"
        rid = pair.source.resource.id
        rtype = pair.spec.resource_type
        hook = self.host.hook_for(rtype, "dataplane_replicate_item")
        deadline = time.monotonic() + self.retry.item_seconds
        checkpoint = Checkpoint(
            lambda: self.journal.checkpoint(self.run_id, rid, item.key),
            lambda value: self.journal.save_checkpoint(self.run_id, rid, item.key, value),
        )
        attempt = 0
        while True:
            attempt += 1
            try:
                # From the second attempt on, the plugin reads the target before it writes:
                # the first attempt's write may have landed. Between attempts the item keeps
                # its resource's slot: a throttled service gets no more calls meanwhile.
                with settling(attempt > 1):
                    outcome = hook(
                        item=item,
                        source=pair.source,
                        target=pair.target,
                        mode=self.mode,
                        options=self.options,
                        fingerprinter=self.fingerprinter,
                        checkpoint=checkpoint,
                    )
                if outcome is None:
                    raise ItemError(f"no plugin replicated {item.kind} items of {rtype}")
                break
            except ItemError as exc:
                return self._fail(pair, item, describe_error(exc), attempt)
            except Exception as exc:
                if isinstance(exc, RunStopping) or self.stop.is_set() or self._abandon.is_set():
                    return "stopped"  # not journalled: the next run replays it
                delay = self.retry.item_delay(attempt, exc)
                again = (
                    is_transient(exc)
                    and attempt < self.retry.item_attempts
                    and time.monotonic() + delay < deadline
                )
                if not again:
                    tries = f" (after {attempt} attempts)" if attempt > 1 else ""
                    return self._fail(pair, item, describe_error(exc) + tries, attempt)
                log.debug("%s %s: attempt %d failed: %s", item.kind, item.name, attempt, exc)
                if wait_or_stop(self.stop, delay):
                    return "stopped"
        assert isinstance(outcome, ItemOutcome)
        reason = "; ".join(outcome.warnings) or outcome.reason
        self.journal.record(
            self.run_id,
            rid,
            item.key,
            kind=item.kind,
            name=item.name,
            status=outcome.status,
            nbytes=outcome.bytes_copied,
            fingerprint=outcome.fingerprint,
            reason=reason,
            attempts=attempt,
        )
        self._count(rid, item, outcome.status, reason=reason, outcome=outcome)
        event = "item_skipped" if outcome.status == "skipped" else "item_done"
        self.emit(
            event,
            resource_id=rid,
            resource_type=rtype,
            item_kind=item.kind,
            item_name=item.name,
            bytes=outcome.bytes_copied,
            reason=redact(reason),
        )
        return outcome.status

    def _fail(self, pair: ResourcePair, item: DataPlaneItem, reason: str, attempts: int = 1) -> str:
        rid = pair.source.resource.id
        self.journal.record(
            self.run_id,
            rid,
            item.key,
            kind=item.kind,
            name=item.name,
            status="failed",
            reason=reason,
            attempts=attempts,
        )
        self._count(rid, item, "failed", reason=reason)
        self.emit(
            "item_failed",
            resource_id=rid,
            resource_type=pair.spec.resource_type,
            item_kind=item.kind,
            item_name=item.name,
            reason=reason,
        )
        return "failed"

    def _count(
        self,
        rid: str,
        item: DataPlaneItem,
        status: str,
        *,
        reason: str,
        outcome: ItemOutcome | None = None,
    ) -> None:
        reason = redact(reason)  # plugin warnings may quote URLs
        with self._lock:
            kind = self.summary.by_resource[rid][item.kind]
            result = self.summary.result
            if status == "failed":
                kind.failed += 1
                result.failed += 1
                bounded_append(result.errors, f"{item.kind} {item.name}: {reason}")
            elif status == "skipped":
                kind.skipped += 1
                result.skipped += 1
            elif status == "unchanged":
                kind.unchanged += 1
                result.skipped += 1
            else:
                kind.replicated += 1
                result.replicated += 1
            if reason:
                kind.add_reason(item.name, reason)
                if status != "failed":
                    bounded_append(result.warnings, f"{item.kind} {item.name}: {reason}")
            if outcome is not None:
                kind.bytes += outcome.bytes_copied
                kind.client_bytes += outcome.client_bytes
                result.bytes += outcome.bytes_copied
                self.summary.client_bytes += outcome.client_bytes


def _raise_engine_errors(resources: list[Future[Any]]) -> list[Future[Any]]:
    """The resources still running; a finished one's error is raised (only engine bugs:
    discovery errors are recorded)."""
    for future in resources:
        if future.done():
            future.result()
    return [f for f in resources if not f.done()]


def _failed(done: Future[Any]) -> bool:
    return done.cancelled() or done.exception() is not None or done.result() == "failed"


def _pass_on(done: Future[Any], outer: Future[Any]) -> None:
    """Settle ``outer`` as ``done`` settled."""
    if done.cancelled():
        outer.cancel()
    elif done.exception() is not None:
        outer.set_exception(done.exception())
    else:
        outer.set_result(done.result())
