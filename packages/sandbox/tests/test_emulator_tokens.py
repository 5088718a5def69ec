"""The sandbox's token checks, as pure logic: a token is remembered once its signature is
checked, but never past its expiry, and its audience is checked on every use."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from atg_dataplane_sandbox.emulator.common.tokens import TokenError, TokenIssuer

VAULT = "https://vault.azure.net"


def test_a_checked_token_is_remembered_and_its_audience_still_checked(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "signing.pem")
    token, _ = issuer.issue("tenant", "object", "app", VAULT)
    first = issuer.validate(token, VAULT)
    assert issuer.validate(token, None) is first  # remembered: not decoded again
    with pytest.raises(TokenError) as refused:
        issuer.validate(token, "https://storage.azure.com")
    assert refused.value.kind == "audience"


def test_a_forged_token_is_refused_although_a_genuine_one_was_remembered(
    tmp_path: Path,
) -> None:
    issuer = TokenIssuer(tmp_path / "signing.pem")
    token, _ = issuer.issue("tenant", "object", "app", VAULT)
    issuer.validate(token, VAULT)
    head, body, signature = token.split(".")
    other = "AAAA" if signature[-4:] != "AAAA" else "BBBB"
    forged = ".".join((head, body, signature[:-4] + other))
    with pytest.raises(TokenError) as refused:
        issuer.validate(forged, VAULT)
    assert refused.value.kind == "signature"


def test_a_remembered_token_is_refused_once_it_expires(tmp_path: Path) -> None:
    issuer = TokenIssuer(tmp_path / "signing.pem", lifetime=1)
    token, _ = issuer.issue("tenant", "object", "app", VAULT)
    assert issuer.validate(token, VAULT).object_id == "object"
    time.sleep(1.2)
    with pytest.raises(TokenError) as refused:
        issuer.validate(token, VAULT)
    assert refused.value.kind == "expired"
