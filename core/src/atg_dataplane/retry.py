"""The one retry rule every Azure SDK client and every item of a run follows.

Two levels, one budget each:

* **Requests.** :class:`EngineRetryPolicy` replaces each SDK's own retry policy (the
  storage SDKs' exponential retry slept up to thousands of seconds per request and
  ignored ``Retry-After``). It retries what the service refused (408, 429, 503: nothing
  was done) and what never reached it (a refused connection), honouring ``Retry-After``
  (and Cosmos DB's ``x-ms-retry-after-ms``), within a bounded number of attempts and a
  bounded time per request. A *write* whose outcome is unknown (the connection broke
  after the request went out, a read timeout, 500, 502, 504) is **not** repeated here:
  a blind repeat can apply it twice (a second secret version, a second key). It is
  raised, and the engine settles it. A plugin that knows a write is safe to repeat (an
  upsert, a block staged under its id, a range written at its offset) says so with
  :func:`idempotent`, and such a write is repeated like a read.
* **Items.** The engine retries an item whose call failed transiently
  (:func:`is_transient`), a bounded number of times within a bounded time. From the
  second attempt on, the plugin runs inside :func:`settling`: it must read the target
  before writing, so a write that landed the first time is found and not repeated.
  :class:`atg_dataplane.TargetListing` answers "ask the target" while settling, so every
  plugin built on it settles without code of its own.

Every wait (``Retry-After``, backoff) ends early when the run is stopping: Ctrl-C is
answered within seconds even while a service stalls.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import requests
from azure.core.exceptions import (
    DecodeError,
    DeserializationError,
    HttpResponseError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.policies import RetryPolicy
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

REFUSED_STATUSES = frozenset({408, 429, 503})
"""Answers that say the service did not do the request: safe to repeat any request."""
TRANSIENT_STATUSES = REFUSED_STATUSES | {500, 502, 504}
"""Answers worth another try; for a write, 500, 502 and 504 leave its outcome unknown."""
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_STORAGE_RETRY_OPTIONS = ("hosts", "retry_hook", "retry_to_secondary")


@dataclass(frozen=True)
class RetrySettings:
    """How hard a run tries before it gives an item up, and how long it waits at most.

    ``total`` attempts again per request (``Retry-After`` honoured), within
    ``request_seconds``; ``item_attempts`` calls per item, within ``item_seconds``. Every
    request has a ``connect_timeout`` and a ``read_timeout`` (seconds between bytes, not
    for the whole body). ``stop_grace_seconds`` is how long Ctrl-C waits for the items in
    flight before it abandons them (the next run replays them).
    """

    total: int = 6
    backoff_factor: float = 0.5
    backoff_max: float = 4.0
    request_seconds: float = 120.0
    item_attempts: int = 4
    item_seconds: float = 600.0
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    stop_grace_seconds: float = 5.0

    def __post_init__(self) -> None:
        if self.total < 0 or self.item_attempts < 1:
            raise ValueError("retry counts must be >= 0 (requests) and >= 1 (item attempts)")
        for name in ("request_seconds", "item_seconds", "connect_timeout", "read_timeout"):
            if getattr(self, name) <= 0:
                raise ValueError(f"retry setting {name} must be > 0")
        for name in ("backoff_factor", "backoff_max", "stop_grace_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"retry setting {name} must be >= 0")

    def policy(self, stop: threading.Event | None = None) -> EngineRetryPolicy:
        return EngineRetryPolicy(self, stop)

    def client_kwargs(self) -> dict[str, Any]:
        """azure-core's retry settings with these bounds, for an SDK that builds its own
        policy whatever it is given (azure-data-tables). Every budget is set: azure-core
        stops at the smallest."""
        return {
            "retry_total": self.total,
            "retry_status": self.total,
            "retry_connect": self.total,
            "retry_read": self.total,
            "retry_backoff_factor": self.backoff_factor,
            "retry_backoff_max": self.backoff_max,
        }

    def item_delay(self, attempt: int, error: BaseException | None = None) -> float:
        """Seconds before an item's attempt ``attempt + 1``: a quarter of a second after the
        first failure (most are a broken connection), then four times longer, at most 8 s;
        longer when the service's last answer asked for it (``Retry-After``)."""
        delay = float(min(8.0, 0.25 * 4 ** (attempt - 1)))
        return max(delay, retry_after(error)) if error is not None else delay


