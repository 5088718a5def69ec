"""What a plugin is handed to reach one side of the copy.

A ``SideContext`` holds one tenant's credential, cloud endpoints and the
transport settings that every Azure SDK client of that side should share
(CA bundle, connection pool sized to the engine's concurrency, the retry
policy). A ``ResourceBinding`` pairs one ARM resource with its side, plus a
``state`` dict a plugin may use to cache clients for the length of a run.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from atg_dataplane.clouds import Cloud
from atg_dataplane.models import AzureResource, Side
from atg_dataplane.retry import RetrySettings, RunStopping, is_settling, wait_or_stop

DEFAULT_CONCURRENCY = 32
"""Items copied at once when ``--concurrency`` is not given: calls to Azure spend most of
their time waiting on the network, so many in flight keep a run busy (the benchmark's
sweep found 32 best at a 20 ms round trip)."""


@dataclass
class SideContext:
    """One tenant: credential, cloud, subscription and shared transport."""

    side: Side
    tenant_id: str
    subscription_id: str
    credential: Any
    """An azure-core ``TokenCredential``."""
    cloud: Cloud
    concurrency: int = DEFAULT_CONCURRENCY
    retry: RetrySettings = field(default_factory=RetrySettings)
    stop: threading.Event = field(default_factory=threading.Event, repr=False)
    """Set while a run stops (Ctrl-C): every retry wait of this side's clients ends."""
    names: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Source resource name -> target resource name (the config's ``[mapping.names]``):
    for a plugin that re-points a reference to another resource (a Key Vault secret
    named by an API Management value) at that resource's counterpart."""
    _session: Any = field(default=None, repr=False)
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)
    _run_values: dict[str, Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def target_name(self, source_name: str) -> str:
        """The name of ``source_name``'s counterpart in the target tenant."""
        return str(self.names.get(source_name, source_name))

    def __repr__(self) -> str:
        return f"SideContext({self.side}, tenant={self.tenant_id}, cloud={self.cloud.name})"

    @property
    def connection_verify(self) -> str | bool:
        return self.cloud.ca_bundle or True

    def transport(self) -> Any:
        """A transport sharing one pooled session per side (:mod:`atg_dataplane.http`).

        azure-core's default pool keeps 10 connections per host and discards
        the rest under higher concurrency; this pool is sized to ours.
        """
        from atg_dataplane.http import PooledSession, PooledTransport

        with self._lock:
            if self._session is None:
                # Twice the concurrency: calls waiting on a service lend their turn, and
                # up to as many again may then be in flight (FairPool.lend).
                self._session = PooledSession(2 * self.concurrency + 4)
        return PooledTransport(
            self._session,
            connection_verify=self.connection_verify,
            connection_timeout=self.retry.connect_timeout,
            read_timeout=self.retry.read_timeout,
        )

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any Azure SDK client of this side: the shared transport
        (with connect and read timeouts) and the run's retry policy
        (:mod:`atg_dataplane.retry`), which replaces the SDK's own."""
        return {
            "transport": self.transport(),
            "connection_verify": self.connection_verify,
            "retry_policy": self.retry.policy(self.stop),
            **self.retry.client_kwargs(),
        }

    def arm_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for an ``azure-mgmt-*`` client of this side."""
        return {
            **self.client_kwargs(),
            "base_url": self.cloud.resource_manager,
            "credential_scopes": [self.cloud.arm_scope],
        }

    def pause(self, seconds: float) -> None:
        """Sleep ``seconds`` (a plugin polling a long-running copy), unless the run stops
        first: then raise :class:`atg_dataplane.retry.RunStopping` (the engine replays the
        item next run)."""
        if wait_or_stop(self.stop, seconds):
            raise RunStopping("the run is stopping")

    def mgmt(self, client_class: Any, subscription_id: str = "") -> Any:
        """An ``azure-mgmt-*`` client of this side (of ``subscription_id``, this side's by
        default), made once and shared by every resource for the run."""
        subscription = subscription_id or self.subscription_id
        name = f"{client_class.__module__}.{client_class.__qualname__}"
        return self.cached_client(
            f"mgmt:{name}:{subscription}",
            lambda: client_class(self.credential, subscription, **self.arm_kwargs()),
        )

    def cached_client(self, key: str, factory: Any) -> Any:
        """A client (or any value) shared by every resource of this side for the run (e.g.
        the ARM client): ``factory`` runs once per key, and callers asking meanwhile wait
        for its answer. A factory that raises is tried again by the next caller."""
        with self._lock:
            once = self._clients.get(key)
            if once is None:
                once = self._clients[key] = _Once()
        return once.get(factory)

    def run_cached(self, key: str, factory: Any) -> Any:
        """A value shared by every resource of this side until the run ends: what many
        items would each read again (a resource group's listing), read once. ``factory``
        runs once per key and run, as in :meth:`cached_client`; the engine drops these
        values when the run ends (:meth:`end_run`), so a runtime that serves a second run
        reads them afresh. A value read this way does not see the run's own writes."""
        with self._lock:
            once = self._run_values.get(key)
            if once is None:
                once = self._run_values[key] = _Once()
        return once.get(factory)

    def end_run(self) -> None:
        """Forget the values of :meth:`run_cached` (the engine calls it as a run ends)."""
        with self._lock:
            self._run_values.clear()

    def settled(self, resource_id: str) -> None:
        """The run is done with ``resource_id`` (a source resource id): its hosts'
        connections are closed unless another resource uses them
        (:meth:`atg_dataplane.http.PooledSession.settled`)."""
        with self._lock:
            session = self._session
        if session is not None:
            session.settled(resource_id)

    def close(self) -> None:
        with self._lock:
            self._clients.clear()
            self._run_values.clear()
            if self._session is not None:
                self._session.close()
                self._session = None


class _Once:
    """A value computed by the first caller; the others wait for it (not under the
    context's lock, so a factory may itself ask the context for another value; one that
    asks for its own key recurses and fails rather than waiting on itself)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._done = False
        self._value: Any = None

    def get(self, factory: Any) -> Any:
        if self._done:
            return self._value
        with self._lock:
            if not self._done:
                self._value = factory()
                self._done = True
        return self._value


@dataclass
class ResourceBinding:
    """One ARM resource on one side, with per-run plugin state."""

    resource: AzureResource
    context: SideContext
    state: dict[str, Any] = field(default_factory=dict, repr=False)
    """Plugin clients and credentials (account keys, SAS): never printed."""
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    """Re-entrant: a factory may itself call ``cached`` on the same binding."""

    def __repr__(self) -> str:
        return f"ResourceBinding({self.context.side}, {self.resource.id})"

    @property
    def side(self) -> Side:
        return self.context.side

    def cached(self, key: str, factory: Any) -> Any:
        """Return ``state[key]``, creating it once with ``factory()`` (thread-safe)."""
        with self._lock:
            if key not in self.state:
                self.state[key] = factory()
            return self.state[key]

    def release(self) -> None:
        """Drop what plugins kept on this binding for the run (clients, listings, ``once``
        results); the engine calls it once the resource's items are all settled. A later
        ``cached`` or ``once`` builds its value again."""
        with self._lock:
            self.state.clear()

    def once(self, key: str, action: Any) -> Any:
        """Run ``action()`` once per binding and run, remembering its result: what several
        items need done first in the target (the container of blobs, the database of
        containers), whichever item gets there first.

        Unlike :meth:`cached` the binding's lock is not held while ``action`` runs, so
        ``action`` may build clients of the same binding; callers of the same key wait for
        it and share its result. A failed ``action`` is tried again by the next caller.
        """
        with self._lock:
            entry = self.state.get(f"once:{key}")
            if entry is None:
                entry = self.state[f"once:{key}"] = _OnceResult()
        with entry.lock:
            if not entry.done:
                entry.value = action()
                entry.done = True
            return entry.value

    def listing(self, key: str, lister: Any) -> TargetListing:
        """This run's :class:`TargetListing` named ``key`` (``lister`` runs on first use)."""
        listing: TargetListing = self.cached(f"listing:{key}", lambda: TargetListing(lister))
        return listing


class _OnceResult:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.done = False
        self.value: Any = None


class Checkpoint:
    """Where one item's copy has got to, kept in the run's journal: a plugin copying a large
    item in steps (pages of a feed) saves after each step, and a stopped run that resumes
    the item starts from the last saved step instead of from the beginning.

    The value is the plugin's own text (a continuation token, an offset, JSON of several):
    never a secret or a copied value, as the journal is not a vault. It belongs to this
    run: a new run of the same command starts every item afresh.
    """

    def __init__(
        self,
        load: Callable[[], str | None] | None = None,
        store: Callable[[str], None] | None = None,
    ) -> None:
        self._value: str | None = None
        self._load = load
        self._store = store

    def get(self) -> str | None:
        """The last value saved for this item in this run, or None."""
        if self._load is not None:
            return self._load()
        return self._value

    def save(self, value: str) -> None:
        """Keep ``value`` (durably, when the engine gave a journal) before going on."""
        if self._store is not None:
            self._store(value)
        else:
            self._value = value


class Fingerprinter:
    """Keyed hash (HMAC-SHA256) of content, so values are compared, never kept.

    The key lives only in memory or in the run's journal (mode 0600), never in
    a report, so a fingerprint cannot be reversed by guessing common values.
    """

    PREFIX = "hmac-sha256:"

    def __init__(self, key: bytes | None = None) -> None:
        self.key = key or secrets.token_bytes(32)

    def of(self, value: bytes | str | Mapping[str, Any] | list[Any] | None) -> str:
        if value is None:
            data = b"\x00none"
        elif isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = value.encode("utf-8")
        else:
            data = json.dumps(value, sort_keys=True, default=str, separators=(",", ":")).encode()
        return self.PREFIX + hmac.new(self.key, data, hashlib.sha256).hexdigest()[:32]

    def stream(self) -> _StreamingFingerprint:
        """For large content: feed chunks, then call ``hexdigest()``."""
        return _StreamingFingerprint(hmac.new(self.key, b"", hashlib.sha256))


class _StreamingFingerprint:
    def __init__(self, mac: hmac.HMAC) -> None:
        self._mac = mac

    def update(self, chunk: bytes) -> None:
        self._mac.update(chunk)

    def hexdigest(self) -> str:
        return Fingerprinter.PREFIX + self._mac.hexdigest()[:32]


LISTING_LIMIT = 20_000
"""A target collection holding more entries than this is not held in memory."""


class TargetListing:
    """The entries of one target collection, listed once per run and handed out by name.

    Asking the target about each item costs a request per item; one listing of the
    collection (a page per few hundred entries) answers for all of them. ``lister``
    returns an iterable of ``(name, entry)`` pairs, typically a generator over an SDK
    pager. A collection that does not exist (404) lists as empty; when the listing is
    refused (403), or the collection holds more than :data:`LISTING_LIMIT` entries, the
    listing is unavailable and callers ask the target item by item.

    Each name is handed out once: a name asked again means a new run with the same
    binding, and the collection is listed afresh. Thread-safe.
    """

    def __init__(self, lister: Any, limit: int = LISTING_LIMIT) -> None:
        self._lister = lister
        self._limit = limit
        self._lock = threading.Lock()
        self._entries: dict[str, Any] | None = None
        self._taken: set[str] = set()
        self._loaded = False

    def take(self, name: str) -> tuple[bool, Any]:
        """``(known, entry)``: ``entry`` is None when the target lacks ``name``; ``known``
        is False when the listing is unavailable and the caller must ask the target, and
        while the engine settles an item tried again (:func:`atg_dataplane.is_settling`):
        the first attempt may have written it after the listing was taken."""
        if is_settling():
            return False, None
        with self._lock:
            if not self._loaded or name in self._taken:
                self._entries, self._taken, self._loaded = self._list(), set(), True
            if self._entries is None:
                return False, None
            self._taken.add(name)
            return True, self._entries.pop(name, None)

    def created(self) -> None:
        """The caller has just created the collection: it is empty, so the names asked
        next need no listing (a name asked again lists the collection as usual)."""
        with self._lock:
            self._entries, self._taken, self._loaded = {}, set(), True

    def _list(self) -> dict[str, Any] | None:
        entries: dict[str, Any] = {}
        try:
            for name, entry in self._lister():
                entries[name] = entry
                if len(entries) > self._limit:
                    return None
        except ResourceNotFoundError:
            return {}
        except HttpResponseError as error:
            if error.status_code == 403:
                return None
            raise
        return entries
