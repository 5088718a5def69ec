"""Parse imported certificates in a helper process, off the emulator's event loop.

Loading an RSA private key validates it, and OpenSSL 3's check costs about 50 ms of CPU
for 2048 bits, holding the GIL: parsed on the event loop, every certificate import would
stall every other request of every emulated service for that long. A helper process does
the validating parse (:func:`x509_build.parse_import`) and hands back plain bytes (keys and
certificates do not pickle), which the emulator loads again without re-validating. One
helper per core: imports of many certificates at once are parsed side by side.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from atg_dataplane_sandbox.emulator.common.errors import AzureError
from atg_dataplane_sandbox.emulator.keyvault import x509_build
from atg_dataplane_sandbox.emulator.keyvault.material import PrivateKey, to_pem

_pool: ProcessPoolExecutor | None = None

Parsed = tuple[PrivateKey, x509.Certificate, list[x509.Certificate], str]


def _parse(value: str, password: str | None, content_type: str | None) -> tuple[Any, ...]:
    """In the helper: ("ok", key PEM, [cert DER, ...], content type) or ("error", ...)."""
    try:
        key, cert, chain, detected = x509_build.parse_import(value, password, content_type)
    except AzureError as error:
        return ("error", error.status, error.code, error.message)
    ders = [c.public_bytes(serialization.Encoding.DER) for c in (cert, *chain)]
    return ("ok", to_pem(key).encode(), ders, detected)


def _executor() -> ProcessPoolExecutor:
    global _pool
    if _pool is None:
        # spawn: the emulator runs threads and an event loop, which fork would copy mid-flight.
        _pool = ProcessPoolExecutor(
            os.cpu_count() or 1, mp_context=multiprocessing.get_context("spawn")
        )
    return _pool


async def parse_import(value: str, password: str | None, content_type: str | None) -> Parsed:
    """What :func:`x509_build.parse_import` returns: known at once for bytes this emulator
    exported (a copy from one vault to another), else parsed in the helper process."""
    known = x509_build.known_export(value, password, content_type)
    if known is not None:
        return known
    result = await asyncio.get_running_loop().run_in_executor(
        _executor(), _parse, value, password, content_type
    )
    if result[0] == "error":
        _, status, code, message = result
        raise AzureError(status, code, message)
    _, pem, ders, detected = result
    key = serialization.load_pem_private_key(
        pem,
        password=None,
        unsafe_skip_rsa_key_validation=True,  # validated in the helper
    )
    certs = [x509.load_der_x509_certificate(der) for der in ders]
    return key, certs[0], certs[1:], detected  # type: ignore[return-value]


def shutdown() -> None:
    global _pool
    if _pool is not None:
        _pool.shutdown(wait=False, cancel_futures=True)
        _pool = None
