"""Pure logic of the kept ACR tokens: which scope a request needs, and when a token ends."""

from __future__ import annotations

import base64
import json
import time

import pytest
from atg_dataplane_containerregistry.registry import _challenged_scope, _expiry, _scope_key

HOST = "https://reg.azurecr.io"


@pytest.mark.parametrize(
    ("url", "key"),
    [
        (f"{HOST}/v2/team/app/manifests/sha256:abc", "repository:team/app"),
        (f"{HOST}/v2/app/blobs/uploads/?mount=sha256:1&from=x", "repository:app"),
        (f"{HOST}/v2/a/b/c/tags/list", "repository:a/b/c"),
        (f"{HOST}/v2/team/app/referrers/sha256:abc", "repository:team/app"),
        (f"{HOST}/acr/v1/team%2Fapp/_tags?n=100", "repository:team/app"),
        (f"{HOST}/acr/v1/team%2Fapp/_manifests/sha256:abc", "repository:team/app"),
        (f"{HOST}/acr/v1/team%2Fapp", "repository:team/app"),
        (f"{HOST}/acr/v1/_catalog", "registry:catalog"),
        (f"{HOST}/v2/_catalog", "registry:catalog"),
        (f"{HOST}/oauth2/token", ""),
        (f"{HOST}/oauth2/exchange", ""),
        (f"{HOST}/v2/", ""),
    ],
)
def test_the_scope_a_request_needs(url: str, key: str) -> None:
    assert _scope_key(url) == key


def test_the_challenged_scope_is_read_from_the_header() -> None:
    challenge = (
        'Bearer realm="https://reg.azurecr.io/oauth2/token",service="reg.azurecr.io",'
        'scope="repository:team/app:pull,push"'
    )
    assert _challenged_scope(challenge) == "repository:team/app:pull,push"
    assert _challenged_scope('Bearer realm="x"') == ""


def _jwt(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"e30.{body}.sig"


def test_a_token_ends_at_its_exp_and_an_unreadable_one_at_once() -> None:
    assert _expiry(_jwt({"exp": 2_000_000_000})) == 2_000_000_000.0
    for broken in ("not-a-jwt", _jwt({"no": "exp"}), "a.!!!.c"):
        assert _expiry(broken) <= time.time() + 1
