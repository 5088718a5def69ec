"""Everything a command needs before it touches a resource.

Config and command-line overrides, the plugin host, one credential and one
``SideContext`` per tenant (each checked by getting a token, so bad
credentials fail in one line before any work), and the resource pairs.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from atg_dataplane.config import ReplicationConfig
from atg_dataplane.context import DEFAULT_CONCURRENCY, SideContext
from atg_dataplane.credentials import build_credential, check_credential
from atg_dataplane.inventory import ResourcePair, iter_pairs
from atg_dataplane.models import Side
from atg_dataplane.plugins import PluginHost, PluginLoadError
from atg_dataplane.retry import RetrySettings


@dataclass
class Runtime:
    config: ReplicationConfig
    host: PluginHost
    source: SideContext
    target: SideContext
    claims: dict[Side, dict[str, Any]] = field(default_factory=dict)

    def pairs(self) -> Iterator[ResourcePair]:
        return iter_pairs(self.host, self.config, self.source, self.target)

    def context(self, side: Side) -> SideContext:
        return self.source if side == "source" else self.target

    def close(self) -> None:
        self.source.close()
        self.target.close()


def open_runtime(
    host: PluginHost,
    config: ReplicationConfig,
    *,
    interactive: bool = False,
    concurrency: int = DEFAULT_CONCURRENCY,
    retry: RetrySettings | None = None,
) -> Runtime:
    if host.conflicts:
        raise PluginLoadError("; ".join(host.conflicts))
    sides = (config.source, config.target)
    credentials = [build_credential(c, interactive=interactive) for c in sides]
    # Both sides' sign-ins at once (a round trip or two each), unless a person signs in.
    checks = list(zip(credentials, sides, strict=True))
    if interactive:
        found = [check_credential(credential, c) for credential, c in checks]
    else:
        with ThreadPoolExecutor(2, thread_name_prefix="atg-sign-in") as pool:
            futures = [pool.submit(check_credential, credential, c) for credential, c in checks]
            found = [f.result() for f in futures]  # the source's error first, if both fail
    contexts = {}
    claims: dict[Side, dict[str, Any]] = {}
    for side_config, credential, side_claims in zip(sides, credentials, found, strict=True):
        side: Side = "source" if side_config.name == "source" else "target"
        claims[side] = side_claims
        contexts[side] = SideContext(
            side=side,
            tenant_id=side_config.tenant_id,
            subscription_id=side_config.subscription_id,
            credential=credential,
            cloud=side_config.cloud,
            concurrency=concurrency,
            retry=retry or RetrySettings(),
            names=dict(config.names),
        )
    return Runtime(config, host, contexts["source"], contexts["target"], claims)
