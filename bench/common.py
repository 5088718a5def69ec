"""What the baseline and the ceiling share: the config, credentials, resource pairs, results.

Both read the same replication config as ``atg-dataplane`` (``load_config`` +
``build_credential``), find the same source resources and their target
counterparts through the core's inventory (ARM), and print one JSON object on
stdout. Only the *data-plane* work differs between the three contenders.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from atg_dataplane.config import ReplicationConfig, load_config
from atg_dataplane.credentials import build_credential
from atg_dataplane.plugins import load_plugins

sys.path.insert(0, str(Path(__file__).resolve().parent))

from adapters import ADAPTERS, Adapter


@dataclass
class Side:
    """One tenant as the scripts see it: a credential and the CA bundle."""

    credential: Any
    ca_bundle: str | bool
    arm: dict[str, str] = field(default_factory=dict)
    """``url`` and ``scope`` of the side's Resource Manager."""

    def kwargs(self, pool: int | None = None) -> dict[str, Any]:
        """SDK client keywords; ``pool`` sizes the connection pool (else SDK defaults)."""
        kwargs: dict[str, Any] = {"connection_verify": self.ca_bundle}
        if pool:
            # The same session and transport as atg-dataplane's: the ceiling must not pay
            # costs that the tool does not.
            from atg_dataplane.http import PooledSession, PooledTransport

            kwargs["transport"] = PooledTransport(
                PooledSession(pool), connection_verify=self.ca_bundle
            )
        return kwargs


@dataclass
class Pair:
    """A source resource and its target counterpart (ARM ids and properties)."""

    resource_type: str
    source: Any
    """``atg_dataplane.models.AzureResource``"""
    target: Any


@dataclass
class Tally:
    """Items written and payload bytes that passed through this process, per kind."""

    items: Counter[str] = field(default_factory=Counter)
    payload: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, kind: str, payload: int = 0, count: bool = True) -> None:
        with self._lock:
            if count:
                self.items[kind] += 1
            self.payload[kind] += payload

    def fail(self, kind: str, name: str, exc: BaseException) -> None:
        with self._lock:
            self.failures.append(f"{kind} {name}: {type(exc).__name__}: {str(exc)[:200]}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": sum(self.items.values()),
            "items_by_kind": dict(self.items),
            "client_payload_bytes": sum(self.payload.values()),
            "client_payload_bytes_by_kind": dict(self.payload),
            "failed": len(self.failures),
            "failures": self.failures[:20],
        }


@dataclass
class Setup:
    config: ReplicationConfig
    source: Side
    target: Side
    pairs: list[Pair]
    adapters: dict[str, Adapter]


def setup(config_path: str | Path) -> Setup:
    """Load the config and pair every source resource the benchmark covers."""
    config = load_config(config_path)
    sides = {}
    for side in (config.source, config.target):
        arm = {"url": side.cloud.resource_manager, "scope": side.cloud.arm_scope}
        sides[side.name] = Side(build_credential(side), side.cloud.ca_bundle or True, arm)
    wanted = {t.lower() for t in config.types} or set(ADAPTERS)
    adapters = {t: ADAPTERS[t] for t in wanted if t in ADAPTERS}
    return Setup(config, sides["source"], sides["target"], list(_pairs(config, adapters)), adapters)


def _pairs(config: ReplicationConfig, adapters: dict[str, Adapter]) -> Iterator[Pair]:
    """Source resources and counterparts, found as ``atg-dataplane`` finds them."""
    from atg_dataplane.context import SideContext
    from atg_dataplane.inventory import find_target, iter_source_resources

    host = load_plugins()
    contexts = {
        side.name: SideContext(
            side=side.name,  # type: ignore[arg-type]
            tenant_id=side.tenant_id,
            subscription_id=side.subscription_id,
            credential=build_credential(side),
            cloud=side.cloud,
        )
        for side in (config.source, config.target)
    }
    for resource, spec in iter_source_resources(host, config, contexts["source"]):
        rtype = spec.resource_type.lower()
        if rtype not in adapters:
            continue
        target, problem = find_target(resource, spec, config, contexts["target"])
        if target is None:
            raise SystemExit(problem)
        yield Pair(rtype, resource, target)


def emit(result: dict[str, Any]) -> None:
    """The one JSON line the runner reads."""
    sys.stdout.write(json.dumps(result, default=str) + "\n")
    sys.stdout.flush()


class Stopwatch:
    def __enter__(self) -> Stopwatch:
        self.started = time.perf_counter()
        self.seconds = 0.0
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