class RunStopping(Exception):
    """Raised inside a request's retry wait when the run is stopping (Ctrl-C)."""


class EngineRetryPolicy(RetryPolicy):
    """azure-core's retry policy with the run's rule (module docstring). One per client."""

    def __init__(self, settings: RetrySettings, stop: threading.Event | None = None) -> None:
        super().__init__(
            retry_total=settings.total,
            retry_connect=settings.total,
            retry_read=settings.total,
            retry_status=settings.total,
            retry_backoff_factor=settings.backoff_factor,
            retry_backoff_max=settings.backoff_max,
            timeout=settings.request_seconds,
        )
        self.settings = settings
        self.stop = stop or threading.Event()

    def send(self, request: Any) -> Any:
        # The storage SDKs leave options for their own retry policy (which host to try) and
        # read back which host answered: taken and given back here, as that policy does
        # (this one always stays on the primary host).
        options = request.context.options
        location = options.pop("location_mode", None)
        for name in _STORAGE_RETRY_OPTIONS:
            options.pop(name, None)
        response = super().send(request)
        if location is not None:
            response.http_response.location_mode = location  # blob, queue, file share
            response.context["location_mode"] = location  # tables
        return response

    def configure_retries(self, options: dict[str, Any]) -> dict[str, Any]:
        retry = super().configure_retries(options)
        retry["started"] = time.monotonic()
        return retry

    def _is_method_retryable(self, settings: Any, request: Any, response: Any = None) -> bool:
        # azure-core asks this before ``increment`` for errors, where only the error tells
        # whether the request reached the service: ``increment`` decides.
        return True

    def is_retry(self, settings: dict[str, Any], response: Any) -> bool:
        status = response.http_response.status_code
        if status in REFUSED_STATUSES or _copy_source_busy(response.http_response):
            return settings["total"] > 0
        if status not in TRANSIENT_STATUSES:
            return False  # azure-core repeats any status with a Retry-After: not a 409
        # 500, 502, 504: a write may have been applied; only a read is repeated here.
        return settings["total"] > 0 and _repeatable(response.http_request)

    def increment(self, settings: dict[str, Any], response: Any = None, error: Any = None) -> bool:
        if self.stop.is_set():
            return False
        if error is not None and not never_sent(error):
            # The request went out and no answer came back (a broken connection, a read
            # timeout): a write may have been applied, so it is not repeated blindly.
            request = getattr(response, "http_request", None)
            if request is None or not _repeatable(request):
                return False
        if not super().increment(settings, response=response, error=error):
            return False
        # Within the request's time budget, Retry-After included: a service that asks for
        # more than is left gets no other try, and the item's own retry takes over.
        elapsed = time.monotonic() - settings["started"]
        settings["next_wait"] = wait = self._wait_for(settings, response)
        return elapsed + wait <= self.settings.request_seconds

    def _wait_for(self, settings: dict[str, Any], response: Any) -> float:
        retry_after = None
        if response is not None and hasattr(response, "http_response"):
            retry_after = self.get_retry_after(response)
        if retry_after is not None:
            return float(retry_after)
        return float(self.get_backoff_time(settings))

    def sleep(self, settings: dict[str, Any], transport: Any, response: Any = None) -> None:
        wait = settings.pop("next_wait", None)
        if wait is None:
            wait = self._wait_for(settings, response)
        if wait_or_stop(self.stop, wait):
            raise RunStopping("the run is stopping")


_NOT_SENT = (NewConnectionError, ConnectTimeoutError, requests.exceptions.ConnectTimeout)
"""Failures before a request left this machine: to connect, to resolve the name."""


def never_sent(error: BaseException) -> bool:
    """True when ``error`` happened before the request could reach the service.

    azure-core's ``ServiceRequestError`` is not enough: the requests transport (and ours,
    which raises what it raises) also uses it for a read timeout or a TLS error while
    reading an answer, after the request went out. Only a failure to connect counts."""
    seen: set[int] = set()
    pending: list[Any] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, _NOT_SENT):
            return True
        if isinstance(current, BaseException):
            pending += [
                getattr(current, "inner_exception", None),
                getattr(current, "reason", None),  # urllib3's MaxRetryError
                current.__cause__,
                current.__context__,
                *(a for a in current.args if isinstance(a, BaseException)),
            ]
    return False


