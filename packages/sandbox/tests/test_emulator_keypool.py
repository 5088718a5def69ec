"""The key pool hands out each pooled RSA key at most once per sandbox."""

from __future__ import annotations

import stat
from pathlib import Path

from atg_dataplane_sandbox.emulator.keyvault.keypool import KeyPool, warm
from cryptography.hazmat.primitives.asymmetric import rsa


def _n(key: rsa.RSAPrivateKey) -> int:
    return key.public_key().public_numbers().n


def _fresh(pool: KeyPool) -> rsa.RSAPrivateKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pool.add(key)
    return key


def test_a_sandbox_never_gets_the_same_key_twice(tmp_path: Path) -> None:
    first = KeyPool(tmp_path, {})
    assert first.take(2048) is None  # empty pool: the caller generates
    made = [_n(_fresh(first)) for _ in range(3)]
    assert first.take(2048) is None  # all three are this sandbox's already
    assert stat.S_IMODE((tmp_path / "rsa-2048.pem").stat().st_mode) == 0o600

    second = KeyPool(tmp_path, {})  # another sandbox reuses them, each once
    taken = [second.take(2048) for _ in range(4)]
    assert [_n(k) for k in taken[:3] if k is not None] == made
    assert taken[3] is None
    assert second.used == {"2048": 3}


def test_keys_another_sandbox_appends_meanwhile_are_skipped(tmp_path: Path) -> None:
    mine, other = KeyPool(tmp_path, {}), KeyPool(tmp_path, {})
    assert mine.take(2048) is None and other.take(2048) is None
    _fresh(other)  # lands first in the file
    key = _fresh(mine)
    assert mine.used == {"2048": 2}  # its own key and the one before are both skipped
    assert mine.take(2048) is None
    third = KeyPool(tmp_path, {})
    assert {_n(third.take(2048)), _n(third.take(2048))} >= {_n(key)}  # type: ignore[arg-type]


def test_only_the_asked_size_is_handed_out(tmp_path: Path) -> None:
    pool = KeyPool(tmp_path, {})
    _fresh(pool)
    assert KeyPool(tmp_path, {}).take(3072) is None


def test_warm_fills_the_pool_up_to_the_count(tmp_path: Path) -> None:
    assert warm(3, directory=tmp_path) == 3
    assert warm(3, directory=tmp_path) == 0  # already there
    pool = KeyPool(tmp_path, {})
    keys = [pool.take(2048) for _ in range(3)]
    assert all(k is not None for k in keys)
    assert len({_n(k) for k in keys if k is not None}) == 3


def test_a_used_up_pool_finds_keys_added_later(tmp_path: Path) -> None:
    assert warm(1, directory=tmp_path) == 1
    pool = KeyPool(tmp_path, {})
    assert pool.take(2048) is not None
    assert pool.take(2048) is None and pool.take(2048) is None  # used up: nothing read anew
    assert warm(2, directory=tmp_path) == 1  # another process adds one
    added = pool.take(2048)
    assert added is not None and pool.used == {"2048": 2}
