"""Fingerprinter (keyed hashes) and the per-side context handed to plugins."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from atg_dataplane.clouds import AZURE_PUBLIC, Cloud
from atg_dataplane.context import (
    Fingerprinter,
    ResourceBinding,
    RetrySettings,
    SideContext,
    TargetListing,
)
from atg_dataplane.models import AzureResource
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

KEY_A = b"a" * 32
KEY_B = b"b" * 32


def test_fingerprint_is_keyed_and_deterministic_per_key() -> None:
    one, same = Fingerprinter(KEY_A), Fingerprinter(KEY_A)
    assert one.of("s3cret") == one.of("s3cret") == same.of("s3cret")
    assert one.of("s3cret") != Fingerprinter(KEY_B).of("s3cret")
    assert one.of("s3cret") != one.of("s3cret ")
    assert "s3cret" not in one.of("s3cret")


def test_fingerprint_format() -> None:
    digest = Fingerprinter(KEY_A).of(b"x")
    assert digest.startswith(Fingerprinter.PREFIX)
    assert len(digest) == len(Fingerprinter.PREFIX) + 32
    int(digest.removeprefix(Fingerprinter.PREFIX), 16)


def test_fingerprinter_without_a_key_gets_a_random_one() -> None:
    a, b = Fingerprinter(), Fingerprinter()
    assert len(a.key) == 32
    assert a.key != b.key
    assert a.of("v") != b.of("v")


def test_fingerprint_of_every_value_kind() -> None:
    fp = Fingerprinter(KEY_A)
    assert fp.of("text") == fp.of(b"text")
    assert fp.of({"b": 1, "a": [1, 2]}) == fp.of({"a": [1, 2], "b": 1})
    assert fp.of({"a": 1}) != fp.of({"a": 2})
    assert fp.of([1, 2]) != fp.of([2, 1])
    assert fp.of(None) == fp.of(None)
    assert fp.of(None) != fp.of("")
    assert fp.of({"when": object}) == fp.of({"when": object})  # default=str


@pytest.mark.parametrize("chunks", [[b""], [b"hello world"], [b"hel", b"lo ", b"", b"world"]])
def test_streaming_fingerprint_equals_one_shot(chunks: list[bytes]) -> None:
    fp = Fingerprinter(KEY_A)
    stream = fp.stream()
    for chunk in chunks:
        stream.update(chunk)
    assert stream.hexdigest() == fp.of(b"".join(chunks))
    other = Fingerprinter(KEY_B).stream()
    for chunk in chunks:
        other.update(chunk)
    assert other.hexdigest() != stream.hexdigest()


def test_retry_settings_client_kwargs() -> None:
    # every budget azure-core keeps is set, or the smallest (status: 3) would win
    assert RetrySettings(total=5, backoff_factor=1.0, backoff_max=9.0).client_kwargs() == {
        "retry_total": 5,
        "retry_status": 5,
        "retry_connect": 5,
        "retry_read": 5,
        "retry_backoff_factor": 1.0,
        "retry_backoff_max": 9,
    }


def _side(cloud: Cloud = AZURE_PUBLIC, concurrency: int = 32) -> SideContext:
    return SideContext(
        side="target",
        tenant_id="t",
        subscription_id="s",
        credential=object(),
        cloud=cloud,
        concurrency=concurrency,
    )


def test_side_context_shares_one_pooled_session() -> None:
    side = _side(concurrency=32)
    first, second = side.transport(), side.transport()
    assert first.session is second.session
    adapter = first.session.get_adapter("https://example.vault.azure.net")
    assert adapter._pool_maxsize == 68
    kwargs = side.client_kwargs()
    assert kwargs["connection_verify"] is True
    assert kwargs["retry_total"] == RetrySettings().total
    arm = side.arm_kwargs()
    assert arm["base_url"] == AZURE_PUBLIC.resource_manager
    assert arm["credential_scopes"] == [AZURE_PUBLIC.arm_scope]
    side.close()
    side.close()  # closing twice is harmless
    assert side.transport().session is not first.session


def test_side_context_trusts_the_cloud_ca_bundle(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bundle = tmp_path / "ca.pem"
    bundle.write_text("not really a PEM")
    cloud = Cloud(
        name="sandbox",
        authority_host="https://login.sandbox",
        resource_manager="https://arm.sandbox",
        arm_scope="https://arm.sandbox/.default",
        ca_bundle=str(bundle),
    )
    side = _side(cloud)
    assert side.connection_verify == str(bundle)
    assert side.client_kwargs()["connection_verify"] == str(bundle)
    side.close()


def _at_once(threads: int, call: Callable[[], object]) -> list[object]:
    """What ``call`` answers on each of ``threads`` threads started together."""
    results: list[object] = []
    started = [threading.Thread(target=lambda: results.append(call())) for _ in range(threads)]
    for thread in started:
        thread.start()
    for thread in started:
        thread.join()
    return results


def test_resource_binding_caches_per_key_once() -> None:
    rid = "/subscriptions/s/resourceGroups/g/providers/A.B/c/n"
    resource = AzureResource(id=rid, type="A.B/c", name="n")
    binding = ResourceBinding(resource=resource, context=_side())
    assert binding.side == "target"
    calls: list[int] = []

    def factory() -> object:
        calls.append(1)
        return object()

    results = _at_once(8, lambda: binding.cached("client", factory))
    assert len(calls) == 1
    assert all(r is results[0] for r in results)
    assert binding.state["client"] is results[0]


def test_a_run_value_is_read_once_until_the_run_ends() -> None:
    side = _side()
    calls: list[int] = []

    def listing() -> list[int]:
        calls.append(1)
        return [len(calls)]

    results = _at_once(8, lambda: side.run_cached("listing", listing))
    assert calls == [1] and all(r == [1] for r in results)
    side.end_run()
    assert side.run_cached("listing", listing) == [2]  # the next run reads afresh


# ------------------------------------------------------------------ TargetListing


class _Pager:
    """Counts listings; yields the entries, or raises what the service would."""

    def __init__(self, entries: dict[str, int], error: Exception | None = None) -> None:
        self.entries, self.error, self.calls = entries, error, 0

    def __call__(self) -> Iterator[tuple[str, int]]:
        self.calls += 1
        if self.error is not None:
            raise self.error
        yield from self.entries.items()


def _http_error(status: int) -> HttpResponseError:
    error = ResourceNotFoundError("gone") if status == 404 else HttpResponseError("refused")
    error.status_code = status
    return error


def test_target_listing_lists_once_and_hands_each_name_out_once() -> None:
    pager = _Pager({"a": 1, "b": 2})
    listing = TargetListing(pager)
    assert listing.take("a") == (True, 1)
    assert listing.take("missing") == (True, None)
    assert listing.take("b") == (True, 2)
    assert pager.calls == 1
    # Asked again: a new run with the same binding, so the target is listed afresh.
    pager.entries["a"] = 10
    assert listing.take("a") == (True, 10)
    assert pager.calls == 2


def test_a_collection_just_created_needs_no_listing_until_a_name_comes_again() -> None:
    pager = _Pager({"a": 1})
    listing = TargetListing(pager)
    listing.created()
    assert listing.take("a") == (True, None)
    assert listing.take("b") == (True, None)
    assert pager.calls == 0
    assert listing.take("a") == (True, 1)  # the next run lists what this one wrote
    assert pager.calls == 1


def test_target_listing_is_unavailable_when_refused_or_too_large() -> None:
    assert TargetListing(_Pager({}, _http_error(403))).take("a") == (False, None)
    assert TargetListing(_Pager({"a": 1, "b": 2, "c": 3}), limit=2).take("a") == (False, None)
    assert TargetListing(_Pager({}, _http_error(404))).take("a") == (True, None)
    with pytest.raises(HttpResponseError):
        TargetListing(_Pager({}, _http_error(500))).take("a")


def test_binding_listing_is_one_per_key() -> None:
    binding = ResourceBinding(
        AzureResource(id="/subscriptions/s/resourceGroups/g/providers/t/n", type="t", name="n"),
        _side(),
    )
    pager = _Pager({"x": 1})
    first = binding.listing("k", pager)
    assert binding.listing("k", _Pager({})) is first
    assert binding.listing("other", pager) is not first


def test_the_session_reads_proxies_from_the_environment_once_per_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from atg_dataplane.http import PooledSession

    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "bypass.example")
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    session = PooledSession(8)
    calls: list[str] = []
    import requests.sessions

    real = requests.sessions.get_environ_proxies

    def counting(url: str, no_proxy: str | None = None) -> dict[str, str]:
        calls.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counting)
    url = "https://vault.example/secrets/a?api-version=7.5"
    first = session.merge_environment_settings(url, {}, None, True, None)
    first["proxies"]["https"] = "changed by the caller"
    again = session.merge_environment_settings(url.replace("/a", "/b"), {}, None, True, None)
    assert again["proxies"]["https"] == "http://proxy.example:3128"
    assert again["verify"] is True
    bypass = session.merge_environment_settings("https://bypass.example/x", {}, None, True, None)
    assert "https" not in bypass["proxies"]
    assert len(calls) == 2  # once per host
    # A CA bundle given by the client wins over the environment, as in requests.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/env/ca.pem")
    own = session.merge_environment_settings("https://other.example/", {}, None, "/my/ca.pem", None)
    assert own["verify"] == "/my/ca.pem"
    env = session.merge_environment_settings("https://other.example/", {}, None, True, None)
    assert env["verify"] == "/env/ca.pem"
