"""Fault injection: a small spec language, a pure decision function, an aiohttp middleware.

Spec syntax: ``service:key=value,key=value;service:...`` where ``service`` is one of

* ``entra``, ``arm``, ``keyvault``: our own Entra ID, ARM and Key Vault;
* ``acr``: the ACR fronts, and with them the registry (``/v2`` is proxied through them);
* ``storage``: Azure Storage, i.e. the proxies in front of Azurite's Blob, Queue and Table
  and our own File service;
* ``cosmos``: the proxies in front of the Cosmos DB server (one per account);
* ``*``: every service without a clause of its own;

and the keys are

* ``429=P``, ``500=P``, ``503=P``: answer that share (0..1) of requests with that status
  (429 and 503 carry ``Retry-After``);
* ``drop=P``: close that share of connections without answering (the request is not
  applied);
* ``lost=P``: apply that share of requests, then close the connection instead of answering
  (the client cannot tell whether a write landed);
* ``stall=P``: hold that share of requests without answering for ``stall_for`` (default
  3600 s), then close the connection (nothing is applied);
* ``malformed=P``: answer that share of requests 200 with a body that does not parse (JSON
  or XML cut short; nothing is applied). Requests answered with content (a blob, a file,
  an image layer) are left alone: a garbled body there would be data, not a fault;
* ``mix=P``: a share P of requests split evenly between 429, 503, ``drop`` and ``lost``
  (the benchmark's and the tests' fault mix);
* ``stall_for=D``: how long a stalled request is held (``30s``, ``500ms``);
* ``copy_stall=P``: that share of server-side copies (Copy File, for ``storage``) are
  accepted as pending and never progress, until they are aborted;
* ``latency=D``: add D to every request (``20ms``, ``0.5s``; a bare number is ms);
* ``retry_after=S``: seconds in ``Retry-After`` (default 1; fractions allowed);
* ``throttle=N``: at most N writes per second per vault (Key Vault), then 429.

Injected errors are shaped as the service answers errors: OAuth JSON for Entra ID, XML
(Blob, Queue, File) or odata JSON (Table) for storage, Cosmos DB's ``{"code", "message"}``,
ARM's ``{"error": ...}`` for the rest. Two services differ in status or headers:
``storage`` answers ``429`` with ``503 ServerBusy`` ("The server is busy.") and
``Retry-After``, as Azure Storage throttles (the storage SDKs do not all retry 429); the
fault still counts as ``429`` in the counts (``fault_counts``, the admin endpoint).
``cosmos`` puts ``retry_after`` in ``x-ms-retry-after-ms`` (with ``x-ms-substatus: 3200``)
on 429, as Cosmos DB does, and sends no ``Retry-After``.

Example: ``keyvault:429=0.1,500=0.05,drop=0.02,latency=20ms;arm:503=0.1``.
:func:`decide` is pure apart from its random source, so any proxy can reuse it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

STATUS_KEYS = ("429", "500", "503")
SHARE_KEYS = ("drop", "lost", "stall", "malformed")
"""Faults other than a status, in the order :func:`decide` draws them."""
SERVICES = ("entra", "arm", "keyvault", "acr", "storage", "cosmos", "kudu", "disks")


@dataclass(frozen=True)
class ServiceFaults:
    statuses: dict[int, float] = field(default_factory=dict)
    drop: float = 0.0
    lost: float = 0.0
    stall: float = 0.0
    malformed: float = 0.0
    copy_stall: float = 0.0
    """Share of server-side copies that stay pending without progress (storage)."""
    stall_for: float = 3600.0
    latency: float = 0.0
    """Seconds added to every request."""
    retry_after: float = 1.0
    throttle: float | None = None
    """Writes per second per vault before 429 (Key Vault only)."""


@dataclass(frozen=True)
class FaultSpec:
    services: dict[str, ServiceFaults] = field(default_factory=dict)
    text: str = ""

    def for_service(self, service: str) -> ServiceFaults:
        return self.services.get(service) or self.services.get("*") or ServiceFaults()


@dataclass(frozen=True)
class Fault:
    kind: str = "none"
    """``none``, ``status``, ``drop``, ``lost``, ``stall`` or ``malformed``."""
    status: int = 0
    retry_after: float = 0.0
    latency: float = 0.0
    stall_for: float = 0.0


NO_FAULT = Fault()


class FaultSpecError(ValueError):
    pass


def parse_spec(text: str | None) -> FaultSpec:
    """Parse a fault spec (see the module docstring); an empty spec injects nothing."""
    services: dict[str, ServiceFaults] = {}
    for part in (text or "").split(";"):
        part = part.strip()
        if not part:
            continue
        service, sep, settings = part.partition(":")
        service = service.strip().lower()
        if not sep or (service not in SERVICES and service != "*"):
            raise FaultSpecError(
                f"bad fault clause {part!r}: expected 'service:key=value,...' "
                f"with service one of {', '.join(SERVICES)} or *"
            )
        faults = services.get(service, ServiceFaults())
        for item in settings.split(","):
            item = item.strip()
            if item:
                faults = _apply(faults, item)
        services[service] = faults
    return FaultSpec(services=services, text=(text or "").strip())


def _apply(faults: ServiceFaults, item: str) -> ServiceFaults:
    key, sep, value = item.partition("=")
    key, value = key.strip().lower(), value.strip().lower()
    if not sep:
        raise FaultSpecError(f"bad fault setting {item!r}: expected key=value")
    try:
        if key in STATUS_KEYS:
            return replace(faults, statuses={**faults.statuses, int(key): _share(value)})
        if key in SHARE_KEYS:
            return replace(faults, **{key: _share(value)})
        if key == "mix":
            share = _share(value) / 4
            statuses = {**faults.statuses, 429: share, 503: share}
            return replace(faults, statuses=statuses, drop=share, lost=share)
        if key == "copy_stall":
            return replace(faults, copy_stall=_share(value))
        if key == "stall_for":
            return replace(faults, stall_for=_duration(value, bare="s"))
        if key == "latency":
            return replace(faults, latency=_duration(value))
        if key == "retry_after":
            return replace(faults, retry_after=float(value.removesuffix("s")))
        if key == "throttle":
            return replace(faults, throttle=float(value.removesuffix("/s")))
    except ValueError as exc:
        raise FaultSpecError(f"bad value in {item!r}: {exc}") from None
    raise FaultSpecError(f"unknown fault key {key!r} in {item!r}")


def _share(value: str) -> float:
    share = float(value.removesuffix("%")) / (100 if value.endswith("%") else 1)
    if not 0 <= share <= 1:
        raise ValueError("a share must be between 0 and 1")
    return share


def _duration(value: str, bare: str = "ms") -> float:
    if value.endswith("ms"):
        return float(value[:-2]) / 1000
    if value.endswith("s"):
        return float(value[:-1])
    return float(value) / (1000 if bare == "ms" else 1)


def decide(spec: FaultSpec, service: str, rng: random.Random | None = None) -> Fault:
    """What to do to the next request of ``service``: nothing, a status, or a drop."""
    faults = spec.for_service(service)
    draw = (rng or random).random()
    threshold = 0.0
    for status, share in sorted(faults.statuses.items()):
        threshold += share
        if draw < threshold:
            return Fault("status", status, faults.retry_after, faults.latency)
    for kind in SHARE_KEYS:
        threshold += getattr(faults, kind)
        if draw < threshold:
            return Fault(kind, 0, 0.0, faults.latency, faults.stall_for)
    return Fault("none", 0, 0.0, faults.latency) if faults.latency else NO_FAULT