COPY_SOURCE_BUSY = frozenset({"ServerBusy", "OperationTimedOut", "InternalError"})
"""Copy-source error codes that mean the source account was busy: nothing was copied."""


def _copy_source_busy(response: Any) -> bool:
    code = response.headers.get("x-ms-copy-source-error-code")
    return bool(code) and code in COPY_SOURCE_BUSY


def retry_after(error: BaseException) -> float:
    """Seconds the answer behind ``error`` asked to wait (``Retry-After``, Cosmos DB's
    ``x-ms-retry-after-ms``); 0 when it asked nothing."""
    headers = getattr(getattr(error, "response", None), "headers", None)
    if not headers:
        return 0.0
    try:
        if headers.get("Retry-After"):
            return max(0.0, float(headers["Retry-After"]))
        for name in ("retry-after-ms", "x-ms-retry-after-ms"):
            if headers.get(name):
                return max(0.0, float(headers[name]) / 1000)
    except (TypeError, ValueError):  # an HTTP date: not worth parsing for a bound
        return 0.0
    return 0.0


def _repeatable(request: Any) -> bool:
    """A read, or a write the plugin declared safe to repeat (:func:`idempotent`)."""
    return str(request.method).upper() in READ_METHODS or _idempotent.get()


_idempotent: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "atg_dataplane_idempotent", default=False
)


@contextlib.contextmanager
def idempotent() -> Iterator[None]:
    """Inside: the writes this thread sends are safe to repeat whatever their outcome was
    (an upsert, a block staged under its id, a page or range written at its offset), so
    the retry policy repeats them after a lost answer as it does reads, instead of handing
    the whole item back to the engine."""
    token = _idempotent.set(True)
    try:
        yield
    finally:
        _idempotent.reset(token)


def is_transient(error: BaseException) -> bool:
    """Worth another attempt of the whole item: the service refused or did not answer in
    time, the connection broke, or the answer could not be read."""
    if isinstance(error, ServiceRequestError | ServiceResponseError | DeserializationError):
        return True
    if isinstance(error, DecodeError):  # a malformed or cut-off answer
        return True
    if isinstance(error, HttpResponseError):
        return getattr(error, "status_code", None) in TRANSIENT_STATUSES
    return isinstance(error, ConnectionError | TimeoutError)


_settling: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "atg_dataplane_settling", default=False
)


@contextlib.contextmanager
def settling(active: bool = True) -> Iterator[None]:
    """Inside: the item is being tried again after a failure whose outcome is unknown, so
    the target must be read before any write (see the module docstring)."""
    token = _settling.set(active)
    try:
        yield
    finally:
        _settling.reset(token)


def is_settling() -> bool:
    """True while the engine tries an item again: what this run believed about the target
    (a name absent, a collection empty) may be out of date; read the target instead."""
    return _settling.get()


_lender: contextvars.ContextVar[Callable[[], AbstractContextManager[None]] | None] = (
    contextvars.ContextVar("atg_dataplane_lender", default=None)
)


@contextlib.contextmanager
def lending(lend: Callable[[], AbstractContextManager[None]] | None) -> Iterator[None]:
    """Inside: this thread's waits (:func:`wait_or_stop`) lend its turn with ``lend()``
    (the engine's :meth:`atg_dataplane.parallel.FairPool.lend`), so that a call waiting on
    a service does not hold back the others."""
    token = _lender.set(lend)
    try:
        yield
    finally:
        _lender.reset(token)


def wait_or_stop(stop: threading.Event, seconds: float) -> bool:
    """Wait ``seconds`` unless ``stop`` is set first; True when stopping. The thread's turn
    is lent out meanwhile (:func:`lending`)."""
    if seconds <= 0 or stop.is_set():
        return stop.is_set()
    lend = _lender.get()
    if lend is None:
        return stop.wait(seconds)
    with lend():
        return stop.wait(seconds)
