"""RSA keys generated ahead of need, so a vault creates a key without the client's CPU wait.

In Azure, key generation runs in the service's HSMs; the client only waits for the answer.
In the sandbox it runs on the same small machine as the client, where one RSA-2048 key costs
about 0.1 s of CPU (4096 bits, over 1 s): a few hundred keys in a benchmark would measure
the emulator, not the tool. So every RSA key the emulator generates (65537 exponent) is also
appended to a pool in the sandbox cache (``keypool/rsa-<bits>.pem``, mode 0600), and a later
key request takes the next pooled key that this sandbox has not handed out yet.

Within one sandbox a key is handed out at most once (the count is kept in the emulator's
state), so no two keys of one sandbox share material; separate sandboxes may reuse keys,
as separate emulated worlds. EC keys are cheap and always generated.
"""

from __future__ import annotations

import asyncio
import fcntl
import os
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from atg_dataplane_sandbox.emulator.keyvault import material

POOL_LIMIT = 4096
"""Most keys kept per size; beyond it new keys are generated but not stored."""
STATE_SECTION = "keypool"
END = b"-----END PRIVATE KEY-----\n"


class KeyPool:
    def __init__(self, directory: Path, used: dict[str, int]) -> None:
        self.directory = directory
        self.used = used
        """Keys handed out so far per size (this sandbox's state; it survives restarts)."""
        self._keys: dict[int, list[bytes]] = {}
        self._lengths: dict[int, int] = {}

    def _file(self, size: int) -> Path:
        return self.directory / f"rsa-{size}.pem"

    def _load(self, size: int) -> list[bytes]:
        keys = self._keys.get(size)
        if keys is None or len(keys) <= self.used.get(str(size), 0):
            # Read again only when another sandbox (or warm) has added keys since: once the
            # pool is used up, every new key would otherwise re-read thousands of them.
            try:
                length = self._file(size).stat().st_size
            except OSError:
                length = 0
            if keys is not None and self._lengths.get(size) == length:
                return keys
            try:
                raw = self._file(size).read_bytes()
            except OSError:
                raw = b""
            self._lengths[size] = len(raw)
            keys = self._keys[size] = [part + END for part in raw.split(END) if part.strip()]
        return keys

    def take(self, size: int) -> rsa.RSAPrivateKey | None:
        """The next pooled key of ``size`` bits this sandbox has not used, or None."""
        keys = self._load(size)
        index = self.used.get(str(size), 0)
        while index < len(keys):
            index += 1
            self.used[str(size)] = index
            try:
                # Ours, and checked when generated: no need to validate it again.
                key = serialization.load_pem_private_key(
                    keys[index - 1], password=None, unsafe_skip_rsa_key_validation=True
                )
            except ValueError:
                continue  # a torn write: skip it
            if isinstance(key, rsa.RSAPrivateKey) and key.key_size == size:
                return key
        return None

    def append(self, size: int, pems: bytes) -> None:
        """Append PEM keys to the pool file of ``size`` (under a lock: other sandboxes may
        append at the same time)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd = os.open(self._file(size), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, pems)
        finally:
            os.close(fd)
        self._keys.pop(size, None)

    def size_of(self, size: int) -> int:
        """How many keys of ``size`` bits the pool holds."""
        return len(self._load(size))

    def add(self, key: rsa.RSAPrivateKey) -> None:
        """Keep a freshly generated key for later sandboxes (this one has used it)."""
        size = key.key_size
        keys = self._load(size)
        if len(keys) >= POOL_LIMIT:
            return
        pem = material.to_pem(key).encode()
        self.append(size, pem)
        # This sandbox has now used every pooled key up to and including this one (other
        # sandboxes may have appended theirs meanwhile: skipping them keeps keys unique).
        keys = self._load(size)
        if pem in keys:
            position = len(keys) - keys[::-1].index(pem)
            self.used[str(size)] = max(self.used.get(str(size), 0), position)


def _generate_pem(size: int) -> bytes:
    return material.to_pem(rsa.generate_private_key(public_exponent=65537, key_size=size)).encode()


def warm(count: int, size: int = 2048, directory: Path | None = None) -> int:
    """Fill the pool up to ``count`` keys of ``size`` bits, on every core; returns how many
    were made. Benchmarks call it before timing anything (key generation is the service's
    work, not the client's)."""
    from concurrent.futures import ProcessPoolExecutor

    from atg_dataplane_sandbox.services.layout import cache_dir

    pool = KeyPool(directory or cache_dir() / "keypool", {})
    missing = min(count, POOL_LIMIT) - pool.size_of(size)
    if missing <= 0:
        return 0
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as workers:
        pool.append(size, b"".join(workers.map(_generate_pem, [size] * missing, chunksize=8)))
    return missing


def _pool(emu: Any) -> KeyPool:
    pool = getattr(emu, "_keypool", None)
    if pool is None:
        from atg_dataplane_sandbox.services.layout import cache_dir

        pool = KeyPool(cache_dir() / "keypool", emu.store.section(STATE_SECTION))
        emu._keypool = pool
    return pool


async def new_key(
    emu: Any, kty: str, size: int | None, curve: str | None, exponent: int | None
) -> material.PrivateKey:
    """A new key for a vault: pooled when it is RSA with the usual exponent, else generated."""
    rsa_size = size or 2048
    pooled = (
        kty.upper().removesuffix("-HSM") == "RSA"
        and rsa_size in material.RSA_SIZES
        and exponent in (None, 65537)
    )
    pool = _pool(emu) if pooled else None
    if pool is not None:
        key = pool.take(rsa_size)
        if key is not None:
            emu.store.touch()
            return key
    key = await asyncio.get_running_loop().run_in_executor(
        None, material.generate, kty, size, curve, exponent
    )
    if pool is not None and isinstance(key, rsa.RSAPrivateKey):
        pool.add(key)
        emu.store.touch()
    return key
