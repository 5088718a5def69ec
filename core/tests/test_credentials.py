"""Credential wrappers: pure logic, driven by an in-memory credential with a token cache."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from atg_dataplane.credentials import SharedTokens


class CachingCredential:
    """Behaves like azure-identity: a cache miss sends a (slow) token request."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, ...]] = []
        self.cache: dict[tuple[str, ...], str] = {}
        self.lock = threading.Lock()

    def get_token(self, *scopes: str, **kwargs: Any) -> str:
        if scopes in self.cache:
            return self.cache[scopes]
        time.sleep(0.05)  # the identity provider's round trip
        with self.lock:
            self.requests.append(scopes)
            token = f"token-{len(self.requests)}"
        self.cache[scopes] = token
        return token


def test_clients_starting_together_share_one_token_request() -> None:
    inner = CachingCredential()
    shared = SharedTokens(inner)
    scopes = ["https://vault.azure.net/.default"] * 16 + ["https://storage.azure.com/.default"] * 16
    with ThreadPoolExecutor(32) as pool:
        tokens = list(pool.map(lambda s: shared.get_token(s), scopes))
    assert sorted(inner.requests) == [
        ("https://storage.azure.com/.default",),
        ("https://vault.azure.net/.default",),
    ]
    assert len(set(tokens[:16])) == 1 and len(set(tokens[16:])) == 1


def test_without_it_the_same_clients_each_ask() -> None:
    """The control: the stampede the wrapper exists to prevent."""
    inner = CachingCredential()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda _: inner.get_token("https://vault.azure.net/.default"), range(16)))
    assert len(inner.requests) > 1


def test_options_are_part_of_the_key() -> None:
    calls: list[dict[str, Any]] = []

    class Recording:
        def get_token(self, *scopes: str, **kwargs: Any) -> str:
            calls.append(kwargs)
            return "t"

        def close(self) -> None:
            calls.append({"closed": True})

    shared = SharedTokens(Recording())
    shared.get_token("s", tenant_id="a")
    shared.get_token("s", tenant_id="b", claims="c")
    shared.close()
    assert calls == [{"tenant_id": "a"}, {"tenant_id": "b", "claims": "c"}, {"closed": True}]
